"""Wiring: with a Redis URL configured, sessions and login limits are shared by every node."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiohttp import web

from agent_ui.app_keys import LOGIN_THROTTLE, SESSIONS
from agent_ui.login_throttle import MemoryLoginThrottle, RedisLoginThrottle
from agent_ui.middlewares import SESSION_COOKIE
from agent_ui.sessions import MemorySessionStore, RedisSessionStore, new_session
from agent_ui.wiring import session_revocation, setup
from contact_center.services import Services
from tests.agent_ui.conftest import PASSWORD, Caller


def test_given_no_redis_url_then_in_process_backends(app: web.Application) -> None:
    assert isinstance(app[SESSIONS], MemorySessionStore)
    assert isinstance(app[LOGIN_THROTTLE], MemoryLoginThrottle)


@pytest.mark.integration
async def test_given_redis_url_when_two_nodes_then_session_and_rate_limit_shared(
    services: Services,
    redis_url: str,
    redis_namespace: str,
    aiohttp_client: Any,
    agent: Caller,
) -> None:
    shared = dataclasses.replace(
        services, settings=services.settings.with_overrides(redis={"url": redis_url})
    )
    nodes = []
    for _ in range(2):
        application = web.Application()
        setup(application, shared, redis_prefix=redis_namespace)
        assert isinstance(application[SESSIONS], RedisSessionStore)
        assert isinstance(application[LOGIN_THROTTLE], RedisLoginThrottle)
        nodes.append(await aiohttp_client(application))
    node_a, node_b = nodes

    login = await node_a.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD}
    )
    assert login.status == 200
    cookie = login.cookies[SESSION_COOKIE].value
    me = await node_b.get("/api/v1/auth/me", cookies={SESSION_COOKIE: cookie})
    assert me.status == 200
    assert (await me.json())["user"]["username"] == "agent1"

    for node in (node_a, node_b, node_a):
        failed = await node.post(
            "/api/v1/auth/login", json={"username": "agent1", "password": "wrong password"}
        )
        assert failed.status == 401
    blocked = await node_b.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD}
    )
    assert blocked.status == 429

    logout_csrf = (await login.json())["csrf_token"]
    out = await node_b.post(
        "/api/v1/auth/logout",
        cookies={SESSION_COOKIE: cookie},
        headers={"X-CSRF-Token": logout_csrf},
    )
    assert out.status == 204
    gone = await node_a.get("/api/v1/auth/me", cookies={SESSION_COOKIE: cookie})
    assert gone.status == 401


async def test_given_redis_unreachable_then_503_with_retry_after_not_500(
    services: Services, aiohttp_client: Any, agent: Caller, caplog: Any
) -> None:
    # Nothing listens on port 1: every Redis call fails to connect.
    unreachable = dataclasses.replace(
        services, settings=services.settings.with_overrides(redis={"url": "redis://127.0.0.1:1"})
    )
    application = web.Application()
    setup(application, unreachable, redis_prefix="cc-unreachable")
    client = await aiohttp_client(application)
    response = await client.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD}
    )
    assert response.status == 503
    assert response.headers["Retry-After"] == "5"
    assert (await response.json())["error"] == "redis-unavailable"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


@pytest.mark.integration
async def test_given_cli_disables_user_then_their_redis_sessions_end_at_once(
    services: Services, redis_url: str, redis_namespace: str, agent: Caller
) -> None:
    import redis.asyncio as aioredis

    shared = dataclasses.replace(
        services, settings=services.settings.with_overrides(redis={"url": redis_url})
    )
    client = aioredis.from_url(redis_url)
    try:
        store = RedisSessionStore(client, prefix=redis_namespace)
        created = new_session(agent.user_id, now=services.clock())
        await store.save(created.session, idle_seconds=1800)
        # What `contact-center users disable` does, in a process without the HTTP edge.
        async with session_revocation(shared, redis_prefix=redis_namespace):
            await shared.accounts.disable_user(agent.user_id)
        assert await client.exists(f"{redis_namespace}:session:{created.session.key}") == 0
        assert await client.exists(f"{redis_namespace}:user-sessions:{agent.user_id}") == 0
        # Outside the block nothing is listening any more.
        await shared.accounts.enable_user(agent.user_id)
        again = new_session(agent.user_id, now=services.clock())
        await store.save(again.session, idle_seconds=1800)
        await shared.accounts.set_password(agent.user_id, "another long passphrase")
        assert await client.exists(f"{redis_namespace}:session:{again.session.key}") == 1
    finally:
        await client.aclose()


async def test_given_no_redis_when_cli_disables_user_then_nothing_to_reach_and_no_error(
    services: Services, agent: Caller
) -> None:
    async with session_revocation(services, redis_prefix="unused"):
        await services.accounts.disable_user(agent.user_id)
    assert (await services.accounts.get_user(agent.user_id)).disabled
