"""Console hub under load: thousands of agent websockets on one server process,
contacts offered at a steady rate, each offer carrying its screen-pop.

The server process is the product as ``contact-center serve`` runs it (``build_app``,
uvloop, the collector taken over), its router in memory, on PostgreSQL (the database
``cc_bench_console``, created if missing and emptied: it belongs to the benchmark) or
with ``--backend sqlite`` a fresh SQLite file, seeded with the agents (each with an
API token) and customers with a history. A load generator in a process of its own
opens one websocket per agent (hello, then reads), and a driver inside the server
enqueues chat contacts for known customers at ``--rate`` per second; each offer is
accepted at once and the contact closed a little later, so agents keep cycling.

Figures: ``offer_to_socket_*_ms`` from the router's decision (the offer's ``at``) to
the frame read on the agent's socket by the load generator (same host, same wall
clock); ``kib_per_connection``, the server's resident memory added by the connected
consoles divided by their number (after hello and snapshot: connection, stream,
writer task, aiohttp's websocket).

    python -m bench.console                 # 2,000 agents, 50 contacts/s for 60 s
    python -m bench.console --quick         # 2,000 agents, 50 contacts/s for 6 s (< 30 s)
    python -m bench.console --backend sqlite --redis-url redis://127.0.0.1:6379/0

The last printed line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import random
import resource
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cc_bench_console"
# Agents log in with their API tokens only: this hash matches no password.
UNUSABLE_HASH = "$argon2id$v=19$m=1024,t=1,p=1$bm90dXNlZA$bm90dXNlZA"
HUB_PATH = "/api/v1/hub"
CONNECT_CONCURRENCY = 64
HOLD_SECONDS = 2.0
DRAIN_SECONDS = 3.0


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


def _raise_file_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _rss_bytes() -> int:
    """Resident memory after a full collection, with freed heap given back to the OS."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# --------------------------------------------------------------------- the server


async def _seed(url: str, agents: int, customers: int, interactions: int) -> list[str]:
    """Agents (their API tokens returned) and customers with a history.

    Run in a process of its own (``--seed``), so the server's memory starts clean and
    the memory the consoles take is not hidden in what seeding freed."""
    import sqlalchemy as sa

    from contact_center.accounts import token_digest
    from contact_center.bulk_load import bulk_load
    from contact_center.seed import SeedShape, generate_customers
    from contact_center.settings import ValueSettings
    from contact_center.store.engine import create_engine
    from contact_center.store.migrate import upgrade
    from contact_center.store.schema import api_tokens, metadata, users

    engine = create_engine(url)
    try:
        await upgrade(engine)
        now = time.time()
        if engine.dialect.name == "postgresql":
            async with engine.begin() as conn:
                tables = ", ".join(t.name for t in metadata.sorted_tables)
                await conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        secrets_list = [f"cc_{secrets.token_urlsafe(32)}" for _ in range(agents)]
        async with engine.begin() as conn:
            await conn.execute(
                users.insert(),
                [
                    {"username": f"bench{n:05d}", "display_name": f"Bench agent {n}",
                     "role": "agent", "password_hash": UNUSABLE_HASH, "language": "en",
                     "disabled": False, "created_at": now, "password_changed_at": now}
                    for n in range(1, agents + 1)
                ],
            )  # fmt: skip
            found = await conn.execute(sa.select(users.c.id).order_by(users.c.id))
            ids = [row[0] for row in found]
            await conn.execute(
                api_tokens.insert(),
                [
                    {"user_id": uid, "name": "bench", "token_hash": token_digest(secret),
                     "created_at": now}
                    for uid, secret in zip(ids, secrets_list, strict=True)
                ],
            )  # fmt: skip
        shape = SeedShape(interactions=(interactions, interactions), agents=12)
        await bulk_load(
            engine,
            generate_customers(customers, rng_seed=20_260_601, now=now, shape=shape),
            now=now,
            value_settings=ValueSettings(),
            agent_ids=ids[:12],
            total=customers,
        )
    finally:
        await engine.dispose()
    return secrets_list


async def _seed_in_a_process(args: argparse.Namespace, url: str, tokens: Path) -> None:
    seeding = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.console", "--seed", "--url", url, "--tokens", str(tokens),
        "--agents", str(args.agents), "--customers", str(args.customers),
        "--interactions", str(args.interactions),
    )  # fmt: skip
    if await seeding.wait() != 0:
        raise SystemExit("seeding the benchmark's database failed")


