"""Fast bulk loading of synthetic customers into the profile store's tables.

The store's public methods validate and audit every write one row at a time: right
for live traffic and the demo, far too slow for millions of customers. This module
writes the same rows directly, in big batches: PostgreSQL through asyncpg's binary
COPY (``copy_records_to_table``), SQLite through ``executemany`` in one transaction
per batch. Every table is filled consistently (customers with their value columns
from :func:`contact_center.domain.customer.compute_value`, identities, interactions,
messages, notes, orders, monthly value buckets) so a screen-pop of a bulk-loaded
customer has the same shape as one of a customer written through the store.

Row ids come from the tables' own sequences on PostgreSQL (``nextval`` for a whole
batch at once, so concurrent writers never collide) and from ``max(id)`` inside the
write transaction on SQLite (SQLite has one writer at a time). Row building is pure
(:func:`customer_rows`); only :func:`bulk_load` does I/O.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import functools
import itertools
import multiprocessing
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contact_center.domain.customer import search_key
from contact_center.errors import Conflict, InvalidInput
from contact_center.seed import (
    ProgressArg,
    SeedShape,
    SyntheticCustomer,
    SyntheticOrderItem,
    derive_value,
    generate_customers,
    progress_callback,
)
from contact_center.settings import ValueSettings


class BulkLoadRejected(InvalidInput):
    error_id = "bulk-load-rejected"


class BulkLoadConflict(Conflict):
    error_id = "bulk-load-conflict"


# Column order of the rows built below, per table, in foreign-key order.
COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": (
        "id", "display_name", "search_name", "language", "timezone", "tier", "previous_tier",
        "churn_risk", "lifecycle_stage", "owner_agent_id", "tags", "attributes", "consent",
        "provisional", "merged_into_id", "erased_at", "spend_window_cents",
        "margin_window_cents", "orders_window", "lifetime_spend_cents", "lifetime_orders",
        "last_order_at", "last_contact_at", "repeat_contact", "created_at", "updated_at",
    ),
    "identities": ("id", "customer_id", "kind", "value", "created_at"),
    "interactions": (
        "id", "customer_id", "contact_id", "channel", "direction", "status", "queue",
        "agent_id", "started_at", "queued_at", "offered_at", "answered_at", "ended_at",
        "disposition", "resolved", "repeat_contact", "subject", "notes", "summary",
        "external_ids", "external_ref",
    ),
    "messages": (
        "id", "interaction_id", "customer_id", "direction", "sender", "subject", "body",
        "attachments", "external_id", "created_at",
    ),
    "notes": ("id", "customer_id", "interaction_id", "author_id", "body", "created_at"),
    "orders": (
        "id", "customer_id", "source", "external_id", "amount_cents", "margin_cents",
        "currency", "items", "status", "ordered_at",
    ),
    "customer_value_months": ("customer_id", "month", "spend_cents", "margin_cents", "orders"),
}  # fmt: skip
TABLES = tuple(COLUMNS)
# Tables whose ids the loader allocates (customer_value_months has a composite key).
ID_TABLES = tuple(t for t in TABLES if COLUMNS[t][0] == "id")


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _item(item: SyntheticOrderItem) -> dict[str, Any]:
    # The same item shape seed_store sends to import_orders.
    return {
        "sku": item.sku,
        "name": item.name,
        "quantity": item.quantity,
        "unit_price": item.unit_price_cents / 100,
    }


@dataclasses.dataclass(slots=True)
class RowBatch:
    """Rows for every table, as tuples in :data:`COLUMNS` order."""

    rows: dict[str, list[tuple[Any, ...]]] = dataclasses.field(
        default_factory=lambda: {t: [] for t in TABLES}
    )

    def count(self) -> int:
        return sum(len(r) for r in self.rows.values())


def rows_needed(customer: SyntheticCustomer) -> dict[str, int]:
    """How many ids of each table one customer's rows take."""
    return {
        "customers": 1,
        "identities": len(customer.identities),
        "interactions": len(customer.interactions),
        "messages": sum(len(i.messages) for i in customer.interactions),
        "notes": len(customer.notes) + sum(len(i.note_items) for i in customer.interactions),
        "orders": len(customer.orders),
    }


def customer_rows(
    customer: SyntheticCustomer,
    ids: Mapping[str, Iterator[int]],
    batch: RowBatch,
    *,
    now: float,
    settings: ValueSettings,
    agent_ids: Sequence[int] = (),
) -> None:
    """Append one customer's rows to ``batch``, taking row ids from ``ids``.

    Mirrors what the profile store writes: a customer without orders keeps the
    lowest tier with no previous tier (the store never refreshes its value); value
    buckets exclude cancelled orders.
    """

    def agent(index: int | None) -> int | None:
        return agent_ids[index % len(agent_ids)] if agent_ids and index is not None else None

    rows = batch.rows
    customer_id = next(ids["customers"])
    derived = derive_value(customer, now=now, settings=settings)
    value = derived.value
    has_orders = bool(customer.orders)
    rows["customers"].append(
        (
            customer_id,
            customer.display_name,
            search_key(customer.display_name),
            customer.language,
            customer.timezone,
            value.tier if has_orders else settings.tiers[-1].name,
            value.previous_tier if has_orders else None,
            value.churn_risk if has_orders else False,
            derived.lifecycle_stage,
            agent(customer.owner_agent),
            _json(list(customer.tags)),
            _json(dict(customer.attributes)),
            _json(dict(customer.consent)),
            False,
            None,
            None,
            value.spend_window_cents,
            value.margin_window_cents,
            value.orders_window,
            derived.lifetime_spend_cents,
            derived.lifetime_orders,
            derived.last_order_at,
            derived.last_contact_at,
            derived.repeat_contact,
            customer.created_at,
            now,
        )
    )
    identity_rows = rows["identities"]
    for kind, identity_value in customer.identities:
        identity_rows.append(
            (next(ids["identities"]), customer_id, kind.value, identity_value, customer.created_at)
        )
    interaction_rows = rows["interactions"]
    message_rows = rows["messages"]
    note_rows = rows["notes"]
    interaction_ids = ids["interactions"]
    message_ids = ids["messages"]
    note_ids = ids["notes"]
    for i in customer.interactions:
        interaction_id = next(interaction_ids)
        interaction_rows.append(
            (
                interaction_id,
                customer_id,
                i.contact_id,
                i.channel.value,
                i.direction.value,
                i.status.value,
                i.queue,
                agent(i.agent),
                i.started_at,
                i.queued_at,
                i.offered_at,
                i.answered_at,
                i.ended_at,
                i.disposition,
                i.resolved,
                i.repeat_contact,
                i.subject,
                i.notes,
                i.summary,
                _json(dict(i.external_ids)),
                i.external_ids[0][1] if i.external_ids else None,
            )
        )
        for m in i.messages:
            message_rows.append(
                (
                    next(message_ids),
                    interaction_id,
                    customer_id,
                    m.direction.value,
                    m.sender,
                    m.subject,
                    m.body,
                    "[]",
                    m.external_id,
                    m.created_at,
                )
            )
        for n in i.note_items:
            note_rows.append(
                (next(note_ids), customer_id, interaction_id, agent(n.agent), n.body, n.created_at)
            )
    for n in customer.notes:
        note_rows.append((next(note_ids), customer_id, None, agent(n.agent), n.body, n.created_at))
    order_rows = rows["orders"]
    for o in customer.orders:
        order_rows.append(
            (
                next(ids["orders"]),
                customer_id,
                o.source,
                o.external_id,
                o.amount_cents,
                o.margin_cents,
                o.currency,
                _json([_item(it) for it in o.items]),
                o.status,
                o.ordered_at,
            )
        )
    month_rows = rows["customer_value_months"]
    for bucket in derived.months:
        month_rows.append(
            (customer_id, bucket.month, bucket.spend_cents, bucket.margin_cents, bucket.orders)
        )


def build_rows(
    customers: Iterable[SyntheticCustomer],
    *,
    now: float,
    settings: ValueSettings,
    agent_ids: Sequence[int] = (),
) -> RowBatch:
    """Rows of ``customers`` with *local* ids (0, 1, 2 ... per table); see :func:`rebase`."""
    ids = {table: itertools.count() for table in ID_TABLES}
    batch = RowBatch()
    for customer in customers:
        customer_rows(customer, ids, batch, now=now, settings=settings, agent_ids=agent_ids)
    return batch


def rebase(batch: RowBatch, allocated: Mapping[str, Sequence[int]]) -> RowBatch:
    """The same rows with local ids replaced by real ones (``allocated[table][local]``)."""
    c = allocated["customers"]
    i = allocated["interactions"]
    rows = batch.rows
    out = RowBatch()
    new = out.rows
    new["customers"] = [(c[r[0]], *r[1:]) for r in rows["customers"]]
    ident = allocated["identities"]
    new["identities"] = [(ident[r[0]], c[r[1]], *r[2:]) for r in rows["identities"]]
    new["interactions"] = [(i[r[0]], c[r[1]], *r[2:]) for r in rows["interactions"]]
    m = allocated["messages"]
    new["messages"] = [(m[r[0]], i[r[1]], c[r[2]], *r[3:]) for r in rows["messages"]]
    n = allocated["notes"]
    new["notes"] = [
        (n[r[0]], c[r[1]], None if r[2] is None else i[r[2]], *r[3:]) for r in rows["notes"]
    ]
    o = allocated["orders"]
    new["orders"] = [(o[r[0]], c[r[1]], *r[2:]) for r in rows["orders"]]
    new["customer_value_months"] = [(c[r[0]], *r[1:]) for r in rows["customer_value_months"]]
    return out


def _generated_rows(
    first_number: int,
    count: int,
    rng_seed: int,
    now: float,
    shape: SeedShape,
    settings: ValueSettings,
    agent_ids: tuple[int, ...],
) -> RowBatch:
    """Worker-process entry: generate customers and build their rows (plain tuples
    pickle quickly; the dataclasses would not)."""
    customers = generate_customers(
        count, rng_seed=rng_seed, now=now, first_number=first_number, shape=shape
    )
    return build_rows(customers, now=now, settings=settings, agent_ids=agent_ids)


# ------------------------------------------------------------------------- I/O


async def bulk_load(
    engine: AsyncEngine,
    customers: Iterable[SyntheticCustomer],
    *,
    now: float,
    value_settings: ValueSettings,
    agent_ids: Sequence[int] = (),
    batch_size: int = 2000,
    rebuild_indexes: bool = False,
    total: int | None = None,
    progress: ProgressArg = False,
) -> dict[str, Any]:
    """Write ``customers`` in batches of ``batch_size``; return counts and throughput.

    Each batch is one transaction: a failed load keeps every earlier batch whole and
    nothing of the failed one. Unique constraints stay in force (an identity, contact
    id or order number that already exists fails its batch with a clear error).

    ``rebuild_indexes`` (PostgreSQL, and only when every loaded table is empty):
    drop the plain secondary indexes and the foreign keys of the loaded tables
    first, then create them again (the foreign keys are validated when re-added),
    which is several times faster than maintaining them row by row. Primary keys
    and unique constraints always stay. The tables are ANALYZEd at the end.
    """
    if batch_size < 1:
        raise BulkLoadRejected("batch_size must be at least 1")
    settings = value_settings
    agents = tuple(agent_ids)

    async def batches() -> AsyncIterator[tuple[RowBatch, int]]:
        for chunk in _chunks(customers, batch_size):
            yield build_rows(chunk, now=now, settings=settings, agent_ids=agents), len(chunk)

    return await _write(engine, batches(), now, rebuild_indexes, total, progress)


async def bulk_load_generated(
    engine: AsyncEngine,
    count: int,
    *,
    rng_seed: int,
    now: float,
    value_settings: ValueSettings,
    shape: SeedShape | None = None,
    first_number: int = 1,
    agent_ids: Sequence[int] = (),
    batch_size: int = 2000,
    workers: int = 2,
    rebuild_indexes: bool = False,
    progress: ProgressArg = False,
) -> dict[str, Any]:
    """Generate and load ``count`` customers, generating in ``workers`` processes.

    The same customers and rows as ``bulk_load(engine, generate_customers(...))``;
    generation (the costly part in Python) runs in worker processes while this
    process writes, so a large load uses every core.
    """
    if count < 0 or batch_size < 1 or not 1 <= workers <= 64:
        raise BulkLoadRejected("count >= 0, batch_size >= 1 and 1 <= workers <= 64 are required")
    chosen = shape or SeedShape()
    # Validate the whole request here rather than in a worker.
    generate_customers(count, rng_seed=rng_seed, now=now, first_number=first_number)
    job = functools.partial(
        _generated_rows,
        rng_seed=rng_seed,
        now=now,
        shape=chosen,
        settings=value_settings,
        agent_ids=tuple(agent_ids),
    )

    async def batches() -> AsyncIterator[tuple[RowBatch, int]]:
        context = multiprocessing.get_context("spawn")
        starts = range(first_number, first_number + count, batch_size)
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            pending: collections.deque[tuple[Future[RowBatch], int]] = collections.deque()
            for start in starts:
                size = min(batch_size, first_number + count - start)
                pending.append((pool.submit(job, start, size), size))
                # Bounded read-ahead: a few batches in flight, not the whole load in memory.
                if len(pending) >= workers * 2:
                    future, n = pending.popleft()
                    yield await asyncio.wrap_future(future), n
            while pending:
                future, n = pending.popleft()
                yield await asyncio.wrap_future(future), n

    return await _write(engine, batches(), now, rebuild_indexes, count, progress)


