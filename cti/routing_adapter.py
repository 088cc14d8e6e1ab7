"""The router (``routing.service.RoutingService``) behind the CTI's :class:`VoiceRouting` port.

Call ids become contact ids ``call-<server>:<linkedid>``; the router's ``contact.offered``
events for voice contacts become :class:`VoiceOffer` (ring this agent). Offers
the router makes later (an agent becomes ready, a timer fires) reach the CTI
through :func:`voice_offers` on the event bus, and
:meth:`cti.service.TelephonyService.offer` ignores one it is already carrying out.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from contact_center.domain.events import DomainEvent
from contact_center.errors import AppError
from cti.ports import VoiceOffer
from routing.backends.base import CommandResult
from routing.events import ContactOffered
from routing.model import Channel, CustomerContext
from routing.service import RoutingService

log = logging.getLogger(__name__)

CONTACT_PREFIX = "call-"
# Not-ready reason used while an agent's phone cannot ring; add it to
# [routing] not_ready_reasons to have unreachable phones taken out of routing.
PHONE_DOWN_REASON = "phone-unreachable"


def contact_id(call_id: str) -> str:
    return f"{CONTACT_PREFIX}{call_id}"


def call_id_of(contact: str) -> str | None:
    return contact[len(CONTACT_PREFIX) :] if contact.startswith(CONTACT_PREFIX) else None


def voice_offers(events: Iterable[DomainEvent]) -> list[VoiceOffer]:
    """Offers of voice contacts among router events (the bus subscriber uses this too)."""
    offers = []
    for event in events:
        if isinstance(event, ContactOffered) and event.channel == Channel.VOICE:
            call = call_id_of(event.contact_id)
            if call is not None:
                offers.append(VoiceOffer(call, event.agent_id))
    return offers


CustomerLookup = Callable[[str], Awaitable[CustomerContext | None]]


class RouterVoiceRouting:
    """Implements :class:`cti.ports.VoiceRouting` with the real router.

    ``customers`` resolves the caller number to what the profile store knows (tier,
    owner agent, last agent) for priority and sticky routing; without it, or when it
    fails, the call is routed as an unknown caller rather than not at all.
    """

    def __init__(self, routing: RoutingService, *, customers: CustomerLookup | None = None) -> None:
        self.routing = routing
        self.customers = customers
        self._phone_down: set[str] = set()

    async def _run(
        self, what: str, call_id: str, command: Awaitable[CommandResult]
    ) -> Sequence[VoiceOffer]:
        try:
            result = await command
        except AppError as exc:
            # The router refusing (already closed, duplicate after a resync) is not fatal
            # for telephony: log it with the stable id and carry on.
            log.info(
                "router refused %s for call %s: %s (%s)", what, call_id, exc.message, exc.error_id
            )
            return []
        return voice_offers(result.events)

    async def call_queued(
        self,
        *,
        call_id: str,
        queue: str,
        caller_number: str,
        caller_name: str,
        at: float,
        requeued: bool,
    ) -> Sequence[VoiceOffer]:
        if requeued:
            # A transfer to a queue was already told to the router; nothing new to enqueue.
            return []
        customer = None
        if self.customers is not None and caller_number:
            try:
                customer = await self.customers(caller_number)
            except Exception:
                log.exception("customer lookup for %s failed; routing as unknown", call_id)
        return await self._run(
            "enqueue",
            call_id,
            self.routing.enqueue(
                contact_id(call_id),
                Channel.VOICE,
                queue,
                customer,
                attributes={"caller_number": caller_number, "caller_name": caller_name},
            ),
        )

    async def offer_answered(
        self, *, call_id: str, agent_id: str, at: float
    ) -> Sequence[VoiceOffer]:
        return await self._run(
            "accept", call_id, self.routing.accept(contact_id(call_id), agent_id)
        )

    async def offer_not_answered(
        self, *, call_id: str, agent_id: str, reason: str, at: float
    ) -> Sequence[VoiceOffer]:
        return await self._run(
            "not-answered", call_id, self.routing.not_answered(contact_id(call_id), agent_id)
        )

    async def call_transferred(
        self,
        *,
        call_id: str,
        from_agent_id: str | None,
        to_agent_id: str | None,
        to_queue: str | None,
        at: float,
    ) -> Sequence[VoiceOffer]:
        if to_queue:
            return await self._run(
                "transfer-to-queue",
                call_id,
                self.routing.transfer_to_queue(contact_id(call_id), to_queue),
            )
        if to_agent_id:
            return await self._run(
                "transfer-to-agent",
                call_id,
                self.routing.transfer_to_agent(contact_id(call_id), to_agent_id),
            )
        return []

    async def call_ended(
        self, *, call_id: str, agent_id: str | None, abandoned: bool, at: float
    ) -> Sequence[VoiceOffer]:
        reason = "customer-left" if abandoned else "call-ended"
        return await self._run(
            "hang-up", call_id, self.routing.hang_up(contact_id(call_id), reason)
        )

    async def phone_availability(
        self, *, agent_id: str, can_take_calls: bool, at: float
    ) -> Sequence[VoiceOffer]:
        if not can_take_calls:
            try:
                result = await self.routing.not_ready(agent_id, PHONE_DOWN_REASON)
            except AppError as exc:
                log.info(
                    "agent %s's phone is down but the router keeps the state: %s (%s)",
                    agent_id,
                    exc.message,
                    exc.error_id,
                )
                return []
            self._phone_down.add(agent_id)
            return voice_offers(result.events)
        if agent_id in self._phone_down:
            self._phone_down.discard(agent_id)
            return await self._run("ready", agent_id, self.routing.ready(agent_id))
        return []
