"""The chat benchmark's arguments and its whole code path at a tiny scale."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import chat

ROOT = Path(__file__).resolve().parents[2]


def test_given_quick_or_full_then_the_documented_shapes() -> None:
    quick = chat.parse_args(["--quick"])
    assert (quick.sessions, quick.agents, quick.rate, quick.seconds) == (200, 40, 500.0, 5.0)
    full = chat.parse_args([])
    assert (full.sessions, full.agents, full.rate) == (5000, 1000, 500.0)
    assert full.backend == "postgres"


@pytest.mark.parametrize("argv", [["--sessions", "0"], ["--rate", "-1"], ["--database-url", "x"]])
def test_given_bad_arguments_then_the_benchmark_refuses_them(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        chat.parse_args(argv)


@pytest.mark.slow
def test_given_a_tiny_run_then_every_message_reaches_a_console_and_the_last_line_is_json() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.chat", "--backend", "sqlite", "--sessions", "10",
         "--rate", "20", "--seconds", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["sessions"] == 10 and figures["agents"] == 2
    assert figures["messages_received"] == figures["messages_sent"] == 20
    assert figures["errors"] == {} and figures["rtt_p99_ms"] > 0
