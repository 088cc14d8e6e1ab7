"""Replay each real capture through the call tracker and check the call's timeline."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from contact_center.domain.events import DomainEvent
from cti.events import (
    AgentPhoneStateChanged,
    CallAnswered,
    CallHungUp,
    CallOutcome,
    HungUpBy,
    PhoneState,
)
from cti.protocol import AmiMessage, parse_message
from cti.tracker import CallState, CallTracker, ChannelSnapshot
from tests.cti.conftest import CAPTURE_NAMES, capture_messages


def replay(name: str, tracker: CallTracker | None = None) -> tuple[CallTracker, list[DomainEvent]]:
    tracker = tracker or CallTracker("pbx")
    events: list[DomainEvent] = []
    for msg in capture_messages(name):
        events += tracker.feed(msg)
    return tracker, events


def timeline(events: list[DomainEvent]) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for e in events:
        d = e.to_dict()
        detail = d.get("extension") or d.get("queue") or d.get("file") or ""
        out.append((e.name, detail))
    return out


@pytest.mark.parametrize("name", CAPTURE_NAMES)
def test_every_capture_replays_without_leaving_calls_or_channels_behind(name: str) -> None:
    tracker, _ = replay(name)
    if name.startswith("j-"):
        return  # the resync capture lists channels as list events, checked below
    assert tracker.live_calls() == []
    assert tracker.channels == {}


def test_c_caller_queued_offered_to_1001_answered_after_1s_caller_hangs_up_after_35s() -> None:
    _, events = replay("c-agent-answers-caller-hangs-up")
    assert timeline(events) == [
        ("call.queued", "support"),
        ("call.agent_ringing", "1001"),
        ("call.answered", "1001"),
        ("call.hung_up", "1001"),
    ]
    answered = events[2]
    assert isinstance(answered, CallAnswered)
    assert answered.ring_seconds == pytest.approx(1.0, abs=0.05)
    assert answered.wait_seconds == pytest.approx(3.0, abs=0.05)
    end = events[3]
    assert isinstance(end, CallHungUp)
    assert end.hung_up_by is HungUpBy.CUSTOMER
    assert end.outcome is CallOutcome.COMPLETED
    assert end.talk_seconds == pytest.approx(3.5, abs=0.05)
    assert (end.cause, end.cause_text) == (16, "Normal Clearing")
    assert end.caller_number == "55510001"
    assert end.call_id == "1795392925.1"


def test_d_agent_hangs_up_first_is_told_by_hangup_request_not_hangup_order() -> None:
    _, events = replay("d-agent-hangs-up-first")
    end = events[-1]
    assert isinstance(end, CallHungUp)
    assert end.hung_up_by is HungUpBy.AGENT
    assert end.talk_seconds == pytest.approx(3.0, abs=0.05)


def test_b_caller_leaving_the_queue_is_an_abandon() -> None:
    _, events = replay("b-abandon")
    assert [e.name for e in events] == ["call.queued", "call.hung_up"]
    end = events[-1]
    assert isinstance(end, CallHungUp)
    assert end.outcome is CallOutcome.ABANDONED
    assert end.hung_up_by is HungUpBy.CUSTOMER
    assert end.wait_seconds == pytest.approx(4.0, abs=0.05)


def test_e_no_answer_then_busy_then_answered_by_1002() -> None:
    _, events = replay("e-agent-noanswer-busy-then-answer")
    assert timeline(events) == [
        ("call.queued", "sales"),
        ("call.agent_ringing", "1001"),
        ("call.agent_no_answer", "1001"),
        ("call.agent_ringing", "1003"),
        ("call.agent_no_answer", "1003"),
        ("call.agent_ringing", "1002"),
        ("call.answered", "1002"),
        ("call.hung_up", "1002"),
    ]
    statuses = [e.to_dict()["dial_status"] for e in events if e.name == "call.agent_no_answer"]
    assert statuses == ["NOANSWER", "BUSY"]
    end = events[-1]
    assert isinstance(end, CallHungUp)
    # 1003's 486 Busy (a HangupRequest on the ringing leg) is not "the agent hung up the call".
    assert end.hung_up_by is HungUpBy.AGENT
    assert end.wait_seconds == pytest.approx(19.0, abs=0.1)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("f1-transfer-by-redirect", "redirect"),
        ("f2-blind-transfer-action", "blind"),
        ("f3-attended-transfer-atxfer", "attended"),
    ],
)
def test_f_transfers_move_the_call_from_1001_to_1002(name: str, kind: str) -> None:
    _, events = replay(name)
    transfers = [e.to_dict() for e in events if e.name == "call.transferred"]
    assert len(transfers) == 1
    assert transfers[0]["kind"] == kind
    assert (transfers[0]["from_extension"], transfers[0]["to_extension"]) == ("1001", "1002")
    answered = [e.to_dict()["extension"] for e in events if e.name == "call.answered"]
    assert answered == ["1001", "1002"]
    end = events[-1]
    assert isinstance(end, CallHungUp)
    assert (end.extension, end.hung_up_by) == ("1002", HungUpBy.AGENT)


def test_f3_consultation_puts_the_caller_on_hold_and_back() -> None:
    _, events = replay("f3-attended-transfer-atxfer")
    names = [e.name for e in events]
    assert names.index("call.held") < names.index("call.resumed") < names.index("call.transferred")


def test_g_click_to_dial_agent_first_then_customer() -> None:
    tracker = CallTracker("pbx")
    tracker.expect_outbound("c2d-agent-0001", "1001", "5559876")
    _, events = replay("g-click-to-dial", tracker)
    assert timeline(events) == [
        ("call.outbound_started", "1001"),
        ("call.answered", "1001"),
        ("call.hung_up", "1001"),
    ]
    end = events[-1]
    assert isinstance(end, CallHungUp)
    assert end.hung_up_by is HungUpBy.CUSTOMER
    assert end.caller_number == "5559876"
    assert end.talk_seconds == pytest.approx(3.0, abs=0.05)


def test_g_click_to_dial_is_recognised_even_when_started_elsewhere() -> None:
    _, events = replay("g-click-to-dial")
    assert [e.name for e in events] == ["call.outbound_started", "call.answered", "call.hung_up"]


def test_g2_click_to_dial_agent_not_answering_fails_the_call() -> None:
    tracker = CallTracker("pbx")
    tracker.expect_outbound("c2d-agent-0002", "1001", "5559876")
    _, events = replay("g2-click-to-dial-agent-noanswer", tracker)
    assert [e.name for e in events] == [
        "call.outbound_started",
        "call.outbound_failed",
        "call.hung_up",
    ]
    assert events[1].to_dict()["reason"] == "no-answer"
    end = events[-1]
    assert isinstance(end, CallHungUp)
    assert (end.outcome, end.hung_up_by) == (CallOutcome.FAILED, HungUpBy.SYSTEM)


def test_h_supervisor_listening_is_reported_on_the_agent_call() -> None:
    _, events = replay("h-supervisor-chanspy")
    monitor = [e.to_dict() for e in events if e.name.startswith("call.monitor")]
    assert [m["event"] for m in monitor] == ["call.monitor_started", "call.monitor_stopped"]
    assert monitor[0]["mode"] == "listen"
    assert (monitor[0]["supervisor_extension"], monitor[0]["agent_extension"]) == ("1901", "1001")
    assert monitor[0]["call_id"] == "1795393019.23"
    # The supervisor's own channel never becomes a customer call.
    assert sum(1 for e in events if e.name == "call.hung_up") == 1


def test_i_recording_file_is_linked_to_the_call() -> None:
    _, events = replay("i-mixmonitor")
    recs = [e.to_dict() for e in events if e.name.startswith("call.recording")]
    assert [r["event"] for r in recs] == ["call.recording_started", "call.recording_stopped"]
    assert recs[0]["file"] == "/srv/cc-asterisk/spool/monitor/cc-1795393033.26.wav"
    assert recs[0]["call_id"] == "1795393033.26"


def test_k_burst_20_callers_3_answered_17_abandoned() -> None:
    _, events = replay("k-burst-20-callers")
    queued = [e for e in events if e.name == "call.queued"]
    ends = [e for e in events if isinstance(e, CallHungUp)]
    assert len(queued) == 20
    assert len(ends) == 20
    assert sorted(e.outcome.value for e in ends).count("completed") == 3
    assert sum(1 for e in ends if e.outcome is CallOutcome.ABANDONED) == 17


def _snapshots(name: str) -> list[ChannelSnapshot]:
    return [
        ChannelSnapshot.from_message(m)
        for m in capture_messages(name)
        if m.event == "CoreShowChannel"
    ]


def test_j_resync_after_a_restart_of_our_process_finds_both_calls() -> None:
    tracker = CallTracker("pbx")
    snap = _snapshots("j-resync-coreshowchannels-status")
    events = tracker.reconcile(snap, {"1795393044.29": "support"}, at=1795393046.0)
    assert timeline(events) == [("call.answered", "1001"), ("call.queued", "support")]
    talking = tracker.call("1795393044.28")
    holding = tracker.call("1795393044.29")
    assert talking is not None and talking.state is CallState.CONNECTED
    assert holding is not None and holding.state is CallState.QUEUED
    assert holding.caller_number == "55510002"
    # A second resync with the same picture changes nothing: no duplicate.
    assert tracker.reconcile(snap, {"1795393044.29": "support"}, at=1795393047.0) == []


def test_j_resync_ends_calls_that_vanished_while_the_link_was_down() -> None:
    partial = CallTracker("pbx")
    messages = capture_messages("c-agent-answers-caller-hangs-up")
    answered_at = next(i for i, m in enumerate(messages) if m.event == "BridgeEnter") + 2
    for m in messages[:answered_at]:
        partial.feed(m)
    assert [c.state for c in partial.live_calls()] == [CallState.CONNECTED]
    events = partial.reconcile([], {}, at=1795392940.0)
    assert len(events) == 1
    end = events[0]
    assert isinstance(end, CallHungUp)
    assert end.hung_up_by is HungUpBy.UNKNOWN
    assert end.outcome is CallOutcome.COMPLETED
    assert partial.live_calls() == []


def test_resync_sees_an_offer_that_ended_while_away_as_no_answer() -> None:
    tracker = CallTracker("pbx")
    messages = capture_messages("e-agent-noanswer-busy-then-answer")
    ringing = next(i for i, m in enumerate(messages) if m.event == "DialState")
    for m in messages[: ringing + 1]:
        tracker.feed(m)
    holding = ChannelSnapshot(
        name="PJSIP/trunk-00000005",
        uniqueid="1795392942.5",
        linkedid="1795392942.5",
        context="cc-hold",
        exten="s",
        application="MusicOnHold",
        caller_number="55510001",
        caller_name="Customer 55510001",
        bridge="",
        duration_seconds=20,
    )
    events = tracker.reconcile([holding], {"1795392942.5": "sales"}, at=1795392962.0)
    assert timeline(events) == [("call.agent_no_answer", "1001")]


def test_unknown_and_out_of_order_events_are_tolerated_and_logged_at_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = CallTracker("pbx")
    caplog.set_level(logging.DEBUG, logger="cti.tracker")
    stray: list[AmiMessage] = [
        parse_message(b"Event: SomethingNew\r\nFoo: bar"),
        parse_message(b"Event: Hangup\r\nChannel: PJSIP/x-1\r\nUniqueid: 9.9\r\nLinkedid: 9.9"),
        parse_message(b"Event: DialBegin\r\nUniqueid: 1.1\r\nDestUniqueid: 1.2\r\nLinkedid: 1.1"),
        parse_message(b"Event: UserEvent\r\nUserEvent: CCEnqueue\r\nLinkedid: 5.5"),
        parse_message(b"Event: Newchannel\r\nChannel: PJSIP/trunk-1"),  # no Uniqueid
        parse_message(b"Event: Hangup\r\nUniqueid: 7.7\r\nTimestamp: not-a-number"),
    ]
    for msg in stray:
        assert tracker.feed(msg) == []
    assert tracker.unknown_events == 1
    assert "SomethingNew" in caplog.text
    assert "hangup of unknown channel" in caplog.text
    # And the tracker still works afterwards.
    _, events = replay("c-agent-answers-caller-hangs-up", tracker)
    assert [e.name for e in events][-1] == "call.hung_up"


def test_replaying_the_same_events_twice_after_a_resync_overlap_emits_nothing_new() -> None:
    _, first = replay("b-abandon")
    messages = capture_messages("b-abandon")
    enqueue = next(m for m in messages if m.get("UserEvent") == "CCEnqueue")
    again = CallTracker("pbx")
    events = []
    for m in messages[: messages.index(enqueue) + 1]:
        events += again.feed(m)
    events += again.feed(enqueue)
    assert [e.name for e in events] == ["call.queued"]
    assert first[0].name == "call.queued"


def test_phone_state_from_device_state_and_contact_status() -> None:
    tracker = CallTracker("pbx")
    down = tracker.feed(
        parse_message(b"Event: ContactStatus\r\nAOR: 1001\r\nContactStatus: Unreachable")
    )
    assert [(e.extension, e.state) for e in down if isinstance(e, AgentPhoneStateChanged)] == [
        ("1001", PhoneState.UNREACHABLE)
    ]
    assert tracker.phone_busy("1001")
    up = tracker.feed(
        parse_message(b"Event: DeviceStateChange\r\nDevice: PJSIP/1001\r\nState: NOT_INUSE")
    )
    assert [e.to_dict()["state"] for e in up] == ["available"]
    assert not tracker.phone_busy("1001")
    assert (
        tracker.feed(
            parse_message(b"Event: DeviceStateChange\r\nDevice: PJSIP/1001\r\nState: NOT_INUSE")
        )
        == []
    )
    assert (
        tracker.feed(
            parse_message(b"Event: DeviceStateChange\r\nDevice: Queue:support\r\nState: INUSE")
        )
        == []
    )


def test_a_live_agent_channel_makes_the_phone_busy() -> None:
    tracker = CallTracker("pbx")
    messages = capture_messages("c-agent-answers-caller-hangs-up")
    bridge = next(i for i, m in enumerate(messages) if m.event == "BridgeEnter")
    for m in messages[:bridge]:
        tracker.feed(m)
    assert tracker.phone_busy("1001")
    assert not tracker.phone_busy("1002")
