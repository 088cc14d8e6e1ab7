"""Canned responses per queue: agents search them (filled in for one of their chats),
supervisors and admins manage them."""

from __future__ import annotations

from aiohttp import web

from agent_ui.api.chats import _chat
from agent_ui.middlewares import json_response
from agent_ui.request_state import body_of, path_id, principal_of, query_of
from agent_ui.schemas import CannedCreate, CannedQuery, CannedUpdate
from chat.model import placeholder_values, render_canned
from contact_center.errors import NotFound


class CannedNotFound(NotFound):
    error_id = "canned-response-not-found"


async def list_canned(request: web.Request) -> web.StreamResponse:
    service = _chat(request)
    query = query_of(request, CannedQuery)
    user = principal_of(request).user
    queue = query.queue
    values: dict[str, str] | None = None
    if query.contact_id is not None:
        conversation = await service.agent_conversation(user, query.contact_id)
        queue = queue or conversation["queue"]
        values = placeholder_values(
            conversation["visitor_name"], user.display_name, conversation["queue"]
        )
    items = await service.store.canned(queue=queue, query=query.q)
    if values is not None:
        for item in items:
            item["rendered"] = render_canned(item["text"], values)
    return json_response({"items": items})


async def create_canned(request: web.Request) -> web.StreamResponse:
    service = _chat(request)
    body = body_of(request, CannedCreate)
    if body.queue is not None:
        service.chat_queue(body.queue)
    now = service.clock()
    canned_id = await service.store.add_canned(
        {
            "queue": body.queue,
            "shortcut": body.shortcut,
            "title": body.title,
            "text": body.text,
            "created_at": now,
            "updated_at": now,
            "updated_by": principal_of(request).user.id,
        }
    )
    found = await service.store.canned_by_id(canned_id)
    return json_response(found, status=201)


async def update_canned(request: web.Request) -> web.StreamResponse:
    service = _chat(request)
    body = body_of(request, CannedUpdate)
    canned_id = path_id(request, "canned_id")
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    for key in ("shortcut", "title", "text"):
        if key in changes and changes[key] is None:
            del changes[key]
    if changes.get("queue") is not None:
        service.chat_queue(changes["queue"])
    changes["updated_at"] = service.clock()
    changes["updated_by"] = principal_of(request).user.id
    if not await service.store.update_canned(canned_id, changes):
        raise CannedNotFound("no such canned response", details={"id": canned_id})
    return json_response(await service.store.canned_by_id(canned_id))


async def delete_canned(request: web.Request) -> web.StreamResponse:
    service = _chat(request)
    canned_id = path_id(request, "canned_id")
    if not await service.store.delete_canned(canned_id):
        raise CannedNotFound("no such canned response", details={"id": canned_id})
    return web.Response(status=204)
