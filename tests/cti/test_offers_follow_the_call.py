"""The router's view follows the call, on the simulated PBX with the real router.

Nothing moves a caller away from a phone ringing for it; an offer the CTI itself cannot
carry out leaves the agent as they were; a safety net stops any loop of offers; a
caller the router cannot take is never left on music for ever.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import AsyncIterator

import pytest

from cti.events import CallHungUp
from cti.ports import CollectingEventSink, FifoVoiceRouting, StaticAgentDirectory
from cti.routing_adapter import contact_id
from cti.service import TelephonyService, TelephonySettings
from cti.simulator.pbx import PhoneMode
from routing.backends.memory import MemoryRouterBackend
from tests.cti.stack import Stack, build_stack, close_stack

pytestmark = pytest.mark.integration


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    s = await build_stack()
    yield s
    await close_stack(s)


async def settle(stack: Stack) -> None:
    """Every offer and check the router's last events caused has been carried out."""
    while stack.offers._tasks or stack.telephony._tasks:
        await stack.offers.wait_idle()
        await stack.telephony.wait_idle()


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_agent_going_not_ready_while_their_phone_rings_keeps_the_caller(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    stack.pbx.set_phone("1001", PhoneMode.MANUAL)
    call = await stack.pbx.place_call("+442079460801")
    await stack.events.wait_for("call.agent_ringing")
    # The router takes the offer back and gives it to bob: the phone still rings for alice.
    await stack.router.not_ready("alice", "break")
    await settle(stack)
    assert (stack.redirects_to("1002"), stack.redirects_to("1003")) == (0, 0)
    contact = await stack.contact(call)
    assert (contact["state"], contact["agent_id"]) == ("offered", "alice")
    for agent in ("bob", "carol"):
        state = await stack.agent(agent)
        assert (state["state"], state["active"]) == ("ready", {}), agent

    await stack.pbx.answer("1001")
    await stack.events.wait_for("call.answered")
    await settle(stack)
    contact = await stack.contact(call)
    assert (contact["state"], contact["agent_id"]) == ("connected", "alice")
    assert errors(caplog) == []


async def test_a_router_that_lost_a_talking_call_is_put_right_without_moving_it(
    stack: Stack,
) -> None:
    call = await stack.pbx.place_call("+442079460802")
    await stack.events.wait_for("call.answered")
    await settle(stack)
    # The router alone puts the contact back in the queue (nothing happened on Asterisk).
    await stack.router.transfer_to_queue(contact_id(stack.cid(call)), "support")
    await settle(stack)
    contact = await stack.contact(call)
    assert (contact["state"], contact["agent_id"]) == ("connected", "alice")
    assert sum(1 for a in stack.pbx.actions if a.get("Action") == "Redirect") == 1
    assert (await stack.pbx.wait_call_state(call, ("connected",))) == "connected"


async def test_a_phone_in_another_call_is_not_rung_and_its_agent_stays_ready(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = await build_stack(ready=("alice", "bob"))
    try:
        await phone_in_another_call(stack, caplog)
    finally:
        await close_stack(stack)


async def phone_in_another_call(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    stack.pbx.set_number("5550001", PhoneMode.ANSWER, ring_seconds=0.01)
    outbound = await stack.telephony.click_to_dial("alice", "5550001")
    await stack.events.wait_for("call.answered")
    await stack.pbx.place_call("+442079460803")
    answered = await stack.events.wait_for("call.answered", 2)
    assert answered.to_dict()["extension"] == "1002"
    assert stack.redirects_to("1001") == 0
    alice = await stack.agent("alice")
    assert (alice["state"], alice["reason"]) == ("ready", None)
    names = [e.name for e in stack.router_events.events]
    assert "contact.offer_timed_out" not in names

    # Her own call over, she is offered the next caller as usual.
    await stack.pbx.agent_hangs_up(outbound.call_id.partition(":")[2])
    await stack.events.wait_for("call.hung_up")
    await stack.pbx.place_call("+442079460804")
    answered = await stack.events.wait_for("call.answered", 3)
    assert answered.to_dict()["extension"] == "1001"
    assert errors(caplog) == []


async def test_the_offer_limit_holds_a_caller_back_at_its_place(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stack = await build_stack(
        settings=TelephonySettings(
            max_offers_per_call_per_minute=2, refused_offer_retry_seconds=0.05
        )
    )
    try:
        stack.pbx.set_phone("1001", PhoneMode.BUSY)
        stack.pbx.set_phone("1002", PhoneMode.BUSY)
        call = await stack.pbx.place_call("+442079460805")
        health = await stack.telephony.wait_health("pbx1", lambda h: h["offer_limit_trips"] == 1)
        await settle(stack)
        # Two Redirects (two busy phones, two real no-answers), then nothing more.
        redirects = [a.get("Exten") for a in stack.pbx.actions if a.get("Action") == "Redirect"]
        assert redirects == ["1001", "1002"]
        assert (await stack.contact(call))["state"] == "queued"
        carol = await stack.agent("carol")
        assert (carol["state"], carol["active"]) == ("ready", {})
        assert health["ok"] is False
        assert "held back by the offer limit" in str(health["problems"])
        logged = [m for m in errors(caplog) if "within a minute" in m]
        assert len(logged) == 1
        # Carol gets the caller when the minute is over, not before.
        backend = stack.router.backend
        assert isinstance(backend, MemoryRouterBackend)
        record = backend.engine.contact(contact_id(stack.cid(call)))
        assert record is not None and record.returned_until is not None
        retry = record.returned_until["carol"] - stack.telephony.clock()
        assert 55 < retry <= 60.01
    finally:
        await close_stack(stack)


def test_the_offer_limit_counts_the_last_minute_only() -> None:
    now = [1000.0]
    service = TelephonyService(
        routing=FifoVoiceRouting(),
        directory=StaticAgentDirectory(),
        sink=CollectingEventSink(),
        clock=lambda: now[0],
        settings=TelephonySettings(max_offers_per_call_per_minute=2),
    )
    session = service.add_server(_NoLink())  # type: ignore[arg-type]
    service._offer_times["pbx1:1.1"] = collections.deque([950.0, 990.0])
    assert service._offer_limit(session, "pbx1:1.1") == pytest.approx(10.01)
    assert session.offer_limit_trips == 1
    assert service._offer_limit(session, "pbx1:1.1") == pytest.approx(10.01)
    assert session.offer_limit_trips == 1  # one trip, one ERROR line
    now[0] = 1010.0
    assert service._offer_limit(session, "pbx1:1.1") is None


class _NoLink:
    name = "pbx1"


async def test_a_caller_of_an_unknown_queue_is_sent_to_the_fallback_context(
    stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    call = await stack.pbx.place_call("+442079460806", queue="nowhere")
    end = await stack.events.wait_for("call.hung_up")
    assert isinstance(end, CallHungUp) and end.call_id == stack.cid(call)
    redirect = [a for a in stack.pbx.actions if a.get("Action") == "Redirect"]
    assert [(a.get("Context"), a.get("Exten")) for a in redirect] == [("cc-unroutable", "s")]
    health = next(iter(stack.telephony.health()))
    assert health["ok"] is False and health["unroutable_calls"] == 1
    assert "a caller could not be routed" in str(health["problems"])
    assert "nowhere" in str(health["problems"])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("sent to cc-unroutable,s" in r.getMessage() for r in warnings)
    # Never a router contact: its hang-up does not reach the router either.
    assert not [e for e in stack.router_events.events if "nowhere" in str(e.to_dict())]
    assert not [r for r in caplog.records if "router refused" in r.getMessage()]


async def test_a_caller_that_cannot_be_redirected_either_is_hung_up(stack: Stack) -> None:
    stack.pbx.denied_actions.add("redirect")
    await stack.pbx.place_call("+442079460807", queue="nowhere")
    await stack.events.wait_for("call.hung_up")
    hangups = [a for a in stack.pbx.actions if a.get("Action") == "Hangup"]
    assert [a.get("Cause") for a in hangups] == ["21"]


async def test_a_caller_of_an_unknown_queue_can_go_to_a_fallback_queue() -> None:
    stack = await build_stack(
        settings=TelephonySettings(unroutable_queue="support", refused_offer_retry_seconds=0.05)
    )
    try:
        call = await stack.pbx.place_call("+442079460808", queue="nowhere")
        answered = await stack.events.wait_for("call.answered")
        assert answered.to_dict()["extension"] == "1001"
        assert (await stack.contact(call))["queue"] == "support"
        assert stack.telephony.health()[0]["unroutable_calls"] == 1
    finally:
        await close_stack(stack)
