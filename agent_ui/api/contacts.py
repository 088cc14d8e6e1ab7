"""Contacts the agent holds: saving the wrap-up (disposition, notes) and ending it;
linking the caller nobody knew to an existing customer (and undoing it)."""

from __future__ import annotations

from aiohttp import web

from agent_ui.middlewares import json_response
from agent_ui.request_state import body_of, principal_of, services_of
from agent_ui.schemas import ContactLink, WrapUpSave
from contact_center.contact_link import link_caller, unlink_caller
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


async def link(request: web.Request) -> web.StreamResponse:
    """Link the caller of my contact (a provisional profile) to an existing customer."""
    body = body_of(request, ContactLink)
    record = await link_caller(
        services_of(request),
        principal_of(request).user,
        request.match_info["contact_id"],
        body.customer_id,
    )
    return json_response(record, status=201)


async def unlink(request: web.Request) -> web.StreamResponse:
    """Undo the link of my contact's caller."""
    record = await unlink_caller(
        services_of(request), principal_of(request).user, request.match_info["contact_id"]
    )
    return json_response(record)
