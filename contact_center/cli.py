"""The ``contact-center`` command: serve, demo, database, users, import, seed, privacy.

Every subcommand has ``--help``. Errors print one line (``error-id: message``) and
exit with status 2; nothing prints a traceback for a user mistake.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import func, select

from contact_center import __version__
from contact_center.errors import AppError
from contact_center.outside_text import configure_logging
from contact_center.services import Actor, Services
from contact_center.settings import Settings, load_settings
from contact_center.store.schema import customers

T = TypeVar("T")
CLI_ACTOR = Actor(None, "cli", "admin")


class AddressInUse(AppError):
    error_id = "address-in-use"


class DemoResetRefused(AppError):
    error_id = "demo-reset-refused"


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _with_services(
    settings: Settings, work: Callable[[Services], Awaitable[T]], *, migrate: bool = False
) -> T:
    from contact_center.app import build_services
    from contact_center.store.migrate import ensure_migrated, upgrade

    if not migrate:
        _require_database_file(settings.database.url)
    services = build_services(settings)
    try:
        if migrate:
            await upgrade(services.engine)
        else:
            await ensure_migrated(services.engine)
        return await work(services)
    finally:
        await services.engine.dispose()


def _sqlite_file(url: str) -> Path | None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database or "")


def _require_database_file(url: str) -> None:
    """Commands other than ``db upgrade`` and ``demo`` never create a SQLite file."""
    from contact_center.store.migrate import DatabaseNotMigrated

    path = _sqlite_file(url)
    if path is not None and not path.exists():
        raise DatabaseNotMigrated(
            f"there is no database at {path} (database.url): run `contact-center db upgrade` "
            "to create it, or `make demo` for the demo's"
        )


def _serve_forever(app: Any, settings: Settings, banner: str, *, reuse_port: bool = False) -> None:
    """Run the HTTP server; a port that cannot be bound is one line, not a traceback.

    The edge's runner: unreadable requests get the API's JSON error and one WARNING
    line, and the access log writes no personal data (agent_ui/server.py)."""
    from agent_ui.server import run_app
    from contact_center.store.engine import describe_database

    host, port = settings.server.host, settings.server.port
    try:
        run_app(
            app,
            loop=event_loop_factory()(),
            host=host,
            port=port,
            reuse_port=reuse_port,
            print=lambda _msg: print(
                f"{banner}\ndatabase: {describe_database(settings.database.url)}", flush=True
            ),
        )
    except OSError as exc:
        raise _address_in_use(exc, host, port) from None


def _address_in_use(exc: OSError, host: str, port: int) -> AddressInUse:
    from contact_center.serve_workers import address_error

    if not address_error(exc):
        raise exc
    reason = exc.strerror or str(exc)
    return AddressInUse(
        f"cannot listen on {host}:{port} (server.host, server.port): {reason}; "
        "choose another with --port or CC_SERVER_PORT"
    )


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


# --------------------------------------------------------------------------- serve


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    """How long-running processes (the server, the demo, the benchmarks) make their
    event loop: uvloop's where it is installed (Linux, macOS), asyncio's otherwise.
    uvloop does socket I/O and callbacks in C: a three-node Redis router made 5.7% more
    decisions a second on it (docs/decisions.md, "uvloop")."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    from contact_center.collection import take_over_collection
    from contact_center.serve_workers import WorkersRefused, check_port_free, refusal

    take_over_collection()
    settings = _with_listen(args, settings)
    _require_database_file(settings.database.url)
    workers = settings.server.workers
    if workers == 1:
        _serve_one(settings)
        return
    refused = refusal(settings)
    if refused is not None:
        raise WorkersRefused(f"server.workers = {workers}: {refused}")
    from contact_center.serve_workers import run_workers, worker_settings

    host, port = settings.server.host, settings.server.port
    try:
        check_port_free(host, port)
    except OSError as exc:
        raise _address_in_use(exc, host, port) from None
    status = run_workers(
        workers,
        lambda index: _serve_one(worker_settings(settings, index), worker=(index, workers)),
    )
    if status:
        sys.exit(status)


def _serve_one(settings: Settings, *, worker: tuple[int, int] | None = None) -> None:
    """One server process: the whole application on ``server.host``/``server.port``
    (with SO_REUSEPORT when it is one of several workers)."""
    from contact_center.app import build_app
    from contact_center.collection import periodic_collection

    app = build_app(settings)
    app.cleanup_ctx.append(periodic_collection(settings.server.gc_interval_seconds))
    which = f" (worker {worker[0] + 1} of {worker[1]})" if worker is not None else ""
    _serve_forever(
        app,
        settings,
        f"contact-center {__version__} listening on "
        f"http://{settings.server.host}:{settings.server.port}/{which}",
        reuse_port=worker is not None,
    )


