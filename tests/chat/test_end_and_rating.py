"""The end of a chat: notices, the router's wrap-up, the transcript (download and email
hand-off), and the rating on the customer's timeline."""

from __future__ import annotations

import sqlalchemy as sa

from chat import frames
from contact_center.store.schema import outbound_emails
from tests.chat.conftest import SHOP, Stack, accept, agent_send, open_visitor, ready, start_chat


async def test_given_an_ended_chat_then_the_rating_and_transcript_are_on_the_timeline(
    stack: Stack,
) -> None:
    await ready(stack, "alice")
    session = await start_chat(stack.client, email="ada@example.com")
    contact_id = "chat-" + session["conversation_id"]
    await stack.settle()
    await accept(stack, "alice", contact_id)
    visitor = await open_visitor(stack.client)
    await visitor.hello(session["token"])
    await visitor.send({"type": "send", "client_id": "m1", "text": "Where is my order?"})
    await visitor.until(frames.Ack)
    await agent_send(stack, "alice", contact_id, "a1", "On its way, Ada.")
    headers = {"Origin": SHOP, "X-Chat-Token": session["token"]}
    base = f"/chat/api/conversations/{session['conversation_id']}"
    early = await stack.client.post(f"{base}/rating", json={"rating": 5}, headers=headers)
    assert early.status == 409  # rated once it has ended

    await visitor.send({"type": "end"})
    ended = await visitor.until(frames.NoticeFrame)
    while ended.kind != "ended":
        ended = await visitor.until(frames.NoticeFrame)
    await stack.settle()
    contact = await stack.routing.describe_contact(contact_id)
    assert contact["state"] == "wrap_up"  # the agent wraps up as for any contact
    late = await agent_send_status(stack, contact_id)
    assert late == 409

    rated = await stack.client.post(
        f"{base}/rating", json={"rating": 4, "comment": "Quick <b>help</b>"}, headers=headers
    )
    assert rated.status == 200, await rated.text()
    transcript = await stack.client.get(f"{base}/transcript", headers=headers)
    text = await transcript.text()
    assert transcript.headers["Content-Disposition"].startswith("attachment;")
    assert "Ada Lovelace: Where is my order?" in text and "Alice Smith: On its way, Ada." in text
    emailed = await stack.client.post(f"{base}/transcript-email", json={}, headers=headers)
    assert emailed.status == 202
    async with stack.services.engine.connect() as conn:
        row = (await conn.execute(sa.select(outbound_emails))).mappings().one()
    assert row["to_address"] == "ada@example.com" and row["status"] == "queued"
    assert "Where is my order?" in row["body"]

    chat = stack.services.chat
    assert chat is not None
    conversation = await chat.service.store.by_id(session["conversation_id"])
    assert conversation is not None
    history = await stack.client.get(
        f"/api/v1/customers/{conversation['customer_id']}/history",
        headers=stack.agents["alice"].bearer,
    )
    items = (await history.json())["items"]
    interaction = next(i for i in items if i["contact_id"] == contact_id)
    assert (interaction["rating"], interaction["rating_comment"]) == (4, "Quick <b>help</b>")
    assert interaction["channel"] == "chat"
    await visitor.close()


async def agent_send_status(stack: Stack, contact_id: str) -> int:
    response = await stack.client.post(
        f"/api/v1/chats/{contact_id}/messages",
        json={"client_id": "late", "text": "still there?"},
        headers=stack.agents["alice"].bearer,
    )
    return response.status


async def test_given_read_receipts_then_each_side_sees_the_others_and_marks_never_go_back(
    stack: Stack,
) -> None:
    from agent_ui.hub.messages import ChatUpdate
    from chat.model import Origin
    from tests.chat.conftest import console

    await ready(stack, "alice")
    desk = await console(stack, "alice")
    session = await start_chat(stack.client)
    contact_id = "chat-" + session["conversation_id"]
    await stack.settle()
    await accept(stack, "alice", contact_id)
    await agent_send(stack, "alice", contact_id, "a1", "Hello")
    visitor = await open_visitor(stack.client)
    await visitor.hello(session["token"])
    await visitor.send({"type": "read", "seq": 99})  # beyond the last: capped at 2
    update = await desk.until(ChatUpdate)
    while update.event != "read":
        update = await desk.until(ChatUpdate)
    assert update.read_seq == 2
    read = await stack.client.post(
        f"/api/v1/chats/{contact_id}/read", json={"seq": 1}, headers=stack.agents["alice"].bearer
    )
    assert read.status == 204
    assert (await visitor.until(frames.ReadFrame)).seq == 1
    chat = stack.services.chat
    assert chat is not None
    conversation = await chat.service.store.by_id(session["conversation_id"])
    assert conversation is not None
    assert await chat.service.store.mark_read(conversation["id"], Origin.VISITOR, 1) == 2
    await visitor.send({"type": "typing", "on": True})
    typing = await desk.until(ChatUpdate)
    while typing.event != "typing":
        typing = await desk.until(ChatUpdate)
    assert typing.typing is True
    await visitor.close()
    await desk.close()


async def test_given_typing_then_it_goes_off_by_itself_after_the_timeout(stack: Stack) -> None:
    from agent_ui.hub.messages import ChatUpdate
    from chat.wiring import SOCKETS
    from tests.chat.conftest import console

    await ready(stack, "alice")
    desk = await console(stack, "alice")
    session = await start_chat(stack.client)
    contact_id = "chat-" + session["conversation_id"]
    await stack.settle()
    await accept(stack, "alice", contact_id)
    visitor = await open_visitor(stack.client)
    await visitor.hello(session["token"])
    await visitor.send({"type": "typing", "on": True})
    typing = await desk.until(ChatUpdate)
    while typing.event != "typing":
        typing = await desk.until(ChatUpdate)
    assert typing.typing is True
    response = await stack.client.post(
        f"/api/v1/chats/{contact_id}/typing",
        json={"on": True},
        headers=stack.agents["alice"].bearer,
    )
    assert response.status == 204
    assert (await visitor.until(frames.TypingFrame)).on is True
    stack.clock.advance(6)  # the timeout is 5 s
    await stack.app[SOCKETS].expire_typing()
    assert (await visitor.until(frames.TypingFrame)).on is False
    off = await desk.until(ChatUpdate)
    while off.event != "typing":
        off = await desk.until(ChatUpdate)
    assert off.typing is False
    await visitor.close()
    await desk.close()
