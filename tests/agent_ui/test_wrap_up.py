"""Wrap-up over the API: dispositions of the contact's queue (required where configured),
notes, saved onto the customer's interaction at once and published to every console
showing that customer; finishing ends wrap-up so the agent is available again; a
call on the simulated PBX wrapped up end to end."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_ui.wiring import setup
from contact_center.app import SERVICES
from contact_center.services import SYSTEM, Services
from contact_center.wrap_up import ContactWrappedUp
from cti.simulator.pbx import SimulatedPbx
from routing.model import CustomerContext
from tests.agent_ui.conftest import PASSWORD, Caller, FakeClock

Client = TestClient[Any, Any]


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


async def customer(services: Services, name: str = "Ann Lee") -> int:
    created = await services.profiles.create_customer({"display_name": name}, [], actor=SYSTEM)
    return int(created["id"])


async def served(
    client: Client,
    services: Services,
    agent: Caller,
    contact_id: str,
    *,
    channel: str = "chat",
    queue: str = "support",
    hang_up: bool = True,
) -> int:
    """A contact of a known customer, accepted by ``agent`` and (``hang_up``) ended by the
    customer: in wrap-up. Returns the customer id."""
    assert services.routing is not None
    response = await client.put(
        "/api/v1/agents/me/state", json={"state": "ready"}, headers=agent.bearer
    )
    assert response.status == 200, await response.text()
    customer_id = await customer(services)
    await services.routing.enqueue(
        contact_id, channel, queue, CustomerContext(customer_id=str(customer_id))
    )
    accepted = await client.post(f"/api/v1/offers/{contact_id}/accept", headers=agent.bearer)
    assert accepted.status == 200, await accepted.text()
    if hang_up:
        await services.routing.hang_up(contact_id)
    return customer_id


async def timeline(client: Client, caller: Caller, customer_id: int) -> list[dict[str, Any]]:
    """The customer's history as a console shows it."""
    response = await client.get(f"/api/v1/customers/{customer_id}/history", headers=caller.bearer)
    assert response.status == 200, await response.text()
    items: list[dict[str, Any]] = (await response.json())["items"]
    return items


