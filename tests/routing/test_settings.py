"""The [routing] settings section: valid configurations and clear errors."""

from __future__ import annotations

from typing import Any

import pytest

from contact_center.settings import Settings
from routing.backends.memory import MemoryRouterBackend
from routing.backends.redis import RedisRouterBackend
from routing.errors import InvalidRoutingConfig
from routing.model import Channel, MaxWaitAction, StrategyName
from routing.ports import ListEventSink
from routing.settings import build_config, parse_routing_settings
from routing.wiring import build_routing
from tests.routing.conftest import TEST_ROUTING


def test_given_the_test_configuration_then_it_builds_every_queue_option() -> None:
    config = build_config(parse_routing_settings(TEST_ROUTING))
    sales = config.queues["sales"]
    assert sales.channels == {Channel.VOICE, Channel.CHAT}
    assert sales.offer_timeout_seconds[Channel.VOICE] == 20
    assert sales.offer_timeout_seconds[Channel.EMAIL] == 120
    assert [r.index for r in sales.rings()] == [0, 1, 2]
    assert config.queues["support"].wrap_up_seconds is None
    assert config.queues["vip"].strategy == StrategyName.HIGHEST_PROFICIENCY
    spill = config.queues["spill"].max_wait
    assert spill is not None and spill.action == MaxWaitAction.MOVE
    assert "missed-offer" in config.reasons
    assert config.profiles["blended"].max_total == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"queues": {"q": {"channels": ["fax"]}}}, "routing.queues.q.channels.0"),
        ({"queues": {"q": {"channels": []}}}, "routing.queues.q.channels"),
        ({"queues": {"q": {"channels": ["voice"], "skills": {"x": 7}}}}, "level must be 1-5"),
        ({"queues": {"q": {"channels": ["voice"], "colour": "red"}}}, "unknown setting"),
        ({"queues": {"q": {"channels": ["voice"], "strategy": "random"}}}, "strategy"),
        (
            {
                "queues": {
                    "q": {
                        "channels": ["voice"],
                        "overflow": [{"after_seconds": 5, "add_queues": ["nope"]}],
                    }
                }
            },
            "not another configured queue",
        ),
        (
            {
                "queues": {
                    "q": {"channels": ["voice"], "max_wait": {"seconds": 9, "action": "move"}}
                }
            },
            "move action needs another configured queue",
        ),
        ({"profiles": {"p": {"capacity": {"voice": -1}}}}, "capacity"),
        ({"agents": {"a": {"queues": ["ghost"]}}}, "no queue 'ghost'"),
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"default_profile": "missing"}, "no profile 'missing'"),
        ({"queues": {"q": {"channels": ["voice"], "wrap_up_seconds": "later"}}}, "wrap_up_seconds"),
    ],
)
def test_given_a_bad_setting_then_the_error_names_the_key(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRoutingConfig) as raised:
        parse_routing_settings(change)
    assert message in raised.value.message
    assert raised.value.error_id == "invalid-routing-config"


async def test_given_static_agents_when_the_service_starts_then_they_are_registered() -> None:
    settings = Settings().with_overrides(
        routing={
            "queues": {"help": {"channels": ["chat"]}},
            "agents": {"ann": {"name": "Ann", "queues": ["help"], "skills": {"en": 4}}},
        }
    )
    service = build_routing(settings, sink=ListEventSink())
    await service.start()
    try:
        agent = await service.describe_agent("ann")
        assert (agent["name"], agent["skills"], agent["state"]) == ("Ann", {"en": 4}, "offline")
    finally:
        await service.close()


def test_given_the_redis_backend_without_a_url_then_the_error_says_what_is_missing() -> None:
    settings = Settings().with_overrides(routing={"backend": "redis"})
    with pytest.raises(InvalidRoutingConfig, match=r"redis\.url"):
        build_routing(settings, sink=ListEventSink())


async def test_given_redis_settings_then_the_backend_gets_its_checkpoint_limits() -> None:
    settings = Settings().with_overrides(
        routing={"backend": "redis", "checkpoint_seconds": 1.5, "checkpoint_commands": 2000},
        redis={"url": "redis://127.0.0.1:6379/0"},
    )
    service = build_routing(settings, sink=ListEventSink())
    backend = service.backend
    assert isinstance(backend, RedisRouterBackend)
    assert (backend.checkpoint_seconds, backend.checkpoint_commands) == (1.5, 2000)
    with pytest.raises(InvalidRoutingConfig):
        parse_routing_settings({"checkpoint_commands": 0})


REDIS_URL = "redis://127.0.0.1:6379/0"  # never connected: these tests only build


def _redis_settings(database: str, **routing: Any) -> Settings:
    return Settings().with_overrides(
        database={"url": database}, redis={"url": REDIS_URL}, routing=routing
    )


def test_given_a_redis_url_and_no_backend_then_the_router_keeps_its_state_in_redis() -> None:
    service = build_routing(
        _redis_settings("postgresql+asyncpg://cc@db.internal/cc"), sink=ListEventSink()
    )
    assert isinstance(service.backend, RedisRouterBackend)


def test_given_backend_memory_then_it_wins_over_a_redis_url() -> None:
    settings = _redis_settings("postgresql+asyncpg://cc@db.internal/cc", backend="memory")
    service = build_routing(settings, sink=ListEventSink())
    assert isinstance(service.backend, MemoryRouterBackend)
    assert isinstance(build_routing(Settings(), sink=ListEventSink()).backend, MemoryRouterBackend)


def test_given_two_databases_then_their_router_keys_differ_and_one_database_shares_them() -> None:
    def tag(database: str, **redis: str) -> str:
        settings = _redis_settings(database, backend="redis")
        if redis:
            settings = settings.with_overrides(redis=redis)
        backend = build_routing(settings, sink=ListEventSink()).backend
        assert isinstance(backend, RedisRouterBackend)
        return backend.keys.tag

    first = tag("postgresql+asyncpg://cc:one@db.internal:5432/first")
    # The same database seen by another node: user, password and port spelling aside.
    assert tag("postgresql+asyncpg://other:two@db.internal/first") == first
    assert tag("postgresql+asyncpg://cc:one@db.internal:5432/second") != first
    assert first.startswith("{cc:db-") and first.endswith(":default}")
    named = tag("postgresql+asyncpg://cc@db.internal/first", namespace="acme-prod")
    assert named == "{cc:acme-prod:default}"


def test_given_dispositions_as_ids_or_tables_then_both_read_and_duplicates_are_refused() -> None:
    settings = parse_routing_settings(
        {
            "queues": {
                "support": {
                    "channels": ["voice"],
                    "dispositions": ["follow-up", {"id": "resolved", "resolved": True}],
                    "disposition_required": True,
                }
            }
        }
    )
    queue = settings.queues["support"]
    assert [(d.id, d.label, d.resolved) for d in queue.dispositions] == [
        ("follow-up", "", False),
        ("resolved", "", True),
    ]
    assert queue.disposition_required is True
    for bad in (["a", "a"], [{"id": "has space"}], [{"id": "x", "colour": "red"}], [""]):
        with pytest.raises(InvalidRoutingConfig, match=r"routing\.queues\.support\.dispositions"):
            parse_routing_settings(
                {"queues": {"support": {"channels": ["voice"], "dispositions": bad}}}
            )


def test_given_auto_accept_then_channels_are_checked() -> None:
    settings = parse_routing_settings(
        {"auto_accept": ["chat"], "agents": {"ann": {"auto_accept": []}}}
    )
    assert build_config(settings).auto_accept == frozenset({Channel.CHAT})
    assert settings.agents["ann"].auto_accept == ()
    with pytest.raises(InvalidRoutingConfig, match=r"routing\.auto_accept"):
        parse_routing_settings({"auto_accept": ["fax"]})
