"""Contacts the agent holds: saving the wrap-up (disposition, notes) and ending it."""

from __future__ import annotations

from aiohttp import web

from agent_ui.middlewares import json_response
from agent_ui.request_state import body_of, principal_of, services_of
from agent_ui.schemas import WrapUpSave
from contact_center.wrap_up import save_wrap_up


async def wrap_up(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    body = body_of(request, WrapUpSave)
    return json_response(
        await save_wrap_up(
            services,
            principal_of(request).user,
            request.match_info["contact_id"],
            disposition=body.disposition,
            notes=body.notes,
            finish=body.finish,
        )
    )
