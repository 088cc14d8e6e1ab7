"""Agent selection strategies: how a queue orders the agents who could take a contact.

Each strategy turns an agent into a sort key; the smallest key wins. Every key ends
with the agent's last-work time and id, so ties break the same way on every node.
"""

from __future__ import annotations

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