async def _clients_process(port: int, tokens: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.console", "--clients", "--port", str(port),
        "--tokens", str(tokens),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def _line(process: asyncio.subprocess.Process, timeout: float) -> dict[str, Any]:
    assert process.stdout is not None
    raw = await asyncio.wait_for(process.stdout.readline(), timeout)
    if not raw:
        raise RuntimeError(f"the load generator exited ({await process.wait()})")
    value: dict[str, Any] = json.loads(raw)
    return value


async def run_server(args: argparse.Namespace) -> dict[str, Any]:
    from aiohttp import web

    from contact_center.app import build_app, build_services
    from contact_center.collection import periodic_collection, take_over_collection
    from contact_center.settings import Settings
    from routing.model import CustomerContext

    _raise_file_limit()
    workdir = Path(tempfile.mkdtemp(prefix="cc-bench-console-"))
    if args.backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'console.db'}"
    else:
        from bench.screen_pop import ensure_postgres_database

        url = args.database_url
        await ensure_postgres_database(url)
    overrides: dict[str, Any] = {"database": {"url": url}, "logging": {"level": "WARNING"}}
    if args.redis_url:
        overrides["redis"] = {"url": args.redis_url, "namespace": f"bench-{secrets.token_hex(4)}"}
    settings = Settings().with_overrides(**overrides)
    routing = {"backend": "memory", "queues": {"support": {"channels": ["chat"]}}}
    settings = settings.model_copy(update={"routing": routing})
    token_file = workdir / "tokens.txt"
    started = time.monotonic()
    await _seed_in_a_process(args, url, token_file)
    _log(f"seeded {args.agents} agents, {args.customers} customers "
         f"in {time.monotonic() - started:.1f} s")  # fmt: skip
    services = build_services(settings)
    try:
        take_over_collection()
        app = build_app(settings, services=services)
        app.cleanup_ctx.append(periodic_collection(settings.server.gc_interval_seconds))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            return await _drive(args, services, port, token_file, CustomerContext)
        finally:
            await runner.cleanup()
    finally:
        await services.engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


async def _drive(
    args: argparse.Namespace, services: Any, port: int, token_file: Path, context: Any
) -> dict[str, Any]:
    routing = services.routing
    loop = asyncio.get_running_loop()
    lags: list[float] = [0.0]
    rss_before = _rss_bytes()
    clients = await _clients_process(port, token_file)
    try:
        connected = await _line(clients, timeout=120)
        rss_connected = _rss_bytes()
        _log(f"{connected['connected']} consoles connected in {connected['seconds']} s")

        agent_ids = [str(n) for n in range(1, args.agents + 1)]
        for agent_id in agent_ids:
            await routing.ready(agent_id)
        offered = services.bus.subscribe(["contact.offered"])
        closing: set[asyncio.Task[None]] = set()

        async def take_and_close(contact_id: str, agent_id: str) -> None:
            await routing.accept(contact_id, agent_id)
            await asyncio.sleep(HOLD_SECONDS)
            # Wrap-up is 0 s by default: the contact closes and the agent is free.
            await routing.hang_up(contact_id, "done")

        async def agents_answer() -> None:
            async for event in offered:
                task = asyncio.create_task(take_and_close(event.contact_id, event.agent_id))
                closing.add(task)
                task.add_done_callback(closing.discard)

        async def watch_the_loop() -> None:
            # How late a 10 ms sleep wakes up: the server's stalls (collections, bursts).
            while True:
                asked = loop.time()
                await asyncio.sleep(0.01)
                lags.append((loop.time() - asked - 0.01) * 1000)

        watching = asyncio.create_task(watch_the_loop())
        answering = asyncio.create_task(agents_answer())
        rng = random.Random(7)
        start = loop.time()
        total = int(args.rate * args.seconds)
        for n in range(total):
            # Absolute deadlines: a late tick does not push every later contact back.
            delay = start + n / args.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            customer = str(rng.randint(1, args.customers))
            await routing.enqueue(f"chat-{n}", "chat", "support", context(customer_id=customer))
        await asyncio.sleep(DRAIN_SECONDS)
        services.bus.unsubscribe(offered)
        for task in (answering, watching):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        rss_after = _rss_bytes()
        assert clients.stdin is not None
        clients.stdin.write(b"stop\n")
        await clients.stdin.drain()
        received = await _line(clients, timeout=60)
        for task in list(closing):
            task.cancel()
        hub_counters = services.health.get("hub")
        hub = await hub_counters() if hub_counters is not None else {}
    finally:
        if clients.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                clients.terminate()
        await clients.wait()
    latencies = sorted(received["latencies_ms"])
    consoles = connected["connected"]
    return {
        "agents": connected["connected"],
        "contacts_per_s": args.rate,
        "seconds": args.seconds,
        "offers": total,
        "offers_received": len(latencies),
        "offer_to_socket_p50_ms": round(percentile(latencies, 0.50), 2),
        "offer_to_socket_p90_ms": round(percentile(latencies, 0.90), 2),
        "offer_to_socket_p99_ms": round(percentile(latencies, 0.99), 2),
        "offer_to_socket_max_ms": round(latencies[-1], 2),
        "screen_pops_missing": received["without_pop"],
        "offer_frame_bytes_avg": received["offer_bytes_avg"],
        "kib_per_connection": round((rss_connected - rss_before) / 1024 / consoles, 1),
        "kib_per_connection_after_run": round((rss_after - rss_before) / 1024 / consoles, 1),
        "connect_seconds": connected["seconds"],
        "server_loop_lag_p99_ms": round(percentile(sorted(lags), 0.99), 1),
        "server_loop_lag_max_ms": round(max(lags), 1),
        "dropped_slow": hub.get("dropped_slow"),
        "database": services.engine.dialect.name,
        "bus": "redis" if args.redis_url else "memory",
    }


