"""Demo traffic through the whole stack: every call placed ends exactly once."""

from __future__ import annotations

import pytest

from cti.simulator.traffic import CallTraffic, TrafficProfile
from tests.cti.stack import build_stack, close_stack

pytestmark = pytest.mark.integration


async def test_demo_traffic_calls_all_end_once_talked_or_abandoned() -> None:
    stack = await build_stack(ready=("alice",))
    try:
        profile = TrafficProfile(
            queues=("support",),
            mean_interval_seconds=0.01,
            talk_seconds=(0.02, 0.05),
            patience_seconds=(0.05, 0.1),
        )
        outcome = await CallTraffic(stack.pbx, profile, seed=4).run(calls=6)
        assert outcome.placed == 6
        assert outcome.talked + outcome.abandoned == 6
        assert outcome.talked >= 1
        ends = await stack.events.wait_for("call.hung_up", 6)
        assert ends is not None
        ids = [e.to_dict()["call_id"] for e in stack.events.named("call.hung_up")]
        assert len(ids) == len(set(ids)) == 6
        assert stack.session.tracker.live_calls() == []
    finally:
        await close_stack(stack)


async def test_demo_callers_past_the_media_ports_are_refused_and_counted() -> None:
    stack = await build_stack(ready=())
    stack.pbx.media_sessions = 2  # two callers on hold take both RTP sessions
    try:
        profile = TrafficProfile(
            queues=("support",),
            mean_interval_seconds=0.001,
            talk_seconds=(0.02, 0.05),
            patience_seconds=(0.3, 0.4),
        )
        outcome = await CallTraffic(stack.pbx, profile, seed=4).run(calls=4)
        assert (outcome.placed, outcome.refused, outcome.abandoned) == (2, 2, 2)
        assert [status for _, status in stack.pbx.refused_calls] == ["488 Not Acceptable Here"] * 2
    finally:
        await close_stack(stack)
