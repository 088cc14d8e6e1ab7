"""Which deployment a node belongs to: its Redis namespace and its database's identity.

Several deployments (a serve, a demo, a test) may share one Redis. Every key and
channel the product writes there starts with :func:`redis_prefix` (``cc:<namespace>``),
so they never see each other's state. The namespace is ``redis.namespace`` when set,
else derived from the database the settings name (a hash of its location, without
user or password): every node of one deployment names the same database, so all of
them derive the same namespace with no setting to keep in step.

A namespace could still be shared by two databases (set explicitly on both, or one
database dropped and created again under the same name). So at start the first node
writes the database's identity next to the state (:func:`claim_redis_namespace`), and
a node whose database differs refuses to start rather than serve another
deployment's agents, contacts and browser sessions (user ids are only meaningful in
the database that issued them).
"""

from __future__ import annotations

import hashlib
import os

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.settings import Settings, SettingsError

# Every Redis key of the product starts with "cc:<namespace>"; the router's keys put it
# inside their hash tag ("{cc:<namespace>:<shard>}:...", see routing/wiring.py).
KEY_PREFIX = "cc"
_DERIVED_PREFIX = "db-"


class RedisNamespaceInUse(SettingsError):
    """The Redis namespace holds the state of a deployment on another database."""

    error_id = "redis-namespace-in-use"


def database_location(url: str) -> str:
    """Where the database is, without user, password or connection options:
    ``postgresql://host:5432/name`` or ``sqlite:///absolute/path``.

    A relative SQLite path is made absolute (two working directories, two databases).
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = parsed.database or ""
        if path and path != ":memory:" and not path.startswith("file:"):
            path = os.path.abspath(path)
        return f"sqlite:///{path}"
    return f"{backend}://{parsed.host or ''}:{parsed.port or 5432}/{parsed.database or ''}"


def redis_namespace(settings: Settings) -> str:
    """``redis.namespace``, or one derived from the database location (12 hex digits of
    its SHA-256: a collision between two deployments is left to the marker to catch)."""
    if settings.redis.namespace:
        return settings.redis.namespace
    digest = hashlib.sha256(database_location(settings.database.url).encode()).hexdigest()
    return _DERIVED_PREFIX + digest[:12]


def redis_prefix(settings: Settings) -> str:
    """The start of every Redis key and channel name of this deployment."""
    return f"{KEY_PREFIX}:{redis_namespace(settings)}"


def marker_key(settings: Settings) -> str:
    return f"{redis_prefix(settings)}:deployment"


async def database_identity(engine: AsyncEngine, url: str) -> str:
    """The database's location and, on PostgreSQL, what tells a database apart from one
    of the same name created later or on another server: its OID and its cluster's
    system identifier (readable by any role unless a host revoked it: then left out)."""
    location = database_location(url)
    if engine.dialect.name != "postgresql":
        return location
    async with engine.connect() as conn:
        oid = await conn.scalar(
            sa.text("SELECT oid FROM pg_database WHERE datname = current_database()")
        )
    try:
        async with engine.connect() as conn:
            cluster = await conn.scalar(
                sa.text("SELECT system_identifier FROM pg_control_system()")
            )
    except DBAPIError:
        return f"{location} (database oid {oid})"
    return f"{location} (cluster {cluster}, database oid {oid})"


async def claim_redis_namespace(client: Redis, settings: Settings, identity: str) -> None:
    """Note ``identity`` as the owner of this deployment's Redis namespace if it has
    none yet; raise :class:`RedisNamespaceInUse` if another database owns it."""
    key = marker_key(settings)
    if await client.set(key, identity, nx=True):
        return
    found = await client.get(key)
    if found is None:
        # Deleted between the two calls (someone clearing the namespace): the next start
        # claims it again.
        return
    owner = found.decode(errors="replace") if isinstance(found, bytes) else str(found)
    if owner == identity:
        return
    namespace = redis_namespace(settings)
    raise RedisNamespaceInUse(
        f"Redis namespace {namespace!r} holds the state of another database "
        f"({owner}; this node's is {identity}): give this deployment a namespace of its "
        f"own (redis.namespace, CC_REDIS_NAMESPACE), or if that state is no longer "
        f"wanted delete it: redis-cli -u REDIS_URL --scan --pattern "
        f"'*{KEY_PREFIX}:{namespace}[:}}]*' | xargs redis-cli -u REDIS_URL unlink",
        details={"namespace": namespace},
    )