# ------------------------------------------------------------ the load generator


async def run_clients(port: int, secrets_list: list[str]) -> None:
    """One websocket per token; prints {"connected"} once all said hello, then, after
    "stop" on stdin, the offers' latencies."""
    import aiohttp

    _raise_file_limit()
    url = f"http://127.0.0.1:{port}{HUB_PATH}"
    latencies: list[float] = []
    sizes: list[int] = []
    without_pop = 0
    ready = 0
    all_ready = asyncio.Event()
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def console(session: aiohttp.ClientSession, secret: str) -> None:
        nonlocal ready, without_pop
        async with gate:
            ws = await session.ws_connect(
                url, headers={"Authorization": f"Bearer {secret}"}, compress=0, heartbeat=None
            )
            await ws.send_str('{"type":"hello"}')
            while orjson.loads((await ws.receive()).data)["type"] != "snapshot":
                pass
        ready += 1
        if ready == len(secrets_list):
            all_ready.set()
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            if frame.data.startswith('{"type":"offer"'):
                now = time.time()
                message = orjson.loads(frame.data)
                latencies.append((now - message["at"]) * 1000)
                sizes.append(len(frame.data))
                if message["offer"]["screen_pop"] is None:
                    without_pop += 1

    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(console(session, s)) for s in secrets_list]
        await all_ready.wait()
        print(json.dumps({"connected": ready, "seconds": round(time.monotonic() - started, 1)}),
              flush=True)  # fmt: skip
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.readline)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({
        "latencies_ms": latencies,
        "without_pop": without_pop,
        "offer_bytes_avg": round(sum(sizes) / len(sizes)) if sizes else 0,
    }), flush=True)  # fmt: skip


# ------------------------------------------------------------------------- main


def _positive(kind: type[int] | type[float]) -> Any:
    def check(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError("must be positive")
        return value

    return check


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.console", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="a short run, under 30 s")
    parser.add_argument("--agents", type=_positive(int), default=2000)
    parser.add_argument("--rate", type=_positive(float), default=50.0, help="contacts/s")
    parser.add_argument("--seconds", type=_positive(float), default=None, help="of offers")
    parser.add_argument("--customers", type=_positive(int), default=None)
    parser.add_argument("--interactions", type=int, default=10, help="per customer")
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument(
        "--database-url", default=DEFAULT_POSTGRES_URL, help="PostgreSQL (asyncpg; emptied!)"
    )
    parser.add_argument("--redis-url", default=None, help="run the event bus on Redis")
    parser.add_argument("--clients", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--seed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = 6.0 if args.quick else 60.0
    if args.customers is None:
        args.customers = 500 if args.quick else 5000
    if args.interactions < 0:
        parser.error("--interactions must not be negative")
    if not args.database_url.startswith("postgresql+asyncpg://"):
        parser.error("--database-url must be postgresql+asyncpg://...")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    from contact_center.cli import event_loop_factory

    args = parse_args(argv)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        if args.clients:
            runner.run(run_clients(args.port, args.tokens.read_text().split()))
            return
        if args.seed:
            tokens = runner.run(_seed(args.url, args.agents, args.customers, args.interactions))
            args.tokens.write_text("\n".join(tokens))
            return
        figures = runner.run(run_server(args))
    _log(json.dumps(figures, indent=2))
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
