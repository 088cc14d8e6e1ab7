"""Every metric definition of docs/metrics.md on its worked example (hand-built records)."""

from __future__ import annotations

import pytest

from contact_center import metrics
from contact_center.metrics import ContactRecord, Tally, Thresholds

T0 = 1_750_000_000.0  # "10:00"
DAY = 86_400.0
SUPPORT = Thresholds(
    service_level_seconds=20.0, service_level_percent=80.0, short_abandon_seconds=5.0
)


def _worked_example() -> list[ContactRecord]:
    """Contacts A-E of docs/metrics.md, seconds after 10:00."""
    return [
        ContactRecord(
            queue="support",
            channel="voice",
            queued_at=T0,
            answered_at=T0 + 10,
            ended_at=T0 + 190,
            wrap_up_ended_at=T0 + 220,
            hold_seconds=20,
            resolved=True,
            csat=5,
            agent_id="1",
            customer_id=1,
        ),
        ContactRecord(
            queue="support",
            channel="voice",
            queued_at=T0 + 30,
            answered_at=T0 + 60,
            ended_at=T0 + 330,
            wrap_up_ended_at=T0 + 330,
            csat=3,
            agent_id="2",
            customer_id=2,
        ),
        ContactRecord(
            queue="support",
            channel="voice",
            queued_at=T0 + 40,
            ended_at=T0 + 43,
            abandoned=True,
            customer_id=3,
        ),
        ContactRecord(
            queue="support",
            channel="voice",
            queued_at=T0 + 50,
            ended_at=T0 + 110,
            abandoned=True,
            customer_id=4,
        ),
        ContactRecord(
            queue="support",
            channel="voice",
            queued_at=T0 + 70,
            answered_at=T0 + 85,
            ended_at=T0 + 205,
            wrap_up_ended_at=T0 + 265,
            resolved=True,
            agent_id="1",
            customer_id=5,
            next_contact_at=T0 + 2 * DAY,
        ),
    ]


@pytest.fixture
def tally() -> Tally:
    return Tally(thresholds=SUPPORT, fcr_days=7).add_all(_worked_example())


def test_given_the_worked_example_then_counts_split_short_abandons(tally: Tally) -> None:
    assert (tally.offered, tally.answered, tally.abandoned, tally.short_abandoned) == (5, 3, 2, 1)


def test_service_level_counts_answered_within_threshold_over_answered_and_long_abandons(
    tally: Tally,
) -> None:
    # A (10 s) and E (15 s) within 20 s; B waited 30 s; D is a long abandon; C is short.
    assert tally.service_level_percent == 50.0


def test_asa_is_the_mean_wait_of_answered_contacts(tally: Tally) -> None:
    assert tally.asa_seconds == pytest.approx(18.33, abs=0.01)


def test_abandon_rate_leaves_short_abandons_out_unless_configured(tally: Tally) -> None:
    assert tally.abandon_rate_percent == 25.0
    kept = Tally(thresholds=SUPPORT, exclude_short_abandons=False).add_all(_worked_example())
    assert kept.abandon_rate_percent == 40.0


def test_aht_is_talk_plus_hold_plus_wrap_up(tally: Tally) -> None:
    assert tally.aht_seconds == 220.0
    assert tally.hold_sum == 20.0


def test_longest_current_wait_is_from_the_earliest_waiting_arrival() -> None:
    records = _worked_example()
    assert metrics.longest_wait_seconds([], T0 + 120) == 0.0
    assert metrics.longest_wait_seconds([T0 + 50, T0 + 90], T0 + 120) == 70.0
    # At 10:00:55 A was answered, C had left, B and D were waiting.
    assert metrics.waiting_at(records, T0 + 55) == 2


def test_fcr_counts_resolved_contacts_whose_customer_did_not_come_back(tally: Tally) -> None:
    # A resolved, no repeat; E resolved but came back after 2 days; B unresolved.
    assert tally.fcr_percent == pytest.approx(33.33, abs=0.01)
    # With a 1-day window E's repeat no longer counts against it.
    short = Tally(thresholds=SUPPORT, fcr_days=1).add_all(_worked_example())
    assert short.fcr_percent == pytest.approx(66.67, abs=0.01)


def test_csat_average_over_the_scores_given(tally: Tally) -> None:
    assert (tally.csat_average, tally.csat_count) == (4.0, 2)


def test_occupancy_is_handling_time_over_ready_time() -> None:
    mine = [r for r in _worked_example() if r.agent_id == "1"]
    handling = metrics.handling_within(mine, T0, T0 + 600)
    assert handling == 390.0
    assert metrics.occupancy_percent(handling, 480.0) == 81.25
    assert metrics.occupancy_percent(0.0, 0.0) is None
    # Clipped to the period: only the first 100 s of A's handling fall before 10:01:50.
    assert metrics.handling_within(mine, T0, T0 + 110) == 100.0 + 25.0


def test_no_contacts_means_no_ratios_rather_than_zero() -> None:
    empty = Tally()
    assert empty.service_level_percent is None
    assert empty.asa_seconds is None
    assert empty.abandon_rate_percent is None
    assert empty.aht_seconds is None
    assert empty.fcr_percent is None
    assert empty.csat_average is None


def test_a_contact_still_talking_has_no_handle_time_yet() -> None:
    talking = ContactRecord(queue="q", channel="chat", queued_at=T0, answered_at=T0 + 5)
    tally = Tally().add_all([talking])
    assert tally.answered == 1
    assert tally.aht_seconds is None
    assert talking.waiting_at(T0 + 1) and not talking.waiting_at(T0 + 6)


@pytest.mark.parametrize(
    ("value", "amber", "red", "expected"),
    [
        (None, 5, 10, "ok"),
        (4, 5, 10, "ok"),
        (5, 5, 10, "amber"),
        (10, 5, 10, "red"),
        (85.0, 80, 70, "ok"),
        (79.9, 80, 70, "amber"),
        (69.0, 80, 70, "red"),
    ],
)
def test_alert_levels_for_higher_and_lower_is_worse(
    value: float | None, amber: float, red: float, expected: str
) -> None:
    assert metrics.level(value, amber, red) == expected


def test_patience_is_the_time_waited_over_the_counted_abandons() -> None:
    # 20 callers gave up after 30 s each, 10 were answered after 60 s, 5 left at once.
    records = [
        ContactRecord(queue="q", channel="voice", queued_at=T0, ended_at=T0 + 30, abandoned=True)
        for _ in range(20)
    ]
    records += [
        ContactRecord(queue="q", channel="voice", queued_at=T0, answered_at=T0 + 60)
        for _ in range(10)
    ]
    records += [
        ContactRecord(queue="q", channel="voice", queued_at=T0, ended_at=T0 + 1, abandoned=True)
        for _ in range(5)
    ]
    tally = Tally(thresholds=SUPPORT).add_all(records)
    assert tally.patience_seconds == (20 * 30 + 10 * 60) / 20
    assert Tally(thresholds=SUPPORT).add_all(records[1:]).patience_seconds is None
