"""``/reports``: historical contact reports for supervisors and admins.

The page is a form and a place for the answer: ``static/js/reports.js`` asks
``GET /api/v1/reports/contacts`` for the chosen period, grouping (queue, agent,
channel) and interval (day, hour), draws the table and an SVG chart of it, and links
the same query with ``format=csv`` for the export. The numbers are the metric
definitions of docs/metrics.md, computed on the server.
"""

from __future__ import annotations

from aiohttp import web

from agent_ui.pages import gettext_for, render_page
from agent_ui.request_state import services_of
from contact_center.accounts import Role

REPORTS_PATH = "/api/v1/reports/contacts"


async def reports(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    _ = gettext_for(request)
    agents = [
        {"id": u.id, "name": u.display_name or u.username}
        for u in await services.accounts.list_users(include_disabled=True)
        if u.role is Role.AGENT
    ]
    return render_page(
        request,
        "reports.html",
        page_data={
            "reports_path": REPORTS_PATH,
            "agents": agents,
            "queues": sorted(dict(services.settings.routing).get("queues", {})),
            "server_time": services.clock(),
        },
        title=_("Reports"),
    )
