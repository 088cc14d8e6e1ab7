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
