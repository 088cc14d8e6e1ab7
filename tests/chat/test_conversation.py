"""A chat from the visitor's page to the agent's console and back: routed, numbered,
stored before acknowledged, each retry stored once."""

from __future__ import annotations

from agent_ui.hub.messages import ChatUpdate, Offer
from chat import frames
from tests.chat.conftest import (
    Stack,
    accept,
    agent_send,
    console,
    open_visitor,
    ready,
    start_chat,
)


async def test_given_a_ready_agent_when_a_visitor_chats_then_messages_flow_both_ways_in_order(
    stack: Stack,
) -> None:
    await ready(stack, "alice")
    desk = await console(stack, "alice")
    session = await start_chat(stack.client, email="ada@example.com")
    contact_id = "chat-" + session["conversation_id"]
    visitor = await open_visitor(stack.client)
    welcome = await visitor.hello(session["token"])
    assert welcome.conversation_id == session["conversation_id"]
    assert welcome.seq == 0

    offer = await desk.until(Offer)
    assert offer.offer.contact_id == contact_id and offer.offer.channel == "chat"
    assert offer.offer.screen_pop is not None  # the customer's history, before accepting
    await accept(stack, "alice", contact_id)
    joined = await visitor.until(frames.NoticeFrame)
    assert (joined.seq, joined.kind, joined.agent_name) == (1, "agent_joined", "Alice Smith")

    await visitor.send({"type": "send", "client_id": "m1", "text": "Hello <script>x</script>"})
    mine = await visitor.until(frames.Message)
    ack = await visitor.until(frames.Ack)
    assert (mine.seq, mine.from_, mine.client_id) == (2, "visitor", "m1")
    assert (ack.client_id, ack.seq) == ("m1", 2)
    update = await desk.until(ChatUpdate)
    while update.event != "message" or update.message is None or update.message.seq != 2:
        update = await desk.until(ChatUpdate)
    assert update.message.text == "Hello <script>x</script>"  # stored and sent as text

    sent = await agent_send(stack, "alice", contact_id, "a1", "Hi Ada")
    assert sent["created"] is True and sent["message"]["seq"] == 3
    reply = await visitor.until(frames.Message)
    assert (reply.seq, reply.from_, reply.text, reply.sender_name) == (
        3,
        "agent",
        "Hi Ada",
        "Alice Smith",
    )

    # The same sends again (a retry after a doubt): stored once, acknowledged again.
    await visitor.send({"type": "send", "client_id": "m1", "text": "Hello <script>x</script>"})
    again = await visitor.until(frames.Ack)
    assert (again.client_id, again.seq) == ("m1", 2)
    repeated = await agent_send(stack, "alice", contact_id, "a1", "Hi Ada")
    assert repeated["created"] is False and repeated["message"]["seq"] == 3
    history = await stack.client.get(
        f"/api/v1/chats/{contact_id}/messages", headers=stack.agents["alice"].bearer
    )
    body = await history.json()
    assert [m["seq"] for m in body["items"]] == [1, 2, 3]
    assert body["seq"] == 3
    await visitor.close()
    await desk.close()
