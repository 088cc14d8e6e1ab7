"""Routing test fixtures: a test configuration, a manual clock, and one router per backend.

``router`` is parametrised over the in-memory and the Redis backend so the contract
tests in ``test_backend_contract.py`` run unchanged against both.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis

from routing import commands as cmd
from routing.backends.base import RouterBackend
from routing.backends.memory import MemoryRouterBackend
from routing.backends.redis import RedisRouterBackend, router_client
from routing.engine import RoutingEngine
from routing.model import RoutingConfig
from routing.ports import InMemoryWaitingContactStore, ListEventSink
from routing.service import RoutingService
from routing.settings import build_config, parse_routing_settings

T0 = 1_800_000_000.0


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, Any]:
    """The Redis node tests run on asyncio's loop and on uvloop's, which the server uses
    (contact_center.cli.event_loop_factory): forks, pipes and owned connections must
    behave on both. Everything else here runs on asyncio's."""
    factories: dict[str, Any] = {"asyncio": asyncio.new_event_loop}
    if item.path.name == "test_redis_nodes.py":
        import uvloop

        factories["uvloop"] = uvloop.new_event_loop
    return factories


TEST_ROUTING: dict[str, Any] = {
    "not_ready_reasons": ["break", "lunch", "training", "meeting"],
    "profiles": {
        "chat_only": {"capacity": {"chat": 2}},
        "blended": {
            "capacity": {"voice": 1, "chat": 2, "email": 2},
            "max_total": 3,
            "blocks": [
                {"when": "voice", "blocks": ["chat", "email"]},
                {"when": "chat", "blocks": ["voice"], "unless_awaiting_customer": True},
            ],
        },
    },
    "queues": {
        "sales": {
            "channels": ["voice", "chat"],
            "skills": {"sales": 3},
            "tier_boost": {"gold": 50},
            "ageing_points_per_minute": 6,
            "offer_timeout_seconds": {"voice": 20, "chat": 30},
            "wrap_up_seconds": 10,
            "sticky": {"seconds": 20},
            "overflow": [
                {"after_seconds": 30, "lower_skills": {"sales": 1}},
                {"after_seconds": 60, "add_queues": ["support"]},
            ],
        },
        "support": {
            "channels": ["voice", "chat", "email"],
            "wrap_up_seconds": "manual",
            "wrap_up_max_seconds": 120,
        },
        "vip": {"channels": ["voice"], "skills": {"vip": 1}, "strategy": "highest-proficiency"},
        "rr": {"channels": ["chat"], "strategy": "round-robin"},
        "least": {"channels": ["chat", "email"], "strategy": "least-occupied"},
        "fewest": {"channels": ["voice"], "strategy": "fewest-today"},
        "callback": {"channels": ["voice"], "max_wait": {"seconds": 60, "action": "callback"}},
        "spill": {
            "channels": ["voice"],
            "max_wait": {"seconds": 60, "action": "move", "target_queue": "support"},
        },
        "voicemail": {
            "channels": ["voice"],
            "max_wait": {"seconds": 60, "action": "voicemail"},
        },
    },
}


def make_config(overrides: dict[str, Any] | None = None) -> RoutingConfig:
    data = {**TEST_ROUTING, **(overrides or {})}
    return build_config(parse_routing_settings(data))


class ManualClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class Router:
    """A routing service under test with its clock and the events it published."""

    def __init__(
        self, service: RoutingService, clock: ManualClock, sink: ListEventSink, kind: str
    ) -> None:
        self.service = service
        self.clock = clock
        self.sink = sink
        self.kind = kind

    async def advance(self, seconds: float) -> list[Any]:
        """Move time forward and fire what fell due; returns the events produced."""
        self.clock.now += seconds
        result = await self.service.fire_timers()
        return list(result.events)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def start_redis_backend(
    url: str,
    namespace: str,
    config: RoutingConfig,
    sink: ListEventSink,
    clock: ManualClock | None = None,
    **options: Any,
) -> tuple[RedisRouterBackend, aioredis.Redis]:
    # As deployed: no socket timeout, the backend bounds its own calls.
    client = router_client(url, max_connections=20)
    backend = RedisRouterBackend(
        config,
        client,
        sink=sink,
        key_prefix=namespace,
        clock=clock or ManualClock(),
        **options,
    )
    await backend.start()
    return backend, client


StartNode = Callable[..., Awaitable[tuple[RedisRouterBackend, aioredis.Redis]]]


@pytest.fixture
async def redis_node(redis_url: str, redis_namespace: str) -> AsyncIterator[StartNode]:
    """Start router nodes on the test's Redis namespace (``start(config, sink=None,
    clock=None, **options)``); each is closed, last started first, after the test."""
    started: list[tuple[RedisRouterBackend, aioredis.Redis]] = []

    async def start(
        config: RoutingConfig,
        sink: ListEventSink | None = None,
        clock: ManualClock | None = None,
        **options: Any,
    ) -> tuple[RedisRouterBackend, aioredis.Redis]:
        node = await start_redis_backend(
            redis_url, redis_namespace, config, sink or ListEventSink(), clock, **options
        )
        started.append(node)
        return node

    yield start
    for backend, client in reversed(started):
        await backend.close()
        await client.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.integration)])
def backend_target(request: pytest.FixtureRequest) -> tuple[str, str, str]:
    """(kind, redis url, key namespace): Redis fixtures are only set up for "redis"."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        return ("redis", url, request.getfixturevalue("redis_namespace"))
    return ("memory", "", "")


@pytest.fixture
async def router(backend_target: tuple[str, str, str], clock: ManualClock) -> AsyncIterator[Router]:
    kind, url, namespace = backend_target
    sink = ListEventSink()
    config = make_config()
    backend: RouterBackend
    client: aioredis.Redis | None = None
    if kind == "memory":
        backend = MemoryRouterBackend(
            config, sink=sink, store=InMemoryWaitingContactStore(), clock=clock, run_timers=False
        )
        await backend.start()
    else:
        redis_backend, client = await start_redis_backend(
            url, namespace, config, sink, clock, run_timers=False
        )
        async with asyncio.timeout(5):
            await redis_backend.leading.wait()
        backend = redis_backend
    service = RoutingService(backend)
    try:
        yield Router(service, clock, sink, kind)
    finally:
        await service.close()
        if client is not None:
            await client.aclose()


class FailingEngine:
    """A RoutingEngine that raises (a bug, not a refusal) on one contact id."""

    def __init__(self, config: RoutingConfig, engines: list[FailingEngine]) -> None:
        self._engine = RoutingEngine(config)
        engines.append(self)

    def execute(self, command: cmd.Command, now: float) -> Any:
        if isinstance(command, cmd.EnqueueContact) and command.contact_id == "boom":
            raise RuntimeError("engine bug")
        return self._engine.execute(command, now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)
