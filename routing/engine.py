"""The routing engine: all router state for one shard, changed only by commands.

Synchronous and pure: ``execute(command, now)`` validates, applies the command, runs
every matching it triggers and every timer due by ``now``, and returns the events.
An invalid command raises an :class:`~contact_center.errors.AppError` before anything
changes. Both state backends drive this same engine: the memory backend persists the
waiting contacts ``take_changes`` reports; the Redis backend logs the commands it
applies, writes a ``snapshot`` at each checkpoint, and a new leader rebuilds the engine
with ``load`` and replays the log.

Indexes kept so a decision never scans all contacts or agents:

* ``_lanes[(queue, ring, channel)]`` (:class:`~routing.matching.Lane`): the contacts
  waiting in that ring of the queue (not held by a sticky window), sorted by static
  priority then arrival, and the agents in reach of the ring who could take one now,
  in the queue strategy's order. A contact arriving reads the head of its lane's
  agents; an agent freeing up compares the heads of the lanes it serves.
* ``_agent_lanes[agent]``: the lanes an agent is in reach of. Whenever an agent works
  (an offer, an answer, the end of a contact, going ready, chat activity) or its load
  changes, it is marked in those of the channels it could or can take, and placed again
  when such a lane is next read: O(lanes of the agent).
* ``_sticky[agent]``: contacts waiting for that preferred agent.
* ``_reach[(queue, ring)]``: agents able to serve that ring (whatever their state).
* ``_available``: READY agents with at least one free slot.
* ``_timers``: one heap of deadlines (offer timeout, overflow ring, sticky window,
  wrap-up, max wait), validated lazily when they fire. Ties go by contact id and kind,
  never by when a timer was pushed: an engine loaded from records pushes them in
  another order, and must fire them in the same one (the Redis backend replays its
  command log on a loaded engine).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from heapq import heappop, heappush
from itertools import chain
from typing import Any, Final

from contact_center.domain.events import DomainEvent
from routing import commands as cmd
from routing.errors import (
    AgentHasContacts,
    AgentUnavailable,
    ChannelNotServed,
    DuplicateContact,
    IllegalTransition,
    InvalidCommand,
    NoSuchAgent,
    NoSuchContact,
    NoSuchProfile,
    NoSuchQueue,
    NotOfferedToAgent,
    UnknownNotReadyReason,
)
from routing.events import (
    AgentStateChanged,
    ContactAbandoned,
    ContactAttached,
    ContactCallbackOffered,
    ContactClosed,
    ContactConnected,
    ContactCustomerIdentified,
    ContactOfferDeclined,
    ContactOffered,
    ContactOfferTimedOut,
    ContactOverflowed,
    ContactPriorityChanged,
    ContactQueued,
    ContactStickyWidened,
    ContactTransferred,
    WrapUpEnded,
    WrapUpStarted,
)
from routing.matching import (
    ChannelRules,
    Lane,
    WaitingKey,
    best_contact,
    choose_agent,
    exclusion,
    takeable_channels,
)
from routing.model import (
    CHANNEL_BY_NAME,
    CHANNELS,
    ENDED_STATES,
    HOLDING_STATES,
    MISSED_OFFER_REASON,
    NO_DECLINES,
    Agent,
    AgentState,
    Channel,
    Contact,
    ContactState,
    CustomerContext,
    Decision,
    MaxWaitAction,
    QueueConfig,
    Ring,
    RoutingConfig,
    SkillRequirement,
    StrategyName,
    channels_in_order,
    current_reason,
    meets,
    name_problem,
    to_milliseconds,
)
from routing.stats import (
    DayClock,
    QueueAgentCounts,
    QueueChannelStats,
    channel_key,
    presence,
)
from routing.strategies import occupancy, skill_level

_RECENTLY_ENDED = 10_000


_NO_LANES: dict[Channel, tuple[Lane, ...]] = {}


# Timers of one contact due at the same moment fire in this order.
_TIMER_ORDER: Final = {"ring": 0, "sticky": 1, "max_wait": 2, "offer": 3, "wrap": 4, "returned": 5}

# What AttachToAgent may say the channel has done with a contact.
_ATTACH_STATES: Final = frozenset({ContactState.OFFERED, ContactState.CONNECTED})


def _work_seq(agent: Agent) -> int:
    return agent.work_seq


class Outcome:
    """What a command produced: the events, and a value for queries."""

    __slots__ = ("events", "value")

    def __init__(self, events: list[DomainEvent], value: Any = None) -> None:
        self.events = events
        self.value = value


class Changes:
    """Records changed since the last ``take_changes`` (what a backend must persist), or
    every record (``snapshot``).

    Serialise them with orjson before the next command: contact records hold their
    decisions as ``orjson.Fragment`` and agent records share unchanging parts."""

    __slots__ = ("agents", "contacts", "meta", "removed_contacts", "stats")

    def __init__(
        self,
        contacts: dict[str, dict[str, Any]],
        removed_contacts: list[str],
        agents: dict[str, dict[str, Any]],
        stats: dict[str, dict[str, Any]],
        meta: dict[str, Any],
    ) -> None:
        self.contacts = contacts
        self.removed_contacts = removed_contacts
        self.agents = agents
        self.stats = stats
        self.meta = meta

    def __bool__(self) -> bool:
        return bool(self.contacts or self.removed_contacts or self.agents or self.stats)


class RoutingEngine:
    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        # Plain dicts of the configuration, read on every decision.
        self._queues: dict[str, QueueConfig] = dict(config.queues)
        self._strategy_names = {name: queue.strategy.value for name, queue in config.queues.items()}
        self._rules: dict[str, ChannelRules] = {
            name: ChannelRules(profile) for name, profile in config.profiles.items()
        }
        self._rings: dict[str, tuple[Ring, ...]] = {n: q.rings() for n, q in config.queues.items()}
        # Channels auto-accepted by agents who set none of their own.
        self._auto_accept: tuple[Channel, ...] = tuple(
            channel for channel in CHANNELS if channel in config.auto_accept
        )
        self._contacts: dict[str, Contact] = {}
        self._agents: dict[str, Agent] = {}
        self._stats: dict[tuple[str, Channel], QueueChannelStats] = {}
        self._window_minutes = max(1, int(config.stats_window_seconds // 60))
        self._lanes: dict[tuple[str, int, Channel], Lane] = {}
        # Per (queue, channel): its lanes, one per ring.
        self._queue_lanes: dict[tuple[str, Channel], list[Lane]] = {}
        for name, rings in self._rings.items():
            queue = config.queues[name]
            for channel in CHANNELS:
                if channel not in queue.channels:
                    continue
                lanes = self._queue_lanes[(name, channel)] = []
                for ring in rings:
                    lane = Lane(name, ring.index, channel, queue, self._qstats(name, channel))
                    self._lanes[(name, ring.index, channel)] = lane
                    lanes.append(lane)
        # The waiting key of every QUEUED contact (where it sits in its lane).
        self._waiting_keys: dict[str, WaitingKey] = {}
        self._sticky: dict[str, dict[str, None]] = {}
        # Sticky contacts per (queue, channel) with their keys, for positions in queue.
        self._sticky_waiting: dict[tuple[str, Channel], dict[str, WaitingKey]] = {}
        self._declined: dict[str, frozenset[str]] = {}
        self._members: dict[str, set[str]] = {name: set() for name in config.queues}
        self._reach: dict[tuple[str, int], set[str]] = {
            (name, ring.index): set() for name, rings in self._rings.items() for ring in rings
        }
        # The lanes each agent is in reach of, per channel.
        self._agent_lanes: dict[str, dict[Channel, tuple[Lane, ...]]] = {}
        # Whether any lane of the agent orders by contacts today (see _refresh_agent).
        self._counts_today: set[str] = set()
        self._available: set[str] = set()
        # Per (queue, ring): how many of the queue's agents lack the ring's skills
        # (dropped when agents change).
        self._no_skill: dict[tuple[str, int], int] = {}
        # Agents whose places in their lanes are out of date: placed before any lane's
        # agents are read and at the end of every command, so an agent that frees up
        # and takes its next contact in one command is placed once.
        self._unplaced: set[Agent] = set()
        self._presence: dict[str, str] = {}
        self._timers: list[tuple[float, str, int, str]] = []
        self._agent_counts = {name: QueueAgentCounts() for name in config.queues}
        # Each agent's queues' counts (moved when its presence changes).
        self._counts_of: dict[str, tuple[QueueAgentCounts, ...]] = {}
        # Ended contacts kept for explain/describe; records are serialised only when read.
        self._ended: OrderedDict[str, Contact] = OrderedDict()
        self._day = DayClock(config.timezone)
        # The local day of ``now``: daily counters and fewest-today levels use it.
        self._today = self._day.day(0.0)
        self._seq = 0
        self.now = 0.0
        self._dirty_contacts: set[str] = set()
        self._removed_contacts: set[str] = set()
        self._dirty_agents: set[str] = set()
        self._dirty_stats: set[tuple[str, Channel]] = set()
        self._handlers: dict[type[cmd.Command], Callable[[Any, list[DomainEvent]], Any]] = {
            cmd.EnqueueContact: self._enqueue,
            cmd.UpsertAgent: self._upsert_agent,
            cmd.SetAgentState: self._set_agent_state,
            cmd.AcceptOffer: self._accept,
            cmd.DeclineOffer: self._decline,
            cmd.OfferNotAnswered: self._not_answered,
            cmd.ReturnOffer: self._return_offer,
            cmd.AttachToAgent: self._attach,
            cmd.HangUp: self._hang_up,
            cmd.EndWrapUp: self._end_wrap_up,
            cmd.TransferToQueue: self._transfer_to_queue,
            cmd.TransferToAgent: self._transfer_to_agent,
            cmd.MoveContact: self._move,
            cmd.OfferToAgent: self._offer_to_agent,
            cmd.ChangePriority: self._change_priority,
            cmd.WithdrawContact: self._withdraw,
            cmd.SetAwaitingCustomer: self._awaiting_customer,
            cmd.IdentifyCustomer: self._identify_customer,
            cmd.FireTimers: lambda _c, _e: None,
            cmd.ExplainContact: self._explain,
            cmd.DescribeContact: self._describe_contact,
            cmd.DescribeAgent: self._describe_agent,
            cmd.QueueStatistics: self._queue_statistics,
            cmd.DescribeFloor: self._describe_floor,
        }

    # ------------------------------------------------------------------ public API

    def execute(self, command: cmd.Command, now: float) -> Outcome:
        """Apply one command at ``now`` (never earlier than the last one applied)."""
        if now > self.now:
            self.now = now
            if self._day.day(now) != self._today:
                self._new_day()
        handler = self._handlers.get(type(command))
        if handler is None:
            raise InvalidCommand(f"unsupported command {type(command).__name__}")
        events: list[DomainEvent] = []
        value = handler(command, events)
        if not command.read_only:
            self._fire_due(events)
            if self._unplaced:
                self._mark_unplaced()
        return Outcome(events, value)

    def timers_due(self, now: float) -> bool:
        """True if a timer fell due by ``now``: backends fire timers before the next command
        so that it sees the state as of ``now`` (a timed-out offer is back in its queue)."""
        return bool(self._timers) and self._timers[0][0] <= now

    def next_deadline(self) -> float | None:
        """When the earliest timer is due (it may turn out to be stale: that is harmless)."""
        return self._timers[0][0] if self._timers else None

    @property
    def seq(self) -> int:
        return self._seq

    def contact(self, contact_id: str) -> Contact | None:
        return self._contacts.get(contact_id)

    def agent(self, agent_id: str) -> Agent | None:
        return self._agents.get(agent_id)

    def contacts(self) -> Iterable[Contact]:
        return self._contacts.values()

    def agents(self) -> Iterable[Agent]:
        return self._agents.values()

    def discard_changes(self) -> None:
        """Forget what changed (a backend that persists nothing calls this instead)."""
        self._dirty_contacts.clear()
        self._removed_contacts.clear()
        self._dirty_agents.clear()
        self._dirty_stats.clear()

    def take_changes(self) -> Changes:
        changes = Changes(
            contacts={
                cid: self._contacts[cid].to_record()
                for cid in self._dirty_contacts
                if cid in self._contacts
            },
            # An id that ended and came back since (routed again) is not removed.
            removed_contacts=sorted(
                cid for cid in self._removed_contacts if cid not in self._contacts
            ),
            agents={aid: self._agents[aid].to_record() for aid in self._dirty_agents},
            stats={channel_key(*key): self._stats[key].to_dict() for key in self._dirty_stats},
            meta={"seq": self._seq, "now": self.now},
        )
        self.discard_changes()
        return changes

    def snapshot(self) -> Changes:
        """Every record as of now (nothing removed), leaving the changes to come alone:
        what a backend that writes whole checkpoints persists."""
        return Changes(
            contacts={cid: contact.to_record() for cid, contact in self._contacts.items()},
            removed_contacts=[],
            agents={aid: agent.to_record() for aid, agent in self._agents.items()},
            stats={channel_key(*key): stats.to_dict() for key, stats in self._stats.items()},
            meta={"seq": self._seq, "now": self.now},
        )

    def load(
        self,
        contacts: Iterable[Mapping[str, Any]],
        agents: Iterable[Mapping[str, Any]],
        stats: Mapping[str, Mapping[str, Any]],
        meta: Mapping[str, Any],
    ) -> None:
        """Rebuild an empty engine from persisted records (indexes and timers included)."""
        if self._contacts or self._agents:
            raise InvalidCommand("load() needs an empty engine")
        self._seq = int(meta.get("seq", 0))
        self.now = float(meta.get("now", 0.0))
        self._today = self._day.day(self.now)
        for raw in agents:
            agent = Agent.from_dict(raw)
            self._agents[agent.agent_id] = agent
        for raw in contacts:
            contact = Contact.from_dict(raw)
            self._contacts[contact.contact_id] = contact
            if contact.declined_by:
                self._declined[contact.contact_id] = contact.declined_by
            for until in (contact.returned_until or {}).values():
                self._push_timer(until, "returned", contact.contact_id)
            if contact.state == ContactState.QUEUED:
                self._add_waiting(contact)
                self._schedule_waiting_timers(contact)
            elif contact.state == ContactState.OFFERED and contact.offer_deadline is not None:
                self._push_timer(contact.offer_deadline, "offer", contact.contact_id)
            elif contact.state == ContactState.WRAP_UP and contact.wrap_up_deadline is not None:
                self._push_timer(contact.wrap_up_deadline, "wrap", contact.contact_id)
        # An agent's load is what the contacts it holds say (records leave it out).
        for agent in self._agents.values():
            agent.active = {}
            agent.load = dict.fromkeys(CHANNELS, 0)
            agent.awaiting = dict.fromkeys(CHANNELS, 0)
        for contact in self._contacts.values():
            holder = self._agents.get(contact.agent_id or "")
            if holder is not None and contact.state in HOLDING_STATES:
                holder.active[contact.contact_id] = contact.channel
                holder.load[contact.channel] += 1
                if contact.awaiting_customer:
                    holder.awaiting[contact.channel] += 1
        for key, raw in stats.items():
            queue, _, channel = key.rpartition("/")
            if queue in self._queues and channel in set(CHANNELS):
                self._qstats(queue, Channel(channel)).restore(dict(raw))
        if any(agent.work_seq == 0 for agent in self._agents.values()):
            # Records from before work_seq existed: their last work orders them (ties by
            # id, as that version did), below every sequence number to come.
            ordered = sorted(self._agents.values(), key=lambda a: (a.last_work_at, a.agent_id))
            for n, agent in enumerate(ordered, 1):
                agent.work_seq = n
            self._seq = max(self._seq, len(ordered))
        for agent in self._agents.values():
            self._index_agent(agent)
            self._refresh_agent(agent)
        self._mark_unplaced()
        self._dirty_agents.clear()
        self._dirty_stats.clear()

    # ------------------------------------------------------------------ contacts

    def _get_contact(self, contact_id: str) -> Contact:
        contact = self._contacts.get(contact_id)
        if contact is None:
            ended = self._ended.get(contact_id)
            if ended is not None:
                raise IllegalTransition(
                    f"contact {contact_id} has ended ({ended.state})",
                    details={"contact_id": contact_id, "state": ended.state},
                )
            raise NoSuchContact(
                f"no live contact {contact_id!r}", details={"contact_id": contact_id}
            )
        return contact

    def _get_agent(self, agent_id: str) -> Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            raise NoSuchAgent(f"no agent {agent_id!r}", details={"agent_id": agent_id})
        return agent

    def _get_queue(self, name: str) -> QueueConfig:
        queue = self._queues.get(name)
        if queue is None:
            raise NoSuchQueue(f"no queue {name!r}", details={"queue": name})
        return queue

    def _require_state(self, contact: Contact, *states: ContactState) -> None:
        if contact.state not in states:
            raise IllegalTransition(
                f"contact {contact.contact_id} is {contact.state}, expected {' or '.join(states)}",
                details={"contact_id": contact.contact_id, "state": contact.state},
            )

    def _require_holder(self, contact: Contact, agent_id: str) -> None:
        if contact.agent_id != agent_id:
            raise NotOfferedToAgent(
                f"contact {contact.contact_id} is not with agent {agent_id}",
                details={"contact_id": contact.contact_id, "agent_id": agent_id},
            )

    def _enqueue(self, c: cmd.EnqueueContact, events: list[DomainEvent]) -> dict[str, Any]:
        queue = self._get_queue(c.queue)
        channel = CHANNEL_BY_NAME.get(c.channel)
        if channel is None:
            raise InvalidCommand(
                f"unknown channel {c.channel!r} (voice, chat or email)",
                details={"channel": c.channel},
            )
        if channel not in queue.channels:
            raise ChannelNotServed(
                f"queue {queue.name} does not take {channel} contacts",
                details={"queue": queue.name, "channel": channel},
            )
        # Each field read once: reading a command's field is a generic attribute lookup.
        contact_id = c.contact_id
        priority = c.priority
        waiting_since = c.waiting_since
        problem = name_problem(contact_id)
        if problem:
            raise InvalidCommand(f"contact_id {problem}", details={"contact_id": contact_id})
        if contact_id in self._contacts:
            raise DuplicateContact(
                f"contact {contact_id} is already being routed",
                details={"contact_id": contact_id},
            )
        now = self.now
        self._seq += 1
        contact = Contact(
            contact_id=contact_id,
            channel=channel,
            queue=queue.name,
            customer=CustomerContext(
                customer_id=c.customer_id,
                tier=c.tier,
                owner_agent_id=c.owner_agent_id,
                last_agent_id=c.last_agent_id,
                last_served_at=c.last_served_at,
            ),
            priority=queue.base_priority if priority is None else priority,
            created_at=now,
            seq=self._seq,
            attributes=dict(c.attributes),
        )
        if waiting_since is not None:
            contact.waiting_since = min(waiting_since, now)
            contact.queue_entered_at = contact.waiting_since
        contact.due_at = c.due_at
        self._contacts[contact.contact_id] = contact
        contact.transition(ContactState.QUEUED)
        self._choose_sticky(contact, queue)
        self._enter_queue(contact, events, "arrived")
        return {"contact_id": contact.contact_id, "state": contact.state}

    def _choose_sticky(self, contact: Contact, queue: QueueConfig) -> None:
        rule = queue.sticky
        if rule.seconds <= 0:
            return
        customer = contact.customer
        preferred: str | None = None
        if rule.prefer_owner and self._sticky_candidate(customer.owner_agent_id, contact):
            preferred = customer.owner_agent_id
        elif (
            rule.prefer_last_agent
            and customer.last_served_at is not None
            and self.now - customer.last_served_at <= rule.last_agent_max_age_seconds
            and self._sticky_candidate(customer.last_agent_id, contact)
        ):
            preferred = customer.last_agent_id
        if preferred is not None:
            contact.sticky_agent = preferred
            contact.sticky_until = contact.queue_entered_at + rule.seconds
            if contact.sticky_until <= self.now:
                contact.sticky_agent = contact.sticky_until = None

    def _sticky_candidate(self, agent_id: str | None, contact: Contact) -> bool:
        """A preferred agent is worth waiting for only if logged in and able to take the channel."""
        if agent_id is None:
            return False
        agent = self._agents.get(agent_id)
        if agent is None or agent.state == AgentState.OFFLINE:
            return False
        return self._rules[agent.profile].slots.get(contact.channel, 0) > 0

    def _enter_queue(self, contact: Contact, events: list[DomainEvent], reason: str) -> None:
        """Contact is QUEUED: index it, arm its timers, announce it, try to place it."""
        contact.agent_id = None
        contact.offered_at = contact.offer_deadline = None
        contact.ring = self._ring_at(contact)
        self._add_waiting(contact)
        self._schedule_waiting_timers(contact)
        self._dirty_contacts.add(contact.contact_id)
        events.append(
            ContactQueued(
                at=self.now,
                contact_id=contact.contact_id,
                channel=contact.channel,
                queue=contact.queue,
                customer_id=contact.customer.customer_id,
                tier=contact.customer.tier,
                priority=contact.priority
                + self._lane_of(contact).tier_boost.get(contact.customer.tier or "", 0),
                sticky_agent_id=contact.sticky_agent,
                sticky_until=contact.sticky_until,
                reason=reason,
            )
        )
        self._match_contact(contact, events)

    def _ring_at(self, contact: Contact) -> int:
        elapsed = self.now - contact.queue_entered_at
        ring = 0
        for candidate in self._rings[contact.queue]:
            if candidate.starts_after <= elapsed:
                ring = candidate.index
        return ring

    def _key(self, contact: Contact, lane: Lane) -> WaitingKey:
        """Where a waiting contact sorts in its lane: minus its static priority (priority
        and tier boost, less the ageing it would have gained since time 0), then arrival.

        A contact with a due time sorts by it instead of its arrival, and ages from it:
        among equal priorities the earliest due goes first, and against contacts of other
        lanes it gains priority as its due time nears and passes."""
        boost = lane.tier_boost.get(contact.customer.tier or "", 0)
        due_at = contact.due_at
        order = contact.waiting_since if due_at is None else due_at
        static = contact.priority + boost - lane.ageing_per_second * order
        return (-static, order, contact.seq, contact.contact_id)

    def _qstats(self, queue: str, channel: Channel) -> QueueChannelStats:
        stats = self._stats.get((queue, channel))
        if stats is None:
            config = self._queues[queue]
            stats = QueueChannelStats(
                sl_seconds=config.service_level_seconds,
                sl_percent=config.service_level_percent,
                window_minutes=self._window_minutes,
            )
            self._stats[(queue, channel)] = stats
        return stats

    def _lane_of(self, contact: Contact) -> Lane:
        """The contact's lane: cached on it, looked up again after a move or a new ring
        (a contact never changes channel)."""
        lane = contact.lane
        if lane is None or lane.ring != contact.ring or lane.queue != contact.queue:
            lane = contact.lane = self._lanes[(contact.queue, contact.ring, contact.channel)]
        return lane

    def _add_waiting(self, contact: Contact) -> None:
        lane = self._lane_of(contact)
        key = self._key(contact, lane)
        contact_id = contact.contact_id
        self._waiting_keys[contact_id] = key
        lane.stats.waiting_added(contact.waiting_since, contact.seq)
        if contact.sticky_agent is not None:
            self._sticky.setdefault(contact.sticky_agent, {})[contact_id] = None
            qc = (contact.queue, contact.channel)
            self._sticky_waiting.setdefault(qc, {})[contact_id] = key
        else:
            # A plain sorted list: C-level bisect and insert beat a tree at these sizes,
            # and arrivals of equal priority append without a search.
            waiting = lane.waiting
            if not waiting or waiting[-1] < key:
                waiting.append(key)
            else:
                insort(waiting, key)

    def _remove_waiting(self, contact: Contact) -> None:
        contact_id = contact.contact_id
        # Look up and del: dict.pop is a generic method call from compiled code.
        key = self._waiting_keys[contact_id]
        del self._waiting_keys[contact_id]
        lane = self._lane_of(contact)
        lane.stats.waiting_removed(contact.waiting_since, contact.seq)
        if contact.sticky_agent is not None:
            held = self._sticky.get(contact.sticky_agent)
            if held is not None:
                if contact_id in held:
                    del held[contact_id]
                if not held:
                    del self._sticky[contact.sticky_agent]
            del self._sticky_waiting[(contact.queue, contact.channel)][contact_id]
        else:
            waiting = lane.waiting
            # Usually the head (an agent freed up and took it) or the tail (it arrived and
            # went straight to a free agent).
            if waiting[-1] is key:
                waiting.pop()
            elif waiting[0] is key:
                del waiting[0]
            else:
                del waiting[bisect_left(waiting, key)]

    def _next_ring_due(self, contact: Contact) -> float | None:
        rings = self._rings[contact.queue]
        if contact.ring + 1 < len(rings):
            return contact.queue_entered_at + rings[contact.ring + 1].starts_after
        return None

    def _schedule_waiting_timers(self, contact: Contact) -> None:
        due = self._next_ring_due(contact)
        if due is not None:
            self._push_timer(due, "ring", contact.contact_id)
        if contact.sticky_until is not None:
            self._push_timer(contact.sticky_until, "sticky", contact.contact_id)
        max_wait = self._queues[contact.queue].max_wait
        if max_wait is not None and not contact.max_wait_done:
            self._push_timer(
                contact.queue_entered_at + max_wait.seconds, "max_wait", contact.contact_id
            )

    def _push_timer(self, due: float, kind: str, contact_id: str) -> None:
        heappush(self._timers, (due, contact_id, _TIMER_ORDER[kind], kind))

    # ------------------------------------------------------------------ matching

    def _match_contact(self, contact: Contact, events: list[DomainEvent]) -> bool:
        """Offer a QUEUED contact to the best agent available now, if any."""
        if contact.sticky_agent is not None:
            agent = self._agents.get(contact.sticky_agent)
            if agent is None:
                return False
            reason = exclusion(agent, self._rules[agent.profile], contact.channel)
            if reason is not None or agent.agent_id in contact.declined_by:
                return False
            self._offer(contact, agent, self._single_choice(contact, agent, "sticky"), events)
            return True
        lane = self._lane_of(contact)
        if self._unplaced:
            self._mark_unplaced()
        if lane.unsettled:
            self._settle(lane)
        if not lane.agents:
            return False
        ring_key = (contact.queue, contact.ring)
        reach = self._reach[ring_key]
        no_skill = self._no_skill.get(ring_key)
        if no_skill is None:
            no_skill = self._no_skill[ring_key] = len(self._members[contact.queue] - reach)
        decision = choose_agent(
            contact,
            lane,
            len(reach),
            no_skill,
            self._agents,
            self.now,
            self.config.candidates_per_explanation,
        )
        if decision is None:
            return False
        self._offer(contact, self._agents[decision.agent_id], decision, events)
        return True

    def _fill_agent(self, agent: Agent, events: list[DomainEvent]) -> None:
        """Give a READY agent with free slots the best waiting contacts it may take."""
        sticky_ids = self._sticky.get(agent.agent_id)
        while agent.agent_id in self._available:
            # Every change to the agent refreshes this (an offer below does too).
            takeable = agent.takeable
            if not takeable:
                return
            sticky: list[tuple[WaitingKey, float]] = []
            if sticky_ids:
                for cid in sticky_ids:
                    waiting = self._contacts[cid]
                    if waiting.channel in takeable and agent.agent_id not in waiting.declined_by:
                        rate = self._queues[waiting.queue].ageing_per_second
                        sticky.append((self._waiting_keys[cid], rate))
            choice = best_contact(
                agent.agent_id,
                self._agent_lanes.get(agent.agent_id, _NO_LANES),
                takeable,
                sticky,
                self._declined,
                self.now,
                self.config.candidates_per_explanation,
            )
            if choice is None:
                return
            contact_id, heads, scores, compared = choice
            contact = self._contacts[contact_id]
            decision = Decision(
                contact_id=contact_id,
                agent_id=agent.agent_id,
                at=self.now,
                decided_by="sticky" if contact.sticky_agent is not None else "agent-available",
                strategy=self._strategy_names[contact.queue],
                ring=contact.ring,
                ranked=heads,
                scores=scores,
                counts={"compared": compared},
                ranks_contacts=True,
            )
            self._offer(contact, agent, decision, events)

    def _single_choice(self, contact: Contact, agent: Agent, decided_by: str) -> Decision:
        """A decision with one candidate: the agent chosen for the contact by ``decided_by``
        (a sticky preference, or the channel that already rings that agent)."""
        return Decision(
            contact_id=contact.contact_id,
            agent_id=agent.agent_id,
            at=self.now,
            decided_by=decided_by,
            strategy=self._strategy_names[contact.queue],
            ring=contact.ring,
            ranked=(agent.agent_id,),
            scores=(0.0,),
            counts={"eligible": 1},
        )

    def _offer(
        self, contact: Contact, agent: Agent, decision: Decision, events: list[DomainEvent]
    ) -> None:
        if contact.state == ContactState.QUEUED:
            self._remove_waiting(contact)
        contact.transition(ContactState.OFFERED)
        now = self.now
        lane = self._lane_of(contact)
        contact.agent_id = agent.agent_id
        contact.offered_at = now
        contact.offer_deadline = now + lane.offer_timeout
        preferred = ""
        if decision.decided_by == "sticky":
            owner = contact.customer.owner_agent_id == agent.agent_id
            preferred = "owner" if owner else "last-agent"
        contact.sticky_agent = contact.sticky_until = None
        self._remember(contact, decision)
        self._push_timer(contact.offer_deadline, "offer", contact.contact_id)
        self._seq += 1
        agent.last_offer[contact.queue] = self._seq
        self._take_slot(agent, contact)
        lane.stats.offered(self._today)
        self._dirty_stats.add((contact.queue, contact.channel))
        self._dirty_contacts.add(contact.contact_id)
        accepting = agent.auto_accept
        if accepting is None:
            accepting = self._auto_accept
        auto_accept = contact.channel in accepting and decision.decided_by != "channel"
        events.append(
            ContactOffered(
                at=now,
                contact_id=contact.contact_id,
                channel=contact.channel,
                queue=contact.queue,
                customer_id=contact.customer.customer_id,
                agent_id=agent.agent_id,
                waited_seconds=to_milliseconds(now - contact.waiting_since),
                offer_deadline=contact.offer_deadline,
                decided_by=decision.decided_by,
                strategy=decision.strategy,
                ring=decision.ring,
                auto_accept=auto_accept,
                preferred=preferred,
                candidates=_compared(decision),
                priority=contact.priority + lane.tier_boost.get(contact.customer.tier or "", 0),
                tier=contact.customer.tier,
            )
        )
        if auto_accept and contact.channel != Channel.VOICE:
            # A call is connected when the phone answers (the channel reports it); a
            # chat or email is the agent's at once.
            self._connect(contact, agent, events)

    def _remember(self, contact: Contact, record: Decision) -> None:
        contact.explanations.append(record)
        limit = self.config.explanations_per_contact
        if len(contact.explanations) > limit:
            del contact.explanations[:-limit]

    def _take_slot(self, agent: Agent, contact: Contact) -> None:
        agent.active[contact.contact_id] = contact.channel
        agent.load[contact.channel] += 1
        self._worked(agent)
        self._refresh_agent(agent)

    def _release_slot(self, agent: Agent, contact: Contact) -> None:
        active = agent.active
        if contact.contact_id not in active:
            return
        del active[contact.contact_id]
        agent.load[contact.channel] -= 1
        if contact.awaiting_customer:
            agent.awaiting[contact.channel] -= 1
        contact.awaiting_customer = False
        self._worked(agent)
        self._refresh_agent(agent)

    def _worked(self, agent: Agent) -> None:
        """The agent did something now: it becomes the most recent worker (last in line
        among equals under every strategy, and for longest-idle)."""
        agent.last_work_at = self.now
        self._seq += 1
        agent.work_seq = self._seq

    def _refresh_agent(self, agent: Agent) -> None:
        """Recompute the agent's availability, its place in every lane it may serve and
        its wallboard presence after any change."""
        agent_id = agent.agent_id
        self._dirty_agents.add(agent_id)
        takeable = takeable_channels(agent, self._rules[agent.profile])
        before = agent.takeable
        agent.takeable = takeable
        if takeable:
            self._available.add(agent_id)
            self._unplaced.add(agent)
        elif before:
            self._available.discard(agent_id)
            self._unplaced.add(agent)
        new = presence(agent.state, len(agent.active))
        old = self._presence.get(agent_id)
        if new != old:
            self._presence[agent_id] = new
            for counts in self._counts_of[agent_id]:
                counts.move(old, new)

    def _mark_unplaced(self) -> None:
        """Mark the agents changed by this command in the lanes of every channel they
        could take before or can take now; :meth:`_settle` places them when the lane is
        read. Lanes nobody reads (a quiet queue, an overflow ring no contact reached)
        cost an agent that works one set insertion, not a placement."""
        lanes_of = self._agent_lanes
        for agent in self._unplaced:
            now = agent.takeable
            before = agent.placed_in
            if not now and not before:
                # Busy before and after (a call ended and the next one was offered at
                # once): in no lane either way.
                continue
            by_channel = lanes_of.get(agent.agent_id)
            if by_channel is None:
                continue
            for channel, lanes in by_channel.items():
                if channel in now or channel in before:
                    for lane in lanes:
                        lane.unsettled.add(agent)
            agent.placed_in = now
        self._unplaced.clear()

    def _settle(self, lane: Lane) -> None:
        """Place the lane's marked agents where their level and last work put them (out
        of the lane if they cannot take its channel now)."""
        # In order of last work: each one placed is then the newest of its level, which
        # appends (see AgentPool.place).
        unsettled = lane.unsettled
        pending = sorted(unsettled, key=_work_seq) if len(unsettled) > 1 else list(unsettled)
        unsettled.clear()
        pool = lane.agents
        channel = lane.channel
        for agent in pending:
            if channel in agent.takeable:
                pool.place(agent.agent_id, self._level(agent, lane), agent.work_seq)
            else:
                pool.discard(agent.agent_id)

    def _level(self, agent: Agent, lane: Lane) -> float:
        """The agent's level under the lane's strategy (see routing.strategies)."""
        strategy = lane.strategy
        if strategy is StrategyName.LONGEST_IDLE:
            return 0.0
        if strategy is StrategyName.LEAST_OCCUPIED:
            return occupancy(agent, self._rules[agent.profile].slots)
        if strategy is StrategyName.HIGHEST_PROFICIENCY:
            return lane.skill_levels[agent.agent_id]
        if strategy is StrategyName.ROUND_ROBIN:
            return float(agent.last_offer.get(lane.queue, -1))
        return self._taken_today(agent)

    def _taken_today(self, agent: Agent) -> float:
        """The fewest-today level: contacts answered today plus offers ringing now, so
        the level changes only when the agent works (an answer turns one into the other)."""
        count = agent.contacts_today if agent.today == self._today else 0
        contacts = self._contacts
        for contact_id in agent.active:
            if contacts[contact_id].state is ContactState.OFFERED:
                count += 1
        return float(count)

    def _new_day(self) -> None:
        """Contacts-today levels start again from zero at local midnight."""
        self._today = self._day.day(self.now)
        for agent_id in self._counts_today:
            for lanes in self._agent_lanes[agent_id].values():
                for lane in lanes:
                    if lane.strategy is StrategyName.FEWEST_TODAY:
                        lane.unsettled.add(self._agents[agent_id])

    # ------------------------------------------------------------------ agents

    def _upsert_agent(self, c: cmd.UpsertAgent, events: list[DomainEvent]) -> dict[str, Any]:
        problem = name_problem(c.agent_id)
        if problem:
            raise InvalidCommand(f"agent_id {problem}", details={"agent_id": c.agent_id})
        profile = c.profile or self.config.default_profile
        if profile not in self.config.profiles:
            raise NoSuchProfile(f"no routing profile {profile!r}", details={"profile": profile})
        unknown = sorted(set(c.queues) - set(self._queues))
        if unknown:
            raise NoSuchQueue(f"unknown queues {unknown}", details={"queues": unknown})
        skills: dict[str, int] = {}
        for skill, level in c.skills:
            if not isinstance(level, int) or not 1 <= level <= 5:
                raise InvalidCommand(
                    f"skill {skill!r} level must be 1-5, got {level!r}",
                    details={"skill": skill, "level": level},
                )
            skills[skill] = level
        auto_accept: tuple[Channel, ...] | None = None
        if c.auto_accept is not None:
            unknown = sorted(set(c.auto_accept) - set(CHANNEL_BY_NAME))
            if unknown:
                raise InvalidCommand(
                    f"unknown auto-accept channels {unknown}", details={"channels": unknown}
                )
            auto_accept = channels_in_order(c.auto_accept)
        agent = self._agents.get(c.agent_id)
        if agent is None:
            agent = Agent(
                agent_id=c.agent_id,
                name=c.name or c.agent_id,
                skills=skills,
                queues=frozenset(c.queues),
                profile=profile,
                since=self.now,
            )
            # Every agent gets its own place in the order of last work from the start.
            self._worked(agent)
            self._agents[agent.agent_id] = agent
        else:
            if profile != agent.profile and agent.active:
                raise AgentHasContacts(
                    f"agent {agent.agent_id} holds contacts; change the profile when free",
                    details={"agent_id": agent.agent_id},
                )
            self._unindex_agent(agent)
            agent.name = c.name or agent.name
            agent.skills = skills
            agent.serve(frozenset(c.queues))
            agent.profile = profile
        agent.auto_accept = auto_accept
        self._index_agent(agent)
        self._refresh_agent(agent)
        self._fill_agent(agent, events)
        return {"agent_id": agent.agent_id}

    def _unindex_agent(self, agent: Agent) -> None:
        agent_id = agent.agent_id
        old = self._presence.pop(agent_id, None)
        for queue in agent.queues:
            self._members[queue].discard(agent_id)
            if old is not None:
                self._agent_counts[queue].move(old, None)
        for lane in chain.from_iterable(self._agent_lanes.pop(agent_id, {}).values()):
            self._reach[(lane.queue, lane.ring)].discard(agent_id)
            lane.agents.discard(agent_id)
            lane.unsettled.discard(agent)
            lane.skill_levels.pop(agent_id, None)
        agent.placed_in = ()
        self._counts_of.pop(agent_id, None)
        self._counts_today.discard(agent_id)
        self._available.discard(agent_id)
        self._no_skill.clear()
        agent.takeable = ()

    def _index_agent(self, agent: Agent) -> None:
        agent_id = agent.agent_id
        self._no_skill.clear()
        for queue in agent.queues:
            self._members[queue].add(agent_id)
        self._counts_of[agent_id] = tuple(self._agent_counts[q] for q in sorted(agent.queues))
        lanes: dict[Channel, list[Lane]] = {}
        for name, rings in self._rings.items():
            config = self._queues[name]
            for ring in rings:
                if not self._in_reach(agent, name, ring):
                    continue
                self._reach[(name, ring.index)].add(agent_id)
                for channel in CHANNELS:
                    if channel not in config.channels:
                        continue
                    lane = self._lanes[(name, ring.index, channel)]
                    lanes.setdefault(channel, []).append(lane)
                    if config.strategy is StrategyName.HIGHEST_PROFICIENCY:
                        lane.skill_levels[agent_id] = skill_level(agent, ring.skills)
                    elif config.strategy is StrategyName.FEWEST_TODAY:
                        self._counts_today.add(agent_id)
        self._agent_lanes[agent_id] = {ch: tuple(found) for ch, found in lanes.items()}

    def _in_reach(self, agent: Agent, queue: str, ring: Ring) -> bool:
        if queue in agent.queues and meets(agent.skills, ring.skills):
            return True
        return any(
            extra in agent.queues and meets(agent.skills, self._rings[extra][0].skills)
            for extra in ring.extra_queues
        )

    def _set_agent_state(self, c: cmd.SetAgentState, events: list[DomainEvent]) -> None:
        agent = self._get_agent(c.agent_id)
        try:
            target = AgentState(c.state)
        except ValueError:
            raise InvalidCommand(
                f"unknown agent state {c.state!r} (offline, ready or not_ready)"
            ) from None
        reason = current_reason(c.reason) if target == AgentState.NOT_READY else None
        if target == AgentState.NOT_READY and reason not in self.config.reasons:
            raise UnknownNotReadyReason(
                f"unknown not-ready reason {reason!r}",
                details={"reason": reason, "known": sorted(self.config.reasons)},
            )
        connected = [
            cid
            for cid in agent.active
            if self._contacts[cid].state in (ContactState.CONNECTED, ContactState.WRAP_UP)
        ]
        if target == AgentState.OFFLINE and connected and not c.forced:
            raise AgentHasContacts(
                f"agent {agent.agent_id} still holds {len(connected)} contact(s)",
                details={"agent_id": agent.agent_id, "contacts": sorted(connected)},
            )
        self._change_agent_state(agent, target, reason, c.by, events)

    def _change_agent_state(
        self,
        agent: Agent,
        target: AgentState,
        reason: str | None,
        by: str,
        events: list[DomainEvent],
    ) -> None:
        now = self.now
        previous = agent.transition(target, reason)
        previous_seconds = now - agent.state_since
        agent.state_since = now
        if target == AgentState.READY:
            self._worked(agent)
        self._refresh_agent(agent)
        events.append(
            AgentStateChanged(
                at=now,
                agent_id=agent.agent_id,
                previous=previous,
                state=target,
                reason=agent.reason,
                previous_seconds=to_milliseconds(previous_seconds),
                by=by,
            )
        )
        if target == AgentState.OFFLINE:
            self._agent_left(agent, events)
        elif target == AgentState.NOT_READY:
            # Offers still ringing go back: a paused agent must not be handed new work.
            for cid in [cid for cid in agent.active if self._is_offered(cid)]:
                self._requeue_offer(self._contacts[cid], agent, events, "agent-not-ready")
        else:
            self._fill_agent(agent, events)

    def _is_offered(self, contact_id: str) -> bool:
        return self._contacts[contact_id].state == ContactState.OFFERED

    def _agent_left(self, agent: Agent, events: list[DomainEvent]) -> None:
        """Logged out: requeue ringing offers, close wrap-ups, widen sticky contacts."""
        for cid in list(agent.active):
            contact = self._contacts[cid]
            if contact.state == ContactState.OFFERED:
                self._requeue_offer(contact, agent, events, "agent-offline")
            elif contact.state == ContactState.WRAP_UP:
                self._finish_wrap_up(contact, agent, events, "agent-offline")
        for cid in list(self._sticky.get(agent.agent_id, ())):
            self._widen(self._contacts[cid], events, "agent-offline")

    # ------------------------------------------------------------------ offers

    def _accept(self, c: cmd.AcceptOffer, events: list[DomainEvent]) -> None:
        contact = self._get_contact(c.contact_id)
        self._require_state(contact, ContactState.OFFERED)
        self._require_holder(contact, c.agent_id)
        self._connect(contact, self._agents[c.agent_id], events)

    def _connect(
        self, contact: Contact, agent: Agent, events: list[DomainEvent], *, count: bool = True
    ) -> None:
        """OFFERED -> CONNECTED; ``count``: an answer of today (not a contact restored
        after a restart, answered in an earlier run)."""
        now = self.now
        contact.transition(ContactState.CONNECTED)
        contact.connected_at = now
        contact.offer_deadline = None
        self._forget_declines(contact)
        waited = now - contact.waiting_since
        self._dirty_contacts.add(contact.contact_id)
        if not count:
            return
        day = self._today
        if agent.today != day:
            agent.today, agent.contacts_today = day, 0
        agent.contacts_today += 1
        self._dirty_agents.add(agent.agent_id)
        self._qstats(contact.queue, contact.channel).answered(day, now, waited)
        self._dirty_stats.add((contact.queue, contact.channel))
        events.append(
            ContactConnected(
                at=now,
                contact_id=contact.contact_id,
                channel=contact.channel,
                queue=contact.queue,
                customer_id=contact.customer.customer_id,
                agent_id=agent.agent_id,
                waited_seconds=to_milliseconds(waited),
            )
        )

    def _decline(self, c: cmd.DeclineOffer, events: list[DomainEvent]) -> None:
        contact = self._get_contact(c.contact_id)
        self._require_state(contact, ContactState.OFFERED)
        self._require_holder(contact, c.agent_id)
        agent = self._agents[c.agent_id]
        events.append(
            ContactOfferDeclined(
                at=self.now,
                contact_id=contact.contact_id,
                channel=contact.channel,
                queue=contact.queue,
                customer_id=contact.customer.customer_id,
                agent_id=agent.agent_id,
            )
        )
        contact.declined_by = contact.declined_by | {agent.agent_id}
        self._declined[contact.contact_id] = contact.declined_by
        if contact.returned_until and agent.agent_id in contact.returned_until:
            del contact.returned_until[agent.agent_id]  # declined for good now
        self._release_slot(agent, contact)
        self._missed_offer(agent, events)
        self._back_to_queue(contact, events, "declined")

    def _not_answered(self, c: cmd.OfferNotAnswered, events: list[DomainEvent]) -> None:
        contact = self._get_contact(c.contact_id)
        self._require_state(contact, ContactState.OFFERED)
        self._require_holder(contact, c.agent_id)
        self._offer_timed_out(contact, events)

    def _offer_timed_out(self, contact: Contact, events: list[DomainEvent]) -> None:
        agent_id = contact.agent_id
        assert agent_id is not None
        agent = self._agents[agent_id]
        events.append(
            ContactOfferTimedOut(
                at=self.now,
                contact_id=contact.contact_id,
                channel=contact.channel,
                queue=contact.queue,
                customer_id=contact.customer.customer_id,
                agent_id=agent_id,
                offered_seconds=to_milliseconds(self.now - (contact.offered_at or self.now)),
            )
        )
        # Pause the agent first so the contact cannot be offered straight back to them.
        self._release_slot(agent, contact)
        self._missed_offer(agent, events)
        self._back_to_queue(contact, events, "no-answer")

    def _missed_offer(self, agent: Agent, events: list[DomainEvent]) -> None:
        """The one rule for an offer declined or not answered in time, on every channel:
        the agent goes NOT_READY("missed-offer") (their other ringing offers go back)."""
        missed = agent.state == AgentState.NOT_READY and agent.reason == MISSED_OFFER_REASON
        if not missed and agent.state != AgentState.OFFLINE:
            self._change_agent_state(
                agent, AgentState.NOT_READY, MISSED_OFFER_REASON, "system", events
            )

    def _requeue_offer(
        self, contact: Contact, agent: Agent, events: list[DomainEvent], reason: str
    ) -> None:
        self._release_slot(agent, contact)
        self._back_to_queue(contact, events, reason)

    def _back_to_queue(self, contact: Contact, events: list[DomainEvent], reason: str) -> None:
        """OFFERED -> QUEUED keeping its original wait, so it is back at the head."""
        contact.transition(ContactState.QUEUED)
        contact.sticky_agent = contact.sticky_until = None
        self._enter_queue(contact, events, reason)

    def _forget_declines(self, contact: Contact) -> None:
        if contact.contact_id in self._declined:
            del self._declined[contact.contact_id]
        contact.declined_by = NO_DECLINES
        contact.returned_until = None

    def _return_offer(self, c: cmd.ReturnOffer, events: list[DomainEvent]) -> None:
        contact = self._get_contact(c.contact_id)
        self._require_state(contact, ContactState.OFFERED)
        self._require_holder(contact, c.agent_id)
        retry = c.retry_seconds
        if not 0 <= retry <= 86_400:
            raise InvalidCommand(
                f"retry_seconds must be within 0-86400, not {retry}",
                details={"field": "retry_seconds"},
            )
        agent = self._agents[c.agent_id]
        returned = contact.returned_until
        # An agent who declined it for good stays out for good.
        if retry > 0 and (
            agent.agent_id not in contact.declined_by
            or (returned is not None and agent.agent_id in returned)
        ):
            until = self.now + retry
            if returned is None:
                returned = contact.returned_until = {}
            returned[agent.agent_id] = until
            contact.declined_by = contact.declined_by | {agent.agent_id}
            self._declined[contact.contact_id] = contact.declined_by
            self._push_timer(until, "returned", contact.contact_id)
        self._requeue_offer(contact, agent, events, c.reason)
        self._fill_agent(agent, events)

    def _end_returns(self, contact: Contact, events: list[DomainEvent]) -> None:
        """Returned offers whose time is up: those agents may be matched with it again."""
        returned = contact.returned_until
        if not returned:
            return
        now = self.now
        over = [agent_id for agent_id, until in returned.items() if until <= now]
        if not over:
            return
        for agent_id in over:
            del returned[agent_id]
        if not returned:
            contact.returned_until = None
        contact.declined_by = contact.declined_by.difference(over) or NO_DECLINES
        if contact.declined_by:
            self._declined[contact.contact_id] = contact.declined_by
        elif contact.contact_id in self._declined:
            del self._declined[contact.contact_id]
        self._dirty_contacts.add(contact.contact_id)
        if contact.state == ContactState.QUEUED:
            self._match_contact(contact, events)

    def _attach(self, c: cmd.AttachToAgent, events: list[DomainEvent]) -> dict[str, Any]:
        try:
            state = ContactState(c.state)
        except ValueError:
            state = ContactState.NEW
        if state not in _ATTACH_STATES:
            raise InvalidCommand(
                f"attach state must be offered or connected, not {c.state!r}",
                details={"field": "state"},
            )
        agent = self._get_agent(c.agent_id)
        contact = self._contacts.get(c.contact_id)
        restored = contact is None
        if contact is None:
            if c.contact_id in self._ended:
                self._get_contact(c.contact_id)  # raises: it has ended
            contact = self._attached_contact(c)
        self._require_state(
            contact, ContactState.QUEUED, ContactState.OFFERED, ContactState.CONNECTED
        )
        previous = contact.agent_id
        if previous == agent.agent_id:
            if contact.state == ContactState.OFFERED and state == ContactState.CONNECTED:
                self._connect(contact, agent, events)
                return {"contact_id": contact.contact_id, "state": contact.state, "changed": True}
            # Already so (a ring after the answer is an old one).
            return {"contact_id": contact.contact_id, "state": contact.state, "changed": False}
        self._check_room(agent, contact)
        # Whatever events the router would emit for a restored contact are left out: it
        # was offered and answered in an earlier run, which history already has.
        told: list[DomainEvent] = [] if restored else events
        events.append(
            ContactAttached(
                at=self.now,
                contact_id=contact.contact_id,
                channel=contact.channel,
                queue=contact.queue,
                customer_id=contact.customer.customer_id,
                agent_id=agent.agent_id,
                state=str(state),
                previous_agent_id=previous,
                restored=restored,
            )
        )
        holder = self._agents.get(previous) if previous is not None else None
        if contact.state != ContactState.QUEUED:
            # Offered to or talking with someone else: they are let go (their state kept).
            if holder is not None:
                self._release_slot(holder, contact)
            if contact.state == ContactState.CONNECTED:
                told.append(
                    self._transferred(contact, contact.queue, previous, agent.agent_id, "channel")
                )
                contact.connected_at = None
            contact.transition(ContactState.QUEUED)
            contact.ring = self._ring_at(contact)
            self._add_waiting(contact)
        self._offer(contact, agent, self._single_choice(contact, agent, "channel"), told)
        if state == ContactState.CONNECTED:
            self._connect(contact, agent, told, count=not restored)
        if holder is not None:
            self._fill_agent(holder, events)
        return {"contact_id": contact.contact_id, "state": contact.state, "changed": True}

    def _attached_contact(self, c: cmd.AttachToAgent) -> Contact:
        """A contact the router did not have, put in its queue's lane for a moment (the
        caller offers it straight away)."""
        queue = self._get_queue(c.queue)
        channel = CHANNEL_BY_NAME.get(c.channel)
        if channel is None:
            raise InvalidCommand(
                f"unknown channel {c.channel!r} (voice, chat or email)",
                details={"channel": c.channel},
            )
        if channel not in queue.channels:
            raise ChannelNotServed(
                f"queue {queue.name} does not take {channel} contacts",
                details={"queue": queue.name, "channel": channel},
            )
        problem = name_problem(c.contact_id)
        if problem:
            raise InvalidCommand(f"contact_id {problem}", details={"contact_id": c.contact_id})
        now = self.now
        self._seq += 1
        contact = Contact(
            contact_id=c.contact_id,
            channel=channel,
            queue=queue.name,
            customer=CustomerContext(
                customer_id=c.customer_id,
                tier=c.tier,
                owner_agent_id=c.owner_agent_id,
                last_agent_id=c.last_agent_id,
                last_served_at=c.last_served_at,
            ),
            priority=queue.base_priority if c.priority is None else c.priority,
            created_at=now,
            seq=self._seq,
            attributes=dict(c.attributes),
        )
        if c.waiting_since is not None:
            contact.waiting_since = contact.queue_entered_at = min(c.waiting_since, now)
        self._contacts[contact.contact_id] = contact
        contact.transition(ContactState.QUEUED)
        contact.ring = self._ring_at(contact)
        self._add_waiting(contact)
        return contact

    def _check_room(self, agent: Agent, contact: Contact) -> None:
        """The channel's word goes, but never past the agent's capacity (the router
        would then offer them more than they can take)."""
        if agent.agent_id == contact.agent_id:
            return
        profile = self._rules[agent.profile]
        channel = contact.channel
        full = agent.load[channel] >= profile.slots.get(channel, 0) or (
            profile.max_total is not None and len(agent.active) >= profile.max_total
        )
        if full:
            raise AgentUnavailable(
                f"agent {agent.agent_id} has no free {channel} slot for {contact.contact_id}",
                details={"agent_id": agent.agent_id, "reason": "capacity"},
            )

    # ------------------------------------------------------------------ ending

    def _hang_up(self, c: cmd.HangUp, events: list[DomainEvent]) -> None:
        contact = self._get_contact(c.contact_id)
        self._require_state(
            contact, ContactState.QUEUED, ContactState.OFFERED, ContactState.CONNECTED
        )
        now = self.now
        if contact.state == ContactState.CONNECTED:
            self._start_wrap_up(contact, events)
            return
        agent_id = contact.agent_id
        if contact.state == ContactState.QUEUED:
            self._remove_waiting(contact)
        else:
            assert agent_id is not None
            self._release_slot(self._agents[agent_id], contact)
        contact.transition(ContactState.ABANDONED)
        waited = now - contact.waiting_since
        self._qstats(contact.queue, contact.channel).abandoned(
            self._today, now, waited, self.config.short_abandon_seconds
        )
        self._dirty_stats.add((contact.queue, contact.channel))
        events.append(
            ContactAbandoned(
                at=now,
                contact_id=contact.contact_id,
                channel=contact.channel,
                queue=contact.queue,
                customer_id=contact.customer.customer_id,
                waited_seconds=to_milliseconds(waited),
                agent_id=agent_id,
                reason=c.reason,
            )
        )
        self._ended_contact(contact, c.reason)
        if agent_id is not None:
            self._fill_agent(self._agents[agent_id], events)

    def _start_wrap_up(self, contact: Contact, events: list[DomainEvent]) -> None:
        queue = self._queues[contact.queue]
        agent_id = contact.agent_id
        assert agent_id is not None
        contact.transition(ContactState.WRAP_UP)
        now = self.now
        if queue.wrap_up_seconds is None:
            deadline = now + queue.wrap_up_max_seconds
            shown: float | None = None
        else:
            deadline = shown = now + queue.wrap_up_seconds
        contact.wrap_up_deadline = deadline
        self._dirty_contacts.add(contact.contact_id)
        events.append(
            WrapUpStarted(
                at=now,
                contact_id=contact.contact_id,
                channel=contact.channel,
                queue=contact.queue,
                customer_id=contact.customer.customer_id,
                agent_id=agent_id,
                talk_seconds=to_milliseconds(now - (contact.connected_at or now)),
                deadline=shown,
            )
        )
        if queue.wrap_up_seconds is not None and queue.wrap_up_seconds <= 0:
            self._finish_wrap_up(contact, self._agents[agent_id], events, "timer")
        else:
            self._push_timer(deadline, "wrap", contact.contact_id)

    def _end_wrap_up(self, c: cmd.EndWrapUp, events: list[DomainEvent]) -> None:
        contact = self._get_contact(c.contact_id)
        self._require_state(contact, ContactState.WRAP_UP)
        self._require_holder(contact, c.agent_id)
        self._finish_wrap_up(contact, self._agents[c.agent_id], events, "agent")

    def _finish_wrap_up(
        self, contact: Contact, agent: Agent, events: list[DomainEvent], ended_by: str
    ) -> None:
        contact.transition(ContactState.CLOSED)
        self._release_slot(agent, contact)
        for event in (
            WrapUpEnded(
                at=self.now,
                contact_id=contact.contact_id,
                channel=contact.channel,
                queue=contact.queue,
                customer_id=contact.customer.customer_id,
                agent_id=agent.agent_id,
                ended_by=ended_by,
            ),
            ContactClosed(
                at=self.now,
                contact_id=contact.contact_id,
                channel=contact.channel,
                queue=contact.queue,
                customer_id=contact.customer.customer_id,
                agent_id=agent.agent_id,
                reason="completed",
            ),
        ):
            events.append(event)
        self._ended_contact(contact, "completed")
        self._fill_agent(agent, events)

    def _withdraw(self, c: cmd.WithdrawContact, events: list[DomainEvent]) -> None:
        contact = self._get_contact(c.contact_id)
        self._require_state(contact, ContactState.QUEUED, ContactState.OFFERED)
        self._close_unserved(contact, events, c.reason)

    def _close_unserved(self, contact: Contact, events: list[DomainEvent], reason: str) -> None:
        agent_id = contact.agent_id
        if contact.state == ContactState.QUEUED:
            self._remove_waiting(contact)
        elif agent_id is not None:
            self._release_slot(self._agents[agent_id], contact)
        contact.transition(ContactState.CLOSED)
        events.append(
            ContactClosed(
                at=self.now,
                contact_id=contact.contact_id,
                channel=contact.channel,
                queue=contact.queue,
                customer_id=contact.customer.customer_id,
                agent_id=agent_id,
                reason=reason,
            )
        )
        self._ended_contact(contact, reason)
        if agent_id is not None:
            self._fill_agent(self._agents[agent_id], events)

    def _ended_contact(self, contact: Contact, reason: str) -> None:
        contact.end_reason = reason
        del self._contacts[contact.contact_id]
        if contact.contact_id in self._declined:
            del self._declined[contact.contact_id]
        self._dirty_contacts.discard(contact.contact_id)
        self._removed_contacts.add(contact.contact_id)
        self._ended[contact.contact_id] = contact
        if len(self._ended) > _RECENTLY_ENDED:
            # An OrderedDict: a plain dict would keep insertion order too, but finding its
            # first entry skips every slot deleted before it (10,000 steps here).
            self._ended.popitem(last=False)

    # ------------------------------------------------------------------ transfers, supervisor

    def _transfer_to_queue(self, c: cmd.TransferToQueue, events: list[DomainEvent]) -> None:
        contact = self._get_contact(c.contact_id)
        self._require_state(contact, ContactState.CONNECTED)
        queue = self._get_queue(c.queue)
        self._check_channel(queue, contact)
        agent_id = contact.agent_id
        assert agent_id is not None
        agent = self._agents[agent_id]
        from_queue = contact.queue
        self._release_slot(agent, contact)
        contact.transition(ContactState.QUEUED)
        contact.queue = queue.name
        contact.waiting_since = contact.queue_entered_at = self.now
        contact.max_wait_done = False
        self._forget_declines(contact)
        contact.connected_at = None
        events.append(self._transferred(contact, from_queue, agent_id, None, "agent"))
        self._choose_sticky(contact, queue)
        self._enter_queue(contact, events, "transfer")
        self._fill_agent(agent, events)

    def _transfer_to_agent(self, c: cmd.TransferToAgent, events: list[DomainEvent]) -> None:
        contact = self._get_contact(c.contact_id)
        self._require_state(contact, ContactState.CONNECTED)
        target = self._get_agent(c.agent_id)
        if target.agent_id == contact.agent_id:
            raise AgentUnavailable(
                f"contact {contact.contact_id} is already with agent {target.agent_id}",
                details={"agent_id": target.agent_id, "reason": "same-agent"},
            )
        self._check_direct(contact, target)
        agent_id = contact.agent_id
        assert agent_id is not None
        agent = self._agents[agent_id]
        self._release_slot(agent, contact)
        # The transferred part of the conversation is a new wait for the customer.
        contact.waiting_since = contact.queue_entered_at = self.now
        contact.connected_at = None
        self._forget_declines(contact)
        events.append(self._transferred(contact, contact.queue, agent_id, target.agent_id, "agent"))
        self._offer(contact, target, self._direct(contact, target), events)
        self._fill_agent(agent, events)

    def _move(self, c: cmd.MoveContact, events: list[DomainEvent]) -> None:
        contact = self._get_contact(c.contact_id)
        self._require_state(contact, ContactState.QUEUED)
        queue = self._get_queue(c.queue)
        self._check_channel(queue, contact)
        self._move_to_queue(contact, queue, events, "supervisor")

    def _move_to_queue(
        self, contact: Contact, queue: QueueConfig, events: list[DomainEvent], by: str
    ) -> None:
        from_queue = contact.queue
        self._remove_waiting(contact)
        contact.queue = queue.name
        contact.queue_entered_at = self.now
        contact.sticky_agent = contact.sticky_until = None
        contact.max_wait_done = False
        events.append(self._transferred(contact, from_queue, None, None, by))
        self._enter_queue(contact, events, "moved")

    def _offer_to_agent(self, c: cmd.OfferToAgent, events: list[DomainEvent]) -> None:
        contact = self._get_contact(c.contact_id)
        self._require_state(contact, ContactState.QUEUED)
        target = self._get_agent(c.agent_id)
        self._check_direct(contact, target)
        self._offer(contact, target, self._direct(contact, target), events)

    def _check_direct(self, contact: Contact, target: Agent) -> None:
        reason = exclusion(target, self._rules[target.profile], contact.channel)
        if reason is not None:
            raise AgentUnavailable(
                f"agent {target.agent_id} cannot take a {contact.channel} contact now: {reason}",
                details={"agent_id": target.agent_id, "reason": reason},
            )

    def _direct(self, contact: Contact, target: Agent) -> Decision:
        return Decision(
            contact_id=contact.contact_id,
            agent_id=target.agent_id,
            at=self.now,
            decided_by="direct",
            strategy=self._strategy_names[contact.queue],
            ring=contact.ring,
            ranked=(target.agent_id,),
            scores=(0.0,),
            counts={"eligible": 1},
        )

    def _check_channel(self, queue: QueueConfig, contact: Contact) -> None:
        if contact.channel not in queue.channels:
            raise ChannelNotServed(
                f"queue {queue.name} does not take {contact.channel} contacts",
                details={"queue": queue.name, "channel": contact.channel},
            )

    def _transferred(
        self,
        contact: Contact,
        from_queue: str,
        from_agent: str | None,
        to_agent: str | None,
        by: str,
    ) -> ContactTransferred:
        return ContactTransferred(
            at=self.now,
            contact_id=contact.contact_id,
            channel=contact.channel,
            queue=contact.queue,
            customer_id=contact.customer.customer_id,
            from_queue=from_queue,
            from_agent_id=from_agent,
            to_agent_id=to_agent,
            by=by,
        )

    def _change_priority(self, c: cmd.ChangePriority, events: list[DomainEvent]) -> None:
        contact = self._get_contact(c.contact_id)
        if contact.state in ENDED_STATES:
            raise IllegalTransition(f"contact {contact.contact_id} has ended")
        previous = contact.priority
        waiting = contact.state == ContactState.QUEUED
        if waiting:
            self._remove_waiting(contact)
        contact.priority = c.priority
        if waiting:
            self._add_waiting(contact)
        self._dirty_contacts.add(contact.contact_id)
        events.append(
            ContactPriorityChanged(
                at=self.now,
                contact_id=contact.contact_id,
                channel=contact.channel,
                queue=contact.queue,
                customer_id=contact.customer.customer_id,
                previous=previous,
                priority=c.priority,
            )
        )

    def _awaiting_customer(self, c: cmd.SetAwaitingCustomer, events: list[DomainEvent]) -> None:
        contact = self._get_contact(c.contact_id)
        self._require_state(contact, ContactState.CONNECTED)
        if contact.awaiting_customer == c.awaiting:
            return
        agent = self._agents[contact.agent_id or ""]
        contact.awaiting_customer = c.awaiting
        agent.awaiting[contact.channel] += 1 if c.awaiting else -1
        self._dirty_contacts.add(contact.contact_id)
        # Chat activity is work: the agent just wrote, or has a reply to read.
        self._worked(agent)
        self._refresh_agent(agent)
        self._fill_agent(agent, events)

    def _identify_customer(self, c: cmd.IdentifyCustomer, events: list[DomainEvent]) -> None:
        contact = self._get_contact(c.contact_id)
        known = contact.customer
        if known.customer_id == c.customer_id:
            return  # told twice
        if known.customer_id is not None:
            raise IllegalTransition(
                f"contact {contact.contact_id} already has customer {known.customer_id}",
                details={"contact_id": contact.contact_id, "customer_id": known.customer_id},
            )
        # What routed it (tier, owner, last agent) stays: the decision is taken.
        contact.customer = CustomerContext(
            customer_id=c.customer_id,
            tier=known.tier,
            owner_agent_id=known.owner_agent_id,
            last_agent_id=known.last_agent_id,
            last_served_at=known.last_served_at,
        )
        self._dirty_contacts.add(contact.contact_id)
        events.append(
            ContactCustomerIdentified(
                at=self.now,
                contact_id=contact.contact_id,
                channel=contact.channel,
                queue=contact.queue,
                customer_id=c.customer_id,
                agent_id=contact.agent_id,
                state=str(contact.state),
            )
        )

    # ------------------------------------------------------------------ timers

    def _fire_due(self, events: list[DomainEvent]) -> None:
        timers = self._timers
        now = self.now
        while timers and timers[0][0] <= now:
            due, contact_id, _, kind = heappop(timers)
            contact = self._contacts.get(contact_id)
            if contact is None:
                continue
            if kind == "offer":
                if contact.state == ContactState.OFFERED and contact.offer_deadline == due:
                    self._offer_timed_out(contact, events)
            elif kind == "ring":
                # Only the ring timer scheduled last counts: an earlier one (the contact
                # was moved, say) would overflow it at a moment a reload cannot repeat.
                if contact.state == ContactState.QUEUED and self._next_ring_due(contact) == due:
                    self._overflow(contact, events)
            elif kind == "sticky":
                if contact.state == ContactState.QUEUED and contact.sticky_until == due:
                    self._widen(contact, events, "window-expired")
            elif kind == "wrap":
                if contact.state == ContactState.WRAP_UP and contact.wrap_up_deadline == due:
                    agent = self._agents[contact.agent_id or ""]
                    self._finish_wrap_up(contact, agent, events, "timer")
            elif kind == "returned":
                self._end_returns(contact, events)
            elif kind == "max_wait" and contact.state == ContactState.QUEUED:
                max_wait = self._queues[contact.queue].max_wait
                if (
                    max_wait is not None
                    and not contact.max_wait_done
                    and contact.queue_entered_at + max_wait.seconds == due
                ):
                    self._max_wait(contact, events)

    def _overflow(self, contact: Contact, events: list[DomainEvent]) -> None:
        ring = self._ring_at(contact)
        if ring <= contact.ring:
            return
        self._remove_waiting(contact)
        contact.ring = ring
        self._add_waiting(contact)
        self._schedule_waiting_timers(contact)
        self._dirty_contacts.add(contact.contact_id)
        current = self._rings[contact.queue][ring]
        events.append(
            ContactOverflowed(
                at=self.now,
                contact_id=contact.contact_id,
                channel=contact.channel,
                queue=contact.queue,
                customer_id=contact.customer.customer_id,
                ring=ring,
                after_seconds=current.starts_after,
                skills=tuple((r.skill, r.min_level) for r in current.skills),
                extra_queues=current.extra_queues,
            )
        )
        self._match_contact(contact, events)

    def _widen(self, contact: Contact, events: list[DomainEvent], reason: str) -> None:
        agent_id = contact.sticky_agent
        if agent_id is None:
            return
        self._remove_waiting(contact)
        contact.sticky_agent = contact.sticky_until = None
        self._add_waiting(contact)
        self._dirty_contacts.add(contact.contact_id)
        events.append(
            ContactStickyWidened(
                at=self.now,
                contact_id=contact.contact_id,
                channel=contact.channel,
                queue=contact.queue,
                customer_id=contact.customer.customer_id,
                agent_id=agent_id,
                reason=reason,
            )
        )
        self._match_contact(contact, events)

    def _max_wait(self, contact: Contact, events: list[DomainEvent]) -> None:
        max_wait = self._queues[contact.queue].max_wait
        assert max_wait is not None
        contact.max_wait_done = True
        self._dirty_contacts.add(contact.contact_id)
        if max_wait.action == MaxWaitAction.CALLBACK:
            contact.callback_offered = True
            events.append(
                ContactCallbackOffered(
                    at=self.now,
                    contact_id=contact.contact_id,
                    channel=contact.channel,
                    queue=contact.queue,
                    customer_id=contact.customer.customer_id,
                    waited_seconds=to_milliseconds(self.now - contact.waiting_since),
                )
            )
        elif max_wait.action == MaxWaitAction.MOVE and max_wait.target_queue is not None:
            target = self._queues[max_wait.target_queue]
            self._move_to_queue(contact, target, events, "max-wait")
        else:
            self._close_unserved(contact, events, "max-wait-voicemail")

    # ------------------------------------------------------------------ queries

    def _explain(self, c: cmd.ExplainContact, _events: list[DomainEvent]) -> dict[str, Any]:
        contact = self._live_or_ended(c.contact_id)
        return {
            "contact_id": c.contact_id,
            "state": contact.state,
            "queue": contact.queue,
            "decisions": contact.explanation_records(),
        }

    def _live_or_ended(self, contact_id: str) -> Contact:
        contact = self._contacts.get(contact_id) or self._ended.get(contact_id)
        if contact is None:
            raise NoSuchContact(
                f"unknown contact {contact_id!r}", details={"contact_id": contact_id}
            )
        return contact

    def _contact_view(self, contact_id: str) -> dict[str, Any]:
        return self._live_or_ended(contact_id).to_dict()

    def _describe_contact(
        self, c: cmd.DescribeContact, _events: list[DomainEvent]
    ) -> dict[str, Any]:
        data = self._contact_view(c.contact_id)
        contact = self._contacts.get(c.contact_id)
        view = {
            k: data[k]
            for k in (
                "contact_id",
                "channel",
                "queue",
                "state",
                "agent_id",
                "priority",
                "ring",
                "sticky_agent",
                "sticky_until",
                "waiting_since",
                "due_at",
                "callback_offered",
                "end_reason",
            )
        }
        view["customer_id"] = data["customer"]["customer_id"]
        view["position"] = view["estimated_wait_seconds"] = None
        if contact is not None and contact.state == ContactState.QUEUED:
            position, ewt = self._position(contact)
            view["position"] = position
            view["estimated_wait_seconds"] = ewt
        return view

    def _position(self, contact: Contact) -> tuple[int, float]:
        """1-based place among contacts waiting in its queue and channel, and estimated wait."""
        qc = (contact.queue, contact.channel)
        key = self._waiting_keys[contact.contact_id]
        # Contacts ahead in every ring of the queue, and in sticky windows.
        ahead = sum(bisect_left(lane.waiting, key) for lane in self._queue_lanes[qc])
        ahead += sum(1 for other in self._sticky_waiting.get(qc, {}).values() if other < key)
        position = ahead + 1
        rate = self._qstats(*qc).answer_rate(self.now)
        if rate > 0:
            ewt = position / rate
        else:
            # No answers in the window yet: assume one contact per logged-in agent per
            # offer timeout, a deliberately pessimistic guess.
            agents = max(1, self._agent_counts[contact.queue].logged_in)
            timeout = self._queues[contact.queue].offer_timeout_seconds.get(contact.channel, 30.0)
            ewt = position * timeout / agents
        return position, round(ewt, 1)

    def _describe_agent(self, c: cmd.DescribeAgent, _events: list[DomainEvent]) -> dict[str, Any]:
        agent = self._get_agent(c.agent_id)
        data = agent.to_dict()
        data["available"] = agent.agent_id in self._available
        data["state_seconds"] = to_milliseconds(self.now - agent.state_since)
        return data

    def _queue_statistics(
        self, _c: cmd.QueueStatistics, _events: list[DomainEvent]
    ) -> dict[str, Any]:
        day = self._day.day(self.now)
        queues: dict[str, Any] = {}
        for name, queue in self._queues.items():
            channels = {
                str(ch): self._qstats(name, ch).view(self.now, day)
                for ch in CHANNELS
                if ch in queue.channels
            }
            queues[name] = {
                "channels": channels,
                "agents": dict(self._agent_counts[name].counts),
            }
        return {"at": self.now, "queues": queues}

    def _describe_floor(self, _c: cmd.DescribeFloor, _events: list[DomainEvent]) -> dict[str, Any]:
        agents: list[dict[str, Any]] = []
        for agent in self._agents.values():
            held: list[dict[str, Any]] = []
            for contact_id in agent.active:
                contact = self._contacts.get(contact_id)
                if contact is None:
                    continue
                since = contact.connected_at if contact.connected_at is not None else None
                if since is None:
                    since = contact.offered_at
                held.append(
                    {
                        "contact_id": contact_id,
                        "channel": str(contact.channel),
                        "queue": contact.queue,
                        "state": str(contact.state),
                        "customer_id": contact.customer.customer_id,
                        "since": since,
                    }
                )
            agents.append(
                {
                    "agent_id": agent.agent_id,
                    "name": agent.name,
                    "state": str(agent.state),
                    "reason": agent.reason,
                    "state_seconds": to_milliseconds(self.now - agent.state_since),
                    "queues": list(agent.queue_order),
                    "contacts": held,
                }
            )
        return {"at": self.now, "agents": agents}

    # ------------------------------------------------------------------ checks for tests

    def check_invariants(self) -> None:
        """Raise AssertionError if any structural invariant is broken (used by tests)."""
        assert not self._unplaced, "agents left unmarked after a command"
        for lane in self._lanes.values():
            self._settle(lane)
        for agent in self._agents.values():
            profile = self._rules[agent.profile]
            for channel in CHANNELS:
                held = sum(1 for ch in agent.active.values() if ch == channel)
                assert held == agent.load[channel], (agent.agent_id, channel)
                assert held <= profile.slots.get(channel, 0), ("over", agent.agent_id, channel)
            if profile.max_total is not None:
                assert len(agent.active) <= profile.max_total
            takeable = takeable_channels(agent, profile)
            assert agent.takeable == takeable, ("takeable", agent.agent_id)
            assert (agent.agent_id in self._available) == bool(takeable), agent.agent_id
            for cid in agent.active:
                contact = self._contacts[cid]
                assert contact.agent_id == agent.agent_id
                assert contact.state in (
                    ContactState.OFFERED,
                    ContactState.CONNECTED,
                    ContactState.WRAP_UP,
                )
        for contact in self._contacts.values():
            if contact.state == ContactState.QUEUED:
                assert contact.agent_id is None
            elif contact.state in (
                ContactState.OFFERED,
                ContactState.CONNECTED,
                ContactState.WRAP_UP,
            ):
                assert contact.agent_id is not None
                assert contact.contact_id in self._agents[contact.agent_id].active
        queued = {c.contact_id for c in self._contacts.values() if c.state == ContactState.QUEUED}
        assert set(self._waiting_keys) == queued, "waiting keys"
        expected: dict[tuple[str, int, Channel], list[WaitingKey]] = {k: [] for k in self._lanes}
        for contact_id in queued:
            contact = self._contacts[contact_id]
            # Looked up afresh, not through the contact's cached lane.
            key = self._key(contact, self._lanes[(contact.queue, contact.ring, contact.channel)])
            assert self._waiting_keys[contact_id] == key, ("stale waiting key", contact_id)
            if contact.sticky_agent is None:
                expected[(contact.queue, contact.ring, contact.channel)].append(key)
            else:
                qc = (contact.queue, contact.channel)
                assert self._sticky_waiting[qc][contact_id] == key, ("sticky", contact_id)
        for lane_key, lane in self._lanes.items():
            assert lane.waiting == sorted(expected[lane_key]), ("lane order", lane_key)
        self._check_pools()
        queued_unsticky = [
            c
            for c in self._contacts.values()
            if c.state == ContactState.QUEUED and c.sticky_agent is None
        ]
        # Work-conserving: no ready agent with a free slot is left idle next to a contact
        # it may take (sticky contacts wait for their preferred agent on purpose).
        for contact in queued_unsticky:
            for agent_id in self._reach[(contact.queue, contact.ring)] & self._available:
                agent = self._agents[agent_id]
                if agent_id in contact.declined_by:
                    continue
                reason = exclusion(agent, self._rules[agent.profile], contact.channel)
                assert reason is not None, (
                    "idle agent next to waiting contact",
                    agent_id,
                    contact.contact_id,
                )

    def _check_pools(self) -> None:
        """Each lane's free agents are exactly those in reach who can take its channel,
        in the order the strategy defines, recomputed from scratch."""
        for (queue, ring, channel), lane in self._lanes.items():
            requirements = self._rings[queue][ring].skills
            members = [
                self._agents[a]
                for a in self._reach[(queue, ring)]
                if channel
                in takeable_channels(self._agents[a], self._rules[self._agents[a].profile])
            ]
            levels = {a.agent_id: self._reference_level(a, lane, requirements) for a in members}
            order = sorted(members, key=lambda a: (levels[a.agent_id], a.work_seq))
            assert list(lane.agents) == [a.agent_id for a in order], ("pool", queue, ring, channel)
            for agent_id, level in levels.items():
                assert lane.agents.level(agent_id) == level, ("level", agent_id, queue, ring)

    def _reference_level(
        self, agent: Agent, lane: Lane, requirements: tuple[SkillRequirement, ...]
    ) -> float:
        strategy = lane.strategy
        if strategy is StrategyName.LONGEST_IDLE:
            return 0.0
        if strategy is StrategyName.LEAST_OCCUPIED:
            return occupancy(agent, self._rules[agent.profile].slots)
        if strategy is StrategyName.HIGHEST_PROFICIENCY:
            return skill_level(agent, requirements)
        if strategy is StrategyName.ROUND_ROBIN:
            return float(agent.last_offer.get(lane.queue, -1))
        answered = agent.contacts_today if agent.today == self._day.day(self.now) else 0
        ringing = sum(
            1 for cid in agent.active if self._contacts[cid].state == ContactState.OFFERED
        )
        return float(answered + ringing)


def _compared(decision: Decision) -> int:
    """How many candidates a decision compared (agents, or contacts when it ranks them)."""
    counts = decision.counts
    if decision.ranks_contacts:
        return counts.get("compared", len(decision.ranked))
    return counts.get("eligible", len(decision.ranked))


__all__ = ["Changes", "Outcome", "RoutingEngine"]
