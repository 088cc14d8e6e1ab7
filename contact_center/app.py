"""The composition root: builds every service from settings and wires them together.

``build_services`` creates (never connects) the profile store, accounts, event bus,
router, telephony and the history recorder; ``build_app`` adds the HTTP edge.
Connections open in the aiohttp ``cleanup_ctx`` when the app starts and close when
it stops. Tests pass pre-built services or fakes through the keyword arguments.

Event flow: the router's events go to the history recorder, the bus and (voice
offers) the telephony service, which rings the agent's phone; telephony's events go
to the recorder and the bus. The contact life log writes one INFO line per step of
each contact (ids and durations only). Router agent ids are user ids as text.

Shared state: with ``redis.url`` set, the router's state, the event bus, browser
sessions and login throttling all live in Redis (``routing.backend = "memory"`` keeps
the router in the process), every key and channel under this deployment's namespace
(contact_center/deployment.py). At start the namespace is claimed for this database;
a namespace holding another database's state stops the start with
``redis-namespace-in-use``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any

from aiohttp import web

from contact_center.accounts import AccountStore
from contact_center.agent_reports import AgentStateLog
from contact_center.agent_state import register_agents, settle_state_log
from contact_center.bus import EventBus, MemoryBus
from contact_center.deployment import (
    claim_redis_namespace,
    database_identity,
    redis_namespace,
    redis_prefix,
)
from contact_center.domain.events import DomainEvent
from contact_center.domain.identity import IdentityKind, InvalidIdentity
from contact_center.history import ContactLifeLog, InteractionRecorder
from contact_center.services import Services
from contact_center.settings import Settings
from contact_center.store.engine import create_engine
from contact_center.store.migrate import ensure_migrated
from contact_center.store.profiles import ProfileStore
from contact_center.store.waiting import SqlWaitingContactStore

if TYPE_CHECKING:
    from agent_ui.hub.hub import Hub

log = logging.getLogger(__name__)

SERVICES = web.AppKey("services", Services)


class FanOutSink:
    """Publishes each batch of events to several sinks, in order."""

    def __init__(self, *sinks: Any) -> None:
        self.sinks = sinks

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        for sink in self.sinks:
            await sink.publish(events)


def build_services(
    settings: Settings,
    *,
    bus: EventBus | None = None,
    clock: Callable[[], float] = time.time,
) -> Services:
    """Create (not connect) every service described by ``settings``."""
    from chat.wiring import build_chat
    from cti.console_calls import ConsoleCalls
    from cti.ports import StaticAgentDirectory
    from cti.routing_adapter import CONTACT_PREFIX, HeldVoiceContacts, RouterVoiceRouting
    from cti.wiring import RouterOffersToTelephony, build_telephony
    from routing.model import CustomerContext
    from routing.wiring import build_routing

    engine = create_engine(
        settings.database.url, pool_size=settings.database.pool_size, echo=settings.database.echo
    )
    if bus is None:
        if settings.redis.url:
            from contact_center.bus.redis import RedisBus

            bus = RedisBus(
                settings.redis.url,
                namespace=redis_prefix(settings),
                max_connections=settings.redis.max_connections,
            )
        else:
            bus = MemoryBus()
    profiles = ProfileStore(
        engine,
        default_region=settings.phone.default_region,
        value_settings=settings.value,
        clock=clock,
    )
    recorder = InteractionRecorder(profiles, voice_prefix=CONTACT_PREFIX)
    agent_states = AgentStateLog(engine)
    # The chat edge follows its contacts' steps on the node whose router took them.
    holder: list[Services] = []
    chat = build_chat(
        settings,
        engine=engine,
        profiles=profiles,
        bus=bus,
        accounts=lambda: holder[0].accounts,
        clock=clock,
    )
    events = FanOutSink(
        recorder, agent_states, ContactLifeLog(voice_prefix=CONTACT_PREFIX), chat.lifecycle, bus
    )

    # Agents are registered from the user accounts at start-up (ids = user ids), so the
    # [routing.agents] entries, keyed by username, are applied there, not by the router.
    agent_settings = dict(settings.routing.get("agents", {}))
    routing_only = settings.model_copy(
        update={"routing": {k: v for k, v in settings.routing.items() if k != "agents"}}
    )
    offers = RouterOffersToTelephony(inner=events)
    # Voice contacts kept from an earlier run wait for their server's resync.
    waiting = HeldVoiceContacts(SqlWaitingContactStore(engine, clock))
    routing = build_routing(routing_only, sink=offers, store=waiting, clock=clock)

    async def customer_of(number: str) -> CustomerContext | None:
        try:
            identity = profiles.identity(IdentityKind.PHONE, number)
        except InvalidIdentity:
            return None  # anonymous or internal caller id: routed as an unknown caller
        # Reads only: a number never seen before is routed as the new customer it will
        # be, and its provisional customer is made after the decision (provisional_of).
        found = await profiles.routing_context(identity, create=False)
        if found is None:
            return CustomerContext(tier=profiles.new_customer_tier)

        def text(value: object) -> str | None:
            return None if value is None else str(value)

        return CustomerContext(
            customer_id=str(found["customer_id"]),
            tier=found["tier"],
            owner_agent_id=text(found["owner_agent_id"]),
            last_agent_id=text(found["last_agent_id"]),
            last_served_at=found["last_served_at"],
        )

    async def provisional_of(number: str) -> str:
        resolution = await profiles.resolve(profiles.identity(IdentityKind.PHONE, number))
        return str(resolution.customer_id)

    directory = StaticAgentDirectory()
    # Telephony's events pass through the consoles' call control, which adds call.changed.
    calls = ConsoleCalls(events, directory)
    voice_routing = RouterVoiceRouting(
        routing, customers=customer_of, held=waiting, events=offers, provisional=provisional_of
    )
    telephony = build_telephony(
        settings,
        routing=voice_routing,
        directory=directory,
        sink=calls,
    )
    offers.attach(telephony)
    calls.attach(telephony)

    services = Services(
        settings=settings,
        engine=engine,
        profiles=profiles,
        accounts=AccountStore(engine, clock, token_days=settings.security.token_days),
        bus=bus,
        clock=clock,
        routing=routing,
        telephony=telephony,
        directory=directory,
        recorder=recorder,
        calls=calls,
        agent_states=agent_states,
        agent_settings=agent_settings,
        chat=chat,
    )
    holder.append(services)
    chat.service.routing = routing
    services.health["chat"] = chat.health
    services.extras["waiting_contacts"] = waiting
    services.extras["voice_routing"] = voice_routing
    services.health["database"] = profiles.ping
    services.health["bus"] = bus.health

    async def history_health() -> dict[str, Any]:
        return recorder.health()

    async def telephony_health() -> dict[str, Any]:
        servers = telephony.health()
        return {
            "ok": all(bool(s.get("ok")) for s in servers),
            "servers": servers,
            "fast_path": telephony.fast_path_health(),
            "ring_to_offer": telephony.ring_to_offer_figures(),
        }

    services.health["history"] = history_health
    services.health["routing"] = routing.health
    if settings.email.get("enabled"):
        # The email channel (email_channel/): follows the router's events for its
        # contacts and publishes its own on the bus.
        from email_channel.wiring import EXTRAS_KEY, build_email

        channel = build_email(settings, services, sink=bus, clock=clock)
        events.sinks = (*events.sinks, channel.service)
        services.extras[EXTRAS_KEY] = channel
        services.health["email"] = channel.health
    if settings.asterisk.servers:
        services.health["asterisk"] = telephony_health
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
    from agent_ui.hub.wiring import build_hub
    from agent_ui.wiring import setup as setup_http

    if services is None:
        services = build_services(settings, bus=bus, clock=clock)
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app[SERVICES] = services
    # The consoles' live hub: its notifier follows services.bus once started.
    hub = build_hub(services, redis_prefix=redis_prefix(settings))
    app.cleanup_ctx.append(_lifetime(services, hub=hub, require_migrated=require_migrated))
    setup_http(app, services, redis_prefix=redis_prefix(settings), hub=hub)
    if services.chat is not None:
        from chat.wiring import setup as setup_chat

        setup_chat(app, services.chat, hub=hub)
    return app


def _lifetime(
    services: Services, *, hub: Hub | None = None, require_migrated: bool
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def lifetime(_app: web.Application) -> AsyncIterator[None]:
        try:
            if require_migrated:
                await ensure_migrated(services.engine)
            if services.settings.redis.url:
                await _claim_namespace(services)
        except Exception:
            await services.engine.dispose()
            raise
        await services.bus.start()
        if services.recorder is not None:
            await services.recorder.start()
        if services.agent_states is not None:
            await services.agent_states.start()
        if services.routing is not None:
            await services.routing.start()
            agents = await register_agents(services)
            log.info("router started with %d agents", len(agents))
            await settle_state_log(services, agents)
        if services.telephony is not None:
            await services.telephony.start()
        if services.chat is not None:
            await services.chat.start()
        email = services.extras.get("email")
        if email is not None:
            await email.start()
        if hub is not None:
            await hub.start()
        log.info(
            "services started (database %s, Redis namespace %s)",
            services.engine.dialect.name,
            redis_namespace(services.settings) if services.settings.redis.url else "-",
        )
        try:
            yield
        finally:
            if hub is not None:
                await hub.stop()
            if services.chat is not None:
                await services.chat.stop()
            if email is not None:
                await email.stop()
            if services.telephony is not None:
                await services.telephony.stop()
            voice_routing = services.extras.get("voice_routing")
            if voice_routing is not None:
                await voice_routing.identified()  # provisional customers made behind
            if services.routing is not None:
                await services.routing.close()
            waiting = services.extras.get("waiting_contacts")
            if waiting is not None:
                await waiting.flush()  # voice contacts are written behind
            if services.recorder is not None:
                await services.recorder.stop()
            if services.agent_states is not None:
                await services.agent_states.stop()
            await services.bus.close()
            await services.engine.dispose()
            log.info("services stopped")

    return lifetime


async def _claim_namespace(services: Services) -> None:
    """Before anything reads or writes shared state: this deployment's Redis namespace
    is this database's (claimed now if new), or the start fails."""
    import redis.asyncio as aioredis

    settings = services.settings
    identity = await database_identity(services.engine, settings.database.url)
    client = aioredis.from_url(settings.redis.url)
    try:
        await claim_redis_namespace(client, settings, identity)
    finally:
        await client.aclose()
