"""Telephony use cases: the call tracker bound to the router, and call control.

One :class:`TelephonyService` serves every configured Asterisk server. For each
server a consumer task takes AMI events from the link's bounded queue, feeds
the tracker, publishes the resulting domain events and tells the router what
happened; the router's offers are carried out as AMI ``Redirect`` of the held
caller to ``[cc-agent]``. After every (re)connect the consumer resynchronises
(CoreShowChannels, BridgeList, Getvar CC_QUEUE) before applying newer events, then
settles the voice contacts the router kept from an earlier run against what
Asterisk has. No offer is carried out before a server's first resync; an offer of a
call Asterisk does not have closes that contact as lost with the PBX, and shows in
:meth:`TelephonyService.health`.

The public methods are the call-control API of consoles and supervisors; each
returns Asterisk's success message or raises an :class:`~contact_center.errors.AppError`
with a stable id (``no-such-call``, ``illegal-call-state``, ``asterisk-rejected``...).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Sequence

from contact_center.domain.events import DomainEvent
from contact_center.errors import AppError
from cti.connection import AmiLinkPort, LinkUp
from cti.control import AmiCallControl, ControlSettings, check_number
from cti.errors import (
    AsteriskRejected,
    AsteriskTimeout,
    AsteriskUnavailable,
    CallNotRoutable,
    IllegalCallState,
    NoSuchCall,
    NoSuchServer,
    UnknownExtension,
)
from cti.events import (
    AgentPhoneStateChanged,
    CallAgentLeft,
    CallAgentNoAnswer,
    CallAgentRinging,
    CallAnswered,
    CallDirection,
    CallHungUp,
    CallNotTracked,
    CallOutcome,
    CallQueued,
    CallTransferred,
    HungUpBy,
    MonitorMode,
    TelephonyResynced,
)
from cti.fast_path import FastPathSlots
from cti.fastagi import AgiRequest, FastAgiServer
from cti.ports import AgentDirectory, CallFacts, EventSink, VoiceOffer, VoiceRouting
from cti.protocol import AmiMessage
from cti.tracker import (
    DEFAULT_MAX_CHANNELS,
    Call,
    CallState,
    CallTracker,
    ChannelSnapshot,
    Role,
)

log = logging.getLogger(__name__)

# Health: offers failing this many times in a row on one server mean the router is
# offering calls that cannot be carried out (a success resets the count).
FAILED_OFFERS_LIMIT = 3
# Dial results that, once the agent's phone has rung, are the agent's own: it rang out,
# or the agent rejected it on the phone (BUSY after ringing).
AGENT_DIAL_FAILURES = frozenset({"NOANSWER", "BUSY"})
# Health: for this long after an offer named a call Asterisk does not have, the server
# is reported not ok (the router and the PBX disagreed; the contact was closed).
UNKNOWN_CALL_WINDOW_SECONDS = 60.0
# Longest an offer waits for its server's first resync before it fails.
SYNC_TIMEOUT_SECONDS = 10.0
# Health: for this long after the router refused a caller's queue, the server is
# reported not ok (callers of that queue go to the fallback).
UNROUTABLE_WINDOW_SECONDS = 60.0
# Callers past the tracking ceiling sent away at once; more in a flood are left to
# Asterisk (bounds the tasks a flood of fake callers can start).
MAX_TURN_AWAYS_IN_FLIGHT = 100
# The window of TelephonySettings.max_offers_per_call_per_minute.
OFFER_LIMIT_WINDOW_SECONDS = 60.0
# Ring-to-offer times kept for /status (the most recent ones).
RING_TO_OFFER_SAMPLES = 1000


@dataclasses.dataclass(frozen=True, slots=True)
class TelephonySettings:
    """How the CTI treats phones and offers (``[asterisk]`` in the settings)."""

    # A phone must stay unreachable (UNAVAILABLE/INVALID) this long before its agent is
    # taken out of routing: registrations and qualify checks flap.
    phone_unreachable_grace_seconds: float = 5.0
    # Safety net against loops between the router and Asterisk: more Redirects than
    # this for one caller within a minute are refused; the caller keeps its place.
    max_offers_per_call_per_minute: int = 10
    # A caller the router refuses (its queue does not exist...) goes, in this order, to
    # the router's queue ``unroutable_queue``, to ``unroutable_context``/``_exten`` in the
    # dialplan, or is hung up with ``unroutable_hangup_cause``. Empty: skip that step.
    unroutable_queue: str = ""
    unroutable_context: str = "cc-unroutable"
    unroutable_exten: str = "s"
    unroutable_hangup_cause: int = 21
    # An offer the CTI could not carry out (phone in another call, call not known yet,
    # Redirect refused) is not made to the same agent again for this long.
    refused_offer_retry_seconds: float = 10.0
    # Ceiling of channels tracked per server (cti.tracker, docs/cti.md "Bounded state").
    max_tracked_channels: int = DEFAULT_MAX_CHANNELS


@dataclasses.dataclass(frozen=True, slots=True)
class ActionResult:
    """What a call-control action did: Asterisk's message and any id it created."""

    ok: bool
    message: str
    call_id: str = ""
    file: str = ""


@dataclasses.dataclass(slots=True)
class ServerSession:
    name: str
    link: AmiLinkPort
    tracker: CallTracker
    control: AmiCallControl
    consumer: asyncio.Task[None] | None = None
    resyncs: int = 0
    resync_attempts: int = 0
    resync_error: str = ""
    resynced_at: float | None = None
    # The tracker matches Asterisk: false from each login until its resync is done.
    in_sync: bool = False
    # Set once the first resync is done; offers wait for it.
    synced: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    offers_failed_in_a_row: int = 0
    last_offer_error: str = ""
    unknown_call_offers: int = 0
    last_unknown_call_offer_at: float | None = None
    unroutable_calls: int = 0
    last_unroutable_at: float | None = None
    last_unroutable_error: str = ""
    offer_limit_trips: int = 0


