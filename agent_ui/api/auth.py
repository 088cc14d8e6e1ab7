"""Login, logout, "who am I", and a user's own API tokens."""

from __future__ import annotations

from aiohttp import web

from agent_ui.app_keys import LOGIN_THROTTLE, SESSIONS
from agent_ui.errors import LoginRateLimited, WrongCurrentPassword
from agent_ui.middlewares import SESSION_COOKIE, json_response
from agent_ui.request_state import body_of, path_id, principal_of, services_of
from agent_ui.schemas import LoginRequest, PasswordChange, TokenCreate
from agent_ui.sessions import NewSession, new_session, session_key
from contact_center.accounts import InvalidCredentials, User

# One address may fail this many times the per-user limit: an office NAT hides many
# agents behind one address, and a typo each must not lock the whole office out.
ADDRESS_LIMIT_FACTOR = 5


async def login(request: web.Request) -> web.StreamResponse:
    body = body_of(request, LoginRequest)
    user = await verify_login(request, body.username, body.password)
    return await start_session(request, user.to_dict(), user.id)


async def verify_login(request: web.Request, username: str, password: str) -> User:
    """The user whose password this is, with failed attempts throttled per user and per
    address (the JSON login and the HTML login form share it)."""
    services = services_of(request)
    throttle = request.app[LOGIN_THROTTLE]
    security = services.settings.security
    now = services.clock()
    user_key = f"user:{username.strip().lower()}"
    address_key = f"addr:{request.remote or 'unknown'}"
    window = float(security.login_window_seconds)

    user_attempt = await throttle.acquire(
        user_key, limit=security.login_max_attempts, window=window, now=now
    )
    if not user_attempt.allowed:
        raise LoginRateLimited(
            "too many failed logins for this user; try again later",
            details={"retry_after": round(user_attempt.retry_after, 1), "scope": "user"},
        )
    address_attempt = await throttle.acquire(
        address_key,
        limit=security.login_max_attempts * ADDRESS_LIMIT_FACTOR,
        window=window,
        now=now,
    )
    if not address_attempt.allowed:
        await throttle.forgive(user_key, user_attempt.ticket)
        raise LoginRateLimited(
            "too many failed logins from this address; try again later",
            details={"retry_after": round(address_attempt.retry_after, 1), "scope": "address"},
        )
    # A failure raises here, leaving the attempt recorded against both keys.
    user = await services.accounts.verify_password(username, password)
    await throttle.clear(user_key)
    await throttle.forgive(address_key, address_attempt.ticket)
    return user


async def start_session(
    request: web.Request, user: dict[str, object], user_id: int
) -> web.StreamResponse:
    """A new browser session for ``user_id``: cookie set, CSRF token in the body."""
    created = await open_session(request, user_id)
    idle = services_of(request).settings.security.session_idle_minutes * 60
    response = json_response(
        {"user": user, "csrf_token": created.session.csrf_token, "idle_timeout_seconds": idle}
    )
    set_session_cookie(request, response, created)
    return response


async def open_session(request: web.Request, user_id: int) -> NewSession:
    """Store a new session for ``user_id``, ending the one the browser held before."""
    services = services_of(request)
    sessions = request.app[SESSIONS]
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:
        # A fresh session id at every login: a planted cookie cannot be upgraded.
        await sessions.delete(session_key(previous))
    idle = services.settings.security.session_idle_minutes * 60
    created = new_session(user_id, now=services.clock())
    await sessions.save(created.session, idle_seconds=idle)
    return created


def set_session_cookie(
    request: web.Request, response: web.StreamResponse, created: NewSession
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        created.secret,
        httponly=True,
        secure=services_of(request).settings.security.cookie_secure,
        samesite="Lax",
        path="/",
    )


async def logout(request: web.Request) -> web.StreamResponse:
    principal = principal_of(request)
    if principal.session is not None:
        await request.app[SESSIONS].delete(principal.session.key)
    response = web.Response(status=204)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.StreamResponse:
    principal = principal_of(request)
    services = services_of(request)
    data: dict[str, object] = {"user": principal.user.to_dict(), "auth": principal.via}
    if principal.session is not None:
        data["csrf_token"] = principal.session.csrf_token
        data["idle_timeout_seconds"] = services.settings.security.session_idle_minutes * 60
    if principal.token is not None:
        data["token"] = principal.token.to_dict()
    return json_response(data)


async def create_token(request: web.Request) -> web.StreamResponse:
    principal = principal_of(request)
    body = body_of(request, TokenCreate)
    services = services_of(request)
    token_days = services.settings.security.token_days
    issued = await services.accounts.issue_token(
        principal.user.id,
        body.name,
        days=min(body.expires_in_days or token_days, token_days),
    )
    return json_response(
        {
            "token": issued.token.to_dict(),
            "secret": issued.secret,
            "note": "the secret is shown once; store it now",
        },
        status=201,
    )


async def list_tokens(request: web.Request) -> web.StreamResponse:
    principal = principal_of(request)
    tokens = await services_of(request).accounts.list_tokens(principal.user.id)
    return json_response({"items": [t.to_dict() for t in tokens]})


async def revoke_token(request: web.Request) -> web.StreamResponse:
    principal = principal_of(request)
    token = await services_of(request).accounts.revoke_token(
        path_id(request, "token_id"), user_id=principal.user.id
    )
    return json_response(token.to_dict())


async def change_password(request: web.Request) -> web.StreamResponse:
    """Change one's own password (the current one is required, and throttled like a login).

    Every session of the user ends (the account store's revocation listener); a browser
    caller gets a fresh session at once. Their API tokens are kept: the caller proved the
    current password, and may revoke tokens one by one.
    """
    services = services_of(request)
    throttle = request.app[LOGIN_THROTTLE]
    principal = principal_of(request)
    body = body_of(request, PasswordChange)
    security = services.settings.security
    key = f"user:{principal.user.username}"
    attempt = await throttle.acquire(
        key,
        limit=security.login_max_attempts,
        window=float(security.login_window_seconds),
        now=services.clock(),
    )
    if not attempt.allowed:
        raise LoginRateLimited(
            "too many wrong passwords for this user; try again later",
            details={"retry_after": round(attempt.retry_after, 1), "scope": "user"},
        )
    try:
        await services.accounts.verify_password(principal.user.username, body.current_password)
    except InvalidCredentials:
        # Not 401: the caller is still logged in, only this password was wrong.
        raise WrongCurrentPassword("the current password is wrong") from None
    await throttle.clear(key)
    await services.accounts.set_password(principal.user.id, body.new_password, revoke_tokens=False)
    user = await services.accounts.get_user(principal.user.id)
    if principal.via == "session":
        return await start_session(request, user.to_dict(), user.id)
    return json_response({"user": user.to_dict()})
