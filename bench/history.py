"""History recorder throughput: timeline events written per second, and what it costs
the router to hand them over.

Scenario: ``--contacts`` calls (10,000; 1,000 with ``--quick``), each the six events the
router and the CTI publish in a call's life (queued, offered, connected, recording
started, hung up, closed), for customers that exist, published as one flood (larger
than the recorder's memory: the rest waits on disk) and written by a running
:class:`InteractionRecorder` on a migrated database.

    python -m bench.history --quick                 # PostgreSQL, small (< 30 s)
    python -m bench.history                         # PostgreSQL, 10,000 calls
    python -m bench.history --backend sqlite

Figures: ``events_per_s`` from the writer's start to its last commit;
``publish_us_per_event``, the router's side (``publish``, which never waits);
``statements_per_event``, SQL statements run per event (BEGIN/COMMIT aside; each
parameter set of an ``executemany`` counts); ``round_trips_per_event``, executions sent;
``rows`` the interactions written (must equal the calls). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.screen_pop import ensure_postgres_database
from contact_center.domain.events import DomainEvent
from contact_center.history import InteractionRecorder
from contact_center.settings import ValueSettings
from contact_center.store.engine import create_engine
from contact_center.store.migrate import upgrade
from contact_center.store.profiles import ProfileStore
from contact_center.store.schema import customers, interactions, metadata
from cti.events import CallDirection, CallHungUp, CallOutcome, CallRecordingStarted, HungUpBy
from routing.events import ContactClosed, ContactConnected, ContactOffered, ContactQueued
from routing.model import Channel

POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cc_bench_history"
CUSTOMERS = 500
AGENT = "not-a-user"  # agent ids of no user: the statement still runs (kept as NULL)


def call_events(n: int, customer_id: int, at: float) -> list[DomainEvent]:
    call = f"pbx:{n}.1"
    common: dict[str, Any] = {"channel": Channel.VOICE, "queue": "support"}
    cid = f"call-{call}"
    return [
        ContactQueued(at=at, contact_id=cid, customer_id=str(customer_id), **common),
        ContactOffered(
            at=at + 1,
            contact_id=cid,
            agent_id=AGENT,
            waited_seconds=1.0,
            offer_deadline=at + 20,
            decided_by="node",
            strategy="longest-idle",
            ring=0,
            **common,
        ),
        ContactConnected(at=at + 2, contact_id=cid, agent_id=AGENT, waited_seconds=2, **common),
        CallRecordingStarted(at=at + 3, server="pbx", call_id=call, file=f"/rec/{n}.wav"),
        CallHungUp(
            at=at + 60,
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
            talk_seconds=58.0,
        ),
        ContactClosed(at=at + 61, contact_id=cid, agent_id=AGENT, reason="ended", **common),
    ]


async def prepare(engine: AsyncEngine) -> list[int]:
    await upgrade(engine)
    names = ", ".join(t.name for t in reversed(metadata.sorted_tables))
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(metadata.sorted_tables):
                await conn.execute(table.delete())
        now = time.time()
        await conn.execute(
            insert(customers),
            [
                {
                    "display_name": f"Customer {i}",
                    "search_name": f"customer {i}",
                    "tier": "standard",
                    "lifecycle_stage": "customer",
                    "tags": [],
                    "attributes": {},
                    "consent": {},
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(CUSTOMERS)
            ],
        )
        ids = (await conn.execute(select(customers.c.id).order_by(customers.c.id))).scalars()
        return list(ids)


async def run(url: str, contacts: int) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        ids = await prepare(engine)
        store = ProfileStore(engine, default_region="GB", value_settings=ValueSettings())
        recorder = InteractionRecorder(store, voice_prefix="call-")
        events = [
            e
            for n in range(contacts)
            for e in call_events(n, ids[n % len(ids)], 1_790_000_000.0 + n)
        ]
        statements = round_trips = 0

        def count(
            conn: object, cursor: object, sql: str, params: Any, context: object, many: bool
        ) -> None:
            nonlocal statements, round_trips
            round_trips += 1
            statements += len(params) if many else 1

        event.listen(engine.sync_engine, "before_cursor_execute", count)
        started = time.perf_counter()
        await recorder.publish(events)
        published = time.perf_counter()
        await recorder.start()
        await recorder.wait_idle(timeout=3_600)
        written = time.perf_counter()
        await recorder.stop()
        event.remove(engine.sync_engine, "before_cursor_execute", count)
        async with engine.connect() as conn:
            rows = (await conn.execute(select(func.count()).select_from(interactions))).scalar_one()
        health = recorder.health()
        return {
            "backend": engine.dialect.name,
            "contacts": contacts,
            "events": len(events),
            "events_per_s": round(len(events) / (written - published), 1),
            "publish_us_per_event": round((published - started) / len(events) * 1e6, 2),
            "statements_per_event": round(statements / len(events), 3),
            "round_trips_per_event": round(round_trips / len(events), 3),
            "rows": int(rows),
            "failed": health.get("failed"),
            "late": health.get("late", health.get("overflowed")),
        }
    finally:
        await engine.dispose()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--contacts", type=int, default=None, help="calls (10,000)")
    parser.add_argument("--database-url", default=POSTGRES_URL, help="PostgreSQL URL (asyncpg)")
    parser.add_argument("--quick", action="store_true", help="1,000 calls, under 30 s")
    args = parser.parse_args(argv)
    if args.contacts is None:
        args.contacts = 1_000 if args.quick else 10_000
    if args.contacts < 1:
        parser.error("--contacts must be at least 1")
    return args


async def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.backend == "postgres":
        await ensure_postgres_database(args.database_url)
        return await run(args.database_url, args.contacts)
    with tempfile.TemporaryDirectory() as directory:
        return await run(f"sqlite+aiosqlite:///{Path(directory) / 'history.db'}", args.contacts)


if __name__ == "__main__":
    figures = asyncio.run(main())
    sys.stdout.write(orjson.dumps(figures).decode() + "\n")
