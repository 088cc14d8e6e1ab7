"""Reports for supervisors: time in each state per agent per day, and contacts per
queue, agent or channel by day or hour (figures from contact_center/metrics.py)."""

from __future__ import annotations

import csv
import datetime
import io
from zoneinfo import ZoneInfo

from aiohttp import web

from agent_ui.middlewares import json_response
from agent_ui.request_state import query_of, services_of
from agent_ui.schemas import AgentStatesReportQuery, ContactsReportQuery
from contact_center.contact_reports import (
    MAX_REPORT_DAYS,
    build_report,
    day_range,
    load_records,
    load_state_changes,
    report_csv_rows,
    thresholds_of,
)
from contact_center.errors import InvalidInput, ServiceUnavailable


class ReportsNotRunning(ServiceUnavailable):
    error_id = "agent-state-log-not-running"


async def agent_states(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    query = query_of(request, AgentStatesReportQuery)
    try:
        day = datetime.date.fromisoformat(query.day)
    except ValueError:
        raise InvalidInput(f"not a day: {query.day!r}", details={"field": "day"}) from None
    log = services.agent_states
    if log is None:
        raise ReportsNotRunning("this server keeps no agent state changes")
    # Changes still queued for the database belong in the report.
    await log.wait_idle(timeout=5.0)
    agent_id = None if query.agent_id is None else str(query.agent_id)
    report = await log.report(day, now=services.clock(), agent_id=agent_id)
    names = {
        str(user.id): user.display_name
        for user in await services.accounts.list_users(include_disabled=True)
    }
    for row in report["agents"]:
        row["user_id"] = int(row["agent_id"]) if row["agent_id"].isdigit() else None
        row["name"] = names.get(row["agent_id"])
    return json_response(report)


async def contacts(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    query = query_of(request, ContactsReportQuery)
    first, last = _day(query.from_, "from"), _day(query.to, "to")
    if last < first:
        raise InvalidInput("to is before from", details={"field": "to"})
    if (last - first).days + 1 > MAX_REPORT_DAYS:
        raise InvalidInput(f"at most {MAX_REPORT_DAYS} days in one report", details={"field": "to"})
    routing = services.settings.routing
    zone = ZoneInfo(str(routing.get("timezone", "UTC")))
    start, end = day_range(first, last, zone)
    now = services.clock()
    # Contacts and state changes still queued for the database belong in the report.
    if services.recorder is not None:
        await services.recorder.wait_idle(timeout=5.0)
    records = await load_records(services.engine, start, end, next_contacts=True)
    changes = []
    names: dict[str, str] = {}
    if query.group_by == "agent":
        if services.agent_states is not None:
            await services.agent_states.wait_idle(timeout=5.0)
        changes = await load_state_changes(services.engine, start, min(end, now))
        names = {
            str(user.id): user.display_name
            for user in await services.accounts.list_users(include_disabled=True)
        }
    report = build_report(
        records,
        start=start,
        end=end,
        now=now,
        zone=zone,
        group_by=query.group_by,
        interval=query.interval,
        thresholds=thresholds_of(routing),
        fcr_days=services.settings.metrics.fcr_days,
        exclude_short_abandons=services.settings.metrics.exclude_short_abandons,
        state_changes=changes,
        names=names,
    )
    report["from_day"], report["to_day"] = first.isoformat(), last.isoformat()
    if query.format == "json":
        return json_response(report)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(report_csv_rows(report))
    filename = f"contacts-{query.group_by}-{first.isoformat()}-{last.isoformat()}.csv"
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _day(text: str, field: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"not a day: {text!r}", details={"field": field}) from None
