"""The console benchmark's code path at a tiny scale, so the benchmark keeps working."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import console

ROOT = Path(__file__).resolve().parents[2]


def test_given_quick_then_two_thousand_agents_for_a_few_seconds() -> None:
    quick = console.parse_args(["--quick"])
    assert (quick.agents, quick.rate) == (2000, 50.0)
    assert quick.seconds <= 10 and quick.customers <= 1000
    full = console.parse_args([])
    assert (full.agents, full.rate, full.seconds) == (2000, 50.0, 60.0)
    assert full.backend == "postgres" and full.database_url == console.DEFAULT_POSTGRES_URL


@pytest.mark.parametrize(
    "argv",
    [["--agents", "0"], ["--rate", "-1"], ["--database-url", "mysql://x/y"], ["--backend", "x"]],
)
def test_given_bad_arguments_then_the_benchmark_refuses_them(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        console.parse_args(argv)


def test_given_sorted_values_then_percentiles_use_the_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert console.percentile(values, 0.99) == 99.0
    with pytest.raises(ValueError, match="no values"):
        console.percentile([], 0.5)


@pytest.mark.slow
def test_given_a_tiny_run_then_every_offer_reaches_its_agent_with_a_pop() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.console", "--backend", "sqlite", "--agents", "20",
         "--rate", "20", "--seconds", "1", "--customers", "10", "--interactions", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["agents"] == 20 and figures["database"] == "sqlite"
    assert figures["offers"] == figures["offers_received"] == 20
    assert figures["screen_pops_missing"] == 0 and figures["dropped_slow"] == 0
    assert 0 < figures["offer_to_socket_p50_ms"] <= figures["offer_to_socket_p99_ms"]
    assert isinstance(figures["kib_per_connection"], float)
