"""The HTTP edge under concurrency with Redis: a full connection pool makes requests
wait (bounded), then refuses with a clear 503, never a 500."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from agent_ui.app_keys import SESSIONS
from agent_ui.login_throttle import RedisLoginThrottle
from agent_ui.middlewares import SESSION_COOKIE
from agent_ui.sessions import RedisSessionStore, new_session
from agent_ui.wiring import redis_client, setup
from contact_center.services import Services
from tests.agent_ui.conftest import PASSWORD, Caller

pytestmark = pytest.mark.integration

# Far fewer connections than concurrent requests: the pool must queue them.
POOL = 10


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


@pytest.fixture
def redis_services(services: Services, redis_url: str) -> Services:
    return dataclasses.replace(
        services,
        settings=services.settings.with_overrides(
            redis={"url": redis_url, "max_connections": POOL},
            security={"login_max_attempts": 1000},
        ),
    )


@pytest.fixture
async def server(redis_services: Services, redis_namespace: str) -> AsyncIterator[TestServer]:
    app = web.Application()
    setup(app, redis_services, redis_prefix=redis_namespace)
    async with TestServer(app) as test_server:
        yield test_server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # No client-side connection limit: every request is in flight at once.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        yield session


async def statuses(
    count: int, request: Callable[[int], Awaitable[aiohttp.ClientResponse]]
) -> tuple[dict[int, int], float]:
    async def one(i: int) -> int:
        async with await request(i) as response:
            await response.read()
            return response.status

    started = time.perf_counter()
    results = await asyncio.gather(*(one(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    counted: dict[int, int] = {}
    for status in results:
        counted[status] = counted.get(status, 0) + 1
    return counted, elapsed


async def test_given_500_concurrent_session_requests_then_no_5xx(
    server: TestServer,
    http: aiohttp.ClientSession,
    redis_services: Services,
    make_user: Callable[..., Awaitable[Caller]],
) -> None:
    users = [await make_user(f"load{i:02d}") for i in range(20)]
    sessions = server.app[SESSIONS]
    secrets = []
    for i in range(200):
        created = new_session(users[i % len(users)].user_id, now=redis_services.clock())
        await sessions.save(created.session, idle_seconds=1800)
        secrets.append(created.secret)
    url = server.make_url("/api/v1/auth/me")

    counted, elapsed = await statuses(
        500,
        lambda i: http.get(url, headers={"Cookie": f"{SESSION_COOKIE}={secrets[i % 200]}"}),
    )

    assert counted == {200: 500}, counted
    print(f"500 concurrent session requests, pool of {POOL}: {elapsed:.2f} s")


async def test_given_150_parallel_logins_then_no_5xx(
    server: TestServer,
    http: aiohttp.ClientSession,
    make_user: Callable[..., Awaitable[Caller]],
) -> None:
    for i in range(150):
        await make_user(f"login{i:03d}")
    url = server.make_url("/api/v1/auth/login")

    counted, elapsed = await statuses(
        150,
        lambda i: http.post(url, json={"username": f"login{i:03d}", "password": PASSWORD}),
    )

    assert counted == {200: 150}, counted
    print(f"150 parallel logins, pool of {POOL}: {elapsed:.2f} s")


async def test_given_pool_held_past_the_wait_then_503_with_retry_after(
    redis_services: Services,
    redis_url: str,
    redis_namespace: str,
    aiohttp_client: Any,
    agent: Caller,
) -> None:
    client = redis_client(redis_url, max_connections=2, wait_seconds=0.2)
    app = web.Application()
    setup(
        app,
        redis_services,
        sessions=RedisSessionStore(client, prefix=redis_namespace),
        login_throttle=RedisLoginThrottle(client, prefix=redis_namespace),
    )
    test_client = await aiohttp_client(app)
    pool = client.connection_pool
    held = [await pool.get_connection(), await pool.get_connection()]
    try:
        try:
            response = await test_client.post(
                "/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD}
            )
            assert response.status == 503
            assert response.headers["Retry-After"] == "1"
            body = await response.json()
            assert body["error"] == "server-busy"
            assert "request_id" in body["details"]
        finally:
            for connection in held:
                await pool.release(connection)
        # Once connections are free again, the same request works.
        response = await test_client.post(
            "/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD}
        )
        assert response.status == 200
    finally:
        await client.aclose()
