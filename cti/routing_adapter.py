"""The router (``routing.service.RoutingService``) behind the CTI's :class:`VoiceRouting` port.

Call ids become contact ids ``call-<server>:<linkedid>``; the router's ``contact.offered``
events for voice contacts become :class:`VoiceOffer` (ring this agent). Offers
the router makes later (an agent becomes ready, a timer fires) reach the CTI
through :func:`voice_offers` on the event bus, and
:meth:`cti.service.TelephonyService.offer` ignores one it is already carrying out.

:class:`HeldVoiceContacts` sits between the router and its waiting-contact store so
that voice contacts restored after a restart wait for their server's resync before
the router may offer them, and so that a caller's offer never waits on the database:
voice contacts are written behind, in order (a crash before the write is covered by
the resync, which finds the caller waiting on Asterisk and routes it again).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence

from contact_center.domain.events import DomainEvent
from contact_center.errors import AppError
from cti.errors import CallNotRoutable
from cti.ports import LOST_WITH_PBX, CallFacts, EventSink, VoiceOffer
from routing.backends.base import CommandResult
from routing.commands import SetAgentState
from routing.events import (
    ContactAbandoned,
    ContactAttached,
    ContactCustomerIdentified,
    ContactOffered,
)
from routing.model import PHONE_UNREACHABLE_REASON, AgentState, Channel, CustomerContext
from routing.ports import WaitingContact, WaitingContactStore
from routing.service import RoutingService

log = logging.getLogger(__name__)

CONTACT_PREFIX = "call-"
# Not-ready reason while an agent's phone is unreachable: built into the router, so it
# needs no configuration.
PHONE_DOWN_REASON = PHONE_UNREACHABLE_REASON


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
                offers.append(VoiceOffer(call, event.agent_id, event.at, event.auto_accept))
    return offers


# What the profile store knows of a caller number; a context without ``customer_id``:
# a number it has never seen (with ``ProvisionalCustomer``, made after the decision).
CustomerLookup = Callable[[str], Awaitable[CustomerContext | None]]
# Makes (or finds, if another node made it meanwhile) the provisional customer of a caller
# number never seen before; its customer id.
ProvisionalCustomer = Callable[[str], Awaitable[str]]


class HeldVoiceContacts:
    """The router's waiting-contact store, holding back the voice contacts it kept.

    A restarted router re-queues every contact its store kept (``load_all``). A voice
    contact's call may have died meanwhile with the PBX, and offering it would ring an
    agent for nobody; nor can anyone tell before Asterisk has been asked. So
    ``load_all`` gives the router every other contact and keeps the voice ones here
    until :meth:`RouterVoiceRouting.resynced` settles them with their server's resync.
    """

    def __init__(self, inner: WaitingContactStore) -> None:
        self.inner = inner
        self._held: dict[str, WaitingContact] = {}
        # Voice contacts to write (None: remove), oldest change first; a newer change of
        # the same contact replaces an unwritten one.
        self._unwritten: collections.OrderedDict[str, WaitingContact | None] = (
            collections.OrderedDict()
        )
        self._writer: asyncio.Task[None] | None = None
        self._written = asyncio.Event()
        self._written.set()
        self.write_failures = 0

    async def save(self, contact: WaitingContact) -> None:
        self._held.pop(contact.contact_id, None)  # the router has it again
        if call_id_of(contact.contact_id) is None:
            await self.inner.save(contact)
        else:
            self._write_behind(contact.contact_id, contact)

    async def remove(self, contact_id: str) -> None:
        self._held.pop(contact_id, None)
        if call_id_of(contact_id) is None:
            await self.inner.remove(contact_id)
        else:
            self._write_behind(contact_id, None)

    def _write_behind(self, contact_id: str, contact: WaitingContact | None) -> None:
        """A caller's offer must not wait on the database: write it after."""
        self._unwritten.pop(contact_id, None)
        self._unwritten[contact_id] = contact
        self._written.clear()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="waiting-voice-contacts")

    async def _write(self) -> None:
        failures = 0
        while self._unwritten:
            contact_id, contact = next(iter(self._unwritten.items()))
            try:
                if contact is None:
                    await self.inner.remove(contact_id)
                else:
                    await self.inner.save(contact)
            except Exception:
                failures += 1
                self.write_failures += 1
                log.exception("waiting-contact store failed for %s; will retry", contact_id)
                if failures >= 5:
                    # Give up on this one change; a restart's resync finds the caller.
                    self._drop_if_unchanged(contact_id, contact)
                    failures = 0
                else:
                    await asyncio.sleep(0.2 * failures)  # back off, then retry
                continue
            failures = 0
            self._drop_if_unchanged(contact_id, contact)
        self._written.set()

    def _drop_if_unchanged(self, contact_id: str, contact: WaitingContact | None) -> None:
        if contact_id in self._unwritten and self._unwritten[contact_id] is contact:
            del self._unwritten[contact_id]

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every voice contact change is written (stop, tests)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._written.wait()

    async def load_all(self) -> list[WaitingContact]:
        contacts = await self.inner.load_all()
        for contact in contacts:
            if call_id_of(contact.contact_id) is not None:
                self._held[contact.contact_id] = contact
        return [c for c in contacts if c.contact_id not in self._held]

    def held(self) -> list[str]:
        """Ids of the contacts still held, oldest first."""
        return list(self._held)

    def pop(self, contact_id: str) -> WaitingContact | None:
        """Stop holding one contact and return it (None if it is not held)."""
        return self._held.pop(contact_id, None)

    def take(self, server: str) -> list[WaitingContact]:
        """Stop holding the contacts of ``server``'s calls and return them, oldest first."""
        prefix = contact_id(f"{server}:")
        taken = [c for cid, c in self._held.items() if cid.startswith(prefix)]
        for contact in taken:
            del self._held[contact.contact_id]
        return taken


