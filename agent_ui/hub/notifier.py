"""The notifier: for every domain event, what the consoles are told and who hears it.

The one place that decides websocket payloads and audiences (docs/hub.md, "Topics"):

=======================  =========================================  ===========================
event                    message                                    topics
=======================  =========================================  ===========================
contact.offered          ``offer``, the screen-pop fetched as the   ``agent:<offered agent>``
                         agent it is shown to (audit-logged)
contact.customer_        ``offer`` again, now with the screen-pop   ``agent:<offered agent>``
identified of a ringing  (a caller never seen before: its
contact                  provisional customer is made after the
                         offer went out)
contact.* (every one)    ``contact``                                ``queue:<queue>`` (and the
                                                                    queue it left),
                                                                    ``customer:<customer>``
contact.* naming an      ``contact``                                ``agent:<that agent>``
agent (connected, de-
clined, timed out, ...)
agent.state_changed      ``agent_state``                            ``agent:<agent>``, ``agents``
wallboard.updated        ``board`` (not numbered: a state)          ``wallboard``
call.changed (the CTI's  ``call``                                   ``agent:<agent>`` and
view of a call, after                                               ``agent:<previous agent>``,
Asterisk's events)                                                  ``queue:<queue>``
chat.message, the        ``chat``                                   ``agent:<agent holding the
visitor's chat.typing                                               chat>``
and chat.read
=======================  =========================================  ===========================

It subscribes to the event bus, so on several nodes each one hears every event and
tells its own tabs. It also builds snapshots: the agent's state and ringing offers
(each with its screen-pop) from the router, and the router's statistics for
supervisors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import msgspec

from agent_ui.hub.messages import (
    AgentStateUpdate,
    AgentStatus,
    Board,
    BoardView,
    CallSummary,
    CallUpdate,
    ChatMessageView,
    ChatUpdate,
    ContactSummary,
    ContactUpdate,
    Offer,
    OfferExplanation,
    OfferView,
    Snapshot,
    TransferView,
    encode,
)
from agent_ui.hub.topics import (
    AGENTS,
    WALLBOARD,
    agent_topic,
    customer_topic,
    is_supervising,
    queue_topic,
)
from chat.events import ChatEvent, ChatMessagePosted, ChatRead, ChatTyping
from contact_center.accounts import Role, User
from contact_center.bus import Subscription
from contact_center.domain.events import DomainEvent
from contact_center.store.profiles import CustomerNotFound
from cti.events import CallChanged
from cti.routing_adapter import contact_id as voice_contact_id
from routing.errors import NoSuchAgent, NoSuchContact
from routing.events import (
    AgentStateChanged,
    ContactCallbackOffered,
    ContactCustomerIdentified,
    ContactEvent,
    ContactOffered,
    ContactOverflowed,
    ContactPriorityChanged,
    ContactStickyWidened,
    ContactTransferred,
)

if TYPE_CHECKING:
    from agent_ui.hub.hub import Hub
    from contact_center.services import Services

log = logging.getLogger(__name__)

SCREEN_POP_TIMEOUT_SECONDS = 3.0
# Events from the bus waiting for the notifier; beyond it the bus drops the oldest and
# every console is resynchronised.
BACKLOG = 100_000
# Events handled between two turns given to the rest of the node.
YIELD_EVERY = 16
# Offers this node saw ringing (for snapshots' offered_at and deadline).
MAX_TRACKED_OFFERS = 50_000
_COMMON_FIELDS = frozenset({"at", "contact_id", "channel", "queue", "customer_id", "agent_id"})
# Steps that do not end a ringing offer.
_NOT_ENDING_AN_OFFER = (
    ContactOffered,
    ContactCustomerIdentified,
    ContactPriorityChanged,
    ContactStickyWidened,
    ContactOverflowed,
    ContactCallbackOffered,
)


class Notifier:
    def __init__(self, hub: Hub, services: Services) -> None:
        self.hub = hub
        self.services = services
        self.ringing: dict[str, ContactOffered] = {}
        self.handled = 0
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._dropped = 0
        self._board: bytes | None = None

    async def start(self) -> None:
        wallboard = self.hub.wallboard
        if wallboard is not None and self.board not in wallboard.listeners:
            wallboard.listeners.append(self.board)
        bus = self.services.bus
        if bus is None or self._task is not None:
            return
        self._subscription = bus.subscribe(
            ["contact.*", "agent.*", CallChanged.name, "chat.*"], maxsize=BACKLOG
        )
        self._dropped = 0
        self._task = asyncio.create_task(self._run(self._subscription), name="hub-notifier")

    async def stop(self) -> None:
        if self._subscription is not None and self.services.bus is not None:
            self.services.bus.unsubscribe(self._subscription)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        self._subscription = None

    async def _run(self, subscription: Subscription) -> None:
        async for event in subscription:
            if subscription.dropped != self._dropped:
                self._dropped = subscription.dropped
                self.ringing.clear()
                self.hub.resync_all("the hub fell behind the event bus and lost events")
            try:
                self.handle(event)
            except Exception:
                log.exception("notifier: could not handle %s", event.name)
            if self.handled % YIELD_EVERY == 0:
                # A backlog is read without suspending: let the tabs' writers send
                # between events, so a burst does not pile up in their queues.
                await asyncio.sleep(0)

    # -- the wallboard ------------------------------------------------------------------

    def board(self, board: BoardView) -> None:
        """A new board (from whichever node computed it): to every tab watching it."""
        self._board = encode(Board(topic=WALLBOARD, board=board))
        self.hub.push_state(WALLBOARD, self._board)

    def board_frame(self) -> bytes | None:
        """The last board, for a tab that starts watching the wallboard."""
        return self._board

    # -- events -> messages ---------------------------------------------------------------

    def handle(self, event: DomainEvent) -> None:
        self.handled += 1
        if isinstance(event, AgentStateChanged):
            self._agent_state(event)
        elif isinstance(event, ContactEvent):
            self._contact(event)
        elif isinstance(event, CallChanged):
            self._call(event)
        elif isinstance(event, ChatEvent):
            self._chat(event)

    def _chat(self, event: ChatEvent) -> None:
        """A chat step for the agent holding the chat (visitor's typing and read only:
        the agent's own are theirs)."""
        if event.agent_id is None:
            return
        if isinstance(event, ChatMessagePosted):
            update = ChatUpdate(
                seq=0,
                topic="",
                at=event.at,
                contact_id=event.contact_id,
                conversation_id=event.conversation_id,
                event="message",
                message=msgspec.convert(event.message, ChatMessageView),
            )
        elif isinstance(event, ChatTyping) and event.origin == "visitor":
            update = ChatUpdate(
                seq=0,
                topic="",
                at=event.at,
                contact_id=event.contact_id,
                conversation_id=event.conversation_id,
                event="typing",
                typing=event.on,
            )
        elif isinstance(event, ChatRead) and event.origin == "visitor":
            update = ChatUpdate(
                seq=0,
                topic="",
                at=event.at,
                contact_id=event.contact_id,
                conversation_id=event.conversation_id,
                event="read",
                read_seq=event.seq,
            )
        else:
            return
        self.hub.publish(agent_topic(event.agent_id), update)

    def _call(self, event: CallChanged) -> None:
        transfer = event.transfer
        message = CallUpdate(
            seq=0,
            topic="",
            at=event.at,
            contact_id=voice_contact_id(event.call_id),
            call_id=event.call_id,
            state=event.state,
            direction=str(event.direction),
            held=event.held,
            recording=event.recording,
            transfer=msgspec.convert(transfer, TransferView) if transfer is not None else None,
            agent_id=event.agent_id,
            caller_number=event.caller_number,
            queue=event.queue,
            previous_agent_id=event.previous_agent_id,
        )
        for agent in dict.fromkeys((event.agent_id, event.previous_agent_id)):
            if agent:
                self.hub.publish(agent_topic(agent), message)
        if event.queue:
            self.hub.publish(queue_topic(event.queue), message)

    def _agent_state(self, event: AgentStateChanged) -> None:
        message = AgentStateUpdate(
            seq=0,
            topic="",
            at=event.at,
            agent_id=event.agent_id,
            state=str(event.state),
            previous=str(event.previous),
            reason=event.reason,
            by=event.by,
        )
        self.hub.publish(agent_topic(event.agent_id), message)
        self.hub.publish(AGENTS, message)

    def _contact(self, event: ContactEvent) -> None:
        self._track(event)
        fields: dict[str, Any] = msgspec.to_builtins(event)
        agent_id = fields.get("agent_id")
        update = ContactUpdate(
            seq=0,
            topic="",
            at=event.at,
            event=event.name,
            contact_id=event.contact_id,
            channel=str(event.channel),
            queue=event.queue,
            customer_id=event.customer_id,
            agent_id=agent_id if isinstance(agent_id, str) else None,
            details={k: v for k, v in fields.items() if k not in _COMMON_FIELDS},
        )
        queues = [event.queue]
        if isinstance(event, ContactTransferred) and event.from_queue != event.queue:
            queues.append(event.from_queue)
        for queue in queues:
            self.hub.publish(queue_topic(queue), update)
        if event.customer_id is not None:
            self.hub.publish(customer_topic(event.customer_id), update)
        if isinstance(event, ContactOffered):
            self._publish_offer(event)
            return
        if isinstance(event, ContactCustomerIdentified):
            ringing = self.ringing.get(event.contact_id)
            if ringing is not None:
                # The offer went out before its customer existed: send it again, now
                # with the screen-pop (consoles replace an offer by its contact id).
                ringing = msgspec.structs.replace(ringing, customer_id=event.customer_id)
                self.ringing[event.contact_id] = ringing
                self._publish_offer(ringing)
                return
        for holder in self._holders(event):
            self.hub.publish(agent_topic(holder), update)

    def _publish_offer(self, event: ContactOffered) -> None:
        self.hub.publish_built(
            agent_topic(event.agent_id),
            event.at,
            lambda user, seq, topic: self._offer(event, user, seq, topic),
        )

    @staticmethod
    def _holders(event: ContactEvent) -> list[str]:
        """The agents whose own contact this step is."""
        if isinstance(event, ContactTransferred):
            return [a for a in dict.fromkeys((event.from_agent_id, event.to_agent_id)) if a]
        if isinstance(event, ContactStickyWidened):
            return []  # the preferred agent never held it
        agent_id = getattr(event, "agent_id", None)
        return [agent_id] if isinstance(agent_id, str) and agent_id else []

    def _track(self, event: ContactEvent) -> None:
        if isinstance(event, ContactOffered):
            self.ringing[event.contact_id] = event
            if len(self.ringing) > MAX_TRACKED_OFFERS:
                del self.ringing[next(iter(self.ringing))]
        elif not isinstance(event, _NOT_ENDING_AN_OFFER):
            self.ringing.pop(event.contact_id, None)

    async def _offer(self, event: ContactOffered, user: User, seq: int, topic: str) -> Offer:
        view = await self._offer_view(
            user,
            contact_id=event.contact_id,
            channel=str(event.channel),
            queue=event.queue,
            customer_id=event.customer_id,
            offered=event,
        )
        return Offer(seq=seq, topic=topic, at=event.at, offer=view)

    async def _offer_view(
        self,
        user: User,
        *,
        contact_id: str,
        channel: str,
        queue: str,
        customer_id: str | None,
        offered: ContactOffered | None,
    ) -> OfferView:
        screen_pop, error = await self._screen_pop(user, customer_id, contact_id)
        return OfferView(
            contact_id=contact_id,
            channel=channel,
            queue=queue,
            customer_id=customer_id,
            offered_at=offered.at if offered is not None else None,
            offer_deadline=offered.offer_deadline if offered is not None else None,
            waited_seconds=offered.waited_seconds if offered is not None else None,
            screen_pop=screen_pop,
            screen_pop_error=error,
            explanation=_explanation(offered) if offered is not None else None,
        )

    async def _screen_pop(
        self, user: User, customer_id: str | None, contact_id: str
    ) -> tuple[dict[str, Any] | None, str | None]:
        """The customer's screen-pop as ``user`` views it (audit-logged as theirs)."""
        if customer_id is None or not customer_id.isdigit():
            return None, "no-customer"
        try:
            async with asyncio.timeout(SCREEN_POP_TIMEOUT_SECONDS):
                found = await self.services.profiles.screen_pop(
                    customer_id=int(customer_id), viewer=user.actor, contact_id=contact_id
                )
        except CustomerNotFound:
            return None, "customer-not-found"
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("notifier: screen-pop of customer %s failed", customer_id)
            return None, "unavailable"
        return found, None

    # -- snapshots and authorisation ------------------------------------------------------

    async def snapshot(self, user: User, topics: set[str], seq: int) -> Snapshot:
        routing = self.services.routing
        agent: AgentStatus | None = None
        offers: list[OfferView] = []
        contacts: list[ContactSummary] = []
        statistics: dict[str, Any] | None = None
        if routing is not None and user.role is Role.AGENT:
            agent_id = str(user.id)
            try:
                described = await routing.describe_agent(agent_id)
            except NoSuchAgent:
                described = None
            if described is None:
                agent = AgentStatus(
                    agent_id=agent_id, state="offline", reason=None, state_seconds=0.0, queues=[]
                )
            else:
                agent = AgentStatus(
                    agent_id=agent_id,
                    state=str(described["state"]),
                    reason=described["reason"],
                    state_seconds=float(described["state_seconds"]),
                    queues=list(described["queues"]),
                )
                for contact_id in described["active"]:
                    try:
                        contact = await routing.describe_contact(contact_id)
                    except NoSuchContact:
                        continue
                    if str(contact["state"]) == "offered" and contact["agent_id"] == agent_id:
                        offers.append(
                            await self._offer_view(
                                user,
                                contact_id=contact_id,
                                channel=str(contact["channel"]),
                                queue=contact["queue"],
                                customer_id=contact["customer_id"],
                                offered=self.ringing.get(contact_id),
                            )
                        )
                    else:
                        contacts.append(
                            ContactSummary(
                                contact_id=contact_id,
                                state=str(contact["state"]),
                                channel=str(contact["channel"]),
                                queue=contact["queue"],
                                customer_id=contact["customer_id"],
                            )
                        )
        if (
            routing is not None
            and is_supervising(user)
            and any(t == AGENTS or t.startswith("queue:") for t in topics)
        ):
            statistics = await routing.statistics()
        calls: list[CallSummary] = []
        if agent is not None and self.services.calls is not None:
            for view in self.services.calls.calls_of(agent.agent_id):
                calls.append(
                    CallSummary(
                        contact_id=view.contact_id,
                        call_id=view.call_id,
                        state=view.state,
                        direction=view.direction,
                        held=view.held,
                        recording=view.recording,
                        transfer=(
                            msgspec.convert(view.transfer, TransferView)
                            if view.transfer is not None
                            else None
                        ),
                        agent_id=view.agent_id,
                        caller_number=view.caller_number,
                        queue=view.queue,
                    )
                )
        return Snapshot(
            seq=seq,
            agent=agent,
            offers=offers,
            contacts=contacts,
            statistics=statistics,
            calls=calls,
        )

    async def holds_customer(self, user: User, customer_id: str) -> bool:
        """Whether the agent holds (rings, talks to, wraps up) a contact of the customer."""
        routing = self.services.routing
        if routing is None:
            return False
        try:
            described = await routing.describe_agent(str(user.id))
        except NoSuchAgent:
            return False
        for contact_id in described["active"]:
            with contextlib.suppress(NoSuchContact):
                contact = await routing.describe_contact(contact_id)
                if contact["customer_id"] == customer_id:
                    return True
        return False


def _explanation(offered: ContactOffered) -> OfferExplanation:
    return OfferExplanation(
        decided_by=offered.decided_by,
        strategy=offered.strategy,
        ring=offered.ring,
        preferred=offered.preferred,
        candidates=offered.candidates,
        priority=offered.priority,
        tier=offered.tier,
    )
