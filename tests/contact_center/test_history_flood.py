"""The history recorder under load: one statement per event, nothing lost in a flood
larger than its memory, a failing database retried, health that tells the present."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from contact_center.domain.events import DomainEvent
from contact_center.history import InteractionRecorder
from contact_center.services import SYSTEM
from contact_center.store.profiles import ProfileStore
from contact_center.store.schema import interactions
from cti.events import CallDirection, CallHungUp, CallOutcome, CallRecordingStarted, HungUpBy
from routing.events import ContactClosed, ContactConnected, ContactOffered, ContactQueued
from routing.model import Channel

COMMON: dict[str, Any] = {"channel": Channel.VOICE, "queue": "support"}


def contact_events(contact: int, customer_id: int, agent_id: str, at: float) -> list[DomainEvent]:
    """A call's whole life as the router and the CTI tell it: six events."""
    call = f"pbx:{contact}.1"
    cid = f"call-{call}"
    return [
        ContactQueued(at=at, contact_id=cid, customer_id=str(customer_id), **COMMON),
        ContactOffered(
            at=at + 1,
            contact_id=cid,
            agent_id=agent_id,
            waited_seconds=1.0,
            offer_deadline=at + 20,
            decided_by="node",
            strategy="longest-idle",
            ring=0,
            **COMMON,
        ),
        ContactConnected(at=at + 2, contact_id=cid, agent_id=agent_id, waited_seconds=2, **COMMON),
        CallRecordingStarted(at=at + 3, server="pbx", call_id=call, file=f"/r/{contact}.wav"),
        CallHungUp(
            at=at + 1.5,  # Asterisk's clock behind ours: the end is kept after the answer
            server="pbx",
            call_id=call,
            direction=CallDirection.INBOUND,
            hung_up_by=HungUpBy.CUSTOMER,
            outcome=CallOutcome.COMPLETED,
            cause=16,
            cause_text="Normal Clearing",
            extension="1001",
            queue="support",
            caller_number="+442079460018",
            wait_seconds=2.0,
            talk_seconds=0.0,
        ),
        ContactClosed(at=at + 9, contact_id=cid, agent_id=agent_id, reason="ended", **COMMON),
    ]


@pytest.fixture
def statements(store: ProfileStore) -> Iterator[list[str]]:
    """Every SQL statement the engine runs, once per parameter set of an executemany
    (BEGIN and COMMIT are not statements here)."""
    sent: list[str] = []

    def record(
        conn: Any, cursor: Any, sql: str, params: Any, context: Any, executemany: bool
    ) -> None:
        head = " ".join(sql.split()[:3])
        sent.extend([head] * (len(params) if executemany else 1))

    target = store.engine.sync_engine
    event.listen(target, "before_cursor_execute", record)
    yield sent
    event.remove(target, "before_cursor_execute", record)


async def customers(store: ProfileStore, count: int) -> list[int]:
    return [
        (await store.create_customer({"display_name": f"C{i}"}, [], actor=SYSTEM))["id"]
        for i in range(count)
    ]


async def test_one_statement_per_event_and_the_events_of_a_burst_in_one_transaction(
    store: ProfileStore, statements: list[str]
) -> None:
    ids = await customers(store, 20)
    recorder = InteractionRecorder(store, voice_prefix="call-")
    burst = [e for i, c in enumerate(ids) for e in contact_events(i, c, "not-a-user", 100.0 + i)]
    statements.clear()
    await recorder.publish(burst)  # queued together: written together
    await recorder.start()
    await recorder.wait_idle()
    await recorder.stop()
    assert recorder.health()["applied"] == 120 and recorder.health()["failed"] == 0
    # 20 INSERTs (arrivals) + 100 UPDATEs of interactions, and per transaction one UPDATE
    # of the arrived customers and one of their earlier contacts' next contact (first-
    # contact resolution); not one read.
    kinds = [s.split()[0] for s in statements]
    assert kinds.count("INSERT") == 20
    assert kinds.count("SELECT") == 0
    batches = recorder.health()["batches"]
    assert batches == 1
    assert len(statements) == len(burst) + 2 * batches
    rows = await interaction_rows(store)
    assert len(rows) == 20
    first = rows[0]
    assert (first["queued_at"], first["offered_at"], first["answered_at"]) == (100, 101, 102)
    assert first["ended_at"] == 102  # not before the answer
    assert first["status"] == "closed"
    assert first["external_ids"]["recordings"] == ["/r/0.wav"]
    assert first["external_ids"]["hangup"] == ["customer:Normal Clearing"]
    assert first["external_ids"]["asterisk_call"] == "pbx:0.1"


