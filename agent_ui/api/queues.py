"""The configured queues, with what the console's wrap-up form needs (dispositions,
whether one is required, the wrap-up timer)."""

from __future__ import annotations

from aiohttp import web

from agent_ui.middlewares import json_response
from agent_ui.request_state import services_of
from contact_center.wrap_up import queue_views


async def list_queues(request: web.Request) -> web.StreamResponse:
    return json_response({"items": queue_views(services_of(request))})
