"""Agent state over the API: an agent's own, a supervisor's on anyone, agents created
while the server runs, and the router's refusals as clear errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_ui.wiring import setup
from contact_center.agent_state import register_agents
from contact_center.services import Services
from routing.wiring import build_routing
from tests.agent_ui.conftest import Caller

Client = TestClient[Any, Any]


class Events:
    def __init__(self) -> None:
        self.names: list[str] = []

    async def publish(self, events: Any) -> None:
        self.names.extend(e.name for e in events)


@pytest.fixture
async def routed(services: Services) -> AsyncIterator[Services]:
    settings = services.settings.model_copy(
        update={"routing": {"queues": {"support": {"channels": ["voice"]}}}}
    )
    services.settings = settings
    services.routing = build_routing(settings, sink=Events(), clock=services.clock)
    await services.routing.start()
    try:
        yield services
    finally:
        await services.routing.close()


@pytest.fixture
def app(routed: Services) -> web.Application:
    application = web.Application()
    setup(application, routed)
    return application


def bearer(caller: Caller) -> dict[str, str]:
    return {"Authorization": f"Bearer {caller.token}"}


async def test_given_an_agent_when_going_ready_then_the_router_says_ready(
    client: Client, agent: Caller, routed: Services
) -> None:
    await register_agents(routed)
    before = await client.get("/api/v1/agents/me/state", headers=bearer(agent))
    assert before.status == 200
    assert (await before.json())["state"] == "offline"
    response = await client.put(
        "/api/v1/agents/me/state", json={"state": "ready"}, headers=bearer(agent)
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["state"] == "ready" and body["agent_id"] == str(agent.user_id)
    assert body["queues"] == ["support"] and body["extension"] == "1001"
    assert (await routed.routing.describe_agent(str(agent.user_id)))["state"] == "ready"


async def test_given_an_agent_added_while_running_then_it_can_go_ready_at_once(
    client: Client, make_user: Callable[..., Awaitable[Caller]], routed: Services
) -> None:
    await register_agents(routed)  # start-up: nobody yet
    late = await make_user("late", "agent", extension="1009")
    response = await client.put(
        "/api/v1/agents/me/state", json={"state": "ready"}, headers=bearer(late)
    )
    assert response.status == 200, await response.text()
    assert routed.directory is None or routed.directory.get(str(late.user_id)) == "1009"


async def test_given_not_ready_then_a_configured_reason_is_needed(
    client: Client, agent: Caller
) -> None:
    unknown = await client.put(
        "/api/v1/agents/me/state",
        json={"state": "not_ready", "reason": "nap"},
        headers=bearer(agent),
    )
    assert unknown.status == 422
    assert (await unknown.json())["error"] == "unknown-not-ready-reason"
    lunch = await client.put(
        "/api/v1/agents/me/state",
        json={"state": "not_ready", "reason": "lunch"},
        headers=bearer(agent),
    )
    body = await lunch.json()
    assert lunch.status == 200 and body["state"] == "not_ready" and body["reason"] == "lunch"


async def test_given_a_supervisor_then_they_set_an_agents_state_and_agents_cannot(
    client: Client, agent: Caller, supervisor: Caller, make_user: Callable[..., Awaitable[Caller]]
) -> None:
    other = await make_user("agent2", "agent")
    path = f"/api/v1/agents/{agent.user_id}/state"
    assert (await client.put(path, json={"state": "ready"}, headers=bearer(other))).status == 403
    response = await client.put(
        path, json={"state": "not_ready", "reason": "training"}, headers=bearer(supervisor)
    )
    assert response.status == 200, await response.text()
    seen = await client.get(path, headers=bearer(supervisor))
    assert (await seen.json())["reason"] == "training"


async def test_given_a_non_agent_then_the_state_endpoints_say_so(
    client: Client, supervisor: Caller
) -> None:
    response = await client.get(
        f"/api/v1/agents/{supervisor.user_id}/state", headers=bearer(supervisor)
    )
    assert response.status == 409
    assert (await response.json())["error"] == "not-an-agent"
    mine = await client.get("/api/v1/agents/me/state", headers=bearer(supervisor))
    assert mine.status == 403  # the own-state endpoints are for agents
