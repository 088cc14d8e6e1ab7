"""The hub's websocket protocol: hello and welcome, offers with their screen-pop, the
upgrade's authentication (bearer, or a session from this site's pages), and clean
refusals of everything else."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import WSServerHandshakeError
from aiohttp.test_utils import TestClient

from agent_ui.hub import handler
from agent_ui.hub.hub import Hub
from agent_ui.hub.messages import (
    MAX_CLIENT_MESSAGE_BYTES,
    AgentStateUpdate,
    ContactUpdate,
    Offer,
    Snapshot,
)
from agent_ui.hub.wiring import HUB_PATH
from contact_center.services import Services
from tests.agent_ui.conftest import Caller
from tests.agent_ui.hub.conftest import Connect, enqueue, ready

Client = TestClient[Any, Any]


async def test_given_an_agent_when_saying_hello_then_welcome_and_a_snapshot_of_their_state(
    connect: Connect, agent: Caller, routed: Services
) -> None:
    await ready(routed, agent)
    console = await connect(agent)
    welcome, after = await console.hello()

    assert welcome.user_id == agent.user_id and welcome.role == "agent"
    assert welcome.topics == [f"agent:{agent.user_id}"] and welcome.resumed is False
    assert welcome.disconnect_grace_seconds == 60
    snapshot = after[-1]
    assert isinstance(snapshot, Snapshot) and snapshot.seq == welcome.seq
    assert snapshot.agent is not None
    assert (snapshot.agent.state, snapshot.agent.queues) == ("ready", ["sales", "support"])
    assert snapshot.offers == [] and snapshot.statistics is None


async def test_given_a_ready_agent_when_a_contact_is_offered_then_the_offer_carries_the_screen_pop(
    connect: Connect, agent: Caller, routed: Services, customer: dict[str, Any]
) -> None:
    await ready(routed, agent)
    console = await connect(agent)
    welcome, _ = await console.hello()

    await enqueue(routed, "call-1", customer_id=customer["id"])
    offer = await console.next(Offer)

    assert offer.topic == f"agent:{agent.user_id}" and offer.seq == welcome.seq + 1
    assert offer.offer.contact_id == "call-1" and offer.offer.queue == "support"
    assert offer.offer.customer_id == str(customer["id"])
    assert offer.offer.offer_deadline is not None and offer.offer.screen_pop_error is None
    pop = offer.offer.screen_pop
    assert pop is not None
    assert pop["customer"]["display_name"] == "Ada Lovelace"
    assert len(pop["open_interactions"]) == 1
    # Why it came to this agent: the router's decision, in brief.
    why = offer.offer.explanation
    assert why is not None
    assert (why.decided_by, why.strategy, why.ring) == ("strategy", "longest-idle", 0)
    assert (why.candidates, why.preferred) == (1, "")
    # Fetched as the agent it is shown to: the audit log says they viewed it.
    audit = await routed.profiles.audit_log(customer_id=customer["id"], action="profile.viewed")
    viewed = [(e["actor_id"], e["contact_id"], e["details"]) for e in audit["items"]]
    assert viewed == [(agent.user_id, "call-1", {"via": "screen_pop"})]


async def test_given_an_unknown_caller_when_offered_then_the_offer_says_why_there_is_no_pop(
    connect: Connect, agent: Caller, routed: Services
) -> None:
    assert routed.routing is not None
    await ready(routed, agent)
    console = await connect(agent)
    await console.hello()
    await enqueue(routed, "call-anon")
    offer = await console.next(Offer)
    assert offer.offer.screen_pop is None and offer.offer.screen_pop_error == "no-customer"
    await enqueue(routed, "call-gone", customer_id=987_654, queue="sales")
    await routed.routing.decline("call-anon", str(agent.user_id))
    await ready(routed, agent)  # a decline is a missed offer: the agent was paused
    message = await console.until(Offer)
    assert message.offer.contact_id == "call-gone"
    assert message.offer.screen_pop_error == "customer-not-found"


async def test_given_a_contact_step_of_the_agents_own_then_it_reaches_them_in_order(
    connect: Connect, agent: Caller, routed: Services, customer: dict[str, Any]
) -> None:
    assert routed.routing is not None
    await ready(routed, agent)
    console = await connect(agent)
    welcome, _ = await console.hello()
    await enqueue(routed, "call-2", customer_id=customer["id"])
    await routed.routing.accept("call-2", str(agent.user_id))
    await routed.routing.not_ready(str(agent.user_id), "lunch")

    offer = await console.next(Offer)
    connected = await console.next(ContactUpdate)
    state = await console.next(AgentStateUpdate)
    assert [offer.seq, connected.seq, state.seq] == [welcome.seq + i for i in (1, 2, 3)]
    assert connected.event == "contact.connected" and connected.agent_id == str(agent.user_id)
    assert connected.details["waited_seconds"] >= 0
    assert (state.state, state.reason, state.by) == ("not_ready", "lunch", "agent")


async def test_given_no_credentials_or_no_upgrade_then_refused_before_any_websocket(
    client: Client, connect: Connect, agent: Caller
) -> None:
    with pytest.raises(WSServerHandshakeError) as refused:
        await connect()
    assert refused.value.status == 401
    plain = await client.get(HUB_PATH, headers=agent.bearer)
    assert plain.status == 426
    assert (await plain.json())["error"] == "websocket-required"


async def test_given_a_browser_session_then_only_this_sites_pages_may_open_the_hub(
    client: Client, connect: Connect, agent: Caller, login: Callable[..., Awaitable[str]]
) -> None:
    await login(agent.username)
    own = str(client.make_url("/")).rstrip("/")
    for origin in ("https://evil.example", "http://127.0.0.1.evil.example", "null", None):
        headers = {"Origin": origin} if origin is not None else {}
        with pytest.raises(WSServerHandshakeError) as refused:
            await connect(headers=headers)
        assert refused.value.status == 403, origin
    console = await connect(headers={"Origin": own})
    welcome, _ = await console.hello()
    assert welcome.user_id == agent.user_id


async def test_given_garbage_then_a_clear_error_and_the_right_close_code(
    connect: Connect, agent: Caller
) -> None:
    cases: list[tuple[str, Any, int, str]] = [
        ("text", "not json", 1007, "invalid-message"),
        ("text", '{"type": "teleport"}', 1007, "invalid-message"),
        ("text", '{"type": "hello", "resume_from": {"stream": "x", "seq": -1}}', 1007,
         "invalid-message"),
        ("bytes", b"\x00\x01", 1003, "binary-not-supported"),
        ("text", '{"type": "subscribe", "topic": "agents"}', 1008, "hello-expected"),
        ("text", "x" * (MAX_CLIENT_MESSAGE_BYTES + 1), 1009, "message-too-big"),
    ]  # fmt: skip
    for kind, payload, code, error in cases:
        console = await connect(agent)
        if kind == "text":
            await console.ws.send_str(payload)
        else:
            await console.ws.send_bytes(payload)
        closed = await console.closed()
        assert (closed.code, closed.error) == (code, error), payload


async def test_given_hello_twice_then_the_connection_is_closed_as_out_of_order(
    connect: Connect, agent: Caller
) -> None:
    console = await connect(agent)
    await console.hello()
    await console.send({"type": "hello"})
    closed = await console.closed()
    assert (closed.code, closed.error) == (1008, "hello-repeated")


async def test_given_a_tab_that_never_says_hello_then_it_is_closed(
    connect: Connect, agent: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handler, "HELLO_TIMEOUT_SECONDS", 0.05)
    console = await connect(agent)
    closed = await console.closed()
    assert (closed.code, closed.error) == (1008, "hello-timeout")


async def test_given_the_server_stopping_then_tabs_are_told_to_reconnect(
    connect: Connect, agent: Caller, hub: Hub
) -> None:
    console = await connect(agent)
    await console.hello()
    await hub.shutdown()
    closed = await console.closed()
    assert (closed.code, closed.error) == (1001, "server-stopping")
    assert hub.connections == set()
