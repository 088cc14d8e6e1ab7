"""Assembles the router from settings: backend choice, static agents, ports.

Connects nothing at import time; the application's composition root calls
:func:`build_routing` and owns the returned service's lifetime (``start``/``close``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis.asyncio as aioredis

from contact_center.deployment import redis_namespace
from contact_center.settings import Settings
from routing.backends.base import RouterBackend
from routing.backends.memory import MemoryRouterBackend
from routing.backends.redis import RedisRouterBackend, router_client
from routing.errors import InvalidRoutingConfig
from routing.ports import EventSink, WaitingContactStore
from routing.service import RoutingService
from routing.settings import (
    RoutingSettings,
    backend_name,
    build_config,
    parse_routing_settings,
)


class ConfiguredRoutingService(RoutingService):
    """A routing service that registers the agents listed in settings when it starts."""

    def __init__(self, backend: RouterBackend, settings: RoutingSettings) -> None:
        super().__init__(backend)
        self.settings = settings

    async def start(self) -> None:
        await super().start()
        for agent_id, agent in self.settings.agents.items():
            await self.upsert_agent(
                agent_id,
                name=agent.name,
                skills=agent.skills,
                queues=agent.queues,
                profile=agent.profile,
            )


def build_routing(
    settings: Settings,
    *,
    sink: EventSink,
    store: WaitingContactStore | None = None,
    redis_client: aioredis.Redis | None = None,
    node_id: str | None = None,
    clock: Callable[[], float] = time.time,
) -> ConfiguredRoutingService:
    """The routing service for ``settings.routing``: on Redis when ``redis.url`` is set
    (unless ``routing.backend = "memory"``), else in memory.

    On Redis the keys are this deployment's (``{<key_prefix>:<namespace>:<shard>}:...``):
    two deployments sharing one Redis never see each other's agents and contacts.
    """
    routing = parse_routing_settings(settings.routing)
    config = build_config(routing)
    backend: RouterBackend
    if backend_name(routing, settings.redis.url) == "redis":
        if redis_client is None:
            if not settings.redis.url:
                raise InvalidRoutingConfig(
                    'routing.backend = "redis" needs redis.url (or CC_REDIS_URL)'
                )
            redis_client = router_client(
                settings.redis.url, max_connections=settings.redis.max_connections
            )
        backend = RedisRouterBackend(
            config,
            redis_client,
            sink=sink,
            node_id=node_id or settings.server.node_id or None,
            key_prefix=f"{routing.key_prefix}:{redis_namespace(settings)}",
            shard=routing.shard,
            lease_seconds=routing.lease_seconds,
            command_timeout=routing.command_timeout_seconds,
            checkpoint_seconds=routing.checkpoint_seconds,
            checkpoint_commands=routing.checkpoint_commands,
            clock=clock,
        )
    else:
        backend = MemoryRouterBackend(config, sink=sink, store=store, clock=clock)
    return ConfiguredRoutingService(backend, routing)