class TelephonyService:
    def __init__(
        self,
        *,
        routing: VoiceRouting,
        directory: AgentDirectory,
        sink: EventSink,
        control_settings: ControlSettings | None = None,
        clock: Callable[[], float] = time.time,
        sync_timeout: float = SYNC_TIMEOUT_SECONDS,
        settings: TelephonySettings | None = None,
    ) -> None:
        self.routing = routing
        self.directory = directory
        self.sink = sink
        self.control_settings = control_settings or ControlSettings()
        self.clock = clock
        self.sync_timeout = sync_timeout
        self.settings = settings or TelephonySettings()
        self.sessions: dict[str, ServerSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._consults: dict[str, str] = {}  # call -> consultation target extension
        # Call -> (agent, extension) of the phone it was sent to (Redirect in flight or
        # ringing), until it is answered, not answered or back in a queue.
        self._offers: dict[str, tuple[str, str]] = {}
        # Calls whose offered agent phone has rung: only then is a failed dial the
        # agent's (see _agent_leg_failed).
        self._rang: set[str] = set()
        # Calls whose ringing agent leg the agent declined from the console: the no-answer
        # that follows is theirs, whatever status Asterisk reports for the hung-up leg.
        self._declined: set[str] = set()
        # Call -> when each of its Redirects to an agent was sent, within the last minute.
        self._offer_times: dict[str, collections.deque[float]] = {}
        # Call -> until when it is held back by the offer limit (one ERROR per trip).
        self._offer_limited: dict[str, float] = {}
        # Call -> the router's last decision for it being handled: (agent, decided at).
        self._decisions: dict[str, tuple[str, float]] = {}
        # Calls the router refused and that were sent elsewhere (not a router contact).
        self._unroutable: set[str] = set()
        # (server, extension) -> the timer of a phone in its unreachable grace.
        self._phone_grace: dict[tuple[str, str], asyncio.TimerHandle] = {}
        # (server, extension) of phones whose agent was told unreachable.
        self._phones_down: set[tuple[str, str]] = set()
        self._offer_hooks: list[Callable[[str, str, str], None]] = []
        # The fast path (cti/fast_path.py): set by the wiring when FastAGI is on.
        self.fast_path: FastPathSlots | None = None
        self.fastagi: FastAgiServer | None = None
        # Call -> when its CCEnqueue reached the CTI (perf_counter), until it is offered.
        self._entered: dict[str, float] = {}
        # Seconds from a CCEnqueue reaching the CTI to its offer leaving (Redirect
        # written, or the dialplan told over FastAGI), for calls offered at entry.
        self.ring_to_offer: collections.deque[float] = collections.deque(
            maxlen=RING_TO_OFFER_SAMPLES
        )
        self._resynced = asyncio.Event()
        self._health_changed = asyncio.Event()
        self._turning_away = 0  # callers past the tracking ceiling being sent away

    # ------------------------------------------------------------------ servers

    def add_server(self, link: AmiLinkPort) -> ServerSession:
        tracker = CallTracker(
            link.name,
            contexts=self.control_settings.contexts,
            is_agent_extension=lambda ext: self.directory.agent_of(ext) is not None,
            id_prefix=f"{link.name}:",
            max_channels=self.settings.max_tracked_channels,
        )
        session = ServerSession(
            link.name, link, tracker, AmiCallControl(link, self.control_settings)
        )
        self.sessions[link.name] = session
        return session

    async def start(self) -> None:
        if self.fastagi is not None:
            try:
                await self.fastagi.start()
            except OSError as exc:
                # Callers are still served, by Redirect from hold; the dialplan's FastAGI
                # requests fail to connect and send them there.
                log.error(
                    "FastAGI cannot listen on %s:%d (%s): the fast path is off",
                    self.fastagi.host,
                    self.fastagi.port,
                    exc,
                )
                self.fastagi = None
                self.fast_path = None
        for session in self.sessions.values():
            starter = getattr(session.link, "start", None)
            if callable(starter):
                starter()
            if session.consumer is None or session.consumer.done():
                session.consumer = asyncio.create_task(
                    self._consume(session), name=f"cti-consume-{session.name}"
                )

    async def stop(self) -> None:
        if self.fastagi is not None:
            await self.fastagi.stop()
        for session in self.sessions.values():
            if session.consumer is not None:
                session.consumer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await session.consumer
                session.consumer = None
            stopper = getattr(session.link, "stop", None)
            if callable(stopper):
                await stopper()
        for timer in self._phone_grace.values():
            timer.cancel()
        self._phone_grace.clear()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def health(self) -> list[dict[str, object]]:
        """One entry per server; ``ok`` is true when ``problems`` is empty (see docs/cti.md)."""
        now = self.clock()
        out = []
        for session in self.sessions.values():
            data = session.link.health().to_dict()
            problems = self._problems(session, data, now)
            data.update(
                live_calls=len(session.tracker.live_calls()),
                resyncs=session.resyncs,
                resynced_at=session.resynced_at,
                resync_error=session.resync_error,
                in_sync=session.in_sync and bool(data["ok"]),
                offers_failed_in_a_row=session.offers_failed_in_a_row,
                last_offer_error=session.last_offer_error,
                unknown_call_offers=session.unknown_call_offers,
                last_unknown_call_offer_at=session.last_unknown_call_offer_at,
                unroutable_calls=session.unroutable_calls,
                last_unroutable_at=session.last_unroutable_at,
                last_unroutable_error=session.last_unroutable_error,
                offer_limit_trips=session.offer_limit_trips,
                calls_held_by_offer_limit=self._held_by_limit(session, now),
                tracked_channels=len(session.tracker.channels),
                max_tracked_channels=session.tracker.max_channels,
                channels_not_tracked=session.tracker.channels_not_tracked,
                phone_states_not_kept=session.tracker.phone_states_not_kept,
                problems=problems,
                ok=not problems,
            )
            out.append(data)
        return out

    def _held_by_limit(self, session: ServerSession, now: float) -> int:
        prefix = session.tracker.id_prefix
        limited = self._offer_limited.items()
        return sum(1 for call, until in limited if until > now and call.startswith(prefix))

    def _problems(self, session: ServerSession, link: dict[str, object], now: float) -> list[str]:
        """What stops this server's calls from being routed right now."""
        problems = []
        if not link["ok"]:
            problems.append(f"not logged in to Asterisk ({link['state']}: {link['last_error']})")
        elif session.resync_error:
            problems.append(f"resync failed: {session.resync_error}")
        elif not session.in_sync:
            problems.append("resync with Asterisk not finished")
        if session.offers_failed_in_a_row >= FAILED_OFFERS_LIMIT:
            problems.append(
                f"the last {session.offers_failed_in_a_row} offers failed "
                f"({session.last_offer_error})"
            )
        seen = session.last_unknown_call_offer_at
        if seen is not None and now - seen < UNKNOWN_CALL_WINDOW_SECONDS:
            problems.append(f"an offer named a call Asterisk does not have {now - seen:.0f} s ago")
        seen = session.last_unroutable_at
        if seen is not None and now - seen < UNROUTABLE_WINDOW_SECONDS:
            problems.append(
                f"a caller could not be routed {now - seen:.0f} s ago "
                f"({session.last_unroutable_error})"
            )
        tracker = session.tracker
        if tracker.at_ceiling:
            problems.append(
                f"{len(tracker.channels)} channels tracked, the ceiling is "
                f"{tracker.max_channels} ([asterisk] max_tracked_channels): "
                f"{tracker.channels_not_tracked} channel(s) not tracked, their callers "
                "are sent to the unroutable fallback"
            )
        held = self._held_by_limit(session, now)
        if held:
            problems.append(
                f"{held} caller(s) held back by the offer limit "
                f"({self.settings.max_offers_per_call_per_minute} a minute): "
                "offers are not being answered or carried out"
            )
        return problems

    async def wait_health(
        self, server: str, predicate: Callable[[dict[str, object]], bool], timeout: float = 5.0
    ) -> dict[str, object]:
        """Wait until ``server``'s entry of :meth:`health` satisfies ``predicate``; it is
        looked at again after every resync and every offer (tests, start-up checks)."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._health_changed
                entry = next(h for h in self.health() if h["server"] == server)
                if predicate(entry):
                    return entry
                await changed.wait()

    def _note_health_change(self) -> None:
        self._health_changed.set()
        self._health_changed = asyncio.Event()

    async def wait_resyncs(
        self, server: str, count: int, timeout: float = 5.0, *, attempts: bool = False
    ) -> None:
        """Wait until ``server`` has been resynchronised ``count`` times (tests, start-up);
        with ``attempts``, count failed resyncs too."""
        session = self.sessions[server]
        async with asyncio.timeout(timeout):
            while (session.resync_attempts if attempts else session.resyncs) < count:
                await self._resynced.wait()

    def on_offer_sent(self, hook: Callable[[str, str, str], None]) -> None:
        """Observe offers leaving as Redirects (call id, agent id, extension): benchmarks."""
        self._offer_hooks.append(hook)

    # ------------------------------------------------------------------ event flow

    async def _consume(self, session: ServerSession) -> None:
        while True:
            item = await session.link.events.get()
            try:
                await self.process(session, item)
            except asyncio.CancelledError:
                raise
            except Exception:
                # One bad event or a failing router call must not stop call tracking.
                log.exception("cti[%s] failed to process %r", session.name, item)

    async def process(self, session: ServerSession, item: AmiMessage | LinkUp) -> None:
        if isinstance(item, LinkUp):
            session.in_sync = False
            await self.resync(session)
            return
        if item.event == "UserEvent" and item.get("UserEvent") == "CCEnqueue":
            self._caller_entered(session, item)
        events = session.tracker.feed(item, self.clock())
        if events:
            await self._handle(session, events)

    def _caller_entered(self, session: ServerSession, item: AmiMessage) -> None:
        call_id = session.tracker.id_prefix + (item.get("Linkedid") or item.get("Uniqueid"))
        if len(self._entered) < RING_TO_OFFER_SAMPLES * 10:
            self._entered[call_id] = time.perf_counter()
        # The dialplan asks over FastAGI right after this event (extensions_cc.conf).
        if self.fast_path is not None and item.get("FastPath") == "yes":
            self.fast_path.expect(call_id)

    def locate_fast_path_call(self, request: AgiRequest) -> str:
        """The call id of a FastAGI request's channel ("" when no server knows it): the
        request names the caller's channel and uniqueid; a server's tracker has it."""
        uniqueid, channel = request.uniqueid, request.channel
        if not uniqueid:
            return ""
        for session in self.sessions.values():
            known = session.tracker.channels.get(uniqueid)
            if known is not None and known.name == channel:
                return session.tracker.id_prefix + known.linkedid
        if len(self.sessions) == 1:
            # The AMI events of a brand-new channel may still be on their way.
            return next(iter(self.sessions.values())).tracker.id_prefix + uniqueid
        return ""

    def note_ring_to_offer(self, call_id: str) -> None:
        entered = self._entered.pop(call_id, None)
        if entered is not None:
            self.ring_to_offer.append(time.perf_counter() - entered)

    def fast_path_health(self) -> dict[str, object]:
        """The fast path in /status: listening, requests, callers dialled at once."""
        if self.fastagi is None or self.fast_path is None:
            return {"enabled": False}
        return {
            "enabled": True,
            **self.fastagi.health(),
            "dialled_at_once": self.fast_path.dialled,
            "sent_to_hold": self.fast_path.sent_to_hold,
            "handoffs_missed": self.fast_path.handoffs_missed,
        }

    def ring_to_offer_figures(self) -> dict[str, object]:
        """Ring-to-offer inside the CTI (CCEnqueue read -> offer sent), recent calls."""
        samples = sorted(self.ring_to_offer)
        if not samples:
            return {"count": 0}

        def pct(q: float) -> float:
            return round(samples[min(len(samples) - 1, int(q * len(samples)))] * 1000, 3)

        return {"count": len(samples), "p50_ms": pct(0.50), "p99_ms": pct(0.99)}

    async def resync(self, session: ServerSession) -> list[DomainEvent]:
        """Reconcile the tracker with the channels Asterisk has right now."""
        try:
            return await self._resync(session)
        finally:
            session.resync_attempts += 1
            self._resynced.set()
            self._resynced = asyncio.Event()
            self._note_health_change()

    async def _resync(self, session: ServerSession) -> list[DomainEvent]:
        link, tracker = session.link, session.tracker
        at = self.clock()
        try:
            _, items = await link.send_list_action("CoreShowChannels")
            _, bridge_items = await link.send_list_action("BridgeList")
        except AsteriskUnavailable as exc:
            # The link dropped again: its next login queues another resync.
            log.warning("cti[%s] resync interrupted: %s", session.name, exc)
            return []
        except (AsteriskRejected, AsteriskTimeout) as exc:
            session.resync_error = exc.message
            log.error(
                "cti[%s] resync failed: %s (the AMI user needs write = system,call,originate,"
                "reporting; see config/asterisk/manager_cc.conf)",
                session.name,
                exc.message,
            )
            return []
        session.resync_error = ""
        snapshot = [ChannelSnapshot.from_message(m) for m in items if m.event == "CoreShowChannel"]
        bridges = {m.get("BridgeUniqueid") for m in bridge_items}
        snapshot = [
            s if not s.bridge or s.bridge in bridges else dataclasses.replace(s, bridge="")
            for s in snapshot
        ]
        queues: dict[str, str] = {}
        unknown: list[ChannelSnapshot] = []
        ctx = self.control_settings.contexts
        for snap in snapshot:
            if snap.uniqueid != snap.linkedid or snap.context not in (
                ctx.hold,
                ctx.offer,
                ctx.on_hold,
                ctx.inbound,
            ):
                continue
            known = tracker.call(snap.linkedid)
            if known is not None and known.queue:
                queues[snap.uniqueid] = known.queue
                continue
            unknown.append(snap)
        # After a restart of our process every waiting call is unknown: ask in parallel.
        values = await asyncio.gather(*(self._queue_of(session, snap.name) for snap in unknown))
        queues.update({snap.uniqueid: v for snap, v in zip(unknown, values, strict=True) if v})
        events = tracker.reconcile(snapshot, queues, at)
        session.resyncs += 1
        live = tracker.live_calls()
        log.info(
            "cti[%s] resync: %d channels, %d bridges, %d calls live, %d changes",
            session.name,
            len(snapshot),
            len(bridges),
            len(live),
            len(events),
        )
        live_ids = tuple(c.call_id for c in live)
        waiting_ids = tuple(
            c.call_id for c in live if c.state in (CallState.QUEUED, CallState.OFFERED)
        )
        # First the calls that are with an agent (talking or ringing): the router takes
        # them as that agent's, so it offers nobody to a busy agent. Then the contacts kept
        # from an earlier run, before this resync's own call.queued events reach the
        # router, so those still waiting keep their wait and their order.
        with_agent = {e.call_id for e in events if isinstance(e, CallAnswered | CallAgentRinging)}
        first = [e for e in events if getattr(e, "call_id", None) in with_agent]
        if first:
            await self._handle(session, first)
        await self._settle_kept_contacts(session, waiting_ids, live_ids, at)
        rest = [e for e in events if getattr(e, "call_id", None) not in with_agent]
        if rest:
            await self._handle(session, rest)
        await self.sink.publish(
            [
                TelephonyResynced(
                    at=at,
                    server=session.name,
                    first=not session.synced.is_set(),
                    live_call_ids=live_ids,
                    waiting_call_ids=waiting_ids,
                )
            ]
        )
        session.in_sync = True
        session.resynced_at = at
        session.synced.set()
        return events

    async def _settle_kept_contacts(
        self, session: ServerSession, waiting: Sequence[str], live: Sequence[str], at: float
    ) -> None:
        try:
            offers = await self.routing.resynced(
                server=session.name, waiting_calls=set(waiting), live_calls=set(live), at=at
            )
        except Exception:
            # Call tracking goes on; the kept contacts stay held (never offered).
            log.exception("cti[%s] could not settle contacts kept from before", session.name)
            return
        for offer in offers:
            self._spawn(
                self._offer_quietly(
                    offer.call_id, offer.agent_id, offer.decided_at, offer.auto_answer
                )
            )

    async def _queue_of(self, session: ServerSession, channel: str) -> str:
        try:
            return await session.control.get_variable(channel, "CC_QUEUE")
        except AsteriskRejected:
            return ""  # the channel hung up meanwhile

    async def _handle(self, session: ServerSession, events: Sequence[DomainEvent]) -> None:
        # Routing first: a waiting caller's offer is the one thing here that is urgent.
        for event in events:
            if isinstance(event, CallAgentLeft):
                self._spawn(self._requeue_orphan(session, event.call_id))
            elif isinstance(event, CallNotTracked) and (
                self._turning_away < MAX_TURN_AWAYS_IN_FLIGHT  # bounded in a flood
            ):
                self._turning_away += 1
                self._spawn(self._turn_away_untracked(session, event))
            offers = await self._route(session, event)
            for offer in offers:
                self._spawn(
                    self._offer_quietly(
                        offer.call_id, offer.agent_id, offer.decided_at, offer.auto_answer
                    )
                )
            # Nobody offered it now: the dialplan's FastAGI request sends it to hold.
            offered = any(o.call_id == getattr(event, "call_id", None) for o in offers)
            if isinstance(event, CallQueued) and self.fast_path is not None and not offered:
                self.fast_path.no_agent(event.call_id)
        await self.sink.publish(events)

    def _facts(self, session: ServerSession, call_id: str) -> CallFacts:
        call = session.tracker.call(call_id)
        if call is None:
            return CallFacts()
        return CallFacts(
            queue=call.queue,
            caller_number=call.caller_number,
            caller_name=call.caller_name,
            waiting_since=call.queued_at,
        )

    async def _route(self, session: ServerSession, event: DomainEvent) -> Sequence[VoiceOffer]:
        routing, agent_of = self.routing, self.directory.agent_of
        if isinstance(event, CallQueued):
            self._offers.pop(event.call_id, None)
            try:
                return await routing.call_queued(
                    call_id=event.call_id,
                    queue=event.queue,
                    caller_number=event.caller_number,
                    caller_name=event.caller_name,
                    at=event.at,
                    requeued=event.requeued,
                )
            except CallNotRoutable as exc:
                return await self._not_routable(session, event, exc)
        if isinstance(event, CallAgentRinging):
            agent = agent_of(event.extension)
            if agent is None:
                return []
            # The router follows the phone: this agent has the offer now, whoever it was
            # meant for (it changes nothing when the router rang this agent itself).
            self._offers[event.call_id] = (agent, event.extension)
            self._rang.add(event.call_id)
            return await routing.agent_ringing(
                call_id=event.call_id,
                agent_id=agent,
                at=event.at,
                facts=self._facts(session, event.call_id),
            )
        if isinstance(event, CallAnswered):
            self._offers.pop(event.call_id, None)
            self._rang.discard(event.call_id)
            self._declined.discard(event.call_id)
            self._consults.pop(event.call_id, None)
            agent = agent_of(event.extension)
            if agent is None or event.direction is CallDirection.OUTBOUND:
                return []
            return await routing.offer_answered(
                call_id=event.call_id,
                agent_id=agent,
                at=event.at,
                facts=self._facts(session, event.call_id),
            )
        if isinstance(event, CallAgentNoAnswer):
            offered = self._offers.pop(event.call_id, None)
            rang = event.call_id in self._rang
            self._rang.discard(event.call_id)
            declined = event.call_id in self._declined
            self._declined.discard(event.call_id)
            agent = agent_of(event.extension) or (offered[0] if offered else None)
            if agent is None:
                return []
            if not declined and (not rang or event.dial_status.upper() not in AGENT_DIAL_FAILURES):
                # Asterisk could not make or ring the agent's leg (no RTP port, phone not
                # registered, congestion): not the agent's failure to answer. The caller
                # keeps its place, the agent their state; an unreachable phone pauses
                # the agent through its device state instead.
                return await routing.offer_refused(
                    call_id=event.call_id,
                    agent_id=agent,
                    reason=event.dial_status.lower() or "not-dialled",
                    at=event.at,
                    retry_seconds=self.settings.refused_offer_retry_seconds,
                )
            return await routing.offer_not_answered(
                call_id=event.call_id, agent_id=agent, reason=event.dial_status.lower(), at=event.at
            )
        if isinstance(event, CallTransferred):
            if event.to_number:
                # Handed to the outside world: for the contact center the contact is done.
                return await routing.call_ended(
                    call_id=event.call_id,
                    agent_id=agent_of(event.from_extension),
                    abandoned=False,
                    at=event.at,
                )
            target = agent_of(event.to_extension) if event.to_extension else None
            if target is not None:
                # The router will offer the call to the target: it is ringing already.
                self._offers[event.call_id] = (target, event.to_extension)
            return await routing.call_transferred(
                call_id=event.call_id,
                from_agent_id=agent_of(event.from_extension),
                to_agent_id=agent_of(event.to_extension) if event.to_extension else None,
                to_queue=event.to_queue or None,
                at=event.at,
            )
        if isinstance(event, CallHungUp):
            self._offers.pop(event.call_id, None)
            self._rang.discard(event.call_id)
            self._declined.discard(event.call_id)
            self._consults.pop(event.call_id, None)
            self._offer_times.pop(event.call_id, None)
            self._offer_limited.pop(event.call_id, None)
            self._decisions.pop(event.call_id, None)
            self._entered.pop(event.call_id, None)
            if self.fast_path is not None:
                self.fast_path.forget(event.call_id)
            if event.call_id in self._unroutable:
                self._unroutable.discard(event.call_id)
                return []  # never a router contact
            if event.direction is CallDirection.OUTBOUND:
                return []
            return await routing.call_ended(
                call_id=event.call_id,
                agent_id=agent_of(event.extension) if event.extension else None,
                abandoned=event.outcome is CallOutcome.ABANDONED,
                at=event.at,
                # Only a resync saw it gone: it ended while the link was down, or with the PBX.
                lost=event.hung_up_by is HungUpBy.UNKNOWN,
            )
        if isinstance(event, AgentPhoneStateChanged):
            return await self._phone_changed(session, event)
        return []

    async def _phone_changed(
        self, session: ServerSession, event: AgentPhoneStateChanged
    ) -> Sequence[VoiceOffer]:
        """Only an unreachable phone takes its agent out of routing, and only once it has
        stayed unreachable for the grace; ringing, talking and on hold never do."""
        agent = self.directory.agent_of(event.extension)
        if agent is None:
            return []
        key = (session.name, event.extension)
        if not event.reachable:
            if key in self._phones_down or key in self._phone_grace:
                return []
            grace = self.settings.phone_unreachable_grace_seconds
            if grace > 0:
                self._phone_grace[key] = asyncio.get_running_loop().call_later(
                    grace, lambda: self._spawn(self._phone_grace_over(session, event.extension))
                )
                return []
            return await self._phone_down(session, event.extension, agent)
        timer = self._phone_grace.pop(key, None)
        if timer is not None:
            timer.cancel()
        if key not in self._phones_down:
            return []
        self._phones_down.discard(key)
        return await self.routing.phone_availability(
            agent_id=agent, can_take_calls=True, at=self.clock()
        )

    async def _phone_grace_over(self, session: ServerSession, extension: str) -> None:
        self._phone_grace.pop((session.name, extension), None)
        agent = self.directory.agent_of(extension)
        if agent is None or session.tracker.phone_reachable(extension):
            return
        for offer in await self._phone_down(session, extension, agent):
            self._spawn(
                self._offer_quietly(
                    offer.call_id, offer.agent_id, offer.decided_at, offer.auto_answer
                )
            )

    async def _phone_down(
        self, session: ServerSession, extension: str, agent: str
    ) -> Sequence[VoiceOffer]:
        self._phones_down.add((session.name, extension))
        log.warning(
            "cti[%s] phone %s of agent %s is unreachable for more than %.0f s",
            session.name,
            extension,
            agent,
            self.settings.phone_unreachable_grace_seconds,
        )
        return await self.routing.phone_availability(
            agent_id=agent, can_take_calls=False, at=self.clock()
        )

    async def _not_routable(
        self, session: ServerSession, event: CallQueued, exc: CallNotRoutable
    ) -> Sequence[VoiceOffer]:
        """A caller the router cannot take must not hear music for ever: try the fallback
        queue, then the fallback dialplan place, then hang up."""
        settings, call_id = self.settings, event.call_id
        session.unroutable_calls += 1
        session.last_unroutable_at = self.clock()
        session.last_unroutable_error = f"queue {event.queue!r}: {exc.message}"
        self._note_health_change()
        fallback = settings.unroutable_queue
        if fallback and fallback != event.queue:
            try:
                offers = await self.routing.call_queued(
                    call_id=call_id,
                    queue=fallback,
                    caller_number=event.caller_number,
                    caller_name=event.caller_name,
                    at=event.at,
                    requeued=False,
                )
            except CallNotRoutable as again:
                log.error(
                    "cti[%s] call %s: queue %r refused (%s), and the fallback queue %r too (%s)",
                    session.name,
                    call_id,
                    event.queue,
                    exc.message,
                    fallback,
                    again.message,
                )
            else:
                log.warning(
                    "cti[%s] call %s: queue %r refused (%s); routed in queue %r instead",
                    session.name,
                    call_id,
                    event.queue,
                    exc.message,
                    fallback,
                )
                return offers
        self._unroutable.add(call_id)
        self._spawn(self._send_unroutable(session, event, exc))
        return []

    async def _send_unroutable(
        self, session: ServerSession, event: CallQueued, exc: CallNotRoutable
    ) -> None:
        settings, call_id = self.settings, event.call_id
        call = session.tracker.call(call_id)
        channel = session.tracker.channel_name(call.customer) if call is not None else ""
        if not channel:
            return  # gone already
        if settings.unroutable_context:
            try:
                await session.control.redirect(
                    channel, settings.unroutable_context, settings.unroutable_exten
                )
            except AppError as failed:
                log.error(
                    "cti[%s] call %s: queue %r refused (%s); the Redirect to %s,%s failed (%s): "
                    "hanging up",
                    session.name,
                    call_id,
                    event.queue,
                    exc.message,
                    settings.unroutable_context,
                    settings.unroutable_exten,
                    failed.message,
                )
            else:
                log.warning(
                    "cti[%s] call %s: queue %r refused (%s); sent to %s,%s",
                    session.name,
                    call_id,
                    event.queue,
                    exc.message,
                    settings.unroutable_context,
                    settings.unroutable_exten,
                )
                return
        try:
            await session.control.hangup(channel, settings.unroutable_hangup_cause)
        except AppError as failed:
            log.error(
                "cti[%s] call %s cannot be routed and could not be hung up: %s",
                session.name,
                call_id,
                failed.message,
            )
        else:
            log.warning(
                "cti[%s] call %s: queue %r refused (%s); hung up (cause %d)",
                session.name,
                call_id,
                event.queue,
                exc.message,
                settings.unroutable_hangup_cause,
            )

    async def _turn_away_untracked(self, session: ServerSession, event: CallNotTracked) -> None:
        """A caller on a channel past the tracking ceiling cannot be routed: it goes to the
        unroutable place of the dialplan, or is hung up, rather than wait on music for ever."""
        session.unroutable_calls += 1
        try:
            await self._send_away(session, event.channel)
        finally:
            self._turning_away -= 1

    async def _send_away(self, session: ServerSession, channel: str) -> None:
        settings = self.settings
        try:
            if settings.unroutable_context:
                await session.control.redirect(
                    channel, settings.unroutable_context, settings.unroutable_exten
                )
                return
        except AppError as failed:
            log.debug("cti[%s] untracked caller: Redirect failed: %s", session.name, failed)
        try:
            await session.control.hangup(channel, settings.unroutable_hangup_cause)
        except AppError as failed:
            log.debug("cti[%s] untracked caller: Hangup failed: %s", session.name, failed)

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("cti background action failed", exc_info=task.exception())

    async def wait_idle(self) -> None:
        """Wait for offers being carried out (tests, benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------ lookups

    def _find(self, call_id: str) -> tuple[ServerSession, Call]:
        """Call ids are ``<server>:<linkedid>``: the server part picks the link."""
        for session in self.sessions.values():
            if call_id.startswith(session.tracker.id_prefix):
                call = session.tracker.call(call_id)
                if call is not None and call.state is not CallState.ENDED:
                    return session, call
        raise NoSuchCall(f"no live call {call_id!r}", details={"call_id": call_id})

    def _extension(self, agent_id: str) -> str:
        extension = self.directory.extension_of(agent_id)
        if not extension:
            raise UnknownExtension(
                f"agent {agent_id!r} has no phone extension", details={"agent_id": agent_id}
            )
        return extension

    def _session(self, server: str | None) -> ServerSession:
        if server is None:
            if not self.sessions:
                raise NoSuchServer("no Asterisk server is configured")
            return next(iter(self.sessions.values()))
        try:
            return self.sessions[server]
        except KeyError:
            raise NoSuchServer(f"no Asterisk server named {server!r}") from None

    @staticmethod
    def _channel(session: ServerSession, uniqueid: str, what: str, call: Call) -> str:
        name = session.tracker.channel_name(uniqueid) if uniqueid else ""
        if not name:
            raise IllegalCallState(
                f"call {call.call_id} has no {what} leg now",
                details={"call_id": call.call_id, "state": str(call.state)},
            )
        return name

    def call_view(self, call_id: str) -> dict[str, object]:
        session, call = self._find(call_id)
        return {
            "call_id": call.call_id,
            "server": session.name,
            "state": str(call.state),
            "direction": str(call.direction),
            "caller_number": call.caller_number,
            "queue": call.queue,
            "extension": call.extension,
            "recording_file": call.recording_file,
            "recording": call.recording,
        }

    # ------------------------------------------------------------------ routing

    async def offer(
        self,
        call_id: str,
        agent_id: str,
        *,
        decided_at: float | None = None,
        auto_answer: bool = False,
    ) -> ActionResult:
        """Carry out a router decision: ring the agent's phone for a held caller.

        Idempotent: the same offer arriving twice (returned by a router call and
        again from the bus) is carried out once. Nothing moves a caller away from a
        phone ringing for it (nor from an agent talking to it): a decision for such a
        call is not carried out, and the router is told where the call is. Waits for
        the server's first resync. A call Asterisk does not have is closed as lost with
        the PBX (the agent is not blamed) and raises ``no-such-call``. An offer the CTI
        cannot carry out (the phone is in another call, no extension, the Redirect is
        refused, the caller's offer limit) goes back to the router as refused: the
        caller keeps its place, the agent their state.

        ``decided_at`` (the router's time of the decision) makes a decision that arrives
        twice (returned by a router call and again from the bus) be handled once, even
        when it is refused. ``auto_answer``: the agent auto-accepts calls, their phone is
        asked to answer by itself (AmiCallControl.offer_to_agent).
        """
        if decided_at is not None:
            decision = (agent_id, decided_at)
            if self._decisions.get(call_id) == decision:
                return ActionResult(True, "offer already handled", call_id=call_id)
            self._decisions[call_id] = decision
        session = self._session_of_call(call_id)
        if session is None:
            log.error(
                "cti: offer of %s to agent %s names no configured Asterisk server; "
                "closing the contact as lost",
                call_id,
                agent_id,
            )
            await self._close_lost(call_id, agent_id)
            raise NoSuchCall(f"no live call {call_id!r}", details={"call_id": call_id})
        await self._wait_synced(session, call_id, agent_id)
        call = session.tracker.call(call_id)
        if call is None:
            session.unknown_call_offers += 1
            session.last_unknown_call_offer_at = self.clock()
            self._note_health_change()
            log.warning(
                "cti[%s] offer of %s to agent %s: Asterisk has no such call; "
                "closing the contact as lost with the PBX",
                session.name,
                call_id,
                agent_id,
            )
            await self._close_lost(call_id, agent_id)
            raise NoSuchCall(f"no live call {call_id!r}", details={"call_id": call_id})
        if call.state is CallState.ENDED:
            # Its hang-up reaches the router on its own: nothing to undo, nobody to blame.
            raise NoSuchCall(f"no live call {call_id!r}", details={"call_id": call_id})
        current = self._offers.get(call_id)
        if current is not None and current[0] == agent_id:
            return ActionResult(True, "offer already in progress", call_id=call_id)
        holder = self._with_agent(call)
        if holder is not None:
            return await self._keep_with_agent(session, call, agent_id, holder)
        try:
            result = await self._ring(session, call, agent_id, auto_answer)
        except AppError as exc:
            self._offer_went_wrong(session, f"{exc.error_id}: {exc.message}")
            raise
        session.offers_failed_in_a_row = 0
        self._note_health_change()
        return result

    def _offer_went_wrong(self, session: ServerSession, error: str) -> None:
        session.offers_failed_in_a_row += 1
        session.last_offer_error = error
        self._note_health_change()

    def _with_agent(self, call: Call) -> tuple[str, str, str] | None:
        """(extension, agent or "", "offered"/"connected") of the phone the call is with:
        sent there (Redirect in flight), ringing there, or talking; None while it waits."""
        sent = self._offers.get(call.call_id)
        if sent is not None:
            return sent[1], sent[0], "offered"
        if call.state is CallState.OFFERED and call.offered_extension:
            extension = call.offered_extension
            return extension, self.directory.agent_of(extension) or "", "offered"
        if call.state in (CallState.CONNECTED, CallState.HELD) and call.extension:
            return call.extension, self.directory.agent_of(call.extension) or "", "connected"
        return None

    async def _keep_with_agent(
        self, session: ServerSession, call: Call, agent_id: str, holder: tuple[str, str, str]
    ) -> ActionResult:
        """The router chose ``agent_id`` for a call whose phone rings elsewhere (it took
        the offer back: the agent went not ready, its own timer fired) or that is talking:
        the caller stays where it is, and the router is told so."""
        extension, holder_agent, state = holder
        call_id = call.call_id
        log.info(
            "cti[%s] call %s is %s at %s: not moved to agent %s; the router follows the call",
            session.name,
            call_id,
            "ringing" if state == "offered" else "talking",
            extension,
            agent_id,
        )
        facts = self._facts(session, call_id)
        if not holder_agent:
            # A phone that is no agent's: the router's agent gets the offer back.
            offers = await self.routing.offer_refused(
                call_id=call_id,
                agent_id=agent_id,
                reason="call-with-another-phone",
                at=self.clock(),
                retry_seconds=self.settings.refused_offer_retry_seconds,
            )
        elif state == "offered":
            offers = await self.routing.agent_ringing(
                call_id=call_id, agent_id=holder_agent, at=self.clock(), facts=facts
            )
        else:
            offers = await self.routing.offer_answered(
                call_id=call_id, agent_id=holder_agent, at=self.clock(), facts=facts
            )
        self._spawn_offers(offers, call_id, agent_id)
        return ActionResult(False, f"call {call_id} is {state} at {extension}", call_id=call_id)

    async def contact_requeued(self, call_id: str) -> None:
        """The router put a voice contact back in its queue on its own (the agent went
        not ready or offline, its offer timer fired). If the phone still rings for the
        call, or the agent talks with it, the router is told so at once: the caller is
        never moved, and the router must not count that agent as free."""
        session = self._session_of_call(call_id)
        call = session.tracker.call(call_id) if session is not None else None
        if session is None or call is None or call.state is CallState.ENDED:
            return
        holder = self._with_agent(call)
        if holder is None or not holder[1]:
            return
        _, agent, state = holder
        facts = self._facts(session, call_id)
        if state == "offered":
            offers = await self.routing.agent_ringing(
                call_id=call_id, agent_id=agent, at=self.clock(), facts=facts
            )
        else:
            offers = await self.routing.offer_answered(
                call_id=call_id, agent_id=agent, at=self.clock(), facts=facts
            )
        self._spawn_offers(offers)

    def _spawn_offers(
        self, offers: Sequence[VoiceOffer], call_id: str = "", agent_id: str = ""
    ) -> None:
        for offer in offers:
            if offer.call_id == call_id and offer.agent_id == agent_id:
                continue  # never loop on the same refused pair
            self._spawn(
                self._offer_quietly(
                    offer.call_id, offer.agent_id, offer.decided_at, offer.auto_answer
                )
            )

    async def _ring(
        self, session: ServerSession, call: Call, agent_id: str, auto_answer: bool = False
    ) -> ActionResult:
        call_id = call.call_id
        extension = self.directory.extension_of(agent_id)
        if not extension:
            log.error(
                "cti[%s] agent %s was offered call %s but has no phone extension "
                "(contact-center users ... --extension)",
                session.name,
                agent_id,
                call_id,
            )
            await self._refuse(call_id, agent_id, "no-extension")
            raise UnknownExtension(f"agent {agent_id!r} has no phone extension")
        if call.state not in (CallState.QUEUED, CallState.OFFERED):
            await self._refuse(call_id, agent_id, "call-not-waiting")
            raise IllegalCallState(f"call {call_id} is {call.state.value}, not waiting")
        if session.tracker.phone_busy(extension):
            reason = (
                "phone-unreachable"
                if not session.tracker.phone_reachable(extension)
                else "phone-in-another-call"
            )
            await self._refuse(call_id, agent_id, reason)
            raise IllegalCallState(f"phone {extension} cannot take a call now ({reason})")
        retry = self._offer_limit(session, call_id)
        if retry is not None:
            await self._refuse(call_id, agent_id, "offer-limit", retry)
            raise IllegalCallState(
                f"call {call_id} was offered "
                f"{self.settings.max_offers_per_call_per_minute} times within a minute"
            )
        channel = self._channel(session, call.customer, "customer", call)
        self._offers[call_id] = (agent_id, extension)
        self._offer_times.setdefault(call_id, collections.deque()).append(self.clock())
        for hook in self._offer_hooks:
            hook(call_id, agent_id, extension)
        if self.fast_path is not None and auto_answer:
            # The FastAGI answer carries only the extension: an auto-answering agent's call
            # goes to hold and is Redirected at once, which sets CC_AUTO_ANSWER.
            self.fast_path.no_agent(call_id)
        elif self.fast_path is not None and await self.fast_path.hand_over(call_id, extension):
            # The caller's dialplan asked over FastAGI and dials the phone itself.
            self.note_ring_to_offer(call_id)
            return ActionResult(True, "dialled from the dialplan (fast path)", call_id=call_id)
        now = session.tracker.call(call_id)  # the fast path may have waited: look again
        if now is None or now.state is CallState.ENDED:
            raise NoSuchCall(f"no live call {call_id!r}", details={"call_id": call_id})
        self.note_ring_to_offer(call_id)
        try:
            reply = await session.control.offer_to_agent(
                channel, extension, auto_answer=auto_answer
            )
        except (AsteriskRejected, AsteriskUnavailable) as exc:
            if self._offers.get(call_id) == (agent_id, extension):
                del self._offers[call_id]
            log.warning(
                "cti[%s] offer of %s to %s failed: %s", session.name, call_id, extension, exc
            )
            await self._refuse(call_id, agent_id, "redirect-failed")
            raise
        return ActionResult(True, reply.get("Message"), call_id=call_id)

    def _offer_limit(self, session: ServerSession, call_id: str) -> float | None:
        """Seconds until the call may be offered again, if it reached its limit of
        Redirects within the last minute (a safety net: no known flow comes near it)."""
        limit = self.settings.max_offers_per_call_per_minute
        times = self._offer_times.get(call_id)
        if limit <= 0 or times is None:
            return None
        now = self.clock()
        while times and times[0] <= now - OFFER_LIMIT_WINDOW_SECONDS:
            times.popleft()
        if len(times) < limit:
            return None
        # A little past the window's end, so that the router's retry finds it over.
        retry = times[0] + OFFER_LIMIT_WINDOW_SECONDS - now + 0.01
        if self._offer_limited.get(call_id, 0.0) <= now:
            session.offer_limit_trips += 1
            self._note_health_change()
            log.error(
                "cti[%s] call %s was sent to agents %d times within a minute (the limit): it "
                "waits at its place and is offered again in %.0f s; is something taking "
                "offers back as soon as they ring?",
                session.name,
                call_id,
                len(times),
                retry,
            )
        self._offer_limited[call_id] = now + retry
        return retry

    def _session_of_call(self, call_id: str) -> ServerSession | None:
        for session in self.sessions.values():
            if call_id.startswith(session.tracker.id_prefix):
                return session
        return None

    async def _wait_synced(self, session: ServerSession, call_id: str, agent_id: str) -> None:
        """Nothing is offered before the server's first resync: until then nobody can
        tell a waiting caller from one that died with the PBX."""
        if session.synced.is_set():
            return
        try:
            async with asyncio.timeout(self.sync_timeout):
                await session.synced.wait()
        except TimeoutError:
            self._offer_went_wrong(session, "asterisk-unavailable: no resync yet")
            await self._refuse(call_id, agent_id, "not-in-sync")
            raise AsteriskUnavailable(
                f"Asterisk {session.name} has not been resynchronised yet"
            ) from None

    async def _close_lost(self, call_id: str, agent_id: str) -> None:
        self._decisions.pop(call_id, None)  # no hang-up will come to clear it
        offers = await self.routing.call_ended(
            call_id=call_id, agent_id=agent_id, abandoned=True, at=self.clock(), lost=True
        )
        for offer in offers:
            self._spawn(
                self._offer_quietly(
                    offer.call_id, offer.agent_id, offer.decided_at, offer.auto_answer
                )
            )

    async def _requeue_orphan(self, session: ServerSession, call_id: str) -> None:
        """A held customer whose agent hung up goes back to its queue, not music forever."""
        call = session.tracker.call(call_id)
        if call is None or not call.queue:
            return
        try:
            channel = self._channel(session, call.customer, "customer", call)
            await session.control.send_to_queue(channel, call.queue)
            log.info(
                "cti[%s] call %s requeued to %s: its agent hung up while it was held",
                session.name,
                call_id,
                call.queue,
            )
        except AppError as exc:
            log.warning(
                "cti[%s] could not requeue held call %s: %s", session.name, call_id, exc.message
            )

    async def _offer_quietly(
        self,
        call_id: str,
        agent_id: str,
        decided_at: float | None = None,
        auto_answer: bool = False,
    ) -> None:
        try:
            await self.offer(call_id, agent_id, decided_at=decided_at, auto_answer=auto_answer)
        except AppError as exc:
            log.warning(
                "offer of call %s to %s not carried out: %s (%s)",
                call_id,
                agent_id,
                exc.message,
                exc.error_id,
            )

    async def _refuse(
        self,
        call_id: str,
        agent_id: str,
        reason: str,
        retry_seconds: float | None = None,
    ) -> None:
        """The CTI could not carry out the offer: not the agent's failure to answer. The
        router puts the caller back at its place and leaves the agent as they were."""
        offers = await self.routing.offer_refused(
            call_id=call_id,
            agent_id=agent_id,
            reason=reason,
            at=self.clock(),
            retry_seconds=(
                retry_seconds
                if retry_seconds is not None
                else self.settings.refused_offer_retry_seconds
            ),
        )
        self._spawn_offers(offers, call_id, agent_id)

    # ------------------------------------------------------------------ call control

    async def hangup(self, call_id: str) -> ActionResult:
        session, call = self._find(call_id)
        channel = self._channel(session, call.root, "customer", call)
        reply = await session.control.hangup(channel)
        return ActionResult(True, reply.get("Message"), call_id=call_id)

    async def decline_offer(self, call_id: str, agent_id: str) -> ActionResult:
        """The agent declines a call ringing on their phone, from the console: its ringing
        leg is hung up (call rejected). The dialplan's no-answer that follows is the
        agent's missed offer, the one rule for every channel."""
        session, call = self._find(call_id)
        offered = self._offers.get(call_id)
        if offered is None or offered[0] != agent_id or call.state is not CallState.OFFERED:
            raise IllegalCallState(
                f"call {call_id} is not ringing for agent {agent_id}",
                details={"call_id": call_id, "state": str(call.state)},
            )
        prefix = f"{session.control.phone(offered[1])}-"
        legs = [
            name
            for uniqueid in call.channels
            if (name := session.tracker.channel_name(uniqueid)).startswith(prefix)
        ]
        if not legs:
            raise IllegalCallState(
                f"call {call_id} has no ringing leg on agent {agent_id}'s phone yet",
                details={"call_id": call_id, "state": str(call.state)},
            )
        self._declined.add(call_id)
        try:
            for leg in legs:
                reply = await session.control.hangup(leg, cause=21)
        except Exception:
            self._declined.discard(call_id)
            raise
        return ActionResult(True, reply.get("Message"), call_id=call_id)

    async def hold(self, call_id: str) -> ActionResult:
        session, call = self._find(call_id)
        if call.state is not CallState.CONNECTED:
            raise IllegalCallState(f"call {call_id} is {call.state.value}, not connected")
        customer = self._channel(session, call.customer, "customer", call)
        agent = self._channel(session, call.agent, "agent", call)
        reply = await session.control.hold(customer, agent)
        return ActionResult(True, reply.get("Message"), call_id=call_id)

    async def resume(self, call_id: str) -> ActionResult:
        session, call = self._find(call_id)
        if call.state is not CallState.HELD:
            raise IllegalCallState(f"call {call_id} is {call.state.value}, not on hold")
        customer = self._channel(session, call.customer, "customer", call)
        agent = self._channel(session, call.agent, "agent", call)
        reply = await session.control.resume(customer, agent)
        return ActionResult(True, reply.get("Message"), call_id=call_id)

    def _connected(self, call: Call) -> None:
        if call.state not in (CallState.CONNECTED, CallState.HELD):
            raise IllegalCallState(f"call {call.call_id} is {call.state.value}, not connected")

    async def transfer_to_agent(self, call_id: str, agent_id: str) -> ActionResult:
        session, call = self._find(call_id)
        self._connected(call)
        extension = self._extension(agent_id)
        if session.tracker.phone_busy(extension):
            raise IllegalCallState(f"phone {extension} cannot take a call now")
        customer = self._channel(session, call.customer, "customer", call)
        reply = await session.control.offer_to_agent(customer, extension)
        return ActionResult(True, reply.get("Message"), call_id=call_id)

    async def transfer_to_queue(self, call_id: str, queue: str) -> ActionResult:
        session, call = self._find(call_id)
        self._connected(call)
        customer = self._channel(session, call.customer, "customer", call)
        reply = await session.control.send_to_queue(customer, queue)
        return ActionResult(True, reply.get("Message"), call_id=call_id)

    async def transfer_to_number(self, call_id: str, number: str) -> ActionResult:
        session, call = self._find(call_id)
        self._connected(call)
        customer = self._channel(session, call.customer, "customer", call)
        reply = await session.control.send_to_number(customer, number)
        return ActionResult(True, reply.get("Message"), call_id=call_id)

    async def start_attended_transfer(self, call_id: str, agent_id: str) -> ActionResult:
        """Consultation call from the connected agent to another agent (Atxfer)."""
        session, call = self._find(call_id)
        if call.state is not CallState.CONNECTED:
            raise IllegalCallState(f"call {call_id} is {call.state.value}, not connected")
        extension = self._extension(agent_id)
        agent = self._channel(session, call.agent, "agent", call)
        reply = await session.control.attended_transfer(agent, extension)
        self._consults[call_id] = extension
        return ActionResult(True, reply.get("Message"), call_id=call_id)

    async def complete_attended_transfer(self, call_id: str) -> ActionResult:
        """The transferring agent leaves: Asterisk joins the customer and the target."""
        session, call = self._find(call_id)
        if call_id not in self._consults:
            raise IllegalCallState(f"call {call_id} has no consultation in progress")
        agent = self._channel(session, call.agent, "agent", call)
        reply = await session.control.hangup(agent)
        return ActionResult(True, reply.get("Message"), call_id=call_id)

    async def cancel_attended_transfer(self, call_id: str) -> ActionResult:
        """Hang up the consultation leg; Asterisk gives the customer back to the agent."""
        session, call = self._find(call_id)
        target = self._consults.pop(call_id, None)
        if target is None:
            raise IllegalCallState(f"call {call_id} has no consultation in progress")
        tracker = session.tracker
        legs = [
            ch
            for ch in tracker.channels.values()
            if ch.linkedid == call.linkedid
            and ch.uniqueid not in (call.customer, call.agent)
            and (ch.endpoint == target or ch.role is Role.LOCAL)
        ]
        if not legs:
            raise IllegalCallState(f"the consultation with {target} is not up yet")
        legs.sort(key=lambda ch: ch.role is Role.LOCAL)  # the phone leg first
        reply = await session.control.hangup(legs[0].name)
        return ActionResult(True, reply.get("Message"), call_id=call_id)

    async def click_to_dial(
        self, agent_id: str, number: str, *, server: str | None = None, caller_name: str = ""
    ) -> ActionResult:
        """Ring the agent's phone, then dial the customer from ``[cc-outbound]``."""
        session = self._session(server)
        extension = self._extension(agent_id)
        if session.tracker.phone_busy(extension):
            raise IllegalCallState(f"phone {extension} is busy")
        number = check_number(number)
        channel_id = f"cc-c2d-{uuid.uuid4().hex[:16]}"
        session.tracker.expect_outbound(channel_id, extension, number)
        try:
            reply = await session.control.originate_click_to_dial(
                extension, number, channel_id, caller_name=caller_name
            )
        except AppError:
            session.tracker.forget_outbound(channel_id)
            raise
        return ActionResult(
            True, reply.get("Message"), call_id=session.tracker.id_prefix + channel_id
        )

    async def start_recording(self, call_id: str) -> ActionResult:
        session, call = self._find(call_id)
        self._connected(call)
        if call.recording:
            raise IllegalCallState(f"call {call_id} is already being recorded")
        customer = self._channel(session, call.customer, "customer", call)
        file = session.control.recording_path(call_id, self.clock())
        reply = await session.control.start_recording(customer, file)
        call.recording_file = file
        return ActionResult(True, reply.get("Message"), call_id=call_id, file=file)

    async def stop_recording(self, call_id: str) -> ActionResult:
        session, call = self._find(call_id)
        customer = self._channel(session, call.customer, "customer", call)
        reply = await session.control.stop_recording(customer)
        return ActionResult(True, reply.get("Message"), call_id=call_id, file=call.recording_file)

    async def pause_recording(self, call_id: str, paused: bool = True) -> ActionResult:
        session, call = self._find(call_id)
        if not call.recording:
            raise IllegalCallState(f"call {call_id} is not being recorded")
        customer = self._channel(session, call.customer, "customer", call)
        reply = await session.control.mute_recording(customer, paused)
        return ActionResult(True, reply.get("Message"), call_id=call_id, file=call.recording_file)

    async def monitor(self, supervisor_id: str, call_id: str, mode: MonitorMode) -> ActionResult:
        """Listen to, whisper into or barge into an agent's call (ChanSpy via Originate)."""
        session, call = self._find(call_id)
        self._connected(call)
        supervisor = self._extension(supervisor_id)
        if not call.extension:
            raise IllegalCallState(f"call {call_id} has no agent to monitor")
        reply = await session.control.originate_monitor(supervisor, call.extension, mode)
        return ActionResult(True, reply.get("Message"), call_id=call_id)

    async def stop_monitor(self, supervisor_id: str, call_id: str) -> ActionResult:
        session, call = self._find(call_id)
        supervisor = self._extension(supervisor_id)
        for spyer, (sup_ext, _) in call.monitors.items():
            if sup_ext == supervisor:
                reply = await session.control.hangup(spyer)
                return ActionResult(True, reply.get("Message"), call_id=call_id)
        raise IllegalCallState(f"supervisor {supervisor_id} is not monitoring call {call_id}")
