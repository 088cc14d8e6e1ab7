"""The HTTP edge's middlewares: errors as JSON, authentication and roles, JSON bodies,
and security headers.

Order (outermost first): errors -> authentication -> body. So every failure, including
a refused login or a malformed body, leaves as the same JSON error shape, and nobody
unauthenticated gets as far as having a body parsed.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import uuid
from typing import Any

import orjson
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from pydantic import BaseModel, ValidationError
from yarl import URL

from agent_ui.app_keys import (
    BODY,
    ENDPOINTS,
    PRINCIPAL,
    QUERY,
    REQUEST_ID,
    ROUTED,
    SERVICES,
    SESSIONS,
    Principal,
)
from agent_ui.endpoint import SAFE_METHODS, Endpoint
from agent_ui.errors import (
    BodyTooLarge,
    CsrfFailed,
    InternalError,
    InvalidJson,
    InvalidRequest,
    MethodNotAllowed,
    RedisUnavailable,
    RoleRequired,
    RouteNotFound,
    ServerBusy,
    SessionExpired,
    Unauthenticated,
    UnsupportedMediaType,
)
from agent_ui.sessions import session_key
from contact_center.accounts import AccountDisabled, UserNotFound
from contact_center.errors import AppError

log = logging.getLogger(__name__)

SESSION_COOKIE = "cc_session"
CSRF_HEADER = "X-CSRF-Token"
REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Seconds a client is told to wait after a 503: a full pool drains in well under one;
# an unreachable Redis needs longer to come back.
BUSY_RETRY_AFTER = 1
UNAVAILABLE_RETRY_AFTER = 5


def json_response(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        content_type="application/json",
    )


def error_response(error: AppError) -> web.Response:
    response = json_response(error.to_dict(), status=error.status)
    retry_after = error.details.get("retry_after")
    if isinstance(retry_after, int | float):
        response.headers[hdrs.RETRY_AFTER] = str(max(1, math.ceil(retry_after)))
    return response


def endpoint_for(request: web.Request) -> Endpoint | None:
    route = request.match_info.route
    if request.match_info.http_exception is not None or route.resource is None:
        return None
    found: Endpoint | None = request.app[ENDPOINTS].get((request.method, route.resource.canonical))
    return found


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every failure to ``{"error", "message", "details"}`` with a stable id."""
    supplied = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex[:16]
    request[REQUEST_ID] = request_id
    request[ROUTED] = request.match_info.http_exception is None
    try:
        response: web.StreamResponse = await handler(request)
    except AppError as exc:
        response = error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(_from_http_exception(exc))
    except Exception as exc:
        refused = _overloaded(exc, request_id)
        if refused is not None:
            # Expected under load or during an outage, and not a bug: one line, no
            # traceback, and the client is told when to come back.
            log.warning(
                "refused %s %s (request %s): %s",
                request.method,
                request.path,
                request_id,
                refused.message,
            )
            return error_response(refused)
        log.exception(
            "unexpected error in %s %s (request %s)", request.method, request.path, request_id
        )
        response = error_response(
            InternalError(
                "the server failed to handle this request; quote the request id when reporting it",
                details={"request_id": request_id},
            )
        )
    return response


def _overloaded(exc: Exception, request_id: str) -> AppError | None:
    """A 503 for a pool that stayed full for its whole wait, or a Redis that cannot be
    reached; None for anything else (a bug: 500)."""
    import redis.exceptions as redis_errors
    from sqlalchemy.exc import TimeoutError as DatabasePoolTimeout

    busy = "the server is busy; try again in a moment"
    if isinstance(exc, redis_errors.MaxConnectionsError) or (
        # redis-py's blocking pool: "No connection available." after its timeout.
        isinstance(exc, redis_errors.ConnectionError) and isinstance(exc.__cause__, TimeoutError)
    ):
        return ServerBusy(
            f"{busy} (no Redis connection free)",
            details={"retry_after": BUSY_RETRY_AFTER, "pool": "redis", "request_id": request_id},
        )
    if isinstance(exc, DatabasePoolTimeout):
        return ServerBusy(
            f"{busy} (no database connection free)",
            details={
                "retry_after": BUSY_RETRY_AFTER,
                "pool": "database",
                "request_id": request_id,
            },
        )
    if isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError):
        return RedisUnavailable(
            "the session store (Redis) cannot be reached; try again shortly",
            details={"retry_after": UNAVAILABLE_RETRY_AFTER, "request_id": request_id},
        )
    return None


