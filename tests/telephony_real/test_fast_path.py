"""The fast path on a real Asterisk: a caller who enters while an agent is free is
dialled from the dialplan (FastAGI), never hearing music on hold and never Redirected;
callers who must wait are Redirected as before; without the product's answer (fast path
off, the product down) callers wait on hold and are served once it is back.

Each flow also keeps every rule of ``Flow.finish`` (served once, no agent with two
calls, nothing hung up by the product, nothing left on Asterisk).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.telephony_real.ami import AmiEvent
from tests.telephony_real.harness import Flow
from tests.telephony_real.kit import PlannedCall

pytestmark = [pytest.mark.asterisk, pytest.mark.integration, pytest.mark.slow]


def fast_path(flow: Flow) -> dict[str, Any]:
    return dict(flow.product.status()["services"]["asterisk"]["fast_path"])


def heard_music(flow: Flow, number: str) -> bool:
    uid = flow.trunk_uniqueid(number)
    return any(
        e.name == "MusicOnHoldStart" and e.get("Uniqueid") == uid
        for e in flow.ami.events(flow.mark)
    )


def enqueued_with_fast_path(flow: Flow, number: str) -> AmiEvent:
    event = flow.wait_enqueued(number)
    assert event.get("FastPath") == "yes", f"CCEnqueue without FastPath: yes: {event}"
    return event


def test_a_free_agent_is_dialled_at_once_without_hold_or_redirect(flow: Flow) -> None:
    flow.phones.start("1001", "answer", ring_ms=300)
    flow.start_product()
    flow.ready("1001")
    flow.callers.place([PlannedCall("5550201", start_ms=0, hold_ms=3000)])

    enqueued = enqueued_with_fast_path(flow, "5550201")
    dial = flow.wait_dial("5550201")
    ledger = flow.finish(served=["5550201"])

    assert [(d.agent, d.status) for d in ledger.caller("5550201").dials] == [("1001", "ANSWER")]
    assert not heard_music(flow, "5550201"), "the caller went through music on hold"
    assert dial.ts - enqueued.ts < 0.5, "the agent was not dialled at once"
    status = fast_path(flow)
    assert (status["enabled"], status["dialled_at_once"], status["rejected"]) == (True, 1, 0)


def test_callers_who_must_wait_are_redirected_when_the_agent_frees_up(flow: Flow) -> None:
    flow.phones.start("1001", "answer-hangup", ring_ms=300, talk_ms=2000)
    flow.start_product()
    flow.ready("1001")
    calls = [
        PlannedCall("5550211", start_ms=0, hold_ms=-1),
        PlannedCall("5550212", start_ms=500, hold_ms=-1),
    ]
    flow.callers.place(calls)

    ledger = flow.finish(served=["5550211", "5550212"], in_order=True)

    assert not heard_music(flow, "5550211")
    assert heard_music(flow, "5550212"), "the second caller should have waited on hold"
    assert [d.agent for d in ledger.caller("5550212").dials] == ["1001"]
    status = fast_path(flow)
    assert (status["dialled_at_once"], status["sent_to_hold"]) == (1, 1)


def test_with_the_fast_path_off_callers_wait_on_hold_and_are_served(flow: Flow) -> None:
    """The product does not listen (fastagi_port 0): the dialplan's FastAGI connection is
    refused and the caller goes to hold, routed by Redirect as without the fast path."""
    flow.phones.start("1001", "answer", ring_ms=300)
    flow.start_product(settings={"CC_ASTERISK_FASTAGI_PORT": "0"})
    flow.ready("1001")
    flow.callers.place([PlannedCall("5550221", start_ms=0, hold_ms=3000)])

    ledger = flow.finish(served=["5550221"])

    assert heard_music(flow, "5550221")
    assert [(d.agent, d.status) for d in ledger.caller("5550221").dials] == [("1001", "ANSWER")]
    assert fast_path(flow) == {"enabled": False}


def test_with_the_product_down_callers_wait_on_hold_and_are_served_once_it_is_back(
    flow: Flow,
) -> None:
    flow.phones.start("1001", "answer", ring_ms=300)
    product = flow.start_product()
    flow.ready("1001")
    product.stop()
    down = time.time()
    flow.end_eligibility("1001", down)
    flow.callers.place([PlannedCall("5550231", start_ms=0, hold_ms=8000)])
    flow.wait_enqueued("5550231")
    product.start()
    flow.blackout(down, time.time())
    flow.ready("1001")  # a restarted router knows its agents as logged out

    ledger = flow.finish(served=["5550231"])

    assert heard_music(flow, "5550231")
    assert [d.agent for d in ledger.caller("5550231").dials] == ["1001"]
