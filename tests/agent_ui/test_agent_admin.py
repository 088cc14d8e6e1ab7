"""Agent administration: an admin reads and replaces an agent's queues, skills, routing
profile and auto-accept channels; the router follows at its next decision, and a
restart keeps it. Agents created while the server runs log in to the router at once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_ui.wiring import setup
from contact_center.agent_state import register_agents
from contact_center.services import Services
from routing.model import CustomerContext
from routing.ports import ListEventSink
from routing.wiring import build_routing
from tests.agent_ui.conftest import PASSWORD, Caller

Client = TestClient[Any, Any]

SALES_CHAT = {
    "queues": ["sales"],
    "skills": {"english": 3},
    "profile": "chat_only",
    "auto_accept": ["chat"],
}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    # A file for SQLite: the history recorder and the agent state log write from their
    # own tasks, which one shared in-memory connection cannot take.
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def app(routed_services: Services) -> web.Application:
    application = web.Application()
    setup(application, routed_services)
    return application


def path(caller: Caller) -> str:
    return f"/api/v1/agents/{caller.user_id}/routing"


async def test_given_an_agent_without_settings_then_the_defaults_are_shown(
    client: Client, agent: Caller, admin: Caller
) -> None:
    response = await client.get(path(agent), headers=admin.bearer)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["source"] == "default"
    assert (body["queues"], body["skills"], body["profile"], body["auto_accept"]) == (
        None,
        {},
        None,
        None,
    )
    assert body["effective"] == {
        "queues": ["support", "sales"],
        "profile": "default",
        "auto_accept": [],
    }


async def test_given_new_routing_then_the_next_decision_follows_it(
    client: Client, agent: Caller, admin: Caller, routed_services: Services
) -> None:
    assert routed_services.routing is not None
    response = await client.put(path(agent), json=SALES_CHAT, headers=admin.bearer)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["source"] == "admin"
    assert body["effective"]["queues"] == ["sales"]
    shown = await routed_services.routing.describe_agent(str(agent.user_id))
    assert (shown["queues"], shown["skills"], shown["profile"], shown["auto_accept"]) == (
        ["sales"],
        {"english": 3},
        "chat_only",
        ["chat"],
    )
    ready = await client.put(
        "/api/v1/agents/me/state", json={"state": "ready"}, headers=agent.bearer
    )
    assert ready.status == 200
    # Not their queue any more: a support chat waits; a sales chat is theirs at once.
    await routed_services.routing.enqueue("chat-1", "chat", "support", CustomerContext())
    assert (await routed_services.routing.describe_contact("chat-1"))["state"] == "queued"
    await routed_services.routing.enqueue("chat-2", "chat", "sales", CustomerContext())
    taken = await routed_services.routing.describe_contact("chat-2")
    assert (taken["state"], taken["agent_id"]) == ("connected", str(agent.user_id))
    # Going ready again registers them with what the admin set, not the defaults.
    again = await client.get("/api/v1/agents/me/state", headers=agent.bearer)
    assert (await again.json())["queues"] == ["sales"]


async def test_given_saved_routing_when_the_router_restarts_then_it_is_kept(
    client: Client, agent: Caller, admin: Caller, routed_services: Services
) -> None:
    response = await client.put(path(agent), json=SALES_CHAT, headers=admin.bearer)
    assert response.status == 200
    fresh = build_routing(
        routed_services.settings, sink=ListEventSink(), clock=routed_services.clock
    )
    await fresh.start()
    try:
        routed_services.routing, old = fresh, routed_services.routing
        await register_agents(routed_services)
        shown = await fresh.describe_agent(str(agent.user_id))
        assert (shown["queues"], shown["profile"], shown["auto_accept"]) == (
            ["sales"],
            "chat_only",
            ["chat"],
        )
    finally:
        routed_services.routing = old
        await fresh.close()
    kept = await client.get(path(agent), headers=admin.bearer)
    assert (await kept.json())["skills"] == {"english": 3}


async def test_given_defaults_asked_for_then_null_means_every_queue_and_the_default_channels(
    client: Client, agent: Caller, admin: Caller, routed_services: Services
) -> None:
    await client.put(path(agent), json=SALES_CHAT, headers=admin.bearer)
    response = await client.put(path(agent), json={}, headers=admin.bearer)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["queues"], body["auto_accept"], body["profile"]) == (None, None, None)
    assert body["effective"]["queues"] == ["support", "sales"]
    assert routed_services.routing is not None
    shown = await routed_services.routing.describe_agent(str(agent.user_id))
    assert (shown["profile"], shown["auto_accept"]) == ("default", None)


async def test_given_a_profile_change_while_holding_a_contact_then_refused_and_nothing_kept(
    client: Client, agent: Caller, admin: Caller, routed_services: Services
) -> None:
    assert routed_services.routing is not None
    await client.put("/api/v1/agents/me/state", json={"state": "ready"}, headers=agent.bearer)
    await routed_services.routing.enqueue("chat-1", "chat", "support", CustomerContext())
    response = await client.put(path(agent), json=SALES_CHAT, headers=admin.bearer)
    assert response.status == 409
    assert (await response.json())["error"] == "agent-has-contacts"
    kept = await client.get(path(agent), headers=admin.bearer)
    assert (await kept.json())["source"] == "default"


async def test_given_bad_routing_then_refused_with_stable_ids(
    client: Client, agent: Caller, admin: Caller
) -> None:
    for body, error in (
        ({"queues": ["nowhere"]}, "no-such-queue"),
        ({"profile": "nope"}, "no-such-routing-profile"),
        ({"skills": {"english": 6}}, "invalid-input"),
        ({"skills": {"bad skill": 2}}, "invalid-input"),
        ({"auto_accept": ["fax"]}, "invalid-input"),
        ({"queues": "sales"}, "invalid-input"),
        ({"extra": True}, "invalid-input"),
    ):
        response = await client.put(path(agent), json=body, headers=admin.bearer)
        assert response.status == 422, body
        assert (await response.json())["error"] == error, body


async def test_given_not_an_admin_or_not_an_agent_then_refused(
    client: Client, agent: Caller, supervisor: Caller, admin: Caller
) -> None:
    for caller in (agent, supervisor):
        assert (await client.get(path(agent), headers=caller.bearer)).status == 403
        response = await client.put(path(agent), json={}, headers=caller.bearer)
        assert response.status == 403
    not_agent = await client.put(path(supervisor), json={}, headers=admin.bearer)
    assert not_agent.status == 409
    assert (await not_agent.json())["error"] == "not-an-agent"
    missing = await client.get("/api/v1/agents/999999/routing", headers=admin.bearer)
    assert missing.status == 404


async def test_given_an_agent_created_over_the_api_then_they_go_ready_at_once(
    client: Client,
    admin: Caller,
    routed_services: Services,
    make_user: Callable[..., Awaitable[Caller]],
) -> None:
    await register_agents(routed_services)  # start-up: nobody yet
    created = await client.post(
        "/api/v1/users",
        json={"username": "newbie", "password": PASSWORD, "role": "agent", "extension": "1077"},
        headers=admin.bearer,
    )
    assert created.status == 201, await created.text()
    login = await client.post(
        "/api/v1/auth/login", json={"username": "newbie", "password": PASSWORD}
    )
    csrf = {"X-CSRF-Token": (await login.json())["csrf_token"]}
    ready = await client.put("/api/v1/agents/me/state", json={"state": "ready"}, headers=csrf)
    assert ready.status == 200, await ready.text()
    user_id = (await created.json())["id"]
    assert routed_services.routing is not None
    shown = await routed_services.routing.describe_agent(str(user_id))
    assert shown["state"] == "ready" and shown["queues"] == ["sales", "support"]
