"""The composition root: builds every service from settings and wires the HTTP edge.

``build_app`` connects nothing by itself: connections open in the aiohttp
``cleanup_ctx`` when the app starts and close when it stops. Tests pass fakes or
pre-built services through the keyword arguments.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from contact_center.accounts import AccountStore
from contact_center.bus import EventBus, MemoryBus
from contact_center.services import Services
from contact_center.settings import Settings
from contact_center.store.engine import create_engine
from contact_center.store.migrate import current_head, database_revision
from contact_center.store.profiles import ProfileStore

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", Services)


class DatabaseNotMigrated(RuntimeError):
    pass


def build_services(
    settings: Settings,
    *,
    bus: EventBus | None = None,
    clock: Callable[[], float] = time.time,
) -> Services:
    """Create (not connect) the core services described by ``settings``."""
    engine = create_engine(
        settings.database.url, pool_size=settings.database.pool_size, echo=settings.database.echo
    )
    if bus is None:
        if settings.redis.url:
            from contact_center.bus.redis import RedisBus

            bus = RedisBus(settings.redis.url, max_connections=settings.redis.max_connections)
        else:
            bus = MemoryBus()
    profiles = ProfileStore(
        engine,
        default_region=settings.phone.default_region,
        value_settings=settings.value,
        clock=clock,
    )
    services = Services(
        settings=settings,
        engine=engine,
        profiles=profiles,
        accounts=AccountStore(engine, clock),
        bus=bus,
        clock=clock,
    )
    services.health["database"] = profiles.ping
    services.health["bus"] = bus.health
    return services


def build_app(
    settings: Settings,
    *,
    services: Services | None = None,
    bus: EventBus | None = None,
    clock: Callable[[], float] = time.time,
    require_migrated: bool = True,
) -> web.Application:
    """The aiohttp application for ``contact-center serve`` and ``demo``."""
    from agent_ui.wiring import setup as setup_http

    if services is None:
        services = build_services(settings, bus=bus, clock=clock)
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app[SERVICES] = services
    app.cleanup_ctx.append(_lifetime(services, require_migrated=require_migrated))
    setup_http(app, services)
    return app


def _lifetime(
    services: Services, *, require_migrated: bool
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        if require_migrated:
            revision = await database_revision(services.engine)
            if revision != current_head():
                await services.engine.dispose()
                raise DatabaseNotMigrated(
                    f"database is at revision {revision or 'none'}, the code needs "
                    f"{current_head()}: run `contact-center db upgrade`"
                )
        await services.bus.start()
        log.info("services started (database %s)", services.engine.dialect.name)
        try:
            yield
        finally:
            await services.bus.close()
            await services.engine.dispose()
            log.info("services stopped")

    return lifetime
