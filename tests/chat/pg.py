"""PostgreSQL helpers for the chat tests: the database outlives one test."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.store.schema import metadata


async def empty_tables(engine: AsyncEngine) -> None:
    tables = ", ".join(t.name for t in metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
