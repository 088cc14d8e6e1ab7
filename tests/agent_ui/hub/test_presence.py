"""Presence from consoles, with a grace: a closed tab or a dropped network does not
make an agent unavailable at once; gone longer than the grace, a ready agent goes not
ready ("disconnected") and their ringing offer returns to the queue. Time is a fake
clock: the hub's upkeep is ticked by hand."""

from __future__ import annotations

from typing import Any

import pytest

from agent_ui.hub.hub import Hub
from agent_ui.hub.messages import AgentStateUpdate, Offer
from agent_ui.hub.presence import MemoryPresenceStore, PresenceStore, RedisPresenceStore
from contact_center.services import Services
from routing.model import DISCONNECTED_REASON, RoutingConfig
from routing.settings import build_config, parse_routing_settings
from tests.agent_ui.conftest import Caller, FakeClock
from tests.agent_ui.hub.conftest import Connect, enqueue, gone, ready


async def _state(services: Services, caller: Caller) -> tuple[str, str | None]:
    assert services.routing is not None
    described = await services.routing.describe_agent(str(caller.user_id))
    return str(described["state"]), described["reason"]


async def test_given_no_console_for_the_grace_then_the_agent_goes_not_ready_and_the_offer_returns(
    connect: Connect,
    agent: Caller,
    routed: Services,
    hub: Hub,
    clock: FakeClock,
    customer: dict[str, Any],
) -> None:
    assert routed.routing is not None
    await ready(routed, agent)
    console = await connect(agent)
    await console.hello()
    await enqueue(routed, "call-1", customer_id=customer["id"])
    await console.next(Offer)
    await console.close()
    await gone(hub, agent)

    clock.advance(59)
    assert (await hub.tick())["paused"] == []
    assert await _state(routed, agent) == ("ready", None)

    clock.advance(2)
    assert (await hub.tick())["paused"] == [agent.user_id]
    assert await _state(routed, agent) == ("not_ready", DISCONNECTED_REASON)
    contact = await routed.routing.describe_contact("call-1")
    assert (str(contact["state"]), contact["agent_id"]) == ("queued", None)
    # Once only: the next sweeps leave the agent alone.
    clock.advance(120)
    assert (await hub.tick())["paused"] == []


async def test_given_a_reload_within_the_grace_then_the_agent_stays_ready(
    connect: Connect, agent: Caller, routed: Services, hub: Hub, clock: FakeClock
) -> None:
    await ready(routed, agent)
    console = await connect(agent)
    welcome, _ = await console.hello()
    await console.close()
    await gone(hub, agent)
    clock.advance(30)
    reloaded = await connect(agent)
    again, _ = await reloaded.hello(resume_from={"stream": welcome.stream, "seq": welcome.seq})
    assert again.resumed is True
    clock.advance(40)  # 70 s after the first tab closed, the new one is live
    assert (await hub.tick())["paused"] == []
    assert await _state(routed, agent) == ("ready", None)

    # Open for hours: every tick sees the console again.
    for _ in range(240):
        clock.advance(15)
        await hub.tick()
    assert await _state(routed, agent) == ("ready", None)
    await reloaded.close()
    await gone(hub, agent)
    clock.advance(61)
    assert (await hub.tick())["paused"] == [agent.user_id]
    # The agent's next console shows why (and they choose when to be ready again).
    back = await connect(agent)
    _, after = await back.hello()
    snapshot = after[-1]
    assert getattr(snapshot, "agent", None) is not None
    assert (snapshot.agent.state, snapshot.agent.reason) == ("not_ready", "disconnected")  # type: ignore[union-attr]


async def test_given_an_agent_on_a_break_then_the_grace_keeps_their_reason(
    connect: Connect, agent: Caller, routed: Services, hub: Hub, clock: FakeClock
) -> None:
    assert routed.routing is not None
    await ready(routed, agent)
    await routed.routing.not_ready(str(agent.user_id), "lunch")
    console = await connect(agent)
    await console.hello()
    await console.close()
    await gone(hub, agent)
    clock.advance(3600)
    assert (await hub.tick())["paused"] == []
    assert await _state(routed, agent) == ("not_ready", "lunch")


async def test_given_an_agent_who_never_opened_a_console_then_the_hub_leaves_them_alone(
    agent: Caller, routed: Services, hub: Hub, clock: FakeClock
) -> None:
    await ready(routed, agent)  # over the REST API or an integration, say
    clock.advance(3600)
    assert (await hub.tick())["paused"] == []
    assert await _state(routed, agent) == ("ready", None)


async def test_given_the_pause_then_supervisors_see_it_as_the_systems_doing(
    connect: Connect,
    agent: Caller,
    supervisor: Caller,
    routed: Services,
    hub: Hub,
    clock: FakeClock,
) -> None:
    await ready(routed, agent)
    console = await connect(agent)
    await console.hello()
    await console.close()
    await gone(hub, agent)
    wallboard = await connect(supervisor)
    await wallboard.hello(topics=["agents"])
    clock.advance(61)
    await hub.tick()
    state = await wallboard.next(AgentStateUpdate)
    assert (state.agent_id, state.state, state.reason, state.by) == (
        str(agent.user_id),
        "not_ready",
        "disconnected",
        "system",
    )


def test_given_configured_reasons_then_disconnected_is_always_allowed_and_never_listed() -> None:
    config: RoutingConfig = build_config(
        parse_routing_settings({"not_ready_reasons": ["lunch", "disconnected"]})
    )
    assert "disconnected" in config.reasons and "missed-offer" in config.reasons
    assert "disconnected" not in config.not_ready_reasons


async def _check_store_contract(store: PresenceStore) -> None:
    await store.seen([1, 2, 3], 100.0)
    await store.seen([2], 150.0)
    await store.seen([2], 120.0)  # an older reading never moves an agent back
    assert await store.due(before=110.0, limit=10) == [1, 3]
    assert await store.due(before=110.0, limit=1) == [1]
    # Seen again after the read: the claim fails, the agent stays tracked.
    await store.seen([3], 130.0)
    assert await store.claim(3, before=110.0) is False
    assert await store.claim(1, before=110.0) is True
    assert await store.claim(1, before=110.0) is False  # one claimer only
    assert await store.due(before=200.0, limit=10) == [3, 2]  # longest gone first


async def test_given_the_memory_presence_store_then_it_keeps_the_contract() -> None:
    await _check_store_contract(MemoryPresenceStore())


@pytest.mark.integration
async def test_given_the_redis_presence_store_then_it_keeps_the_contract(
    redis_url: str, redis_namespace: str
) -> None:
    import redis.asyncio as aioredis

    store = RedisPresenceStore(aioredis.from_url(redis_url), prefix=f"cc:{redis_namespace}")
    try:
        await _check_store_contract(store)
    finally:
        await store.close()
