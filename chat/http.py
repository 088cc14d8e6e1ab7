"""The visitor's REST endpoints (``/chat/api/...``), called from the widget on the host
site's pages: cross-origin, so each answer (errors included) carries CORS headers for
an allowed origin, and preflights are answered here.

No user login: a visitor is their token, in the ``X-Chat-Token`` header (never in a
URL). Bodies are parsed here rather than by the API's body middleware so that even a
malformed request gets its error with the CORS headers the widget needs to read it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, hdrs, web
from pydantic import BaseModel, ConfigDict, Field

from agent_ui.middlewares import error_response, json_response, read_json, validate
from chat.errors import OriginRefused
from chat.model import Origin
from chat.service import ChatService, SessionRequest, Visitor
from contact_center.errors import AppError, InvalidInput

TOKEN_HEADER = "X-Chat-Token"  # noqa: S105 - a header name, not a secret
MAX_JSON_BODY = 32 * 1024
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IdentityIn(_Body):
    user_id: str = Field(min_length=1, max_length=100, pattern=r"^[\w.:@/+-]+$")
    signature: str = Field("", max_length=128)


class SessionIn(_Body):
    site: str = Field("default", min_length=1, max_length=64)
    queue: str = Field(min_length=1, max_length=64)
    topic: str | None = Field(None, max_length=40)
    name: str | None = Field(None, max_length=200)
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=40)
    identity: IdentityIn | None = None
    language: str | None = Field(None, max_length=16)


class OfflineIn(SessionIn):
    message: str = Field(min_length=1, max_length=100_000)


class RatingIn(_Body):
    rating: int = Field(ge=1, le=5)
    comment: str | None = Field(None, max_length=2000)


class TranscriptEmailIn(_Body):
    email: str | None = Field(None, max_length=320)


def service_of(request: web.Request) -> ChatService:
    from chat.wiring import CHAT

    return request.app[CHAT]


def visitor_of(request: web.Request) -> Visitor:
    own_origin = f"{request.scheme}://{request.host}"
    origin = request.headers.get(hdrs.ORIGIN)
    if origin is None and request.headers.get("Sec-Fetch-Site") == "same-origin":
        # Browsers send no Origin on a same-origin GET (the sample page's config,
        # messages, files); Sec-Fetch-Site, which no script can set, says where it is from.
        origin = own_origin
    return Visitor(
        origin=origin,
        own_origin=own_origin,
        address=request.remote or "-",
    )


def _cors(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    origin = request.headers.get(hdrs.ORIGIN)
    if origin and service_of(request).any_site_allows(visitor_of(request)):
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        response.headers[hdrs.VARY] = "Origin"
        response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = "Content-Disposition, Retry-After"
    return response


def visitor_endpoint(handler: Handler) -> Handler:
    """CORS headers on every answer, errors included; the address's rate limit."""

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            service_of(request).limit_address(visitor_of(request))
            response = await handler(request)
        except AppError as exc:
            response = error_response(exc)
        return _cors(request, response)

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


async def preflight(request: web.Request) -> web.StreamResponse:
    """CORS preflight of the widget's requests."""
    visitor = visitor_of(request)
    if not service_of(request).any_site_allows(visitor):
        return error_response(OriginRefused("this page may not open chats"))
    response = web.Response(status=204)
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = visitor.origin or ""
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = "GET, POST"
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = f"Content-Type, {TOKEN_HEADER}"
    response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = "600"
    response.headers[hdrs.VARY] = "Origin"
    return response


def preflight_named(name: str) -> Handler:
    """:func:`preflight` under a route name of its own (one per path)."""

    async def run(request: web.Request) -> web.StreamResponse:
        return await preflight(request)

    run.__name__ = f"preflight_{name}"
    return run


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    return validate(model, await read_json(request, MAX_JSON_BODY))


def _session_request(body: SessionIn) -> SessionRequest:
    return SessionRequest(
        site=body.site,
        queue=body.queue,
        topic=body.topic,
        name=body.name,
        email=body.email,
        phone=body.phone,
        identity_user_id=body.identity.user_id if body.identity else None,
        identity_signature=body.identity.signature if body.identity else None,
        language=body.language,
    )


async def _owned(request: web.Request) -> dict[str, Any]:
    token = request.headers.get(TOKEN_HEADER, "")
    service = service_of(request)
    conversation = await service.visitor_owns(token, request.match_info["conversation_id"])
    service.check_origin(service.site(conversation["site"]), visitor_of(request))
    return conversation


@visitor_endpoint
async def visitor_widget_config(request: web.Request) -> web.StreamResponse:
    site = request.query.get("site", "default")
    queue = request.query.get("queue", "")
    if not queue:
        raise InvalidInput("name the queue: ?queue=...", details={"field": "queue"})
    return json_response(
        await service_of(request).widget_config(site[:64], queue[:64], visitor_of(request))
    )


