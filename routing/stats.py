"""Live queue statistics, updated incrementally by the engine (O(log n) per event).

Per queue and channel: contacts waiting, longest wait, offered / answered / abandoned
today, average speed of answer, service level over a rolling window (minute buckets),
and per queue the agents by state. Nothing here scans the contacts.
"""

from __future__ import annotations

import datetime
import math
from bisect import bisect_left, insort
from typing import Any
from zoneinfo import ZoneInfo

from routing.model import AgentState, Channel


class DayClock:
    """Maps a Unix time to a local day number, caching the current day's bounds."""

    def __init__(self, timezone: str) -> None:
        self._zone = ZoneInfo(timezone)
        self._start = math.inf
        self._end = -math.inf
        self._day = 0

    def day(self, at: float) -> int:
        if self._start <= at < self._end:
            return self._day
        local = datetime.datetime.fromtimestamp(at, self._zone)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        following = (midnight + datetime.timedelta(days=1)).replace(tzinfo=None)
        self._start = midnight.timestamp()
        self._end = following.replace(tzinfo=self._zone).timestamp()
        self._day = midnight.toordinal()
        return self._day


# Each minute of the rolling window is four ints in QueueChannelStats.buckets:
# (minute number, answered, answered within the target, abandons counted).
_MINUTE, _ANSWERED, _WITHIN, _ABANDONED = range(4)
_BUCKET = 4


