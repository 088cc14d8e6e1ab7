"""Chats as routed contacts: the position while waiting, transfer, and the chats of an
agent whose console went away going back to the queue at their place."""

from __future__ import annotations

from agent_ui.hub.messages import Offer
from agent_ui.hub.wiring import HUB
from chat import frames
from chat.wiring import SOCKETS
from tests.chat.conftest import Stack, accept, console, open_visitor, ready, start_chat


async def test_given_no_free_agent_then_the_visitor_is_told_their_place_in_the_queue(
    stack: Stack,
) -> None:
    await stack.routing.not_ready(str(stack.agents["alice"].user_id), "break")
    first = await start_chat(stack.client)
    second = await start_chat(stack.client, name="Bea")
    visitor = await open_visitor(stack.client)
    welcome = await visitor.hello(second["token"])
    assert welcome.status == "queued"
    told = await stack.app[SOCKETS].positions()
    assert told == 1
    position = await visitor.until(frames.Position)
    assert position.position == 2 and position.estimated_wait_seconds is not None
    assert first["conversation_id"] != second["conversation_id"]
    # Unchanged: not told again.
    assert await stack.app[SOCKETS].positions() == 0
    await visitor.close()


async def test_given_an_agent_whose_console_went_away_then_their_chat_is_requeued_and_told(
    stack: Stack,
) -> None:
    await ready(stack, "alice")
    desk = await console(stack, "alice")
    session = await start_chat(stack.client)
    contact_id = "chat-" + session["conversation_id"]
    await desk.until(Offer)
    await accept(stack, "alice", contact_id)
    later = await start_chat(stack.client, name="Later Visitor")
    visitor = await open_visitor(stack.client)
    await visitor.hello(session["token"])
    await desk.close()
    hub = stack.app[HUB]
    await hub.wait_until(lambda: not hub.is_live(stack.agents["alice"].user_id) and hub.settled, 5)
    stack.clock.advance(31)  # the presence grace is 30 s
    await hub.tick()
    notice = await visitor.until(frames.NoticeFrame)
    while notice.kind != "agent_left":
        notice = await visitor.until(frames.NoticeFrame)
    assert notice.agent_name == "Alice Smith"
    assert (await visitor.next(frames.NoticeFrame)).kind == "requeued"
    contact = await stack.routing.describe_contact(contact_id)
    assert contact["state"] == "queued"
    # Back at its place: ahead of the chat that arrived after it.
    later_contact = await stack.routing.describe_contact("chat-" + later["conversation_id"])
    assert contact["position"] == 1 and later_contact["position"] == 2
    agent = await stack.routing.describe_agent(str(stack.agents["alice"].user_id))
    assert contact_id not in agent["active"]
    await visitor.close()


async def test_given_a_transfer_to_another_queue_then_the_visitor_is_told_and_bob_gets_it(
    stack: Stack,
) -> None:
    await ready(stack, "alice")
    session = await start_chat(stack.client)
    contact_id = "chat-" + session["conversation_id"]
    await stack.settle()
    await accept(stack, "alice", contact_id)
    visitor = await open_visitor(stack.client)
    await visitor.hello(session["token"])
    await ready(stack, "bob")
    response = await stack.client.post(
        f"/api/v1/chats/{contact_id}/transfer",
        json={"queue": "billing"},
        headers=stack.agents["alice"].bearer,
    )
    assert response.status == 200, await response.text()
    assert (await response.json())["queue"] == "billing"
    notice = await visitor.until(frames.NoticeFrame)
    while notice.kind != "transferred":
        notice = await visitor.until(frames.NoticeFrame)
    contact = await stack.routing.describe_contact(contact_id)
    assert contact["state"] == "offered" and contact["agent_id"] == str(stack.agents["bob"].user_id)
    # Alice no longer holds it: she cannot write into it.
    denied = await stack.client.post(
        f"/api/v1/chats/{contact_id}/messages",
        json={"client_id": "z", "text": "hello?"},
        headers=stack.agents["alice"].bearer,
    )
    assert denied.status == 404
    await visitor.close()
