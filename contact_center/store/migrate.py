"""Run Alembic migrations from code (``contact-center db upgrade|downgrade``, tests, demo)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contact_center.errors import AppError, InvalidInput
from contact_center.store.engine import database_errors

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


class UnknownRevision(InvalidInput):
    error_id = "unknown-revision"


async def _run_alembic(
    engine: AsyncEngine, step: Callable[[Config, str], None], revision: str
) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))

    def run(connection: object) -> None:
        config.attributes["connection"] = connection
        step(config, revision)

    async with database_errors(engine):
        connection: AsyncConnection
        async with engine.begin() as connection:
            try:
                await connection.run_sync(run)
            except CommandError as exc:
                raise UnknownRevision(
                    f"{exc} (revisions go from none to {current_head()})",
                    details={"revision": revision},
                ) from None


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (runs in a worker thread: Alembic is synchronous)."""
    await _run_alembic(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _run_alembic(engine, command.downgrade, revision)


def current_head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    return head or ""


async def database_revision(engine: AsyncEngine) -> str | None:
    """The Alembic revision the database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    def read(connection: object) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()  # type: ignore[arg-type]

    async with database_errors(engine), engine.connect() as connection:
        return await connection.run_sync(read)


class DatabaseNotMigrated(AppError):
    error_id = "database-not-migrated"
    status = 503


async def ensure_migrated(engine: AsyncEngine) -> None:
    """Refuse to run on a database that is not at the code's revision."""
    revision = await database_revision(engine)
    if revision != current_head():
        raise DatabaseNotMigrated(
            f"database is at revision {revision or 'none'}, the code needs {current_head()}: "
            "run `contact-center db upgrade`"
        )
