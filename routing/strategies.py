"""Agent selection strategies: how a queue orders the agents who could take a contact.

Each strategy turns an agent into a sort key; the smallest key wins. Every key ends
with the agent's last-work time and id, so ties break the same way on every node.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from routing.model import Agent, RoutingProfile, SkillRequirement, StrategyName, proficiency

StrategyKey = tuple[float, float, str]


def occupancy(agent: Agent, profile: RoutingProfile) -> float:
    """Share of the agent's capacity in use, averaged over the channels they handle."""
    shares = [
        agent.load[channel] / slots for channel, slots in profile.capacity.items() if slots > 0
    ]
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


def strategy_key_function(
    strategy: StrategyName,
    queue: str,
    requirements: tuple[SkillRequirement, ...],
    today: int,
    agents: Mapping[str, Agent],
    profiles: Mapping[str, RoutingProfile],
) -> Callable[[str], StrategyKey]:
    """``agent id -> strategy_key(...)`` for one decision, specialised per strategy so
    that scoring a large pool costs one small function call per agent."""
    if strategy == StrategyName.LONGEST_IDLE:

        def longest_idle(agent_id: str) -> StrategyKey:
            idle = agents[agent_id].last_work_at
            return (idle, idle, agent_id)

        return longest_idle
    if strategy == StrategyName.ROUND_ROBIN:

        def round_robin(agent_id: str) -> StrategyKey:
            agent = agents[agent_id]
            return (float(agent.last_offer.get(queue, -1)), agent.last_work_at, agent_id)

        return round_robin
    if strategy == StrategyName.HIGHEST_PROFICIENCY:

        def highest_proficiency(agent_id: str) -> StrategyKey:
            agent = agents[agent_id]
            return (-float(proficiency(agent.skills, requirements)), agent.last_work_at, agent_id)

        return highest_proficiency
    if strategy == StrategyName.FEWEST_TODAY:

        def fewest_today(agent_id: str) -> StrategyKey:
            agent = agents[agent_id]
            done = agent.contacts_today if agent.today == today else 0
            return (float(done), agent.last_work_at, agent_id)

        return fewest_today

    def least_occupied(agent_id: str) -> StrategyKey:
        agent = agents[agent_id]
        return (occupancy(agent, profiles[agent.profile]), agent.last_work_at, agent_id)

    return least_occupied
