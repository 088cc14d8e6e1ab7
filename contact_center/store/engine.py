"""Database engine creation: SQLite (WAL, foreign keys on) or PostgreSQL (asyncpg)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
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
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )
