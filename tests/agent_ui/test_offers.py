"""Accepting and declining offers over the API: an agent's own chat or email offer only,
the one missed-offer rule (declined: back to its place, the agent NOT_READY), calls
answered on the phone, and refusals with stable error ids."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_ui.wiring import setup
from contact_center.app import SERVICES
from contact_center.services import Services
from cti.simulator.pbx import PhoneMode, SimulatedPbx
from routing.model import CustomerContext
from tests.agent_ui.conftest import PASSWORD, Caller

Client = TestClient[Any, Any]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    # A file: the history recorder and the agent state log write from their own tasks,
    # which one shared in-memory connection cannot take.
    return f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}"


@pytest.fixture
def app(routed_services: Services) -> web.Application:
    application = web.Application()
    setup(application, routed_services)
    return application


async def go_ready(client: Client, caller: Caller) -> None:
    response = await client.put(
        "/api/v1/agents/me/state", json={"state": "ready"}, headers=caller.bearer
    )
    assert response.status == 200, await response.text()


async def offered_to(services: Services, contact_id: str, channel: str, agent: Caller) -> None:
    assert services.routing is not None
    await services.routing.enqueue(contact_id, channel, "support", CustomerContext())
    contact = await services.routing.describe_contact(contact_id)
    assert (contact["state"], contact["agent_id"]) == ("offered", str(agent.user_id))


async def test_given_a_chat_offered_to_me_when_i_accept_then_it_is_connected(
    client: Client, agent: Caller, routed_services: Services
) -> None:
    await go_ready(client, agent)
    await offered_to(routed_services, "chat-1", "chat", agent)
    response = await client.post("/api/v1/offers/chat-1/accept", headers=agent.bearer)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["contact"]["state"] == "connected"
    assert body["contact"]["agent_id"] == str(agent.user_id)
    assert body["agent"]["state"] == "ready"
    assert body["agent"]["active"] == {"chat-1": "chat"}


async def test_given_an_email_offered_to_me_when_declined_then_it_keeps_its_place_and_i_missed_it(
    client: Client,
    agent: Caller,
    make_user: Callable[..., Awaitable[Caller]],
    routed_services: Services,
) -> None:
    assert routed_services.routing is not None
    await go_ready(client, agent)
    await offered_to(routed_services, "email-1", "email", agent)
    await routed_services.routing.enqueue("email-2", "email", "support", CustomerContext())
    response = await client.post("/api/v1/offers/email-1/decline", headers=agent.bearer)
    assert response.status == 200, await response.text()
    body = await response.json()
    assert (body["agent"]["state"], body["agent"]["reason"]) == ("not_ready", "missed-offer")
    assert body["contact"]["state"] == "queued"
    # Back at the head of its queue: the next agent gets it before the later one.
    waiting = await routed_services.routing.describe_contact("email-1")
    assert waiting["position"] == 1
    other = await make_user("agent2", "agent")
    await go_ready(client, other)
    assert (await routed_services.routing.describe_contact("email-1"))["agent_id"] == str(
        other.user_id
    )


async def test_given_someone_elses_offer_then_accept_and_decline_are_refused_as_gone(
    client: Client,
    agent: Caller,
    make_user: Callable[..., Awaitable[Caller]],
    routed_services: Services,
) -> None:
    await go_ready(client, agent)
    await offered_to(routed_services, "chat-1", "chat", agent)
    other = await make_user("agent2", "agent")
    for action in ("accept", "decline"):
        response = await client.post(f"/api/v1/offers/chat-1/{action}", headers=other.bearer)
        assert response.status == 409
        assert (await response.json())["error"] == "offer-gone"
    assert routed_services.routing is not None
    still = await routed_services.routing.describe_contact("chat-1")
    assert (still["state"], still["agent_id"]) == ("offered", str(agent.user_id))


async def test_given_an_offer_already_accepted_then_a_second_accept_is_gone(
    client: Client, agent: Caller, routed_services: Services
) -> None:
    await go_ready(client, agent)
    await offered_to(routed_services, "chat-1", "chat", agent)
    assert (await client.post("/api/v1/offers/chat-1/accept", headers=agent.bearer)).status == 200
    again = await client.post("/api/v1/offers/chat-1/accept", headers=agent.bearer)
    assert again.status == 409 and (await again.json())["error"] == "offer-gone"
    late = await client.post("/api/v1/offers/chat-1/decline", headers=agent.bearer)
    assert late.status == 409 and (await late.json())["error"] == "offer-gone"


async def test_given_an_unknown_contact_then_404(client: Client, agent: Caller) -> None:
    response = await client.post("/api/v1/offers/chat-404/accept", headers=agent.bearer)
    assert response.status == 404
    assert (await response.json())["error"] == "no-such-contact"


async def test_given_a_call_offered_to_me_then_the_console_says_to_answer_on_the_phone(
    client: Client, agent: Caller, routed_services: Services
) -> None:
    await go_ready(client, agent)
    await offered_to(routed_services, "call-pbx:1.1", "voice", agent)
    response = await client.post("/api/v1/offers/call-pbx:1.1/accept", headers=agent.bearer)
    assert response.status == 409
    assert (await response.json())["error"] == "answer-on-phone"
    assert routed_services.routing is not None
    assert (await routed_services.routing.describe_contact("call-pbx:1.1"))["state"] == "offered"


async def test_given_a_supervisor_or_no_login_then_offers_are_refused(
    client: Client, supervisor: Caller, admin: Caller
) -> None:
    for caller in (supervisor, admin):
        response = await client.post("/api/v1/offers/chat-1/accept", headers=caller.bearer)
        assert response.status == 403
    assert (await client.post("/api/v1/offers/chat-1/decline")).status == 401


async def test_given_a_malformed_contact_id_then_no_route_matches(
    client: Client, agent: Caller
) -> None:
    response = await client.post("/api/v1/offers/%20bad/accept", headers=agent.bearer)
    assert response.status == 404
    long_id = "c" * 200
    response = await client.post(f"/api/v1/offers/{long_id}/accept", headers=agent.bearer)
    assert response.status == 404


# -- auto-accept on the simulated PBX ----------------------------------------------------


async def phone_login(client: Client, username: str) -> dict[str, str]:
    login = await client.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
    )
    assert login.status == 200, await login.text()
    return {"X-CSRF-Token": (await login.json())["csrf_token"]}


async def test_given_an_agent_auto_accepting_calls_then_their_phone_answers_by_itself(
    phone_stack: tuple[web.Application, SimulatedPbx, Client],
) -> None:
    app, pbx, client = phone_stack
    services = app[SERVICES]
    alice = await services.accounts.get_user("alice")
    pbx.set_phone("1001", PhoneMode.MANUAL)  # nobody there to pick up by hand
    admin = await phone_login(client, "root")
    routing = await client.put(
        f"/api/v1/agents/{alice.id}/routing", json={"auto_accept": ["voice"]}, headers=admin
    )
    assert routing.status == 200, await routing.text()
    await client.post("/api/v1/auth/logout", headers=admin)
    mine = await phone_login(client, "alice")
    ready = await client.put("/api/v1/agents/me/state", json={"state": "ready"}, headers=mine)
    assert ready.status == 200, await ready.text()

    connected = services.bus.subscribe(["contact.connected"])
    call_id = await pbx.place_call("+44 20 7946 0018", queue="support")
    assert await pbx.wait_call_state(call_id, ("connected",), timeout=10) == "connected"
    answered = await connected.get(timeout=10)
    # The product set the variable on the caller's channel, then redirected it.
    names = [action.get("Action").lower() for action in pbx.actions]
    setvar = names.index("setvar")
    assert names[setvar + 1] == "redirect"
    assert pbx.actions[setvar].get("Variable") == "CC_AUTO_ANSWER"
    assert services.routing is not None
    assert answered.to_dict()["agent_id"] == str(alice.id)
    me = await services.routing.describe_agent(str(alice.id))
    assert me["active"] == {answered.to_dict()["contact_id"]: "voice"}


async def test_given_an_agent_without_auto_accept_then_the_phone_rings_for_a_human(
    phone_stack: tuple[web.Application, SimulatedPbx, Client],
) -> None:
    _app, pbx, client = phone_stack
    pbx.set_phone("1001", PhoneMode.MANUAL)
    mine = await phone_login(client, "alice")
    ready = await client.put("/api/v1/agents/me/state", json={"state": "ready"}, headers=mine)
    assert ready.status == 200
    call_id = await pbx.place_call("+44 20 7946 0018", queue="support")
    assert await pbx.wait_call_state(call_id, ("ringing",), timeout=10) == "ringing"
    assert "setvar" not in [action.get("Action").lower() for action in pbx.actions]
    await pbx.answer("1001")
    assert await pbx.wait_call_state(call_id, ("connected",), timeout=10) == "connected"


async def test_given_a_call_ringing_for_me_when_i_decline_it_then_the_phone_stops_and_i_miss_it(
    phone_stack: tuple[web.Application, SimulatedPbx, Client],
) -> None:
    app, pbx, client = phone_stack
    services = app[SERVICES]
    alice = await services.accounts.get_user("alice")
    pbx.set_phone("1001", PhoneMode.MANUAL)
    mine = await phone_login(client, "alice")
    ready = await client.put("/api/v1/agents/me/state", json={"state": "ready"}, headers=mine)
    assert ready.status == 200
    call_id = await pbx.place_call("+44 20 7946 0018", queue="support")
    assert await pbx.wait_call_state(call_id, ("ringing",), timeout=10) == "ringing"
    contact_id = f"call-simulated:{call_id}"
    declined = await client.post(f"/api/v1/offers/{contact_id}/decline", headers=mine)
    assert declined.status == 200, await declined.text()
    assert "hangup" in [action.get("Action").lower() for action in pbx.actions]
    assert await pbx.wait_call_state(call_id, ("holding",), timeout=10) == "holding"
    assert services.routing is not None
    me = await services.routing.describe_agent(str(alice.id))
    assert (me["state"], me["reason"]) == ("not_ready", "missed-offer")
    again = await client.post(f"/api/v1/offers/{contact_id}/decline", headers=mine)
    assert again.status == 409
    assert (await again.json())["error"] == "offer-gone"
