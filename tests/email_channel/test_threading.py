"""Threading against the real intake: signed tokens, headers, subject fallback, and the
cases that break other products (rewritten Message-IDs, other addresses, shared threads,
forged tokens); loop protection on automatic mail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from contact_center.domain.identity import IdentityKind
from contact_center.services import SYSTEM
from contact_center.store.schema import email_inbound, email_messages, email_threads
from email_channel.tokens import ReplyTokens
from tests.email_channel.conftest import SECRET, SUPPORT, EmailStack, StackFactory, customer_mail


async def _threads(stack: EmailStack) -> list[dict[str, Any]]:
    async with stack.services.engine.connect() as conn:
        rows = await conn.execute(select(email_threads).order_by(email_threads.c.id))
        return [dict(r) for r in rows.mappings()]


async def _message_count(stack: EmailStack, thread_id: int) -> int:
    async with stack.services.engine.connect() as conn:
        found = await conn.execute(
            select(func.count()).where(email_messages.c.thread_id == thread_id)
        )
        return int(found.scalar_one())


async def test_given_outlook_rewrote_our_message_id_when_the_customer_replies_then_it_threads(
    stack: EmailStack,
) -> None:
    await stack.send(customer_mail())
    (thread,) = await _threads(stack)
    token_address = ReplyTokens(SECRET, "x").reply_address(SUPPORT, thread["id"])
    # In-Reply-To names an id we never sent (Exchange rewrote ours); the token is in To.
    await stack.send(
        customer_mail(
            "reply",
            to=token_address,
            subject="AW: Order 1234",
            message_id="<m2@example.org>",
            in_reply_to="<rewritten@exchange>",
        ),
        to=(token_address,),
    )
    assert len(await _threads(stack)) == 1
    assert await _message_count(stack, thread["id"]) == 2


async def test_given_a_forged_token_when_mail_arrives_then_it_does_not_join_that_thread(
    stack: EmailStack,
) -> None:
    await stack.send(customer_mail())
    (thread,) = await _threads(stack)
    forged = ReplyTokens("another-secret-another-secret-0123456789", "x").reply_address(
        SUPPORT, thread["id"]
    )
    await stack.send(
        customer_mail(
            "sneaky",
            sender="eve@example.net",
            to=forged,
            subject="hello",
            message_id="<e1@example.net>",
        ),
        sender="eve@example.net",
        to=(forged,),
    )
    threads = await _threads(stack)
    assert len(threads) == 2 and threads[1]["customer_id"] != thread["customer_id"]
    assert await _message_count(stack, thread["id"]) == 1


async def test_given_a_reply_from_another_address_of_the_same_customer_then_it_threads(
    stack: EmailStack,
) -> None:
    await stack.send(customer_mail())
    (thread,) = await _threads(stack)
    identity = stack.services.profiles.identity(IdentityKind.EMAIL, "ada.work@example.com")
    await stack.services.profiles.add_identity(thread["customer_id"], identity, actor=SYSTEM)
    await stack.send(
        customer_mail(
            "from work",
            sender="ada.work@example.com",
            subject="Re: Order 1234",
            message_id="<w1@example.com>",
            in_reply_to="<m1@example.org>",
        ),
        sender="ada.work@example.com",
    )
    assert len(await _threads(stack)) == 1
    assert await _message_count(stack, thread["id"]) == 2


async def test_given_a_different_person_replying_to_a_shared_thread_then_customers_stay_apart(
    stack: EmailStack,
) -> None:
    await stack.send(customer_mail(extra={"Cc": "bob@example.net"}))
    (thread,) = await _threads(stack)
    # Bob replies-all with the thread's headers (and even its signed token).
    token_address = ReplyTokens(SECRET, "x").reply_address(SUPPORT, thread["id"])
    await stack.send(
        customer_mail(
            "bob here",
            sender="bob@example.net",
            to=token_address,
            subject="Re: Order 1234",
            message_id="<b1@example.net>",
            in_reply_to="<m1@example.org>",
        ),
        sender="bob@example.net",
        to=(token_address,),
    )
    threads = await _threads(stack)
    assert len(threads) == 2
    assert threads[1]["customer_id"] != thread["customer_id"]
    assert threads[1]["related_thread_id"] == thread["id"]
    assert await _message_count(stack, thread["id"]) == 1


async def test_given_the_same_subject_when_another_customer_writes_then_no_subject_threading(
    stack: EmailStack,
) -> None:
    await stack.send(customer_mail())
    await stack.send(
        customer_mail("me too", sender="carol@example.net", message_id="<c1@example.net>"),
        sender="carol@example.net",
    )
    await stack.send(
        customer_mail("again", subject="RE: Order 1234", message_id="<m3@example.org>")
    )
    threads = await _threads(stack)
    assert len(threads) == 2
    assert await _message_count(stack, threads[0]["id"]) == 2


async def test_given_automatic_mail_then_it_never_opens_a_contact_nor_gets_an_acknowledgement(
    make_stack: StackFactory,
) -> None:
    stack = await make_stack(queues={"support": {"auto_acknowledge": True}})
    automatic = [
        {"Auto-Submitted": "auto-replied"},
        {"X-Autoreply": "yes"},
        {"Precedence": "bulk"},
        {"X-Loop": "support@example.com"},
    ]
    for n, headers in enumerate(automatic):
        await stack.send(
            customer_mail(
                f"auto {n}", sender=f"auto{n}@example.net", message_id=f"<a{n}@x>", extra=headers
            ),
            sender=f"auto{n}@example.net",
        )
    await stack.send(
        customer_mail("bounce", sender="MAILER-DAEMON@mx.example.net", message_id="<d@x>"),
        sender="",
    )
    await stack.send(
        customer_mail(
            "away", sender="dan@example.net", subject="Out of office", message_id="<o@x>"
        ),
        sender="dan@example.net",
    )
    assert await _threads(stack) == []
    async with stack.services.engine.connect() as conn:
        statuses = (await conn.execute(select(email_inbound.c.status))).scalars().all()
    assert statuses == ["automatic"] * 6
    assert stack.relay.received.empty()
    # A person's mail gets exactly one acknowledgement, marked as automatic.
    await stack.send(customer_mail())
    _, ack = await stack.relay.next()
    assert ack["Auto-Submitted"] == "auto-replied"
    assert ack["In-Reply-To"] == "<m1@example.org>"
    assert stack.relay.received.empty()
