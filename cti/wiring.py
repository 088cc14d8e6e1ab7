"""Assembles the CTI from settings: one AMI link per Asterisk server, the service, the router.

Connects nothing at import time. The application's composition root calls
:func:`build_telephony`, owns the service's lifetime (``start`` / ``stop``),
shows :meth:`TelephonyService.health` in ``/status`` and passes router events
through :class:`RouterOffersToTelephony` so later routing decisions ring phones.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence

from contact_center.domain.events import DomainEvent
from contact_center.errors import AppError
from contact_center.settings import AsteriskServer, Settings
from cti.connection import AmiLink
from cti.control import ControlSettings
from cti.fast_path import FastPathHandler, FastPathSettings, FastPathSlots
from cti.fastagi import FastAgiServer
from cti.ports import AgentDirectory, EventSink, StaticAgentDirectory, VoiceRouting
from cti.routing_adapter import call_id_of, voice_offers
from cti.service import TelephonyService, TelephonySettings
from cti.simulator.pbx import PhoneMode, SimulatedPbx
from routing.events import ContactQueued
from routing.model import Channel

log = logging.getLogger(__name__)


def build_telephony(
    settings: Settings,
    *,
    routing: VoiceRouting,
    directory: AgentDirectory,
    sink: EventSink,
    control: ControlSettings | None = None,
) -> TelephonyService:
    """The telephony service with one AMI link per ``[[asterisk.servers]]`` entry."""
    ast = settings.asterisk
    service = TelephonyService(
        routing=routing,
        directory=directory,
        sink=sink,
        control_settings=control or ControlSettings(recording_dir=ast.recording_dir),
        settings=TelephonySettings(
            phone_unreachable_grace_seconds=ast.phone_unreachable_grace_seconds,
            max_offers_per_call_per_minute=ast.max_offers_per_call_per_minute,
            unroutable_queue=ast.unroutable_queue,
            unroutable_context=ast.unroutable_context,
            unroutable_exten=ast.unroutable_exten,
            unroutable_hangup_cause=ast.unroutable_hangup_cause,
            max_tracked_channels=ast.max_tracked_channels,
        ),
    )
    if ast.fastagi_port and ast.servers:
        slots = FastPathSlots(FastPathSettings(decision_seconds=ast.fastagi_decision_seconds))
        service.fast_path = slots
        service.fastagi = FastAgiServer(
            FastPathHandler(slots, service.locate_fast_path_call),
            host=ast.fastagi_host,
            port=ast.fastagi_port,
            permit=ast.fastagi_permit,
            # The request's own wait for the decision ends first; this is a backstop.
            handler_timeout=ast.fastagi_decision_seconds + 2.0,
        )
    for server in settings.asterisk.servers:
        service.add_server(
            AmiLink(
                server,
                ping_interval=settings.asterisk.ping_interval_seconds,
                reconnect_max=settings.asterisk.reconnect_max_seconds,
            )
        )
    return service


async def load_directory(
    source: Callable[[], Awaitable[Mapping[int | str, str]]],
) -> StaticAgentDirectory:
    """Agent id -> extension from the user accounts (``AccountStore.extensions``)."""
    mapping = await source()
    return StaticAgentDirectory({str(agent): ext for agent, ext in mapping.items() if ext})


class RouterOffersToTelephony:
    """An event sink for router events: passes them on, rings phones for voice offers,
    and has the telephony service check every voice contact the router put back in its
    queue on its own (the phone may still be ringing for it).

    Built before the telephony service (the router needs its sink first), then
    :meth:`attach` -ed to it.
    """

    def __init__(self, inner: EventSink | None = None) -> None:
        self.inner = inner
        self.telephony: TelephonyService | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def attach(self, telephony: TelephonyService) -> None:
        self.telephony = telephony

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        if self.inner is not None:
            await self.inner.publish(events)
        if self.telephony is None:
            return
        for event in events:
            if (
                isinstance(event, ContactQueued)
                and event.channel == Channel.VOICE
                and event.reason != "arrived"
            ):
                call_id = call_id_of(event.contact_id)
                if call_id is not None:
                    self._start(self._requeued(call_id))
        for offer in voice_offers(events):
            self._start(
                self._offer(offer.call_id, offer.agent_id, offer.decided_at, offer.auto_answer)
            )

    def _start(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _requeued(self, call_id: str) -> None:
        assert self.telephony is not None
        try:
            await self.telephony.contact_requeued(call_id)
        except Exception:
            log.exception("checking the requeued call %s failed", call_id)

    async def _offer(
        self, call_id: str, agent_id: str, decided_at: float | None, auto_answer: bool = False
    ) -> None:
        assert self.telephony is not None
        try:
            await self.telephony.offer(
                call_id, agent_id, decided_at=decided_at, auto_answer=auto_answer
            )
        except AppError as exc:
            log.warning(
                "offer of call %s to %s not carried out: %s (%s)",
                call_id,
                agent_id,
                exc.message,
                exc.error_id,
            )

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def start_simulated_asterisk(
    extensions: Mapping[str, str],
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    name: str = "simulated",
    ring_seconds: float = 3.0,
) -> tuple[SimulatedPbx, AsteriskServer]:
    """For the demo: a simulated PBX with a phone per agent, and the server entry for it.

    ``extensions`` maps agent id -> extension (names shown as caller id). Put the
    returned server in ``settings.asterisk.servers``; stop the PBX with ``await pbx.stop()``.
    """
    pbx = SimulatedPbx()
    for agent, extension in extensions.items():
        pbx.set_phone(extension, PhoneMode.ANSWER, ring_seconds=ring_seconds, name=agent)
    bound = await pbx.start(host, port)
    server = AsteriskServer(
        name=name, host=host, port=bound, username=pbx.username, secret=pbx.secret
    )
    return pbx, server