async def test_given_wrap_up_when_saved_and_finished_then_the_timeline_has_it_and_i_am_free(
    client: Client, agent: Caller, routed_services: Services
) -> None:
    assert routed_services.routing is not None and routed_services.bus is not None
    customer_id = await served(client, routed_services, agent, "chat-1")
    wrapped = routed_services.bus.subscribe(["contact.wrapped_up"])
    response = await client.post(
        "/api/v1/contacts/chat-1/wrap-up",
        json={"disposition": "resolved", "notes": "Refund sent <b>today</b>"},
        headers=agent.bearer,
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["finished"] is True and body["state"] == "closed"
    assert (body["disposition"], body["disposition_label"], body["resolved"]) == (
        "resolved",
        "Resolved",
        True,
    )
    # On the customer's timeline at once.
    [interaction] = await timeline(client, agent, customer_id)
    assert interaction["id"] == body["interaction_id"]
    assert interaction["disposition"] == "resolved"
    assert interaction["notes"] == "Refund sent <b>today</b>"
    assert interaction["resolved"] is True
    # Published for every console showing the customer (the hub's customer topic).
    event = await wrapped.get(timeout=5)
    assert isinstance(event, ContactWrappedUp)
    assert (event.customer_id, event.disposition, event.finished) == (
        str(customer_id),
        "resolved",
        True,
    )
    assert event.notes == "Refund sent <b>today</b>"
    # Available again: the slot is free.
    me = await routed_services.routing.describe_agent(str(agent.user_id))
    assert me["state"] == "ready" and me["active"] == {}


async def test_given_a_required_disposition_when_finishing_without_one_then_refused(
    client: Client, agent: Caller, routed_services: Services
) -> None:
    await served(client, routed_services, agent, "chat-1")
    refused = await client.post(
        "/api/v1/contacts/chat-1/wrap-up", json={"notes": "called back"}, headers=agent.bearer
    )
    assert refused.status == 422
    body = await refused.json()
    assert body["error"] == "disposition-required"
    assert body["details"]["known"] == ["resolved", "follow-up"]
    # Saving without finishing is fine; a disposition saved earlier then lets it finish.
    draft = await client.post(
        "/api/v1/contacts/chat-1/wrap-up",
        json={"disposition": "follow-up", "finish": False},
        headers=agent.bearer,
    )
    assert draft.status == 200, await draft.text()
    assert (await draft.json())["state"] == "wrap_up"
    done = await client.post("/api/v1/contacts/chat-1/wrap-up", json={}, headers=agent.bearer)
    assert done.status == 200, await done.text()
    body = await done.json()
    assert (body["disposition"], body["resolved"], body["finished"]) == ("follow-up", False, True)


async def test_given_a_disposition_of_another_queue_then_it_is_refused(
    client: Client, agent: Caller, routed_services: Services
) -> None:
    await served(client, routed_services, agent, "chat-1")
    response = await client.post(
        "/api/v1/contacts/chat-1/wrap-up", json={"disposition": "sold"}, headers=agent.bearer
    )
    assert response.status == 422
    assert (await response.json())["error"] == "unknown-disposition"


async def test_given_a_connected_contact_then_notes_save_but_it_cannot_finish(
    client: Client, agent: Caller, routed_services: Services
) -> None:
    customer_id = await served(client, routed_services, agent, "chat-1", hang_up=False)
    early = await client.post(
        "/api/v1/contacts/chat-1/wrap-up", json={"disposition": "resolved"}, headers=agent.bearer
    )
    assert early.status == 409 and (await early.json())["error"] == "not-in-wrap-up"
    notes = await client.post(
        "/api/v1/contacts/chat-1/wrap-up",
        json={"notes": "asked about invoice 42", "finish": False},
        headers=agent.bearer,
    )
    assert notes.status == 200, await notes.text()
    assert (await notes.json())["state"] == "connected"
    [interaction] = await timeline(client, agent, customer_id)
    assert interaction["notes"] == "asked about invoice 42"


async def test_given_the_timer_ended_wrap_up_then_it_is_over_and_the_disposition_stays_empty(
    client: Client,
    agent: Caller,
    make_user: Callable[..., Awaitable[Caller]],
    routed_services: Services,
    clock: FakeClock,
) -> None:
    assert routed_services.routing is not None
    customer_id = await served(client, routed_services, agent, "chat-9", queue="sales")
    clock.advance(30)
    await routed_services.routing.fire_timers()
    response = await client.post(
        "/api/v1/contacts/chat-9/wrap-up", json={"disposition": "sold"}, headers=agent.bearer
    )
    assert response.status == 409 and (await response.json())["error"] == "wrap-up-over"
    assert routed_services.recorder is not None
    await routed_services.recorder.wait_idle()
    supervisor = await make_user("super1", "supervisor")
    [interaction] = await timeline(client, supervisor, customer_id)
    assert interaction["disposition"] is None


async def test_given_someone_elses_contact_then_refused(
    client: Client,
    agent: Caller,
    make_user: Callable[..., Awaitable[Caller]],
    routed_services: Services,
) -> None:
    await served(client, routed_services, agent, "chat-1")
    other = await make_user("agent2", "agent")
    response = await client.post(
        "/api/v1/contacts/chat-1/wrap-up", json={"disposition": "resolved"}, headers=other.bearer
    )
    assert response.status == 409 and (await response.json())["error"] == "not-your-contact"
    unknown = await client.post("/api/v1/contacts/chat-404/wrap-up", json={}, headers=agent.bearer)
    assert unknown.status == 404 and (await unknown.json())["error"] == "no-such-contact"


async def test_given_bad_input_or_the_wrong_role_then_refused(
    client: Client, agent: Caller, supervisor: Caller, routed_services: Services
) -> None:
    await served(client, routed_services, agent, "chat-1")
    path = "/api/v1/contacts/chat-1/wrap-up"
    for body in (
        {"disposition": "resolved", "extra": 1},
        {"disposition": "<script>"},
        {"notes": "x" * 20_001},
        {"notes": "bell\x07"},
        {"finish": "yes"},
    ):
        response = await client.post(path, json=body, headers=agent.bearer)
        assert response.status == 422, body
    forbidden = await client.post(path, json={}, headers=supervisor.bearer)
    assert forbidden.status == 403
    assert routed_services.routing is not None
    assert (await routed_services.routing.describe_contact("chat-1"))["state"] == "wrap_up"


async def test_given_any_user_then_queues_list_dispositions_and_wrap_up_timers(
    client: Client, agent: Caller, supervisor: Caller
) -> None:
    for caller in (agent, supervisor):
        response = await client.get("/api/v1/queues", headers=caller.bearer)
        assert response.status == 200
        queues = {q["name"]: q for q in (await response.json())["items"]}
        assert queues["support"]["dispositions"] == [
            {"id": "resolved", "label": "Resolved", "resolved": True},
            {"id": "follow-up", "label": "Needs follow-up", "resolved": False},
        ]
        assert queues["support"]["disposition_required"] is True
        assert queues["support"]["wrap_up_seconds"] == "manual"
        assert queues["sales"]["dispositions"] == [
            {"id": "sold", "label": "sold", "resolved": False}
        ]
        assert queues["sales"]["wrap_up_seconds"] == 30
        assert queues["sales"]["channels"] == ["chat", "email"]
    assert (await client.get("/api/v1/queues")).status == 401


# -- a call on the simulated PBX -------------------------------------------------------


async def test_given_a_call_answered_and_hung_up_when_wrapped_up_then_its_interaction_has_it(
    phone_stack: tuple[web.Application, SimulatedPbx, Client],
) -> None:
    app, pbx, client = phone_stack
    services = app[SERVICES]
    assert services.routing is not None
    login = await client.post(
        "/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}
    )
    csrf = {"X-CSRF-Token": (await login.json())["csrf_token"]}
    ready = await client.put("/api/v1/agents/me/state", json={"state": "ready"}, headers=csrf)
    assert ready.status == 200, await ready.text()
    wrapping = services.bus.subscribe(["contact.wrap_up_started"])
    call_id = await pbx.place_call("+44 20 7946 0018", queue="support")
    assert await pbx.wait_call_state(call_id, ("connected",), timeout=10) == "connected"
    await pbx.caller_hangs_up(call_id)
    started = await wrapping.get(timeout=10)
    contact_id = started.to_dict()["contact_id"]
    response = await client.post(
        f"/api/v1/contacts/{contact_id}/wrap-up",
        json={"disposition": "resolved", "notes": "Fixed the router"},
        headers=csrf,
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["finished"] is True
    found = await services.profiles.interaction_for_contact(contact_id)
    assert found is not None
    assert (found["disposition"], found["notes"], found["channel"]) == (
        "resolved",
        "Fixed the router",
        "voice",
    )
    alice = await services.accounts.get_user("alice")
    me = await services.routing.describe_agent(str(alice.id))
    assert me["state"] == "ready" and me["active"] == {}
