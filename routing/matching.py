"""The pure decision core: who can take what, and which pair wins.

Functions here read the engine's lanes (waiting contacts and free agents per queue,
ring and channel) and return a decision with its explanation; they never mutate
anything, never await and never read the clock (``now`` is passed in). The engine
applies the decisions they return and keeps the lanes up to date.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import repeat
from typing import Any

from contact_center.domain.frozen import frozen
from routing.model import (
    Agent,
    AgentState,
    Channel,
    Contact,
    RoutingProfile,
    StrategyName,
)
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


def exclusion(agent: Agent, profile: RoutingProfile, channel: Channel) -> str | None:
    """Why ``agent`` cannot take a new ``channel`` contact now, or None if they can."""
    if agent.state != AgentState.READY:
        return OFFLINE if agent.state == AgentState.OFFLINE else NOT_READY
    slots = profile.capacity.get(channel, 0)
    if slots <= 0:
        return NO_CHANNEL
    if agent.load[channel] >= slots:
        return OVER_CAPACITY
    if profile.max_total is not None and len(agent.active) >= profile.max_total:
        return OVER_CAPACITY
    for rule in profile.blocks:
        if channel in rule.blocks:
            holding = agent.load[rule.when]
            if rule.unless_awaiting_customer:
                holding -= agent.awaiting[rule.when]
            if holding > 0:
                return BUSY
    return None


def takeable_channels(agent: Agent, profile: RoutingProfile) -> tuple[Channel, ...]:
    """Channels ``agent`` can take a new contact on now (``exclusion`` is None).

    The same checks as ``exclusion``, in one pass: this runs on every agent change.
    """
    if agent.state != AgentState.READY:
        return ()
    load = agent.load
    if profile.max_total is not None and len(agent.active) >= profile.max_total:
        return ()
    blocks = profile.blocks
    takeable: list[Channel] = []
    for channel, slots in profile.capacity.items():
        if slots <= 0 or load[channel] >= slots:
            continue
        blocked = False
        for rule in blocks:
            if channel in rule.blocks:
                holding = load[rule.when]
                if rule.unless_awaiting_customer:
                    holding -= agent.awaiting[rule.when]
                if holding > 0:
                    blocked = True
                    break
        if not blocked:
            takeable.append(channel)
    return tuple(takeable)


@frozen
class Decision:
    """One routing decision and why it was taken."""

    contact_id: str
    agent_id: str
    at: float
    # "sticky", "strategy", "agent-available" or "direct"
    decided_by: str
    strategy: str
    ring: int
    candidates: tuple[tuple[str, str, float], ...]
    counts: Mapping[str, int]

    def record(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "decided_by": self.decided_by,
            "agent_id": self.agent_id,
            "strategy": self.strategy,
            "ring": self.ring,
            "candidates": list(map(list, self.candidates)),
            "counts": dict(self.counts),
        }


# A waiting contact's sort key inside one lane: (-static priority, waiting since, seq, id).
# Effective priority at ``now`` is ``-key[0] + ageing_rate * now``.
WaitingKey = tuple[float, float, int, str]


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
        "queue",
        "ring",
        "skill_levels",
        "strategy",
        "waiting",
    )

    def __init__(
        self,
        queue: str,
        ring: int,
        channel: Channel,
        strategy: StrategyName,
        ageing_per_second: float,
    ) -> None:
        self.queue = queue
        self.ring = ring
        self.channel = channel
        self.strategy = strategy
        self.ageing_per_second = ageing_per_second
        self.waiting: list[WaitingKey] = []
        self.agents = AgentPool(strategy)
        # highest-proficiency: each agent in reach's level in this ring's skills.
        self.skill_levels: dict[str, float] = {}


_NONE: frozenset[str] = frozenset()


def choose_agent(
    contact: Contact,
    lane: Lane,
    in_reach: int,
    no_skill: int,
    agents: Mapping[str, Agent],
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
    best = pool.best(listed, declined)
    if lane.strategy == StrategyName.LONGEST_IDLE:
        # The score shown is when the agent last worked.
        scores = [agents[a].last_work_at for a in best]
    else:
        scores = [pool.level(a) for a in best]
    candidates = [(best[0], "winner", scores[0])]
    candidates += zip(best[1:], repeat("eligible"), scores[1:])
    room = listed - len(candidates)
    if declined and room > 0:
        candidates.extend((a, DECLINED, 0.0) for a in sorted(declined)[:room])
    return Decision(
        contact_id=contact.contact_id,
        agent_id=best[0],
        at=now,
        decided_by="strategy",
        strategy=str(lane.strategy),
        ring=lane.ring,
        candidates=tuple(candidates),
        counts=counts,
    )


def best_contact(
    agent_id: str,
    takeable: tuple[Channel, ...],
    lanes: Iterable[Lane],
    sticky: Iterable[tuple[WaitingKey, float]],
    declined: Mapping[str, set[str]],
    now: float,
    listed: int,
) -> tuple[str, tuple[tuple[str, str, float], ...], int] | None:
    """Highest effective priority, then longest waiting, contact this agent may take.

    Returns (contact id, compared heads, number of lanes compared) or None.
    """
    best: tuple[float, float, int, str] | None = None
    heads: list[tuple[str, str, float]] = []
    compared = 0
    for lane in lanes:
        waiting = lane.waiting
        if not waiting or lane.channel not in takeable:
            continue
        key = _first_not_declined(waiting, agent_id, declined)
        if key is None:
            continue
        compared += 1
        effective = lane.ageing_per_second * now - key[0]
        candidate = (-effective, key[1], key[2], key[3])
        if len(heads) < listed:
            heads.append((key[3], "eligible", effective))
        if best is None or candidate < best:
            best = candidate
    for key, rate in sticky:
        compared += 1
        effective = rate * now - key[0]
        candidate = (-effective, key[1], key[2], key[3])
        if len(heads) < listed:
            heads.append((key[3], "eligible", effective))
        if best is None or candidate < best:
            best = candidate
    if best is None:
        return None
    winner = best[3]
    ordered = [(cid, "winner" if cid == winner else v, s) for cid, v, s in heads]
    if all(cid != winner for cid, _, _ in ordered):
        ordered.insert(0, (winner, "winner", -best[0]))
    return winner, tuple(ordered), compared


# Declines are rare; looking a few entries past the head keeps the scan bounded.
_DECLINE_SCAN = 32


def _first_not_declined(
    waiting: list[WaitingKey], agent_id: str, declined: Mapping[str, set[str]]
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
