"""Database engine creation: SQLite (WAL, foreign keys on) or PostgreSQL (asyncpg)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool, StaticPool

from contact_center.errors import ServiceUnavailable


class DatabaseUnavailable(ServiceUnavailable):
    error_id = "database-unavailable"


def describe_database(url: str) -> str:
    """The database for a message: the SQLite file, or the URL without its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite {parsed.database or ':memory:'}"
    return f"PostgreSQL {parsed.render_as_string(hide_password=True)}"


@contextlib.asynccontextmanager
async def database_errors(engine: AsyncEngine) -> AsyncIterator[None]:
    """Turn a database that cannot be reached or used into one clear error naming it."""
    try:
        yield
    except DBAPIError as exc:
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
        raise _unavailable(engine, reason) from None
    except OSError as exc:
        # asyncpg raises socket errors as they are (ConnectionRefusedError ...).
        raise _unavailable(engine, exc.strerror or str(exc)) from None


def _unavailable(engine: AsyncEngine, reason: str) -> DatabaseUnavailable:
    hint = ""
    if "does not exist" in reason and engine.dialect.name == "postgresql":
        hint = " (create the role and the database first: README, Running on PostgreSQL)"
    return DatabaseUnavailable(
        f"cannot use {describe_database(str(engine.url))} (database.url): {reason}{hint}"
    )


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        memory = database in ("", ":memory:")
        if not memory:
            try:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseUnavailable(
                    f"cannot use {describe_database(url)} (database.url): "
                    f"{exc.strerror or exc} ({Path(database).parent})"
                ) from None
        engine = create_async_engine(
            url,
            echo=echo,
            # One shared connection for :memory: (each connection would be a new database);
            # a small pool for files: aiosqlite starts a thread per connection, too dear
            # to pay on every request.
            poolclass=StaticPool if memory else AsyncAdaptedQueuePool,
            connect_args={"timeout": 30},
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            # Deleted or rewritten rows are overwritten with zeros, not just unlinked:
            # an erased customer's name must not linger in the file's free space.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        return engine
    # Up to 2 x pool_size connections, as before, but every one of them is kept: with
    # pool_size kept and as many in overflow, a burst beyond pool_size opened and closed
    # a connection per request (TCP and TLS negotiation, authentication, and asyncpg's
    # prepared statements lost with it): ~6% of the server's CPU under 64 concurrent
    # screen-pops. Idle PostgreSQL connections cost little.
    engine = create_async_engine(url, echo=echo, pool_size=2 * pool_size, max_overflow=0)
    ping_when_idle(engine)
    return engine


# A pooled connection unused for this long is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0


def ping_when_idle(engine: AsyncEngine, idle_seconds: float = PING_AFTER_IDLE_SECONDS) -> None:
    """Check a pooled connection before use, but only if it sat idle ``idle_seconds``.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout, and asyncpg's ping is three
    round trips (BEGIN, an empty query, ROLLBACK): measured at about 16% of the
    server's CPU under a screen-pop load, with two checkouts per request. A connection
    returned moments ago is as alive as a ping would show; one that waited (a quiet
    night, a database restarted meanwhile) is pinged and, if dead, replaced by a fresh
    one before the request sees it. A restart under load still costs the requests using
    the connections it broke: their error invalidates the pool, and the next ones
    reconnect.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < idle_seconds:
            return  # a new connection, or one in use moments ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards this connection and checks out another (or connects).
            raise DisconnectionError(f"stale pooled connection: {exc}") from exc
