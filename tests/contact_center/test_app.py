"""The assembled product: a customer phones the simulated PBX, the router offers the
call to a ready agent, the phone rings and answers, and the call lands on the
customer's timeline in the profile store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_ui.middlewares import SESSION_COOKIE
from contact_center.app import SERVICES, build_app, build_services
from contact_center.bus.redis import RedisBus
from contact_center.deployment import RedisNamespaceInUse, redis_namespace
from contact_center.services import SYSTEM, Actor
from contact_center.settings import Settings
from contact_center.store.migrate import upgrade
from cti.simulator.pbx import SimulatedPbx
from cti.wiring import start_simulated_asterisk
from routing.backends.redis import RedisRouterBackend
from routing.errors import NoSuchAgent

ROUTING = {"queues": {"support": {"channels": ["voice", "chat", "email"]}}}
PASSWORD = "correct horse battery"
Client = TestClient[Any, Any]
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
async def stack(
    tmp_path: Path, aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]]
) -> AsyncIterator[tuple[web.Application, SimulatedPbx, TestClient[Any, Any]]]:
    settings = Settings().with_overrides(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"}
    )
    settings = settings.model_copy(update={"routing": ROUTING})
    setup = build_services(settings)
    await upgrade(setup.engine)
    await setup.accounts.add_user(
        "alice", password="correct horse battery", role="agent", extension="1001"
    )
    await setup.profiles.create_customer(
        {"display_name": "Ann Lee"}, [setup.profiles.identity("phone", "+442079460018")],
        actor=SYSTEM,
    )  # fmt: skip
    await setup.engine.dispose()

    pbx, server = await start_simulated_asterisk({"alice": "1001"}, ring_seconds=0.05)
    asterisk = settings.asterisk.model_copy(update={"servers": (server,)})
    app = build_app(settings.model_copy(update={"asterisk": asterisk}))
    client = await aiohttp_client(app)
    services = app[SERVICES]
    assert services.telephony is not None
    await services.telephony.wait_resyncs("simulated", 1, timeout=10)
    try:
        yield app, pbx, client
    finally:
        await pbx.stop()


async def test_given_a_ready_agent_when_a_known_customer_calls_then_history_records_the_call(
    stack: tuple[web.Application, SimulatedPbx, TestClient[Any, Any]],
) -> None:
    app, pbx, client = stack
    services = app[SERVICES]
    assert services.routing is not None and services.recorder is not None
    alice = await services.accounts.get_user("alice")
    await services.routing.ready(str(alice.id))
    closed = services.bus.subscribe(["contact.closed", "contact.wrap_up_started"])

    call_id = await pbx.place_call("+44 20 7946 0018", queue="support")
    assert await pbx.wait_call_state(call_id, ("connected",), timeout=10) == "connected"
    await pbx.caller_hangs_up(call_id)
    assert await pbx.wait_call_state(call_id, (), timeout=10) == "gone"
    await closed.get(timeout=10)
    await services.recorder.wait_idle(timeout=10)

    pop = await services.profiles.screen_pop(
        services.profiles.identity("phone", "+442079460018"), viewer=Actor(alice.id, "alice")
    )
    assert pop["customer"]["display_name"] == "Ann Lee"
    calls = pop["interactions"] + pop["open_interactions"]
    assert len(calls) == 1
    call = calls[0]
    assert call["channel"] == "voice" and call["queue"] == "support"
    assert call["agent_id"] == alice.id
    assert call["queued_at"] <= call["offered_at"] <= call["answered_at"] <= call["ended_at"]
    assert call["external_ids"]["asterisk_call"]
    assert services.recorder.health()["failed"] == 0

    status = await client.get("/status")
    body = await status.json()
    assert body["services"]["asterisk"]["ok"] is True
    assert body["services"]["history"]["applied"] > 0
    assert body["services"]["routing"]["ok"] is True
    assert body["services"]["routing"]["backend"] == "memory"


async def test_given_an_unknown_caller_then_a_provisional_customer_gets_the_call(
    stack: tuple[web.Application, SimulatedPbx, TestClient[Any, Any]],
) -> None:
    app, pbx, _client = stack
    services = app[SERVICES]
    assert services.recorder is not None
    queued = services.bus.subscribe(["contact.queued"])
    identified = services.bus.subscribe(["contact.customer_identified"])
    abandoned = services.bus.subscribe(["contact.abandoned"])
    call_id = await pbx.place_call("+14155552671", queue="support")
    # Routed first (as a new customer), its provisional customer made after the decision.
    assert (await queued.get(timeout=10)).customer_id is None
    made = await identified.get(timeout=10)
    await services.recorder.wait_idle(timeout=10)
    found = await services.profiles.search(phone="+14155552671")
    assert found["items"][0]["provisional"] is True
    assert made.customer_id == str(found["items"][0]["id"])
    await pbx.caller_hangs_up(call_id)
    await abandoned.get(timeout=10)
    await services.recorder.wait_idle(timeout=10)
    history = await services.profiles.history(found["items"][0]["id"], viewer=SYSTEM)
    assert history["items"][0]["disposition"] == "abandoned"


# ----------------------------------------------------------------- shared state on Redis


def _deployment(tmp_path: Path, name: str, redis_url: str, **overrides: Any) -> Settings:
    """A deployment of its own SQLite database, on the test's Redis."""
    routing = {**ROUTING, **overrides.pop("routing", {})}
    settings = Settings().with_overrides(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / name}.db"},
        redis={"url": redis_url, **overrides.pop("redis", {})},
        **overrides,
    )
    return settings.model_copy(update={"routing": routing})


