"""Stored contacts as metric records, and the contact report (docs/api.md, docs/metrics.md).

The edge between the database and :mod:`contact_center.metrics`: it reads the routed
contacts of a period (rows of ``interactions`` with a ``queued_at``) as
:class:`~contact_center.metrics.ContactRecord`, the agent state log for not-ready time,
and groups them into report rows by period (day or hour of the configured time zone)
and by queue, agent or channel. Every figure itself comes from ``metrics.Tally``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import aliased

from contact_center.agent_reports import StateChange, time_in_states
from contact_center.metrics import ContactRecord, Tally, Thresholds
from contact_center.store.schema import agent_state_changes, interactions
from routing.model import current_reason

GroupBy = Literal["queue", "agent", "channel"]
Interval = Literal["day", "hour"]
MAX_REPORT_DAYS = 92
# Cells a spreadsheet would run as a formula (CSV injection) get a leading quote.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def thresholds_of(routing: Mapping[str, Any]) -> Callable[[str], Thresholds]:
    """Each queue's thresholds from the raw ``[routing]`` settings (defaults for others)."""
    default_short = float(routing.get("short_abandon_seconds", 5.0))
    found: dict[str, Thresholds] = {}
    for name, queue in (routing.get("queues") or {}).items():
        level = queue.get("service_level") or {}
        short = queue.get("short_abandon_seconds")
        found[name] = Thresholds(
            service_level_seconds=float(level.get("seconds", 20.0)),
            service_level_percent=float(level.get("percent", 80.0)),
            short_abandon_seconds=default_short if short is None else float(short),
        )
    fallback = Thresholds(short_abandon_seconds=default_short)
    return lambda queue: found.get(queue, fallback)


_RECORD_COLUMNS = (
    interactions.c.queue,
    interactions.c.channel,
    interactions.c.agent_id,
    interactions.c.customer_id,
    interactions.c.queued_at,
    interactions.c.answered_at,
    interactions.c.ended_at,
    interactions.c.wrap_up_ended_at,
    interactions.c.hold_seconds,
    interactions.c.disposition,
    interactions.c.resolved,
    interactions.c.csat,
)


def _record(row: Any, next_contact_at: float | None = None) -> ContactRecord:
    return ContactRecord(
        queue=row[0] or "",
        channel=row[1],
        agent_id=None if row[2] is None else str(row[2]),
        customer_id=row[3],
        queued_at=row[4],
        answered_at=row[5],
        ended_at=row[6],
        wrap_up_ended_at=row[7],
        hold_seconds=row[8] or 0.0,
        abandoned=row[9] == "abandoned" and row[5] is None,
        resolved=bool(row[10]),
        csat=row[11],
        next_contact_at=next_contact_at,
    )


async def load_records(
    engine: AsyncEngine, start: float, end: float, *, next_contacts: bool = False
) -> list[ContactRecord]:
    """Contacts queued in [start, end), oldest first. ``next_contacts``: also when each
    customer's next contact started (first-contact resolution; an indexed look-up per
    row, so only reports ask for it)."""
    i = interactions
    columns: list[Any] = list(_RECORD_COLUMNS)
    if next_contacts:
        later = aliased(interactions)
        columns.append(
            select(func.min(later.c.started_at))
            .where(later.c.customer_id == i.c.customer_id, later.c.started_at > i.c.started_at)
            .scalar_subquery()
            .label("next_contact_at")
        )
    statement = (
        select(*columns).where(i.c.queued_at >= start, i.c.queued_at < end).order_by(i.c.queued_at)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(statement)).all()
    return [_record(row, row[12] if next_contacts else None) for row in rows]


async def load_changed_records(
    engine: AsyncEngine, since: float, *, after_id: int, again: Collection[int]
) -> list[tuple[int, bool, ContactRecord]]:
    """(id, still open, record) of the contacts queued since ``since`` that are new
    (id above ``after_id``), still open, or in ``again`` (open at the last look). A
    closed contact's record no longer changes, so a caller can keep it."""
    i = interactions
    statement = select(i.c.id, i.c.status, *_RECORD_COLUMNS).where(
        i.c.queued_at >= since,
        or_(i.c.id > after_id, i.c.status == "open", i.c.id.in_(sorted(again))),
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(statement)).all()
    return [(row[0], row[1] == "open", _record(row[2:])) for row in rows]


async def load_state_changes(engine: AsyncEngine, start: float, end: float) -> list[StateChange]:
    """Each agent's last state change before ``start`` and every change in [start, end)."""
    t = agent_state_changes
    opening = (
        select(t.c.agent_id, func.max(t.c.id).label("id"))
        .where(t.c.at < start)
        .group_by(t.c.agent_id)
        .subquery()
    )
    async with engine.connect() as conn:
        rows = list(
            await conn.execute(
                select(t.c.agent_id, t.c.at, t.c.state, t.c.reason).join(
                    opening, t.c.id == opening.c.id
                )
            )
        )
        rows.extend(
            await conn.execute(
                select(t.c.agent_id, t.c.at, t.c.state, t.c.reason)
                .where(t.c.at >= start, t.c.at < end)
                .order_by(t.c.at, t.c.id)
            )
        )
    return [StateChange(r.agent_id, r.at, r.state, current_reason(r.reason)) for r in rows]


def day_range(first: datetime.date, last: datetime.date, zone: ZoneInfo) -> tuple[float, float]:
    """[start of ``first``, end of ``last``) in ``zone`` as Unix seconds."""
    start = datetime.datetime.combine(first, datetime.time(), tzinfo=zone)
    end = datetime.datetime.combine(last + datetime.timedelta(days=1), datetime.time(), tzinfo=zone)
    return start.timestamp(), end.timestamp()


