"""Profile-store fixtures: the same tests run on SQLite and on real PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.settings import ValueSettings
from contact_center.store.engine import create_engine
from contact_center.store.migrate import upgrade
from contact_center.store.profiles import ProfileStore
from contact_center.store.schema import metadata
from tests.conftest import run_coroutine


class FakeClock:
    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating every time is slow)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"

    async def migrate() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        await engine.dispose()

    run_coroutine(migrate())
    return path


@pytest.fixture(scope="session")
def migrated_postgres(postgres_url: str) -> str:
    async def migrate() -> None:
        engine = create_engine(postgres_url)
        await upgrade(engine)
        await engine.dispose()

    run_coroutine(migrate())
    return postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def engine(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        db = tmp_path / "store.db"
        shutil.copy(sqlite_template, db)
        engine = create_engine(f"sqlite+aiosqlite:///{db}")
    else:
        url = request.getfixturevalue("migrated_postgres")
        engine = create_engine(url)
        names = ", ".join(t.name for t in metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    yield engine
    await engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def value_settings() -> ValueSettings:
    return ValueSettings()


@pytest.fixture
def store(engine: AsyncEngine, clock: FakeClock, value_settings: ValueSettings) -> ProfileStore:
    return ProfileStore(engine, default_region="GB", value_settings=value_settings, clock=clock)
