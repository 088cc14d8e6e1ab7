"""The real-Asterisk tests' rules, checked on recorded AMI traffic (no Asterisk needed).

``CallLedger`` decides whether a flow on a real Asterisk went right; these tests feed
it the captures in ``tests/fixtures/ami`` (real bytes from Asterisk 22.10.1) and
doctored copies of them, so each rule is shown to pass on a good flow and to fail on a
bad one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.telephony_real.ami import AmiEvent, events_from_bytes, parse_messages
from tests.telephony_real.ledger import CallLedger, endpoint_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"


def capture(name: str) -> list[AmiEvent]:
    return events_from_bytes((FIXTURES / f"{name}.ami.txt").read_bytes())


def test_parse_messages_keeps_an_incomplete_tail() -> None:
    messages, rest = parse_messages(b"Event: A\r\nX: 1\r\n\r\nEvent: B\r\nY:")
    assert messages == [{"Event": "A", "X": "1"}]
    assert rest == b"Event: B\r\nY:"


def test_endpoint_of_channel_names() -> None:
    assert endpoint_of("PJSIP/1001-00000004") == "1001"
    assert endpoint_of("PJSIP/trunk-0000000a") == "trunk"


def test_answered_call_ended_by_the_caller() -> None:
    ledger = CallLedger(capture("c-agent-answers-caller-hangs-up"))
    caller = ledger.caller("55510001")
    assert [(d.agent, d.status) for d in caller.dials] == [("1001", "ANSWER")]
    assert ledger.bridged_agents(caller) == ["1001"]
    assert ledger.hung_up_by(caller) == "caller"
    assert ledger.served_exactly_once(["55510001"]) == []
    assert ledger.ended_by_parties() == []
    assert ledger.no_agent_with_two_calls() == []
    assert ledger.never_taken_from_a_ringing_phone() == []
    assert ledger.all_hung_up() == []


def test_call_ended_by_the_agent() -> None:
    ledger = CallLedger(capture("d-agent-hangs-up-first"))
    assert ledger.hung_up_by(ledger.caller("55510001")) == "agent 1001"
    assert ledger.ended_by_parties() == []


def test_no_answer_and_busy_before_the_third_agent_answers() -> None:
    ledger = CallLedger(capture("e-agent-noanswer-busy-then-answer"))
    (caller,) = ledger.callers.values()
    assert [(d.agent, d.status) for d in caller.dials] == [
        ("1001", "NOANSWER"),
        ("1003", "BUSY"),
        ("1002", "ANSWER"),
    ]
    assert [(agent, why) for _, agent, why in caller.no_answers] == [
        ("1001", "NOANSWER"),
        ("1003", "BUSY"),
    ]
    # The busy phone's own HangupRequest does not count as the call's end.
    assert ledger.hung_up_by(caller) == "agent 1002"
    assert ledger.served_exactly_once([caller.number]) == []


def test_caller_who_hangs_up_while_waiting() -> None:
    ledger = CallLedger(capture("b-abandon"))
    (caller,) = ledger.callers.values()
    assert ledger.never_offered([caller.number]) == []
    problems = ledger.served_exactly_once([caller.number])
    assert len(problems) == 1 and "served 0 times" in problems[0]


def test_idle_agent_while_a_caller_waits_is_reported() -> None:
    events = capture("b-abandon")
    ledger = CallLedger(events)
    (caller,) = ledger.callers.values()
    assert caller.channel.hung_up is not None and caller.first_enqueued is not None
    assert caller.channel.hung_up - caller.first_enqueued > 1.0  # it waited a while
    window = [(caller.first_enqueued - 10, caller.channel.hung_up + 10)]
    until = caller.channel.hung_up + 10
    problems = ledger.no_idle_agent_while_waiting({"1001": window}, until=until)
    assert len(problems) == 1 and "while agent 1001 was ready and idle" in problems[0]
    # Not eligible (not ready, or a phone that does not answer): no problem.
    assert ledger.no_idle_agent_while_waiting({"1001": []}, until=until) == []
    # The product could not act then (link cut): no problem either.
    assert ledger.no_idle_agent_while_waiting({"1001": window}, blackouts=window, until=until) == []


def test_burst_offered_in_arrival_order() -> None:
    ledger = CallLedger(capture("k-burst-20-callers"))
    offered = [c for c in ledger.callers_by_arrival() if c.dials]
    assert len(ledger.callers) == 20 and len(offered) == 3
    assert ledger.no_agent_with_two_calls() == []
    # The capture's script redirected three callers of its choice; swap two offers to
    # see the rule fire when a later caller goes first.
    early, late = offered[0], offered[-1]
    early.dials[0], late.dials[0] = (
        dataclasses.replace(early.dials[0], at=late.dials[0].at + 1),
        dataclasses.replace(late.dials[0], at=early.dials[0].at - 1),
    )
    assert any(
        f"caller {late.number}" in p and f"before caller {early.number}" in p
        for p in ledger.offered_in_arrival_order()
    )


def test_two_channels_on_one_agent_are_reported() -> None:
    events = capture("c-agent-answers-caller-hangs-up")
    agent_new = next(e for e in events if e.name == "Newchannel" and "1001" in e.get("Channel"))
    # A second 1001 channel appearing while the first is still up.
    twin = AmiEvent(
        {
            **agent_new.headers,
            "Uniqueid": "twin.1",
            "Channel": "PJSIP/1001-000000ff",
            "Timestamp": str(agent_new.ts + 0.5),
        },
        0.0,
    )
    ledger = CallLedger([*events, twin])
    problems = ledger.no_agent_with_two_calls()
    assert len(problems) == 1 and "agent 1001 had two calls at once" in problems[0]


def test_call_hung_up_by_nobody_is_reported() -> None:
    events = [e for e in capture("c-agent-answers-caller-hangs-up") if e.name != "HangupRequest"]
    problems = CallLedger(events).ended_by_parties()
    assert len(problems) == 1 and "ended by nobody's BYE" in problems[0]


def test_caller_taken_from_a_ringing_phone_is_reported() -> None:
    events = capture("c-agent-answers-caller-hangs-up")
    cancelled = [
        AmiEvent({**e.headers, "DialStatus": "CANCEL"}, 0.0) if e.name == "DialEnd" else e
        for e in events
    ]
    problems = CallLedger(cancelled).never_taken_from_a_ringing_phone()
    assert len(problems) == 1 and "taken away from a ringing phone 1 time" in problems[0]
