"""One contract for each backend port of the HTTP edge, run against the in-memory
implementation and against the Redis one on a real Redis server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from agent_ui.login_throttle import LoginThrottle, MemoryLoginThrottle, RedisLoginThrottle
from agent_ui.sessions import (
    MemorySessionStore,
    RedisSessionStore,
    SessionStore,
    new_session,
    session_key,
)

IDLE = 1800.0
NOW = 1_750_000_000.0
BACKENDS = ["memory", pytest.param("redis", marks=pytest.mark.integration)]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def redis_prefix(backend: str, request: pytest.FixtureRequest) -> str:
    # Synchronous so it may pull in the async redis_namespace fixture only when needed.
    if backend == "memory":
        return ""
    return str(request.getfixturevalue("redis_namespace"))


@pytest.fixture
async def sessions(
    backend: str, redis_prefix: str, request: pytest.FixtureRequest
) -> AsyncIterator[SessionStore]:
    if backend == "memory":
        yield MemorySessionStore()
        return
    import redis.asyncio as aioredis

    client = aioredis.from_url(request.getfixturevalue("redis_url"))
    try:
        yield RedisSessionStore(client, prefix=redis_prefix)
    finally:
        await client.aclose()


@pytest.fixture
async def throttle(
    backend: str, redis_prefix: str, request: pytest.FixtureRequest
) -> AsyncIterator[LoginThrottle]:
    if backend == "memory":
        yield MemoryLoginThrottle()
        return
    import redis.asyncio as aioredis

    client = aioredis.from_url(request.getfixturevalue("redis_url"))
    try:
        yield RedisLoginThrottle(client, prefix=redis_prefix)
    finally:
        await client.aclose()


# -- sessions ------------------------------------------------------------------------


async def test_session_saved_then_touched_returns_it_with_last_seen_moved(
    sessions: SessionStore,
) -> None:
    created = new_session(7, now=NOW)
    await sessions.save(created.session, idle_seconds=IDLE)
    found = await sessions.touch(session_key(created.secret), now=NOW + 60, idle_seconds=IDLE)
    assert found is not None
    assert found.user_id == 7
    assert found.csrf_token == created.session.csrf_token
    assert found.created_at == NOW
    assert found.last_seen == NOW + 60


async def test_session_unknown_key_is_none(sessions: SessionStore) -> None:
    assert await sessions.touch(session_key("never issued"), now=NOW, idle_seconds=IDLE) is None


async def test_session_idle_past_limit_is_gone_for_good(sessions: SessionStore) -> None:
    created = new_session(7, now=NOW)
    await sessions.save(created.session, idle_seconds=IDLE)
    key = created.session.key
    assert await sessions.touch(key, now=NOW + IDLE, idle_seconds=IDLE) is not None
    assert await sessions.touch(key, now=NOW + 2 * IDLE + 1, idle_seconds=IDLE) is None
    assert await sessions.touch(key, now=NOW + IDLE, idle_seconds=IDLE) is None


async def test_session_touch_never_moves_last_seen_backwards(sessions: SessionStore) -> None:
    created = new_session(7, now=NOW)
    await sessions.save(created.session, idle_seconds=IDLE)
    await sessions.touch(created.session.key, now=NOW + 100, idle_seconds=IDLE)
    found = await sessions.touch(created.session.key, now=NOW + 50, idle_seconds=IDLE)
    assert found is not None and found.last_seen == NOW + 100


async def test_session_deleted_is_gone(sessions: SessionStore) -> None:
    created = new_session(7, now=NOW)
    await sessions.save(created.session, idle_seconds=IDLE)
    await sessions.delete(created.session.key)
    assert await sessions.touch(created.session.key, now=NOW, idle_seconds=IDLE) is None
    await sessions.delete(created.session.key)  # twice is harmless


async def test_session_delete_user_ends_only_that_users_sessions(sessions: SessionStore) -> None:
    mine = [new_session(7, now=NOW) for _ in range(3)]
    theirs = new_session(8, now=NOW)
    for created in [*mine, theirs]:
        await sessions.save(created.session, idle_seconds=IDLE)
    assert await sessions.delete_user(7) == 3
    for created in mine:
        assert await sessions.touch(created.session.key, now=NOW, idle_seconds=IDLE) is None
    assert await sessions.touch(theirs.session.key, now=NOW, idle_seconds=IDLE) is not None
    assert await sessions.delete_user(7) == 0


async def test_session_concurrent_touches_all_see_it(sessions: SessionStore) -> None:
    created = new_session(7, now=NOW)
    await sessions.save(created.session, idle_seconds=IDLE)
    found = await asyncio.gather(
        *(sessions.touch(created.session.key, now=NOW + i, idle_seconds=IDLE) for i in range(20))
    )
    assert all(f is not None for f in found)


async def test_session_health_names_the_backend_and_where_its_keys_are(
    sessions: SessionStore, backend: str, redis_prefix: str
) -> None:
    report = await sessions.health()
    assert report["ok"] is True and report["backend"] == backend
    if backend == "redis":
        assert report["keys"] == f"{redis_prefix}:session:*"


# -- login throttle ------------------------------------------------------------------


async def test_throttle_health_names_the_backend_and_where_its_keys_are(
    throttle: LoginThrottle, backend: str, redis_prefix: str
) -> None:
    report = await throttle.health()
    assert report["ok"] is True and report["backend"] == backend
    if backend == "redis":
        assert report["keys"] == f"{redis_prefix}:login-attempts:*"


async def test_throttle_allows_up_to_limit_then_refuses_with_retry_after(
    throttle: LoginThrottle,
) -> None:
    for i in range(3):
        attempt = await throttle.acquire("user:a", limit=3, window=300, now=NOW + i)
        assert attempt.allowed and attempt.ticket
    refused = await throttle.acquire("user:a", limit=3, window=300, now=NOW + 10)
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(290)
    assert (await throttle.acquire("user:b", limit=3, window=300, now=NOW + 10)).allowed


async def test_throttle_window_slides(throttle: LoginThrottle) -> None:
    for i in range(3):
        await throttle.acquire("user:a", limit=3, window=300, now=NOW + i * 100)
    assert not (await throttle.acquire("user:a", limit=3, window=300, now=NOW + 299)).allowed
    # The first attempt (at NOW) has left the window: one slot is free again.
    assert (await throttle.acquire("user:a", limit=3, window=300, now=NOW + 301)).allowed
    assert not (await throttle.acquire("user:a", limit=3, window=300, now=NOW + 302)).allowed


async def test_throttle_refused_attempts_do_not_extend_the_block(throttle: LoginThrottle) -> None:
    for _ in range(3):
        await throttle.acquire("user:a", limit=3, window=300, now=NOW)
    for i in range(10):
        assert not (await throttle.acquire("user:a", limit=3, window=300, now=NOW + i)).allowed
    assert (await throttle.acquire("user:a", limit=3, window=300, now=NOW + 301)).allowed


async def test_throttle_forgive_removes_one_attempt(throttle: LoginThrottle) -> None:
    tickets = [
        (await throttle.acquire("addr:x", limit=2, window=300, now=NOW)).ticket for _ in range(2)
    ]
    assert not (await throttle.acquire("addr:x", limit=2, window=300, now=NOW)).allowed
    await throttle.forgive("addr:x", tickets[0])
    assert (await throttle.acquire("addr:x", limit=2, window=300, now=NOW)).allowed
    assert not (await throttle.acquire("addr:x", limit=2, window=300, now=NOW)).allowed


async def test_throttle_clear_forgets_everything(throttle: LoginThrottle) -> None:
    for _ in range(2):
        await throttle.acquire("user:a", limit=2, window=300, now=NOW)
    await throttle.clear("user:a")
    assert (await throttle.acquire("user:a", limit=2, window=300, now=NOW)).allowed


async def test_throttle_concurrent_attempts_never_exceed_limit(throttle: LoginThrottle) -> None:
    results = await asyncio.gather(
        *(throttle.acquire("user:race", limit=5, window=300, now=NOW) for _ in range(40))
    )
    assert sum(r.allowed for r in results) == 5


async def test_memory_throttle_forgets_keys_once_their_window_passed() -> None:
    throttle = MemoryLoginThrottle()
    for index in range(100):
        await throttle.acquire(f"user:guess{index}", limit=3, window=300, now=NOW)
    await throttle.acquire("user:late", limit=3, window=300, now=NOW + 301)
    assert list(throttle._attempts) == ["user:late"]


# -- what each backend keeps, and for how long ------------------------------------------


async def test_memory_sessions_idle_and_abandoned_are_swept_at_later_logins() -> None:
    sessions = MemorySessionStore()
    abandoned = new_session(7, now=NOW)
    await sessions.save(abandoned.session, idle_seconds=IDLE)
    active = new_session(8, now=NOW)
    await sessions.save(active.session, idle_seconds=IDLE)
    await sessions.touch(active.session.key, now=NOW + IDLE, idle_seconds=IDLE)
    await sessions.save(new_session(9, now=NOW + IDLE + 1).session, idle_seconds=IDLE)
    # Never touched again, the abandoned session is gone; the active one stays.
    assert (await sessions.health())["sessions"] == 2
    assert await sessions.delete_user(7) == 0
    assert await sessions.delete_user(8) == 1


@pytest.fixture
async def redis_parts(
    redis_url: str, redis_namespace: str
) -> AsyncIterator[tuple[RedisSessionStore, Any, str]]:
    import redis.asyncio as aioredis

    client = aioredis.from_url(redis_url)
    try:
        yield RedisSessionStore(client, prefix=redis_namespace), client, redis_namespace
    finally:
        await client.aclose()


@pytest.mark.integration
async def test_redis_user_session_index_expires_with_the_sessions_it_names(
    redis_parts: tuple[RedisSessionStore, Any, str],
) -> None:
    sessions, client, prefix = redis_parts
    index = f"{prefix}:user-sessions:7"
    created = new_session(7, now=NOW)
    await sessions.save(created.session, idle_seconds=IDLE)
    session_ttl = await client.pttl(f"{prefix}:session:{created.session.key}")
    index_ttl = await client.pttl(index)
    # Read one after the other: a few milliseconds may pass between the two.
    assert 0 < session_ttl - 100 <= index_ttl <= (IDLE + 60) * 1000
    # An index written without a TTL (before this version) gets one at the next use.
    await client.persist(index)
    assert await client.pttl(index) == -1
    found = await sessions.touch(created.session.key, now=NOW + 10, idle_seconds=IDLE)
    assert found is not None
    assert 0 < await client.pttl(index) <= (IDLE + 60) * 1000


@pytest.mark.integration
async def test_redis_user_session_index_outlives_every_live_session(
    redis_parts: tuple[RedisSessionStore, Any, str],
) -> None:
    sessions, client, prefix = redis_parts
    index = f"{prefix}:user-sessions:7"
    created = new_session(7, now=NOW)
    await sessions.save(created.session, idle_seconds=60.0)
    # A second session with a longer idle limit: the index must cover it too.
    longer = new_session(7, now=NOW)
    await sessions.save(longer.session, idle_seconds=IDLE)
    longer_ttl = await client.pttl(f"{prefix}:session:{longer.session.key}")
    assert await client.pttl(index) >= longer_ttl - 100
    # Touching the short one must not shorten the index below the long one.
    await sessions.touch(created.session.key, now=NOW + 1, idle_seconds=60.0)
    longer_ttl = await client.pttl(f"{prefix}:session:{longer.session.key}")
    assert await client.pttl(index) >= longer_ttl - 100
    assert await sessions.delete_user(7) == 2


@pytest.mark.integration
async def test_redis_idle_session_leaves_the_user_index_when_found_idle(
    redis_parts: tuple[RedisSessionStore, Any, str],
) -> None:
    sessions, client, prefix = redis_parts
    created = new_session(7, now=NOW)
    await sessions.save(created.session, idle_seconds=IDLE)
    assert await sessions.touch(created.session.key, now=NOW + IDLE + 1, idle_seconds=IDLE) is None
    assert await client.smembers(f"{prefix}:user-sessions:7") == set()
