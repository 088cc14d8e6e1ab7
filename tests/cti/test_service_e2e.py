"""End to end on the simulated PBX with the real router: queue, offer, answer, transfer..."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from cti.errors import (
    AsteriskRejected,
    IllegalCallState,
    InvalidActionHeader,
    NoSuchCall,
    UnknownExtension,
)
from cti.events import CallAnswered, CallHungUp, CallOutcome, HungUpBy, MonitorMode
from cti.simulator.pbx import PhoneMode
from tests.cti.stack import Stack, build_stack, close_stack

pytestmark = pytest.mark.integration


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    s = await build_stack()
    yield s
    await close_stack(s)


@pytest.fixture
async def idle_stack() -> AsyncIterator[Stack]:
    s = await build_stack(ready=())
    yield s
    await close_stack(s)


async def answered_call(stack: Stack, number: str = "+442079460001") -> tuple[str, CallAnswered]:
    call = await stack.pbx.place_call(number, queue="support")
    answered = await stack.events.wait_for("call.answered")
    assert isinstance(answered, CallAnswered)
    assert answered.call_id == stack.cid(call)
    return call, answered


async def test_call_is_queued_offered_answered_and_wrapped_up(stack: Stack) -> None:
    call, answered = await answered_call(stack)
    assert answered.extension == "1001"  # longest idle ready agent with a phone
    assert stack.redirects_to("1001") == 1  # the offer is carried out once
    assert (await stack.contact(call))["state"] == "connected"
    await stack.pbx.caller_hangs_up(call)
    end = await stack.events.wait_for("call.hung_up")
    assert isinstance(end, CallHungUp)
    assert (end.outcome, end.hung_up_by, end.extension) == (
        CallOutcome.COMPLETED,
        HungUpBy.CUSTOMER,
        "1001",
    )
    names = [e.name for e in stack.router_events.events]
    assert names.index("contact.queued") < names.index("contact.offered")
    assert names.index("contact.offered") < names.index("contact.connected")
    assert "wrap_up.started" in names or "contact.closed" in names
    assert [e.name for e in stack.events.events if e.name.startswith("call.")] == [
        "call.queued",
        "call.agent_ringing",
        "call.answered",
        "call.hung_up",
    ]


async def test_caller_hanging_up_while_waiting_is_abandoned(idle_stack: Stack) -> None:
    call = await idle_stack.pbx.place_call("+442079460002")
    await idle_stack.events.wait_for("call.queued")
    assert (await idle_stack.contact(call))["state"] == "queued"
    await idle_stack.pbx.caller_hangs_up(call)
    end = await idle_stack.events.wait_for("call.hung_up")
    assert isinstance(end, CallHungUp)
    assert end.outcome is CallOutcome.ABANDONED
    await idle_stack.router_events.wait_for(len(idle_stack.router_events.events))
    assert (await idle_stack.contact(call))["state"] == "abandoned"


async def test_agent_not_answering_is_set_not_ready_and_the_call_goes_to_the_next(
    stack: Stack,
) -> None:
    stack.pbx.set_phone("1001", PhoneMode.NO_ANSWER)
    call = await stack.pbx.place_call("+442079460003")
    no_answer = await stack.events.wait_for("call.agent_no_answer")
    assert no_answer.to_dict()["extension"] == "1001"
    answered = await stack.events.wait_for("call.answered")
    assert answered.to_dict()["extension"] == "1002"
    alice = await stack.agent("alice")
    assert (alice["state"], alice["reason"]) == ("not_ready", "missed-offer")
    assert (await stack.contact(call))["state"] == "connected"


async def test_busy_phone_rejects_and_the_call_is_requeued(stack: Stack) -> None:
    stack.pbx.set_phone("1001", PhoneMode.BUSY)
    await stack.pbx.place_call("+442079460004")
    busy = await stack.events.wait_for("call.agent_no_answer")
    assert busy.to_dict()["dial_status"] == "BUSY"
    answered = await stack.events.wait_for("call.answered")
    assert answered.to_dict()["extension"] == "1002"


async def test_unreachable_phone_is_not_offered_calls(idle_stack: Stack) -> None:
    s = idle_stack
    await s.pbx.set_phone_reachable("1001", False)
    await s.events.wait_for("agent_phone.state_changed")
    await s.router.ready("alice")
    await s.router.ready("bob")
    await s.pbx.place_call("+442079460005")
    answered = await s.events.wait_for("call.answered")
    assert answered.to_dict()["extension"] == "1002"
    assert s.redirects_to("1001") == 0


async def test_phone_already_in_a_call_is_not_rung(stack: Stack) -> None:
    # alice's phone is busy with a click-to-dial call the router does not know about.
    stack.pbx.set_number("5550001", PhoneMode.ANSWER, ring_seconds=0.01)
    outbound = await stack.telephony.click_to_dial("alice", "5550001")
    await stack.events.wait_for("call.answered")
    await stack.pbx.place_call("+442079460006")
    answered = await stack.events.wait_for("call.answered", 2)
    assert answered.to_dict()["extension"] == "1002"
    assert stack.redirects_to("1001") == 0
    assert outbound.call_id.startswith("pbx1:cc-c2d-")


async def test_blind_transfer_to_another_agent(stack: Stack) -> None:
    call, _ = await answered_call(stack)
    result = await stack.telephony.transfer_to_agent(stack.cid(call), "carol")
    assert result.message == "Redirect successful"
    transferred = await stack.events.wait_for("call.transferred")
    assert transferred.to_dict()["to_extension"] == "1003"
    answered = await stack.events.wait_for("call.answered", 2)
    assert answered.to_dict()["extension"] == "1003"
    contact = await stack.contact(call)
    assert (contact["state"], contact["agent_id"]) == ("connected", "carol")


async def test_transfer_to_a_queue_requeues_the_contact(idle_stack: Stack) -> None:
    s = idle_stack
    await s.router.ready("alice")
    call, _ = await answered_call(s)
    await s.telephony.transfer_to_queue(s.cid(call), "sales")
    transferred = await s.events.wait_for("call.transferred")
    assert transferred.to_dict()["to_queue"] == "sales"
    queued = await s.events.wait_for("call.queued", 2)
    assert queued.to_dict()["queue"] == "sales"
    assert queued.to_dict()["requeued"] is True
    assert (await s.contact(call))["queue"] == "sales"
    # The router offers it again (alice is free again): the caller is rung once more.
    answered = await s.events.wait_for("call.answered", 2)
    assert answered.to_dict()["call_id"] == s.cid(call)


async def test_attended_transfer_complete(stack: Stack) -> None:
    call, _ = await answered_call(stack)
    await stack.telephony.start_attended_transfer(stack.cid(call), "carol")
    await stack.events.wait_for("call.held")
    await _wait_consultation_up(stack, call)
    await stack.telephony.complete_attended_transfer(stack.cid(call))
    transferred = await stack.events.wait_for("call.transferred")
    assert transferred.to_dict()["kind"] == "attended"
    answered = await stack.events.wait_for("call.answered", 2)
    assert answered.to_dict()["extension"] == "1003"
    await stack.pbx.agent_hangs_up(call)
    end = await stack.events.wait_for("call.hung_up")
    assert end.to_dict()["extension"] == "1003"


async def _wait_consultation_up(stack: Stack, call: str) -> None:
    """The consultation leg to 1003 is up once the simulator has bridged it."""
    await stack.pbx.wait_for_event("BridgeEnter", count=6, timeout=5)


async def test_attended_transfer_cancel_gives_the_call_back(stack: Stack) -> None:
    call, _ = await answered_call(stack)
    await stack.telephony.start_attended_transfer(stack.cid(call), "carol")
    await _wait_consultation_up(stack, call)
    result = await stack.telephony.cancel_attended_transfer(stack.cid(call))
    assert result.message == "Channel Hungup"
    await stack.events.wait_for("call.resumed")
    assert stack.session.tracker.call(call) is not None
    assert stack.events.named("call.transferred") == []
    with pytest.raises(IllegalCallState):
        await stack.telephony.complete_attended_transfer(stack.cid(call))


async def test_hold_and_resume(stack: Stack) -> None:
    call, _ = await answered_call(stack)
    held = await stack.telephony.hold(stack.cid(call))
    assert held.message == "Dual Redirect successful"
    await stack.events.wait_for("call.held")
    with pytest.raises(IllegalCallState):
        await stack.telephony.hold(stack.cid(call))
    await stack.telephony.resume(stack.cid(call))
    await stack.events.wait_for("call.resumed")
    assert len(stack.events.named("call.answered")) == 1  # same agent: not a new answer


async def test_recording_start_pause_stop_is_linked_to_the_call(stack: Stack) -> None:
    call, _ = await answered_call(stack)
    started = await stack.telephony.start_recording(stack.cid(call))
    assert started.file.endswith(".wav") and call in started.file
    event = await stack.events.wait_for("call.recording_started")
    assert event.to_dict()["file"] == started.file
    assert (await stack.telephony.pause_recording(stack.cid(call))).ok
    assert (await stack.telephony.pause_recording(stack.cid(call), paused=False)).ok
    await stack.telephony.stop_recording(stack.cid(call))
    stopped = await stack.events.wait_for("call.recording_stopped")
    assert stopped.to_dict()["file"] == started.file


@pytest.mark.parametrize("mode", list(MonitorMode))
async def test_supervisor_listen_whisper_barge(stack: Stack, mode: MonitorMode) -> None:
    call, _ = await answered_call(stack)
    await stack.telephony.monitor("sam", stack.cid(call), mode)
    started = await stack.events.wait_for("call.monitor_started")
    assert started.to_dict()["mode"] == mode.value
    assert started.to_dict()["agent_extension"] == "1001"
    await stack.telephony.stop_monitor("sam", stack.cid(call))
    await stack.events.wait_for("call.monitor_stopped")


async def test_click_to_dial_rings_the_agent_then_the_customer(stack: Stack) -> None:
    stack.pbx.set_number("5559876", PhoneMode.ANSWER, ring_seconds=0.01)
    result = await stack.telephony.click_to_dial("bob", "555-9876")
    started = await stack.events.wait_for("call.outbound_started")
    assert started.to_dict() | {"at": 0} == {
        "event": "call.outbound_started",
        "at": 0,
        "server": "pbx1",
        "call_id": result.call_id,
        "extension": "1002",
        "number": "5559876",
    }
    await stack.events.wait_for("call.answered")
    await stack.telephony.hangup(result.call_id)
    end = await stack.events.wait_for("call.hung_up")
    assert end.to_dict()["direction"] == "outbound"


async def test_click_to_dial_agent_not_answering_fails(stack: Stack) -> None:
    stack.pbx.set_phone("1002", PhoneMode.NO_ANSWER)
    stack.session.control.settings = dataclasses.replace(
        stack.telephony.control_settings, originate_timeout_ms=50
    )
    await stack.telephony.click_to_dial("bob", "5559876")
    failed = await stack.events.wait_for("call.outbound_failed")
    assert failed.to_dict()["reason"] == "no-answer"


async def test_api_errors_carry_stable_ids_and_asterisk_messages(stack: Stack) -> None:
    with pytest.raises(NoSuchCall) as no_call:
        await stack.telephony.hangup("1234.5")
    assert no_call.value.error_id == "no-such-call"
    with pytest.raises(UnknownExtension):
        await stack.telephony.click_to_dial("nobody", "5551234")
    with pytest.raises(AsteriskRejected) as rejected:
        await stack.session.control.offer_to_agent("PJSIP/nosuch-00000000", "1001")
    assert rejected.value.message == "Channel does not exist: PJSIP/nosuch-00000000"
    assert rejected.value.error_id == "asterisk-rejected"
    with pytest.raises(AsteriskRejected) as hangup:
        await stack.session.control.hangup("PJSIP/nosuch-00000000")
    assert hangup.value.message == "No such channel"
    call = await stack.pbx.place_call("+442079460009")
    await stack.events.wait_for("call.queued")
    with pytest.raises(IllegalCallState) as state:
        await stack.telephony.hold(stack.cid(call))  # still queued
    assert state.value.error_id == "illegal-call-state"
    assert state.value.status == 409


async def test_refused_click_to_dial_reports_asterisks_message_and_leaves_nothing(
    stack: Stack,
) -> None:
    settings = dataclasses.replace(stack.telephony.control_settings, endpoint_tech="SIP")
    stack.session.control.settings = settings
    with pytest.raises(AsteriskRejected) as err:
        await stack.telephony.click_to_dial("bob", "5559876")
    assert err.value.message == "Originate failed"
    assert stack.session.tracker._pending_originates == {}


async def test_agent_hanging_up_on_a_held_customer_puts_the_call_back_in_its_queue(
    stack: Stack,
) -> None:
    call, _ = await answered_call(stack)
    await stack.telephony.hold(stack.cid(call))
    await stack.events.wait_for("call.held")
    await stack.pbx.agent_hangs_up(call)
    left = await stack.events.wait_for("call.agent_left")
    assert left.to_dict()["extension"] == "1001"
    requeued = await stack.events.wait_for("call.queued", 2)
    assert requeued.to_dict()["requeued"] is True
    # The router gets it back and offers it again: the customer is not left in music.
    answered = await stack.events.wait_for("call.answered", 2)
    assert answered.to_dict()["call_id"] == stack.cid(call)


async def test_transfer_to_an_outside_number_closes_the_contact(stack: Stack) -> None:
    stack.pbx.set_number("5550199", PhoneMode.ANSWER, ring_seconds=0.01)
    call, _ = await answered_call(stack)
    await stack.telephony.transfer_to_number(stack.cid(call), "555-0199")
    transferred = await stack.events.wait_for("call.transferred")
    assert transferred.to_dict()["to_number"] == "5550199"
    assert (await stack.contact(call))["state"] in ("wrap_up", "closed")
    await stack.pbx.caller_hangs_up(call)
    end = await stack.events.wait_for("call.hung_up")
    assert end.to_dict()["outcome"] == "transferred_out"
    assert stack.session.tracker.live_calls() == []
    assert stack.session.tracker.channels == {}


async def test_bad_numbers_and_queue_names_are_refused_before_reaching_asterisk(
    stack: Stack,
) -> None:
    actions = len(stack.pbx.actions)
    with pytest.raises(InvalidActionHeader) as err:
        await stack.telephony.click_to_dial("bob", "5551234\r\nAction: Hangup")
    assert (err.value.error_id, err.value.status) == ("invalid-ami-header", 422)
    call, _ = await answered_call(stack)
    with pytest.raises(InvalidActionHeader):
        await stack.telephony.transfer_to_queue(stack.cid(call), "sales; drop")
    with pytest.raises(InvalidActionHeader):
        await stack.telephony.transfer_to_number(stack.cid(call), "call me")
    assert [a.get("Action") for a in stack.pbx.actions[actions:]] == ["Redirect"]


async def test_agent_declining_a_ringing_call_misses_the_offer_and_the_call_goes_on(
    stack: Stack,
) -> None:
    stack.pbx.set_phone("1001", PhoneMode.MANUAL)  # rings until something ends it
    call = await stack.pbx.place_call("+442079460005")
    await stack.events.wait_for("call.agent_ringing")
    result = await stack.telephony.decline_offer(stack.cid(call), "alice")
    assert result.ok
    no_answer = await stack.events.wait_for("call.agent_no_answer")
    assert no_answer.to_dict()["extension"] == "1001"
    answered = await stack.events.wait_for("call.answered")
    assert answered.to_dict()["extension"] == "1002"
    alice = await stack.agent("alice")
    assert (alice["state"], alice["reason"]) == ("not_ready", "missed-offer")


async def test_declining_a_call_that_rings_for_someone_else_is_refused(stack: Stack) -> None:
    stack.pbx.set_phone("1001", PhoneMode.MANUAL)
    call = await stack.pbx.place_call("+442079460006")
    await stack.events.wait_for("call.agent_ringing")
    with pytest.raises(IllegalCallState):
        await stack.telephony.decline_offer(stack.cid(call), "bob")
    assert (await stack.contact(call))["state"] == "offered"
