"""The pure decision core: who can take what, and which pair wins.

Functions here read the engine's lanes (waiting contacts and free agents per queue,
ring and channel) and return a decision with its explanation; they never mutate
anything, never await and never read the clock (``now`` is passed in). The engine
applies the decisions they return and keeps the lanes up to date.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from routing.model import (
    CHANNELS,
    Agent,
    AgentState,
    Channel,
    Contact,
    Decision,
    QueueConfig,
    RoutingProfile,
    StrategyName,
)
from routing.stats import QueueChannelStats
from routing.strategies import AgentPool

# Exclusion reasons shown to supervisors.
OFFLINE = "offline"
NOT_READY = "not-ready"
OVER_CAPACITY = "over-capacity"
BUSY = "busy"
NO_CHANNEL = "channel-not-in-profile"
DECLINED = "declined"
NO_SKILL = "no-skill"
UNAVAILABLE = "unavailable"


class ChannelRules:
    """A routing profile laid out for the availability checks, which run on every agent
    change: the channels with capacity, their slots, and what blocks each of them."""

    __slots__ = ("blocked_by", "channels", "entries", "max_total", "name", "slots")

    def __init__(self, profile: RoutingProfile) -> None:
        self.name = profile.name
        self.channels: tuple[Channel, ...] = tuple(
            channel for channel in CHANNELS if profile.capacity.get(channel, 0) > 0
        )
        self.slots: dict[Channel, int] = {ch: profile.capacity[ch] for ch in self.channels}
        # Per channel: (channel whose contacts block it, whether those awaiting the
        # customer are let off).
        self.blocked_by: dict[Channel, tuple[tuple[Channel, bool], ...]] = {
            channel: tuple(
                (rule.when, rule.unless_awaiting_customer)
                for rule in profile.blocks
                if channel in rule.blocks
            )
            for channel in self.channels
        }
        self.max_total = profile.max_total
        # The same, one entry per channel, for takeable_channels (one tuple walk rather
        # than three dict lookups a channel).
        self.entries: tuple[tuple[Channel, int, tuple[tuple[Channel, bool], ...]], ...] = tuple(
            (channel, self.slots[channel], self.blocked_by[channel]) for channel in self.channels
        )


def exclusion(agent: Agent, rules: ChannelRules, channel: Channel) -> str | None:
    """Why ``agent`` cannot take a new ``channel`` contact now, or None if they can."""
    if agent.state != AgentState.READY:
        return OFFLINE if agent.state == AgentState.OFFLINE else NOT_READY
    slots = rules.slots.get(channel, 0)
    if slots <= 0:
        return NO_CHANNEL
    if agent.load[channel] >= slots:
        return OVER_CAPACITY
    if rules.max_total is not None and len(agent.active) >= rules.max_total:
        return OVER_CAPACITY
    for when, unless_awaiting in rules.blocked_by[channel]:
        holding = agent.load[when]
        if unless_awaiting:
            holding -= agent.awaiting[when]
        if holding > 0:
            return BUSY
    return None


def takeable_channels(agent: Agent, rules: ChannelRules) -> tuple[Channel, ...]:
    """Channels ``agent`` can take a new contact on now (``exclusion`` is None).

    The same checks as ``exclusion``, in one pass: this runs on every agent change.
    """
    if agent.state != AgentState.READY:
        return ()
    if rules.max_total is not None and len(agent.active) >= rules.max_total:
        return ()
    load = agent.load
    takeable: list[Channel] = []
    for channel, slots, blocked_by in rules.entries:
        if load[channel] >= slots:
            continue
        blocked = False
        for when, unless_awaiting in blocked_by:
            holding = load[when]
            if unless_awaiting:
                holding -= agent.awaiting[when]
            if holding > 0:
                blocked = True
                break
        if not blocked:
            takeable.append(channel)
    return tuple(takeable)


# A waiting contact's sort key inside one lane: (-static priority, waiting since, seq, id).
# Effective priority at ``now`` is ``-key[0] + ageing_rate * now``. Typed as a tuple of
# any length on purpose: the compiled engine would unpack a fixed-length tuple into a C
# struct and build a new tuple each time it goes back into a list or dict (an allocation
# per move, and identity checks that never match).
WaitingKey = tuple[Any, ...]


class Lane:
    """One (queue, ring, channel): the contacts waiting there and the agents free for them.

    ``waiting`` holds the keys of the contacts in this ring of the queue (not held by a
    sticky window), sorted: static priority, then arrival. Ageing is linear per queue,
    so the order inside a lane never changes; heads of different lanes compare at
    ``now``. ``agents`` holds the agents in reach of the ring who are READY with a free
    slot on the channel, in the queue strategy's order (the engine keeps it).
    """

    __slots__ = (
        "ageing_per_second",
        "agents",
        "channel",
        "offer_timeout",
        "queue",
        "ring",
        "skill_levels",
        "stats",
        "strategy",
        "strategy_name",
        "tier_boost",
        "unsettled",
        "waiting",
    )

    def __init__(
        self, queue: str, ring: int, channel: Channel, config: QueueConfig, stats: QueueChannelStats
    ) -> None:
        self.queue = queue
        self.ring = ring
        self.channel = channel
        # The queue's settings that every decision reads, as plain values.
        self.strategy = config.strategy
        self.strategy_name = config.strategy.value
        self.ageing_per_second = config.ageing_per_second
        self.tier_boost: dict[str, int] = dict(config.tier_boost)
        self.offer_timeout = config.offer_timeout_seconds.get(channel, 30.0)
        self.waiting: list[WaitingKey] = []
        self.agents = AgentPool(config.strategy)
        # Agents whose place in ``agents`` may be out of date: the engine places them
        # before the lane is read.
        self.unsettled: set[Agent] = set()
        # highest-proficiency: each agent in reach's level in this ring's skills.
        self.skill_levels: dict[str, float] = {}
        # The (queue, channel)'s statistics, shared by the queue's lanes of every ring.
        self.stats = stats


_NONE: frozenset[str] = frozenset()


def choose_agent(
    contact: Contact,
    lane: Lane,
    in_reach: int,
    no_skill: int,
    agents: dict[str, Agent],
    now: float,
    listed: int,
) -> Decision | None:
    """Best free agent of ``lane`` for ``contact`` under the queue strategy.

    The lane's pool holds only agents who are READY with a free slot on the channel (the
    engine keeps it so), so the one exclusion left to check is a decline. ``in_reach``
    counts every agent in reach of the ring and ``no_skill`` the queue's agents lacking
    the ring's skills: both appear in the counts.
    """
    pool = lane.agents
    declined = {a for a in contact.declined_by if a in pool} if contact.declined_by else _NONE
    eligible = len(pool) - len(declined)
    counts: dict[str, int] = {}
    if declined:
        counts[DECLINED] = len(declined)
    unavailable = in_reach - len(pool)
    if unavailable:
        counts[UNAVAILABLE] = unavailable
    if no_skill:
        counts[NO_SKILL] = no_skill
    if eligible <= 0:
        return None
    counts["eligible"] = eligible
    best, scores = pool.best(listed, declined)
    if lane.strategy is StrategyName.LONGEST_IDLE:
        # The score shown is when the agent last worked (every level is 0).
        scores = [agents[agent_id].last_work_at for agent_id in best]
    return Decision(
        contact_id=contact.contact_id,
        agent_id=best[0],
        at=now,
        decided_by="strategy",
        strategy=lane.strategy_name,
        ring=lane.ring,
        ranked=best,
        scores=scores,
        counts=counts,
        declined=sorted(declined) if declined else (),
        listed=listed,
    )


def best_contact(
    agent_id: str,
    lanes: dict[Channel, tuple[Lane, ...]],
    takeable: tuple[Channel, ...],
    sticky: Iterable[tuple[WaitingKey, float]],
    declined: dict[str, frozenset[str]],
    now: float,
    listed: int,
) -> tuple[str, list[str], list[float], int] | None:
    """Highest effective priority, then longest waiting, contact this agent may take
    from its ``lanes`` on the channels it can take now and its ``sticky`` contacts.

    Returns (contact id, the first ``listed`` heads compared and their effective
    priorities with the winner first, number of heads compared) or None.
    """
    best: tuple[float, float, int, str] | None = None
    # The best lane head so far: the highest effective priority, then the earliest
    # arrival (seq breaks ties), compared field by field without building tuples.
    head: WaitingKey | None = None
    head_effective = 0.0
    heads: list[str] = []
    scores: list[float] = []
    compared = 0
    for channel in takeable:
        for lane in lanes.get(channel, ()):
            waiting = lane.waiting
            if not waiting:
                continue
            key: WaitingKey | None = waiting[0]
            if declined:
                key = _first_not_declined(waiting, agent_id, declined)
                if key is None:
                    continue
            assert key is not None
            compared += 1
            negated_priority: float = key[0]  # unboxed once (WaitingKey holds Any)
            effective = lane.ageing_per_second * now - negated_priority
            if (
                head is None
                or effective > head_effective
                or (
                    effective == head_effective
                    and (key[1] < head[1] or (key[1] == head[1] and key[2] < head[2]))
                )
            ):
                head, head_effective = key, effective
            if compared <= listed:
                heads.append(key[3])
                scores.append(effective)
    if head is not None:
        best = (-head_effective, head[1], head[2], head[3])
    for key, rate in sticky:
        compared += 1
        effective = rate * now - key[0]
        candidate = (-effective, key[1], key[2], key[3])
        if best is None or candidate < best:
            best = candidate
        if compared <= listed:
            heads.append(key[3])
            scores.append(effective)
    if best is None:
        return None
    winner = best[3]
    if heads[0] != winner:
        if winner in heads:
            index = heads.index(winner)
            del heads[index], scores[index]
        else:
            del heads[-1:], scores[-1:]
        heads.insert(0, winner)
        scores.insert(0, -best[0])
    return winner, heads, scores, compared


# Declines are rare; looking a few entries past the head keeps the scan bounded.
_DECLINE_SCAN = 32


def _first_not_declined(
    waiting: list[WaitingKey], agent_id: str, declined: dict[str, frozenset[str]]
) -> WaitingKey | None:
    # ``declined`` only holds contacts someone declined, so the common path is one miss.
    key = waiting[0]
    by = declined.get(key[3])
    if by is None or agent_id not in by:
        return key
    for key in waiting[1:_DECLINE_SCAN]:
        by = declined.get(key[3])
        if by is None or agent_id not in by:
            return key
    return None
