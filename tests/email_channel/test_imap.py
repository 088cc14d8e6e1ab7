"""IMAP intake against a real dovecot: each message taken exactly once, across a restart
in the middle of a poll and across two nodes (one polls; the other takes over when the
first dies)."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import aioimaplib
import pytest
from sqlalchemy import func, select

from contact_center.store.schema import email_inbound
from email_channel.imap import MailboxPoller
from email_channel.settings import EmailSettings
from tests.email_channel.conftest import SUPPORT, EmailStack, StackFactory, customer_mail
from tests.email_channel.dovecot import PASSWORD, Dovecot

pytestmark = pytest.mark.integration
_users = itertools.count()


async def _append(dovecot: Dovecot, user: str, messages: list[bytes]) -> None:
    client = aioimaplib.IMAP4(host="127.0.0.1", port=dovecot.port, timeout=10)
    await client.wait_hello_from_server()
    assert (await client.login(user, PASSWORD)).result == "OK"
    for raw in messages:
        crlf = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        assert (await client.append(crlf, mailbox="INBOX")).result == "OK"
    await client.logout()


def _mails(start: int, count: int) -> list[bytes]:
    return [
        customer_mail(f"message {n}", sender=f"c{n}@example.org", subject=f"Question {n}",
                      message_id=f"<q{n}@example.org>")
        for n in range(start, start + count)
    ]  # fmt: skip


async def _uids(stack: EmailStack) -> list[int]:
    async with stack.services.engine.connect() as conn:
        rows = await conn.execute(select(email_inbound.c.uid).order_by(email_inbound.c.uid))
        return [int(u) for u in rows.scalars()]


async def _wait_for(condition: Any, timeout: float = 20.0) -> None:
    """Wait until ``condition()`` (a coroutine function) is true, or fail."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def _imap(dovecot: Dovecot, user: str, **overrides: Any) -> dict[str, Any]:
    return {
        "imap": [
            {"name": "inbox", "host": "127.0.0.1", "port": dovecot.port, "username": user,
             "password": PASSWORD, "address": SUPPORT, "poll_seconds": 0.2, **overrides}
        ],
        "lease_seconds": 1.0,
    }  # fmt: skip


async def test_given_mail_in_the_mailbox_when_polled_then_each_message_is_taken_once(
    dovecot: Dovecot, make_stack: StackFactory
) -> None:
    user = f"box{next(_users)}"
    await _append(dovecot, user, _mails(0, 3))
    stack = await make_stack(smtp_intake=False, **_imap(dovecot, user))

    async def three() -> bool:
        return await _uids(stack) == [1, 2, 3]

    await _wait_for(three)
    # New mail wakes the poller (IDLE) and is taken too, the earlier ones not again.
    await _append(dovecot, user, _mails(3, 2))

    async def five() -> bool:
        return await _uids(stack) == [1, 2, 3, 4, 5]

    await _wait_for(five)
    assert await stack.channel.service.wait_idle(10)
    async with stack.services.engine.connect() as conn:
        statuses = (await conn.execute(select(email_inbound.c.status))).scalars().all()
    assert statuses == ["processed"] * 5
    (poller,) = stack.channel.pollers
    assert poller.health()["holding"] and poller.health()["ok"]


async def test_given_a_restart_in_the_middle_of_a_poll_then_nothing_is_lost_or_duplicated(
    dovecot: Dovecot, make_stack: StackFactory
) -> None:
    user = f"box{next(_users)}"
    await _append(dovecot, user, _mails(0, 5))
    stack = await make_stack(smtp_intake=False)

    settings = EmailSettings.model_validate(
        {**stack.channel.settings.model_dump(), **_imap(dovecot, user)}
    )
    store = stack.channel.service.store
    first = MailboxPoller(settings.imap[0], settings, stack.channel.service, store, node_id="n1")
    stored = 0
    real_store = store.store_imap_message

    async def crash_on_third(raw: bytes, **kwargs: Any) -> int | None:
        nonlocal stored
        if stored == 2:
            raise ConnectionResetError("the node died here")
        stored += 1
        return await real_store(raw, **kwargs)

    store.store_imap_message = crash_on_third  # type: ignore[method-assign]
    assert await store.acquire_lease("inbox", "n1", time.time(), settings.lease_seconds)
    with pytest.raises(ConnectionResetError):
        await first.poll_once()
    await first.stop(release=False)
    store.store_imap_message = real_store  # type: ignore[method-assign]
    assert await _uids(stack) == [1, 2]
    # The node restarts (same node id): it takes the rest, and nothing twice.
    again = MailboxPoller(settings.imap[0], settings, stack.channel.service, store, node_id="n1")
    assert await store.acquire_lease("inbox", "n1", time.time(), settings.lease_seconds)
    assert await again.poll_once() == 3
    assert await again.poll_once() == 0
    await again.stop()
    assert await _uids(stack) == [1, 2, 3, 4, 5]


async def test_given_two_nodes_then_one_polls_and_the_other_takes_over_when_it_dies(
    dovecot: Dovecot, make_stack: StackFactory
) -> None:
    user = f"box{next(_users)}"
    await _append(dovecot, user, _mails(0, 4))
    stack = await make_stack(smtp_intake=False)
    settings = EmailSettings.model_validate(
        {**stack.channel.settings.model_dump(), **_imap(dovecot, user)}
    )
    service, store = stack.channel.service, stack.channel.service.store
    node_a = MailboxPoller(settings.imap[0], settings, service, store, node_id="node-a")
    node_b = MailboxPoller(settings.imap[0], settings, service, store, node_id="node-b")
    await node_a.start()

    async def a_holds() -> bool:
        return node_a.holding and await _uids(stack) == [1, 2, 3, 4]

    await _wait_for(a_holds)
    await node_b.start()
    await _append(dovecot, user, _mails(4, 2))

    async def six() -> bool:
        return await _uids(stack) == [1, 2, 3, 4, 5, 6]

    await _wait_for(six)
    assert node_b.polls == 0 and not node_b.holding  # only one node polls
    # Node A dies (its lease is not released): B takes over once the lease lapses.
    await node_a.stop(release=False)
    await _append(dovecot, user, _mails(6, 2))

    async def eight() -> bool:
        return await _uids(stack) == [1, 2, 3, 4, 5, 6, 7, 8]

    await _wait_for(eight)
    assert node_b.holding and node_b.taken == 2
    await node_b.stop()
    async with stack.services.engine.connect() as conn:
        count = (await conn.execute(select(func.count()).select_from(email_inbound))).scalar()
    assert count == 8
