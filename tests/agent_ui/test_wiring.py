"""Wiring: with a Redis URL configured, sessions and login limits are shared by every node."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from aiohttp import web

from agent_ui.app_keys import LOGIN_THROTTLE, SESSIONS
from agent_ui.login_throttle import MemoryLoginThrottle, RedisLoginThrottle
from agent_ui.middlewares import SESSION_COOKIE
from agent_ui.sessions import MemorySessionStore, RedisSessionStore
from agent_ui.wiring import setup
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
