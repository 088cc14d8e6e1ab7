"""The screen-pop's reads through the driver (PostgreSQL) give what SQLAlchemy gives, and
a connection the database dropped is replaced, not lent again."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.services import Actor
from contact_center.store.driver_reads import DriverStatement, fetch
from contact_center.store.profiles import _SCREEN_POP, ProfileStore
from tests.contact_center.store.test_profiles import _customer_with_history

AGENT = Actor(None, "alice", "agent")


async def test_each_screen_pop_read_gives_the_rows_sqlalchemy_gives(
    store: ProfileStore, engine: AsyncEngine
) -> None:
    cid = await _customer_with_history(store, "+442079460018", "Ann Lee")
    await store.add_note(cid, "prefers email", actor=AGENT)
    identity = store.identity("phone", "020 7946 0018")
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with autocommit.connect() as conn:
        head_params = {"kind": identity.kind.value, "value": identity.value, "since": 0.0}
        head = await fetch(conn, _SCREEN_POP.head, head_params)
        by_id = await fetch(conn, _SCREEN_POP.head_of_customer, {"customer_id": cid, "since": 0.0})
        rows = await fetch(conn, _SCREEN_POP.interactions, {"customer_id": cid, "limit": 20})
        ids = [r["id"] for r in rows]
        details = await fetch(
            conn, _SCREEN_POP.details, {"customer_id": cid, "interaction_ids": ids}
        )
        expected = {
            "head": await _through_sqlalchemy(conn, _SCREEN_POP.head, head_params),
            "interactions": await _through_sqlalchemy(
                conn, _SCREEN_POP.interactions, {"customer_id": cid, "limit": 20}
            ),
            # SQLAlchemy's IN list where the driver sends one array.
            "details": await _through_sqlalchemy(
                conn, _SCREEN_POP.details, {"customer_id": cid, "interaction_ids": ids}
            ),
        }
    assert [dict(r) for r in head] == expected["head"]
    assert [dict(r) for r in by_id] == expected["head"]
    assert head[0]["display_name"] == "Ann Lee" and head[0]["contacts_30d"] == 2
    assert isinstance(head[0]["tags"], list)  # JSON decoded, as through SQLAlchemy
    assert [dict(r) for r in rows] == expected["interactions"]
    assert len({r["id"] for r in rows}) == 2  # the open one comes twice: latest and open
    assert _sorted(details) == _sorted(expected["details"])
    assert {d["part"] for d in details} == {"message", "note", "order"}


async def _through_sqlalchemy(
    conn: Any, statement: DriverStatement, params: dict[str, Any]
) -> list[dict[str, Any]]:
    result = await conn.execute(statement.statement, params)
    return [dict(r) for r in result.mappings().all()]


def _sorted(rows: Any) -> list[dict[str, Any]]:
    return sorted((dict(r) for r in rows), key=lambda r: (r["part"], r["id"]))


def test_an_expanding_parameter_needs_a_postgresql_form() -> None:
    from sqlalchemy import bindparam, select

    from contact_center.store.schema import interactions

    expanding = select(interactions.c.id).where(
        interactions.c.id.in_(bindparam("ids", expanding=True))
    )
    with pytest.raises(ValueError, match="ANY"):
        DriverStatement(expanding)


@pytest.mark.integration
async def test_a_connection_the_database_dropped_is_invalidated(
    store: ProfileStore, engine: AsyncEngine
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the driver path is PostgreSQL's")
    import asyncpg

    cid = await _customer_with_history(store, "+442079460018", "Ann Lee")
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    params = {"customer_id": cid, "limit": 20}
    async with autocommit.connect() as conn:
        assert len(await fetch(conn, _SCREEN_POP.interactions, params)) == 3
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        outside = await asyncpg.connect(url)
        try:
            assert await outside.fetchval("SELECT pg_terminate_backend($1)", pid) is True
        finally:
            await outside.close()
        # Which error depends on when the driver reads the termination notice.
        dropped = (
            asyncpg.PostgresError,
            asyncpg.InterfaceError,
            asyncpg.exceptions.InternalClientError,
            OSError,
        )
        with pytest.raises(dropped):
            await fetch(conn, _SCREEN_POP.interactions, params)
        # Not returned to the pool to fail the next request too.
        assert conn.invalidated
    async with autocommit.connect() as conn:
        assert len(await fetch(conn, _SCREEN_POP.interactions, params)) == 3
    # And the screen-pop as a whole carries on.
    pop = await store.screen_pop(store.identity("phone", "020 7946 0018"), viewer=AGENT)
    assert pop["customer"]["display_name"] == "Ann Lee"
