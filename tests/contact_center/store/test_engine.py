"""Pool settings of the PostgreSQL engine: connections kept, pinged only after idling."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from contact_center.store.engine import create_engine, ping_when_idle

pytestmark = pytest.mark.integration


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(postgres_url: str, pid: int) -> None:
    admin = await asyncpg.connect(postgres_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()
    await asyncio.sleep(0.2)


async def test_given_a_burst_beyond_pool_size_then_its_connections_are_kept(
    postgres_url: str,
) -> None:
    engine = create_engine(postgres_url, pool_size=2)
    try:

        async def burst() -> set[int]:
            held = [await engine.connect() for _ in range(4)]
            try:
                return {
                    int((await c.execute(text("SELECT pg_backend_pid()"))).scalar_one())
                    for c in held
                }
            finally:
                for c in held:
                    await c.close()

        first = await burst()
        second = await burst()
        # 2 x pool_size connections, all reused: no connection opened per request.
        assert len(first) == 4
        assert second == first
    finally:
        await engine.dispose()


async def test_given_a_pooled_connection_killed_while_idle_then_a_ping_replaces_it(
    postgres_url: str,
) -> None:
    engine = create_async_engine(postgres_url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle_seconds=0.0)
    try:
        pid = await _backend_pid(engine)
        await _terminate(postgres_url, pid)
        replacement = await _backend_pid(engine)
        assert replacement != pid
    finally:
        await engine.dispose()


async def test_given_a_connection_returned_moments_ago_then_it_is_not_pinged(
    postgres_url: str,
) -> None:
    engine = create_async_engine(postgres_url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle_seconds=3600.0)
    try:
        pid = await _backend_pid(engine)
        await _terminate(postgres_url, pid)
        # Not pinged: the dead connection is used, fails, and the pool is invalidated,
        # so the request after it gets a fresh connection (the cost of skipping pings).
        with pytest.raises(DBAPIError):
            await _backend_pid(engine)
        assert await _backend_pid(engine) != pid
    finally:
        await engine.dispose()
