"""Wallboard under load, and the contact report at ten million stored contacts.

Two figures, each from its own set-up:

* ``event_to_board_p99_ms``: the server process is the product (``build_app``, router
  in memory, a throwaway PostgreSQL database ``cc_bench_wallboard`` or with
  ``--backend sqlite`` a fresh file) with agents who accept every offer and hang up
  two seconds later. A load generator in a process of its own opens ``--viewers``
  supervisor websockets watching ``wallboard`` and notes when each board arrives and
  the moment it stands for (its ``at``). A driver in the server enqueues ``--rate``
  calls a second for known customers and notes when each was queued. Latency of a
  call on a socket: from its queueing to the first board on that socket computed after
  it (same host, same wall clock).
* ``report_day_ms``: a second throwaway database, ``cc_bench_wallboard_report``, gets
  ``--rows`` stored contacts (10 million; ``--quick`` 200,000 and says so) over 365 days
  with SQL ``generate_series`` (three queues, three channels, abandons, wrap-up, CSAT,
  repeat customers) and the indexes the report reads by. Then one day's report for all
  queues, grouped by queue, as ``GET /api/v1/reports/contacts`` computes it
  (contact_center/contact_reports.py: rows of the day, each customer's next contact for
  FCR, every figure from contact_center/metrics.py): median of five warm runs.
  The database is kept for the next run when it already holds ``--rows`` contacts.

    python -m bench.wallboard                  # 50 viewers, 50 calls/s for 60 s; 10M rows
    python -m bench.wallboard --quick          # 50 viewers, 10 s; 200,000 rows (< 30 s)

The last printed line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from bisect import bisect_left
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cc_bench_wallboard"
REPORT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cc_bench_wallboard_report"
UNUSABLE_HASH = "$argon2id$v=19$m=1024,t=1,p=1$bm90dXNlZA$bm90dXNlZA"
HUB_PATH = "/api/v1/hub"
HOLD_SECONDS = 2.0
DRAIN_SECONDS = 2.0
REPORT_DAYS = 365
REPORT_CUSTOMERS = 200_000
# The day reported on: the middle of the generated year (UTC).
REPORT_START = 1_735_689_600.0  # 2025-01-01


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


# ------------------------------------------------------------- live board under load


async def _seed_live(
    url: str, agents: int, viewers: int, customers: int
) -> tuple[list[str], list[int]]:
    """Agents, supervisors (their API tokens returned) and customers."""
    import sqlalchemy as sa

    from contact_center.accounts import token_digest
    from contact_center.store.engine import create_engine
    from contact_center.store.migrate import upgrade
    from contact_center.store.schema import api_tokens, metadata, users
    from contact_center.store.schema import customers as customer_table

    engine = create_engine(url)
    try:
        await upgrade(engine)
        if engine.dialect.name == "postgresql":
            async with engine.begin() as conn:
                tables = ", ".join(t.name for t in metadata.sorted_tables)
                await conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        now = time.time()
        people = [("agent", f"agent{n:04d}") for n in range(agents)]
        people += [("supervisor", f"boss{n:03d}") for n in range(viewers)]
        tokens = [f"cc_{secrets.token_urlsafe(32)}" for _ in range(viewers)]
        async with engine.begin() as conn:
            await conn.execute(
                users.insert(),
                [
                    {"username": name, "display_name": name.title(), "role": role,
                     "password_hash": UNUSABLE_HASH, "language": "en", "disabled": False,
                     "created_at": now, "password_changed_at": now}
                    for role, name in people
                ],
            )  # fmt: skip
            ids = [r[0] for r in await conn.execute(sa.select(users.c.id).order_by(users.c.id))]
            await conn.execute(
                api_tokens.insert(),
                [
                    {"user_id": uid, "name": "bench", "token_hash": token_digest(secret),
                     "created_at": now}
                    for uid, secret in zip(ids[agents:], tokens, strict=True)
                ],
            )  # fmt: skip
            await conn.execute(
                customer_table.insert(),
                [
                    {"display_name": f"Customer {n}", "search_name": f"customer {n}",
                     "tier": "standard", "lifecycle_stage": "customer", "tags": [],
                     "attributes": {}, "consent": {}, "created_at": now, "updated_at": now}
                    for n in range(customers)
                ],
            )  # fmt: skip
            found = await conn.execute(sa.select(customer_table.c.id))
            customer_ids = [r[0] for r in found]
    finally:
        await engine.dispose()
    return tokens, customer_ids


async def run_live(args: argparse.Namespace) -> dict[str, Any]:
    from aiohttp import web

    from contact_center.app import build_app, build_services
    from contact_center.settings import Settings
    from routing.model import CustomerContext

    workdir = Path(tempfile.mkdtemp(prefix="cc-bench-wallboard-"))
    if args.backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'wallboard.db'}"
    else:
        from bench.screen_pop import ensure_postgres_database

        url = args.database_url
        await ensure_postgres_database(url)
    agents = max(20, int(args.rate * (HOLD_SECONDS + 1) * 1.5))
    tokens, customer_ids = await _seed_live(url, agents, args.viewers, 500)
    token_file = workdir / "tokens.txt"
    token_file.write_text("\n".join(tokens))
    settings = Settings().with_overrides(database={"url": url}, logging={"level": "WARNING"})
    routing = {
        "backend": "memory",
        "queues": {
            "support": {"channels": ["voice", "chat"]},
            "sales": {"channels": ["voice", "chat"]},
        },
    }
    settings = settings.model_copy(update={"routing": routing})
    services = build_services(settings)
    app = build_app(settings, services=services)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        figures = await _drive(args, services, port, token_file, customer_ids, CustomerContext)
        from agent_ui.hub.wiring import HUB

        wallboard = app[HUB].wallboard
        took = sorted(wallboard.compute_ms) if wallboard is not None else []
        if took:
            figures["board_compute_p50_ms"] = round(percentile(took, 0.5), 1)
            figures["board_compute_p99_ms"] = round(percentile(took, 0.99), 1)
        return figures
    finally:
        await runner.cleanup()
        await services.engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


async def _drive(
    args: argparse.Namespace,
    services: Any,
    port: int,
    token_file: Path,
    customer_ids: list[int],
    context: Any,
) -> dict[str, Any]:
    routing = services.routing
    lags: list[float] = [0.0]
    clients = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.wallboard", "--viewers-process", "--port", str(port),
        "--tokens", str(token_file),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 28,
    )  # fmt: skip
    assert clients.stdout is not None and clients.stdin is not None
    try:
        connected = json.loads(await asyncio.wait_for(clients.stdout.readline(), 120))
        _log(f"{connected['connected']} wallboards connected")
        floor = await routing.describe_floor()
        for agent in floor["agents"]:
            await routing.ready(agent["agent_id"])
        offered = services.bus.subscribe(["contact.offered"])
        busy: set[asyncio.Task[None]] = set()

        async def take(contact_id: str, agent_id: str) -> None:
            with contextlib.suppress(Exception):
                await routing.accept(contact_id, agent_id)
                await asyncio.sleep(HOLD_SECONDS)
                await routing.hang_up(contact_id, "done")

        async def answer() -> None:
            async for event in offered:
                task = asyncio.create_task(take(event.contact_id, event.agent_id))
                busy.add(task)
                task.add_done_callback(busy.discard)

        answering = asyncio.create_task(answer())
        rng = random.Random(11)
        loop = asyncio.get_running_loop()

        async def watch_the_loop() -> None:
            # How late a 10 ms sleep wakes up: the server's stalls.
            while True:
                asked = loop.time()
                await asyncio.sleep(0.01)
                lags.append((loop.time() - asked - 0.01) * 1000)

        watching = asyncio.create_task(watch_the_loop())
        queued_at: list[float] = []
        start = loop.time()
        total = int(args.rate * args.seconds)
        for n in range(total):
            delay = start + n / args.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            queue = "support" if n % 3 else "sales"
            customer = str(rng.choice(customer_ids))
            queued_at.append(time.time())
            # Chats: without a PBX here a call's offer could not ring any phone.
            await routing.enqueue(f"chat-{n}", "chat", queue, context(customer_id=customer))
        await asyncio.sleep(DRAIN_SECONDS)
        services.bus.unsubscribe(offered)
        for task in (answering, watching):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        clients.stdin.write(b"stop\n")
        await clients.stdin.drain()
        received = json.loads(await asyncio.wait_for(clients.stdout.readline(), 120))
        for task in list(busy):
            task.cancel()
    finally:
        if clients.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                clients.terminate()
        await clients.wait()
    latencies: list[float] = []
    missed = 0
    for boards in received["boards"]:  # per socket: [[received, at], ...] in order
        ats = [at for _, at in boards]
        for queued in queued_at:
            index = bisect_left(ats, queued)
            if index == len(ats):
                missed += 1
                continue
            latencies.append((boards[index][0] - queued) * 1000)
    latencies.sort()
    delivery = sorted((got - at) * 1000 for boards in received["boards"] for got, at in boards)
    lags.sort()
    return {
        "viewers": connected["connected"],
        "contacts_per_s": args.rate,
        "seconds": args.seconds,
        "contacts": total,
        "boards_per_viewer": round(
            sum(len(b) for b in received["boards"]) / max(1, len(received["boards"])), 1
        ),
        "board_bytes_avg": received["bytes_avg"],
        "event_to_board_p50_ms": round(percentile(latencies, 0.50), 1),
        "event_to_board_p99_ms": round(percentile(latencies, 0.99), 1),
        "event_to_board_max_ms": round(latencies[-1], 1),
        "events_without_board": missed,
        "board_at_to_socket_p50_ms": round(percentile(delivery, 0.50), 1),
        "board_at_to_socket_p99_ms": round(percentile(delivery, 0.99), 1),
        "server_loop_lag_p99_ms": round(percentile(lags, 0.99), 1),
        "live_database": services.engine.dialect.name,
    }


async def run_viewers(port: int, tokens: list[str]) -> None:
    import aiohttp

    url = f"http://127.0.0.1:{port}{HUB_PATH}"
    boards: list[list[tuple[float, float]]] = [[] for _ in tokens]
    sizes: list[int] = []
    ready = 0
    all_ready = asyncio.Event()

    async def viewer(session: aiohttp.ClientSession, index: int, token: str) -> None:
        nonlocal ready
        ws = await session.ws_connect(
            url, headers={"Authorization": f"Bearer {token}"}, compress=0, heartbeat=None
        )
        await ws.send_str('{"type":"hello","topics":["wallboard"]}')
        while orjson.loads((await ws.receive()).data)["type"] != "snapshot":
            pass
        ready += 1
        if ready == len(tokens):
            all_ready.set()
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            if frame.data.startswith('{"type":"board"'):
                now = time.time()
                message = orjson.loads(frame.data)
                boards[index].append((now, message["board"]["at"]))
                sizes.append(len(frame.data))

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        tasks = [asyncio.create_task(viewer(session, i, t)) for i, t in enumerate(tokens)]
        await all_ready.wait()
        print(json.dumps({"connected": ready}), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({
        "boards": boards,
        "bytes_avg": round(sum(sizes) / len(sizes)) if sizes else 0,
    }), flush=True)  # fmt: skip


# --------------------------------------------------------- the report at 10M contacts

_GENERATE = """
INSERT INTO interactions (customer_id, contact_id, channel, direction, status, queue,
    agent_id, started_at, queued_at, offered_at, answered_at, ended_at, wrap_up_ended_at,
    hold_seconds, disposition, resolved, repeat_contact, external_ids, csat)
