"""A whole telephony stack for end-to-end tests: simulated PBX, AMI link, CTI, real router."""

from __future__ import annotations

import dataclasses
from typing import Any

from contact_center.settings import AsteriskServer
from cti.connection import AmiLink, LinkHealth
from cti.ports import CollectingEventSink, StaticAgentDirectory
from cti.routing_adapter import RouterVoiceRouting, contact_id
from cti.service import ServerSession, TelephonyService, TelephonySettings
from cti.simulator.pbx import PhoneMode, SimulatedPbx
from cti.wiring import RouterOffersToTelephony
from routing.backends.memory import MemoryRouterBackend
from routing.ports import ListEventSink
from routing.service import RoutingService
from routing.settings import build_config, parse_routing_settings

AGENTS = {"alice": "1001", "bob": "1002", "carol": "1003", "sam": "1901"}

ROUTING: dict[str, Any] = {
    "not_ready_reasons": ["break", "lunch"],
    "queues": {
        "support": {"channels": ["voice"], "offer_timeout_seconds": {"voice": 60}},
        "sales": {"channels": ["voice"], "offer_timeout_seconds": {"voice": 60}},
    },
}


@dataclasses.dataclass
class Stack:
    pbx: SimulatedPbx
    link: AmiLink
    telephony: TelephonyService
    session: ServerSession
    router: RoutingService
    router_events: ListEventSink
    events: CollectingEventSink
    offers: RouterOffersToTelephony

    def cid(self, call: str) -> str:
        """The contact center's call id of a simulator call (``<server>:<linkedid>``)."""
        return f"{self.session.name}:{call}"

    async def contact(self, call: str) -> dict[str, Any]:
        return await self.router.describe_contact(contact_id(self.cid(call)))

    async def agent(self, agent_id: str) -> dict[str, Any]:
        return await self.router.describe_agent(agent_id)

    def redirects_to(self, extension: str) -> int:
        return sum(
            1
            for a in self.pbx.actions
            if a.get("Action") == "Redirect" and a.get("Exten") == extension
        )

    async def wait_link(self, predicate: Any, timeout: float = 5.0) -> LinkHealth:
        """Wait on the link's health (what /status shows) instead of sleeping."""
        return await self.link.wait_health(predicate, timeout)

    async def wait_resyncs(self, count: int) -> None:
        await self.telephony.wait_resyncs(self.session.name, count)


async def build_stack(
    *,
    ready: tuple[str, ...] = ("alice", "bob", "carol"),
    ring_seconds: float = 0.02,
    ring_timeout: float = 0.3,
    md5: bool = False,
    queue_size: int = 10_000,
    settings: TelephonySettings | None = None,
) -> Stack:
    pbx = SimulatedPbx(ring_timeout=ring_timeout, atxfer_digit_timeout=0.05, optimize_delay=0.02)
    for ext in AGENTS.values():
        pbx.set_phone(ext, PhoneMode.ANSWER, ring_seconds=ring_seconds)
    port = await pbx.start()
    server = AsteriskServer(name="pbx1", port=port, secret="cc-secret", md5_auth=md5)
    link = AmiLink(
        server, reconnect_base=0.01, reconnect_max=0.2, ping_interval=5, queue_size=queue_size
    )
    router_events = ListEventSink()
    offers = RouterOffersToTelephony(router_events)
    config = build_config(parse_routing_settings(ROUTING))
    router = RoutingService(MemoryRouterBackend(config, sink=offers))
    await router.start()
    for agent in AGENTS:
        await router.upsert_agent(agent, queues=("support", "sales"))
    events = CollectingEventSink()
    telephony = TelephonyService(
        routing=RouterVoiceRouting(router),
        directory=StaticAgentDirectory(AGENTS),
        sink=events,
        # Refused offers come back quickly: tests wait for them, not for ten seconds.
        settings=settings or TelephonySettings(refused_offer_retry_seconds=0.05),
    )
    offers.attach(telephony)
    session = telephony.add_server(link)
    await telephony.start()
    await link.wait_up(5)
    stack = Stack(pbx, link, telephony, session, router, router_events, events, offers)
    await stack.wait_resyncs(1)
    for agent in ready:
        await router.ready(agent)
    return stack


async def close_stack(stack: Stack) -> None:
    await stack.telephony.stop()
    await stack.offers.wait_idle()
    await stack.router.close()
    await stack.pbx.stop()
