"""Agents in the router: registration from user accounts, and their state.

Every enabled agent-role user is a router agent (id = user id as text) with the phone
extension of their account. They are registered at start-up and, for accounts made
later (``users add``, the API), at their first state change, so a new agent can go
ready at once without a restart. Skills, queues and routing profile come from
``[routing.agents.<username>]`` (or ``<user id>``); an agent without an entry serves
every configured queue.
"""

from __future__ import annotations

from typing import Any

from contact_center.accounts import Role, User
from contact_center.errors import Conflict, ServiceUnavailable
from contact_center.services import Services


class NotAnAgent(Conflict):
    error_id = "not-an-agent"


class RoutingNotRunning(ServiceUnavailable):
    error_id = "routing-not-running"


def agent_id_of(user: User) -> str:
    return str(user.id)


async def register_agent(services: Services, user: User) -> str:
    """Add or update ``user`` as a router agent; its id in the router."""
    if services.routing is None:
        raise RoutingNotRunning("this server runs no router")
    if user.role is not Role.AGENT or user.disabled:
        raise NotAnAgent(f"{user.username!r} is not an enabled agent", details={"user_id": user.id})
    agent_id = agent_id_of(user)
    queues = tuple(services.settings.routing.get("queues", {}))
    entry = services.agent_settings.get(user.username) or services.agent_settings.get(agent_id, {})
    await services.routing.upsert_agent(
        agent_id,
        name=user.display_name,
        skills=entry.get("skills", {}),
        queues=tuple(entry.get("queues", queues)),
        profile=entry.get("profile"),
    )
    if user.extension and services.directory is not None:
        services.directory.set(agent_id, user.extension)
    return agent_id


async def register_agents(services: Services) -> list[str]:
    """Every enabled agent-role user becomes a router agent (at start-up)."""
    return [
        await register_agent(services, user)
        for user in await services.accounts.list_users(include_disabled=False)
        if user.role is Role.AGENT
    ]


async def agent_state(services: Services, user: User) -> dict[str, Any]:
    """The agent's state as the router holds it (registering a new agent first)."""
    if services.routing is None:
        raise RoutingNotRunning("this server runs no router")
    agent_id = await register_agent(services, user)
    return _view(user, await services.routing.describe_agent(agent_id))


async def change_agent_state(
    services: Services, user: User, state: str, reason: str | None, *, by: User
) -> dict[str, Any]:
    """Set ``user``'s state; a supervisor's change (``by`` someone else) is forced and
    recorded as theirs."""
    if services.routing is None:
        raise RoutingNotRunning("this server runs no router")
    agent_id = await register_agent(services, user)
    if by.id == user.id:
        await services.routing.set_agent_state(agent_id, state, reason)
    else:
        await services.routing.force_agent_state(agent_id, state, reason)
    return _view(user, await services.routing.describe_agent(agent_id))


def _view(user: User, described: dict[str, Any]) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "agent_id": described["agent_id"],
        "state": str(described["state"]),
        "reason": described["reason"],
        "state_seconds": described["state_seconds"],
        "queues": list(described["queues"]),
        "active": described["active"],
        "extension": user.extension,
    }
