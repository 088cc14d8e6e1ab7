"""Migrations and schema.py agree, and migrations go down and up again cleanly."""

from __future__ import annotations

import time
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.store.migrate import current_head, database_revision, downgrade, upgrade
from contact_center.store.schema import metadata


async def test_migrated_database_matches_schema_py(engine: AsyncEngine) -> None:
    def diff(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []
    assert await database_revision(engine) == current_head()


@pytest.mark.slow
async def test_downgrade_to_base_and_upgrade_again(engine: AsyncEngine) -> None:
    await downgrade(engine, "base")

    def tables(connection: Any) -> set[str]:
        return set(inspect(connection).get_table_names())

    async with engine.connect() as conn:
        assert tables_left(await conn.run_sync(tables)) == set()
    assert await database_revision(engine) is None
    await upgrade(engine)
    async with engine.connect() as conn:
        assert {t.name for t in metadata.sorted_tables} <= await conn.run_sync(tables)


def tables_left(names: set[str]) -> set[str]:
    return names - {"alembic_version"}


async def test_tokens_issued_before_expiry_existed_get_ninety_days_from_the_upgrade(
    engine: AsyncEngine,
) -> None:
    await downgrade(engine, "0001")
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO users (username, display_name, role, password_hash, language,"
                " disabled, created_at, password_changed_at)"
                " VALUES ('old', 'Old', 'agent', 'x', 'en', false, 1, 1)"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO api_tokens (user_id, name, token_hash, created_at)"
                " SELECT id, 'legacy', 'digest', 1 FROM users"
            )
        )
    before = time.time()
    await upgrade(engine)
    async with engine.connect() as conn:
        expires_at = await conn.scalar(text("SELECT expires_at FROM api_tokens"))
    assert before + 90 * 86_400 <= expires_at <= time.time() + 90 * 86_400
