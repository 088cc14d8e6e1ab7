"""One contract for the VoiceRouting port: the real router adapter and the FIFO twin."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence

import pytest

from cti.errors import CallNotRoutable
from cti.ports import CallFacts, FifoVoiceRouting, VoiceOffer, VoiceRouting
from cti.routing_adapter import RouterVoiceRouting
from routing.backends.memory import MemoryRouterBackend
from routing.model import CustomerContext
from routing.ports import ListEventSink
from routing.service import RoutingService
from routing.settings import build_config, parse_routing_settings

T0 = 1_800_000_000.0


async def make(kind: str, agents: Sequence[str]) -> tuple[VoiceRouting, RoutingService | None]:
    if kind == "fifo":
        return FifoVoiceRouting({a: ["support"] for a in agents}), None
    config = build_config(parse_routing_settings({"queues": {"support": {"channels": ["voice"]}}}))
    router = RoutingService(MemoryRouterBackend(config, sink=ListEventSink(), run_timers=False))
    await router.start()
    for agent in agents:
        await router.upsert_agent(agent, queues=("support",))
        await router.ready(agent)
    return RouterVoiceRouting(router), router


@pytest.fixture(params=["fifo", "router"])
async def kind(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    yield str(request.param)


async def queued(routing: VoiceRouting, call: str) -> Sequence[VoiceOffer]:
    return await routing.call_queued(
        call_id=call,
        queue="support",
        caller_number="+442079460301",
        caller_name="",
        at=T0,
        requeued=False,
    )


async def test_a_queued_call_is_offered_to_the_ready_agent(kind: str) -> None:
    routing, router = await make(kind, ["alice"])
    assert await queued(routing, "c1") == [VoiceOffer("c1", "alice")]
    if router:
        await router.close()


async def test_queued_twice_is_offered_once(kind: str) -> None:
    routing, router = await make(kind, ["alice"])
    assert len(await queued(routing, "c1")) == 1
    assert await queued(routing, "c1") == []
    if router:
        await router.close()


async def test_a_busy_agent_gets_the_next_call_when_the_first_ends(kind: str) -> None:
    routing, router = await make(kind, ["alice"])
    await queued(routing, "c1")
    await routing.offer_answered(call_id="c1", agent_id="alice", at=T0 + 1)
    assert await queued(routing, "c2") == []
    offers = await routing.call_ended(call_id="c1", agent_id="alice", abandoned=False, at=T0 + 5)
    if kind == "router":
        # The real router puts the agent in wrap-up first (none configured: ends at once
        # or by the agent); either way c2 is never offered to someone else or twice.
        assert offers in ([], [VoiceOffer("c2", "alice")])
    else:
        assert offers == [VoiceOffer("c2", "alice")]
    if router:
        await router.close()


async def test_not_answered_goes_to_another_agent_never_back_to_the_same(kind: str) -> None:
    routing, router = await make(kind, ["alice", "bob"])
    first = await queued(routing, "c1")
    assert len(first) == 1
    offers = await routing.offer_not_answered(
        call_id="c1", agent_id=first[0].agent_id, reason="noanswer", at=T0 + 15
    )
    assert len(offers) == 1
    assert offers[0].call_id == "c1"
    assert offers[0].agent_id != first[0].agent_id
    if router:
        await router.close()


async def test_abandoned_call_is_never_offered(kind: str) -> None:
    routing, router = await make(kind, [])
    assert await queued(routing, "c1") == []
    assert await routing.call_ended(call_id="c1", agent_id=None, abandoned=True, at=T0 + 3) == []
    if router:
        await router.close()


async def test_router_adapter_passes_what_the_profile_store_knows_about_the_caller() -> None:
    config = build_config(parse_routing_settings({"queues": {"support": {"channels": ["voice"]}}}))
    router = RoutingService(MemoryRouterBackend(config, sink=ListEventSink(), run_timers=False))
    await router.start()
    await router.upsert_agent("alice", queues=("support",))
    asked: list[str] = []

    async def customers(number: str) -> CustomerContext | None:
        asked.append(number)
        if number == "+442079460301":
            return CustomerContext(customer_id="cust-42", tier="gold")
        raise ConnectionError("profile store down")

    routing = RouterVoiceRouting(router, customers=customers)
    await queued(routing, "pbx1:1.1")
    view = await router.describe_contact("call-pbx1:1.1")
    assert view["customer_id"] == "cust-42"
    # A failing lookup still routes the call, as an unknown caller.
    await routing.call_queued(
        call_id="pbx1:1.2",
        queue="support",
        caller_number="+15550000000",
        caller_name="",
        at=T0,
        requeued=False,
    )
    assert (await router.describe_contact("call-pbx1:1.2"))["customer_id"] is None
    assert asked == ["+442079460301", "+15550000000"]
    await router.close()


async def test_an_offer_refused_by_the_cti_does_not_pause_the_agent(kind: str) -> None:
    routing, router = await make(kind, ["alice"])
    assert await queued(routing, "c1") == [VoiceOffer("c1", "alice")]
    await routing.offer_refused(
        call_id="c1", agent_id="alice", reason="phone-in-another-call", at=T0, retry_seconds=30
    )
    # alice was not set not ready: the next caller (or the same) is offered to her.
    offers = await queued(routing, "c2")
    assert [o.agent_id for o in offers] == ["alice"]
    if router:
        await router.close()


async def test_a_phone_ringing_for_another_agent_takes_the_offer_over(kind: str) -> None:
    routing, router = await make(kind, ["alice", "bob"])
    assert await queued(routing, "c1") == [VoiceOffer("c1", "alice")]
    await routing.agent_ringing(call_id="c1", agent_id="bob", at=T0, facts=CallFacts())
    # alice is free again and takes the next caller; c1 is bob's.
    assert await queued(routing, "c2") == [VoiceOffer("c2", "alice")]
    await routing.offer_answered(call_id="c1", agent_id="bob", at=T0 + 1)
    if router:
        view = await router.describe_contact("call-c1")
        assert (view["state"], view["agent_id"]) == ("connected", "bob")
        await router.close()


async def test_a_queue_the_router_does_not_have_raises_not_routable() -> None:
    routing, router = await make("router", ["alice"])
    with pytest.raises(CallNotRoutable) as raised:
        await routing.call_queued(
            call_id="c1", queue="nowhere", caller_number="", caller_name="", at=T0, requeued=False
        )
    assert raised.value.details["reason"] == "no-such-queue"
    assert await queued(routing, "c2") == [VoiceOffer("c2", "alice")]
    assert await queued(routing, "c2") == []  # a duplicate is not a routing problem
    assert router is not None
    await router.close()


async def test_a_router_that_cannot_follow_a_call_is_logged_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    routing, router = await make("router", ["alice"])
    await queued(routing, "c1")
    # "zoe" is unknown to the router: it cannot put the call with her.
    assert await routing.offer_answered(call_id="c1", agent_id="zoe", at=T0) == []
    refused = [r for r in caplog.records if "router refused to follow call c1" in r.getMessage()]
    assert [r.levelno for r in refused] == [logging.ERROR]
    assert router is not None
    await router.close()
