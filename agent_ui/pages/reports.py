"""``/reports``: historical contact reports for supervisors and admins.

The page is a form and a place for the answer: ``static/js/reports.js`` asks
``GET /api/v1/reports/contacts`` for the chosen period, grouping (queue, agent,
channel) and interval (day, hour), draws the table and an SVG chart of it, and links
the same query with ``format=csv`` for the export. The numbers are the metric
definitions of docs/metrics.md, computed on the server.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from aiohttp import web

from agent_ui.pages import gettext_for, render_page
from agent_ui.request_state import services_of
from routing.settings import parse_routing_settings

REPORTS_PATH = "/api/v1/reports/contacts"


async def reports(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    _ = gettext_for(request)
    routing = parse_routing_settings(dict(services.settings.routing))
    # Reports count days of [routing] timezone: "today" is that zone's, not the browser's.
    today = dt.datetime.fromtimestamp(services.clock(), ZoneInfo(routing.timezone)).date()
    return render_page(
        request,
        "reports.html",
        page_data={
            "reports_path": REPORTS_PATH,
            "today": today.isoformat(),
            "timezone": routing.timezone,
        },
        title=_("Reports"),
        today=today.isoformat(),
        timezone=routing.timezone,
    )
