"""Recorded AMI bytes through the CTI service and the real (memory) router, no socket.

``Replay`` feeds a capture's events to :meth:`TelephonyService.process` one at a time
and, after each, waits until every offer it caused has been carried out, as they are
on a live link before Asterisk's next event (a Redirect takes Asterisk milliseconds).
Actions go to a :class:`ReplayLink` that records them and answers as Asterisk does.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cti.connection import LinkHealth, LinkState, LinkUp
from cti.ports import CollectingEventSink, StaticAgentDirectory
from cti.protocol import AmiMessage, frame_all, parse_message
from cti.routing_adapter import RouterVoiceRouting, contact_id
from cti.service import ServerSession, TelephonyService, TelephonySettings
from cti.wiring import RouterOffersToTelephony
from routing.backends.memory import MemoryRouterBackend
from routing.ports import ListEventSink
from routing.service import RoutingService
from routing.settings import build_config, parse_routing_settings

CAPTURES = Path(__file__).resolve().parent / "captures"


def recorded(name: str) -> list[AmiMessage]:
    """The events of a capture in tests/cti/captures (recorded with the product's AMI user)."""
    data = (CAPTURES / f"{name}.ami.txt").read_bytes()
    return [m for m in frame_all(data) if isinstance(m, AmiMessage) and m.event]


class ReplayLink:
    """The AMI link port, answering every action with Asterisk's success reply."""

    def __init__(self, name: str = "pbx1") -> None:
        self.name = name
        self.events: asyncio.Queue[AmiMessage | LinkUp] = asyncio.Queue()
        self.actions: list[tuple[str, dict[str, str]]] = []
        # Lists returned by CoreShowChannels / BridgeList at the next resync.
        self.channels: list[AmiMessage] = []
        self.bridges: list[AmiMessage] = []
        self.variables: dict[tuple[str, str], str] = {}

    async def send_action(
        self, action: str, headers: Iterable[tuple[str, str]] = (), *, timeout: float | None = None
    ) -> AmiMessage:
        fields = dict(headers)
        self.actions.append((action, fields))
        if action == "Getvar":
            value = self.variables.get((fields["Channel"], fields["Variable"]), "")
            return parse_message(f"Response: Success\r\nValue: {value}".encode())
        return parse_message(f"Response: Success\r\nMessage: {action} successful".encode())

    async def send_list_action(
        self, action: str, headers: Iterable[tuple[str, str]] = (), *, timeout: float | None = None
    ) -> tuple[AmiMessage, list[AmiMessage]]:
        self.actions.append((action, dict(headers)))
        items = self.channels if action == "CoreShowChannels" else self.bridges
        return parse_message(b"Response: Success\r\nEventList: start"), list(items)

    def health(self) -> LinkHealth:
        return LinkHealth(
            server=self.name, host="127.0.0.1", port=5038, state=LinkState.UP, logged_in=True
        )

    def sent(self, action: str) -> list[dict[str, str]]:
        return [fields for name, fields in self.actions if name == action]


@dataclasses.dataclass
class Replay:
    link: ReplayLink
    telephony: TelephonyService
    session: ServerSession
    router: RoutingService
    router_events: ListEventSink
    events: CollectingEventSink
    offers: RouterOffersToTelephony

    async def feed(self, messages: Sequence[AmiMessage]) -> None:
        for message in messages:
            await self.telephony.process(self.session, message)
            await self.settle()

    async def settle(self) -> None:
        """Every offer, refusal and check caused so far has been carried out."""
        while self.telephony._tasks or self.offers._tasks:
            await self.telephony.wait_idle()
            await self.offers.wait_idle()

    async def resync(self) -> None:
        await self.telephony.process(self.session, LinkUp(1, 0.0))
        await self.settle()

    async def contact(self, call_id: str) -> dict[str, Any]:
        return await self.router.describe_contact(contact_id(f"{self.session.name}:{call_id}"))

    async def agent(self, agent_id: str) -> dict[str, Any]:
        return await self.router.describe_agent(agent_id)

    def redirects(self) -> list[str]:
        return [a["Exten"] for a in self.link.sent("Redirect") if a.get("Context") == "cc-agent"]

    async def close(self) -> None:
        await self.telephony.stop()
        await self.router.close()


async def start_replay(
    agents: dict[str, str],
    *,
    ready: Sequence[str],
    settings: TelephonySettings | None = None,
    routing: dict[str, Any] | None = None,
    link: ReplayLink | None = None,
) -> Replay:
    link = link or ReplayLink()
    router_events = ListEventSink()
    offers = RouterOffersToTelephony(router_events)
    config = build_config(
        parse_routing_settings(
            routing
            or {
                "queues": {
                    "support": {"channels": ["voice"], "offer_timeout_seconds": {"voice": 60}}
                }
            }
        )
    )
    router = RoutingService(MemoryRouterBackend(config, sink=offers, run_timers=False))
    await router.start()
    for agent in agents:
        await router.upsert_agent(agent, queues=tuple(config.queues))
    for agent in ready:
        await router.ready(agent)
    events = CollectingEventSink()
    telephony = TelephonyService(
        routing=RouterVoiceRouting(router),
        directory=StaticAgentDirectory(agents),
        sink=events,
        settings=settings or TelephonySettings(),
    )
    offers.attach(telephony)
    session = telephony.add_server(link)  # type: ignore[arg-type]
    replay = Replay(link, telephony, session, router, router_events, events, offers)
    await replay.resync()
    return replay
