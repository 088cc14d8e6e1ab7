"""Email intake throughput and hostile-mail parse time.

``emails_per_s``: messages delivered to the product's SMTP intake (real SMTP, several
client connections at once, one new customer each), stored raw, parsed, threaded,
stored on a new thread with an interaction on the customer's timeline and enqueued in
the router (in-memory backend, agents ready and taking offers), measured from the
first MAIL FROM to the last message processed; on SQLite and on PostgreSQL (when
reachable at ``--postgres-url``). ``parse_p99_ms``: the parser over the hostile corpus
(tests/fixtures/email/corpus.py), every case ``--parse-rounds`` times.

    python -m bench.email              # 2,000 messages per database
    python -m bench.email --quick      # 300 per database, under 30 s

The last printed line is one JSON object:
``{"sqlite": {"emails_per_s": ...}, "postgres": {...}, "parse_p99_ms": ..., ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-secret-bench-secret-bench-secret-0123"  # noqa: S105 (a throwaway database)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of ``values``."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _mail(n: int) -> bytes:
    message = EmailMessage()
    message["From"] = f"Customer {n} <customer{n}@example.org>"
    message["To"] = "support@example.com"
    message["Subject"] = f"Order {n} has not arrived"
    message["Message-ID"] = f"<bench{n}.{uuid.uuid4().hex}@example.org>"
    message.set_content("Hello,\n\nmy order has not arrived yet. Can you help?\n\nThanks\n" * 3)
    message.add_alternative(f"<p>Hello,</p><p>my order <b>{n}</b> has not arrived.</p>",
                            subtype="html")  # fmt: skip
    return bytes(message)


def _reachable(url: str) -> bool:
    parts = urlsplit(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), 1):
            return True
    except OSError:
        return False


async def _database(kind: str, args: argparse.Namespace, tmp: Path) -> tuple[str, Any]:
    """A fresh database URL and a clean-up coroutine function."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'bench-email.db'}", None
    import asyncpg

    admin = args.postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"cc_bench_email_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()

    async def drop() -> None:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    return f"{args.postgres_url.rsplit('/', 1)[0]}/{name}", drop


async def run_intake(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    from contact_center.app import build_app, build_services
    from contact_center.settings import Settings
    from contact_center.store.migrate import upgrade
    from email_channel.wiring import email_of

    with tempfile.TemporaryDirectory() as tmp:
        url, drop = await _database(kind, args, Path(tmp))
        settings = Settings().with_overrides(
            database={"url": url, "pool_size": 10},
            email={"enabled": True, "listen_port": 0, "secret": SECRET,
                   "addresses": {"support@example.com": "support"}},
            routing={"queues": {"support": {"channels": ["email"]}}},
            logging={"level": "WARNING"},
        )  # fmt: skip
        services = build_services(settings)
        await upgrade(services.engine)
        for n in range(args.agents):
            await services.accounts.add_user(
                f"agent{n}",
                password="bench password",  # noqa: S106 (a throwaway database)
                role="agent",
            )
        app = build_app(settings, services=services)
        from aiohttp.test_utils import TestServer

        server = TestServer(app)
        await server.start_server()
        try:
            channel = email_of(services)
            assert channel is not None and channel.smtp is not None
            assert services.routing is not None
            for n in range(args.agents):
                await services.routing.ready(str(n + 1))
            port = channel.smtp.port
            messages = [_mail(n) for n in range(args.messages)]
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            for raw in messages:
                queue.put_nowait(raw)

            async def client() -> None:
                smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
                async with smtp:
                    while not queue.empty():
                        raw = queue.get_nowait()
                        await smtp.sendmail("customer@example.org", ["support@example.com"], raw)

            started = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(args.connections)))
            accepted = time.perf_counter() - started
            assert await channel.service.wait_idle(600)
            elapsed = time.perf_counter() - started
            health = channel.service.health()
            stats = await services.routing.statistics()
        finally:
            await server.close()
            if drop is not None:
                await drop()
    processed = int(health["processed"])
    result = {
        "emails_per_s": round(processed / elapsed, 1),
        "smtp_accepted_per_s": round(args.messages / accepted, 1),
        "messages": args.messages,
        "processed": processed,
        "quarantined": health["quarantined"],
        "connections": args.connections,
        "agents": args.agents,
        "seconds": round(elapsed, 2),
    }
    _log(f"{kind}: {json.dumps(result)} (router: {json.dumps(stats)[:200]})")
    return result


def run_parse(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from email_channel.parsing import Limits, ParseRefused, parse_message
    from tests.fixtures.email.corpus import cases

    limits = Limits()
    timings: list[float] = []
    per_case: dict[str, float] = {}
    for name, raw, _ in cases():
        worst = 0.0
        for _ in range(args.parse_rounds):
            started = time.perf_counter()
            with contextlib.suppress(ParseRefused):
                parse_message(raw, limits)
            spent = (time.perf_counter() - started) * 1000
            timings.append(spent)
            worst = max(worst, spent)
        per_case[name] = round(worst, 1)
    result = {
        "parse_p50_ms": round(percentile(timings, 0.5), 2),
        "parse_p99_ms": round(percentile(timings, 0.99), 1),
        "parse_max_ms": round(max(timings), 1),
        "parse_cases": len(per_case),
    }
    _log(f"parse: {json.dumps(result)}; slowest cases: "
         f"{sorted(per_case.items(), key=lambda kv: -kv[1])[:4]}")  # fmt: skip
    return result


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small run, under 30 s")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--parse-rounds", type=int, default=None)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    args = parser.parse_args(argv)
    if args.messages is None:
        args.messages = 300 if args.quick else 2000
    if args.parse_rounds is None:
        args.parse_rounds = 1 if args.quick else 5
    if args.messages < 1 or args.connections < 1 or args.agents < 0 or args.parse_rounds < 1:
        parser.error("counts must be positive")
    return args


async def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    import logging

    logging.basicConfig(level=logging.WARNING)
    args = parse_args(argv)
    results: dict[str, Any] = {}
    kinds = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for kind in kinds:
        if kind == "postgres" and not _reachable(args.postgres_url):
            _log("postgres: not reachable, skipped")
            results[kind] = {"skipped": "not reachable"}
            continue
        results[kind] = await run_intake(kind, args)
    results.update(run_parse(args))
    from routing import compiled

    results["router"] = compiled.mode
    print(json.dumps(results), flush=True)
    return results


if __name__ == "__main__":
    asyncio.run(main())
