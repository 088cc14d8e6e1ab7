"""Agent state reporting: every agent.state_changed kept, and time in each state per day.

:class:`AgentStateLog` is an event sink on the node that produced the events (like the
history recorder): ``publish`` only queues, a background task writes the changes to
``agent_state_changes`` in order, so the router never waits on the database.
:func:`time_in_states` is the pure part of the report: intervals between consecutive
changes, cut at the day's bounds (an interval crossing midnight counts on both days),
the open interval counted up to now. Rows hold ids only (the router's agent id, the
state, the reason): no customer's personal data.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.domain.events import DomainEvent
from contact_center.store.schema import agent_state_changes
from routing.events import AgentStateChanged
from routing.model import AgentState, current_reason

log = logging.getLogger(__name__)

# Rows written in one transaction when a backlog has built up.
WRITE_BATCH = 500


@dataclasses.dataclass(frozen=True, slots=True)
class StateChange:
    agent_id: str
    at: float
    state: str
    reason: str | None
    # "agent", "supervisor" or "system"
    by: str = "agent"


@dataclasses.dataclass(slots=True)
class AgentDay:
    """Seconds an agent spent in each state (and not ready per reason) within a period."""

    agent_id: str
    states: dict[str, float]
    not_ready_reasons: dict[str, float]
    changes: int = 0
    # The state at the end of the period (now, for today).
    state: str = AgentState.OFFLINE.value
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "states": {k: round(v, 3) for k, v in self.states.items()},
            "not_ready_reasons": {k: round(v, 3) for k, v in self.not_ready_reasons.items()},
            "changes": self.changes,
            "state": self.state,
            "reason": self.reason,
        }


def day_bounds(day: datetime.date) -> tuple[float, float]:
    """The UTC day as Unix seconds [start, end)."""
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC).timestamp()
    return start, start + 86_400.0


def time_in_states(
    changes: Iterable[StateChange], start: float, end: float, *, up_to_now: bool = False
) -> list[AgentDay]:
    """Per agent, seconds in each state within [start, end) from their changes; each
    agent's last change before ``start`` (if given) says how the period began, and an
    agent with none is counted from their first. ``up_to_now``: ``end`` is the present,
    so a change made at that very moment counts (with no time yet)."""
    by_agent: dict[str, list[StateChange]] = {}
    for change in changes:
        by_agent.setdefault(change.agent_id, []).append(change)
    days: list[AgentDay] = []
    for agent_id, found in sorted(by_agent.items(), key=lambda item: _agent_order(item[0])):
        found.sort(key=lambda c: c.at)
        day = AgentDay(
            agent_id=agent_id,
            states=dict.fromkeys((s.value for s in AgentState), 0.0),
            not_ready_reasons={},
        )
        for index, change in enumerate(found):
            if change.at > end or (change.at == end and not up_to_now):
                break
            if change.at >= start:
                day.changes += 1
            following = found[index + 1].at if index + 1 < len(found) else end
            seconds = min(following, end) - max(change.at, start)
            day.state, day.reason = change.state, change.reason
            if seconds <= 0:
                continue
            day.states[change.state] = day.states.get(change.state, 0.0) + seconds
            if change.state == AgentState.NOT_READY and change.reason:
                reasons = day.not_ready_reasons
                reasons[change.reason] = reasons.get(change.reason, 0.0) + seconds
        days.append(day)
    return days


def _agent_order(agent_id: str) -> tuple[int, str]:
    """User ids in numeric order, anything else after them."""
    return (int(agent_id), "") if agent_id.isdigit() else (1 << 62, agent_id)


class AgentStateLog:
    def __init__(self, engine: AsyncEngine, *, max_pending: int = 100_000) -> None:
        self.engine = engine
        self._queue: asyncio.Queue[StateChange] = asyncio.Queue(max_pending)
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.written = 0
        self.failed = 0
        self.overflowed = 0

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if not isinstance(event, AgentStateChanged):
                continue
            change = StateChange(event.agent_id, event.at, str(event.state), event.reason, event.by)
            self._put(change)

    def _put(self, change: StateChange) -> None:
        try:
            self._queue.put_nowait(change)
            self._idle.clear()
        except asyncio.QueueFull:
            self.overflowed += 1
            log.error("agent states: backlog full, a change of agent %s not kept", change.agent_id)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="agent-state-log")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        await self.wait_idle(timeout=10)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_idle(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < WRITE_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
                self.written += len(batch)
            except Exception:
                self.failed += len(batch)
                log.exception("agent states: %d change(s) not kept", len(batch))
            finally:
                if self._queue.empty():
                    self._idle.set()

    async def _write(self, batch: list[StateChange]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(agent_state_changes),
                [
                    {
                        "agent_id": c.agent_id,
                        "at": c.at,
                        "state": c.state,
                        "reason": c.reason,
                        "changed_by": c.by[:16],
                    }
                    for c in batch
                ],
            )

    async def record(self, agent_id: str, state: str, reason: str | None, at: float) -> None:
        """Keep a change the router made without an event (an agent found OFFLINE at
        start-up whose log still says otherwise: the node stopped under them)."""
        self._put(StateChange(agent_id, at, state, reason, "system"))

    async def last_states(self, agent_ids: Sequence[str] | None = None) -> dict[str, str]:
        """Each agent's last kept state."""
        t = agent_state_changes
        latest = select(t.c.agent_id, func.max(t.c.id).label("id")).group_by(t.c.agent_id)
        if agent_ids is not None:
            latest = latest.where(t.c.agent_id.in_(list(agent_ids)))
        sub = latest.subquery()
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(t.c.agent_id, t.c.state).join(sub, t.c.id == sub.c.id))
        return {row.agent_id: row.state for row in rows}

    async def report(
        self, day: datetime.date, *, now: float, agent_id: str | None = None
    ) -> dict[str, Any]:
        """Seconds per state and per not-ready reason for each agent on the UTC ``day``
        (today: up to ``now``)."""
        start, end = day_bounds(day)
        until = min(end, now)
        t = agent_state_changes
        before = select(t.c.agent_id, func.max(t.c.id).label("id")).where(t.c.at < start)
        within = select(t.c.agent_id, t.c.at, t.c.state, t.c.reason).where(
            t.c.at >= start, t.c.at < end, t.c.at <= now
        )
        if agent_id is not None:
            before = before.where(t.c.agent_id == agent_id)
            within = within.where(t.c.agent_id == agent_id)
        opening = before.group_by(t.c.agent_id).subquery()
        changes: list[StateChange] = []
        if now >= start:
            async with self.engine.connect() as conn:
                rows = list(
                    await conn.execute(
                        select(t.c.agent_id, t.c.at, t.c.state, t.c.reason).join(
                            opening, t.c.id == opening.c.id
                        )
                    )
                )
                rows.extend(await conn.execute(within.order_by(t.c.at, t.c.id)))
            changes = [
                StateChange(r.agent_id, r.at, r.state, current_reason(r.reason)) for r in rows
            ]
        days = [
            d
            for d in time_in_states(changes, start, until, up_to_now=until == now)
            if d.changes or d.states[AgentState.OFFLINE] < until - start
        ]
        return {
            "day": day.isoformat(),
            "from": start,
            "to": max(start, until),
            "agents": [d.to_dict() for d in days],
        }

    def health(self) -> dict[str, Any]:
        return {
            "ok": self.overflowed == 0,
            "pending": self._queue.qsize(),
            "written": self.written,
            "failed": self.failed,
            "overflowed": self.overflowed,
        }
