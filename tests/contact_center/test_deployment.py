"""A deployment's Redis namespace and the database identity that claims it."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from contact_center.deployment import (
    RedisNamespaceInUse,
    claim_redis_namespace,
    database_identity,
    database_location,
    marker_key,
    redis_namespace,
    redis_prefix,
)
from contact_center.settings import Settings, SettingsError
from contact_center.store.engine import create_engine
from tests.conftest import POSTGRES_ADMIN_URL, run_coroutine


def _settings(database: str, namespace: str = "") -> Settings:
    return Settings().with_overrides(
        database={"url": database},
        redis={"url": "redis://127.0.0.1:6379/0", "namespace": namespace},
    )


def test_location_leaves_out_who_connects_and_how() -> None:
    assert (
        database_location("postgresql+asyncpg://cc:s3cret@db.internal/cc?ssl=require")
        == "postgresql://db.internal:5432/cc"
    )
    relative = database_location("sqlite+aiosqlite:///var/contact-center.db")
    assert relative == "sqlite:///" + os.path.abspath("var/contact-center.db")
    assert database_location("sqlite+aiosqlite:///:memory:") == "sqlite:///:memory:"


def test_given_no_namespace_then_it_is_derived_from_the_database() -> None:
    first = redis_namespace(_settings("postgresql+asyncpg://a:x@db:5432/first"))
    assert first == redis_namespace(_settings("postgresql+asyncpg://b:y@db/first"))
    assert first != redis_namespace(_settings("postgresql+asyncpg://a:x@db/second"))
    assert first.startswith("db-") and len(first) == len("db-") + 12


def test_given_a_namespace_then_it_names_every_key() -> None:
    settings = _settings("postgresql+asyncpg://a@db/first", namespace="acme-prod")
    assert redis_namespace(settings) == "acme-prod"
    assert redis_prefix(settings) == "cc:acme-prod"
    assert marker_key(settings) == "cc:acme-prod:deployment"


@pytest.mark.parametrize("bad", ["has space", "a:b", "{tag}", "x" * 65])
def test_a_namespace_that_could_break_key_names_is_refused(bad: str) -> None:
    with pytest.raises(SettingsError, match=r"redis\.namespace"):
        Settings().with_overrides(redis={"namespace": bad})


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.mark.integration
async def test_given_a_namespace_claimed_by_one_database_then_another_is_refused(
    redis_client: aioredis.Redis, redis_namespace: str
) -> None:
    settings = _settings("sqlite+aiosqlite:///one.db", namespace=redis_namespace)
    await claim_redis_namespace(redis_client, settings, "sqlite:///one.db")
    # The same database again (a restart, a second node): fine.
    await claim_redis_namespace(redis_client, settings, "sqlite:///one.db")
    with pytest.raises(RedisNamespaceInUse) as refused:
        await claim_redis_namespace(redis_client, settings, "sqlite:///two.db")
    error = refused.value
    assert error.error_id == "redis-namespace-in-use"
    assert "\n" not in error.message
    assert "sqlite:///one.db" in error.message and redis_namespace in error.message
    assert error.details == {"namespace": redis_namespace}
    assert await redis_client.get(marker_key(settings)) == b"sqlite:///one.db"


async def _admin(*statements: str, database: str = "") -> None:
    """Run statements as the PostgreSQL superuser (in ``database`` if named)."""
    import asyncpg

    url = POSTGRES_ADMIN_URL.replace("postgresql+asyncpg://", "postgresql://")
    if database:
        url = f"{url.rsplit('/', 1)[0]}/{database}"
    conn = await asyncpg.connect(url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _identity(url: str) -> str:
    engine = create_engine(url, pool_size=1)
    try:
        return await database_identity(engine, url)
    finally:
        await engine.dispose()


@pytest.fixture
def scratch_database(postgres_url: str) -> Iterator[tuple[str, str]]:
    """(name, superuser URL) of a database name of the test's own, dropped afterwards."""
    name = f"cc_test_{uuid.uuid4().hex[:12]}"
    yield name, f"{postgres_url.rsplit('/', 1)[0]}/{name}"
    run_coroutine(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.integration
async def test_a_postgresql_identity_tells_a_database_from_a_namesake(
    scratch_database: tuple[str, str],
) -> None:
    name, url = scratch_database
    await _admin(f'CREATE DATABASE "{name}"')
    first = await _identity(url)
    await _admin(f'DROP DATABASE "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    again = await _identity(url)
    assert first.startswith(database_location(url) + " (cluster ")
    assert again.startswith(database_location(url) + " (cluster ")
    assert first != again


@pytest.mark.integration
async def test_given_a_host_hiding_the_cluster_id_then_the_identity_still_has_the_oid(
    scratch_database: tuple[str, str],
) -> None:
    name, url = scratch_database
    role, secret = f"{name}_role", uuid.uuid4().hex
    await _admin(f"CREATE ROLE {role} LOGIN PASSWORD '{secret}'", f'CREATE DATABASE "{name}"')
    try:
        # pg_catalog is per database: this revokes it in the scratch database only.
        await _admin("REVOKE EXECUTE ON FUNCTION pg_control_system() FROM PUBLIC", database=name)
        host = url.split("@", 1)[1]
        identity = await _identity(f"postgresql+asyncpg://{role}:{secret}@{host}")
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f"DROP ROLE {role}")
    assert identity.startswith(database_location(url) + " (database oid ")
    assert "cluster" not in identity
