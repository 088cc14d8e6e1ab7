"""Two app instances on one PostgreSQL and one real Redis: an agent whose console is on
node A receives, with its screen-pop, the offer node B's router decided; and presence
is shared, so node B pauses an agent only when no node has seen their console.

Each node keeps its router in memory (``routing.backend = "memory"``): what crosses the
nodes here is the event bus and the presence store, both on Redis, and a router of its
own makes "decided on node B" certain. (The shared Redis router has its own multi-node
tests in tests/routing.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from agent_ui.hub.messages import AgentStateUpdate, Offer
from agent_ui.hub.wiring import HUB, HUB_PATH
from contact_center.app import SERVICES, build_app, build_services
from contact_center.services import SYSTEM
from contact_center.settings import Settings
from contact_center.store.migrate import upgrade
from contact_center.store.schema import metadata
from routing.model import CustomerContext
from tests.agent_ui.conftest import FakeClock
from tests.agent_ui.hub.conftest import ROUTING, Console

pytestmark = [pytest.mark.integration, pytest.mark.slow]
Client = TestClient[Any, Any]
WAIT = 10.0


@pytest.fixture
async def nodes(
    postgres_url: str,
    redis_url: str,
    redis_namespace: str,
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> AsyncIterator[tuple[Client, Client, dict[str, Any]]]:
    settings = Settings().with_overrides(
        database={"url": postgres_url},
        redis={"url": redis_url, "namespace": redis_namespace},
        phone={"default_region": "GB"},
    )
    settings = settings.model_copy(update={"routing": {**ROUTING, "backend": "memory"}})
    setup = build_services(settings)
    await upgrade(setup.engine)
    async with setup.engine.begin() as conn:
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        await conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    alice = await setup.accounts.add_user("alice", password="correct horse battery")
    token = await setup.accounts.issue_token(alice.id, "console")
    customer = await setup.profiles.create_customer(
        {"display_name": "Ada Lovelace"},
        [setup.profiles.identity("phone", "+442079460018")],
        actor=SYSTEM,
    )
    await setup.engine.dispose()

    def node(name: str) -> Any:
        return build_app(settings.with_overrides(server={"node_id": name}))

    node_a = await aiohttp_client(node("a"))
    node_b = await aiohttp_client(node("b"))
    yield node_a, node_b, {"alice": alice, "token": token.secret, "customer": customer}


async def _console(client: Client, token: str) -> Console:
    ws = await client.ws_connect(HUB_PATH, headers={"Authorization": f"Bearer {token}"})
    return Console(ws)


async def test_given_a_console_on_node_a_then_the_offer_decided_on_node_b_reaches_it(
    nodes: tuple[Client, Client, dict[str, Any]],
) -> None:
    node_a, node_b, known = nodes
    alice, customer = known["alice"], known["customer"]
    console = await _console(node_a, known["token"])
    welcome, _ = await console.hello()
    routing_b = node_b.app[SERVICES].routing
    assert routing_b is not None

    await routing_b.ready(str(alice.id))
    state = await console.next(AgentStateUpdate, timeout=WAIT)
    assert state.state == "ready" and state.seq == welcome.seq + 1
    await routing_b.enqueue(
        "chat-1", "chat", "support", CustomerContext(customer_id=str(customer["id"]))
    )
    offer = await console.next(Offer, timeout=WAIT)

    assert offer.seq == welcome.seq + 2 and offer.offer.contact_id == "chat-1"
    assert offer.offer.screen_pop is not None
    assert offer.offer.screen_pop["customer"]["display_name"] == "Ada Lovelace"
    # Fetched once, by node A (where the agent is), as the agent.
    profiles = node_b.app[SERVICES].profiles
    audit = await profiles.audit_log(customer_id=customer["id"], action="profile.viewed")
    assert [(e["actor_id"], e["contact_id"]) for e in audit["items"]] == [(alice.id, "chat-1")]
    # Node B, which has no console of hers, built nothing for her.
    assert alice.id not in node_b.app[HUB].streams


async def test_given_presence_shared_by_the_nodes_then_b_pauses_only_an_agent_no_node_sees(
    nodes: tuple[Client, Client, dict[str, Any]],
) -> None:
    node_a, node_b, known = nodes
    alice = known["alice"]
    hub_a, hub_b = node_a.app[HUB], node_b.app[HUB]
    clock = FakeClock(hub_a.clock())
    for hub in (hub_a, hub_b):
        hub.clock = hub.presence.clock = clock
    routing_b = node_b.app[SERVICES].routing
    assert routing_b is not None
    await routing_b.ready(str(alice.id))
    console = await _console(node_a, known["token"])
    await console.hello()

    clock.advance(hub_b.presence.grace_seconds + 1)
    await hub_a.tick()  # A sees her console (as its upkeep does every few seconds)
    assert (await hub_b.tick())["paused"] == []
    await console.close()
    # A records the moment her last console went; B, one grace later, pauses her.
    await hub_a.wait_until(lambda: not hub_a.is_live(alice.id) and hub_a.settled, WAIT)
    clock.advance(hub_b.presence.grace_seconds + 1)
    assert (await hub_b.tick())["paused"] == [alice.id]
    described = await routing_b.describe_agent(str(alice.id))
    assert (str(described["state"]), described["reason"]) == ("not_ready", "disconnected")
