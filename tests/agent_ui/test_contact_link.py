"""An agent links the caller nobody knew (a provisional profile) to an existing customer:
only the provisional profile of a contact they hold, undoable, audit-logged; every other
profile, contact or role refused with a stable error id and nothing merged."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_ui.wiring import setup
from contact_center.services import SYSTEM, Services
from routing.model import CustomerContext
from tests.agent_ui.conftest import Caller
from tests.agent_ui.test_offers import go_ready

Client = TestClient[Any, Any]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    # A file: the history recorder writes from its own task.
    return f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}"


@pytest.fixture
def app(routed_services: Services) -> web.Application:
    application = web.Application()
    setup(application, routed_services)
    return application


async def customer(services: Services, name: str, *, provisional: bool = False) -> int:
    profiles = services.profiles
    created = await profiles.create_customer(
        {"display_name": name, "provisional": provisional},
        [profiles.identity("email", f"{name.split()[0].lower()}@example.com")],
        actor=SYSTEM,
    )
    return int(created["id"])


async def held_by(
    client: Client, services: Services, agent: Caller, contact_id: str, customer_id: int
) -> None:
    """``contact_id`` (a chat of ``customer_id``) offered to ``agent``, who accepts it."""
    routing = services.routing
    assert routing is not None
    await go_ready(client, agent)
    await routing.enqueue(
        contact_id, "chat", "support", CustomerContext(customer_id=str(customer_id))
    )
    await routing.accept(contact_id, str(agent.user_id))


async def link(client: Client, who: Caller, contact_id: str, customer_id: int) -> Any:
    response = await client.post(
        f"/api/v1/contacts/{contact_id}/link", json={"customer_id": customer_id}, headers=who.bearer
    )
    return response.status, await response.json()


async def test_given_my_contacts_unknown_caller_when_linked_then_merged_audited_and_undoable(
    client: Client, agent: Caller, routed_services: Services
) -> None:
    services = routed_services
    ann = await customer(services, "Ann Lee")
    caller = await customer(services, "Unknown caller", provisional=True)
    await held_by(client, services, agent, "chat-1", caller)
    status, body = await link(client, agent, "chat-1", ann)
    assert status == 201, body
    assert (body["survivor_id"], body["merged_id"]) == (ann, caller)
    assert (body["contact_id"], body["customer_id"]) == ("chat-1", ann)
    merged = await services.profiles.get_profile(caller, viewer=SYSTEM)
    assert merged["merged_into_id"] == ann
    linked = (await services.profiles.audit_log(action="contact.customer_linked"))["items"]
    assert [(r["contact_id"], r["customer_id"], r["actor_id"]) for r in linked] == [
        ("chat-1", ann, agent.user_id)
    ]
    assert (await services.profiles.audit_log(action="customer.merged"))["items"]

    response = await client.delete("/api/v1/contacts/chat-1/link", headers=agent.bearer)
    assert response.status == 200, await response.text()
    assert (await response.json())["customer_id"] == caller
    back = await services.profiles.get_profile(caller, viewer=SYSTEM)
    assert back["merged_into_id"] is None and back["provisional"] is True
    assert (await services.profiles.audit_log(action="contact.customer_unlinked"))["items"]
    response = await client.delete("/api/v1/contacts/chat-1/link", headers=agent.bearer)
    assert (response.status, (await response.json())["error"]) == (409, "no-link")


async def test_given_a_confirmed_customer_on_my_contact_then_linking_is_refused_and_nothing_moves(
    client: Client, agent: Caller, routed_services: Services
) -> None:
    services = routed_services
    ann = await customer(services, "Ann Lee")
    bea = await customer(services, "Bea Kay")
    await held_by(client, services, agent, "chat-2", bea)
    status, body = await link(client, agent, "chat-2", ann)
    assert (status, body["error"]) == (409, "not-provisional")
    assert (await services.profiles.get_profile(bea, viewer=SYSTEM))["merged_into_id"] is None
    assert (await services.profiles.audit_log(action="customer.merged"))["items"] == []


async def test_given_someone_elses_or_an_ended_contact_then_linking_is_refused(
    client: Client,
    agent: Caller,
    make_user: Callable[..., Awaitable[Caller]],
    routed_services: Services,
) -> None:
    services = routed_services
    routing = services.routing
    assert routing is not None
    ann = await customer(services, "Ann Lee")
    caller = await customer(services, "Unknown caller", provisional=True)
    other = await make_user("bob")
    await held_by(client, services, other, "chat-3", caller)
    status, body = await link(client, agent, "chat-3", ann)  # Bob's contact
    assert (status, body["error"]) == (409, "not-your-contact")
    status, body = await link(client, agent, "chat-404", ann)
    assert (status, body["error"]) == (404, "no-such-contact")
    await routing.hang_up("chat-3")
    await routing.end_wrap_up("chat-3", str(other.user_id))
    status, body = await link(client, other, "chat-3", ann)  # over: no longer Bob's
    assert (status, body["error"]) == (409, "not-your-contact")
    assert (await services.profiles.get_profile(caller, viewer=SYSTEM))["merged_into_id"] is None


async def test_given_a_supervisor_then_the_agents_link_route_is_not_theirs(
    client: Client, supervisor: Caller, routed_services: Services
) -> None:
    status, body = await link(client, supervisor, "chat-1", 1)
    assert (status, body["error"]) == (403, "forbidden")


async def test_given_a_linked_caller_when_wrapped_up_then_the_timeline_news_go_to_the_customer(
    client: Client, agent: Caller, routed_services: Services
) -> None:
    services = routed_services
    assert services.routing is not None and services.bus is not None
    ann = await customer(services, "Ann Lee")
    caller = await customer(services, "Unknown caller", provisional=True)
    await held_by(client, services, agent, "chat-5", caller)
    status, _ = await link(client, agent, "chat-5", ann)
    assert status == 201
    await services.routing.hang_up("chat-5")
    wrapped = services.bus.subscribe(["contact.wrapped_up"])
    response = await client.post(
        "/api/v1/contacts/chat-5/wrap-up",
        json={"disposition": "resolved", "finish": True},
        headers=agent.bearer,
    )
    assert response.status == 200, await response.text()
    event = await asyncio.wait_for(anext(wrapped), 5)
    # The router still names the provisional profile; the interaction moved to Ann.
    assert event.customer_id == str(ann)