class RouterVoiceRouting:
    """Implements :class:`cti.ports.VoiceRouting` with the real router.

    ``customers`` resolves the caller number to what the profile store knows (tier,
    owner agent, last agent) for priority and sticky routing; without it, or when it
    fails, the call is routed as an unknown caller rather than not at all. With
    ``provisional``, a number ``customers`` has never seen is routed first (as a new
    customer would be: lowest tier, no owner, no last agent) and its provisional customer
    is made after the decision, so that the offer never waits on that write; the router
    is then told (``identify_customer``: ``contact.customer_identified`` follows, which
    brings the screen-pop to the console and the customer to the history). A crash in
    between leaves the caller without a customer until the restart's resync routes it
    again and this is done then.

    ``held`` is the router's store when voice contacts restored after a restart must
    wait for their server's resync (see :class:`HeldVoiceContacts`); ``events`` is where
    the ``contact.abandoned`` of those whose call is gone goes (the router's own sink,
    so history and consoles see it like any other). They are closed here, not by the
    router, because the router never had them: putting them into it would offer them.
    """

    def __init__(
        self,
        routing: RoutingService,
        *,
        customers: CustomerLookup | None = None,
        held: HeldVoiceContacts | None = None,
        events: EventSink | None = None,
        provisional: ProvisionalCustomer | None = None,
    ) -> None:
        if held is not None and events is None:
            raise ValueError("held voice contacts need an event sink for their ends")
        self.routing = routing
        self.customers = customers
        self.held = held
        self.events = events
        self.provisional = provisional
        # Provisional customers being made behind the routing decision.
        self._identifying: set[asyncio.Task[None]] = set()
        # Contacts re-queued from the held ones: the resync's call.queued for them is old news.
        self._restored: set[str] = set()
        # Contacts enqueued in this run (until their call ends): the router has their customer.
        self._routed: set[str] = set()
        # Held contacts whose call was answered while nobody was routing: what the router
        # needs to take them back as connected (customer, queue, original wait).
        self._answered_while_down: dict[str, WaitingContact] = {}

    async def _run(
        self,
        what: str,
        call_id: str,
        command: Awaitable[CommandResult],
        *,
        level: int = logging.INFO,
    ) -> Sequence[VoiceOffer]:
        try:
            result = await command
        except AppError as exc:
            # The router refusing is not fatal for telephony: log it with the stable id
            # and carry on. ``level``: ERROR where a refusal means the router and the
            # call disagree (a bug), INFO where it already knows (a duplicate after a resync).
            log.log(
                level,
                "router refused %s for call %s: %s (%s)",
                what,
                call_id,
                exc.message,
                exc.error_id,
            )
            return []
        return voice_offers(result.events)

    async def _customer(self, caller_number: str, call_id: str) -> CustomerContext | None:
        if self.customers is None or not caller_number:
            return None
        try:
            return await self.customers(caller_number)
        except Exception:
            log.exception("customer lookup for %s failed; routing as unknown", call_id)
            return None

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
        if contact_id(call_id) in self._restored:
            self._restored.discard(contact_id(call_id))
            return []  # back in its queue already, with the wait it had before the restart
        customer = await self._customer(caller_number, call_id)
        try:
            result = await self.routing.enqueue(
                contact_id(call_id),
                Channel.VOICE,
                queue,
                customer,
                attributes={"caller_number": caller_number, "caller_name": caller_name},
            )
        except AppError as exc:
            if exc.error_id == "duplicate-contact":
                # Told twice (a resync overlapping the live event): it is being routed.
                log.info("router already has call %s: %s", call_id, exc.message)
                return []
            raise CallNotRoutable(
                exc.message,
                details={"call_id": call_id, "queue": queue, "reason": exc.error_id},
            ) from exc
        self._routed.add(contact_id(call_id))
        self._identify_after(contact_id(call_id), customer, caller_number, queue)
        return voice_offers(result.events)

    def _identify_after(
        self, cid: str, customer: CustomerContext | None, number: str, queue: str
    ) -> None:
        """A caller never seen before was routed without a customer: make its provisional
        customer now, behind the decision (the offer is already on its way)."""
        if self.provisional is None or not number:
            return
        if customer is None or customer.customer_id is not None:
            return
        task = asyncio.create_task(self._identify(cid, number, queue), name=f"identify-{cid}")
        self._identifying.add(task)
        task.add_done_callback(self._identifying.discard)

    async def _identify(self, cid: str, number: str, queue: str) -> None:
        assert self.provisional is not None
        try:
            customer_id = await self.provisional(number)
        except Exception:
            log.exception("provisional customer of %s could not be made; routed as unknown", cid)
            return
        try:
            await self.routing.identify_customer(cid, customer_id)
        except AppError as exc:
            # Ended already (a caller who hung up at once): the router has no more
            # events for it, so the history hears of its customer from here.
            log.info("customer %s of %s not told to the router: %s", customer_id, cid, exc.message)
            if self.events is not None:
                await self.events.publish(
                    [
                        ContactCustomerIdentified(
                            at=time.time(),
                            contact_id=cid,
                            channel=Channel.VOICE,
                            queue=queue,
                            customer_id=customer_id,
                            state="ended",
                        )
                    ]
                )

    async def identified(self, timeout: float = 10.0) -> None:
        """Wait until the provisional customers being made are made (stop, tests)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._identifying:
                    await asyncio.gather(*self._identifying, return_exceptions=True)

    async def agent_ringing(
        self, *, call_id: str, agent_id: str, at: float, facts: CallFacts
    ) -> Sequence[VoiceOffer]:
        return await self._attach(call_id, agent_id, "offered", facts)

    async def offer_answered(
        self, *, call_id: str, agent_id: str, at: float, facts: CallFacts | None = None
    ) -> Sequence[VoiceOffer]:
        return await self._attach(call_id, agent_id, "connected", facts or CallFacts())

    async def _attach(
        self, call_id: str, agent_id: str, state: str, facts: CallFacts
    ) -> Sequence[VoiceOffer]:
        """The router follows the call (one command; it changes nothing when the router
        already agrees). What it needs to create a contact it does not have comes from the
        contact held since before a restart, else from the call and a customer lookup."""
        cid = contact_id(call_id)
        kept = self._answered_while_down.pop(cid, None)
        if kept is None and self.held is not None:
            kept = self.held.pop(cid)
            if kept is not None:
                # Out of the store too: a connected contact is not saved again, and a
                # record left there would come back after the next restart.
                await self.held.remove(cid)
        customer: CustomerContext | None
        waiting_since: float | None
        if kept is not None:
            customer = CustomerContext(
                customer_id=kept.customer_id,
                tier=kept.tier,
                owner_agent_id=kept.owner_agent_id,
                last_agent_id=kept.last_agent_id,
                last_served_at=kept.last_served_at,
            )
            queue, waiting_since, attributes = kept.queue, kept.waiting_since, dict(kept.attributes)
        else:
            customer = await self._known_or_looked_up(cid, facts, call_id)
            queue, waiting_since = facts.queue, facts.waiting_since
            attributes = {"caller_number": facts.caller_number, "caller_name": facts.caller_name}
        try:
            result = await self.routing.attach(
                cid,
                agent_id,
                state,
                queue=queue,
                customer=customer,
                waiting_since=waiting_since,
                attributes=attributes,
            )
        except AppError as exc:
            # The router not following a call is a bug: it would offer a talking agent
            # new callers, or a ringing caller to someone else.
            log.error(
                "router refused to follow call %s (%s with agent %s): %s (%s)",
                call_id,
                state,
                agent_id,
                exc.message,
                exc.error_id,
            )
            return []
        for event in result.events:
            if isinstance(event, ContactAttached):
                if event.restored:
                    had = "did not have it (restored after a restart)"
                elif event.previous_agent_id is None:
                    had = "had it waiting"
                else:
                    had = f"had it with agent {event.previous_agent_id}"
                log.info("call %s %s with agent %s; the router %s", call_id, state, agent_id, had)
        return voice_offers(result.events)

    async def _known_or_looked_up(
        self, cid: str, facts: CallFacts, call_id: str
    ) -> CustomerContext | None:
        # Contacts enqueued in this run carry their customer already: no lookup for them.
        if cid in self._routed:
            return None
        customer = await self._customer(facts.caller_number, call_id)
        if customer is not None and customer.customer_id is None and self.provisional is not None:
            # Not on the path of an offer: the caller is already with the agent.
            try:
                made = await self.provisional(facts.caller_number)
            except Exception:
                log.exception("provisional customer of %s could not be made", call_id)
                return customer
            customer = CustomerContext(
                customer_id=made,
                tier=customer.tier,
                owner_agent_id=customer.owner_agent_id,
                last_agent_id=customer.last_agent_id,
                last_served_at=customer.last_served_at,
            )
        return customer

    async def offer_not_answered(
        self, *, call_id: str, agent_id: str, reason: str, at: float
    ) -> Sequence[VoiceOffer]:
        return await self._run(
            "not-answered", call_id, self.routing.not_answered(contact_id(call_id), agent_id)
        )

    async def offer_refused(
        self, *, call_id: str, agent_id: str, reason: str, at: float, retry_seconds: float
    ) -> Sequence[VoiceOffer]:
        return await self._run(
            "return-offer",
            call_id,
            self.routing.return_offer(
                contact_id(call_id), agent_id, reason=reason, retry_seconds=retry_seconds
            ),
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
        self, *, call_id: str, agent_id: str | None, abandoned: bool, at: float, lost: bool = False
    ) -> Sequence[VoiceOffer]:
        self._restored.discard(contact_id(call_id))
        self._routed.discard(contact_id(call_id))
        self._answered_while_down.pop(contact_id(call_id), None)
        if lost:
            reason = LOST_WITH_PBX  # nobody saw it end: who left is not known
        elif abandoned:
            reason = "customer-left"
        else:
            reason = "call-ended"
        return await self._run(
            "hang-up", call_id, self.routing.hang_up(contact_id(call_id), reason)
        )

    async def phone_availability(
        self, *, agent_id: str, can_take_calls: bool, at: float
    ) -> Sequence[VoiceOffer]:
        """Only a ready agent is paused for an unreachable phone (one on a break or
        logged out stays so), and only one paused for it is made ready again."""
        try:
            agent = await self.routing.describe_agent(agent_id)
        except AppError as exc:
            log.warning("agent %s's phone changed: %s (%s)", agent_id, exc.message, exc.error_id)
            return []
        state, reason = agent.get("state"), agent.get("reason")
        if not can_take_calls and state == AgentState.READY:
            log.info("agent %s set not ready (%s)", agent_id, PHONE_DOWN_REASON)
            return await self._run(
                "not-ready",
                agent_id,
                self.routing.run(
                    SetAgentState(
                        agent_id=agent_id,
                        state="not_ready",
                        reason=PHONE_DOWN_REASON,
                        by="system",
                    )
                ),
                level=logging.ERROR,
            )
        if can_take_calls and state == AgentState.NOT_READY and reason == PHONE_DOWN_REASON:
            log.info("agent %s's phone is reachable again: set ready", agent_id)
            return await self._run(
                "ready",
                agent_id,
                self.routing.run(SetAgentState(agent_id=agent_id, state="ready", by="system")),
            )
        return []

    async def resynced(
        self,
        *,
        server: str,
        waiting_calls: Collection[str],
        live_calls: Collection[str],
        at: float,
    ) -> Sequence[VoiceOffer]:
        if self.held is None:
            return []
        offers: list[VoiceOffer] = []
        for waiting in self.held.take(server):
            call_id = waiting.contact_id[len(CONTACT_PREFIX) :]
            if call_id in waiting_calls:
                # Still holding: back to its queue with its customer and original wait.
                try:
                    result = await self.routing.run(waiting.to_command())
                except AppError as exc:
                    # E.g. its queue is gone: the resync's call.queued routes it afresh.
                    log.warning(
                        "could not re-queue %s: %s (%s)", call_id, exc.message, exc.error_id
                    )
                    await self.held.remove(waiting.contact_id)
                    continue
                self._restored.add(waiting.contact_id)
                offers.extend(voice_offers(result.events))
                if waiting.customer_id is None:
                    # Routed before its provisional customer was made (a crash between).
                    self._identify_after(
                        waiting.contact_id,
                        CustomerContext(tier=waiting.tier),
                        dict(waiting.attributes).get("caller_number", ""),
                        waiting.queue,
                    )
                continue
            await self.held.remove(waiting.contact_id)
            if call_id in live_calls:
                # Answered while nobody was routing: its call.answered attaches it to the
                # agent, with what was kept of it.
                self._answered_while_down[waiting.contact_id] = waiting
                continue
            await self._lost(waiting, at)
        return offers

    async def _lost(self, waiting: WaitingContact, at: float) -> None:
        """End a held contact whose call Asterisk no longer has, as the router would."""
        assert self.events is not None
        await self.events.publish(
            [
                ContactAbandoned(
                    at=at,
                    contact_id=waiting.contact_id,
                    channel=Channel.VOICE,
                    queue=waiting.queue,
                    customer_id=waiting.customer_id,
                    waited_seconds=round(max(0.0, at - waiting.waiting_since), 3),
                    reason=LOST_WITH_PBX,
                )
            ]
        )
