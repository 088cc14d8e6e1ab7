"""The agent's side of a chat (docs/chat.md): read, send (idempotent by client id),
typing, read receipts, files, transfer and end. The agent acting must hold the chat in
the router; supervisors and admins may read any chat."""

from __future__ import annotations

from aiohttp import web

from agent_ui.middlewares import json_response
from agent_ui.request_state import body_of, principal_of, query_of
from agent_ui.schemas import (
    ChatMessagesQuery,
    ChatReadIn,
    ChatSend,
    ChatTransfer,
    ChatTypingIn,
    ChatUploadQuery,
)
from chat.http import attachment_response, read_upload
from chat.model import Origin
from chat.service import ChatService
from contact_center.errors import ServiceUnavailable


def _chat(request: web.Request) -> ChatService:
    from chat.wiring import CHAT

    found = request.app.get(CHAT)
    if found is None:
        raise ServiceUnavailable("this server runs no chat")
    return found


async def get_chat(request: web.Request) -> web.StreamResponse:
    service = _chat(request)
    conversation = await service.agent_conversation(
        principal_of(request).user, request.match_info["contact_id"]
    )
    return json_response(service.conversation_view(conversation))


async def chat_messages(request: web.Request) -> web.StreamResponse:
    service = _chat(request)
    query = query_of(request, ChatMessagesQuery)
    conversation = await service.agent_conversation(
        principal_of(request).user, request.match_info["contact_id"]
    )
    return json_response(await service.history(conversation, query.after_seq, query.limit))


async def send_chat_message(request: web.Request) -> web.StreamResponse:
    body = body_of(request, ChatSend)
    message, created = await _chat(request).agent_send(
        principal_of(request).user, request.match_info["contact_id"], body.client_id, body.text
    )
    return json_response({"message": message, "created": created}, status=201 if created else 200)


async def chat_typing(request: web.Request) -> web.StreamResponse:
    body = body_of(request, ChatTypingIn)
    await _chat(request).agent_typing(
        principal_of(request).user, request.match_info["contact_id"], body.on
    )
    return web.Response(status=204)


async def chat_read(request: web.Request) -> web.StreamResponse:
    service = _chat(request)
    body = body_of(request, ChatReadIn)
    conversation = await service.agent_conversation(
        principal_of(request).user, request.match_info["contact_id"], write=True
    )
    await service.read(conversation, Origin.AGENT, body.seq)
    return web.Response(status=204)


async def transfer_chat(request: web.Request) -> web.StreamResponse:
    body = body_of(request, ChatTransfer)
    return json_response(
        await _chat(request).agent_transfer(
            principal_of(request).user,
            request.match_info["contact_id"],
            queue=body.queue,
            agent_id=body.agent_id,
        )
    )


async def end_chat(request: web.Request) -> web.StreamResponse:
    return json_response(
        await _chat(request).agent_end(principal_of(request).user, request.match_info["contact_id"])
    )


async def upload_chat_file(request: web.Request) -> web.StreamResponse:
    service = _chat(request)
    user = principal_of(request).user
    query = query_of(request, ChatUploadQuery)
    conversation = await service.agent_conversation(
        user, request.match_info["contact_id"], write=True
    )
    site = service.site(conversation["site"])
    name, data = await read_upload(request, site.attachment_max_bytes)
    message, created = await service.attach(
        conversation,
        origin=Origin.AGENT,
        client_id=query.client_id,
        name=name,
        data=data,
        sender_name=user.display_name,
        agent_id=str(user.id),
    )
    return json_response({"message": message, "created": created}, status=201 if created else 200)


async def chat_file(request: web.Request) -> web.StreamResponse:
    service = _chat(request)
    conversation = await service.agent_conversation(
        principal_of(request).user, request.match_info["contact_id"]
    )
    return await attachment_response(service, conversation, request.match_info["attachment_id"])
