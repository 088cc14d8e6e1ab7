"""The ring-to-agent benchmark: its plan, its measure from AMI events, and a quick run
on the real Asterisk (skipped without one, as the real-Asterisk tests are)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import ring
from tests.telephony_real.ami import AmiEvent
from tests.telephony_real.kit import find_kit, find_prefix

ROOT = Path(__file__).resolve().parents[2]


def event(ts: float, **headers: str) -> AmiEvent:
    return AmiEvent({"Timestamp": f"{ts:.6f}", **headers}, ts)


def test_given_a_shape_then_one_call_a_second_then_bursts_of_as_many_callers_as_agents() -> None:
    plan = ring.Shape(steady_calls=2, bursts=2).plan(ring.numbers_from(7))
    assert [(p, c.number, c.start_ms, c.hold_ms) for p, c in plan] == [
        ("steady", "6175000007", 0, -1),
        ("steady", "6175000008", 1000, -1),
        *[("burst", f"61750000{n:02d}", 2000, -1) for n in (9, 10, 11)],
        *[("burst", f"61750000{n:02d}", 4000, -1) for n in (12, 13, 14)],
    ]
    assert ring.Shape(2, 2).calls == len(plan) == 8


def test_given_values_then_percentiles_use_the_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]
    assert ring.percentile(values, 0.5) == 50.0
    assert ring.percentile(values, 0.99) == 99.0
    assert ring.figures_of([]) == {}


def test_given_asterisk_events_then_entry_to_first_dial_is_measured_per_caller(
    tmp_path: Path,
) -> None:
    bench = ring.Bench.__new__(ring.Bench)
    bench.samples, bench.unserved = [], {s.name: 0 for s in ring.SYSTEMS}
    plan = ring.Shape(steady_calls=1, bursts=1).plan(ring.numbers_from(1))
    numbers = [c.number for _, c in plan]
    trunk = {"Event": "Newchannel"}
    events = [
        # Caller 1: entered at 10.000, dialled at 10.002 (then a second dial: ignored).
        event(9.99, **trunk, Channel="PJSIP/trunk-1", Uniqueid="u1", CallerIDNum=numbers[0]),
        event(10.0, Event="UserEvent", UserEvent="CCEnqueue", Uniqueid="u1"),
        event(10.0015, Event="AGIExecStart", Uniqueid="u1", Command='SET VARIABLE X "1001"'),
        event(10.002, Event="DialBegin", Uniqueid="u1", DestChannel="PJSIP/1001-1"),
        event(10.5, Event="DialBegin", Uniqueid="u1", DestChannel="PJSIP/1002-1"),
        # Caller 2: music on hold first (the Redirect path), dialled 30 ms after entry.
        event(11.0, **trunk, Channel="PJSIP/trunk-2", Uniqueid="u2", CallerIDNum=numbers[1]),
        event(11.001, Event="UserEvent", UserEvent="CCEnqueue", Uniqueid="u2"),
        event(11.002, Event="MusicOnHoldStart", Uniqueid="u2"),
        event(11.029, Event="MusicOnHoldStop", Uniqueid="u2"),  # Redirected
        event(11.031, Event="DialBegin", Uniqueid="u2", DestChannel="PJSIP/1002-2"),
        # Caller 3 entered but never dialled; an agent's own channel is not a caller.
        event(11.1, **trunk, Channel="PJSIP/trunk-3", Uniqueid="u3", CallerIDNum=numbers[2]),
        event(11.1, Event="UserEvent", UserEvent="CCEnqueue", Uniqueid="u3"),
        event(11.2, **trunk, Channel="PJSIP/1001-9", Uniqueid="u9", CallerIDNum="1001"),
        # Another system's entry event does not count.
        event(11.3, Event="UserEvent", UserEvent="BenchQueueEntry", Uniqueid="u3"),
    ]
    bench.collect(ring.FAST_PATH, plan, 0, events)

    measured = [
        (s.pattern, round(s.ms, 3), s.heard_music, round(s.answered_ms or 0, 3))
        for s in bench.samples
    ]
    assert measured == [("steady", 2.0, False, 1.5), ("burst", 30.0, True, 28.0)]
    # Caller 3 was never dialled; caller 4 never entered.
    assert bench.unserved["fast_path"] == 2


def test_given_no_kit_then_the_benchmark_says_why_and_prints_skipped(tmp_path: Path) -> None:
    env = {**os.environ, "CC_AST_KIT": str(tmp_path / "nowhere")}
    done = subprocess.run(
        [sys.executable, "-m", "bench.ring", "--quick"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    why = f"no Asterisk test kit (test-kit/run-asterisk.sh) at CC_AST_KIT={tmp_path}/nowhere"
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"skipped": why}
    assert "bench.ring skipped: no Asterisk test kit" in done.stderr


@pytest.mark.asterisk
@pytest.mark.integration
@pytest.mark.slow
def test_given_the_real_asterisk_then_a_quick_run_measures_every_system() -> None:
    for found, why in (find_kit(), find_prefix()):
        if found is None:
            pytest.skip(f"bench.ring on the real Asterisk: {why}")
    # Its own Asterisk, beside the one the real-Asterisk tests may be running.
    offset = int(os.environ.get("CC_AST_PORT_OFFSET") or 0) + 50
    env = {**os.environ, "CC_AST_PORT_OFFSET": str(offset)}
    done = subprocess.run(
        [sys.executable, "-m", "bench.ring", "--quick"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    calls = ring.Shape(2, 1).calls
    assert figures["calls"] == figures["app_queue_calls"] == figures["redirect_calls"] == calls
    assert figures["unserved"] == {"app_queue": 0, "fast_path": 0, "redirect": 0}
    for name in ("app_queue", "product", "fast_path", "redirect", "ring_to_offer"):
        assert 0 < figures[f"{name}_p50_ms"] <= figures[f"{name}_p99_ms"], name
    assert figures["ratio_p50"] == round(figures["product_p50_ms"] / figures["app_queue_p50_ms"], 2)
    # The product's callers went by the fast path, the redirect system's by hold.
    assert figures["fast_path_status"]["handoffs_missed"] == 0
    assert figures["fast_path_dialled_at_once"] + figures["fast_path_fell_back_to_hold"] == calls
