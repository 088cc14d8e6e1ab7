"""Hot reads sent straight to the database driver on PostgreSQL, SQLAlchemy elsewhere.

A screen-pop is three reads. Through SQLAlchemy's asyncio layer each one costs about
0.2-0.3 ms of the server's CPU outside the driver (a greenlet switch per call, the
execution context and its events, parameter processing, the result and row objects):
profiled under load, SQLAlchemy took about a third of the server's CPU per screen-pop.
On PostgreSQL :class:`DriverStatement` compiles a statement once, with SQLAlchemy
(so the SQL is the one the rest of the store uses), and :func:`fetch` runs it with
asyncpg's ``fetch`` on the pooled connection's driver connection: asyncpg prepares it
once per connection (its statement cache) and returns records that read like rows
(``row["name"]``, ``dict(row)``). JSON columns are decoded by the codec SQLAlchemy
installed on the connection, so values are the same as through SQLAlchemy.

On SQLite (and any other dialect) :func:`fetch` executes the statement through
SQLAlchemy as before.

The connection must be in AUTOCOMMIT mode (no transaction to keep in step with
SQLAlchemy's emulation of asyncpg transactions). A failure that means the connection
is broken invalidates it, so the pool replaces it instead of lending it again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

_PG_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]


class DriverStatement:
    """A statement with its PostgreSQL SQL (``$n`` placeholders) compiled once.

    Expanding (``IN``) parameters cannot be compiled ahead: give a ``postgresql`` form
    of the statement using ``= ANY(:array)`` instead (same parameters).
    """

    def __init__(
        self, statement: ClauseElement, *, postgresql: ClauseElement | None = None
    ) -> None:
        self.statement = statement
        compiled = (statement if postgresql is None else postgresql).compile(dialect=_PG_DIALECT)
        assert isinstance(compiled, SQLCompiler)
        if compiled.positiontup is None:  # pragma: no cover - numeric_dollar is positional
            raise ValueError("the PostgreSQL dialect compiled named parameters")
        self.sql = str(compiled)
        if "POSTCOMPILE" in self.sql:
            raise ValueError("expanding parameters cannot be compiled once: use ANY(array)")
        self._names = list(compiled.positiontup)
        # Values the statement carries itself (literal comparisons become parameters).
        self._fixed = {
            name: compiled.binds[name].effective_value
            for name in self._names
            if compiled.binds[name].callable is None and compiled.binds[name].value is not None
        }

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] if name in params else self._fixed[name] for name in self._names]


# asyncpg errors after which the connection cannot be lent again; matched by name so
# this module imports without asyncpg (SQLite-only installations).
_BROKEN = frozenset(
    {
        "ConnectionDoesNotExistError",
        "ConnectionFailureError",
        "InterfaceError",
        "InternalClientError",
    }
)


async def fetch(
    conn: AsyncConnection, statement: DriverStatement, params: Mapping[str, Any]
) -> Sequence[Mapping[str, Any]]:
    """The rows of ``statement`` with ``params``, on ``conn`` (AUTOCOMMIT)."""
    if conn.dialect.driver != "asyncpg":
        result = await conn.execute(statement.statement, dict(params))  # type: ignore[call-overload]
        mapped: Sequence[Mapping[str, Any]] = result.mappings().all()
        return mapped
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    try:
        rows: Sequence[Mapping[str, Any]] = await driver.fetch(
            statement.sql, *statement.arguments(params)
        )
    except (TimeoutError, OSError):
        await conn.invalidate()
        raise
    except Exception as exc:
        if type(exc).__name__ in _BROKEN or driver.is_closed():
            await conn.invalidate()
        raise
    return rows