def _chunks(customers: Iterable[SyntheticCustomer], size: int) -> Iterator[list[SyntheticCustomer]]:
    chunk: list[SyntheticCustomer] = []
    for customer in customers:
        chunk.append(customer)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _write(
    engine: AsyncEngine,
    batches: AsyncIterator[tuple[RowBatch, int]],
    now: float,
    rebuild_indexes: bool,
    total: int | None,
    progress: ProgressArg,
) -> dict[str, Any]:
    backend = engine.dialect.name
    if backend not in ("postgresql", "sqlite"):
        raise BulkLoadRejected(f"bulk loading into {backend} is not supported")
    counts = dict.fromkeys(TABLES, 0)
    bar, advance = progress_callback(progress, total or 0, "customer")
    started = time.perf_counter()
    timings: dict[str, float] = {}
    try:
        if backend == "postgresql":
            rebuilt = await _write_postgres(
                engine, batches, rebuild_indexes, counts, advance, timings
            )
        else:
            rebuilt = False
            await _write_sqlite(engine, batches, counts, advance)
    except _conflict_errors() as exc:
        # Earlier batches are committed and whole; the failed batch left nothing.
        raise BulkLoadConflict(
            "a loaded row collides with an existing one (an identity, contact id or "
            "order number already exists: were these customer numbers loaded before?)",
            details={"loaded": dict(counts), "error": str(exc).splitlines()[0][:300]},
        ) from None
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - started
    rows = sum(counts.values())
    summary: dict[str, Any] = {
        "backend": backend,
        **counts,
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds) if seconds > 0 else 0,
        "indexes_rebuilt": rebuilt,
        **{k: round(v, 3) for k, v in timings.items()},
    }
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO audit_events (at, actor_id, actor, action, customer_id, "
                "contact_id, details) VALUES (:at, NULL, 'system', 'customers.bulk_loaded', "
                "NULL, NULL, :details)"
            ),
            {"at": now, "details": _json({k: v for k, v in summary.items() if k != "backend"})},
        )
    return summary


def _conflict_errors() -> tuple[type[Exception], ...]:
    """Unique or foreign-key violations as SQLAlchemy and raw asyncpg raise them."""
    try:
        import asyncpg
    except ImportError:  # SQLite-only installation
        return (IntegrityError,)
    pg_error: type[Exception] = asyncpg.IntegrityConstraintViolationError
    return (IntegrityError, pg_error)


def _row_counts(batch: RowBatch) -> dict[str, int]:
    return {t: len(batch.rows[t]) for t in ID_TABLES}


async def _write_postgres(
    engine: AsyncEngine,
    batches: AsyncIterator[tuple[RowBatch, int]],
    rebuild_indexes: bool,
    counts: dict[str, int],
    advance: Callable[[int], None],
    timings: dict[str, float],
) -> bool:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        pg: Any = raw.driver_connection  # the asyncpg connection
        sequences = {
            t: await pg.fetchval("SELECT pg_get_serial_sequence($1, 'id')", t) for t in ID_TABLES
        }
        # This session's commits need not wait for the WAL flush: a crash mid-load
        # loses at most the last batches, never consistency. Reset before release.
        await pg.execute("SET synchronous_commit = off")
        await pg.execute("SET maintenance_work_mem = '512MB'")
        deferred: _DeferredDdl | None = None
        try:
            if rebuild_indexes and await _pg_tables_empty(pg):
                deferred = await _pg_defer_indexes(pg)
            copy_seconds = 0.0
            async for local, customers in batches:
                allocated: dict[str, Sequence[int]] = {}
                for table, n in _row_counts(local).items():
                    values = await pg.fetch(
                        "SELECT nextval($1::regclass) FROM generate_series(1, $2)",
                        sequences[table],
                        n,
                    )
                    allocated[table] = [r[0] for r in values]
                batch = rebase(local, allocated)
                copy_started = time.perf_counter()
                async with pg.transaction():
                    for table in TABLES:
                        if batch.rows[table]:
                            await pg.copy_records_to_table(
                                table, records=batch.rows[table], columns=COLUMNS[table]
                            )
                copy_seconds += time.perf_counter() - copy_started
                for table in TABLES:
                    counts[table] += len(batch.rows[table])
                advance(customers)
            timings["copy_seconds"] = copy_seconds
        finally:
            # Indexes and foreign keys come back even when the load failed half-way.
            if deferred is not None:
                restore_started = time.perf_counter()
                await deferred.restore(pg)
                timings["index_rebuild_seconds"] = time.perf_counter() - restore_started
            await pg.execute("RESET synchronous_commit")
        analyze_started = time.perf_counter()
        for table in TABLES:
            await pg.execute(f"ANALYZE {table}")
        timings["analyze_seconds"] = time.perf_counter() - analyze_started
        await pg.execute("RESET maintenance_work_mem")
    return deferred is not None


