"""Routing domain events: every decision and every contact or agent transition.

Each event carries what an agent console, a supervisor wallboard and the contact
history need without another lookup: contact id, channel, queue, agent, customer,
how long the customer waited and why things happened.
"""

from __future__ import annotations

from typing import ClassVar

from contact_center.domain.events import DomainEvent
from contact_center.domain.frozen import frozen
from routing.model import AgentState, Channel


@frozen
class ContactEvent(DomainEvent):
    contact_id: str
    channel: Channel
    queue: str
    customer_id: str | None = None


@frozen
class ContactQueued(ContactEvent):
    name: ClassVar[str] = "contact.queued"
    tier: str | None = None
    priority: int = 0
    sticky_agent_id: str | None = None
    sticky_until: float | None = None
    # Why it (re)entered the queue: "arrived", "no-answer", "declined", "transfer", ...
    reason: str = "arrived"


@frozen
class ContactOffered(ContactEvent):
    name: ClassVar[str] = "contact.offered"
    agent_id: str
    waited_seconds: float
    offer_deadline: float
    # "sticky" (preferred agent), "strategy" (queue strategy), "agent-available"
    # (an agent freed up and this was the best contact), "direct" (supervisor/transfer).
    decided_by: str
    strategy: str
    ring: int


@frozen
class ContactOfferTimedOut(ContactEvent):
    name: ClassVar[str] = "contact.offer_timed_out"
    agent_id: str
    offered_seconds: float


@frozen
class ContactOfferDeclined(ContactEvent):
    name: ClassVar[str] = "contact.offer_declined"
    agent_id: str


@frozen
class ContactConnected(ContactEvent):
    name: ClassVar[str] = "contact.connected"
    agent_id: str
    waited_seconds: float


@frozen
class ContactTransferred(ContactEvent):
    """Moved to another queue or agent (``queue`` is the new queue)."""

    name: ClassVar[str] = "contact.transferred"
    from_queue: str
    from_agent_id: str | None = None
    to_agent_id: str | None = None
    # "agent" (transfer by the agent), "supervisor", "max-wait"
    by: str = "agent"


@frozen
class ContactOverflowed(ContactEvent):
    """An overflow ring fired: requirements widened after ``after_seconds`` in the queue."""

    name: ClassVar[str] = "contact.overflowed"
    ring: int
    after_seconds: float
    skills: tuple[tuple[str, int], ...]
    extra_queues: tuple[str, ...]


@frozen
class ContactStickyWidened(ContactEvent):
    """The preferred agent did not take it in time (or left): any eligible agent may now."""

    name: ClassVar[str] = "contact.sticky_widened"
    agent_id: str
    reason: str


@frozen
class ContactPriorityChanged(ContactEvent):
    name: ClassVar[str] = "contact.priority_changed"
    previous: int
    priority: int


@frozen
class ContactCallbackOffered(ContactEvent):
    """Max wait reached with the callback action: the channel should offer a callback."""

    name: ClassVar[str] = "contact.callback_offered"
    waited_seconds: float


@frozen
class ContactAbandoned(ContactEvent):
    name: ClassVar[str] = "contact.abandoned"
    waited_seconds: float
    agent_id: str | None = None
    reason: str = "customer-left"


@frozen
class WrapUpStarted(ContactEvent):
    name: ClassVar[str] = "contact.wrap_up_started"
    agent_id: str
    talk_seconds: float
    # None: until the agent ends it (bounded by the queue's maximum).
    deadline: float | None


@frozen
class WrapUpEnded(ContactEvent):
    name: ClassVar[str] = "contact.wrap_up_ended"
    agent_id: str
    # "agent" or "timer"
    ended_by: str


@frozen
class ContactClosed(ContactEvent):
    name: ClassVar[str] = "contact.closed"
    agent_id: str | None
    reason: str


@frozen
class AgentStateChanged(DomainEvent):
    name: ClassVar[str] = "agent.state_changed"
    agent_id: str
    previous: AgentState
    state: AgentState
    reason: str | None = None
    previous_seconds: float = 0.0
    # "agent", "supervisor" or "system" (no-answer)
    by: str = "agent"
