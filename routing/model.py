"""Routing model: channels, queue and profile configuration, contact and agent state machines.

Pure data and checked transitions; nothing here reads the clock or does I/O. Times are
Unix seconds passed in by the caller. ``Contact`` and ``Agent`` are mutable records owned
by the routing engine; they serialise to plain dicts so a state backend can persist them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

import orjson

from routing.errors import IllegalTransition

if TYPE_CHECKING:
    from routing.matching import Lane


class Channel(StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    EMAIL = "email"


CHANNELS: tuple[Channel, ...] = (Channel.VOICE, Channel.CHAT, Channel.EMAIL)
CHANNEL_BY_NAME: Final[dict[str, Channel]] = {channel.value: channel for channel in CHANNELS}


class ContactState(StrEnum):
    NEW = "new"
    QUEUED = "queued"
    OFFERED = "offered"
    CONNECTED = "connected"
    WRAP_UP = "wrap_up"
    CLOSED = "closed"
    ABANDONED = "abandoned"


# QUEUED/OFFERED -> CLOSED covers supervisor withdrawal and max-wait diversion
# (voicemail-to-email): the customer did not leave, the contact was ended for them.
CONTACT_TRANSITIONS: Final[dict[ContactState, frozenset[ContactState]]] = {
    ContactState.NEW: frozenset({ContactState.QUEUED}),
    ContactState.QUEUED: frozenset(
        {ContactState.OFFERED, ContactState.ABANDONED, ContactState.CLOSED}
    ),
    ContactState.OFFERED: frozenset(
        {
            ContactState.QUEUED,
            ContactState.CONNECTED,
            ContactState.ABANDONED,
            ContactState.CLOSED,
        }
    ),
    ContactState.CONNECTED: frozenset(
        {ContactState.WRAP_UP, ContactState.QUEUED, ContactState.OFFERED}
    ),
    ContactState.WRAP_UP: frozenset({ContactState.CLOSED}),
    ContactState.CLOSED: frozenset(),
    ContactState.ABANDONED: frozenset(),
}

ENDED_STATES = frozenset({ContactState.CLOSED, ContactState.ABANDONED})
# States in which a contact occupies one of its agent's channel slots.
HOLDING_STATES = frozenset({ContactState.OFFERED, ContactState.CONNECTED, ContactState.WRAP_UP})


class AgentState(StrEnum):
    OFFLINE = "offline"
    READY = "ready"
    NOT_READY = "not_ready"


# An offer the agent declined or let time out (any channel: a phone that rang out, a
# chat or email not accepted in time): one rule, one reason (docs/routing.md).
MISSED_OFFER_REASON = "missed-offer"
# The id this reason had before: records kept by an earlier version still read.
LEGACY_NO_ANSWER_REASON = "no-answer"
# Set by the telephony adapter while an agent's phone is unreachable (after a grace).
PHONE_UNREACHABLE_REASON = "phone-unreachable"
# Set by the console hub when an agent has had no live console for the grace period.
DISCONNECTED_REASON = "disconnected"
# Not-ready reasons the system sets itself: always allowed, never configured.
SYSTEM_NOT_READY_REASONS: Final = frozenset(
    {MISSED_OFFER_REASON, PHONE_UNREACHABLE_REASON, DISCONNECTED_REASON}
)


def channels_in_order(names: Sequence[str]) -> tuple[Channel, ...]:
    """Channel names as channels, once each, in the order of :data:`CHANNELS`."""
    wanted = {Channel(name) for name in names}
    return tuple(channel for channel in CHANNELS if channel in wanted)


def current_reason(reason: str | None) -> str | None:
    """A not-ready reason as this version names it (older records say "no-answer")."""
    return MISSED_OFFER_REASON if reason == LEGACY_NO_ANSWER_REASON else reason


AGENT_TRANSITIONS: Final[dict[AgentState, frozenset[AgentState]]] = {
    AgentState.OFFLINE: frozenset({AgentState.READY, AgentState.NOT_READY}),
    AgentState.READY: frozenset({AgentState.NOT_READY, AgentState.OFFLINE}),
    # NOT_READY -> NOT_READY is a change of reason (break -> lunch).
    AgentState.NOT_READY: frozenset({AgentState.READY, AgentState.NOT_READY, AgentState.OFFLINE}),
}


class StrategyName(StrEnum):
    LONGEST_IDLE = "longest-idle"
    LEAST_OCCUPIED = "least-occupied"
    HIGHEST_PROFICIENCY = "highest-proficiency"
    ROUND_ROBIN = "round-robin"
    FEWEST_TODAY = "fewest-today"


class MaxWaitAction(StrEnum):
    CALLBACK = "callback"
    MOVE = "move"
    VOICEMAIL = "voicemail"


@dataclasses.dataclass(frozen=True, slots=True)
class SkillRequirement:
    skill: str
    min_level: int


@dataclasses.dataclass(frozen=True, slots=True)
class OverflowStep:
    """After ``after_seconds`` in the queue: drop or lower skill requirements, add queues."""

    after_seconds: float
    drop_skills: tuple[str, ...] = ()
    lower_skills: tuple[SkillRequirement, ...] = ()
    add_queues: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Ring:
    """The requirements in force from ``starts_after`` seconds in the queue (ring 0 = base)."""

    index: int
    starts_after: float
    skills: tuple[SkillRequirement, ...]
    extra_queues: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class StickyRule:
    """Prefer the owner agent, else the last agent, for ``seconds`` before widening."""

    seconds: float = 0.0
    prefer_owner: bool = True
    prefer_last_agent: bool = True
    last_agent_max_age_seconds: float = 7 * 86_400.0


@dataclasses.dataclass(frozen=True, slots=True)
class MaxWait:
    seconds: float
    action: MaxWaitAction
    target_queue: str | None = None


DEFAULT_OFFER_TIMEOUTS: Mapping[Channel, float] = {
    Channel.VOICE: 20.0,
    Channel.CHAT: 30.0,
    Channel.EMAIL: 120.0,
}


@dataclasses.dataclass(frozen=True, slots=True)
class QueueConfig:
    name: str
    channels: frozenset[Channel]
    skills: tuple[SkillRequirement, ...] = ()
    strategy: StrategyName = StrategyName.LONGEST_IDLE
    base_priority: int = 0
    tier_boost: Mapping[str, int] = dataclasses.field(default_factory=dict)
    # Priority points a contact gains per minute of waiting, so nobody starves.
    ageing_points_per_minute: float = 1.0
    service_level_percent: float = 80.0
    service_level_seconds: float = 20.0
    overflow: tuple[OverflowStep, ...] = ()
    sticky: StickyRule = StickyRule()
    offer_timeout_seconds: Mapping[Channel, float] = dataclasses.field(
        default_factory=lambda: dict(DEFAULT_OFFER_TIMEOUTS)
    )
    # None: wrap-up lasts until the agent ends it (bounded by wrap_up_max_seconds).
    wrap_up_seconds: float | None = 0.0
    wrap_up_max_seconds: float = 3600.0
    max_wait: MaxWait | None = None

    def rings(self) -> tuple[Ring, ...]:
        """Cumulative requirement sets: ring k applies after the k-th overflow step."""
        skills = {req.skill: req.min_level for req in self.skills}
        extra: list[str] = []
        rings = [Ring(0, 0.0, _requirements(skills), ())]
        for index, step in enumerate(sorted(self.overflow, key=lambda s: s.after_seconds), 1):
            for skill in step.drop_skills:
                skills.pop(skill, None)
            for req in step.lower_skills:
                skills[req.skill] = req.min_level
            extra.extend(q for q in step.add_queues if q not in extra)
            rings.append(Ring(index, step.after_seconds, _requirements(skills), tuple(extra)))
        return tuple(rings)

    @property
    def ageing_per_second(self) -> float:
        return self.ageing_points_per_minute / 60.0


def _requirements(skills: Mapping[str, int]) -> tuple[SkillRequirement, ...]:
    return tuple(SkillRequirement(s, level) for s, level in sorted(skills.items()))


@dataclasses.dataclass(frozen=True, slots=True)
class BlockRule:
    """While the agent holds a ``when`` contact, no new offers on ``blocks`` channels.

    With ``unless_awaiting_customer``, ``when`` contacts marked as waiting on the
    customer (a chat where the agent has answered) do not count.
    """

    when: Channel
    blocks: frozenset[Channel]
    unless_awaiting_customer: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class RoutingProfile:
    name: str
    capacity: Mapping[Channel, int]
    blocks: tuple[BlockRule, ...] = ()
    max_total: int | None = None

    def slots(self, channel: Channel) -> int:
        return self.capacity.get(channel, 0)


DEFAULT_PROFILE = RoutingProfile(
    name="default",
    capacity={Channel.VOICE: 1, Channel.CHAT: 3, Channel.EMAIL: 5},
    blocks=(
        BlockRule(Channel.VOICE, frozenset({Channel.CHAT, Channel.EMAIL})),
        BlockRule(Channel.CHAT, frozenset({Channel.VOICE}), unless_awaiting_customer=True),
        BlockRule(Channel.EMAIL, frozenset({Channel.VOICE})),
    ),
)

DEFAULT_NOT_READY_REASONS = frozenset({"break", "lunch", "training", "meeting"})


@dataclasses.dataclass(frozen=True, slots=True)
class RoutingConfig:
    queues: Mapping[str, QueueConfig]
    profiles: Mapping[str, RoutingProfile] = dataclasses.field(
        default_factory=lambda: {"default": DEFAULT_PROFILE}
    )
    not_ready_reasons: frozenset[str] = DEFAULT_NOT_READY_REASONS
    default_profile: str = "default"
    # Service level is computed over this rolling window, in minute buckets.
    stats_window_seconds: float = 1800.0
    # Callers who hang up sooner than this are not counted against the service level.
    short_abandon_seconds: float = 5.0
    # "Today" for the daily counters starts at local midnight in this zone.
    timezone: str = "UTC"
    # Channels whose offers are accepted without a click, for agents who set none.
    auto_accept: frozenset[Channel] = frozenset()
    # Decision records kept per live contact for the console's "why" panel.
    explanations_per_contact: int = 10
    # Candidates listed in one decision record (the counts always cover all of them).
    candidates_per_explanation: int = 20

    @property
    def reasons(self) -> frozenset[str]:
        return self.not_ready_reasons | SYSTEM_NOT_READY_REASONS


class CustomerContext:
    """What the profile store knows about the customer, passed in at enqueue time.

    A plain class: the compiled engine builds one per contact (native, so cheap)."""

    def __init__(
        self,
        *,
        customer_id: str | None = None,
        tier: str | None = None,
        owner_agent_id: str | None = None,
        last_agent_id: str | None = None,
        last_served_at: float | None = None,
    ) -> None:
        self.customer_id: Final = customer_id
        self.tier: Final = tier
        self.owner_agent_id: Final = owner_agent_id
        self.last_agent_id: Final = last_agent_id
        self.last_served_at: Final = last_served_at

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CustomerContext):
            return NotImplemented
        return (
            self.customer_id == other.customer_id
            and self.tier == other.tier
            and self.owner_agent_id == other.owner_agent_id
            and self.last_agent_id == other.last_agent_id
            and self.last_served_at == other.last_served_at
        )

    def __hash__(self) -> int:
        return hash((self.customer_id, self.tier, self.owner_agent_id, self.last_agent_id))

    def __repr__(self) -> str:
        return (
            f"CustomerContext(customer_id={self.customer_id!r}, tier={self.tier!r}, "
            f"owner_agent_id={self.owner_agent_id!r}, last_agent_id={self.last_agent_id!r}, "
            f"last_served_at={self.last_served_at!r})"
        )


class Decision:
    """One routing decision and why it was taken, kept as taken: the explanation record
    (candidates with verdicts and scores) is built only when somebody reads it.

    A plain class rather than a dataclass: the compiled engine builds one per decision,
    and constructing a native class costs a fraction of a dataclass call.
    """

    def __init__(
        self,
        *,
        contact_id: str,
        agent_id: str,
        at: float,
        decided_by: str,
        strategy: str,
        ring: int,
        ranked: Sequence[str],
        scores: Sequence[float],
        counts: dict[str, int],
        declined: Sequence[str] = (),
        listed: int = 20,
        ranks_contacts: bool = False,
    ) -> None:
        self.contact_id: Final = contact_id
        self.agent_id: Final = agent_id
        self.at: Final = at
        # "sticky", "strategy", "agent-available" or "direct"
        self.decided_by: Final = decided_by
        self.strategy: Final = strategy
        self.ring: Final = ring
        # The candidates compared, best first, and their scores: agents (the winner is
        # ``agent_id``) or, when an agent freed up, contacts (the winner is ``contact_id``).
        self.ranked: Final = ranked
        self.scores: Final = scores
        self.counts: Final = counts
        # Agents excluded because they declined this contact (listed if there is room).
        self.declined: Final = declined
        self.listed: Final = listed
        # True when ``ranked`` holds contacts (an agent freed up and chose among them).
        self.ranks_contacts: Final = ranks_contacts
        self._json: orjson.Fragment | None = None

    def candidates(self) -> list[tuple[str, str, float]]:
        winner = self.contact_id if self.ranks_contacts else self.agent_id
        found = [
            (cid, "winner" if cid == winner else "eligible", score)
            for cid, score in zip(self.ranked, self.scores, strict=True)
        ]
        room = self.listed - len(found)
        if room > 0:
            found.extend((a, "declined", 0.0) for a in self.declined[:room])
        return found

    def record(self) -> dict[str, Any]:
        """The explanation shown to supervisors: candidates with verdicts and scores."""
        return {
            "at": self.at,
            "decided_by": self.decided_by,
            "agent_id": self.agent_id,
            "strategy": self.strategy,
            "ring": self.ring,
            "candidates": [list(c) for c in self.candidates()],
            "counts": dict(self.counts),
        }

    def json(self) -> orjson.Fragment:
        """:meth:`to_dict` serialised, once: a decision never changes, and its contact's
        record is written again at every step (orjson copies the fragment as is)."""
        cached = self._json
        if cached is None:
            cached = self._json = orjson.Fragment(orjson.dumps(self.to_dict()))
        return cached

    def to_dict(self) -> dict[str, Any]:
        """The decision as persisted (Redis state): as taken, cheap to write."""
        return {
            "contact_id": self.contact_id,
            "agent_id": self.agent_id,
            "at": self.at,
            "decided_by": self.decided_by,
            "strategy": self.strategy,
            "ring": self.ring,
            "ranked": list(self.ranked),
            "scores": list(self.scores),
            "counts": dict(self.counts),
            "declined": list(self.declined),
            "listed": self.listed,
            "ranks_contacts": self.ranks_contacts,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        return cls(
            contact_id=data["contact_id"],
            agent_id=data["agent_id"],
            at=float(data["at"]),
            decided_by=data["decided_by"],
            strategy=data["strategy"],
            ring=int(data["ring"]),
            ranked=list(data["ranked"]),
            scores=[float(s) for s in data["scores"]],
            counts=dict(data["counts"]),
            declined=list(data["declined"]),
            listed=int(data["listed"]),
            ranks_contacts=bool(data["ranks_contacts"]),
        )


class Contact:
    """One interaction on one channel, as the router tracks it."""

    __slots__ = (
        "agent_id",
        "attributes",
        "awaiting_customer",
        "callback_offered",
        "channel",
        "connected_at",
        "contact_id",
        "created_at",
        "customer",
        "declined_by",
        "due_at",
        "end_reason",
        "explanations",
        "lane",
        "max_wait_done",
        "offer_deadline",
        "offered_at",
        "priority",
        "queue",
        "queue_entered_at",
        "returned_until",
        "ring",
        "seq",
        "state",
        "sticky_agent",
        "sticky_until",
        "waiting_since",
        "wrap_up_deadline",
    )

    def __init__(
        self,
        *,
        contact_id: str,
        channel: Channel,
        queue: str,
        customer: CustomerContext,
        priority: int,
        created_at: float,
        seq: int,
        attributes: Mapping[str, str] | None = None,
    ) -> None:
        self.contact_id = contact_id
        self.channel = channel
        self.queue = queue
        self.customer = customer
        self.priority = priority
        self.created_at = created_at
        self.seq = seq
        self.attributes: dict[str, str] = dict(attributes or {})
        self.state = ContactState.NEW
        self.waiting_since = created_at
        self.queue_entered_at = created_at
        self.ring = 0
        self.sticky_agent: str | None = None
        self.sticky_until: float | None = None
        self.agent_id: str | None = None
        self.offered_at: float | None = None
        self.offer_deadline: float | None = None
        self.connected_at: float | None = None
        self.wrap_up_deadline: float | None = None
        # Agents who declined it (replaced, never mutated: most contacts share the empty one).
        self.declined_by: frozenset[str] = NO_DECLINES
        # Agents whose offer the channel could not carry out (ReturnOffer), each kept out
        # of ``declined_by`` again at its time; None for the many contacts without one.
        self.returned_until: dict[str, float] | None = None
        self.awaiting_customer = False
        self.callback_offered = False
        self.max_wait_done = False
        # Answer by this time (None: no due time, arrival order); see RoutingEngine._key.
        self.due_at: float | None = None
        self.end_reason: str | None = None
        # Decisions as taken (explanation records are built when read); a plain dict is
        # a record kept by an earlier version.
        self.explanations: list[Decision | dict[str, Any]] = []
        # The engine's lane for (queue, ring, channel) as last looked up: a cache the
        # engine checks against queue and ring before use (RoutingEngine._lane_of).
        self.lane: Lane | None = None

    def transition(self, target: ContactState) -> ContactState:
        """Move to ``target`` if the state machine allows it; return the previous state."""
        previous = self.state
        if target not in CONTACT_TRANSITIONS[previous]:
            raise IllegalTransition(
                f"contact {self.contact_id} cannot go from {previous} to {target}",
                details={"contact_id": self.contact_id, "from": previous, "to": target},
            )
        self.state = target
        return previous

    def to_dict(self) -> dict[str, Any]:
        """Every attribute as JSON-able values (what describe_contact shows)."""
        return self._fields(
            [item.to_dict() if isinstance(item, Decision) else item for item in self.explanations]
        )

    def to_record(self) -> dict[str, Any]:
        """What a state backend persists: :meth:`to_dict`, with each decision as its JSON
        (an ``orjson.Fragment``: serialise the record with orjson)."""
        return self._fields(
            [item.json() if isinstance(item, Decision) else item for item in self.explanations]
        )

    def _fields(self, explanations: list[Any]) -> dict[str, Any]:
        customer = self.customer
        return {
            "agent_id": self.agent_id,
            "attributes": self.attributes,
            "awaiting_customer": self.awaiting_customer,
            "callback_offered": self.callback_offered,
            "channel": self.channel,
            "connected_at": self.connected_at,
            "contact_id": self.contact_id,
            "created_at": self.created_at,
            "customer": {
                "customer_id": customer.customer_id,
                "tier": customer.tier,
                "owner_agent_id": customer.owner_agent_id,
                "last_agent_id": customer.last_agent_id,
                "last_served_at": customer.last_served_at,
            },
            "declined_by": sorted(self.declined_by),
            "due_at": self.due_at,
            "end_reason": self.end_reason,
            "explanations": explanations,
            "max_wait_done": self.max_wait_done,
            "offer_deadline": self.offer_deadline,
            "offered_at": self.offered_at,
            "priority": self.priority,
            "queue": self.queue,
            "queue_entered_at": self.queue_entered_at,
            "returned_until": dict(self.returned_until) if self.returned_until else {},
            "ring": self.ring,
            "seq": self.seq,
            "state": self.state,
            "sticky_agent": self.sticky_agent,
            "sticky_until": self.sticky_until,
            "waiting_since": self.waiting_since,
            "wrap_up_deadline": self.wrap_up_deadline,
        }

    def explanation_records(self) -> list[dict[str, Any]]:
        return [item.record() if isinstance(item, Decision) else item for item in self.explanations]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Contact:
        contact = cls(
            contact_id=data["contact_id"],
            channel=Channel(data["channel"]),
            queue=data["queue"],
            customer=CustomerContext(**data["customer"]),
            priority=int(data["priority"]),
            created_at=float(data["created_at"]),
            seq=int(data["seq"]),
            attributes=data.get("attributes"),
        )
        contact.state = ContactState(data["state"])
        contact.waiting_since = float(data.get("waiting_since", contact.created_at))
        contact.queue_entered_at = float(data.get("queue_entered_at", contact.waiting_since))
        contact.ring = int(data.get("ring", 0))
        contact.sticky_agent = data.get("sticky_agent")
        contact.sticky_until = _optional_float(data.get("sticky_until"))
        contact.agent_id = data.get("agent_id")
        contact.offered_at = _optional_float(data.get("offered_at"))
        contact.offer_deadline = _optional_float(data.get("offer_deadline"))
        contact.connected_at = _optional_float(data.get("connected_at"))
        contact.wrap_up_deadline = _optional_float(data.get("wrap_up_deadline"))
        contact.declined_by = frozenset(data.get("declined_by", ())) or NO_DECLINES
        returned = data.get("returned_until")
        if returned:
            contact.returned_until = {str(k): float(v) for k, v in returned.items()}
        contact.awaiting_customer = bool(data.get("awaiting_customer", False))
        contact.callback_offered = bool(data.get("callback_offered", False))
        contact.max_wait_done = bool(data.get("max_wait_done", False))
        contact.due_at = _optional_float(data.get("due_at"))
        contact.end_reason = data.get("end_reason")
        contact.explanations = [
            Decision.from_dict(item) if "ranked" in item else dict(item)
            for item in data.get("explanations", ())
        ]
        return contact


class Agent:
    """An agent as the router sees them: state, skills, queues, load per channel."""

    __slots__ = (
        "active",
        "agent_id",
        "auto_accept",
        "awaiting",
        "contacts_today",
        "last_offer",
        "last_work_at",
        "load",
        "name",
        "placed_in",
        "profile",
        "queue_order",
        "queues",
        "reason",
        "skills",
        "state",
        "state_since",
        "takeable",
        "today",
        "work_seq",
    )

    def __init__(
        self,
        *,
        agent_id: str,
        name: str,
        skills: Mapping[str, int],
        queues: frozenset[str],
        profile: str,
        since: float,
    ) -> None:
        self.agent_id = agent_id
        self.name = name
        self.skills = dict(skills)
        self.queues = queues
        # The same, sorted (what records hold): rebuilt only when the queues change.
        self.queue_order: tuple[str, ...] = tuple(sorted(queues))
        self.profile = profile
        # Channels whose offers this agent accepts without a click, sorted; None: the
        # configured default (RoutingConfig.auto_accept).
        self.auto_accept: tuple[Channel, ...] | None = None
        self.state = AgentState.OFFLINE
        self.reason: str | None = None
        self.state_since = since
        self.last_work_at = since
        # Engine sequence number of the last work: orders agents who worked at the same time.
        self.work_seq = 0
        self.contacts_today = 0
        self.today = -1
        self.load: dict[Channel, int] = dict.fromkeys(CHANNELS, 0)
        # Contacts on a channel that wait on the customer (see BlockRule).
        self.awaiting: dict[Channel, int] = dict.fromkeys(CHANNELS, 0)
        self.active: dict[str, Channel] = {}
        # Sequence number of the last offer per queue (round-robin order).
        self.last_offer: dict[str, int] = {}
        # Kept by the engine: the channels the agent can take a new contact on as of its
        # last change, and those whose lanes it was last placed in.
        self.takeable: tuple[Channel, ...] = ()
        self.placed_in: tuple[Channel, ...] = ()

    def transition(self, target: AgentState, reason: str | None) -> AgentState:
        previous = self.state
        same = previous == target and (target != AgentState.NOT_READY or reason == self.reason)
        if same or target not in AGENT_TRANSITIONS[previous]:
            raise IllegalTransition(
                f"agent {self.agent_id} cannot go from {previous} to {target}"
                + (f" ({reason})" if reason else ""),
                details={"agent_id": self.agent_id, "from": previous, "to": target},
            )
        self.state = target
        self.reason = reason if target == AgentState.NOT_READY else None
        return previous

    @property
    def total_load(self) -> int:
        return len(self.active)

    def to_dict(self) -> dict[str, Any]:
        """Every attribute as JSON-able values (what describe_agent shows)."""
        data = self.to_record()
        # Handed to callers: their own copies.
        data["skills"] = dict(self.skills)
        data["queues"] = list(self.queue_order)
        data["active"] = {contact: str(channel) for contact, channel in self.active.items()}
        data["load"] = {str(channel): count for channel, count in self.load.items()}
        data["awaiting"] = {str(channel): count for channel, count in self.awaiting.items()}
        accepted = self.auto_accept
        data["auto_accept"] = None if accepted is None else [str(c) for c in accepted]
        return data

    def serve(self, queues: frozenset[str]) -> None:
        """Set the queues the agent serves."""
        self.queues = queues
        self.queue_order = tuple(sorted(queues))

    def to_record(self) -> dict[str, Any]:
        """What a state backend persists: everything but the load, which the engine
        derives again from the contacts the agent holds (RoutingEngine.load).

        Written after every piece of work, so it shares what only an upsert changes:
        ``skills`` is replaced then, never changed in place, and the queues are kept
        sorted. A backend serialises records before the next command."""
        return {
            "agent_id": self.agent_id,
            "auto_accept": self.auto_accept,
            "contacts_today": self.contacts_today,
            "last_offer": dict(self.last_offer),
            "last_work_at": self.last_work_at,
            "name": self.name,
            "profile": self.profile,
            "queues": self.queue_order,
            "reason": self.reason,
            "skills": self.skills,
            "state": self.state,
            "state_since": self.state_since,
            "today": self.today,
            "work_seq": self.work_seq,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Agent:
        agent = cls(
            agent_id=data["agent_id"],
            name=data["name"],
            skills=data["skills"],
            queues=frozenset(data["queues"]),
            profile=data["profile"],
            since=float(data["state_since"]),
        )
        agent.state = AgentState(data["state"])
        agent.reason = current_reason(data["reason"])
        accepted = data.get("auto_accept")
        if accepted is not None:
            agent.auto_accept = channels_in_order(accepted)
        agent.last_work_at = float(data["last_work_at"])
        agent.work_seq = int(data.get("work_seq", 0))
        agent.contacts_today = int(data["contacts_today"])
        agent.today = int(data["today"])
        # Records written by this version leave the load out (derived from the contacts).
        agent.load.update({Channel(k): int(v) for k, v in data.get("load", {}).items()})
        agent.awaiting.update({Channel(k): int(v) for k, v in data.get("awaiting", {}).items()})
        agent.active = {k: Channel(v) for k, v in data.get("active", {}).items()}
        agent.last_offer = {k: int(v) for k, v in data.get("last_offer", {}).items()}
        return agent


NO_DECLINES: frozenset[str] = frozenset()


def name_problem(name: str) -> str | None:
    """What is wrong with a queue, profile, agent or contact id, if anything: ids are
    non-empty and free of control characters (they end up in keys, logs and consoles)."""
    if not name:
        return "must not be empty"
    if not name.isprintable():
        return f"{name!r} has control characters"
    return None


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def to_milliseconds(seconds: float) -> float:
    """``seconds`` rounded to the millisecond, as events carry durations.

    ``round(x, 3)`` goes through a decimal conversion (a few µs); this does not.
    """
    # Half away from zero (round() would go through the builtin, slower compiled).
    scaled = seconds * 1000.0
    return int(scaled + 0.5 if scaled >= 0 else scaled - 0.5) / 1000.0


def proficiency(agent_skills: Mapping[str, int], requirements: tuple[SkillRequirement, ...]) -> int:
    """Sum of the agent's levels in the required skills (0 when nothing is required)."""
    return sum(agent_skills.get(req.skill, 0) for req in requirements)


def meets(agent_skills: dict[str, int], requirements: tuple[SkillRequirement, ...]) -> bool:
    return all(agent_skills.get(req.skill, 0) >= req.min_level for req in requirements)
