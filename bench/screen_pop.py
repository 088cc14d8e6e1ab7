"""Screen-pop latency on a large profile store, and bulk-load throughput.

Loads N synthetic customers with M interactions each (plus their identities,
messages, notes, orders and value buckets) into PostgreSQL and/or SQLite with
``contact_center.bulk_load``, then times ``ProfileStore.screen_pop`` (three read
round trips and one audit insert in one transaction) for random identities of
every kind, one request at a time, after a warm-up.

    python -m bench.screen_pop                      # 1,000,000 x 10 on PostgreSQL,
                                                    # 100,000 x 10 on SQLite
    python -m bench.screen_pop --quick              # small, under 30 s
    python -m bench.screen_pop --backend postgres --customers 200000 --reload

A database already holding exactly the requested scale is reused (``--reload``
forces a fresh load). The PostgreSQL database (``cc_bench`` by default,
``cc_bench_quick`` for ``--quick``) is created if missing and belongs to the
benchmark: a reload empties every table in it. The last printed line is one JSON
object: ``{"postgres": {"p50_ms": ..., "p99_ms": ..., ...}, "sqlite": {...}}``.

``--http`` measures screen-pops as agents meet them instead: it loads PostgreSQL
(``cc_bench_http``, 100,000 x 10; ``cc_bench_http_quick``, 2,000 x 5, with
``--quick``), issues API tokens to the roster's agents, starts ``contact-center
serve`` as a subprocess with Redis configured, and drives it from a load generator
in its own process (``--clients`` concurrent aiohttp clients, 64 by default, random
identities of every kind, after a warm-up). Last line:
``{"http": {"http_screen_pops_per_s": ..., "http_p50_ms": ..., "http_p99_ms": ...}}``.

    python -m bench.screen_pop --http               # 10,000 timed screen-pops
    python -m bench.screen_pop --http --quick       # under 30 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.accounts import AccountStore
from contact_center.bulk_load import bulk_load, bulk_load_generated
from contact_center.domain.identity import Identity, IdentityKind
from contact_center.seed import SeedShape, agent_roster, generate_customers
from contact_center.services import Actor
from contact_center.settings import ValueSettings
from contact_center.store.engine import create_engine
from contact_center.store.migrate import upgrade
from contact_center.store.profiles import ProfileStore
from contact_center.store.schema import audit_events, identities, metadata

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cc_bench"
QUICK_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cc_bench_quick"
HTTP_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cc_bench_http"
HTTP_QUICK_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cc_bench_http_quick"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_SQLITE_DIR = Path("var/bench")
RNG_SEED = 20_240_601
AGENTS = 12


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        raise ValueError("no values")
    rank = max(1, min(len(sorted_values), math.ceil(fraction * len(sorted_values))))
    return sorted_values[rank - 1]


async def ensure_postgres_database(url: str) -> None:
    """Create the benchmark's database if it does not exist yet."""
    import asyncpg

    parsed = make_url(url)
    name = parsed.database
    if not name:
        raise SystemExit(f"--database-url {url!r} names no database")
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_postgres_database(url: str) -> None:
    """Remove a benchmark database (used by the test that runs this benchmark)."""
    import asyncpg

    parsed = make_url(url)
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    finally:
        await conn.close()


async def table_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            table: int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())  # noqa: S608
            for table in ("customers", "interactions")
        }


async def empty_tables(engine: AsyncEngine) -> None:
    names = [t.name for t in metadata.sorted_tables]
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(names):
                await conn.execute(text(f"DELETE FROM {name}"))  # noqa: S608


async def agent_ids(engine: AsyncEngine) -> list[int]:
    """The roster's users, created on first use (password hashing makes this ~1 s)."""
    # These accounts only own synthetic history; nobody logs in with their random
    # passwords, so a cheap hash keeps the set-up short.
    accounts = AccountStore(engine, hasher=PasswordHasher(time_cost=1, memory_cost=1024))
    ids: list[int] = []
    existing = {u.username: u.id for u in await accounts.list_users()}
    for username, display_name in agent_roster(AGENTS):
        if username in existing:
            ids.append(existing[username])
            continue
        user = await accounts.add_user(
            username, password=secrets.token_urlsafe(16), display_name=display_name
        )
        ids.append(user.id)
    return ids


