"""User administration over HTTP (admins only)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from agent_ui.middlewares import CSRF_HEADER
from contact_center.services import Services
from tests.agent_ui.conftest import PASSWORD, Caller

Client = TestClient[Any, Any]
Login = Callable[..., Awaitable[str]]


async def test_given_admin_when_creating_user_then_listed_and_can_log_in(
    client: Client, admin: Caller
) -> None:
    response = await client.post(
        "/api/v1/users",
        json={"username": "new.agent", "password": "a fine long password", "role": "agent",
              "display_name": "New Agent", "extension": "2001", "language": "zh-CN"},
        headers=admin.bearer,
    )  # fmt: skip
    assert response.status == 201, await response.text()
    created = await response.json()
    assert created["extension"] == "2001" and created["language"] == "zh-CN"
    listed = await (await client.get("/api/v1/users", headers=admin.bearer)).json()
    assert "new.agent" in [u["username"] for u in listed["items"]]
    login = await client.post(
        "/api/v1/auth/login", json={"username": "new.agent", "password": "a fine long password"}
    )
    assert login.status == 200


async def test_given_bad_user_fields_when_creating_then_clear_errors(
    client: Client, admin: Caller, services: Services
) -> None:
    cases = [
        ({"username": "x", "password": PASSWORD}, "invalid-input"),
        ({"username": "Bad Name", "password": PASSWORD}, "invalid-account"),
        ({"username": "ok.name", "password": "short"}, "weak-password"),
        ({"username": "ok.name", "password": PASSWORD, "role": "root"}, "invalid-input"),
        ({"username": "ok.name", "password": PASSWORD, "extension": "12ab"}, "invalid-input"),
        ({"username": "ok.name", "password": PASSWORD, "is_admin": True}, "invalid-input"),
        ({"username": "admin1", "password": PASSWORD}, "user-exists"),
    ]
    for body, error in cases:
        response = await client.post("/api/v1/users", json=body, headers=admin.bearer)
        assert 400 <= response.status < 500
        assert (await response.json())["error"] == error, body
    assert [u.username for u in await services.accounts.list_users()] == ["admin1"]


async def test_given_user_when_role_changed_then_new_rights_apply_at_once(
    client: Client, admin: Caller, agent: Caller
) -> None:
    assert (await client.get("/api/v1/audit", headers=agent.bearer)).status == 403
    response = await client.patch(
        f"/api/v1/users/{agent.user_id}", json={"role": "supervisor"}, headers=admin.bearer
    )
    assert response.status == 200
    assert (await response.json())["role"] == "supervisor"
    assert (await client.get("/api/v1/audit", headers=agent.bearer)).status == 200


async def test_given_logged_in_user_when_disabled_then_session_and_tokens_refused(
    client: Client, admin: Caller, agent: Caller, login: Login
) -> None:
    await login("agent1")
    assert (await client.get("/api/v1/auth/me")).status == 200
    response = await client.patch(
        f"/api/v1/users/{agent.user_id}", json={"disabled": True}, headers=admin.bearer
    )
    assert response.status == 200 and (await response.json())["disabled"] is True
    assert (await client.get("/api/v1/auth/me")).status == 401
    refused = await client.get("/api/v1/auth/me", headers=agent.bearer)
    assert refused.status == 401 and (await refused.json())["error"] == "invalid-token"
    enabled = await client.patch(
        f"/api/v1/users/{agent.user_id}", json={"disabled": False}, headers=admin.bearer
    )
    assert (await enabled.json())["disabled"] is False
    # Enabling the user does not bring the revoked token back to life.
    assert (await client.get("/api/v1/auth/me", headers=agent.bearer)).status == 401
    listed = await client.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD}
    )
    assert listed.status == 200
    tokens = await (await client.get("/api/v1/auth/tokens")).json()
    assert tokens["items"] == []


async def test_given_last_admin_when_disabling_or_demoting_self_then_refused(
    client: Client, admin: Caller, make_user: Callable[..., Awaitable[Caller]]
) -> None:
    for body in ({"disabled": True}, {"role": "agent"}):
        response = await client.patch(
            f"/api/v1/users/{admin.user_id}", json=body, headers=admin.bearer
        )
        assert response.status == 409
        assert (await response.json())["error"] == "last-admin"
    await make_user("admin2", "admin")
    demoted = await client.patch(
        f"/api/v1/users/{admin.user_id}", json={"role": "agent"}, headers=admin.bearer
    )
    assert demoted.status == 200


async def test_given_password_reset_by_admin_then_sessions_end_and_new_password_works(
    client: Client, admin: Caller, agent: Caller, login: Login
) -> None:
    await login("agent1")
    response = await client.post(
        f"/api/v1/users/{agent.user_id}/password",
        json={"password": "reset by the admin"},
        headers=admin.bearer,
    )
    assert response.status == 200
    assert (await response.json())["sessions_ended"] == 1
    assert (await client.get("/api/v1/auth/me")).status == 401
    relogin = await client.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": "reset by the admin"}
    )
    assert relogin.status == 200


async def test_given_admin_session_when_changing_users_then_csrf_required(
    client: Client, admin: Caller, agent: Caller, login: Login, services: Services
) -> None:
    csrf = await login("admin1")
    refused = await client.patch(f"/api/v1/users/{agent.user_id}", json={"role": "admin"})
    assert refused.status == 403
    assert (await services.accounts.get_user(agent.user_id)).role.value == "agent"
    accepted = await client.patch(
        f"/api/v1/users/{agent.user_id}", json={"role": "admin"}, headers={CSRF_HEADER: csrf}
    )
    assert accepted.status == 200


async def test_given_unknown_user_then_404(client: Client, admin: Caller) -> None:
    response = await client.get("/api/v1/users/4242", headers=admin.bearer)
    assert response.status == 404
    assert (await response.json())["error"] == "user-not-found"
