"""Email threads for the console (thread, reply, pending, close, transfer, attachments)
and the quarantine for administrators. The use cases are email_channel.service's."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from agent_ui.middlewares import json_response
from agent_ui.request_state import body_of, path_id, principal_of, query_of, services_of
from agent_ui.schemas import EmailReply, EmailThreadQuery, EmailTransfer, QuarantineQuery
from contact_center.errors import InvalidInput
from contact_center.services import Services
from email_channel.errors import EmailNotRunning
from email_channel.service import EmailService
from email_channel.wiring import email_of

# Served inline (the thread shows them); anything else is a download, never rendered.
_INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def _service(services: Services) -> EmailService:
    channel = email_of(services)
    if channel is None:
        raise EmailNotRunning("the email channel is not enabled on this server ([email] enabled)")
    return channel.service


async def thread(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    user = principal_of(request).user
    query = query_of(request, EmailThreadQuery)
    view = await _service(services).thread_view(
        user, request.match_info["contact_id"], allow_remote_images=query.images
    )
    await services.profiles.record_audit(
        user.actor,
        "email.thread_viewed",
        customer_id=view["customer_id"],
        contact_id=request.match_info["contact_id"],
        details={"thread_id": view["thread_id"]},
    )
    return json_response(view)


async def reply(request: web.Request) -> web.StreamResponse:
    body = body_of(request, EmailReply)
    files: list[tuple[str, str, bytes]] = []
    for item in body.attachments:
        try:
            data = base64.b64decode(item.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(f"attachment {item.filename!r} is not valid base64") from None
        files.append((item.filename, item.content_type, data))
    result = await _service(services_of(request)).reply(
        principal_of(request).user,
        request.match_info["contact_id"],
        body_text=body.body_text,
        reply_all=body.reply_all,
        client_id=body.client_id,
        attachments=files,
    )
    return json_response(result)


async def pending(request: web.Request) -> web.StreamResponse:
    service = _service(services_of(request))
    user = principal_of(request).user
    return json_response(await service.set_pending(user, request.match_info["contact_id"]))


async def close(request: web.Request) -> web.StreamResponse:
    service = _service(services_of(request))
    user = principal_of(request).user
    return json_response(await service.close(user, request.match_info["contact_id"]))


async def transfer(request: web.Request) -> web.StreamResponse:
    service = _service(services_of(request))
    body = body_of(request, EmailTransfer)
    user = principal_of(request).user
    return json_response(await service.transfer(user, request.match_info["contact_id"], body.queue))


async def attachment(request: web.Request) -> web.StreamResponse:
    service = _service(services_of(request))
    found = await service.attachment(
        principal_of(request).user,
        request.match_info["contact_id"],
        path_id(request, "attachment_id"),
    )
    detected = found["detected_type"] or ""
    inline = detected in _INLINE_TYPES
    disposition = "inline" if inline else "attachment"
    # The stored name is safe already (email_channel.parsing.safe_filename); quoted
    # per RFC 6266 with its UTF-8 form.
    from urllib.parse import quote

    ascii_name = found["filename"].encode("ascii", "replace").decode().replace('"', "_")
    return web.Response(
        body=found["content"],
        content_type=detected if inline else "application/octet-stream",
        headers={
            "Content-Disposition": (
                f'{disposition}; filename="{ascii_name}"; '
                f"filename*=UTF-8''{quote(found['filename'])}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


async def quarantine(request: web.Request) -> web.StreamResponse:
    query = query_of(request, QuarantineQuery)
    service = _service(services_of(request))
    return json_response(await service.quarantine(query.limit, query.before))


async def retry(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    inbound_id = path_id(request, "inbound_id")
    result = await _service(services).retry(inbound_id)
    await services.profiles.record_audit(
        principal_of(request).user.actor,
        "email.quarantine_retried",
        details={"inbound_id": inbound_id, "status": result["status"]},
    )
    return json_response(result)
