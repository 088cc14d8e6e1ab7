"""``/login`` and ``/logout``: the HTML login form and logging out, without JavaScript.

Login CSRF: a login form posted from another site could log a victim's browser into
the attacker's account. Two checks refuse it (docs/security.md, "Login form"):

* a token bound to a pre-session cookie: ``GET /login`` sets ``cc_login`` (random,
  HttpOnly, SameSite=Strict, path ``/login``) and puts the same value in the form;
  the POST must carry both, equal (compared in constant time);
* the ``Origin`` header, when the browser sends one (every current browser does on a
  POST), must be this server.

Logging out is a form POST too; it carries the session's CSRF token as a field
(a plain form cannot send the ``X-CSRF-Token`` header), checked here.
"""

from __future__ import annotations

import secrets

from aiohttp import web
from yarl import URL

from agent_ui.api.auth import open_session, set_session_cookie, verify_login
from agent_ui.app_keys import PRINCIPAL, SESSIONS
from agent_ui.errors import LoginRateLimited
from agent_ui.middlewares import SESSION_COOKIE, authenticate
from agent_ui.pages import gettext_for, render_page
from agent_ui.request_state import services_of
from contact_center.accounts import AccountDisabled, InvalidCredentials, Role, User
from contact_center.errors import AppError

LOGIN_COOKIE = "cc_login"
LOGIN_COOKIE_SECONDS = 3600
MAX_FORM_BYTES = 8 * 1024
MAX_FIELD_LENGTH = 1024
# Where each role starts after logging in (a page of its own console).
START_PAGES = {Role.AGENT: "/console", Role.SUPERVISOR: "/customers", Role.ADMIN: "/customers"}


def redirect(location: str) -> web.Response:
    """A 303 See Other: after a form POST the browser GETs ``location``."""
    return web.Response(status=303, headers={"Location": location})


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this server, else None: never an open redirect."""
    if not target or len(target) > 2000 or not target.startswith("/"):
        return None
    # "//host" and "/\\host" are other sites to a browser.
    if target.startswith(("//", "/\\")) or any(c in target for c in "\r\n\t\\"):
        return None
    if target.startswith(("/login", "/logout", "/api/")):
        return None
    return target


def start_page(user: User, next_target: str | None) -> str:
    return safe_next(next_target) or START_PAGES.get(user.role, "/customers")


def _login_page(
    request: web.Request,
    *,
    error: str | None = None,
    username: str = "",
    next_target: str | None = None,
    status: int = 200,
) -> web.Response:
    token = secrets.token_urlsafe(32)
    response = render_page(
        request,
        "login.html",
        status=status,
        login_token=token,
        error=error,
        username=username,
        next_target=safe_next(next_target) or "",
        lang=request.query.get("lang", ""),
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=LOGIN_COOKIE_SECONDS,
        httponly=True,
        samesite="Strict",
        path="/login",
        secure=services_of(request).settings.security.cookie_secure,
    )
    return response


async def _current_user(request: web.Request) -> User | None:
    try:
        principal = await authenticate(request)
    except AppError:
        return None
    request[PRINCIPAL] = principal
    return principal.user


async def login_page(request: web.Request) -> web.StreamResponse:
    next_target = request.query.get("next")
    user = await _current_user(request)
    if user is not None:
        # Already logged in: straight on.
        raise web.HTTPFound(start_page(user, next_target))
    return _login_page(request, next_target=next_target)


def same_origin(request: web.Request) -> bool:
    """False when the browser says the request comes from another site: its
    ``Sec-Fetch-Site`` or its ``Origin`` (browsers send at least one on a POST)."""
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    return URL(origin).raw_authority == request.host


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        return {}
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {}
    data = await request.post()
    return {
        key: value[:MAX_FIELD_LENGTH]
        for key, value in data.items()
        if isinstance(key, str) and isinstance(value, str)
    }


async def login_submit(request: web.Request) -> web.StreamResponse:
    _ = gettext_for(request)
    form = await _form(request)
    username = form.get("username", "").strip()
    next_target = form.get("next")
    cookie = request.cookies.get(LOGIN_COOKIE, "")
    supplied = form.get("login_token", "")
    if (
        not same_origin(request)
        or not cookie
        or not secrets.compare_digest(cookie.encode(), supplied.encode())
    ):
        return _login_page(
            request,
            error=_("This login form has expired. Please log in again."),
            username=username,
            next_target=next_target,
            status=403,
        )
    if not username or not form.get("password"):
        return _login_page(
            request,
            error=_("Enter your username and password."),
            username=username,
            next_target=next_target,
            status=400,
        )
    try:
        user = await verify_login(request, username, form["password"])
    except InvalidCredentials:
        return _login_page(
            request,
            error=_("Wrong username or password."),
            username=username,
            next_target=next_target,
            status=401,
        )
    except AccountDisabled:
        return _login_page(
            request,
            error=_("This account is disabled. Ask an administrator."),
            username=username,
            next_target=next_target,
            status=403,
        )
    except LoginRateLimited as exc:
        minutes = max(1, round(float(exc.details.get("retry_after", 60)) / 60))
        return _login_page(
            request,
            error=_("Too many failed logins. Try again in %(minutes)d min.") % {"minutes": minutes},
            username=username,
            next_target=next_target,
            status=429,
        )
    created = await open_session(request, user.id)
    response = redirect(start_page(user, next_target))
    set_session_cookie(request, response, created)
    response.del_cookie(LOGIN_COOKIE, path="/login")
    return response


async def logout_submit(request: web.Request) -> web.StreamResponse:
    """End this browser's session (form POST with the session's CSRF token)."""
    response = redirect("/login")
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        form = await _form(request)
        try:
            principal = await authenticate(request)
        except AppError:
            principal = None
        if principal is not None and principal.session is not None:
            supplied = form.get("csrf_token", "")
            if not same_origin(request) or not secrets.compare_digest(
                supplied.encode(), principal.session.csrf_token.encode()
            ):
                # Not this user's own page asking: a cross-site logout is refused.
                raise web.HTTPForbidden(text="log out from the page's own button")
            await request.app[SESSIONS].delete(principal.session.key)
    response.del_cookie(SESSION_COOKIE, path="/")
    return response
