"""``/console``: the agent console, where an agent works their shift.

The page is a shell: the state bar, the work area (offer, call controls, wrap-up) and
the customer area (card and timeline) are drawn by ``static/js/console*.js`` from the
live hub (``GET /api/v1/hub``) and the REST API. What the modules need from the
configuration travels in the page data: the not-ready reasons an agent may choose,
the queues with their wrap-up settings, the hub's path and disconnect grace.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent_ui.pages import gettext_for, render_page
from agent_ui.request_state import principal_of, services_of
from contact_center.accounts import Role
from routing.model import SYSTEM_NOT_READY_REASONS
from routing.settings import parse_routing_settings

HUB_PATH = "/api/v1/hub"


def console_config(routing: dict[str, Any]) -> dict[str, Any]:
    """The parts of ``[routing]`` the console shows: reasons an agent may pick and the
    queues (channels, wrap-up timer). Dispositions come from ``GET /api/v1/queues``."""
    settings = parse_routing_settings(routing)
    reasons = [r for r in settings.not_ready_reasons if r not in SYSTEM_NOT_READY_REASONS]
    queues = {
        name: {
            "name": name,
            "channels": list(queue.channels),
            "wrap_up_seconds": None
            if queue.wrap_up_seconds == "manual"
            else float(queue.wrap_up_seconds),
        }
        for name, queue in settings.queues.items()
    }
    return {"not_ready_reasons": reasons, "queues": queues}


async def console(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    user = principal_of(request).user
    _ = gettext_for(request)
    config = console_config(dict(services.settings.routing))
    # Colleagues a call can be transferred to (and names for the timeline's agents).
    agents = [
        {"id": u.id, "name": u.display_name or u.username, "extension": u.extension}
        for u in await services.accounts.list_users(include_disabled=False)
        if u.role is Role.AGENT
    ]
    return render_page(
        request,
        "console.html",
        page_data={
            **config,
            "hub_path": HUB_PATH,
            "agents": agents,
            # Offer deadlines are server time: the page learns the clocks' difference.
            "server_time": services.clock(),
            "is_agent": user.role is Role.AGENT,
            "disconnect_grace_seconds": services.settings.console.disconnect_grace_seconds,
        },
        title=_("Console"),
        is_agent=user.role is Role.AGENT,
    )
