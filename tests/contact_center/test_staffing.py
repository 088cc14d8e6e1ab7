"""Erlang C against the widely published example (docs/metrics.md, "Staffing")."""

from __future__ import annotations

import math

import pytest

from contact_center import staffing

# 100 calls in 30 minutes (200 an hour), 180 s each: 10 erlangs; target 80% in 20 s.
RATE, AHT = 200.0, 180.0


def test_erlang_c_matches_the_published_wait_probabilities() -> None:
    assert staffing.traffic_erlangs(RATE, AHT) == 10.0
    assert staffing.erlang_c(13, 10.0) == pytest.approx(0.2853, abs=1e-4)
    assert staffing.erlang_c(14, 10.0) == pytest.approx(0.1741, abs=1e-4)
    assert staffing.erlang_c(10, 10.0) == 1.0  # cannot keep up


def test_fourteen_agents_are_needed_for_80_percent_in_20_seconds() -> None:
    needed = staffing.agents_needed(
        rate_per_hour=RATE, aht_seconds=AHT, target_percent=80, target_seconds=20
    )
    assert needed == 14
    at_14 = staffing.evaluate(14, rate_per_hour=RATE, aht_seconds=AHT, target_seconds=20)
    assert at_14.service_level_percent == pytest.approx(88.84, abs=0.01)
    assert at_14.asa_seconds == pytest.approx(7.84, abs=0.01)
    assert at_14.occupancy_percent == pytest.approx(71.43, abs=0.01)
    at_13 = staffing.evaluate(13, rate_per_hour=RATE, aht_seconds=AHT, target_seconds=20)
    assert at_13.service_level_percent == pytest.approx(79.56, abs=0.01)


def test_erlang_b_recurrence_is_stable_for_large_centres() -> None:
    # 1,000 erlangs: factorials would overflow; the recurrence gives a sane answer.
    needed = staffing.agents_needed(
        rate_per_hour=20_000, aht_seconds=180, target_percent=80, target_seconds=20
    )
    assert needed is not None and 1_000 < needed < 1_100
    assert 0.0 <= staffing.erlang_b(1_050, 1_000.0) <= 1.0


def test_no_load_needs_no_agents_and_too_few_agents_never_answer() -> None:
    assert (
        staffing.agents_needed(
            rate_per_hour=0, aht_seconds=180, target_percent=80, target_seconds=20
        )
        == 0
    )
    short = staffing.evaluate(5, rate_per_hour=RATE, aht_seconds=AHT, target_seconds=20)
    assert short.service_level_percent == 0.0 and math.isinf(short.asa_seconds)


def test_table_runs_from_the_fewest_that_keep_up() -> None:
    rows = staffing.table(rate_per_hour=RATE, aht_seconds=AHT, target_seconds=20, up_to=16)
    assert [r.agents for r in rows] == [11, 12, 13, 14, 15, 16]
    levels = [r.service_level_percent for r in rows]
    assert levels == sorted(levels)


def _simulate(
    agents: int,
    rate_per_hour: float,
    aht: float,
    patience: float,
    target: float,
    callers: int,
    seed: int,
) -> tuple[float, float]:
    """An M/M/n+M queue simulated call by call: (% answered within target, % abandoned)."""
    import collections
    import heapq
    import random

    rng = random.Random(seed)
    arrival_rate = rate_per_hour / 3600
    ends: list[float] = []
    waiting: collections.deque[tuple[float, float]] = collections.deque()
    busy = within = abandoned = arrived = 0
    next_arrival = rng.expovariate(arrival_rate)
    while arrived < callers or waiting:
        next_end = ends[0] if ends else math.inf
        coming = next_arrival if arrived < callers else math.inf
        leaving = min((gives_up for _, gives_up in waiting), default=math.inf)
        now = min(next_end, coming, leaving)
        if now == coming:
            arrived += 1
            next_arrival = now + rng.expovariate(arrival_rate)
            if busy < agents:
                busy += 1
                within += 1
                heapq.heappush(ends, now + rng.expovariate(1 / aht))
            else:
                waiting.append((now, now + rng.expovariate(1 / patience)))
        elif now == next_end:
            heapq.heappop(ends)
            if waiting:
                came, _ = waiting.popleft()
                within += now - came <= target
                heapq.heappush(ends, now + rng.expovariate(1 / aht))
            else:
                busy -= 1
        else:
            for index, (_, gives_up) in enumerate(waiting):
                if gives_up == leaving:
                    del waiting[index]
                    abandoned += 1
                    break
    return 100 * within / arrived, 100 * abandoned / arrived


@pytest.mark.parametrize("agents", [10, 13])
def test_erlang_a_agrees_with_a_simulation_of_the_same_queue(agents: int) -> None:
    model = staffing.evaluate_with_abandons(
        agents, rate_per_hour=RATE, aht_seconds=AHT, patience=120, target_seconds=20
    )
    simulated_level, simulated_abandons = _simulate(agents, RATE, AHT, 120, 20, 30_000, seed=3)
    assert model.service_level_percent == pytest.approx(simulated_level, abs=2.0)
    assert model.abandon_percent == pytest.approx(simulated_abandons, abs=1.5)


def test_erlang_a_becomes_erlang_c_as_patience_grows() -> None:
    patient = staffing.evaluate_with_abandons(
        14, rate_per_hour=RATE, aht_seconds=AHT, patience=1e7, target_seconds=20
    )
    assert patient.service_level_percent == pytest.approx(88.84, abs=0.05)
    assert patient.abandon_percent < 0.01


def test_erlang_a_answers_where_erlang_c_gives_up_and_needs_fewer_agents() -> None:
    short = staffing.evaluate_with_abandons(
        8, rate_per_hour=RATE, aht_seconds=AHT, patience=120, target_seconds=20
    )
    assert 0 < short.service_level_percent < 60 and short.abandon_percent > 10
    needed = staffing.agents_needed_with_abandons(
        rate_per_hour=RATE, aht_seconds=AHT, patience=120, target_percent=80, target_seconds=20
    )
    assert needed == 12
    assert (
        staffing.evaluate_with_abandons(
            11, rate_per_hour=RATE, aht_seconds=AHT, patience=120, target_seconds=20
        ).service_level_percent
        < 80
    )


def test_patience_is_estimated_only_from_enough_abandons() -> None:
    assert staffing.patience_seconds(1_000.0, 19) is None
    assert staffing.patience_seconds(2_400.0, 20) == 120.0
