"""Serving the HTTP edge: requests the parser refuses answered like every other error,
and an access log that writes no personal data.

aiohttp answers a request it cannot parse (a URL over 8,190 bytes, a malformed request
line, a header too long) from its protocol handler, before any middleware runs: a
plain-text 400 that quotes the offending input, and an ERROR with a traceback per
request. :class:`EdgeRequestHandler` answers those with the API's JSON error body and
a stable id, quotes nothing, and logs one WARNING line. Its default access log line
contains the query string, and the query string of a screen-pop or a search holds
phone numbers, emails and names: :class:`RedactingAccessLogger` keeps only values known
to be harmless.

:func:`run_app` is ``aiohttp.web.run_app`` with both in place (aiohttp offers no
argument to choose the protocol handler's class, so the runner is ours).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import BadHttpMethod, HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

from agent_ui.app_keys import ROUTED
from agent_ui.errors import BadRequest, HeadersTooLarge, InternalError, UriTooLong
from contact_center.errors import AppError

log = logging.getLogger(__name__)

# The request line (method, URL, version) may be this long, as aiohttp's default; a
# header field a little longer, so the handler can tell which limit a request broke.
MAX_LINE_SIZE = 8190
MAX_FIELD_SIZE = 8192
KEEPALIVE_SECONDS = 75.0
SHUTDOWN_SECONDS = 60.0

# Query parameters whose values are never personal data: ids, paging, filters. Every
# other value (q, name, phone, email, number, value, ...) is replaced in the access log.
SAFE_QUERY_KEYS = frozenset(
    {
        "action",
        "actor_id",
        "channel",
        "contact_id",
        "cursor",
        "customer_id",
        "include_disabled",
        "kind",
        "limit",
        "since",
        "until",
    }
)
# Parameter names the API defines; any other name is itself replaced (a client could
# put an address in a name as easily as in a value).
KNOWN_QUERY_KEYS = SAFE_QUERY_KEYS | {"q", "name", "phone", "email", "number", "value"}
REDACTED = "***"
# In a path that matched no route: a segment with an @ or a run of 5+ digits may be an
# email address or a phone number typed into the wrong place.
_PERSONAL_SEGMENT = re.compile(r"@|[0-9]{5,}")
MAX_LOGGED_PATH = 200


def redacted_target(request: web.BaseRequest) -> str:
    """The request's path and query as the access log may show them."""
    path = request.path
    # Set by the error middleware; absent for requests that never reached the app.
    if not request.get(ROUTED, False):
        path = "/".join(
            REDACTED if _PERSONAL_SEGMENT.search(segment) else segment
            for segment in path.split("/")
        )
    if len(path) > MAX_LOGGED_PATH:
        path = path[:MAX_LOGGED_PATH] + "..."
    query = request.rel_url.raw_query_string
    if not query:
        return quote(path, safe="/-._~*")
    parts = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in SAFE_QUERY_KEYS:
            parts.append(f"{key}={quote(value[:64], safe='-._~:')}")
        elif key in KNOWN_QUERY_KEYS:
            parts.append(f"{key}={REDACTED}")
        else:
            parts.append(f"{REDACTED}={REDACTED}")
    return quote(path, safe="/-._~*") + "?" + "&".join(parts)


