"""The whole path against real SMTP: customer -> intake -> queue -> agent -> reply
(received by the relay, threaded) -> the customer's answer -> the same thread and agent."""

from __future__ import annotations

from contact_center.services import SYSTEM
from tests.email_channel.conftest import SUPPORT, EmailStack, customer_mail


async def _offered_contact(stack: EmailStack, username: str) -> str:
    status, state = await stack.api("GET", "/api/v1/agents/me/state", username)
    assert status == 200, state
    (contact_id,) = state["active"]
    return str(contact_id)


async def test_given_an_email_when_answered_then_the_reply_threads_and_the_answer_comes_back(
    stack: EmailStack,
) -> None:
    await stack.ready("agent1")
    await stack.send(customer_mail())
    contact_id = await _offered_contact(stack, "agent1")
    assert contact_id.startswith("email-")
    status, body = await stack.api("POST", f"/api/v1/offers/{contact_id}/accept", "agent1")
    assert status == 200, body

    status, thread = await stack.api("GET", f"/api/v1/emails/{contact_id}/thread", "agent1")
    assert status == 200, thread
    assert [m["text"].strip() for m in thread["messages"]] == ["My order has not arrived."]
    assert thread["status"] == "open"

    status, sent = await stack.api(
        "POST",
        f"/api/v1/emails/{contact_id}/reply",
        "agent1",
        json={"body_text": "It ships today.", "client_id": "r1"},
    )
    assert status == 200, sent
    assert sent["status"] == "sent"
    envelope, reply = await stack.relay.next()
    assert envelope.rcpt_tos == ["ada@example.org"]
    assert reply["From"] == SUPPORT
    assert reply["In-Reply-To"] == "<m1@example.org>"
    assert "<m1@example.org>" in reply["References"]
    assert reply["Subject"] == "Re: Order 1234"
    reply_to = str(reply["Reply-To"])
    assert reply_to.startswith("support+") and reply_to.endswith("@example.com")
    text = reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("It ships today.") and "> My order has not arrived." in text

    # Sending the same client_id again returns the first result: nothing sent twice.
    status, again = await stack.api(
        "POST",
        f"/api/v1/emails/{contact_id}/reply",
        "agent1",
        json={"body_text": "It ships today.", "client_id": "r1"},
    )
    assert again["id"] == sent["id"] and stack.relay.received.empty()

    # Waiting on the customer frees the agent's slot...
    status, body = await stack.api("POST", f"/api/v1/emails/{contact_id}/pending", "agent1")
    assert status == 200, body
    await stack.channel.service.wait_idle()
    status, state = await stack.api("GET", "/api/v1/agents/me/state", "agent1")
    assert state["active"] == {}

    # ... and the customer's answer (to the Reply-To address, quoting our Message-ID)
    # reopens the thread for the same agent.
    await stack.send(
        customer_mail(
            "Thanks, when will it arrive?",
            to=reply_to,
            subject="Re: Order 1234",
            message_id="<m2@example.org>",
            in_reply_to=str(reply["Message-ID"]),
            references=f"<m1@example.org> {reply['Message-ID']}",
        ),
        to=(reply_to,),
    )
    reopened = await _offered_contact(stack, "agent1")
    assert reopened != contact_id and reopened.startswith(f"email-{thread['thread_id']}-")
    status, thread2 = await stack.api("GET", f"/api/v1/emails/{reopened}/thread", "agent1")
    assert thread2["thread_id"] == thread["thread_id"]
    assert [m["direction"] for m in thread2["messages"]] == ["inbound", "outbound", "inbound"]

    # The customer's history holds both openings and the messages.
    history = await stack.services.profiles.history(thread["customer_id"], viewer=SYSTEM)
    channels = [item["channel"] for item in history["items"]]
    assert channels.count("email") == 2


async def test_given_the_relay_refuses_when_replying_then_the_failure_shows_on_the_thread(
    stack: EmailStack,
) -> None:
    await stack.ready("agent1")
    await stack.send(customer_mail())
    contact_id = await _offered_contact(stack, "agent1")
    await stack.api("POST", f"/api/v1/offers/{contact_id}/accept", "agent1")
    stack.relay.refuse = True
    status, sent = await stack.api(
        "POST",
        f"/api/v1/emails/{contact_id}/reply",
        "agent1",
        json={"body_text": "Hello", "client_id": "r1"},
    )
    assert status == 200 and sent["status"] == "failed"
    assert "554" in sent["error"]
    status, thread = await stack.api("GET", f"/api/v1/emails/{contact_id}/thread", "agent1")
    assert thread["messages"][-1]["status"] == "failed"


async def test_given_another_agent_when_reading_a_thread_then_refused(stack: EmailStack) -> None:
    await stack.ready("agent1")
    await stack.send(customer_mail())
    contact_id = await _offered_contact(stack, "agent1")
    status, body = await stack.api("GET", f"/api/v1/emails/{contact_id}/thread", "agent2")
    assert status == 403 and body["error"] == "not-your-thread"
    status, body = await stack.api(
        "POST",
        f"/api/v1/emails/{contact_id}/reply",
        "agent2",
        json={"body_text": "x", "client_id": "c"},
    )
    assert status in (403, 409)