async def interaction_rows(store: ProfileStore) -> list[dict[str, Any]]:
    async with store.engine.connect() as conn:
        result = await conn.execute(select(interactions).order_by(interactions.c.id))
        return [dict(r) for r in result.mappings()]


async def test_a_flood_larger_than_memory_is_recorded_in_full_and_health_recovers(
    store: ProfileStore,
) -> None:
    ids = await customers(store, 5)
    recorder = InteractionRecorder(store, voice_prefix="call-", max_pending=50, batch_size=40)
    flood = [
        e for i in range(400) for e in contact_events(i, ids[i % 5], str(i % 3 + 1), 1000.0 + i)
    ]
    await recorder.publish(flood)
    # The writer is not running yet: 50 in memory, the rest on disk, and health says so.
    health = recorder.health()
    assert health["pending"] == 2_400 and health["waiting_on_disk"] == 2_350
    assert health["ok"] is False and "waiting on disk" in health["problems"][0]
    await recorder.start()
    await recorder.wait_idle(timeout=60)
    health = recorder.health()
    assert health["ok"] is True and health["problems"] == []
    assert health["pending"] == 0 and health["applied"] == 2_400 and health["failed"] == 0
    assert health["late"] == 2_350  # counted as late, not lost
    await recorder.stop()
    rows = await interaction_rows(store)
    assert len(rows) == 400
    assert all(r["status"] == "closed" and r["answered_at"] is not None for r in rows)
    assert sorted(r["external_ids"]["recordings"][0] for r in rows) == sorted(
        f"/r/{i}.wav" for i in range(400)
    )
    async with store.engine.connect() as conn:
        per_customer = await conn.execute(
            select(func.count()).select_from(interactions).group_by(interactions.c.customer_id)
        )
        assert sorted(per_customer.scalars()) == [80] * 5


async def test_publish_never_waits_even_with_a_backlog_on_disk(store: ProfileStore) -> None:
    ids = await customers(store, 1)
    recorder = InteractionRecorder(store, voice_prefix="call-", max_pending=10)
    flood = [e for i in range(1_000) for e in contact_events(i, ids[0], "1", float(i))]
    publishing = recorder.publish(flood)
    # The coroutine ends at its first step: it never gives the loop away to wait.
    with pytest.raises(StopIteration):
        publishing.send(None)
    assert recorder.pending == 6_000
    await recorder.start()
    await recorder.stop(timeout=60)
    assert recorder.health()["applied"] == 6_000


async def test_a_database_failing_for_a_while_is_retried_and_nothing_is_lost(
    store: ProfileStore,
) -> None:
    ids = await customers(store, 2)
    failures = {"left": 3}

    def fail(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE")) and failures["left"]:
            failures["left"] -= 1
            raise OperationalError(sql, {}, Exception("database is locked"))

    target = store.engine.sync_engine
    event.listen(target, "before_cursor_execute", fail)
    recorder = InteractionRecorder(store, voice_prefix="call-")
    try:
        await recorder.publish(contact_events(1, ids[0], "1", 10.0))
        await recorder.start()
        await recorder.publish(contact_events(2, ids[1], "1", 20.0))
        await recorder.wait_idle(timeout=10)
    finally:
        event.remove(target, "before_cursor_execute", fail)
    await recorder.stop()
    assert failures["left"] == 0
    health = recorder.health()
    assert health["ok"] is True and health["applied"] == 12 and health["failed"] == 0
    assert len(await interaction_rows(store)) == 2


async def test_a_bad_event_in_a_batch_costs_only_itself(store: ProfileStore) -> None:
    ids = await customers(store, 1)
    recorder = InteractionRecorder(store, voice_prefix="call-")
    events = contact_events(1, ids[0], "1", 10.0)
    # A queue name longer than the column allows: PostgreSQL refuses that statement.
    bad = ContactQueued(
        at=5.0,
        contact_id="call-pbx:9.1",
        customer_id=str(ids[0]),
        channel=Channel.VOICE,
        queue="q" * 70,
    )
    await recorder.publish([events[0], bad, *events[1:]])
    await recorder.start()
    await recorder.stop()
    rows = await interaction_rows(store)
    contact_row = next(r for r in rows if r["contact_id"] == "call-pbx:1.1")
    assert contact_row["status"] == "closed" and contact_row["answered_at"] == 12.0
    health = recorder.health()
    assert health["applied"] + health["failed"] == 7
