"""Call flows on a real Asterisk with the product running as an operator runs it.

Asterisk 22 from the shared kit with the product's dialplan and AMI user; sipp agent
phones and callers; ``contact-center serve`` as a subprocess, its agents made ready
through the API. Every flow ends with ``Flow.finish``: each caller served exactly once
(or, having hung up while waiting, never offered), no agent with two calls at once,
every call ended by one of its parties, no caller taken from a ringing phone, no channel
left on Asterisk, and no caller on hold while an eligible agent is idle for more than a
second. The flow's own checks come on top.

Callers mostly hang up on their own after a set time (``hold_ms``, counted from
Asterisk's answer, i.e. their arrival), long enough to be served with a margin: a flow
takes the same time whether the product serves them or not, and a caller the product
forgets shows as not served instead of a hanging test. (A caller sipp that hangs up
itself counts a BYE from the far end as a failure, so where the agent ends the call the
caller waits for that BYE instead.)

A flow the product gets wrong is marked ``xfail(strict=True, raises=AssertionError)``
with what fails on Asterisk's side (only the flow's checks may fail it, not a missing
kit or a broken fixture); today every flow passes.
"""

from __future__ import annotations

import time

import pytest

from tests.telephony_real.harness import RING_TIMEOUT, Flow
from tests.telephony_real.kit import AGENT_EXTENSIONS, PlannedCall
from tests.telephony_real.ledger import CallLedger
from tests.telephony_real.proxy import AmiProxy

pytestmark = [pytest.mark.asterisk, pytest.mark.integration, pytest.mark.slow]

# With "phone-unreachable" in not_ready_reasons (docs/cti.md, "Connecting a real
# Asterisk", step 4), the CTI takes the agent's own ringing for an unreachable phone.


def numbers(calls: list[PlannedCall]) -> list[str]:
    return [c.number for c in calls]


def wait_agent_free(flow: Flow, extension: str, timeout: float = 10) -> dict[str, object]:
    """Poll the agent's own state until the router shows it ready with nothing active."""
    deadline = time.monotonic() + timeout
    while True:
        state = flow.product.state(extension)
        if state["state"] == "ready" and not state["active"]:
            return state
        assert time.monotonic() < deadline, f"agent {extension} not free again: {state}"
        time.sleep(0.1)  # polling the API with a deadline


@pytest.mark.parametrize(
    "phone_down_reason",
    [
        pytest.param(False, id="shipped-config"),
        pytest.param(True, id="with-phone-unreachable-reason"),
    ],
)
def test_basic_call_answered_and_ended_by_the_caller(flow: Flow, phone_down_reason: bool) -> None:
    """One agent, one caller: the caller rings the agent once, talks, hangs up."""
    flow.phones.start("1001", "answer", ring_ms=300)
    flow.start_product(phone_down_reason=phone_down_reason)
    flow.ready("1001")
    flow.callers.place([PlannedCall("5550101", start_ms=0, hold_ms=3000)])

    ledger = flow.finish(served=["5550101"])

    caller = ledger.caller("5550101")
    assert [(d.agent, d.status) for d in caller.dials] == [("1001", "ANSWER")]
    assert ledger.hung_up_by(caller) == "caller"
    # The product saw the end too: the agent is free for the next call.
    wait_agent_free(flow, "1001")


@pytest.mark.parametrize(
    "phone_down_reason",
    [
        pytest.param(False, id="shipped-config"),
        pytest.param(True, id="with-phone-unreachable-reason"),
    ],
)
def test_burst_of_callers_on_three_agents_served_in_arrival_order(
    flow: Flow, phone_down_reason: bool
) -> None:
    """8 callers within about a second on 3 agents: three rounds, in arrival order.

    A round's callers stay 2.5 s longer than the round before, so agents come free in
    arrival order and every caller talks about 2 s.
    """
    for ext in AGENT_EXTENSIONS:
        flow.phones.start(ext, "answer", ring_ms=300)
    flow.start_product(phone_down_reason=phone_down_reason)
    for ext in AGENT_EXTENSIONS:
        flow.ready(ext)
    calls = [
        PlannedCall(f"55502{i:02d}", start_ms=i * 150, hold_ms=2000 + (i // 3) * 2500)
        for i in range(8)
    ]
    flow.callers.place(calls)

    ledger = flow.finish(served=numbers(calls), in_order=True)

    served_by = {ledger.bridged_agents(ledger.caller(n))[0] for n in numbers(calls)}
    assert served_by == set(AGENT_EXTENSIONS), "every agent took calls"
    for ext in AGENT_EXTENSIONS:
        wait_agent_free(flow, ext)


def first_agent_fails(flow: Flow, mode: str) -> CallLedger:
    """Agent 1001's phone in ``mode`` is the only one ready when the caller comes; 1002
    goes ready once 1001 rings. The caller stays until 1002 hangs up."""
    flow.phones.start("1001", mode)
    flow.phones.start("1002", "answer-hangup", ring_ms=300, talk_ms=1500)
    flow.start_product()
    flow.ready("1001")
    flow.callers.place([PlannedCall("5550301", start_ms=0, hold_ms=-1)])
    first = flow.wait_dial("5550301")
    assert first.get("DestChannel").startswith("PJSIP/1001-"), str(first)
    flow.ready("1002")
    return flow.finish(served=["5550301"], callers_timeout=RING_TIMEOUT + 20)


def test_agent_whose_phone_does_not_answer(flow: Flow) -> None:
    """1001 rings out (the dialplan's ring timeout): dialled once, made not ready, and
    the caller goes to 1002, who ends the call."""
    ledger = first_agent_fails(flow, "noanswer")

    caller = ledger.caller("5550301")
    assert [(d.agent, d.status) for d in caller.dials] == [("1001", "NOANSWER"), ("1002", "ANSWER")]
    assert [(agent, why) for _, agent, why in caller.no_answers] == [("1001", "NOANSWER")]
    assert ledger.hung_up_by(caller) == "agent 1002"
    state = flow.product.state("1001")
    assert (state["state"], state["reason"]) == ("not_ready", "missed-offer"), state


def test_agent_whose_phone_is_busy(flow: Flow) -> None:
    """1001 answers 486 Busy Here: dialled once (no retry storm), and the caller goes
    to 1002 at once, who ends the call."""
    ledger = first_agent_fails(flow, "busy")

    caller = ledger.caller("5550301")
    assert [(d.agent, d.status) for d in caller.dials] == [("1001", "BUSY"), ("1002", "ANSWER")]
    assert [(agent, why) for _, agent, why in caller.no_answers] == [("1001", "BUSY")]
    assert ledger.hung_up_by(caller) == "agent 1002"


def test_callers_who_hang_up_while_waiting_keep_no_agent(flow: Flow) -> None:
    """While the only agent talks, two callers give up; the agent then goes straight to
    the caller still waiting, never to the ones who left."""
    flow.phones.start("1001", "answer", ring_ms=300)
    flow.start_product()
    flow.ready("1001")
    calls = [
        PlannedCall("5550501", start_ms=0, hold_ms=3500),
        PlannedCall("5550502", start_ms=400, hold_ms=1500),
        PlannedCall("5550503", start_ms=800, hold_ms=1500),
        PlannedCall("5550504", start_ms=2500, hold_ms=4000),
    ]
    flow.callers.place(calls)

    ledger = flow.finish(served=["5550501", "5550504"], abandoned=["5550502", "5550503"])

    for number in ("5550502", "5550503"):
        assert ledger.hung_up_by(ledger.caller(number)) == "caller"
    assert ledger.bridged_agents(ledger.caller("5550504")) == ["1001"]
    wait_agent_free(flow, "1001")
    flow.product.wait_status(
        lambda s: s["services"]["routing"]["contacts"] == 0,
        timeout=10,
        what="no contact left in the router",
    )


def test_ami_link_cut_for_a_few_seconds_calls_keep_their_place(flow: Flow) -> None:
    """The product's AMI link (through a proxy) is cut while one caller talks and two
    wait; the talking call ends during the cut. After the reconnect and resync the two
    waiting callers are served, in their order."""
    flow.phones.start("1001", "answer", ring_ms=300)
    proxy = AmiProxy(flow.kit.ami_port)
    try:
        # A short backoff ceiling: the reconnect comes within a second of the restore.
        product = flow.start_product(
            ami_port=proxy.port, settings={"CC_ASTERISK_RECONNECT_MAX_SECONDS": "1"}
        )
        flow.ready("1001")
        calls = [
            PlannedCall("5550601", start_ms=0, hold_ms=3000),
            PlannedCall("5550602", start_ms=300, hold_ms=7000),
            PlannedCall("5550603", start_ms=600, hold_ms=10000),
        ]
        flow.callers.place(calls)
        flow.wait_bridged("5550601")
        flow.wait_enqueued("5550603")

        cut_at = time.time()
        proxy.cut()
        product.wait_status(
            lambda s: not s["services"]["asterisk"]["servers"][0]["logged_in"],
            timeout=5,
            what="the AMI link down",
        )
        # The first call ends while the product cannot see it.
        flow.wait_hung_up("5550601", timeout=10)
        proxy.restore()
        health = product.wait_in_sync(timeout=10)["services"]["asterisk"]["servers"][0]
        flow.blackout(cut_at, time.time())
        assert health["connections"] >= 2, health

        flow.finish(served=numbers(calls), in_order=True)
    finally:
        proxy.close()


def test_product_killed_and_restarted_while_calls_talk_and_wait(flow: Flow) -> None:
    """SIGKILL while two callers talk and two wait, then a restart (agents go ready
    again, as their consoles would): every call ends served, in order."""
    for ext in ("1001", "1002"):
        flow.phones.start(ext, "answer", ring_ms=300)
    product = flow.start_product()
    flow.ready("1001")
    flow.ready("1002")
    calls = [
        PlannedCall("5550700", start_ms=0, hold_ms=5000),
        PlannedCall("5550701", start_ms=200, hold_ms=5000),
        PlannedCall("5550702", start_ms=400, hold_ms=10000),
        PlannedCall("5550703", start_ms=600, hold_ms=10000),
    ]
    flow.callers.place(calls)
    flow.wait_bridged("5550700")
    flow.wait_bridged("5550701")
    flow.wait_enqueued("5550703")

    killed_at = time.time()
    product.kill()
    for ext in ("1001", "1002"):
        flow.end_eligibility(ext, killed_at)  # a restarted router starts with agents offline
    product.start()
    flow.ready("1001")
    flow.ready("1002")
    flow.blackout(killed_at, time.time())

    flow.finish(served=numbers(calls), in_order=True)


def test_agent_not_ready_then_ready_again(flow: Flow) -> None:
    """An agent on a break gets no call (the other agent does), and the waiting caller
    reaches it as soon as it is ready again."""
    flow.phones.start("1001", "answer", ring_ms=300)
    flow.phones.start("1002", "answer", ring_ms=300)
    flow.start_product()
    flow.ready("1001")  # 1001 first: the longest idle, the router's first choice
    flow.ready("1002")
    flow.not_ready("1001", "break")
    assert flow.product.state("1001")["reason"] == "break"
    calls = [
        PlannedCall("5550801", start_ms=0, hold_ms=4000),
        PlannedCall("5550802", start_ms=1000, hold_ms=4000),
    ]
    flow.callers.place(calls)
    first = flow.wait_dial("5550801")
    assert first.get("DestChannel").startswith("PJSIP/1002-"), str(first)
    flow.wait_enqueued("5550802")

    ready_at = time.time()
    flow.ready("1001")

    ledger = flow.finish(served=numbers(calls))
    second = ledger.caller("5550802")
    assert [d.agent for d in second.dials] == ["1001"]
    assert second.dials[0].at >= ready_at, "rang the agent while it was on a break"
