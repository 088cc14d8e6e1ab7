"""Routing domain events: every decision and every contact or agent transition.

Each event carries what an agent console, a supervisor wallboard and the contact
history need without another lookup: contact id, channel, queue, agent, customer,
how long the customer waited and why things happened.
"""

from __future__ import annotations

from typing import ClassVar

from contact_center.domain.events import DomainEvent
from routing.model import AgentState, Channel


class ContactEvent(DomainEvent, frozen=True, kw_only=True):
    contact_id: str
    channel: Channel
    queue: str
    customer_id: str | None = None


class ContactQueued(ContactEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "contact.queued"
    tier: str | None = None
    priority: int = 0
    sticky_agent_id: str | None = None
    sticky_until: float | None = None
    # Why it (re)entered the queue: "arrived", "no-answer", "declined", "transfer", ...
    reason: str = "arrived"


class ContactOffered(ContactEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "contact.offered"
    agent_id: str
    waited_seconds: float
    offer_deadline: float
    # "sticky" (preferred agent), "strategy" (queue strategy), "agent-available"
    # (an agent freed up and this was the best contact), "direct" (supervisor/transfer),
    # "channel" (AttachToAgent: the channel rang that agent).
    decided_by: str
    strategy: str
    ring: int
    # Accepted without a click (the agent's auto-accept channels): a chat or email is
    # connected at once (contact.connected follows); a call rings the phone, which the
    # dialplan tells to answer by itself.
    auto_accept: bool = False
    # Why this agent, in brief (the full record: RoutingService.explain). ``preferred``:
    # "owner" or "last-agent" when decided_by is "sticky", else "". ``candidates``: how
    # many were compared (agents free for it; or, decided_by "agent-available", the
    # heads of the queues and channels this agent could take). ``priority``: the contact's priority
    # with its tier's boost, as queued; ``tier``: the customer's tier.
    preferred: str = ""
    candidates: int = 0
    priority: int = 0
    tier: str | None = None


class ContactOfferTimedOut(ContactEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "contact.offer_timed_out"
    agent_id: str
    offered_seconds: float


class ContactOfferDeclined(ContactEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "contact.offer_declined"
    agent_id: str


class ContactConnected(ContactEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "contact.connected"
    agent_id: str
    waited_seconds: float


class ContactAttached(ContactEvent, frozen=True, kw_only=True):
    """The channel put the contact with ``agent_id`` whatever the router had decided
    (AttachToAgent): its phone rings for it (``state`` "offered") or they talk
    ("connected"). ``previous_agent_id``: who had the offer before (they keep their
    state); ``restored``: the router did not have the contact (found after a restart:
    only this event tells it, no offered/connected events follow)."""

    name: ClassVar[str] = "contact.attached"
    agent_id: str
    state: str
    previous_agent_id: str | None = None
    restored: bool = False


class ContactTransferred(ContactEvent, frozen=True, kw_only=True):
    """Moved to another queue or agent (``queue`` is the new queue)."""

    name: ClassVar[str] = "contact.transferred"
    from_queue: str
    from_agent_id: str | None = None
    to_agent_id: str | None = None
    # "agent" (transfer by the agent), "supervisor", "max-wait"
    by: str = "agent"


class ContactOverflowed(ContactEvent, frozen=True, kw_only=True):
    """An overflow ring fired: requirements widened after ``after_seconds`` in the queue."""

    name: ClassVar[str] = "contact.overflowed"
    ring: int
    after_seconds: float
    skills: tuple[tuple[str, int], ...]
    extra_queues: tuple[str, ...]


class ContactStickyWidened(ContactEvent, frozen=True, kw_only=True):
    """The preferred agent did not take it in time (or left): any eligible agent may now."""

    name: ClassVar[str] = "contact.sticky_widened"
    agent_id: str
    reason: str


class ContactPriorityChanged(ContactEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "contact.priority_changed"
    previous: int
    priority: int


class ContactCallbackOffered(ContactEvent, frozen=True, kw_only=True):
    """Max wait reached with the callback action: the channel should offer a callback."""

    name: ClassVar[str] = "contact.callback_offered"
    waited_seconds: float


class ContactAbandoned(ContactEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "contact.abandoned"
    waited_seconds: float
    agent_id: str | None = None
    reason: str = "customer-left"


class WrapUpStarted(ContactEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "contact.wrap_up_started"
    agent_id: str
    talk_seconds: float
    # None: until the agent ends it (bounded by the queue's maximum).
    deadline: float | None


class WrapUpEnded(ContactEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "contact.wrap_up_ended"
    agent_id: str
    # "agent" or "timer"
    ended_by: str


class ContactClosed(ContactEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "contact.closed"
    agent_id: str | None
    reason: str


class ContactCustomerIdentified(ContactEvent, frozen=True, kw_only=True):
    """A contact routed without a customer now has one (``customer_id``): a caller never
    seen before gets its provisional customer after the routing decision."""

    name: ClassVar[str] = "contact.customer_identified"
    # The agent it rings for or is with (None: still waiting), and its state now.
    agent_id: str | None = None
    state: str = "queued"


class AgentStateChanged(DomainEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "agent.state_changed"
    agent_id: str
    previous: AgentState
    state: AgentState
    reason: str | None = None
    previous_seconds: float = 0.0
    # "agent", "supervisor" or "system" (missed offer, phone unreachable, disconnected)
    by: str = "agent"
