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
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from itertools import chain, islice

from routing.model import Agent, RoutingProfile, SkillRequirement, StrategyName, proficiency


def occupancy(agent: Agent, profile: RoutingProfile) -> float:
    """Share of the agent's capacity in use, averaged over the channels they handle."""
    # A plain loop rather than a comprehension (no function frame): runs on every change.
    load = agent.load
    shares: list[float] = []
    for channel, slots in profile.capacity.items():
        if slots > 0:
            shares.append(load[channel] / slots)
    return sum(shares) / len(shares) if shares else 1.0


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

    __slots__ = ("_groups", "_levels", "_placed", "strategy")

    def __init__(self, strategy: StrategyName) -> None:
        self.strategy = strategy
        # Levels present, ascending, and per level its agents in order of last work.
        self._levels: list[float] = []
        self._groups: dict[float, dict[str, None]] = {}
        # Each member's (level, work_seq) as placed.
        self._placed: dict[str, tuple[float, int]] = {}

    def __len__(self) -> int:
        return len(self._placed)

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._placed

    def level(self, agent_id: str) -> float:
        return self._placed[agent_id][0]

    def levels(self, agent_ids: list[str]) -> list[float]:
        placed = self._placed
        return [placed[a][0] for a in agent_ids]

    def place(self, agent_id: str, level: float, work_seq: int) -> None:
        """Add ``agent_id`` or move it to where ``level`` and ``work_seq`` put it."""
        placed = self._placed
        old = placed.get(agent_id)
        if old is not None:
            if old[0] == level and old[1] == work_seq:
                return
            group = self._groups[old[0]]
            del group[agent_id]
            if not group and old[0] != level:
                self._drop_level(old[0])
        placed[agent_id] = (level, work_seq)
        target = self._groups.get(level)
        if target is None:
            self._groups[level] = {agent_id: None}
            insort(self._levels, level)
        elif not target or placed[next(reversed(target))][1] < work_seq:
            target[agent_id] = None
        else:
            # Out of turn: not the newest worker on this level.
            ordered = sorted([*target, agent_id], key=lambda a: placed[a][1])
            target.clear()
            target.update(dict.fromkeys(ordered))

    def discard(self, agent_id: str) -> None:
        old = self._placed.pop(agent_id, None)
        if old is None:
            return
        group = self._groups[old[0]]
        del group[agent_id]
        if not group:
            self._drop_level(old[0])

    def _drop_level(self, level: float) -> None:
        del self._groups[level]
        levels = self._levels
        del levels[bisect_left(levels, level)]

    def __iter__(self) -> Iterator[str]:
        """Every member, best first."""
        return chain.from_iterable(map(self._groups.__getitem__, self._levels))

    def best(self, count: int, skip: AbstractSet[str] = frozenset()) -> list[str]:
        """The first ``count`` members not in ``skip``."""
        if not skip:
            return list(islice(self, count))
        found: list[str] = []
        for agent_id in self:
            if agent_id not in skip:
                found.append(agent_id)
                if len(found) == count:
                    break
        return found
