"""Routing domain events: every decision and every contact or agent transition.

Each event carries what an agent console, a supervisor wallboard and the contact
history need without another lookup: contact id, channel, queue, agent, customer,
how long the customer waited and why things happened.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from contact_center.domain.events import DomainEvent
from routing.model import AgentState, Channel


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContactEvent(DomainEvent):
    contact_id: str
    channel: Channel
    queue: str
    customer_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContactQueued(ContactEvent):
    name: ClassVar[str] = "contact.queued"
    tier: str | None = None
    priority: int = 0
    sticky_agent_id: str | None = None
    sticky_until: float | None = None
    # Why it (re)entered the queue: "arrived", "no-answer", "declined", "transfer", ...
    reason: str = "arrived"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
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
    # (candidate id, verdict, score): verdict is "winner", "eligible" or an exclusion reason.
    candidates: tuple[tuple[str, str, float], ...] = ()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContactOfferTimedOut(ContactEvent):
    name: ClassVar[str] = "contact.offer_timed_out"
    agent_id: str
    offered_seconds: float


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContactOfferDeclined(ContactEvent):
    name: ClassVar[str] = "contact.offer_declined"
    agent_id: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContactConnected(ContactEvent):
    name: ClassVar[str] = "contact.connected"
    agent_id: str
    waited_seconds: float


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContactTransferred(ContactEvent):
    """Moved to another queue or agent (``queue`` is the new queue)."""

    name: ClassVar[str] = "contact.transferred"
    from_queue: str
    from_agent_id: str | None = None
    to_agent_id: str | None = None
    # "agent" (transfer by the agent), "supervisor", "max-wait"
    by: str = "agent"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContactOverflowed(ContactEvent):
    """An overflow ring fired: requirements widened after ``after_seconds`` in the queue."""

    name: ClassVar[str] = "contact.overflowed"
    ring: int
    after_seconds: float
    skills: tuple[tuple[str, int], ...]
    extra_queues: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContactStickyWidened(ContactEvent):
    """The preferred agent did not take it in time (or left): any eligible agent may now."""

    name: ClassVar[str] = "contact.sticky_widened"
    agent_id: str
    reason: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContactPriorityChanged(ContactEvent):
    name: ClassVar[str] = "contact.priority_changed"
    previous: int
    priority: int


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContactCallbackOffered(ContactEvent):
    """Max wait reached with the callback action: the channel should offer a callback."""

    name: ClassVar[str] = "contact.callback_offered"
    waited_seconds: float


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContactAbandoned(ContactEvent):
    name: ClassVar[str] = "contact.abandoned"
    waited_seconds: float
    agent_id: str | None = None
    reason: str = "customer-left"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WrapUpStarted(ContactEvent):
    name: ClassVar[str] = "contact.wrap_up_started"
    agent_id: str
    talk_seconds: float
    # None: until the agent ends it (bounded by the queue's maximum).
    deadline: float | None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WrapUpEnded(ContactEvent):
    name: ClassVar[str] = "contact.wrap_up_ended"
    agent_id: str
    # "agent" or "timer"
    ended_by: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContactClosed(ContactEvent):
    name: ClassVar[str] = "contact.closed"
    agent_id: str | None
    reason: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AgentStateChanged(DomainEvent):
    name: ClassVar[str] = "agent.state_changed"
    agent_id: str
    previous: AgentState
    state: AgentState
    reason: str | None = None
    previous_seconds: float = 0.0
    # "agent", "supervisor" or "system" (no-answer)
    by: str = "agent"
