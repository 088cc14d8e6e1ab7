"""``GET /api/v1/hub``: the websocket of one console tab.

The auth middleware has already authenticated the upgrade request (session cookie or
``Authorization: Bearer``) and checked the endpoint's roles. A session must also come
from this site's own pages: browsers send the session cookie with a websocket
handshake from any site, so the ``Origin`` must name the host the request was sent to
(cross-site websocket hijacking). Bearer tokens need no such check: a page cannot make
a browser send one.

Then the protocol (docs/hub.md): the tab sends ``hello`` within
:data:`HELLO_TIMEOUT_SECONDS`, the hub answers ``welcome`` and what was missed (or a
snapshot), then ``subscribe``/``unsubscribe`` at will. Anything else closes the socket
after an ``error`` message: a binary frame (1003), text that is not UTF-8, JSON or a
known message (1007), a message out of order (1008), one over
:data:`~agent_ui.hub.messages.MAX_CLIENT_MESSAGE_BYTES` (1009).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import urlsplit

import msgspec
from aiohttp import WSCloseCode, WSMsgType, hdrs, web

from agent_ui.hub.errors import (
    CloseCode,
    OriginRefused,
    ProtocolViolation,
    UpgradeRequired,
)
from agent_ui.hub.messages import (
    MAX_CLIENT_MESSAGE_BYTES,
    ClientMessage,
    Error,
    Hello,
    Subscribe,
    Unsubscribe,
    client_decoder,
    encode,
)
from agent_ui.hub.streams import CLOSE_TIMEOUT_SECONDS, Connection
from agent_ui.request_state import principal_of
from contact_center.errors import ServiceUnavailable

log = logging.getLogger(__name__)

HELLO_TIMEOUT_SECONDS = 10.0
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# What the websocket layer's own closes mean, for the error message sent before them.
_LAYER_ERRORS = {
    CloseCode.MESSAGE_TOO_BIG: (
        "message-too-big",
        f"messages are limited to {MAX_CLIENT_MESSAGE_BYTES} bytes",
    ),
    CloseCode.INVALID_PAYLOAD: ("invalid-message", "text frames must be UTF-8"),
}


class HubSocket(web.WebSocketResponse):
    """A websocket that says why before the websocket layer closes it (too big, not
    UTF-8): aiohttp closes those by itself, with only a code."""

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        explained = _LAYER_ERRORS.get(CloseCode(code)) if code in _LAYER_ERRORS else None
        if explained is not None and not message and not self.closed:
            error, text = explained
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.send_frame(encode(Error(error=error, message=text)), WSMsgType.TEXT)
            message = error.encode()
        return await super().close(code=code, message=message, drain=drain)


def check_origin(request: web.Request) -> None:
    """Refuse a session-authenticated upgrade whose page is not from this host."""
    origin = request.headers.get(hdrs.ORIGIN, "")
    if not origin:
        raise OriginRefused("a browser session's websocket must carry an Origin header")
    parts = urlsplit(origin)
    if parts.scheme not in _DEFAULT_PORTS or not parts.netloc:
        raise OriginRefused("the page's Origin is not an http(s) origin")
    if _authority(parts.netloc, parts.scheme) != _authority(request.host, parts.scheme):
        raise OriginRefused(
            "this websocket may only be opened by this site's own pages",
            details={"origin": origin[:100]},
        )


def _authority(host: str, scheme: str) -> str:
    host = host.strip().lower()
    default = ":" + _DEFAULT_PORTS[scheme]
    return host[: -len(default)] if host.endswith(default) else host


async def hub_socket(request: web.Request) -> web.StreamResponse:
    """Open a console tab's websocket (see docs/hub.md)."""
    from agent_ui.hub.wiring import HUB

    hub = request.app[HUB]
    principal = principal_of(request)
    if principal.via == "session":
        check_origin(request)
    ws = HubSocket(
        compress=False,
        heartbeat=hub.settings.heartbeat_seconds,
        max_msg_size=MAX_CLIENT_MESSAGE_BYTES,
        timeout=CLOSE_TIMEOUT_SECONDS,
    )
    if not ws.can_prepare(request).ok:
        raise UpgradeRequired("this is a websocket endpoint: connect with a websocket upgrade")
    if not hub.accepting:
        raise ServiceUnavailable("this server is stopping; connect again")
    await ws.prepare(request)
    connection = Connection(
        ws,
        principal.user,
        queue_limit=hub.settings.send_queue_messages,
        request=request,
    )
    try:
        hello = await _hello(ws)
        await hub.open(connection, hello)
        async for frame in ws:
            message = _parse(frame)
            if message is None:
                break  # the websocket layer closed the socket (and said why)
            if isinstance(message, Subscribe):
                await hub.subscribe(connection, message.topic)
            elif isinstance(message, Unsubscribe):
                hub.unsubscribe(connection, message.topic)
            else:
                raise ProtocolViolation(
                    CloseCode.POLICY_VIOLATION, "hello-repeated", "hello is sent once, first"
                )
    except ProtocolViolation as exc:
        if connection.stream is None:
            connection.on_closed = None
        connection.close(exc.code, exc.error, exc.message)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("hub: connection of user %s failed", principal.user.id)
        connection.close(CloseCode.INTERNAL_ERROR, "internal-error", "the server failed")
    finally:
        hub.forget(connection)
        connection.stop_writer()
        await connection.closed_fully()
        if not ws.closed:
            await ws.close()
    return ws


async def _hello(ws: web.WebSocketResponse) -> Hello:
    try:
        frame = await ws.receive(timeout=HELLO_TIMEOUT_SECONDS)
    except TimeoutError:
        raise ProtocolViolation(
            CloseCode.POLICY_VIOLATION,
            "hello-timeout",
            f"send hello within {HELLO_TIMEOUT_SECONDS:g} seconds of connecting",
        ) from None
    message = _parse(frame)
    if message is None:
        raise ProtocolViolation(CloseCode.GOING_AWAY, "", "")
    if not isinstance(message, Hello):
        raise ProtocolViolation(
            CloseCode.POLICY_VIOLATION, "hello-expected", "the first message must be hello"
        )
    return message


def _parse(frame: Any) -> ClientMessage | None:
    """The client's message, None if the socket is closing, or a protocol violation."""
    if frame.type == WSMsgType.TEXT:
        try:
            return client_decoder.decode(frame.data)
        except msgspec.ValidationError as exc:
            raise ProtocolViolation(
                CloseCode.INVALID_PAYLOAD, "invalid-message", _problem(exc)
            ) from None
        except msgspec.DecodeError:
            raise ProtocolViolation(
                CloseCode.INVALID_PAYLOAD, "invalid-message", "the message is not JSON"
            ) from None
    if frame.type == WSMsgType.BINARY:
        raise ProtocolViolation(
            CloseCode.UNSUPPORTED_DATA, "binary-not-supported", "send JSON text frames"
        )
    return None


def _problem(exc: msgspec.ValidationError) -> str:
    """What is wrong and where, without echoing the client's values back."""
    text = str(exc)
    problem, _, where = text.rpartition(" - at ")
    if not problem:
        problem, where = text, ""
    if "'" in problem or '"' in problem:
        problem = "Invalid value"
    problem, where = problem[:120], where[:120]
    return f"not a valid hub message (docs/hub.md): {problem}" + (f" at {where}" if where else "")
