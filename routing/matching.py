"""The pure decision core: who can take what, and which pair wins.

Functions here read snapshots of agents and waiting contacts and return a decision
with its explanation; they never mutate anything, never await and never read the
clock (``now`` is passed in). The engine applies the decisions they return.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import Any

from sortedcontainers import SortedList  # type: ignore[import-untyped]

from routing.model import (
    Agent,
    AgentState,
    Channel,
    Contact,
    QueueConfig,
    Ring,
    RoutingProfile,
    StrategyName,
    proficiency,
)
from routing.strategies import StrategyKey, score_pool

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


@dataclasses.dataclass(frozen=True, slots=True)
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


def choose_agent(
    contact: Contact,
    queue: QueueConfig,
    ring: Ring,
    pool: AbstractSet[str],
    agents: Mapping[str, Agent],
    profiles: Mapping[str, RoutingProfile],
    unavailable: int,
    no_skill: int,
    today: int,
    now: float,
    listed: int,
    idle_order: SortedList,
    proficiencies: dict[str, float],
    occupancies: Mapping[str, float],
) -> Decision | None:
    """Best agent in ``pool`` for ``contact`` under the queue strategy.

    ``pool`` holds the ids of the agents in reach who are READY with a free slot on the
    contact's channel (the engine's availability index guarantees that nothing else
    excludes them), so the only exclusion left to check is a decline. ``unavailable``
    counts agents in reach who are not ready or have no free slot and ``no_skill`` the
    queue's agents lacking the ring's skills: both appear in the counts.

    ``idle_order`` is every agent available on the channel sorted by
    ``(last_work_at, agent_id)``: under ``longest-idle`` the best candidates are then
    read off its head instead of scoring the whole pool. ``proficiencies`` caches
    ``-proficiency`` in this ring's skills per agent (filled here when missing; the
    engine clears it when agents change) and ``occupancies`` is each agent's current
    occupancy.
    """
    declined = contact.declined_by & pool if contact.declined_by else _NONE
    eligible = len(pool) - len(declined)
    counts: dict[str, int] = {}
    if declined:
        counts[DECLINED] = len(declined)
    if unavailable:
        counts[UNAVAILABLE] = unavailable
    if no_skill:
        counts[NO_SKILL] = no_skill
    if eligible <= 0:
        return None
    wanted = min(listed, eligible)
    best: list[StrategyKey] | None = None
    strategy = queue.strategy
    # The head scan reads about wanted * len(idle_order) / eligible entries; scoring reads
    # every eligible agent. Both give the same keys in the same order, so take the cheaper.
    if strategy == StrategyName.LONGEST_IDLE and eligible * eligible >= wanted * len(idle_order):
        best = _longest_idle_head(idle_order, pool, declined, wanted)
    if best is None:
        ids = [a for a in pool if a not in declined] if declined else pool
        if strategy == StrategyName.HIGHEST_PROFICIENCY:
            for a in ids:
                if a not in proficiencies:
                    proficiencies[a] = -float(proficiency(agents[a].skills, ring.skills))
        scored = score_pool(strategy, queue.name, ids, agents, proficiencies, occupancies, today)
        # Keys are unique (they end with the agent id): the order of ``pool`` never matters.
        if wanted == 1:
            best = [min(scored)]
        elif len(scored) <= 10 * wanted:
            # C sort beats nsmallest's Python loop and fixed cost on small pools.
            best = sorted(scored)[:wanted]
        else:
            best = heapq.nsmallest(wanted, scored)
    counts["eligible"] = eligible
    winner = best[0][2]
    candidates = [(winner, "winner", best[0][0])]
    candidates += [(k[2], "eligible", k[0]) for k in best[1:]]
    room = listed - len(candidates)
    if declined and room > 0:
        candidates.extend((a, DECLINED, 0.0) for a in sorted(declined)[:room])
    return Decision(
        contact_id=contact.contact_id,
        agent_id=winner,
        at=now,
        decided_by="strategy",
        strategy=str(queue.strategy),
        ring=ring.index,
        candidates=tuple(candidates),
        counts=counts,
    )


_NONE: frozenset[str] = frozenset()


def _longest_idle_head(
    idle_order: SortedList, pool: AbstractSet[str], declined: AbstractSet[str], wanted: int
) -> list[StrategyKey] | None:
    """The ``wanted`` longest-idle agents of ``pool`` read from the channel's idle order.

    Gives up (None) after a bounded scan when the pool is a small part of the order, so
    a narrow queue never walks every free agent of the channel.
    """
    # About three times the expected scan (the pool's share of the order), then give up.
    limit = 3 * wanted * len(idle_order) // max(1, len(pool)) + 16
    found: list[StrategyKey] = []
    for scanned, (idle, agent_id) in enumerate(idle_order):
        if agent_id in pool and agent_id not in declined:
            found.append((idle, idle, agent_id))
            if len(found) == wanted:
                return found
        if scanned > limit:
            return None
    return found if found else None


# A waiting contact's sort key inside one bucket: (-static priority, waiting since, seq, id).
# Effective priority at ``now`` is ``-key[0] + ageing_rate * now``.
WaitingKey = tuple[float, float, int, str]


@dataclasses.dataclass(frozen=True, slots=True)
class Reach:
    """One (queue, ring) an agent can serve, with what comparing its contacts needs."""

    queue: str
    ring: int
    channels: tuple[Channel, ...]
    ageing_per_second: float


def best_contact(
    agent: Agent,
    takeable: tuple[Channel, ...],
    reach: Iterable[Reach],
    buckets: Mapping[tuple[str, int, Channel], SortedList],
    sticky: Iterable[tuple[WaitingKey, float]],
    declined: Mapping[str, set[str]],
    now: float,
    listed: int,
) -> tuple[str, tuple[tuple[str, str, float], ...], int] | None:
    """Highest effective priority, then longest waiting, contact this agent may take.

    Returns (contact id, compared heads, number of queues compared) or None.
    """
    agent_id = agent.agent_id
    best: tuple[float, float, int, str] | None = None
    heads: list[tuple[str, str, float]] = []
    compared = 0
    for r in reach:
        rate_now = r.ageing_per_second * now
        for channel in r.channels:
            if channel not in takeable:
                continue
            bucket = buckets.get((r.queue, r.ring, channel))
            if not bucket:
                continue
            key = _first_not_declined(bucket, agent_id, declined)
            if key is None:
                continue
            compared += 1
            candidate = (-(rate_now - key[0]), key[1], key[2], key[3])
            if len(heads) < listed:
                heads.append((key[3], "eligible", rate_now - key[0]))
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
    bucket: SortedList, agent_id: str, declined: Mapping[str, set[str]]
) -> WaitingKey | None:
    # ``declined`` only holds contacts someone declined, so the common path is one miss.
    key: WaitingKey = bucket[0]
    by = declined.get(key[3])
    if by is None or agent_id not in by:
        return key
    for key in bucket.islice(1, _DECLINE_SCAN):
        by = declined.get(key[3])
        if by is None or agent_id not in by:
            return key
    return None