@visitor_endpoint
async def visitor_create_session(request: web.Request) -> web.StreamResponse:
    body: SessionIn = await _body(request, SessionIn)
    answer = await service_of(request).start_session(_session_request(body), visitor_of(request))
    return json_response(answer, status=201)


@visitor_endpoint
async def visitor_offline_message(request: web.Request) -> web.StreamResponse:
    body: OfflineIn = await _body(request, OfflineIn)
    answer = await service_of(request).offline_message(
        _session_request(body), body.message, visitor_of(request)
    )
    return json_response(answer, status=201)


@visitor_endpoint
async def visitor_conversation(request: web.Request) -> web.StreamResponse:
    found = await _owned(request)
    return json_response(
        {
            "conversation_id": found["id"],
            "status": found["status"],
            "queue": found["queue"],
            "agent_name": found["agent_name"],
            "seq": found["last_seq"],
            "rating": found["rating"],
        }
    )


@visitor_endpoint
async def visitor_messages(request: web.Request) -> web.StreamResponse:
    found = await _owned(request)
    after = _int(request.query.get("after_seq", "0"), "after_seq")
    return json_response(await service_of(request).history(found, after))


@visitor_endpoint
async def visitor_upload(request: web.Request) -> web.StreamResponse:
    found = await _owned(request)
    service = service_of(request)
    service.limit_visitor(found["id"])
    name, data = await read_upload(request, service.site(found["site"]).attachment_max_bytes)
    message, created = await service.attach(
        found, origin=Origin.VISITOR, client_id=request.query.get("client_id", ""),
        name=name, data=data, sender_name=found["visitor_name"],
    )  # fmt: skip
    return json_response({"message": message, "created": created}, status=201 if created else 200)


@visitor_endpoint
async def visitor_download(request: web.Request) -> web.StreamResponse:
    found = await _owned(request)
    return await attachment_response(
        service_of(request), found, request.match_info["attachment_id"]
    )


@visitor_endpoint
async def visitor_transcript(request: web.Request) -> web.StreamResponse:
    found = await _owned(request)
    text = await service_of(request).transcript(found)
    response = web.Response(text=text, content_type="text/plain", charset="utf-8")
    response.headers[hdrs.CONTENT_DISPOSITION] = 'attachment; filename="chat-transcript.txt"'
    response.headers[hdrs.CACHE_CONTROL] = "no-store"
    return response


@visitor_endpoint
async def visitor_transcript_email(request: web.Request) -> web.StreamResponse:
    found = await _owned(request)
    body: TranscriptEmailIn = await _body(request, TranscriptEmailIn)
    await service_of(request).email_transcript(found, body.email)
    return json_response({"queued": True}, status=202)


@visitor_endpoint
async def visitor_end(request: web.Request) -> web.StreamResponse:
    found = await _owned(request)
    return json_response(await service_of(request).end(found, Origin.VISITOR))


@visitor_endpoint
async def visitor_rate(request: web.Request) -> web.StreamResponse:
    found = await _owned(request)
    body: RatingIn = await _body(request, RatingIn)
    return json_response(await service_of(request).rate(found, body.rating, body.comment))


def _int(text: str, field: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise InvalidInput(f"{field} must be a whole number", details={"field": field})
    return int(text)


async def read_upload(request: web.Request, max_bytes: int) -> tuple[str, bytes]:
    """The ``file`` part of a multipart upload, read up to ``max_bytes`` (then refused)."""
    from chat.errors import AttachmentTooLarge

    if not request.content_type.startswith("multipart/"):
        raise InvalidInput("send the file as multipart/form-data, field 'file'")
    reader = await request.multipart()
    while True:
        part = await reader.next()
        if part is None:
            raise InvalidInput("no 'file' field in the upload", details={"field": "file"})
        if isinstance(part, BodyPartReader) and part.name == "file":
            chunks: list[bytes] = []
            size = 0
            while chunk := await part.read_chunk(65_536):
                size += len(chunk)
                if size > max_bytes:
                    raise AttachmentTooLarge(
                        f"files are limited to {max_bytes} bytes", details={"max_bytes": max_bytes}
                    )
                chunks.append(chunk)
            return part.filename or "file", b"".join(chunks)


async def attachment_response(
    service: ChatService, conversation: dict[str, Any], attachment_id: str
) -> web.StreamResponse:
    """The file, typed as detected at upload; images inline (previews), anything else
    as a download; never sniffed by the browser."""
    from chat.attachments import is_previewable

    found, path = await service.attachment_file(conversation, attachment_id)
    response = web.FileResponse(path)
    disposition = "inline" if is_previewable(found["content_type"]) else "attachment"
    safe = found["name"].replace('"', "").encode("ascii", "replace").decode()
    response.headers[hdrs.CONTENT_TYPE] = found["content_type"]
    response.headers[hdrs.CONTENT_DISPOSITION] = f'{disposition}; filename="{safe}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers[hdrs.CACHE_CONTROL] = "private, no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
