"""Wiring of the live hub: the hub, its notifier and presence store, and its endpoint.

:func:`build_hub` creates (never connects) them from the services; the assembly
(contact_center/app.py) starts and stops the hub with the other services, and
:func:`setup` registers ``GET /api/v1/hub`` in the endpoint table, with its roles,
like every route.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from aiohttp import web

from agent_ui.endpoint import ANY_USER, Endpoint
from agent_ui.hub.handler import hub_socket
from agent_ui.hub.hub import Hub
from agent_ui.hub.notifier import Notifier
from agent_ui.hub.presence import MemoryPresenceStore, Presence, PresenceStore, RedisPresenceStore
from contact_center.services import Services
from contact_center.wallboard import Lease, RedisLease, Wallboard

HUB = web.AppKey("agent_ui.hub", Hub)
HUB_PATH = "/api/v1/hub"
# Upkeep (presence, expiry, re-authentication) at most this far apart.
MAX_TICK_SECONDS = 15.0

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET",
        HUB_PATH,
        hub_socket,
        ANY_USER,
        "Live hub of the consoles (websocket; protocol in docs/hub.md)",
        "hub",
        status=101,
        response=None,
        description="One websocket per browser tab: offers with their screen-pop, agent "
        "states and contact steps per topic, numbered per user so a reconnecting tab "
        "resumes where it left off. A browser session must come from this site's pages "
        "(Origin); integrations send Authorization: Bearer. 426 without an upgrade.",
    ),
)


def build_hub(
    services: Services,
    *,
    redis_prefix: str,
    presence_store: PresenceStore | None = None,
    clock: Callable[[], float] | None = None,
    tick_seconds: float | None = -1.0,
) -> Hub:
    """The hub and its notifier for ``services`` (presence in Redis when ``redis.url``
    is set). ``tick_seconds``: upkeep interval (default a quarter of the grace, at most
    15 s; None: no background upkeep, the caller ticks)."""
    settings = services.settings.console
    if presence_store is None:
        if services.settings.redis.url:
            import redis.asyncio as aioredis

            presence_store = RedisPresenceStore(
                aioredis.from_url(services.settings.redis.url, max_connections=4),
                prefix=redis_prefix,
            )
        else:
            presence_store = MemoryPresenceStore()
    clock = clock or services.clock
    presence = Presence(
        presence_store,
        services.routing,
        grace_seconds=settings.disconnect_grace_seconds,
        clock=clock,
    )
    if tick_seconds is not None and tick_seconds < 0:
        tick_seconds = min(MAX_TICK_SECONDS, settings.disconnect_grace_seconds / 4)
    hub = Hub(
        services, settings=settings, presence=presence, clock=clock, tick_seconds=tick_seconds
    )
    hub.payloads = Notifier(hub, services)
    hub.wallboard = build_wallboard(services, redis_prefix=redis_prefix)
    return hub


def build_wallboard(services: Services, *, redis_prefix: str) -> Wallboard:
    """The wallboard of this node; with Redis, computed by the node holding its lease."""
    node = secrets.token_hex(4)
    lease: Lease | None = None
    if services.settings.redis.url:
        import redis.asyncio as aioredis

        client = aioredis.from_url(services.settings.redis.url, max_connections=2)
        lease = RedisLease(client, prefix=redis_prefix, node=node)
    return Wallboard(services, lease=lease, node=node)


def setup(app: web.Application, services: Services, *, hub: Hub | None, redis_prefix: str) -> Hub:
    """Register the hub's endpoint on ``app`` (building a hub if none is given: its
    start and stop are then the caller's)."""
    from agent_ui.wiring import add_endpoints

    if hub is None:
        hub = build_hub(services, redis_prefix=redis_prefix)
    app[HUB] = hub
    # Tabs are closed when the server shuts down, before the services stop: an open
    # websocket would otherwise hold the shutdown for its whole timeout.
    app.on_shutdown.append(hub.shutdown)
    add_endpoints(app, ENDPOINTS)
    return hub