SELECT c, NULL, ch, 'inbound', 'closed', q, NULL, t, t,
       CASE WHEN ab THEN NULL ELSE t + w END,
       CASE WHEN ab THEN NULL ELSE t + w END,
       CASE WHEN ab THEN t + w ELSE t + w + talk END,
       CASE WHEN ab THEN NULL ELSE t + w + talk + 30 END,
       CASE WHEN ab THEN 0 ELSE (g % 4) * 10 END,
       CASE WHEN ab THEN 'abandoned' WHEN g % 3 = 0 THEN 'follow-up' ELSE 'resolved' END,
       NOT ab AND g % 3 <> 0, false, '{}'::json,
       CASE WHEN g % 5 = 0 THEN 1 + (g % 5 + g / 5) % 5 ELSE NULL END
FROM (
  SELECT g,
         1 + (g * 7919) % CAST(:customers AS bigint) AS c,
         (ARRAY['voice', 'chat', 'email'])[1 + g % 3] AS ch,
         (ARRAY['support', 'sales', 'billing'])[1 + (g / 3) % 3] AS q,
         CAST(:start AS float8) + (g::float8 / CAST(:rows AS float8)) * CAST(:span AS float8) AS t,
         ((g * 31) % 120)::float8 AS w,
         (60 + (g * 17) % 600)::float8 AS talk,
         (g % 11 = 0) AS ab
  FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
) AS s
"""


async def run_report(args: argparse.Namespace) -> dict[str, Any]:
    import sqlalchemy as sa

    from bench.screen_pop import ensure_postgres_database
    from contact_center.contact_reports import build_report, load_records, thresholds_of
    from contact_center.store.engine import create_engine
    from contact_center.store.migrate import upgrade
    from contact_center.store.schema import interactions

    url = args.report_database_url
    await ensure_postgres_database(url)
    engine = create_engine(url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            held = (
                await conn.execute(sa.select(sa.func.count()).select_from(interactions))
            ).scalar_one()
        started = time.monotonic()
        if held != args.rows:
            _log(f"generating {args.rows:,} stored contacts (once; kept for the next run)")
            async with engine.begin() as conn:
                await conn.execute(
                    sa.text("TRUNCATE interactions, customers RESTART IDENTITY CASCADE")
                )
                await conn.execute(sa.text(
                    "INSERT INTO customers (display_name, search_name, tier, lifecycle_stage, "
                    "tags, attributes, consent, created_at, updated_at) "
                    "SELECT 'C' || g, 'c' || g, 'standard', 'customer', '[]', '{}', '{}', 0, 0 "
                    "FROM generate_series(1, CAST(:n AS integer)) AS g"
                ), {"n": REPORT_CUSTOMERS})  # fmt: skip
            step = 1_000_000
            for first in range(1, args.rows + 1, step):
                last = min(args.rows, first + step - 1)
                async with engine.begin() as conn:
                    await conn.execute(sa.text(_GENERATE), {
                        "customers": REPORT_CUSTOMERS, "start": REPORT_START, "rows": args.rows,
                        "span": REPORT_DAYS * 86_400.0, "first": first, "last": last,
                    })  # fmt: skip
                _log(f"  {last:,} rows")
            async with engine.begin() as conn:
                await conn.execute(sa.text("ANALYZE interactions"))
                await conn.execute(sa.text("ANALYZE customers"))
        generate_seconds = round(time.monotonic() - started, 1)
        day_start = REPORT_START + 182 * 86_400.0
        routing = {"queues": {q: {"channels": ["voice", "chat", "email"]}
                              for q in ("support", "sales", "billing")}}  # fmt: skip
        from zoneinfo import ZoneInfo

        timings: list[float] = []
        rows_in_day = 0
        report: dict[str, Any] = {}
        for _ in range(6):
            begun = time.perf_counter()
            records = await load_records(
                engine, day_start, day_start + 86_400.0, next_contacts=True
            )
            report = build_report(
                records, start=day_start, end=day_start + 86_400.0, now=time.time(),
                zone=ZoneInfo("UTC"), group_by="queue", interval="day",
                thresholds=thresholds_of(routing), fcr_days=7.0, exclude_short_abandons=True,
            )  # fmt: skip
            timings.append((time.perf_counter() - begun) * 1000)
            rows_in_day = len(records)
        explain = sa.text(
            "EXPLAIN SELECT queue FROM interactions WHERE queued_at >= :a AND queued_at < :b"
        )
        async with engine.connect() as conn:
            found = await conn.execute(explain, {"a": day_start, "b": day_start + 86_400.0})
            plan = "\n".join(row[0] for row in found)
    finally:
        await engine.dispose()
    warm = timings[1:]
    return {
        "report_rows_stored": args.rows,
        "report_rows_note": "full 10M" if args.rows >= 10_000_000 else "fewer rows (--quick)",
        "report_contacts_in_day": rows_in_day,
        "report_groups": len(report.get("rows", [])),
        "report_day_first_ms": round(timings[0], 1),
        "report_day_ms": round(statistics.median(warm), 1),
        "report_day_max_ms": round(max(warm), 1),
        "report_uses_index": "ix_interactions_queued_at" in plan,
        "report_generate_seconds": generate_seconds,
    }


# ------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.wallboard", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="a short run, under 30 s")
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--rate", type=float, default=50.0, help="calls/s")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--rows", type=int, default=None, help="stored contacts for the report")
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--database-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--report-database-url", default=REPORT_POSTGRES_URL)
    parser.add_argument("--skip-report", action="store_true")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--viewers-process", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 8.0 if args.quick else 60.0
    if args.rows is None:
        args.rows = 200_000 if args.quick else 10_000_000
    if args.viewers < 1 or args.rate <= 0 or args.seconds <= 0 or args.rows < 1:
        parser.error("viewers, rate, seconds and rows must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    from contact_center.cli import event_loop_factory

    args = parse_args(argv)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        if args.viewers_process:
            runner.run(run_viewers(args.port, args.tokens.read_text().split()))
            return
        figures: dict[str, Any] = {}
        if not args.skip_live:
            figures.update(runner.run(run_live(args)))
        if not args.skip_report:
            figures.update(runner.run(run_report(args)))
    _log(json.dumps(figures, indent=2))
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
