"""Web chat under load: thousands of customer chat sessions on one server process with
their agents' consoles, customers sending at a steady rate.

The server process is the product as ``contact-center serve`` runs it (``build_app``,
uvloop, the collector taken over), its router in memory, on PostgreSQL (the database
``cc_bench_chat``, created if missing and emptied: it belongs to the benchmark) or with
``--backend sqlite`` a fresh SQLite file, seeded with the agents (API tokens). Agents
auto-accept chats, five at once each. A load generator in a process of its own opens
every agent's console (the hub's websocket), starts every chat over HTTP as the widget
does (``POST /chat/api/sessions``), opens each visitor's websocket and waits until an
agent has joined every chat; then visitors send ``--rate`` messages per second in all,
round robin, each stored before it is acknowledged.

Figures: ``rtt_*_ms`` from the visitor's send (a timestamp in the text) to the ``chat``
message read on the agent's console socket (same host, same wall clock): the customer
→ agent path through the websocket, the store, the bus and the hub. ``ack_*_ms`` from
the send to the visitor's ``ack``. ``kib_per_session``: the server's resident memory
added by the chat sessions (conversation, visitor websocket, its writer) divided by
their number, measured after every visitor said hello and before messages flow.

    python -m bench.chat                 # 5,000 sessions, 1,000 agents, 500 messages/s for 30 s
    python -m bench.chat --quick         # 200 sessions, 40 agents, 500 messages/s for 5 s (< 30 s)
    python -m bench.chat --backend sqlite

The last printed line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from bench.console import (
    _line,
    _log,
    _positive,
    _raise_file_limit,
    _rss_bytes,
    percentile,
)

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/cc_bench_chat"
CHATS_PER_AGENT = 5
CONNECT_CONCURRENCY = 64
DRAIN_SECONDS = 3.0


# --------------------------------------------------------------------- the server


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_server(args: argparse.Namespace) -> dict[str, Any]:
    from aiohttp import web

    from contact_center.app import build_app, build_services
    from contact_center.collection import periodic_collection, take_over_collection
    from contact_center.settings import Settings

    _raise_file_limit()
    workdir = Path(tempfile.mkdtemp(prefix="cc-bench-chat-"))
    if args.backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'chat.db'}"
    else:
        from bench.screen_pop import ensure_postgres_database

        url = args.database_url
        await ensure_postgres_database(url)
    settings = Settings().with_overrides(
        database={"url": url, "pool_size": 20}, logging={"level": "WARNING"}
    )
    routing = {
        "backend": "memory",
        "auto_accept": ["chat"],
        "profiles": {"default": {"capacity": {"chat": CHATS_PER_AGENT}}},
        "queues": {"support": {"channels": ["chat"]}},
    }
    chat = {
        "attachments_dir": str(workdir / "files"),
        # Every session and message comes from one address (the load generator).
        "address_sessions_per_hour": 1_000_000,
        "address_requests_per_minute": 1_000_000,
        "visitor_messages_per_minute": 600,
    }
    settings = settings.model_copy(update={"routing": routing, "chat": chat})
    token_file = workdir / "tokens.txt"
    started = time.monotonic()
    seeding = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.console", "--seed", "--url", url, "--tokens",
        str(token_file), "--agents", str(args.agents), "--customers", "1",
        "--interactions", "0",
    )  # fmt: skip
    if await seeding.wait() != 0:
        raise SystemExit("seeding the benchmark's database failed")
    _log(f"seeded {args.agents} agents in {time.monotonic() - started:.1f} s")
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
            return await _drive(args, services, port, token_file)
        finally:
            await runner.cleanup()
    finally:
        await services.engine.dispose()
        shutil.rmtree(workdir, ignore_errors=True)


async def _say(process: asyncio.subprocess.Process, word: str) -> None:
    assert process.stdin is not None
    process.stdin.write(word.encode() + b"\n")
    await process.stdin.drain()


async def _drive(
    args: argparse.Namespace, services: Any, port: int, token_file: Path
) -> dict[str, Any]:
    clients = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.chat", "--clients", "--port", str(port),
        "--tokens", str(token_file), "--sessions", str(args.sessions),
        "--rate", str(args.rate), "--seconds", str(args.seconds),
        "--join-timeout", str(args.join_timeout),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,  # the last line carries every latency
    )  # fmt: skip
    try:
        consoles = await _line(clients, timeout=120)
        _log(f"{consoles['consoles']} consoles connected in {consoles['seconds']} s")
        for agent_id in range(1, args.agents + 1):
            await services.routing.ready(str(agent_id))
        rss_before = _rss_bytes()
        await _say(clients, "sessions")
        joined = await _line(clients, timeout=args.join_timeout + 60)
        rss_sessions = _rss_bytes()
        _log(f"{joined['sessions']} chats joined by their agents in {joined['seconds']} s")
        cpu_before = _cpu_seconds()
        await _say(clients, "send")
        received = await _line(clients, timeout=args.seconds + 120)
        cpu_spent = _cpu_seconds() - cpu_before
        chat = services.health.get("chat")
        counters = await chat() if chat is not None else {}
    finally:
        if clients.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                clients.terminate()
        await clients.wait()
    rtts = sorted(received["rtt_ms"])
    acks = sorted(received["ack_ms"])
    sessions = joined["sessions"]
    return {
        "sessions": sessions,
        "agents": consoles["consoles"],
        "messages_per_s": args.rate,
        "seconds": args.seconds,
        "messages_sent": received["sent"],
        "messages_received": len(rtts),
        "acks": len(acks),
        "errors": received["errors"],
        "rtt_p50_ms": round(percentile(rtts, 0.50), 2),
        "rtt_p90_ms": round(percentile(rtts, 0.90), 2),
        "rtt_p99_ms": round(percentile(rtts, 0.99), 2),
        "rtt_max_ms": round(rtts[-1], 2),
        "ack_p99_ms": round(percentile(acks, 0.99), 2),
        "kib_per_session": round((rss_sessions - rss_before) / 1024 / sessions, 1),
        # The server's own CPU time per message while they flowed (user + system): what
        # a message costs whatever else the machine runs.
        "server_cpu_ms_per_message": round(cpu_spent * 1000 / max(1, len(rtts)), 3),
        "sessions_seconds": joined["seconds"],
        "dropped_slow": counters.get("dropped_slow"),
        "database": services.engine.dialect.name,
    }


# ------------------------------------------------------------ the load generator


async def run_clients(args: argparse.Namespace, tokens: list[str]) -> None:
    import aiohttp

    _raise_file_limit()
    base = f"http://127.0.0.1:{args.port}"
    origin = base
    rtts: list[float] = []
    acks: list[float] = []
    errors: dict[str, int] = {}
    sent_at: dict[str, float] = {}
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    loop = asyncio.get_running_loop()
    # Set once every message sent has reached a console and been acknowledged.
    all_done = asyncio.Event()
    expected: list[int] = []

    def check_done() -> None:
        if expected and len(rtts) >= expected[0] and len(acks) >= expected[0]:
            all_done.set()

    async def read_line() -> str:
        return (await loop.run_in_executor(None, sys.stdin.readline)).strip()

    async def agent_console(session: aiohttp.ClientSession, secret: str, ready: list[int]) -> None:
        async with gate:
            ws = await session.ws_connect(
                f"{base}/api/v1/hub", headers={"Authorization": f"Bearer {secret}"},
                compress=0, heartbeat=None,
            )  # fmt: skip
            await ws.send_str('{"type":"hello"}')
            while orjson.loads((await ws.receive()).data)["type"] != "snapshot":
                pass
        ready.append(1)
        if len(ready) == len(tokens):
            consoles_ready.set()
        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            if frame.data.startswith('{"type":"chat"'):
                message = orjson.loads(frame.data)
                item = message.get("message")
                if item and item["from"] == "visitor" and item["text"].startswith("t="):
                    rtts.append((time.time() - float(item["text"][2:].split()[0])) * 1000)
                    check_done()

    class Visitor:
        def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
            self.ws = ws
            self.joined = asyncio.Event()

        async def read(self) -> None:
            async for frame in self.ws:
                if frame.type != aiohttp.WSMsgType.TEXT:
                    break
                data = orjson.loads(frame.data)
                kind = data["type"]
                if kind == "notice" and data["kind"] == "agent_joined":
                    self.joined.set()
                elif kind == "ack":
                    started = sent_at.pop(data["client_id"], None)
                    if started is not None:
                        acks.append((time.time() - started) * 1000)
                        check_done()
                elif kind == "error":
                    errors[data["error"]] = errors.get(data["error"], 0) + 1

    async def visitor(session: aiohttp.ClientSession, index: int) -> Visitor:
        async with gate:
            response = await session.post(
                f"{base}/chat/api/sessions",
                json={"queue": "support", "name": f"Visitor {index}"},
                headers={"Origin": origin},
            )
            started = await response.json()
            if response.status != 201:
                raise RuntimeError(f"session refused: {started}")
            ws = await session.ws_connect(
                f"{base}/chat/ws", headers={"Origin": origin}, compress=0, heartbeat=None
            )
            await ws.send_str(json.dumps({"type": "hello", "token": started["token"]}))
        found = Visitor(ws)
        return found

    consoles_ready = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.monotonic()
        ready: list[int] = []
        consoles = [asyncio.create_task(agent_console(session, s, ready)) for s in tokens]
        for task in asyncio.as_completed([*consoles, asyncio.ensure_future(consoles_ready.wait())]):
            await task  # a console that failed to connect raises here
            if consoles_ready.is_set():
                break
        print(json.dumps({"consoles": len(ready), "seconds": round(time.monotonic() - started, 1)}),
              flush=True)  # fmt: skip
        assert await read_line() == "sessions"
        started = time.monotonic()
        visitors = await asyncio.gather(*(visitor(session, n) for n in range(args.sessions)))
        readers = [asyncio.create_task(v.read()) for v in visitors]
        async with asyncio.timeout(args.join_timeout):
            for v in visitors:
                await v.joined.wait()
        took = round(time.monotonic() - started, 1)
        print(json.dumps({"sessions": len(visitors), "seconds": took}), flush=True)
        assert await read_line() == "send"
        total = int(args.rate * args.seconds)
        start = loop.time()
        for n in range(total):
            delay = start + n / args.rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            client_id = f"b{n}"
            now = time.time()
            sent_at[client_id] = now
            frame = json.dumps({"type": "send", "client_id": client_id, "text": f"t={now!r} hi"})
            await visitors[n % len(visitors)].ws.send_str(frame)
        expected.append(total)
        check_done()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_done.wait(), DRAIN_SECONDS)
        for task in [*consoles, *readers]:
            task.cancel()
        await asyncio.gather(*consoles, *readers, return_exceptions=True)
    print(json.dumps({"rtt_ms": rtts, "ack_ms": acks, "sent": total, "errors": errors}),
          flush=True)  # fmt: skip


# ------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.chat", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="a short run, under 30 s")
    parser.add_argument("--sessions", type=_positive(int), default=None)
    parser.add_argument("--rate", type=_positive(float), default=500.0, help="messages/s")
    parser.add_argument("--seconds", type=_positive(float), default=None, help="of messages")
    parser.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument(
        "--database-url", default=DEFAULT_POSTGRES_URL, help="PostgreSQL (asyncpg; emptied!)"
    )
    parser.add_argument(
        "--join-timeout", type=_positive(float), default=1200.0,
        help="seconds to start every chat and have an agent join it",
    )  # fmt: skip
    parser.add_argument("--clients", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sessions is None:
        args.sessions = 200 if args.quick else 5000
    if args.seconds is None:
        args.seconds = 5.0 if args.quick else 30.0
    args.agents = max(1, -(-args.sessions // CHATS_PER_AGENT))
    if not args.database_url.startswith("postgresql+asyncpg://"):
        parser.error("--database-url must be postgresql+asyncpg://...")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    from contact_center.cli import event_loop_factory

    args = parse_args(argv)
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        if args.clients:
            runner.run(run_clients(args, args.tokens.read_text().split()))
            return
        figures = runner.run(run_server(args))
    _log(json.dumps(figures, indent=2))
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