async def _pg_tables_empty(pg: Any) -> bool:
    for table in TABLES:
        if await pg.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):  # noqa: S608 - fixed names
            return False
    return True


@dataclasses.dataclass(slots=True)
class _DeferredDdl:
    """Indexes and foreign keys dropped for a load, with the DDL that recreates them."""

    indexes: list[str]
    foreign_keys: list[str]

    async def restore(self, pg: Any) -> None:
        for statement in self.indexes:
            await pg.execute(statement)
        for statement in self.foreign_keys:
            await pg.execute(statement)


async def _pg_defer_indexes(pg: Any) -> _DeferredDdl:
    """Drop plain indexes and foreign keys of the loaded tables; keep their DDL."""
    tables = list(TABLES)
    index_rows = await pg.fetch(
        """
        SELECT c.relname AS name, pg_get_indexdef(x.indexrelid) AS definition
        FROM pg_index x
        JOIN pg_class c ON c.oid = x.indexrelid
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE t.relname = ANY($1::text[]) AND n.nspname = current_schema()
          AND NOT x.indisunique AND NOT x.indisprimary
        ORDER BY c.relname
        """,
        tables,
    )
    fk_rows = await pg.fetch(
        """
        SELECT k.conname AS name, t.relname AS table_name,
               pg_get_constraintdef(k.oid) AS definition
        FROM pg_constraint k
        JOIN pg_class t ON t.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = t.relnamespace
        WHERE k.contype = 'f' AND t.relname = ANY($1::text[]) AND n.nspname = current_schema()
        ORDER BY t.relname, k.conname
        """,
        tables,
    )
    deferred = _DeferredDdl([], [])
    async with pg.transaction():
        for row in index_rows:
            await pg.execute(f'DROP INDEX "{row["name"]}"')
            deferred.indexes.append(row["definition"])
        for row in fk_rows:
            await pg.execute(f'ALTER TABLE "{row["table_name"]}" DROP CONSTRAINT "{row["name"]}"')
            deferred.foreign_keys.append(
                f'ALTER TABLE "{row["table_name"]}" ADD CONSTRAINT "{row["name"]}" '
                f"{row['definition']}"
            )
    return deferred


async def _write_sqlite(
    engine: AsyncEngine,
    batches: AsyncIterator[tuple[RowBatch, int]],
    counts: dict[str, int],
    advance: Callable[[int], None],
) -> None:
    statements = {
        t: f"INSERT INTO {t} ({', '.join(c)}) VALUES ({', '.join('?' * len(c))})"  # noqa: S608
        for t, c in COLUMNS.items()
    }
    async with engine.connect() as conn:
        async for local, customers in batches:
            async with conn.begin():
                allocated = await _sqlite_ids(conn, _row_counts(local))
                batch = rebase(local, allocated)
                for table in TABLES:
                    if batch.rows[table]:
                        await conn.exec_driver_sql(statements[table], batch.rows[table])
            for table in TABLES:
                counts[table] += len(batch.rows[table])
            advance(customers)
        async with conn.begin():
            await conn.exec_driver_sql("ANALYZE")


async def _sqlite_ids(conn: AsyncConnection, needed: Mapping[str, int]) -> dict[str, range]:
    """Id ranges above each table's current maximum, read inside the write transaction."""
    ids: dict[str, range] = {}
    for table, n in needed.items():
        result = await conn.exec_driver_sql(f"SELECT coalesce(max(id), 0) FROM {table}")  # noqa: S608
        start = int(result.scalar_one()) + 1
        ids[table] = range(start, start + n)
    return ids