def _with_listen(args: argparse.Namespace, settings: Settings) -> Settings:
    server: dict[str, Any] = {}
    if getattr(args, "host", None):
        server["host"] = args.host
    if getattr(args, "port", None) is not None:
        server["port"] = args.port
    return settings.with_overrides(server=server) if server else settings


# ---------------------------------------------------------------------------- demo

DEMO_USERS = (
    ("admin", "admin", "Demo Admin", None, "demo-admin-2026"),
    ("supervisor", "supervisor", "Sam Supervisor", "1901", "demo-super-2026"),
    ("agent1", "agent", "Alice Agent", "1001", "demo-agent-2026"),
    ("agent2", "agent", "Bob Agent", "1002", "demo-agent-2026"),
    ("agent3", "agent", "王芳", "1003", "demo-agent-2026"),
)
# Demo accounts whose UI language is not English.
DEMO_LANGUAGES = {"agent3": "zh-CN"}


async def prepare_demo(services: Services, customer_count: int) -> dict[str, Any]:
    """Demo accounts (idempotent) and, on an empty database, synthetic customers."""
    from contact_center.accounts import UserExists

    for username, role, name, extension, password in DEMO_USERS:
        with contextlib.suppress(UserExists):
            await services.accounts.add_user(
                username,
                password=password,
                role=role,
                display_name=name,
                extension=extension,
                language=DEMO_LANGUAGES.get(username, "en"),
            )
    async with services.engine.connect() as conn:
        existing = (await conn.execute(select(func.count()).select_from(customers))).scalar()
    seeded: dict[str, Any] = {}
    if not existing:
        # The bulk path: a few hundred synthetic customers in seconds, not minutes.
        from contact_center.bulk_load import bulk_load
        from contact_center.seed import generate_customers

        agents = [u.id for u in await services.accounts.list_users() if u.role == "agent"]
        now = services.clock()
        seeded = await bulk_load(
            services.engine,
            generate_customers(customer_count, rng_seed=2026, now=now),
            now=now,
            value_settings=services.settings.value,
            agent_ids=agents,
            total=customer_count,
            progress=True,
        )
    return seeded


# Queues matching the shipped dialplan (100 = support, 200 = sales), every channel.
DEMO_ROUTING: dict[str, Any] = {
    "queues": {
        "support": {"channels": ["voice", "chat", "email"], "wrap_up_seconds": 5},
        "sales": {"channels": ["voice", "chat", "email"], "wrap_up_seconds": 5},
    }
}


def reset_demo_database(url: str) -> Path:
    """Delete the demo's SQLite database (and its WAL files) so the demo starts afresh.

    Only a SQLite file is ever deleted: on a server database a reset could destroy a
    real deployment's data.
    """
    path = _sqlite_file(url)
    if path is None:
        raise DemoResetRefused(
            "--reset deletes a SQLite demo database only; the configured database.url is "
            "not one (use `contact-center db downgrade base` on a server database)"
        )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def cmd_demo(args: argparse.Namespace, settings: Settings) -> None:
    from contact_center.collection import take_over_collection

    take_over_collection()
    if args.reset:
        print(f"reset: deleted the demo database {reset_demo_database(settings.database.url)}")
    settings = _with_listen(args, settings)
    if not settings.routing.get("queues"):
        settings = settings.model_copy(update={"routing": {**settings.routing, **DEMO_ROUTING}})
    seeded = _run(_with_services(settings, lambda s: prepare_demo(s, args.customers), migrate=True))
    if seeded:
        print(f"seeded demo data: {seeded}")
    print("demo accounts (username / password):")
    for username, role, _name, extension, password in DEMO_USERS:
        phone = f", phone {extension}" if extension else ""
        print(f"  {username:<11} {password:<16} {role}{phone}")
    _serve_forever(
        demo_app(settings, calls=args.calls),
        settings,
        f"contact-center {__version__} demo on http://{settings.server.host}:"
        f"{settings.server.port}/ with a simulated PBX "
        f"({'no calls' if not args.calls else 'placing calls'}; Ctrl+C to stop)",
    )