async def last_load(engine: AsyncEngine) -> dict[str, Any] | None:
    """The figures of the load that filled a reused database (kept in its audit log)."""
    async with engine.connect() as conn:
        details = (
            await conn.execute(
                select(audit_events.c.details)
                .where(audit_events.c.action == "customers.bulk_loaded")
                .order_by(audit_events.c.id.desc())
                .limit(1)
            )
        ).scalar()
    return dict(details) if details else None


async def sample_identities(engine: AsyncEngine, count: int, rng: random.Random) -> list[Identity]:
    """Random identities of every kind: identity rows picked by random id."""
    async with engine.connect() as conn:
        low, high = (await conn.execute(text("SELECT min(id), max(id) FROM identities"))).one()
        if low is None:
            raise SystemExit("no identities loaded")
        wanted = sorted({rng.randint(low, high) for _ in range(count * 2)})
        found: list[Identity] = []
        for start in range(0, len(wanted), 1000):
            chunk = wanted[start : start + 1000]
            rows = await conn.execute(
                select(identities.c.kind, identities.c.value).where(identities.c.id.in_(chunk))
            )
            found.extend(Identity(IdentityKind(k), v) for k, v in rows)
    rng.shuffle(found)
    return found[:count]


async def measure(
    store: ProfileStore, identities: Sequence[Identity], warmup: int
) -> dict[str, Any]:
    viewer = Actor(None, "bench", "agent")
    for identity in identities[:warmup]:
        await store.screen_pop(identity, viewer=viewer)
    timings: list[float] = []
    by_kind: dict[str, list[float]] = {}
    shapes = set()
    for identity in identities[warmup:]:
        started = time.perf_counter()
        pop = await store.screen_pop(identity, viewer=viewer)
        elapsed = (time.perf_counter() - started) * 1000
        timings.append(elapsed)
        by_kind.setdefault(identity.kind.value, []).append(elapsed)
        shapes.add(tuple(sorted(pop)))
    timings.sort()
    return {
        "queries": len(timings),
        "p50_ms": round(percentile(timings, 0.50), 3),
        "p90_ms": round(percentile(timings, 0.90), 3),
        "p99_ms": round(percentile(timings, 0.99), 3),
        "max_ms": round(timings[-1], 3),
        "mean_ms": round(statistics.fmean(timings), 3),
        "p99_ms_by_kind": {
            kind: round(percentile(sorted(values), 0.99), 3)
            for kind, values in sorted(by_kind.items())
        },
        "queries_by_kind": {kind: len(values) for kind, values in sorted(by_kind.items())},
    }


async def prepare_database(
    backend: str,
    engine: AsyncEngine,
    *,
    customers: int,
    interactions: int,
    reload: bool,
    progress: bool,
    workers: int,
) -> dict[str, Any] | None:
    """Migrate, and load the requested scale unless it is already there; the figures of
    this load, or None when the loaded database was reused."""
    await upgrade(engine)
    counts = await table_counts(engine)
    loaded = counts == {"customers": customers, "interactions": customers * interactions}
    if not reload and loaded:
        _log(f"{backend}: reusing the loaded database ({customers:,} customers)")
        return None
    _log(f"{backend}: loading {customers:,} customers x {interactions} interactions")
    await empty_tables(engine)
    agents = await agent_ids(engine)
    now = time.time()
    shape = SeedShape(interactions=(interactions, interactions), agents=AGENTS)
    if workers:
        load = await bulk_load_generated(
            engine,
            customers,
            rng_seed=RNG_SEED,
            now=now,
            value_settings=ValueSettings(),
            shape=shape,
            agent_ids=agents,
            workers=workers,
            rebuild_indexes=backend == "postgresql",
            progress=progress,
        )
    else:
        load = await bulk_load(
            engine,
            generate_customers(customers, rng_seed=RNG_SEED, now=now, shape=shape),
            now=now,
            value_settings=ValueSettings(),
            agent_ids=agents,
            rebuild_indexes=backend == "postgresql",
            total=customers,
            progress=progress,
        )
    _log(f"{backend}: loaded {load['rows']:,} rows in {load['seconds']} s")
    return load


