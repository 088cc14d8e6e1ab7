"""The audit log query (supervisors and admins): who viewed or changed which customer, when."""

from __future__ import annotations

from aiohttp import web

from agent_ui.middlewares import json_response
from agent_ui.request_state import query_of, services_of
from agent_ui.schemas import AuditQuery


async def audit_log(request: web.Request) -> web.StreamResponse:
    query = query_of(request, AuditQuery)
    page = await services_of(request).profiles.audit_log(
        customer_id=query.customer_id,
        actor_id=query.actor_id,
        action=query.action,
        since=query.since,
        until=query.until,
        limit=query.limit,
        cursor=query.cursor,
    )
    return json_response(page)
