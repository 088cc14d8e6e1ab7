"""Wiring of the HTTP edge: middlewares, session and login-throttle backends, routes.

``contact_center.app`` (the assembly) calls :func:`setup` once per application.
Nothing connects here: the Redis client, when one is configured, connects on first
use and is closed by the application's cleanup.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from aiohttp import web

from agent_ui.app_keys import ENDPOINTS, LOGIN_THROTTLE, OPENAPI_DOCUMENT, SERVICES, SESSIONS
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
    from agent_ui.hub.hub import Hub

REDIS_PREFIX = "cc"


def setup(
    app: web.Application,
    services: Services,
    *,
    sessions: SessionStore | None = None,
    login_throttle: LoginThrottle | None = None,
    redis_prefix: str = REDIS_PREFIX,
    hub: Hub | None = None,
) -> None:
    """Register the REST API and the consoles' live hub on ``app``.

    Sessions and login attempts live in Redis when ``settings.redis.url`` is set (so
    every node sees them), else in this process. Tests may pass their own backends
    or a Redis key prefix of their own. The assembly passes the ``hub`` it starts and
    stops with the services (agent_ui/hub/wiring.py).
    """
    from agent_ui.hub.wiring import setup as setup_hub

    app[SERVICES] = services
    if sessions is None or login_throttle is None:
        if services.settings.redis.url:
            import redis.asyncio as aioredis

            client = aioredis.from_url(
                services.settings.redis.url,
                max_connections=services.settings.redis.max_connections,
            )

            async def close_redis(_app: web.Application) -> None:
                await client.aclose()

            app.on_cleanup.append(close_redis)
            sessions = sessions or RedisSessionStore(client, prefix=redis_prefix)
            login_throttle = login_throttle or RedisLoginThrottle(client, prefix=redis_prefix)
        else:
            sessions = sessions or MemorySessionStore()
            login_throttle = login_throttle or MemoryLoginThrottle()
    app[SESSIONS] = sessions
    app[LOGIN_THROTTLE] = login_throttle
    app.middlewares.extend([error_middleware, auth_middleware, body_middleware])
    app.on_response_prepare.append(add_security_headers)
    add_endpoints(app, API_ENDPOINTS)
    setup_hub(app, services, hub=hub, redis_prefix=redis_prefix)


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
            endpoint.method, endpoint.path, endpoint.handler, name=endpoint.handler.__name__
        )
        table[key] = endpoint
    app[OPENAPI_DOCUMENT] = build_document(table.values())
