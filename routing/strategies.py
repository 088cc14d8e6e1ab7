"""Agent selection strategies: how a queue orders the agents who could take a contact.

Each strategy turns an agent into a sort key; the smallest key wins. Every key ends
with the agent's last-work time and id, so ties break the same way on every node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from routing.model import Agent, RoutingProfile, SkillRequirement, StrategyName, proficiency

StrategyKey = tuple[float, float, str]


def occupancy(agent: Agent, profile: RoutingProfile) -> float:
    """Share of the agent's capacity in use, averaged over the channels they handle."""
    # A plain loop rather than a comprehension (no function frame): runs on every change.
    load = agent.load
    shares: list[float] = []
    for channel, slots in profile.capacity.items():
        if slots > 0:
            shares.append(load[channel] / slots)
    return sum(shares) / len(shares) if shares else 1.0


def strategy_key(
    strategy: StrategyName,
    agent: Agent,
    profile: RoutingProfile,
    requirements: tuple[SkillRequirement, ...],
    last_offer_seq: int,
    today: int,
) -> StrategyKey:
    """Sort key of ``agent`` under ``strategy`` (smaller is better); key[0] is the score shown."""
    idle = agent.last_work_at
    if strategy == StrategyName.LONGEST_IDLE:
        return (idle, idle, agent.agent_id)
    if strategy == StrategyName.LEAST_OCCUPIED:
        return (occupancy(agent, profile), idle, agent.agent_id)
    if strategy == StrategyName.HIGHEST_PROFICIENCY:
        return (-float(proficiency(agent.skills, requirements)), idle, agent.agent_id)
    if strategy == StrategyName.ROUND_ROBIN:
        # The agent this queue offered to longest ago goes next; never offered goes first.
        return (float(last_offer_seq), idle, agent.agent_id)
    contacts_today = agent.contacts_today if agent.today == today else 0
    return (float(contacts_today), idle, agent.agent_id)


def score_pool(
    strategy: StrategyName,
    queue: str,
    pool: Iterable[str],
    agents: Mapping[str, Agent],
    proficiencies: Mapping[str, float],
    occupancies: Mapping[str, float],
    today: int,
) -> list[StrategyKey]:
    """``strategy_key`` of every agent in ``pool``, as one comprehension per strategy.

    ``proficiencies`` holds ``-proficiency`` in the ring's skills and ``occupancies``
    each agent's current :func:`occupancy`; both are kept by the engine, so scoring a
    large pool costs a few dictionary reads per agent (the keys are the same tuples
    ``strategy_key`` returns).
    """
    if strategy == StrategyName.LONGEST_IDLE:
        return [(idle, idle, a) for a in pool for idle in (agents[a].last_work_at,)]
    # ``agents`` is keyed by agent id: mapping the pool through it (no nested loop per
    # agent) is the cheaper way to read several fields of each agent.
    if strategy == StrategyName.ROUND_ROBIN:
        return [
            (float(agent.last_offer.get(queue, -1)), agent.last_work_at, agent.agent_id)
            for agent in map(agents.__getitem__, pool)
        ]
    if strategy == StrategyName.HIGHEST_PROFICIENCY:
        return [(proficiencies[a], agents[a].last_work_at, a) for a in pool]
    if strategy == StrategyName.FEWEST_TODAY:
        return [
            (
                float(agent.contacts_today if agent.today == today else 0),
                agent.last_work_at,
                agent.agent_id,
            )
            for agent in map(agents.__getitem__, pool)
        ]
    return [(occupancies[a], agents[a].last_work_at, a) for a in pool]