class RedactingAccessLogger(AbstractAccessLogger):
    """One line per request: client, request line (redacted), status, bytes, seconds,
    request id and user agent. No Referer: it is another URL, with its own query."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        try:
            version = f"{request.version.major}.{request.version.minor}"
            agent = request.headers.get("User-Agent", "-")[:200].replace('"', "'")
            self.logger.info(
                '%s "%s %s HTTP/%s" %d %s %.6fs request=%s "%s"',
                request.remote or "-",
                request.method,
                redacted_target(request),
                version,
                response.status,
                response.body_length,
                time,
                response.headers.get("X-Request-Id", "-"),
                agent,
            )
        except Exception:
            # An access log line must never break a response that was already sent.
            self.logger.exception("could not write an access log line")

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def _refusal(handler: RequestHandler, exc: BaseException | None) -> AppError:
    """The API error for a request the HTTP parser refused; never quotes the input."""
    if isinstance(exc, LineTooLong):
        limit = str(exc.args[1]) if len(exc.args) > 1 else ""
        if handler.max_line_size != handler.max_field_size:
            if limit == str(handler.max_line_size):
                return UriTooLong(
                    f"the request line is longer than {handler.max_line_size} bytes",
                    details={"max_bytes": handler.max_line_size},
                )
            if limit == str(handler.max_field_size):
                return HeadersTooLarge(
                    f"a header is longer than {handler.max_field_size} bytes",
                    details={"max_bytes": handler.max_field_size},
                )
        return BadRequest("the request line or a header is too long")
    if isinstance(exc, BadHttpMethod):
        return BadRequest("the request line is not HTTP")
    return BadRequest("the request could not be read as HTTP/1.1")


class EdgeRequestHandler(RequestHandler):
    """aiohttp's protocol handler, answering its own errors as the API does."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            # Part of a response went out already: only closing the connection is left.
            return super().handle_error(request, status, exc, message)
        error: AppError
        if status == 500:
            error = InternalError("the server failed to handle this request")
            # An exception that escaped every middleware is a bug: keep its traceback.
            log.error("unhandled error in the HTTP server", exc_info=exc)
        elif status == 504:
            error = AppError("the request took too long")
            error.error_id, error.status = "timeout", 504
        else:
            error = (
                _refusal(self, exc)
                if isinstance(exc, HttpProcessingError)
                else BadRequest("the request could not be read as HTTP/1.1")
            )
            first_request_garbage = self._request_count == 1 and isinstance(exc, BadHttpMethod)
            # TLS or a port scanner on the HTTP port is routine on a public address:
            # debug only, as aiohttp does. Anything else: one line, no input, no traceback.
            log.log(
                logging.DEBUG if first_request_garbage else logging.WARNING,
                "refused an unreadable request from %s: %d %s (%s)",
                request.remote,
                error.status,
                error.error_id,
                type(exc).__name__,
            )
        response = web.Response(
            status=error.status,
            body=orjson.dumps(error.to_dict()),
            content_type="application/json",
        )
        response.force_close()
        return response


class EdgeServer(web.Server):
    def __call__(self) -> RequestHandler:
        return EdgeRequestHandler(self, loop=self._loop, **self._kwargs)


class EdgeAppRunner(web.AppRunner):
    """``AppRunner`` whose connections use :class:`EdgeRequestHandler`, logging access
    through :class:`RedactingAccessLogger` unless told otherwise."""

    def __init__(self, app: web.Application, **kwargs: Any) -> None:
        kwargs.setdefault("access_log_class", RedactingAccessLogger)
        kwargs.setdefault("max_line_size", MAX_LINE_SIZE)
        kwargs.setdefault("max_field_size", MAX_FIELD_SIZE)
        kwargs.setdefault("keepalive_timeout", KEEPALIVE_SECONDS)
        kwargs.setdefault("shutdown_timeout", SHUTDOWN_SECONDS)
        super().__init__(app, **kwargs)

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        # aiohttp builds a plain Server; ours differs only in the handler it makes.
        return EdgeServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )


def run_app(
    app: web.Application | Awaitable[web.Application],
    *,
    host: str,
    port: int,
    loop: asyncio.AbstractEventLoop,
    print: Callable[[str], None] | None = None,
    reuse_port: bool = False,
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, like ``aiohttp.web.run_app``
    (``reuse_port``: several processes listen on one port, see
    contact_center/serve_workers.py)."""

    async def serve() -> None:
        application = await app if inspect.isawaitable(app) else app
        runner = EdgeAppRunner(application, handle_signals=True)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
            await site.start()
            if print is not None:
                print(f"======== Running on {site.name} ========")
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    main = loop.create_task(serve())
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except (web.GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            if not main.done():
                main.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    loop.run_until_complete(main)
        finally:
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    tasks = asyncio.all_tasks(loop)
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