def load_figures(load: dict[str, Any] | None) -> dict[str, Any]:
    if load is None:
        return {"load_rows_per_s": None}
    result: dict[str, Any] = {
        "load_rows": load["rows"],
        "load_seconds": load["seconds"],
        "load_rows_per_s": load["rows_per_s"],
        "rows": {t: load[t] for t in ("identities", "messages", "notes", "orders")},
    }
    for key in ("copy_seconds", "index_rebuild_seconds", "analyze_seconds"):
        if key in load:
            result[key] = load[key]
    return result


async def run_backend(
    backend: str,
    url: str,
    *,
    customers: int,
    interactions: int,
    queries: int,
    reload: bool,
    progress: bool,
    workers: int,
) -> dict[str, Any]:
    if backend == "postgresql":
        await ensure_postgres_database(url)
    engine = create_engine(url)
    try:
        load = await prepare_database(
            backend,
            engine,
            customers=customers,
            interactions=interactions,
            reload=reload,
            progress=progress,
            workers=workers,
        )
        store = ProfileStore(engine, default_region="US", value_settings=ValueSettings())
        rng = random.Random(RNG_SEED)
        warmup = max(20, queries // 10)
        identities = await sample_identities(engine, queries + warmup, rng)
        figures = await measure(store, identities, warmup)
        result: dict[str, Any] = {
            "customers": customers,
            "interactions": customers * interactions,
            **figures,
        }
        result.update(load_figures(load if load is not None else await last_load(engine)))
        _log(f"{backend}: {json.dumps(result)}")
        return result
    finally:
        await engine.dispose()


# ------------------------------------------------------------------ over HTTP


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds so far of a process and its live children (the
    server's workers), from Linux /proc; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(process_cpu_seconds(int(child)) or 0.0 for child in children)


async def database_backends_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving the database at ``url``
    (other than this query's own), by process id: the server's pooled connections.
    Read from /proc, so the database must run on this machine."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        pids = await conn.fetch(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    found = {row["pid"]: process_cpu_seconds(row["pid"]) for row in pids}
    return {pid: cpu for pid, cpu in found.items() if cpu is not None}


async def issue_tokens(engine: AsyncEngine) -> list[str]:
    """One API token per roster agent (expiring after a day), as `users token` issues."""
    accounts = AccountStore(engine)
    return [
        (await accounts.issue_token(user_id, "bench.screen_pop --http", days=1)).secret
        for user_id in await agent_ids(engine)
    ]


def start_server(
    url: str,
    redis_url: str,
    port: int,
    log_path: Path,
    extra_env: dict[str, str],
    cprofile: Path | None = None,
) -> subprocess.Popen[bytes]:
    """``contact-center serve`` in its own process, configured by environment variables
    (under cProfile, its statistics written to ``cprofile`` when it stops, if given)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CC_")},
        "CC_DATABASE_URL": url,
        "CC_REDIS_URL": redis_url,
        "CC_SERVER_HOST": "127.0.0.1",
        "CC_SERVER_PORT": str(port),
        **extra_env,
    }
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        command = ["-m", "contact_center.cli", "serve"]
        if cprofile is not None:
            command = ["-c", _CPROFILED_SERVE, str(cprofile)]
        return subprocess.Popen(
            [sys.executable, *command],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )


# The server under cProfile timed in CPU seconds of its process, not wall-clock ones: on
# a shared machine, wall-clock time charges whatever function was running when the
# process was preempted with the time other processes ran.
_CPROFILED_SERVE = """
import cProfile, sys, time
from contact_center.cli import main
profile = cProfile.Profile(time.process_time)
path, sys.argv = sys.argv[1], ["contact-center", "serve"]
try:
    profile.runcall(main)
finally:
    profile.dump_stats(path)
"""


def start_profiler(pid: int, path: Path | None) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the server (collapsed stacks, idle frames left out), if asked."""
    if path is None:
        return None
    py_spy = Path(sys.executable).parent / "py-spy"
    command = [str(py_spy), "record", "--pid", str(pid), "--format", "raw", "--rate", "200"]
    return subprocess.Popen([*command, "--output", str(path)], stdout=subprocess.DEVNULL)


async def wait_until_serving(
    base_url: str, server: subprocess.Popen[bytes], log_path: Path, timeout: float = 60.0
) -> None:
    import aiohttp

    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                tail = (await asyncio.to_thread(log_path.read_text, errors="replace"))[-2000:]
                raise SystemExit(f"the server exited ({server.returncode}):\n{tail}")
            try:
                async with session.get(f"{base_url}/status") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"the server did not answer within {timeout:.0f} s (log: {log_path})")


def load_generator(
    out: Connection,
    base_url: str,
    tokens: list[str],
    identities: list[tuple[str, str]],
    warmup: int,
    clients: int,
    rate: float | None,
) -> None:
    """Child process: ``clients`` concurrent clients, each a loop of screen-pops (or, at
    ``rate``, requests sent on a fixed schedule over at most ``clients`` connections)."""
    from contact_center.cli import event_loop_factory

    loop = event_loop_factory()()
    try:
        figures = drive(base_url, tokens, identities, warmup, clients, rate)
        out.send(loop.run_until_complete(figures))
    finally:
        loop.close()
        out.close()


async def drive(
    base_url: str,
    tokens: list[str],
    identities: list[tuple[str, str]],
    warmup: int,
    clients: int,
    rate: float | None = None,
) -> dict[str, Any]:
    import aiohttp

    url = f"{base_url}/api/v1/screen-pop"
    statuses: dict[int, int] = {}
    timings: list[float] = []
    session: aiohttp.ClientSession

    async def client(number: int, work: list[tuple[str, str]], record: bool) -> None:
        headers = {"Authorization": f"Bearer {tokens[number % len(tokens)]}"}
        for kind, value in work[number::clients]:
            started = time.perf_counter()
            params = {"kind": kind, "value": value}
            async with session.get(url, params=params, headers=headers) as r:
                await r.read()
            elapsed = (time.perf_counter() - started) * 1000
            if record:
                statuses[r.status] = statuses.get(r.status, 0) + 1
                timings.append(elapsed)

    async def paced(timed: list[tuple[str, str]], started: float) -> None:
        """Open loop: request i is due at started + i / rate, whether or not earlier
        ones have been answered; its time runs from when it was due, so a server
        falling behind is charged for the queue it built (no coordinated omission)."""
        assert rate is not None
        free = asyncio.Semaphore(clients)

        async def one(number: int, kind: str, value: str, due: float) -> None:
            async with free:
                headers = {"Authorization": f"Bearer {tokens[number % len(tokens)]}"}
                params = {"kind": kind, "value": value}
                async with session.get(url, params=params, headers=headers) as r:
                    await r.read()
            statuses[r.status] = statuses.get(r.status, 0) + 1
            timings.append((time.perf_counter() - due) * 1000)

        tasks = []
        for number, (kind, value) in enumerate(timed):
            due = started + number / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(number, kind, value, due)))
        await asyncio.gather(*tasks)

    connector = aiohttp.TCPConnector(limit=clients, limit_per_host=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(client(n, identities[:warmup], False) for n in range(clients)))
        cpu = time.process_time()
        started = time.perf_counter()
        if rate is None:
            await asyncio.gather(*(client(n, identities[warmup:], True) for n in range(clients)))
        else:
            await paced(identities[warmup:], started)
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
    timings.sort()
    ok = statuses.get(200, 0)
    return {
        "http_screen_pops_per_s": round(ok / wall, 1),
        "http_p50_ms": round(percentile(timings, 0.50), 2),
        "http_p90_ms": round(percentile(timings, 0.90), 2),
        "http_p99_ms": round(percentile(timings, 0.99), 2),
        "http_max_ms": round(timings[-1], 2),
        "http_requests": len(timings),
        "http_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "http_seconds": round(wall, 2),
        "load_generator_cpu_s": round(cpu, 2),
        "clients": clients,
        "mode": "closed loop" if rate is None else "open loop",
        "offered_per_s": rate,
    }


