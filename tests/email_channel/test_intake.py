"""The SMTP intake and the hostile corpus: never an open relay; every message kept
(taken, automatic or quarantined), none lost, none blocking the next, each within
bounded time and memory; quarantined ones listed and retried by administrators."""

from __future__ import annotations

import time
import tracemalloc

import aiosmtplib
import pytest
from sqlalchemy import select

from contact_center.store.schema import email_inbound
from email_channel.parsing import Limits, ParseRefused, parse_message
from tests.email_channel.conftest import SUPPORT, EmailStack, customer_mail
from tests.fixtures.email import corpus

EXPECTED_STATUS = {"taken": "processed", "automatic": "automatic", "quarantined": "quarantined"}


async def test_given_a_recipient_that_is_not_ours_then_the_intake_refuses_to_relay(
    stack: EmailStack,
) -> None:
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=stack.intake_port, timeout=10)
    async with smtp:
        await smtp.ehlo()
        await smtp.mail("spammer@example.net")
        with pytest.raises(aiosmtplib.SMTPRecipientRefused) as refused:
            await smtp.rcpt("victim@elsewhere.example")
        assert refused.value.code == 550
        with pytest.raises(aiosmtplib.SMTPRecipientRefused):
            await smtp.rcpt("support@example.com.evil.example")
        # Plus-addressed forms of our own addresses are ours.
        assert (await smtp.rcpt("support+anything@example.com")).code == 250
    async with stack.services.engine.connect() as conn:
        assert (await conn.execute(select(email_inbound.c.id))).first() is None


async def test_given_a_message_over_the_size_limit_then_smtp_refuses_it(
    make_stack: object,
) -> None:
    stack: EmailStack = await make_stack(max_message_bytes=50_000)  # type: ignore[operator]
    with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
        await stack.send(customer_mail("x" * 70 + "\n" * 1000 + "y" * 60_000))
    assert refused.value.code == 552


@pytest.mark.slow
async def test_given_the_hostile_corpus_then_nothing_crashes_stalls_or_is_lost(
    stack: EmailStack,
) -> None:
    service = stack.channel.service
    cases = corpus.cases()
    ids: dict[str, int] = {}
    # Received the way the intakes receive (raw stored first), all at once: a bad
    # message must not hold up the others.
    for name, raw, _ in cases:
        ids[name] = await service.receive(
            raw, source="smtp", envelope_from="x@example.net", envelope_to=[SUPPORT]
        )
    ids["after"] = await service.receive(customer_mail(), source="smtp", envelope_to=[SUPPORT])
    assert await service.wait_idle(120)
    async with stack.services.engine.connect() as conn:
        rows = {
            r.id: r
            for r in await conn.execute(
                select(
                    email_inbound.c.id,
                    email_inbound.c.status,
                    email_inbound.c.reason,
                    email_inbound.c.size,
                )
            )
        }
    assert len(rows) == len(cases) + 1  # nothing lost: every message kept, raw included
    for name, raw, outcome in cases:
        row = rows[ids[name]]
        assert row.size == len(raw)
        assert row.status == EXPECTED_STATUS[outcome], (name, row.status, row.reason)
    assert rows[ids["after"]].status == "processed"
    status, page = await stack.api("GET", "/api/v1/email/quarantine", "admin1")
    assert status == 200
    quarantined = {item["id"]: item["reason"] for item in page["items"]}
    assert quarantined[ids["missing-from"]] == "no-sender"
    assert quarantined[ids["thousands-of-headers"]] == "too-many-headers"
    status, _ = await stack.api("GET", "/api/v1/email/quarantine", "agent1")
    assert status == 403


@pytest.mark.parametrize(("name", "raw", "outcome"), corpus.cases(), ids=lambda v: str(v)[:30])
def test_given_a_hostile_message_then_parsing_is_bounded_in_time_and_memory(
    name: str, raw: bytes, outcome: str
) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        parsed = parse_message(raw, Limits())
    except ParseRefused as refused:
        assert outcome == "quarantined", (name, refused.reason)
    else:
        assert outcome != "quarantined", name
        assert (parsed.automatic is not None) == (outcome == "automatic"), name
        for attachment in parsed.attachments:
            assert "/" not in attachment.filename and "\\" not in attachment.filename
            assert not attachment.filename.startswith(".")
        assert "\n" not in parsed.subject and "\r" not in parsed.from_name
        if parsed.html:
            assert "<script" not in parsed.html and "onclick" not in parsed.html
            assert "javascript:" not in parsed.html
    finally:
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    # Bounded: a few seconds for the largest (25 MB) message, memory a small multiple.
    assert elapsed < 10.0, (name, elapsed)
    assert peak < 10 * len(raw) + 32 * 1024 * 1024, (name, peak)


async def test_given_quarantined_mail_when_retried_with_a_higher_limit_then_it_is_taken(
    make_stack: object,
) -> None:
    stack: EmailStack = await make_stack(max_headers=100)  # type: ignore[operator]
    service = stack.channel.service
    inbound_id = await service.receive(
        corpus.thousands_of_headers(300), source="smtp", envelope_to=[SUPPORT]
    )
    assert await service.wait_idle()
    status, page = await stack.api("GET", "/api/v1/email/quarantine", "admin1")
    assert [i["id"] for i in page["items"]] == [inbound_id]
    # Still refused with the same limit: stays quarantined, attempts counted.
    status, result = await stack.api(
        "POST", f"/api/v1/email/quarantine/{inbound_id}/retry", "admin1"
    )
    assert status == 200 and result["status"] == "quarantined"
    service.limits = type(service.limits)(max_headers=1000)
    status, result = await stack.api(
        "POST", f"/api/v1/email/quarantine/{inbound_id}/retry", "admin1"
    )
    assert status == 200 and result["status"] == "processed" and result["thread_id"]
    status, _ = await stack.api("POST", f"/api/v1/email/quarantine/{inbound_id}/retry", "admin1")
    assert status == 404