async def _prepare(settings: Settings) -> None:
    """Migrated, with one agent (user id 1 in every deployment's database)."""
    setup = build_services(settings)
    await upgrade(setup.engine)
    await setup.accounts.add_user("alice", password=PASSWORD, role="agent", extension="1001")
    await setup.engine.dispose()


async def _status_when_ok(client: Client, timeout: float = 10.0) -> dict[str, Any]:
    """/status once every probe is ok (a Redis router leads a moment after it starts),
    or as it is at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        body: dict[str, Any] = await (await client.get("/status")).json()
        if body["ok"] or loop.time() > deadline:
            return body
        await asyncio.sleep(0.05)


@pytest.fixture
def derived_namespaces(redis_url: str) -> Iterator[list[Settings]]:
    """Deployments whose Redis namespace is derived: their keys are deleted after the
    test (request this fixture before ``aiohttp_client``, so it runs after the apps stop)."""
    deployments: list[Settings] = []
    yield deployments

    async def clean() -> None:
        client = aioredis.from_url(redis_url)
        try:
            for settings in deployments:
                pattern = f"*{redis_namespace(settings)}*"
                keys = [k async for k in client.scan_iter(match=pattern, count=1000)]
                if keys:
                    await client.delete(*keys)
        finally:
            await client.aclose()

    from tests.conftest import run_coroutine

    run_coroutine(clean())


@pytest.mark.integration
async def test_given_a_redis_url_then_all_shared_state_is_in_redis_and_status_names_each_backend(
    tmp_path: Path, redis_url: str, redis_namespace: str, aiohttp_client: MakeClient
) -> None:
    settings = _deployment(tmp_path, "one", redis_url, redis={"namespace": redis_namespace})
    await _prepare(settings)
    client = await aiohttp_client(build_app(settings))

    body = await _status_when_ok(client)
    assert body["ok"] is True, body
    services = body["services"]
    assert services["database"]["backend"] == "sqlite"
    assert services["routing"]["backend"] == "redis"
    assert services["routing"]["keys"] == f"{{cc:{redis_namespace}:default}}:*"
    assert services["routing"]["leading"] is True
    assert services["bus"]["backend"] == "redis"
    assert services["bus"]["channel"] == f"{{cc:{redis_namespace}}}:events"
    assert services["sessions"] == {
        "ok": True, "backend": "redis", "keys": f"cc:{redis_namespace}:session:*",
    }  # fmt: skip
    assert services["login_throttle"] == {
        "ok": True, "backend": "redis", "keys": f"cc:{redis_namespace}:login-attempts:*",
    }  # fmt: skip
    raw = aioredis.from_url(redis_url)
    try:
        marker = await raw.get(f"cc:{redis_namespace}:deployment")
    finally:
        await raw.aclose()
    assert marker == f"sqlite:///{tmp_path / 'one'}.db".encode()


@pytest.mark.integration
async def test_given_backend_memory_then_only_the_router_stays_in_the_process(
    tmp_path: Path, redis_url: str, redis_namespace: str, aiohttp_client: MakeClient
) -> None:
    settings = _deployment(
        tmp_path, "one", redis_url,
        redis={"namespace": redis_namespace}, routing={"backend": "memory"},
    )  # fmt: skip
    await _prepare(settings)
    client = await aiohttp_client(build_app(settings))

    services = (await _status_when_ok(client))["services"]
    assert services["routing"]["backend"] == "memory"
    backends = {name: services[name]["backend"] for name in ("bus", "sessions", "login_throttle")}
    assert backends == {"bus": "redis", "sessions": "redis", "login_throttle": "redis"}


@pytest.mark.integration
async def test_given_two_deployments_on_one_redis_then_neither_sees_the_others_state(
    tmp_path: Path,
    redis_url: str,
    derived_namespaces: list[Settings],
    aiohttp_client: MakeClient,
) -> None:
    # The Redis router named explicitly: its state is what the two must not share.
    router = {"backend": "redis"}
    attempts = {"login_max_attempts": 2}
    deployments = [
        _deployment(tmp_path, name, redis_url, routing=router, security=attempts)
        for name in ("first", "second")
    ]
    derived_namespaces.extend(deployments)
    clients = []
    for settings in deployments:
        await _prepare(settings)
        clients.append(await aiohttp_client(build_app(settings)))
    first, second = clients
    for client in clients:
        assert (await _status_when_ok(client))["ok"] is True

    routers = [client.server.app[SERVICES].routing for client in clients]
    assert routers[0] is not None and routers[1] is not None
    assert all(isinstance(router.backend, RedisRouterBackend) for router in routers)
    await routers[0].upsert_agent("only-first", queues=("support",))
    assert (await routers[0].describe_agent("only-first"))["state"] == "offline"
    with pytest.raises(NoSuchAgent):
        await routers[1].describe_agent("only-first")

    # Alice is user 1 in both databases: a session of the first is no session of the second.
    login = await first.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
    assert login.status == 200
    cookie = {SESSION_COOKIE: login.cookies[SESSION_COOKIE].value}
    assert (await first.get("/api/v1/auth/me", cookies=cookie)).status == 200
    assert (await second.get("/api/v1/auth/me", cookies=cookie)).status == 401

    # Failed logins on the first do not lock alice out of the second.
    for _ in range(2):
        wrong = {"username": "alice", "password": "wrong password"}
        assert (await first.post("/api/v1/auth/login", json=wrong)).status == 401
    right = {"username": "alice", "password": PASSWORD}
    assert (await first.post("/api/v1/auth/login", json=right)).status == 429
    assert (await second.post("/api/v1/auth/login", json=right)).status == 200

    buses = [client.server.app[SERVICES].bus for client in clients]
    assert isinstance(buses[0], RedisBus) and isinstance(buses[1], RedisBus)
    assert buses[0].channel != buses[1].channel


@pytest.mark.integration
async def test_given_a_namespace_holding_another_databases_state_then_the_start_fails(
    tmp_path: Path, redis_url: str, redis_namespace: str, aiohttp_client: MakeClient
) -> None:
    shared = {"namespace": redis_namespace}
    running = _deployment(tmp_path, "running", redis_url, redis=shared)
    other = _deployment(tmp_path, "other", redis_url, redis=shared)
    for settings in (running, other):
        await _prepare(settings)
    client = await aiohttp_client(build_app(running))
    await routing_agent_registered(client)

    runner = web.AppRunner(build_app(other))
    try:
        with pytest.raises(RedisNamespaceInUse) as refused:
            await runner.setup()  # starts the application: its services first
    finally:
        await runner.cleanup()
    assert refused.value.error_id == "redis-namespace-in-use"
    assert str(tmp_path / "running") in refused.value.message
    # The running deployment is untouched: its agent is still its own.
    assert (await _status_when_ok(client))["ok"] is True
    await routing_agent_registered(client)


async def routing_agent_registered(client: Client) -> None:
    """The deployment's router knows alice (user 1), registered at its start."""
    routing = client.server.app[SERVICES].routing
    assert routing is not None
    assert (await routing.describe_agent("1"))["name"] == "alice"
