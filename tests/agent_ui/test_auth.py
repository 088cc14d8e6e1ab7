"""Login, sessions (idle expiry), CSRF, bearer tokens, rate limiting, disabled users."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_ui.middlewares import CSRF_HEADER, SESSION_COOKIE
from agent_ui.sessions import MemorySessionStore
from agent_ui.wiring import setup
from contact_center.services import Services
from tests.agent_ui.conftest import PASSWORD, Caller, FakeClock

Client = TestClient[Any, Any]
Login = Callable[..., Awaitable[str]]


def session_cookie(client: Client) -> str | None:
    for cookie in client.session.cookie_jar:
        if cookie.key == SESSION_COOKIE:
            return cookie.value
    return None


async def test_given_right_password_when_logging_in_then_session_cookie_and_csrf_token(
    client: Client, agent: Caller
) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD}
    )
    assert response.status == 200
    body = await response.json()
    assert body["user"]["username"] == "agent1"
    assert body["user"]["role"] == "agent"
    assert "password_hash" not in body["user"]
    assert len(body["csrf_token"]) >= 32
    assert body["idle_timeout_seconds"] == 30 * 60
    set_cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    me = await client.get("/api/v1/auth/me")
    assert me.status == 200
    me_body = await me.json()
    assert me_body["auth"] == "session"
    assert me_body["csrf_token"] == body["csrf_token"]


async def test_given_wrong_password_when_logging_in_then_401_and_no_cookie(
    client: Client, agent: Caller
) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": "not the password"}
    )
    assert response.status == 401
    assert (await response.json())["error"] == "invalid-credentials"
    assert session_cookie(client) is None
    assert (await client.get("/api/v1/auth/me")).status == 401


async def test_given_unknown_user_when_logging_in_then_same_answer_as_wrong_password(
    client: Client, agent: Caller
) -> None:
    unknown = await client.post(
        "/api/v1/auth/login", json={"username": "nobody", "password": PASSWORD}
    )
    wrong = await client.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": "not the password"}
    )
    assert unknown.status == wrong.status == 401
    assert await unknown.json() == await wrong.json()


async def test_given_session_when_logging_out_then_cookie_no_longer_works(
    client: Client, agent: Caller, login: Login
) -> None:
    csrf = await login("agent1")
    stolen = session_cookie(client)
    response = await client.post("/api/v1/auth/logout", headers={CSRF_HEADER: csrf})
    assert response.status == 204
    assert (await client.get("/api/v1/auth/me")).status == 401
    # Even a copy of the old cookie is dead: the session is gone server-side.
    replay = await client.get("/api/v1/auth/me", cookies={SESSION_COOKIE: stolen or ""})
    assert replay.status == 401
    assert (await replay.json())["error"] == "session-expired"


async def test_given_idle_session_when_used_after_limit_then_expired(
    client: Client, agent: Caller, login: Login, clock: FakeClock
) -> None:
    await login("agent1")
    clock.advance(29 * 60)
    assert (await client.get("/api/v1/auth/me")).status == 200
    # Activity moved the idle deadline: another 29 minutes is still fine.
    clock.advance(29 * 60)
    assert (await client.get("/api/v1/auth/me")).status == 200
    clock.advance(30 * 60 + 1)
    response = await client.get("/api/v1/auth/me")
    assert response.status == 401
    assert (await response.json())["error"] == "session-expired"
    clock.advance(-3600)
    # Once expired, it is deleted: going back in time does not revive it.
    assert (await client.get("/api/v1/auth/me")).status == 401


async def test_given_session_when_unsafe_request_without_csrf_then_403_and_nothing_done(
    client: Client, agent: Caller, login: Login, services: Services
) -> None:
    await login("agent1")
    response = await client.post("/api/v1/auth/tokens", json={"name": "sneaky"})
    assert response.status == 403
    assert (await response.json())["error"] == "csrf-failed"
    wrong = await client.post(
        "/api/v1/auth/tokens", json={"name": "sneaky"}, headers={CSRF_HEADER: "guess"}
    )
    assert wrong.status == 403
    assert (await wrong.json())["error"] == "csrf-failed"
    assert [t.name for t in await services.accounts.list_tokens("agent1")] == ["tests"]


async def test_given_session_when_unsafe_request_with_csrf_then_done(
    client: Client, agent: Caller, login: Login
) -> None:
    csrf = await login("agent1")
    response = await client.post(
        "/api/v1/auth/tokens", json={"name": "crm"}, headers={CSRF_HEADER: csrf}
    )
    assert response.status == 201
    body = await response.json()
    assert body["secret"].startswith("cc_")


async def test_given_bearer_token_when_unsafe_request_then_no_csrf_needed(
    client: Client, agent: Caller
) -> None:
    response = await client.post("/api/v1/auth/tokens", json={"name": "crm"}, headers=agent.bearer)
    assert response.status == 201
    me = await client.get("/api/v1/auth/me", headers=agent.bearer)
    assert (await me.json())["auth"] == "token"
    assert "csrf_token" not in await me.json()


async def test_given_token_lifecycle_when_listed_and_revoked_then_revoked_token_refused(
    client: Client, agent: Caller
) -> None:
    created = await (
        await client.post("/api/v1/auth/tokens", json={"name": "crm"}, headers=agent.bearer)
    ).json()
    listed = await (await client.get("/api/v1/auth/tokens", headers=agent.bearer)).json()
    assert sorted(t["name"] for t in listed["items"]) == ["crm", "tests"]
    assert all("secret" not in t and "token_hash" not in t for t in listed["items"])
    token_id = created["token"]["id"]
    revoked = await client.delete(f"/api/v1/auth/tokens/{token_id}", headers=agent.bearer)
    assert revoked.status == 200
    refused = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {created['secret']}"}
    )
    assert refused.status == 401
    assert (await refused.json())["error"] == "invalid-token"


async def test_given_someone_elses_token_when_revoking_then_not_found(
    client: Client, agent: Caller, supervisor: Caller, services: Services
) -> None:
    theirs = (await services.accounts.list_tokens(supervisor.user_id))[0]
    response = await client.delete(f"/api/v1/auth/tokens/{theirs.id}", headers=agent.bearer)
    assert response.status == 404
    assert (await response.json())["error"] == "token-not-found"
    assert (await client.get("/api/v1/auth/me", headers=supervisor.bearer)).status == 200


async def test_given_malformed_authorization_when_calling_then_401(
    client: Client, agent: Caller
) -> None:
    for value in ("Basic YWdlbnQxOnB3", "Bearer", "Bearer cc_wrong", "token"):
        response = await client.get("/api/v1/auth/me", headers={"Authorization": value})
        assert response.status == 401, value
        assert (await response.json())["error"] in {"unauthenticated", "invalid-token"}


async def test_given_repeated_failures_when_logging_in_then_rate_limited_even_with_right_password(
    client: Client, agent: Caller
) -> None:
    for _ in range(3):
        failed = await client.post(
            "/api/v1/auth/login", json={"username": "agent1", "password": "wrong password"}
        )
        assert failed.status == 401
    blocked = await client.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD}
    )
    assert blocked.status == 429
    body = await blocked.json()
    assert body["error"] == "login-rate-limited"
    assert body["details"]["scope"] == "user"
    assert int(blocked.headers["Retry-After"]) > 0


async def test_given_rate_limit_when_window_passes_then_login_allowed_again(
    client: Client, agent: Caller, clock: FakeClock
) -> None:
    for _ in range(3):
        await client.post(
            "/api/v1/auth/login", json={"username": "agent1", "password": "wrong password"}
        )
    clock.advance(301)
    ok = await client.post("/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD})
    assert ok.status == 200


async def test_given_success_when_logging_in_then_earlier_failures_forgotten(
    client: Client, agent: Caller
) -> None:
    for _ in range(2):
        await client.post(
            "/api/v1/auth/login", json={"username": "agent1", "password": "wrong password"}
        )
    assert (
        await client.post("/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD})
    ).status == 200
    for _ in range(2):
        await client.post(
            "/api/v1/auth/login", json={"username": "agent1", "password": "wrong password"}
        )
    again = await client.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD}
    )
    assert again.status == 200


async def test_given_many_usernames_from_one_address_when_failing_then_address_limited(
    client: Client, agent: Caller
) -> None:
    # 3 per user, 15 per address: five users' worth of failures exhaust the address.
    for index in range(15):
        failed = await client.post(
            "/api/v1/auth/login", json={"username": f"guess{index}", "password": "wrong pass"}
        )
        assert failed.status == 401
    blocked = await client.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD}
    )
    assert blocked.status == 429
    assert (await blocked.json())["details"]["scope"] == "address"


async def test_given_disabled_user_when_logging_in_or_using_session_then_refused(
    client: Client, agent: Caller, login: Login, services: Services
) -> None:
    await login("agent1")
    # The account store itself (as the CLI calls it) ends the sessions and revokes tokens.
    await services.accounts.disable_user("agent1")
    response = await client.get("/api/v1/auth/me")
    assert response.status == 401
    assert (await response.json())["error"] == "session-expired"
    relogin = await client.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD}
    )
    assert relogin.status == 403
    assert (await relogin.json())["error"] == "account-disabled"
    token = await client.get("/api/v1/auth/me", headers=agent.bearer)
    assert token.status == 401
    assert (await token.json())["error"] == "invalid-token"
    # Enabling the user again brings back neither the session nor the token.
    await services.accounts.enable_user("agent1")
    assert (await client.get("/api/v1/auth/me")).status == 401
    assert (await client.get("/api/v1/auth/me", headers=agent.bearer)).status == 401


class SessionsThatCannotBeEnded(MemorySessionStore):
    async def delete_user(self, user_id: int) -> int:
        raise ConnectionError("session store down")


async def test_given_session_store_failing_when_disabling_then_disabled_and_session_refused(
    services: Services, agent: Caller, aiohttp_client: Any
) -> None:
    application = web.Application()
    setup(application, services, sessions=SessionsThatCannotBeEnded())
    client = await aiohttp_client(application)
    login = await client.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD}
    )
    assert login.status == 200
    # The session cannot be deleted now: disabling still succeeds, and the next request
    # with the session is refused all the same (every request re-reads the user).
    await services.accounts.disable_user("agent1")
    assert (await services.accounts.get_user("agent1")).disabled
    response = await client.get("/api/v1/auth/me")
    assert response.status == 403
    assert (await response.json())["error"] == "account-disabled"


async def test_given_password_reset_when_old_session_used_then_expired(
    client: Client, agent: Caller, login: Login, services: Services, clock: FakeClock
) -> None:
    await login("agent1")
    clock.advance(1)
    await services.accounts.set_password("agent1", "a brand new secret")
    response = await client.get("/api/v1/auth/me")
    assert response.status == 401
    assert (await response.json())["error"] == "session-expired"


async def test_given_existing_session_when_logging_in_again_then_old_session_id_dropped(
    client: Client, agent: Caller, login: Login
) -> None:
    await login("agent1")
    first = session_cookie(client)
    await login("agent1")
    second = session_cookie(client)
    assert first and second and first != second
    stale = await client.get("/api/v1/auth/me", cookies={SESSION_COOKIE: first})
    assert stale.status == 401


async def test_given_login_as_form_post_when_submitted_then_415(
    client: Client, agent: Caller
) -> None:
    # A cross-site HTML form cannot send JSON: refusing forms blocks login CSRF.
    response = await client.post(
        "/api/v1/auth/login", data={"username": "agent1", "password": PASSWORD}
    )
    assert response.status == 415
    assert (await response.json())["error"] == "unsupported-media-type"
    assert session_cookie(client) is None


async def test_given_session_when_changing_own_password_then_fresh_session_and_others_end(
    client: Client, agent: Caller, login: Login, aiohttp_client: Any, app: Any
) -> None:
    other_browser = await aiohttp_client(app)
    other = await other_browser.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD}
    )
    assert other.status == 200
    csrf = await login("agent1")
    response = await client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "my new long secret"},
        headers={CSRF_HEADER: csrf},
    )
    assert response.status == 200, await response.text()
    fresh_csrf = (await response.json())["csrf_token"]
    assert fresh_csrf != csrf
    assert (await client.get("/api/v1/auth/me")).status == 200
    assert (await other_browser.get("/api/v1/auth/me")).status == 401
    relogin = await other_browser.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": "my new long secret"}
    )
    assert relogin.status == 200


async def test_given_wrong_current_password_when_changing_then_403_and_throttled(
    client: Client, agent: Caller, services: Services
) -> None:
    for _ in range(3):
        response = await client.post(
            "/api/v1/auth/password",
            json={"current_password": "wrong password", "new_password": "my new long secret"},
            headers=agent.bearer,
        )
        assert response.status == 403
        assert (await response.json())["error"] == "wrong-current-password"
    blocked = await client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "my new long secret"},
        headers=agent.bearer,
    )
    assert blocked.status == 429
    assert (await services.accounts.verify_password("agent1", PASSWORD)).username == "agent1"


async def test_given_weak_new_password_when_changing_then_refused_and_old_kept(
    client: Client, agent: Caller, services: Services
) -> None:
    response = await client.post(
        "/api/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=agent.bearer,
    )
    assert response.status == 422
    assert (await response.json())["error"] == "weak-password"
    assert (await services.accounts.verify_password("agent1", PASSWORD)).username == "agent1"


async def test_given_mixed_case_username_when_logging_in_then_accepted(
    client: Client, agent: Caller
) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"username": "Agent1", "password": PASSWORD}
    )
    assert response.status == 200