async def run_http(args: argparse.Namespace) -> dict[str, Any]:
    """Screen-pops as users meet them: ``contact-center serve`` on PostgreSQL and Redis,
    driven over HTTP by ``--clients`` concurrent clients in another process."""
    url = args.url
    await ensure_postgres_database(url)
    engine = create_engine(url)
    try:
        load = await prepare_database(
            "postgresql",
            engine,
            customers=args.pg_customers,
            interactions=args.m,
            reload=args.reload,
            progress=not args.no_progress,
            workers=args.workers,
        )
        tokens = await issue_tokens(engine)
        warmup = max(100, args.q // 10)
        rng = random.Random(RNG_SEED)
        sample = await sample_identities(engine, args.q + warmup, rng)
    finally:
        await engine.dispose()
    # A small database has fewer distinct identities than requests: ask again.
    identities = [
        (sample[n % len(sample)].kind.value, sample[n % len(sample)].value)
        for n in range(args.q + warmup)
    ]
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = DEFAULT_SQLITE_DIR / "screen-pop-http-server.log"
    extra_env = dict(item.split("=", 1) for item in args.server_env)
    if args.cprofile_server is not None:
        args.cprofile_server.parent.mkdir(parents=True, exist_ok=True)
    server = start_server(url, args.redis_url, port, log_path, extra_env, args.cprofile_server)
    try:
        await wait_until_serving(base_url, server, log_path)
        _log(f"http: {len(tokens)} tokens, {args.clients} clients, {warmup} warm-up + {args.q}")
        context = multiprocessing.get_context("spawn")
        receive, send = context.Pipe(duplex=False)
        generator = context.Process(
            target=load_generator,
            args=(send, base_url, tokens, identities, warmup, args.clients, args.rate),
        )
        server_cpu = process_cpu_seconds(server.pid)
        database_cpu = await database_backends_cpu(url)
        profiler = start_profiler(server.pid, args.profile_server)
        generator.start()
        send.close()
        figures: dict[str, Any] = await asyncio.to_thread(receive.recv)
        generator.join()
        after = process_cpu_seconds(server.pid)
        database_after = await database_backends_cpu(url)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        if server_cpu is not None and after is not None:
            # Warm-up included: the server's CPU per screen-pop, warm-up and timed alike.
            figures["server_cpu_ms_per_request"] = round(
                (after - server_cpu) * 1000 / len(identities), 3
            )
        if database_after:
            # The database's side of the same requests: its backends for the server's
            # connections (those opened during the run count from zero).
            spent = sum(cpu - database_cpu.get(pid, 0.0) for pid, cpu in database_after.items())
            figures["database_cpu_ms_per_request"] = round(spent * 1000 / len(identities), 3)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    result: dict[str, Any] = {
        "customers": args.pg_customers,
        "interactions": args.pg_customers * args.m,
        **figures,
        **load_figures(load),
    }
    _log(f"http: {json.dumps(result)}")
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.screen_pop", description=__doc__.splitlines()[0] if __doc__ else ""
    )
    parser.add_argument("--backend", choices=("postgres", "sqlite", "both"), default="both")
    parser.add_argument("--customers", type=int, help="customers (default 1,000,000 on PostgreSQL)")
    parser.add_argument(
        "--sqlite-customers", type=int, help="customers on SQLite (default 100,000)"
    )
    parser.add_argument("--interactions-per-customer", type=int, default=None)
    parser.add_argument("--queries", type=int, default=None, help="timed screen-pops (2,000)")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (asyncpg)")
    parser.add_argument("--sqlite-path", type=Path, default=None)
    parser.add_argument("--reload", action="store_true", help="load again even if present")
    parser.add_argument("--quick", action="store_true", help="small scale, under 30 s")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="generator processes during the load (2; 0 generates in this process)",
    )
    parser.add_argument(
        "--http",
        action="store_true",
        help="drive `contact-center serve` (PostgreSQL + Redis) over HTTP instead",
    )
    parser.add_argument("--clients", type=int, default=64, help="concurrent HTTP clients (64)")
    parser.add_argument(
        "--rate",
        type=float,
        help="--http: send this many screen-pops a second on a fixed schedule (open loop) "
        "instead of --clients clients each waiting for its answer",
    )
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="Redis for --http")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="CC_KEY=VALUE",
        help="extra setting for the --http server (repeatable)",
    )
    parser.add_argument(
        "--profile-server",
        type=Path,
        metavar="PATH",
        help="--http: sample the server with py-spy (pip install py-spy) into PATH",
    )
    parser.add_argument(
        "--cprofile-server",
        type=Path,
        metavar="PATH",
        help="--http: run the server under cProfile (one worker: the first process only), "
        "its statistics written to PATH when it stops (read with pstats); slows it down",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    if args.http:
        if args.backend == "sqlite":
            parser.error("--http runs on PostgreSQL")
        if any("=" not in item or not item.startswith("CC_") for item in args.server_env):
            parser.error("--server-env takes CC_KEY=VALUE")
        if args.clients < 1 or (args.rate is not None and args.rate <= 0):
            parser.error("--clients and --rate must be positive")

    def given(value: int | None, default: int) -> int:
        return default if value is None else value

    if args.http:
        # Over HTTP: 100,000 customers x 10 by default, in a database of its own.
        args.pg_customers = given(args.customers, 2_000 if quick else 100_000)
        args.q = given(args.queries, 1_000 if quick else 10_000)
        default_url = HTTP_QUICK_POSTGRES_URL if quick else HTTP_POSTGRES_URL
    else:
        args.pg_customers = given(args.customers, 2_000 if quick else 1_000_000)
        args.q = given(args.queries, 300 if quick else 2_000)
        default_url = QUICK_POSTGRES_URL if quick else DEFAULT_POSTGRES_URL
    args.sqlite_n = given(args.sqlite_customers, given(args.customers, 1_000 if quick else 100_000))
    args.m = given(args.interactions_per_customer, 5 if quick else 10)
    args.url = args.database_url or default_url
    if min(args.pg_customers, args.sqlite_n, args.q) < 1 or min(args.m, args.workers) < 0:
        parser.error("customers, queries and workers must be positive, interactions not negative")
    if not args.url.startswith("postgresql+asyncpg://"):
        parser.error("--database-url must start with postgresql+asyncpg://")
    return args


async def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    results: dict[str, Any] = {}
    if args.http:
        results["http"] = await run_http(args)
        print(json.dumps(results), flush=True)
        return results
    if args.backend in ("postgres", "both"):
        results["postgres"] = await run_backend(
            "postgresql",
            args.url,
            customers=args.pg_customers,
            interactions=args.m,
            queries=args.q,
            reload=args.reload,
            progress=not args.no_progress,
            workers=args.workers,
        )
    if args.backend in ("sqlite", "both"):
        path = args.sqlite_path or DEFAULT_SQLITE_DIR / (f"screen-pop-{args.sqlite_n}x{args.m}.db")
        results["sqlite"] = await run_backend(
            "sqlite",
            f"sqlite+aiosqlite:///{path}",
            customers=args.sqlite_n,
            interactions=args.m,
            queries=args.q,
            reload=args.reload,
            progress=not args.no_progress,
            workers=args.workers,
        )
    print(json.dumps(results), flush=True)
    return results


if __name__ == "__main__":
    asyncio.run(main())
