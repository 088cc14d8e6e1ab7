"""Reports for supervisors: time in each state per agent per day."""

from __future__ import annotations

import datetime

from aiohttp import web

from agent_ui.middlewares import json_response
from agent_ui.request_state import query_of, services_of
from agent_ui.schemas import AgentStatesReportQuery
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