async def demo_app(settings: Settings, *, calls: bool) -> Any:
    """The server with a simulated Asterisk: agents 1001-1003 ready, callers phoning in."""
    from aiohttp import web

    from contact_center.app import SERVICES, build_app
    from contact_center.collection import periodic_collection
    from cti.simulator.traffic import CallTraffic, TrafficProfile
    from cti.wiring import start_simulated_asterisk

    extensions = {name: ext for name, role, _n, ext, _p in DEMO_USERS if ext and role == "agent"}
    pbx, server = await start_simulated_asterisk(extensions, ring_seconds=2.0)
    asterisk = settings.asterisk.model_copy(update={"servers": (server,)})
    app = build_app(settings.model_copy(update={"asterisk": asterisk}))

    async def demo_life(app: web.Application) -> Any:
        services = app[SERVICES]
        assert services.routing is not None
        for user in await services.accounts.list_users():
            if user.role == "agent" and user.username in extensions:
                await services.routing.ready(str(user.id))
        callers = await _demo_callers(services)
        traffic = CallTraffic(pbx, TrafficProfile(callers=callers), seed=2026)

        async def keep_calling() -> None:
            while True:
                await traffic.run(10)

        task = asyncio.create_task(keep_calling()) if calls else None
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await pbx.stop()

    app.cleanup_ctx.append(demo_life)
    app.cleanup_ctx.append(periodic_collection(settings.server.gc_interval_seconds))
    return app


async def _demo_callers(services: Services) -> list[str]:
    """Phones of known customers (so screen-pops have history) plus a few strangers."""
    from contact_center.store.schema import identities

    async with services.engine.connect() as conn:
        rows = await conn.execute(
            select(identities.c.value).where(identities.c.kind == "phone").limit(200)
        )
        known = [str(v) for v in rows.scalars()]
    return known + [f"+44207946{n:04d}" for n in range(10)]


# ------------------------------------------------------------------------------ db


def cmd_db(args: argparse.Namespace, settings: Settings) -> None:
    from contact_center.store.engine import create_engine
    from contact_center.store.migrate import current_head, database_revision, downgrade, upgrade

    if args.db_command != "upgrade":
        _require_database_file(settings.database.url)

    async def work() -> None:
        engine = create_engine(settings.database.url)
        try:
            if args.db_command == "upgrade":
                await upgrade(engine, args.revision)
            elif args.db_command == "downgrade":
                await downgrade(engine, args.revision)
            revision = await database_revision(engine)
            print(f"database at revision {revision or 'none'} (code head {current_head()})")
        finally:
            await engine.dispose()

    _run(work())


# --------------------------------------------------------------------------- users


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise AppError("no terminal to ask for the password: use --password-stdin")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise AppError("the two passwords differ")
    return first


def cmd_users(args: argparse.Namespace, settings: Settings) -> None:
    from agent_ui.wiring import session_revocation
    from contact_center.deployment import redis_prefix

    async def work(services: Services) -> None:
        accounts = services.accounts
        # Disabling a user or setting a password revokes their tokens (the account
        # store) and, with Redis, ends their sessions at once; in-memory sessions of a
        # running server are refused at their next request.
        ended = session_revocation(services, redis_prefix=redis_prefix(settings))
        if args.users_command == "add":
            user = await accounts.add_user(
                args.username,
                password=_read_password(args),
                role=args.role,
                display_name=args.name,
                extension=args.extension,
                language=args.language,
            )
            print(f"added {user.username} (id {user.id}, {user.role})")
        elif args.users_command == "list":
            for user in await accounts.list_users():
                state = "disabled" if user.disabled else "active"
                print(
                    f"{user.id:>5}  {user.username:<20} {user.role:<10} "
                    f"{user.extension or '-':<8} {state:<8} {user.display_name}"
                )
        elif args.users_command == "disable":
            async with ended:
                await accounts.disable_user(args.username)
            print(f"disabled {args.username}")
        elif args.users_command == "enable":
            await accounts.enable_user(args.username)
            print(f"enabled {args.username}")
        elif args.users_command == "set-password":
            password = _read_password(args)
            async with ended:
                await accounts.set_password(args.username, password)
            print(f"password changed for {args.username}")
        elif args.users_command == "token":
            issued = await accounts.issue_token(args.username, args.token_name)
            print(issued.secret)

    _run(_with_services(settings, work))


# -------------------------------------------------------------------------- import


