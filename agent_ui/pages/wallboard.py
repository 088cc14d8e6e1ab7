"""``/wallboard``: the supervisors' live board of queues and agents, and its kiosk view.

The page is a shell: ``static/js/wallboard*.js`` draws the queue table, the agent
table, the charts and the staffing what-if from the ``board`` the server computes once
and pushes to every viewer over the hub (topic ``wallboard``, docs/hub.md), so two
supervisors never see different numbers. The supervisor's actions (force an agent's
state, move or re-prioritise a waiting contact, read a routing explanation,
listen / whisper / barge) go through the REST API, which authorises each one.

``/wallboard?kiosk=1`` is the same board for a wall screen: large type,
no action buttons, reconnecting by itself.
"""

from __future__ import annotations

from aiohttp import web

from agent_ui.pages import gettext_for, render_page
from agent_ui.pages.console import HUB_PATH, console_config
from agent_ui.request_state import principal_of, services_of
from contact_center.accounts import Role

KIOSK_VALUES = frozenset({"1", "true", "yes", "on"})
WALLBOARD_TOPIC = "wallboard"


def is_kiosk(request: web.Request) -> bool:
    """Whether the kiosk view was asked for (``?kiosk=1``)."""
    return request.query.get("kiosk", "").lower() in KIOSK_VALUES


async def wallboard(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    user = principal_of(request).user
    _ = gettext_for(request)
    kiosk = is_kiosk(request)
    config = console_config(dict(services.settings.routing))
    # Names for the agent table and the "move to an agent" choice; the board itself
    # carries ids only for agents it has never heard of.
    agents = [
        {"id": u.id, "name": u.display_name or u.username, "extension": u.extension}
        for u in await services.accounts.list_users(include_disabled=False)
        if u.role is Role.AGENT
    ]
    return render_page(
        request,
        "wallboard.html",
        page_data={
            **config,
            "hub_path": HUB_PATH,
            "topic": WALLBOARD_TOPIC,
            "agents": agents,
            "kiosk": kiosk,
            "can_act": not kiosk,
            # The supervisor's own phone rings for listen / whisper / barge.
            "my_extension": user.extension,
            # Times on the board are server time: the page learns the clocks' difference.
            "server_time": services.clock(),
        },
        title=_("Wallboard"),
        kiosk=kiosk,
    )
