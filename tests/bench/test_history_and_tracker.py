"""The history and tracker benchmarks' code paths at a tiny scale, so they keep working."""

from __future__ import annotations

import pytest

from bench import history, tracker


async def test_given_a_few_calls_on_sqlite_then_every_event_is_written_one_statement_each() -> None:
    figures = await history.main(["--backend", "sqlite", "--contacts", "30"])
    assert figures["rows"] == 30 and figures["events"] == 180 and figures["failed"] == 0
    assert 1.0 <= figures["statements_per_event"] < 1.1
    assert figures["round_trips_per_event"] < 1.0
    assert figures["events_per_s"] > 0


def test_given_more_fake_calls_than_the_ceiling_then_the_tracker_stops_at_it() -> None:
    figures = tracker.run(25_000)
    assert figures["tracked_channels"] == figures["max_tracked_channels"] == 20_000
    assert figures["channels_not_tracked"] == 5_000


@pytest.mark.parametrize("argv", [["--contacts", "0"], ["--backend", "mysql"]])
def test_given_bad_arguments_then_the_history_benchmark_refuses_them(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        history.parse_args(argv)