class QueueChannelStats:
    """Counters for one (queue, channel)."""

    __slots__ = (
        "abandoned_today",
        "answer_wait_sum",
        "answered_today",
        "buckets",
        "day",
        "offered_today",
        "sl_percent",
        "sl_seconds",
        "waiting_since",
    )

    def __init__(self, *, sl_seconds: float, sl_percent: float, window_minutes: int) -> None:
        self.sl_seconds = sl_seconds
        self.sl_percent = sl_percent
        self.day = -1
        self.offered_today = 0
        self.answered_today = 0
        self.abandoned_today = 0
        self.answer_wait_sum = 0.0
        # One flat list (four ints per minute of the window, minute -1 = unused): it is
        # persisted after every change, and copying a list of ints is the cheap way.
        self.buckets: list[int] = [-1, 0, 0, 0] * max(1, window_minutes)
        # (waiting_since, seq) of every contact waiting here, sorted: the head is the
        # longest wait. A plain list with bisect: arrivals append, and C-level inserts
        # and deletes beat a tree for the thousands a queue holds.
        # (Tuples of any length: see matching.WaitingKey.)
        self.waiting_since: list[tuple[Any, ...]] = []

    def _roll_day(self, day: int) -> None:
        if day != self.day:
            self.day = day
            self.offered_today = self.answered_today = self.abandoned_today = 0
            self.answer_wait_sum = 0.0

    def _bucket(self, at: float) -> int:
        """Index in ``buckets`` of the minute of ``at``, cleared if it held an older one."""
        minute = int(at // 60)
        buckets = self.buckets
        index = (minute % (len(buckets) // _BUCKET)) * _BUCKET
        if buckets[index + _MINUTE] != minute:
            buckets[index + _MINUTE] = minute
            buckets[index + _ANSWERED] = buckets[index + _WITHIN] = 0
            buckets[index + _ABANDONED] = 0
        return index

    def waiting_added(self, waiting_since: float, seq: int) -> None:
        waiting = self.waiting_since
        key = (waiting_since, seq)
        # Arrivals are the newest: append without a search.
        if not waiting or waiting[-1] < key:
            waiting.append(key)
        else:
            insort(waiting, key)

    def waiting_removed(self, waiting_since: float, seq: int) -> None:
        waiting = self.waiting_since
        # Usually the newest (offered on arrival) or the oldest.
        if waiting and waiting[-1][1] == seq:
            waiting.pop()
            return
        if waiting and waiting[0][1] == seq:
            del waiting[0]
            return
        key = (waiting_since, seq)
        index = bisect_left(waiting, key)
        if index < len(waiting) and waiting[index] == key:
            del waiting[index]

    def offered(self, day: int) -> None:
        self._roll_day(day)
        self.offered_today += 1

    def answered(self, day: int, at: float, waited: float) -> None:
        self._roll_day(day)
        self.answered_today += 1
        self.answer_wait_sum += waited
        index = self._bucket(at)
        self.buckets[index + _ANSWERED] += 1
        if waited <= self.sl_seconds:
            self.buckets[index + _WITHIN] += 1

    def abandoned(self, day: int, at: float, waited: float, short_abandon: float) -> None:
        self._roll_day(day)
        self.abandoned_today += 1
        if waited >= short_abandon:
            self.buckets[self._bucket(at) + _ABANDONED] += 1

    def window(self, at: float) -> tuple[int, int, int]:
        """(answered, answered within target, counted abandons) over the rolling window."""
        buckets = self.buckets
        newest = int(at // 60)
        oldest = newest - len(buckets) // _BUCKET + 1
        answered = within = abandoned = 0
        for index in range(0, len(buckets), _BUCKET):
            if oldest <= buckets[index + _MINUTE] <= newest:
                answered += buckets[index + _ANSWERED]
                within += buckets[index + _WITHIN]
                abandoned += buckets[index + _ABANDONED]
        return answered, within, abandoned

    def view(self, at: float, day: int) -> dict[str, Any]:
        self._roll_day(day)
        answered, within, abandoned = self.window(at)
        handled = answered + abandoned
        return {
            "waiting": len(self.waiting_since),
            "longest_wait_seconds": (
                round(at - self.waiting_since[0][0], 3) if self.waiting_since else 0.0
            ),
            "offered_today": self.offered_today,
            "answered_today": self.answered_today,
            "abandoned_today": self.abandoned_today,
            "average_speed_of_answer_seconds": (
                round(self.answer_wait_sum / self.answered_today, 3)
                if self.answered_today
                else None
            ),
            "service_level_percent": round(100.0 * within / handled, 2) if handled else None,
            "service_level_target": {"percent": self.sl_percent, "seconds": self.sl_seconds},
            "window_answered": answered,
            "window_abandoned": abandoned,
        }

    def answer_rate(self, at: float) -> float:
        """Contacts answered per second over the rolling window."""
        answered, _, _ = self.window(at)
        return answered / (len(self.buckets) // _BUCKET * 60.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "day": self.day,
            "offered_today": self.offered_today,
            "answered_today": self.answered_today,
            "abandoned_today": self.abandoned_today,
            "answer_wait_sum": self.answer_wait_sum,
            "buckets": self.buckets.copy(),
        }

    def restore(self, data: dict[str, Any]) -> None:
        self.day = int(data["day"])
        self.offered_today = int(data["offered_today"])
        self.answered_today = int(data["answered_today"])
        self.abandoned_today = int(data["abandoned_today"])
        self.answer_wait_sum = float(data["answer_wait_sum"])
        saved = data["buckets"]
        if saved and isinstance(saved[0], list):
            # Written by an earlier version: one [minute, answered, within, abandoned] each.
            saved = [int(value) for bucket in saved for value in bucket]
        size = len(self.buckets)
        self.buckets[: min(size, len(saved))] = [int(v) for v in saved[:size]]


PRESENCES = ("available", "busy", "not_ready", "offline")


def presence(state: AgentState, load: int) -> str:
    """How a wallboard counts an agent: available / busy / not ready / offline."""
    if state == AgentState.READY:
        return "busy" if load else "available"
    return "not_ready" if state == AgentState.NOT_READY else "offline"


class QueueAgentCounts:
    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts = dict.fromkeys(PRESENCES, 0)

    def move(self, old: str | None, new: str | None) -> None:
        if old is not None:
            self.counts[old] -= 1
        if new is not None:
            self.counts[new] += 1

    @property
    def logged_in(self) -> int:
        return self.counts["available"] + self.counts["busy"] + self.counts["not_ready"]


def channel_key(queue: str, channel: Channel) -> str:
    return f"{queue}/{channel}"