def periods(
    start: float, end: float, interval: Interval, zone: ZoneInfo
) -> list[tuple[str, float, float]]:
    """(label, start, end) of each day or hour in [start, end), local to ``zone``."""
    found: list[tuple[str, float, float]] = []
    local = datetime.datetime.fromtimestamp(start, zone)
    while local.timestamp() < end:
        if interval == "day":
            following = datetime.datetime.combine(
                local.date() + datetime.timedelta(days=1), datetime.time(), tzinfo=zone
            )
            label = local.date().isoformat()
        else:
            # Hours in UTC steps (a DST change has a 23- or 25-hour day), labelled locally.
            following = datetime.datetime.fromtimestamp(local.timestamp() + 3600, zone)
            label = local.strftime("%Y-%m-%dT%H:00")
        found.append((label, local.timestamp(), min(following.timestamp(), end)))
        local = following
    return found


def group_key(record: ContactRecord, group_by: GroupBy) -> str:
    if group_by == "queue":
        return record.queue
    if group_by == "agent":
        return record.agent_id or ""
    return record.channel


def build_report(
    records: Sequence[ContactRecord],
    *,
    start: float,
    end: float,
    now: float,
    zone: ZoneInfo,
    group_by: GroupBy,
    interval: Interval,
    thresholds: Callable[[str], Thresholds],
    fcr_days: float,
    exclude_short_abandons: bool,
    state_changes: Sequence[StateChange] = (),
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Rows per period and group, oldest first, and totals per group (``period`` null)."""
    slots = periods(start, end, interval, zone)
    starts = [s for _, s, _ in slots]
    cells: dict[tuple[int, str], Tally] = {}
    totals: dict[str, Tally] = {}

    def new_tally() -> Tally:
        return Tally(fcr_days=fcr_days, exclude_short_abandons=exclude_short_abandons)

    from bisect import bisect_right

    for record in records:
        slot = bisect_right(starts, record.queued_at) - 1
        if slot < 0:
            continue
        key = group_key(record, group_by)
        limits = thresholds(record.queue)
        cell = cells.get((slot, key))
        if cell is None:
            cell = cells[(slot, key)] = new_tally()
        cell.add(record, limits)
        total = totals.get(key)
        if total is None:
            total = totals[key] = new_tally()
        total.add(record, limits)
    not_ready: dict[tuple[int, str], dict[str, float]] = {}
    not_ready_total: dict[str, dict[str, float]] = {}
    if group_by == "agent" and state_changes:
        for slot, (_, slot_start, slot_end) in enumerate(slots):
            if slot_start >= now:
                break
            until = min(slot_end, now)
            for day in time_in_states(state_changes, slot_start, until, up_to_now=until == now):
                if not day.not_ready_reasons:
                    continue
                not_ready[(slot, day.agent_id)] = day.not_ready_reasons
                summed = not_ready_total.setdefault(day.agent_id, {})
                for reason, seconds in day.not_ready_reasons.items():
                    summed[reason] = summed.get(reason, 0.0) + seconds
                if day.agent_id not in totals:
                    totals[day.agent_id] = new_tally()
                if (slot, day.agent_id) not in cells:
                    cells[(slot, day.agent_id)] = new_tally()

    def row(
        period: str | None, key: str, tally: Tally, reasons: dict[str, float] | None
    ) -> dict[str, Any]:
        item: dict[str, Any] = {"period": period, "group": key, **tally.figures()}
        if group_by == "agent":
            item["name"] = (names or {}).get(key)
            item["not_ready_seconds"] = {r: round(s, 3) for r, s in sorted((reasons or {}).items())}
        return item

    rows = [
        row(slots[slot][0], key, cells[(slot, key)], not_ready.get((slot, key)))
        for slot, key in sorted(cells, key=lambda k: (k[0], k[1]))
    ]
    return {
        "from": start,
        "to": end,
        "timezone": zone.key,
        "group_by": group_by,
        "interval": interval,
        "rows": rows,
        "totals": [row(None, key, totals[key], not_ready_total.get(key)) for key in sorted(totals)],
    }


FIGURE_COLUMNS = (
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "service_level_percent",
    "asa_seconds",
    "aht_seconds",
    "abandon_rate_percent",
    "fcr_percent",
    "csat_average",
    "csat_responses",
)


def csv_cell(value: object) -> str:
    """A cell as text, with a leading quote when a spreadsheet would run it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def report_csv_rows(report: Mapping[str, Any]) -> Iterable[list[str]]:
    """The report as CSV rows (header first): its rows, then its totals."""
    agent = report["group_by"] == "agent"
    reasons: list[str] = []
    if agent:
        reasons = sorted(
            {r for item in [*report["rows"], *report["totals"]] for r in item["not_ready_seconds"]}
        )
    header = ["period", "group", *(["name"] if agent else []), *FIGURE_COLUMNS]
    header += [f"not_ready:{r}" for r in reasons]
    yield [csv_cell(h) for h in header]
    for item in [*report["rows"], *report["totals"]]:
        cells: list[object] = [item["period"] or "total", item["group"]]
        if agent:
            cells.append(item["name"])
        cells.extend(item[c] for c in FIGURE_COLUMNS)
        cells.extend(item["not_ready_seconds"].get(r, 0.0) for r in reasons)
        yield [csv_cell(c) for c in cells]
