"""Contact-center metric definitions: the one place they are computed (docs/metrics.md).

Pure: records in, figures out; no clock (``now`` is passed in) and no database. The
wallboard (contact_center/wallboard.py), the contact reports and the staffing what-if
all read stored contact records through :class:`Tally`, so the live board of today and
a report of yesterday count the same contacts the same way.

* **Service level**: answered within the queue's threshold / (answered + abandoned -
  short abandons).
* **ASA**: mean wait of answered contacts.
* **Abandon rate**: (abandoned - short) / (offered - short); short abandons can be kept
  in with ``exclude_short_abandons=False``.
* **Longest current wait**: now - the earliest arrival among contacts waiting now.
* **AHT**: talk + hold + wrap-up of answered contacts that ended (hold is part of the
  time between answer and end).
* **Occupancy**: handling time / ready time (busy or idle).
* **FCR**: resolved contacts whose customer did not come back within N days (as known
  now) / answered contacts.
* **CSAT average**: mean of the 1-5 scores given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any, Literal

DAY_SECONDS = 86_400.0
Level = Literal["ok", "amber", "red"]


@dataclasses.dataclass(frozen=True, slots=True)
class Thresholds:
    """A queue's service-level target and short-abandon threshold."""

    service_level_seconds: float = 20.0
    service_level_percent: float = 80.0
    short_abandon_seconds: float = 5.0


@dataclasses.dataclass(frozen=True, slots=True)
class ContactRecord:
    """One routed contact as stored (a row of ``interactions``).

    ``next_contact_at``: when the same customer's next contact started (any channel),
    for first-contact resolution; None when there was none.
    """

    queue: str
    channel: str
    queued_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    wrap_up_ended_at: float | None = None
    hold_seconds: float = 0.0
    abandoned: bool = False
    resolved: bool = False
    csat: int | None = None
    agent_id: str | None = None
    customer_id: int | None = None
    next_contact_at: float | None = None

    @property
    def wait_seconds(self) -> float | None:
        """Time in queue: to the answer, or to the end for an abandoned contact."""
        if self.answered_at is not None:
            return max(0.0, self.answered_at - self.queued_at)
        if self.abandoned and self.ended_at is not None:
            return max(0.0, self.ended_at - self.queued_at)
        return None

    def is_short_abandon(self, thresholds: Thresholds) -> bool:
        wait = self.wait_seconds
        return (
            self.abandoned
            and self.answered_at is None
            and wait is not None
            and wait < thresholds.short_abandon_seconds
        )

    @property
    def handle_seconds(self) -> float | None:
        """Talk + hold + wrap-up, once the conversation ended (None before, or unanswered)."""
        if self.answered_at is None or self.ended_at is None:
            return None
        talk_and_hold = max(0.0, self.ended_at - self.answered_at)
        wrap_up = 0.0
        if self.wrap_up_ended_at is not None:
            wrap_up = max(0.0, self.wrap_up_ended_at - self.ended_at)
        return talk_and_hold + wrap_up

    def waiting_at(self, at: float) -> bool:
        """Whether the contact was waiting in its queue at ``at`` (open ones still wait)."""
        if self.queued_at > at:
            return False
        left = self.answered_at if self.answered_at is not None else self.ended_at
        return left is None or left > at


