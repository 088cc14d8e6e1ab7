"""Outside business hours or with nobody logged in: the offline form becomes an email
contact. Canned responses: managed by supervisors, filled in for the agent's chat."""

from __future__ import annotations

import sqlalchemy as sa

from contact_center.store.schema import interactions, messages
from tests.chat.conftest import SHOP, Stack, accept, ready, start_chat


async def test_given_a_closed_queue_then_the_widget_shows_the_offline_form_and_it_is_kept(
    stack: Stack,
) -> None:
    await ready(stack, "alice")
    config = await stack.client.get(
        "/chat/api/config", params={"queue": "night"}, headers={"Origin": SHOP}
    )
    body = await config.json()
    assert (body["online"], body["offline_reason"]) == (False, "closed")
    refused = await stack.client.post(
        "/chat/api/sessions", json={"queue": "night", "name": "Ada"}, headers={"Origin": SHOP}
    )
    assert refused.status == 409
    assert (await refused.json())["details"]["reason"] == "closed"
    left = await stack.client.post(
        "/chat/api/offline-messages",
        json={"queue": "night", "name": "Ada", "email": "Ada@Example.com",
              "message": "Please call me back"},
        headers={"Origin": SHOP},
    )  # fmt: skip
    assert left.status == 201, await left.text()
    async with stack.services.engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(interactions.c.channel, interactions.c.external_ids, messages.c.body,
                          messages.c.sender)
                .join(messages, messages.c.interaction_id == interactions.c.id)
            )
        ).mappings().one()  # fmt: skip
    assert row["channel"] == "email" and row["body"] == "Please call me back"
    assert row["sender"] == "ada@example.com" == row["external_ids"]["reply_to"]


async def test_given_nobody_logged_in_then_chat_is_offline(stack: Stack) -> None:
    config = await stack.client.get(
        "/chat/api/config", params={"queue": "support"}, headers={"Origin": SHOP}
    )
    assert (await config.json())["offline_reason"] == "no-agents"
    without_email = await stack.client.post(
        "/chat/api/offline-messages",
        json={"queue": "support", "name": "Ada", "message": "hi"},
        headers={"Origin": SHOP},
    )
    assert without_email.status == 422  # the answer goes by email: the address is needed


async def test_given_canned_responses_then_supervisors_manage_them_and_agents_fill_them_in(
    stack: Stack,
) -> None:
    sam, alice = stack.agents["sam"].bearer, stack.agents["alice"].bearer
    created = await stack.client.post(
        "/api/v1/canned-responses",
        json={"queue": "support", "shortcut": "hello", "title": "Greeting",
              "text": "Hello {customer.first_name}, {agent.name} here."},
        headers=sam,
    )  # fmt: skip
    assert created.status == 201, await created.text()
    canned_id = (await created.json())["id"]
    refused = await stack.client.post(
        "/api/v1/canned-responses",
        json={"shortcut": "x", "title": "x", "text": "x"},
        headers=alice,
    )
    assert refused.status == 403
    await stack.client.post(
        "/api/v1/canned-responses",
        json={"queue": "billing", "shortcut": "refund", "title": "Refund", "text": "Refunded."},
        headers=sam,
    )
    await ready(stack, "alice")
    session = await start_chat(stack.client)
    contact_id = "chat-" + session["conversation_id"]
    await stack.settle()
    await accept(stack, "alice", contact_id)
    found = await stack.client.get(
        "/api/v1/canned-responses", params={"q": "hel", "contact_id": contact_id}, headers=alice
    )
    items = (await found.json())["items"]
    assert [i["shortcut"] for i in items] == ["hello"]  # support's only, matching "hel"
    assert items[0]["rendered"] == "Hello Ada, Alice Smith here."
    changed = await stack.client.patch(
        f"/api/v1/canned-responses/{canned_id}", json={"title": "Hi"}, headers=sam
    )
    assert (await changed.json())["title"] == "Hi"
    deleted = await stack.client.delete(f"/api/v1/canned-responses/{canned_id}", headers=sam)
    assert deleted.status == 204
    gone = await stack.client.delete(f"/api/v1/canned-responses/{canned_id}", headers=sam)
    assert gone.status == 404