def _from_http_exception(exc: web.HTTPException) -> AppError:
    if exc.status == 404:
        return RouteNotFound("no such route")
    if exc.status == 405:
        allowed = sorted(getattr(exc, "allowed_methods", ()) or ())
        return MethodNotAllowed("method not allowed on this route", details={"allowed": allowed})
    if exc.status == 413:
        return BodyTooLarge("request body is too large")
    error = AppError(exc.reason or "request refused")
    error.error_id = f"http-{exc.status}"
    error.status = exc.status
    return error


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate (session cookie or bearer token), check CSRF and the endpoint's roles.

    Routes missing from the endpoint table need an authenticated user: a route added
    without a declared policy is closed, not open.
    """
    endpoint = endpoint_for(request)
    if request.match_info.http_exception is not None:
        return await handler(request)
    if endpoint is not None and endpoint.public:
        return await handler(request)
    try:
        principal = await authenticate(request)
    except (Unauthenticated, SessionExpired, AccountDisabled):
        if endpoint is not None and endpoint.media_type == "text/html":
            # A person at a browser: to the login page, and back here afterwards.
            raise web.HTTPFound(login_url(request)) from None
        raise
    if principal.via == "session" and request.method not in SAFE_METHODS:
        check_csrf(request, principal)
    if endpoint is not None and principal.user.role not in endpoint.roles:
        raise RoleRequired(
            f"this needs the role {' or '.join(sorted(r.value for r in endpoint.roles))}",
            details={"required": sorted(r.value for r in endpoint.roles)},
        )
    request[PRINCIPAL] = principal
    return await handler(request)


def login_url(request: web.Request) -> str:
    """The login page, returning to this page (path and query) once logged in."""
    if request.method != "GET" or request.path == "/":
        return "/login"
    return str(URL("/login").with_query(next=str(request.rel_url)))


async def authenticate(request: web.Request) -> Principal:
    services = request.app[SERVICES]
    authorization = request.headers.get(hdrs.AUTHORIZATION)
    if authorization is not None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise Unauthenticated("Authorization must be 'Bearer <API token>'")
        user, token = await services.accounts.authenticate_token(credentials.strip())
        return Principal(user=user, via="token", token=token)
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        raise Unauthenticated("log in, or send an API token as 'Authorization: Bearer <token>'")
    sessions = request.app[SESSIONS]
    idle = services.settings.security.session_idle_minutes * 60
    session = await sessions.touch(session_key(secret), now=services.clock(), idle_seconds=idle)
    if session is None:
        raise SessionExpired("your session has expired; log in again")
    try:
        user = await services.accounts.get_user(session.user_id)
    except UserNotFound:
        await sessions.delete(session.key)
        raise SessionExpired("your session has expired; log in again") from None
    if user.disabled:
        await sessions.delete(session.key)
        raise AccountDisabled(f"account {user.username!r} is disabled")
    if user.password_changed_at > session.created_at:
        # The password was reset since this session began: whoever holds it must prove
        # they know the new one.
        await sessions.delete(session.key)
        raise SessionExpired("your password was changed; log in again")
    return Principal(user=user, via="session", session=session)


def check_csrf(request: web.Request, principal: Principal) -> None:
    assert principal.session is not None
    supplied = request.headers.get(CSRF_HEADER, "")
    if not supplied:
        raise CsrfFailed(f"the {CSRF_HEADER} header is missing (see GET /api/v1/auth/me)")
    if not secrets.compare_digest(supplied.encode(), principal.session.csrf_token.encode()):
        raise CsrfFailed(f"the {CSRF_HEADER} header does not match this session")


@web.middleware
async def body_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Parse and validate the JSON body and query string against the endpoint's models."""
    endpoint = endpoint_for(request)
    if endpoint is not None:
        if endpoint.query is not None:
            request[QUERY] = parse_query(request, endpoint.query)
        if endpoint.body is not None:
            request[BODY] = validate(endpoint.body, await read_json(request, endpoint.max_body))
    return await handler(request)


async def read_json(request: web.Request, limit: int) -> Any:
    if request.content_type != "application/json":
        raise UnsupportedMediaType(
            "send the body as JSON with Content-Type: application/json",
            details={"content_type": request.content_type[:100]},
        )
    charset = request.charset
    if charset is not None and charset.strip().lower() not in ("utf-8", "utf8"):
        # JSON is UTF-8 (RFC 8259); reading UTF-16 or Latin-1 bytes as UTF-8 would
        # store mojibake or refuse valid text with a misleading message.
        raise UnsupportedMediaType(
            "send the JSON body in UTF-8 (Content-Type: application/json; charset=utf-8)",
            details={"charset": charset[:40]},
        )
    if request.content_length is not None and request.content_length > limit:
        raise BodyTooLarge(
            f"request body is larger than {limit} bytes", details={"max_bytes": limit}
        )
    chunks: list[bytes] = []
    size = 0
    # Read in chunks so a body without Content-Length (chunked) is still bounded.
    while chunk := await request.content.readany():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(
                f"request body is larger than {limit} bytes", details={"max_bytes": limit}
            )
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidJson("request body is empty; send a JSON object")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidJson(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            details={"line": exc.lineno, "column": exc.colno},
        ) from None


def validate(model: type[BaseModel], data: Any) -> BaseModel:
    if not isinstance(data, dict):
        raise InvalidRequest(
            "request body must be a JSON object", details={"got": type(data).__name__}
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_request(exc, "request body") from None


def parse_query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    repeated = sorted({k for k in request.query if len(request.query.getall(k)) > 1})
    if repeated:
        raise InvalidRequest(
            f"query parameter(s) given more than once: {', '.join(repeated)}",
            details={"parameters": repeated},
        )
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise invalid_request(exc, "query string") from None


def invalid_request(exc: ValidationError, where: str) -> InvalidRequest:
    # The offending input is deliberately not echoed back: it may be huge or hostile.
    problems = [
        {
            "field": ".".join(str(p) for p in err["loc"]) or "(body)",
            "problem": err["msg"],
            "type": err["type"],
        }
        for err in exc.errors(include_url=False, include_input=False)
    ]
    summary = "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5])
    if len(problems) > 5:
        summary += f"; and {len(problems) - 5} more"
    return InvalidRequest(f"invalid {where}: {summary}", details={"errors": problems[:50]})


_API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
_PAGE_CSP = (
    "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare hook: runs for every response, errors and 404s included."""
    headers = response.headers
    request_id = request.get(REQUEST_ID)
    if request_id is not None:
        headers[REQUEST_ID_HEADER] = request_id
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), geolocation=(), microphone=(self)")
    if request.path.startswith("/api/") or request.path == "/status":
        headers.setdefault("Content-Security-Policy", _API_CSP)
        headers.setdefault(hdrs.CACHE_CONTROL, "no-store")
    else:
        headers.setdefault("Content-Security-Policy", _PAGE_CSP)
    services = request.app.get(SERVICES)
    if services is not None and services.settings.security.cookie_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