def cmd_import(args: argparse.Namespace, settings: Settings) -> None:
    from contact_center.importing import (
        DEFAULT_ON_CONFLICT,
        import_customers,
        import_orders,
        read_rows,
    )

    path = Path(args.file)
    if not path.is_file():
        raise AppError(f"{path} is not a file")
    if args.create_missing_customers and args.kind != "orders":
        raise AppError("--create-missing-customers applies to orders only")
    on_conflict = args.on_conflict or DEFAULT_ON_CONFLICT[args.kind]

    async def work(services: Services, report: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        from sqlalchemy.exc import SQLAlchemyError
        from tqdm import tqdm

        # Rows are streamed, so the total is unknown: a counter, not a percentage.
        bar = tqdm(unit="row", desc=f"importing {args.kind}", file=sys.stderr, leave=False)
        rows = read_rows(path, args.format, args.kind)
        try:
            if args.kind == "customers":
                summary = await import_customers(
                    services.profiles,
                    rows,
                    actor=CLI_ACTOR,
                    on_conflict=on_conflict,
                    progress=bar.update,
                    report=report,
                )
            else:
                summary = await import_orders(
                    services.profiles,
                    rows,
                    actor=CLI_ACTOR,
                    on_conflict=on_conflict,
                    create_missing_customers=args.create_missing_customers,
                    progress=bar.update,
                    report=report,
                )
        except SQLAlchemyError as exc:
            # Its text quotes the statement's parameters, the file's data: only its kind.
            kind = type(getattr(exc, "orig", None) or exc).__name__
            raise AppError(
                f"the database failed during the import ({kind}); rows written before stay "
                "written (--report lists them)"
            ) from None
        finally:
            bar.close()
        return summary.to_dict()

    with contextlib.ExitStack() as stack:
        sink = stack.enter_context(Path(args.report).open("wb")) if args.report else None

        def report(entry: dict[str, Any]) -> None:
            # One JSON line per row of the file, written as the rows are imported.
            if sink is not None:
                sink.write(orjson.dumps(entry) + b"\n")

        summary = _run(_with_services(settings, lambda services: work(services, report)))
    _print_json(summary)
    if summary["rejected"]:
        sys.exit(1)


# ---------------------------------------------------------------------------- seed


def cmd_seed(args: argparse.Namespace, settings: Settings) -> None:
    from contact_center.bulk_load import bulk_load
    from contact_center.seed import generate_customers, seed_store

    async def work(services: Services) -> dict[str, Any]:
        users = [u for u in await services.accounts.list_users() if u.role == "agent"]
        if args.bulk:
            now = services.clock()
            return await bulk_load(
                services.engine,
                generate_customers(
                    args.customers, rng_seed=args.seed, now=now, first_number=args.first
                ),
                now=now,
                value_settings=settings.value,
                agent_ids=[u.id for u in users],
                total=args.customers,
                progress=True,
            )
        return await seed_store(
            services.profiles,
            args.customers,
            rng_seed=args.seed,
            first_number=args.first,
            agents=[u.actor for u in users],
            actor=CLI_ACTOR,
            progress=True,
        )

    _print_json(_run(_with_services(settings, work)))


# ------------------------------------------------------------------------- privacy


def cmd_export(args: argparse.Namespace, settings: Settings) -> None:
    async def work(services: Services) -> dict[str, Any]:
        return await services.profiles.export_customer(args.customer_id, actor=CLI_ACTOR)

    data = _run(_with_services(settings, work))
    raw = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    if args.output:
        Path(args.output).write_bytes(raw)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(raw.decode() + "\n")


def cmd_erase(args: argparse.Namespace, settings: Settings) -> None:
    if not args.yes:
        if not sys.stdin.isatty():
            raise AppError("erasing cannot be undone: confirm with --yes")
        answer = input(f"erase all personal data of customer {args.customer_id}? type yes: ")
        if answer.strip() != "yes":
            raise AppError("not erased")

    async def work(services: Services) -> dict[str, Any]:
        return await services.profiles.erase_customer(args.customer_id, actor=CLI_ACTOR)

    _print_json(_run(_with_services(settings, work)))


# -------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="contact-center",
        description="Unified contact center: voice (Asterisk), chat and email in one console.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        help="settings file (default: CC_CONFIG, else config/contact-center.toml in the "
        "checkout, or in CC_HOME)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the server with the configured settings")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(handler=cmd_serve)

    demo = commands.add_parser(
        "demo",
        help="set up demo data and accounts in the configured database and run the server",
    )
    demo.add_argument("--host")
    demo.add_argument("--port", type=int)
    demo.add_argument("--customers", type=int, default=300, help="customers to seed (first run)")
    demo.add_argument(
        "--no-calls",
        dest="calls",
        action="store_false",
        help="do not place simulated calls (the PBX still answers actions)",
    )
    demo.add_argument(
        "--reset",
        action="store_true",
        help="delete the demo's SQLite database first and start from new demo data",
    )
    demo.set_defaults(handler=cmd_demo)

    db = commands.add_parser("db", help="database migrations")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = db_commands.add_parser("upgrade", help="migrate to the latest (or given) revision")
    up.add_argument("revision", nargs="?", default="head")
    down = db_commands.add_parser("downgrade", help="migrate back to a revision")
    down.add_argument("revision")
    db_commands.add_parser("current", help="show the database revision")
    db.set_defaults(handler=cmd_db)

    users = commands.add_parser("users", help="user accounts")
    user_commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = user_commands.add_parser("add", help="add a user (asks for the password)")
    add.add_argument("username")
    add.add_argument("--role", choices=["agent", "supervisor", "admin"], default="agent")
    add.add_argument("--name", help="display name")
    add.add_argument("--extension", help="phone extension (e.g. 1001)")
    add.add_argument("--language", default="en", choices=["en", "zh-CN"])
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    user_commands.add_parser("list", help="list users")
    for name, text in (("disable", "disable a user"), ("enable", "enable a user again")):
        sub = user_commands.add_parser(name, help=text)
        sub.add_argument("username")
    setpw = user_commands.add_parser("set-password", help="change a user's password")
    setpw.add_argument("username")
    setpw.add_argument("--password-stdin", action="store_true")
    token = user_commands.add_parser("token", help="issue an API token (printed once)")
    token.add_argument("username")
    token.add_argument("--name", dest="token_name", default="cli")
    users.set_defaults(handler=cmd_users)

    imp = commands.add_parser(
        "import",
        help="import customers or orders (CSV or JSON Lines)",
        description="Import customers or orders; rules, summary and exit status: docs/importing.md",
    )
    imp.add_argument("kind", choices=["customers", "orders"])
    imp.add_argument("file")
    imp.add_argument("--format", choices=["csv", "jsonl"], help="default: from the file name")
    imp.add_argument(
        "--on-conflict",
        choices=["update", "skip", "reject"],
        help="a row that matches an existing customer (or order) and would change it: "
        "apply it, leave the stored one, or reject the row "
        "(default: reject for customers, update for orders)",
    )
    imp.add_argument(
        "--create-missing-customers",
        action="store_true",
        help="orders: create the customer an order names by email/phone/account when nobody "
        "has it (the row needs customer_name); default: reject the row",
    )
    imp.add_argument(
        "--report", metavar="FILE", help="write every row's outcome to FILE, one JSON line each"
    )
    imp.set_defaults(handler=cmd_import)

    seed = commands.add_parser("seed", help="add synthetic customers, orders and histories")
    seed.add_argument("--customers", type=int, default=200)
    seed.add_argument("--seed", type=int, default=2026, help="random seed (same seed, same data)")
    seed.add_argument(
        "--first", type=int, default=1, help="number of the first synthetic customer (to add more)"
    )
    seed.add_argument(
        "--bulk",
        action="store_true",
        help="write in bulk (fast, for large volumes) instead of through the audited store API",
    )
    seed.set_defaults(handler=cmd_seed)

    export = commands.add_parser("export-customer", help="write everything held about a customer")
    export.add_argument("customer_id", type=int)
    export.add_argument("--output", "-o", help="file to write (default: stdout)")
    export.set_defaults(handler=cmd_export)

    erase = commands.add_parser("erase-customer", help="anonymise a customer's personal data")
    erase.add_argument("customer_id", type=int)
    erase.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    erase.set_defaults(handler=cmd_erase)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
        configure_logging(settings.logging.level)
        # Alembic narrates every plugin it loads at INFO: only its warnings matter here.
        logging.getLogger("alembic").setLevel(max(logging.WARNING, settings.logging.level_number))
        # aiosqlite logs every statement with its parameters (names, phone numbers) at
        # DEBUG: never, even when the rest of the server runs at DEBUG.
        logging.getLogger("aiosqlite").setLevel(max(logging.INFO, settings.logging.level_number))
        args.handler(args, settings)
    except AppError as exc:
        print(f"contact-center: {exc.error_id}: {exc.message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
