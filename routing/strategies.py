"""Agent selection strategies: the order in which a queue offers contacts to free agents.

A strategy gives each agent a *level* (smaller is better):

* ``longest-idle``: one level for everyone, so only the order of last work counts;
* ``least-occupied``: the share of the agent's capacity in use (:func:`occupancy`);
* ``highest-proficiency``: minus the sum of the agent's levels in the ring's skills;
* ``round-robin``: when this queue last offered the agent a contact (-1: never);
* ``fewest-today``: contacts answered today plus offers ringing now.

On one level, the agent whose last work (offer, answer, end of a contact, going ready,
chat activity) is oldest comes first. That is also every strategy's tie-break, so every
node orders agents the same way.

:class:`AgentPool` keeps that order for the agents who could take a contact of one
(queue, ring, channel) right now, so a decision reads the best candidates off its head
instead of scoring everyone in reach.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet

from routing.model import Agent, Channel, SkillRequirement, StrategyName, proficiency


def occupancy(agent: Agent, slots: Mapping[Channel, int]) -> float:
    """Share of the agent's capacity in use, averaged over the channels they handle
    (``slots``: the capacity of each channel of the agent's routing profile)."""
    load = agent.load
    total = 0.0
    for channel, capacity in slots.items():
        total += load[channel] / capacity
    return total / len(slots) if slots else 1.0


def skill_level(agent: Agent, requirements: tuple[SkillRequirement, ...]) -> float:
    """The ``highest-proficiency`` level of ``agent`` in a ring with ``requirements``."""
    return -float(proficiency(agent.skills, requirements))


class AgentPool:
    """Agents able to take a new contact of one (queue, ring, channel), best first.

    Agents are grouped by level; each group keeps its agents in the order of their last
    work (``Agent.work_seq``), oldest first. The engine places an agent again every time
    it works, which makes it the newest, so placing usually appends to its group without
    a comparison; an agent placed out of turn (a definition change) is sorted in.
    """

    __slots__ = ("_groups", "_level_of", "_levels", "_seq_of", "strategy")

    def __init__(self, strategy: StrategyName) -> None:
        self.strategy = strategy
        # Levels present, ascending, and per level its agents in order of last work.
        self._levels: list[float] = []
        self._groups: dict[float, dict[str, None]] = {}
        # Each member's level and work_seq as placed.
        self._level_of: dict[str, float] = {}
        self._seq_of: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._level_of)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._level_of

    def level(self, agent_id: str) -> float:
        return self._level_of[agent_id]

    def levels(self, agent_ids: list[str]) -> list[float]:
        level_of = self._level_of
        return [level_of[a] for a in agent_ids]

    def place(self, agent_id: str, level: float, work_seq: int) -> None:
        """Add ``agent_id`` or move it to where ``level`` and ``work_seq`` put it."""
        seq_of = self._seq_of
        old = self._level_of.get(agent_id)
        if old is not None:
            if old == level and seq_of[agent_id] == work_seq:
                return
            group = self._groups[old]
            del group[agent_id]
            if not group and old != level:
                self._drop_level(old)
        self._level_of[agent_id] = level
        seq_of[agent_id] = work_seq
        target = self._groups.get(level)
        if target is None:
            self._groups[level] = {agent_id: None}
            insort(self._levels, level)
        elif not target or seq_of[next(reversed(target))] < work_seq:
            target[agent_id] = None
        else:
            # Out of turn: not the newest worker on this level.
            ordered = sorted([*target, agent_id], key=seq_of.__getitem__)
            target.clear()
            for member in ordered:
                target[member] = None

    def discard(self, agent_id: str) -> None:
        old = self._level_of.pop(agent_id, None)
        if old is None:
            return
        del self._seq_of[agent_id]
        group = self._groups[old]
        del group[agent_id]
        if not group:
            self._drop_level(old)

    def _drop_level(self, level: float) -> None:
        del self._groups[level]
        levels = self._levels
        del levels[bisect_left(levels, level)]

    def __iter__(self) -> Iterator[str]:
        """Every member, best first."""
        for level in self._levels:
            yield from self._groups[level]

    def best(self, count: int, skip: AbstractSet[str] = frozenset()) -> list[str]:
        """The first ``count`` members not in ``skip``."""
        found: list[str] = []
        for level in self._levels:
            for agent_id in self._groups[level]:
                if agent_id not in skip:
                    found.append(agent_id)
                    if len(found) == count:
                        return found
        return found
