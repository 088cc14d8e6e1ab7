"""Two app instances on one PostgreSQL and one real Redis (router, bus and presence
shared): the visitor's websocket on node A, the agent's console and REST on node B,
and the conversation flows both ways, numbered once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from agent_ui.hub.messages import ChatUpdate, Offer
from chat import frames
from contact_center.agent_state import register_agents
from contact_center.app import SERVICES, build_app, build_services
from contact_center.settings import Settings
from contact_center.store.migrate import upgrade
from contact_center.store.schema import metadata
from tests.agent_ui.hub.conftest import Console
from tests.chat.conftest import CHAT_SETTINGS, ROUTING, SHOP, VisitorWs, start_chat

pytestmark = [pytest.mark.integration, pytest.mark.slow]
Client = TestClient[Any, Any]


@pytest.fixture
async def nodes(
    postgres_url: str,
    redis_url: str,
    redis_namespace: str,
    tmp_path: Any,
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> AsyncIterator[tuple[Client, Client, str]]:
    settings = Settings().with_overrides(
        database={"url": postgres_url},
        redis={"url": redis_url, "namespace": redis_namespace},
        phone={"default_region": "GB"},
    )
    chat = dict(CHAT_SETTINGS, attachments_dir=str(tmp_path / "files"))
    settings = settings.model_copy(
        update={"routing": {**ROUTING, "backend": "redis"}, "chat": chat}
    )
    setup = build_services(settings)
    await upgrade(setup.engine)
    async with setup.engine.begin() as conn:
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        await conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    alice = await setup.accounts.add_user("alice", password="correct horse battery")
    token = await setup.accounts.issue_token(alice.id, "console")
    await setup.engine.dispose()

    def node(name: str) -> Any:
        return build_app(settings.with_overrides(server={"node_id": name}))

    node_a = await aiohttp_client(node("a"))
    node_b = await aiohttp_client(node("b"))
    services_b = node_b.server.app[SERVICES]
    await register_agents(services_b)
    assert services_b.routing is not None
    await services_b.routing.ready(str(alice.id))
    yield node_a, node_b, token.secret


async def test_given_the_visitor_on_node_a_and_the_agent_on_node_b_then_both_sides_flow(
    nodes: tuple[Client, Client, str],
) -> None:
    node_a, node_b, token = nodes
    bearer = {"Authorization": f"Bearer {token}"}
    desk = Console(await node_b.ws_connect("/api/v1/hub", headers=bearer))
    await desk.hello()
    session = await start_chat(node_a)
    contact_id = "chat-" + session["conversation_id"]
    visitor = VisitorWs(await node_a.ws_connect("/chat/ws", headers={"Origin": SHOP}))
    await visitor.hello(session["token"])
    offer = await desk.until(Offer, timeout=10)
    assert offer.offer.contact_id == contact_id
    accepted = await node_b.post(f"/api/v1/offers/{contact_id}/accept", headers=bearer)
    assert accepted.status == 200, await accepted.text()
    joined = await visitor.until(frames.NoticeFrame, timeout=10)
    assert joined.kind == "agent_joined" and joined.seq == 1

    await visitor.send({"type": "send", "client_id": "v1", "text": "from node A"})
    assert (await visitor.until(frames.Ack)).seq == 2
    update = await desk.until(ChatUpdate, timeout=10)
    while update.message is None or update.message.seq != 2:
        update = await desk.until(ChatUpdate, timeout=10)
    assert update.message.text == "from node A"

    sent = await node_b.post(
        f"/api/v1/chats/{contact_id}/messages",
        json={"client_id": "a1", "text": "from node B"},
        headers=bearer,
    )
    assert sent.status == 201, await sent.text()
    reply = await visitor.until(frames.Message, timeout=10)
    while reply.from_ != "agent":
        reply = await visitor.until(frames.Message, timeout=10)
    assert (reply.seq, reply.text) == (3, "from node B")
    await visitor.close()
    await desk.close()
