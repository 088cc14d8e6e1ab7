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

from bisect import bisect_left
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


class _Level:
    """The pool's agents on one level, in order of last work."""

    __slots__ = ("level", "members", "newest")

    def __init__(self, level: float) -> None:
        self.level = level
        self.members: dict[str, None] = {}
        # The highest work_seq placed here: once that agent left, higher than every
        # member's, which is all an append needs to know (see AgentPool.place).
        self.newest = -1


def _level(group: _Level) -> float:
    return group.level


class AgentPool:
    """Agents able to take a new contact of one (queue, ring, channel), best first.

    Agents are grouped by level; each group keeps its agents in the order of their last
    work (``Agent.work_seq``), oldest first. The engine places an agent again every time
    it works, which makes it the newest, so placing usually appends to its group without
    a comparison; an agent placed out of turn (a definition change) is sorted in.
    """

    __slots__ = ("_by_level", "_group_of", "_groups", "_seq_of", "strategy")

    def __init__(self, strategy: StrategyName) -> None:
        self.strategy = strategy
        # The groups, by ascending level (read without a lookup per level), and by level.
        self._groups: list[_Level] = []
        self._by_level: dict[float, _Level] = {}
        # Each member's group and work_seq as placed.
        self._group_of: dict[str, _Level] = {}
        self._seq_of: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._group_of)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._group_of

    def level(self, agent_id: str) -> float:
        return self._group_of[agent_id].level

    def place(self, agent_id: str, level: float, work_seq: int) -> None:
        """Add ``agent_id`` or move it to where ``level`` and ``work_seq`` put it."""
        seq_of = self._seq_of
        group = self._group_of.get(agent_id)
        if group is not None:
            if group.level == level and seq_of[agent_id] == work_seq:
                return
            del group.members[agent_id]
            if not group.members and group.level != level:
                self._drop(group)
        seq_of[agent_id] = work_seq
        target = self._by_level.get(level)
        if target is None:
            target = self._by_level[level] = _Level(level)
            self._groups.insert(bisect_left(self._groups, level, key=_level), target)
        self._group_of[agent_id] = target
        if target.newest < work_seq:
            target.members[agent_id] = None
            target.newest = work_seq
        else:
            # Out of turn: not the newest worker on this level.
            ordered = sorted([*target.members, agent_id], key=seq_of.__getitem__)
            target.members.clear()
            for member in ordered:
                target.members[member] = None
            target.newest = max(target.newest, work_seq)

    def discard(self, agent_id: str) -> None:
        group = self._group_of.get(agent_id)
        if group is None:
            return
        del self._group_of[agent_id]
        del self._seq_of[agent_id]
        del group.members[agent_id]
        if not group.members:
            self._drop(group)

    def _drop(self, group: _Level) -> None:
        del self._by_level[group.level]
        del self._groups[bisect_left(self._groups, group.level, key=_level)]

    def __iter__(self) -> Iterator[str]:
        """Every member, best first."""
        for group in self._groups:
            yield from group.members

    def best(self, count: int, skip: AbstractSet[str]) -> tuple[list[str], list[float]]:
        """The first ``count`` members not in ``skip`` (usually empty), and their levels."""
        found: list[str] = []
        levels: list[float] = []
        for group in self._groups:
            level = group.level
            for agent_id in group.members:
                if skip and agent_id in skip:
                    continue
                found.append(agent_id)
                levels.append(level)
                if len(found) == count:
                    return found, levels
        return found, levels
