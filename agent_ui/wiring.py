"""Wiring of the HTTP edge: middlewares, session and rate-limit backends, routes.

``contact_center.app`` (the assembly) calls :func:`setup` once per application.
Nothing connects here: the Redis client, when one is configured, connects on first
use and is closed by the application's cleanup.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING

from aiohttp import web

from agent_ui.app_keys import (
    ENDPOINTS,
    LOGIN_THROTTLE,
    OPENAPI_DOCUMENT,
    SEARCH_THROTTLE,
    SERVICES,
    SESSIONS,
)
from agent_ui.endpoint import Endpoint
from agent_ui.login_throttle import (
    LoginThrottle,
    MemoryLoginThrottle,
    RedisLoginThrottle,
)
from agent_ui.middlewares import (
    add_security_headers,
    auth_middleware,
    body_middleware,
    error_middleware,
)
from agent_ui.openapi import build_document
from agent_ui.routes import ENDPOINTS as API_ENDPOINTS
from agent_ui.sessions import MemorySessionStore, RedisSessionStore, SessionStore
from contact_center.services import Services

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from agent_ui.hub.hub import Hub

REDIS_PREFIX = "cc"
# How long a request waits for a free Redis connection before it is refused with
# 503 server-busy. A Redis command takes well under a millisecond, so a full pool
# drains in far less than this; waiting longer would only pile requests up.
REDIS_POOL_WAIT_SECONDS = 2.0


def redis_client(
    url: str, *, max_connections: int, wait_seconds: float = REDIS_POOL_WAIT_SECONDS
) -> Redis:
    """A Redis client whose pool makes callers wait for a connection when all
    ``max_connections`` are busy (up to ``wait_seconds``, then ``ConnectionError``),
    rather than failing at once with ``MaxConnectionsError`` as redis-py's default
    pool does: a burst of requests queues for a moment instead of failing."""
    from redis.asyncio import BlockingConnectionPool, Redis

    pool = BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=wait_seconds
    )
    return Redis.from_pool(pool)


def setup(
    app: web.Application,
    services: Services,
    *,
    sessions: SessionStore | None = None,
    login_throttle: LoginThrottle | None = None,
    search_throttle: LoginThrottle | None = None,
    redis_prefix: str = REDIS_PREFIX,
    hub: Hub | None = None,
) -> None:
    """Register the REST API and the consoles' live hub on ``app``.

    Sessions, login attempts and search counts live in Redis when
    ``settings.redis.url`` is set (so every node sees them), else in this process.
    Tests may pass their own backends or a Redis key prefix of their own. The assembly
    passes the ``hub`` it starts and stops with the services (agent_ui/hub/wiring.py).
    """
    from agent_ui.hub.wiring import setup as setup_hub

    app[SERVICES] = services
    if sessions is None or login_throttle is None or search_throttle is None:
        if services.settings.redis.url:
            client = redis_client(
                services.settings.redis.url,
                max_connections=services.settings.redis.max_connections,
            )

            async def close_redis(_app: web.Application) -> None:
                await client.aclose()

            app.on_cleanup.append(close_redis)
            sessions = sessions or RedisSessionStore(client, prefix=redis_prefix)
            login_throttle = login_throttle or RedisLoginThrottle(client, prefix=redis_prefix)
            search_throttle = search_throttle or RedisLoginThrottle(
                client, prefix=redis_prefix, name="search-requests"
            )
        else:
            sessions = sessions or MemorySessionStore()
            login_throttle = login_throttle or MemoryLoginThrottle()
            search_throttle = search_throttle or MemoryLoginThrottle()
    app[SESSIONS] = sessions
    app[LOGIN_THROTTLE] = login_throttle
    app[SEARCH_THROTTLE] = search_throttle
    # Disabling a user or setting a password, from any caller of the account store,
    # ends the user's sessions here.
    unsubscribe = services.accounts.on_access_revoked(sessions.delete_user)

    async def stop_listening(_app: web.Application) -> None:
        unsubscribe()

    app.on_cleanup.append(stop_listening)
    app.middlewares.extend([error_middleware, auth_middleware, body_middleware])
    app.on_response_prepare.append(add_security_headers)
    add_endpoints(app, API_ENDPOINTS)
    setup_hub(app, services, hub=hub, redis_prefix=redis_prefix)


@contextlib.asynccontextmanager
async def session_revocation(services: Services, *, redis_prefix: str) -> AsyncIterator[None]:
    """For a process other than the server (the CLI): while inside, disabling a user or
    setting a password also ends their sessions in the shared store.

    With ``redis.url`` set the sessions are in Redis and are deleted at once. Without
    it they live in the server's own memory, out of this process's reach: they are
    refused at their next request, since every request re-reads the user (disabled,
    password changed since the session began), and are swept out later.
    """
    url = services.settings.redis.url
    if not url:
        yield
        return
    client = redis_client(url, max_connections=2)
    unsubscribe = services.accounts.on_access_revoked(
        RedisSessionStore(client, prefix=redis_prefix).delete_user
    )
    try:
        yield
    finally:
        unsubscribe()
        await client.aclose()


def add_endpoints(app: web.Application, endpoints: Iterable[Endpoint]) -> None:
    """Register endpoints (routes, roles, schemas) and refresh the OpenAPI document.

    Other parts of the edge (consoles, chat) add their routes through here, so their
    access rules are declared in the same way as the REST API's.
    """
    table = app.get(ENDPOINTS)
    if table is None:
        table = {}
        app[ENDPOINTS] = table
    for endpoint in endpoints:
        key = (endpoint.method, endpoint.canonical)
        if key in table:
            raise ValueError(f"endpoint {endpoint.method} {endpoint.canonical} declared twice")
        app.router.add_route(
            endpoint.method, endpoint.path, endpoint.handler, name=endpoint.operation_id
        )
        table[key] = endpoint
    app[OPENAPI_DOCUMENT] = build_document(table.values())
