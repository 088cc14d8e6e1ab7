"""``/canned-responses``: supervisors and admins manage the canned responses agents
insert in chats (per queue, or for every queue), with placeholders filled in per chat.

The page is a shell; ``static/js/canned_responses.js`` lists, adds, edits and deletes
through ``/api/v1/canned-responses`` (docs/chat.md). The page data names the queues that
take chats and the placeholders.
"""

from __future__ import annotations

from aiohttp import web

from agent_ui.pages import gettext_for, render_page
from agent_ui.request_state import services_of
from routing.settings import parse_routing_settings

PLACEHOLDERS = (
    "{customer.first_name}",
    "{customer.name}",
    "{agent.first_name}",
    "{agent.name}",
    "{queue}",
)


async def canned_responses(request: web.Request) -> web.StreamResponse:
    settings = parse_routing_settings(dict(services_of(request).settings.routing))
    queues = sorted(name for name, queue in settings.queues.items() if "chat" in queue.channels)
    _ = gettext_for(request)
    return render_page(
        request,
        "canned_responses.html",
        page_data={"queues": queues, "placeholders": list(PLACEHOLDERS)},
        title=_("Canned responses"),
        placeholders=PLACEHOLDERS,
    )
