"""What /status shows of the router, on both backends."""

from __future__ import annotations

from typing import cast

import pytest

from routing import errors
from routing.backends.memory import MemoryRouterBackend
from routing.engine import RoutingEngine
from routing.ports import ListEventSink
from routing.service import RoutingService
from tests.routing.conftest import FailingEngine, ManualClock, StartNode, make_config


async def test_given_a_memory_router_then_health_is_ok_with_its_counts() -> None:
    backend = MemoryRouterBackend(make_config(), sink=ListEventSink(), clock=ManualClock())
    service = RoutingService(backend)
    await service.upsert_agent("a1", queues=("support",))
    await service.enqueue("c1", "voice", "support")
    assert await service.health() == {
        "ok": True,
        "backend": "memory",
        "contacts": 1,
        "agents": 1,
        "error": "",
    }


async def test_given_an_engine_failure_in_memory_then_health_says_so_and_routing_goes_on() -> None:
    config = make_config()
    backend = MemoryRouterBackend(config, sink=ListEventSink(), clock=ManualClock())
    backend.engine = cast(RoutingEngine, FailingEngine(config, []))
    service = RoutingService(backend)
    await service.upsert_agent("a1", queues=("support",))
    with pytest.raises(RuntimeError, match="engine bug"):
        await service.enqueue("boom", "voice", "support")
    health = await service.health()
    assert health["ok"] is False
    assert health["error"] == "RuntimeError: engine bug (restart the service)"
    # Still serving (the lock was released), but flagged until a restart.
    result = await service.enqueue("c1", "voice", "support")
    assert [e.name for e in result.events] == ["contact.queued"]
    assert (await service.health())["ok"] is False


@pytest.mark.integration
async def test_given_redis_nodes_then_health_names_the_leader(redis_node: StartNode) -> None:
    config = make_config()
    follower, _ = await redis_node(config, can_lead=False, command_timeout=0.3)
    alone = await follower.health()
    assert alone["ok"] is False and alone["error"] == "no router node holds the lease"
    with pytest.raises(errors.RouterUnavailable):
        await RoutingService(follower).describe_agent("a1")
    leader, _ = await redis_node(config, run_timers=False)
    await RoutingService(leader).upsert_agent("a1", queues=("support",))
    assert await leader.health() == {
        "ok": True,
        "backend": "redis",
        "keys": f"{leader.keys.tag}:*",
        "node_id": leader.node_id,
        "leading": True,
        "leader": leader.node_id,
    }
    seen = await follower.health()
    assert seen["ok"] is True and seen["leading"] is False
    assert seen["leader"] == leader.node_id
