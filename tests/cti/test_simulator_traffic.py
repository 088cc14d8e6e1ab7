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
