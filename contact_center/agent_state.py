"""Agents in the router: registration from user accounts, their state, and their
routing definition.

Every enabled agent-role user is a router agent (id = user id as text) with the phone
extension of their account. They are registered at start-up and, for accounts made
later (``users add``, the API), at their first state change, so a new agent can go
ready at once without a restart. Skills, queues, routing profile and auto-accept
channels come from what an administrator set (``agent_routing`` table, the API), else
from ``[routing.agents.<username>]`` (or ``<user id>``); an agent with neither serves
every configured queue. An administrator's change is sent to the router at once, so it
is in force from the next routing decision, and kept for restarts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy import delete, insert, select

from contact_center.accounts import Role, User
from contact_center.errors import Conflict, InvalidInput, ServiceUnavailable
from contact_center.services import Services
from contact_center.store.schema import agent_routing
from routing.model import CHANNELS


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
    definition = await agent_routing_of(services, user)
    await services.routing.upsert_agent(
        agent_id,
        name=user.display_name,
        skills=definition.skills,
        queues=definition.served_queues(services),
        profile=definition.profile,
        auto_accept=definition.auto_accept,
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


async def settle_state_log(services: Services, agent_ids: Sequence[str]) -> int:
    """At start-up: agents the router has offline whose kept state says otherwise (the
    node stopped under them, and an in-memory router starts everyone offline) get an
    offline change now, so the time-in-state report does not count the downtime as
    ready. Returns how many."""
    log, routing = services.agent_states, services.routing
    if log is None or routing is None:
        return 0
    settled = 0
    await log.wait_idle()  # changes still queued count
    for agent_id, state in (await log.last_states(agent_ids)).items():
        if state == "offline":
            continue
        if str((await routing.describe_agent(agent_id))["state"]) == "offline":
            await log.record(agent_id, "offline", None, services.clock())
            settled += 1
    return settled


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


# -- routing definition (admins) ---------------------------------------------------------

Source = Literal["admin", "settings", "default"]


@dataclasses.dataclass(frozen=True, slots=True)
class AgentRouting:
    """What the router is told about an agent besides their state."""

    # None: every configured queue.
    queues: tuple[str, ...] | None
    skills: dict[str, int]
    # None: the router's default profile.
    profile: str | None
    # None: the [routing] auto_accept default.
    auto_accept: tuple[str, ...] | None
    # Where it comes from: set by an admin, [routing.agents], or nothing (defaults).
    source: Source = "default"

    def served_queues(self, services: Services) -> tuple[str, ...]:
        if self.queues is not None:
            return self.queues
        return tuple(services.settings.routing.get("queues", {}))


async def agent_routing_of(services: Services, user: User) -> AgentRouting:
    async with services.engine.connect() as conn:
        row = (
            (await conn.execute(select(agent_routing).where(agent_routing.c.user_id == user.id)))
            .mappings()
            .first()
        )
    if row is not None:
        return AgentRouting(
            queues=None if row["queues"] is None else tuple(row["queues"]),
            skills={str(k): int(v) for k, v in row["skills"].items()},
            profile=row["profile"],
            auto_accept=None if row["auto_accept"] is None else tuple(row["auto_accept"]),
            source="admin",
        )
    entry = services.agent_settings.get(user.username) or services.agent_settings.get(
        agent_id_of(user)
    )
    if entry is None:
        return AgentRouting(queues=None, skills={}, profile=None, auto_accept=None)
    queues = entry.get("queues")
    accepted = entry.get("auto_accept")
    return AgentRouting(
        queues=None if queues is None else tuple(queues),
        skills=dict(entry.get("skills", {})),
        profile=entry.get("profile"),
        auto_accept=None if accepted is None else tuple(str(c) for c in accepted),
        source="settings",
    )


async def agent_routing_view(services: Services, user: User) -> dict[str, Any]:
    """An agent's routing definition as set, and as in force (defaults filled in)."""
    _require_agent(user)
    definition = await agent_routing_of(services, user)
    routing = services.settings.routing
    default_accept = [str(c) for c in routing.get("auto_accept", ())]
    return {
        "user_id": user.id,
        "agent_id": agent_id_of(user),
        "source": definition.source,
        "queues": None if definition.queues is None else list(definition.queues),
        "skills": definition.skills,
        "profile": definition.profile,
        "auto_accept": None if definition.auto_accept is None else list(definition.auto_accept),
        "effective": {
            "queues": list(definition.served_queues(services)),
            "profile": definition.profile or routing.get("default_profile", "default"),
            "auto_accept": (
                default_accept if definition.auto_accept is None else list(definition.auto_accept)
            ),
        },
    }


async def set_agent_routing(
    services: Services,
    user: User,
    *,
    queues: Sequence[str] | None,
    skills: dict[str, int],
    profile: str | None,
    auto_accept: Sequence[str] | None,
    by: User,
) -> dict[str, Any]:
    """Replace an agent's routing definition: checked, sent to the router (in force from
    its next decision) and kept (restarts, other nodes' registrations)."""
    _require_agent(user)
    definition = AgentRouting(
        queues=None if queues is None else tuple(dict.fromkeys(queues)),
        skills=dict(skills),
        profile=profile,
        auto_accept=(
            None
            if auto_accept is None
            else tuple(c.value for c in CHANNELS if c.value in set(auto_accept))
        ),
        source="admin",
    )
    _check_against_settings(services, definition)
    if services.routing is not None:
        # The router checks what settings cannot (a profile change while the agent holds
        # contacts): refused there, nothing is kept.
        await services.routing.upsert_agent(
            agent_id_of(user),
            name=user.display_name,
            skills=definition.skills,
            queues=definition.served_queues(services),
            profile=definition.profile,
            auto_accept=definition.auto_accept,
        )
    async with services.engine.begin() as conn:
        await conn.execute(delete(agent_routing).where(agent_routing.c.user_id == user.id))
        await conn.execute(
            insert(agent_routing).values(
                user_id=user.id,
                queues=None if definition.queues is None else list(definition.queues),
                skills=definition.skills,
                profile=definition.profile,
                auto_accept=(
                    None if definition.auto_accept is None else list(definition.auto_accept)
                ),
                updated_at=services.clock(),
                updated_by=by.id,
            )
        )
    return await agent_routing_view(services, user)


class NoSuchQueueName(InvalidInput):
    error_id = "no-such-queue"


class NoSuchProfileName(InvalidInput):
    error_id = "no-such-routing-profile"


def _check_against_settings(services: Services, definition: AgentRouting) -> None:
    routing = services.settings.routing
    known = set(routing.get("queues", {}))
    unknown = sorted(set(definition.queues or ()) - known)
    if unknown:
        raise NoSuchQueueName(
            f"no such queue(s): {', '.join(unknown)}",
            details={"queues": unknown, "known": sorted(known)},
        )
    profiles = set(routing.get("profiles", {})) | {"default"}
    if definition.profile is not None and definition.profile not in profiles:
        raise NoSuchProfileName(
            f"no routing profile {definition.profile!r}",
            details={"profile": definition.profile, "known": sorted(profiles)},
        )


def _require_agent(user: User) -> None:
    if user.role is not Role.AGENT:
        raise NotAnAgent(f"{user.username!r} is not an agent", details={"user_id": user.id})