@dataclasses.dataclass(slots=True)
class Tally:
    """Counters over a set of contact records, and the figures derived from them."""

    thresholds: Thresholds = dataclasses.field(default_factory=Thresholds)
    fcr_days: float = 7.0
    exclude_short_abandons: bool = True
    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    wait_sum: float = 0.0
    # Waits of the counted (not short) abandons: with wait_sum, the time callers spent
    # waiting, for the patience estimate of staffing (Erlang A).
    abandoned_wait_sum: float = 0.0
    handled: int = 0
    handle_sum: float = 0.0
    hold_sum: float = 0.0
    resolved_first_time: int = 0
    csat_sum: int = 0
    csat_count: int = 0

    def add(self, record: ContactRecord, thresholds: Thresholds | None = None) -> None:
        """Count ``record`` against ``thresholds`` (its own queue's: a tally by agent or
        channel mixes queues), by default the tally's."""
        limits = thresholds or self.thresholds
        self.offered += 1
        wait = record.wait_seconds
        if record.answered_at is not None:
            self.answered += 1
            assert wait is not None
            self.wait_sum += wait
            if wait <= limits.service_level_seconds:
                self.answered_within += 1
            handle = record.handle_seconds
            if handle is not None:
                self.handled += 1
                self.handle_sum += handle
                self.hold_sum += record.hold_seconds
            if record.resolved and not came_back(record, self.fcr_days):
                self.resolved_first_time += 1
        elif record.abandoned:
            self.abandoned += 1
            if record.is_short_abandon(limits):
                self.short_abandoned += 1
            elif wait is not None:
                self.abandoned_wait_sum += wait
        if record.csat is not None:
            self.csat_sum += record.csat
            self.csat_count += 1

    def add_all(self, records: Iterable[ContactRecord]) -> Tally:
        for record in records:
            self.add(record)
        return self

    @property
    def service_level_percent(self) -> float | None:
        counted = self.answered + self.abandoned - self.short_abandoned
        return _percent(self.answered_within, counted)

    @property
    def asa_seconds(self) -> float | None:
        return _mean(self.wait_sum, self.answered)

    @property
    def abandon_rate_percent(self) -> float | None:
        if self.exclude_short_abandons:
            return _percent(
                self.abandoned - self.short_abandoned, self.offered - self.short_abandoned
            )
        return _percent(self.abandoned, self.offered)

    @property
    def aht_seconds(self) -> float | None:
        return _mean(self.handle_sum, self.handled)

    @property
    def fcr_percent(self) -> float | None:
        return _percent(self.resolved_first_time, self.answered)

    @property
    def patience_seconds(self) -> float | None:
        """Mean patience of waiting callers (exponential model, maximum likelihood):
        the time every caller waited over the callers who gave up, short abandons left
        out; None with too few abandons to tell (contact_center/staffing.py)."""
        from contact_center.staffing import patience_seconds

        return patience_seconds(
            self.wait_sum + self.abandoned_wait_sum, self.abandoned - self.short_abandoned
        )

    @property
    def csat_average(self) -> float | None:
        return None if not self.csat_count else round(self.csat_sum / self.csat_count, 2)

    def figures(self) -> dict[str, Any]:
        """Every figure of a report row (docs/api.md, contact reports)."""
        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "short_abandoned": self.short_abandoned,
            "service_level_percent": self.service_level_percent,
            "asa_seconds": self.asa_seconds,
            "aht_seconds": self.aht_seconds,
            "abandon_rate_percent": self.abandon_rate_percent,
            "fcr_percent": self.fcr_percent,
            "csat_average": self.csat_average,
            "csat_responses": self.csat_count,
        }


def came_back(record: ContactRecord, fcr_days: float) -> bool:
    """Whether the customer made another contact within ``fcr_days`` of this one."""
    return (
        record.next_contact_at is not None
        and record.next_contact_at - record.queued_at <= fcr_days * DAY_SECONDS
    )


def longest_wait_seconds(waiting_since: Iterable[float], now: float) -> float:
    """Now - the earliest arrival among the contacts waiting now; 0 when none waits."""
    earliest = min(waiting_since, default=None)
    return 0.0 if earliest is None else round(max(0.0, now - earliest), 3)


def occupancy_percent(handling_seconds: float, ready_seconds: float) -> float | None:
    """Handling time / time ready (busy or idle), at most 100%."""
    if ready_seconds <= 0:
        return None
    return round(min(100.0, 100.0 * handling_seconds / ready_seconds), 2)


def handling_within(records: Iterable[ContactRecord], start: float, end: float) -> float:
    """Seconds of talk, hold and wrap-up of ``records`` inside [start, end) (clipped)."""
    total = 0.0
    for record in records:
        if record.answered_at is None:
            continue
        finish = record.wrap_up_ended_at or record.ended_at or end
        total += max(0.0, min(finish, end) - max(record.answered_at, start))
    return total


def waiting_at(records: Iterable[ContactRecord], at: float) -> int:
    """How many of ``records`` were waiting in their queue at ``at``."""
    return sum(1 for record in records if record.waiting_at(at))


def level(value: float | None, amber: float, red: float) -> Level:
    """``ok``/``amber``/``red`` for a figure where higher is worse (red ≥ amber) or,
    when ``red < amber``, where lower is worse (service level)."""
    if value is None:
        return "ok"
    if red >= amber:
        return "red" if value >= red else "amber" if value >= amber else "ok"
    return "red" if value < red else "amber" if value < amber else "ok"


def _percent(part: float, whole: float) -> float | None:
    return None if whole <= 0 else round(100.0 * part / whole, 2)


def _mean(total: float, count: int) -> float | None:
    return None if count <= 0 else round(total / count, 2)
