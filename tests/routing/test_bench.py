"""The routing benchmark's smoke path keeps working (figures come from bench/, not here)."""

from __future__ import annotations

import pytest

from bench import routing as bench


@pytest.mark.slow
async def test_given_a_tiny_scenario_when_benchmarked_in_memory_then_figures_are_reported() -> None:
    scenario = bench.Scenario(agents=30, queues=5, skills=6, waiting=100, decisions=200)
    figures = await bench.run_memory(scenario)
    assert figures["decisions"] >= 200
    assert figures["decisions_per_s"] > 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]


@pytest.mark.slow
@pytest.mark.integration
async def test_given_a_tiny_scenario_when_benchmarked_on_redis_then_figures_are_reported(
    redis_url: str,
) -> None:
    scenario = bench.Scenario(agents=30, queues=5, skills=6, waiting=100, decisions=100)
    figures = await bench.run_redis(scenario, redis_url, nodes=2, concurrency=8)
    assert figures["decisions"] > 0
    assert figures["p99_ms"] >= figures["p50_ms"] > 0


@pytest.mark.slow
@pytest.mark.integration
async def test_given_a_tiny_scenario_when_load_runs_in_its_own_process_then_figures_are_reported(
    redis_url: str,
) -> None:
    scenario = bench.Scenario(agents=30, queues=5, skills=6, waiting=100, decisions=100)
    figures = await bench.run_redis_separate(
        scenario, redis_url, submitters=2, concurrency=8, gc_threshold=5000
    )
    assert figures["decisions"] > 0
    assert figures["p99_ms"] >= figures["p50_ms"] > 0
