"""The wallboard benchmark's code path at a tiny scale, so the benchmark keeps working."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import wallboard

ROOT = Path(__file__).resolve().parents[2]


def test_given_quick_then_fifty_viewers_and_fewer_rows_said_so() -> None:
    quick = wallboard.parse_args(["--quick"])
    assert (quick.viewers, quick.rate) == (50, 50.0)
    assert quick.seconds <= 10 and quick.rows < 10_000_000
    full = wallboard.parse_args([])
    assert (full.viewers, full.rate, full.seconds, full.rows) == (50, 50.0, 60.0, 10_000_000)


@pytest.mark.parametrize("argv", [["--viewers", "0"], ["--rate", "-1"], ["--rows", "0"]])
def test_given_bad_arguments_then_the_benchmark_refuses_them(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        wallboard.parse_args(argv)


@pytest.mark.slow
def test_given_a_tiny_live_run_then_every_viewer_gets_boards_after_each_contact() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.wallboard", "--backend", "sqlite", "--viewers", "3",
         "--rate", "10", "--seconds", "1", "--skip-report"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["viewers"] == 3 and figures["live_database"] == "sqlite"
    assert figures["contacts"] == 10 and figures["events_without_board"] == 0
    assert 0 < figures["event_to_board_p50_ms"] <= figures["event_to_board_p99_ms"]
