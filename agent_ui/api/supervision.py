"""Supervisor actions on live contacts: move one to another queue or to an agent, change
its priority, read the router's explanation of its routing (docs/api.md, "Wallboard,
supervisor actions and contact reports").

Whose queues: an admin acts on every queue; a supervisor on the queues of their
``[routing.agents.<username>] queues`` entry, or on every queue when there is none.
Every action is checked against them (``403 not-your-queue``) and audit-logged.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from aiohttp import web

from agent_ui.middlewares import json_response
from agent_ui.request_state import body_of, principal_of, services_of
from agent_ui.schemas import ContactMove, ContactPriority
from contact_center.accounts import Role, User
from contact_center.agent_state import agent_routing_of
from contact_center.errors import Forbidden, InvalidInput
from contact_center.services import Services

log = logging.getLogger(__name__)


class NotYourQueue(Forbidden):
    error_id = "not-your-queue"


class RoutingOff(Forbidden):
    error_id = "routing-not-running"
    status = 503


async def supervised_queues(services: Services, user: User) -> frozenset[str]:
    """The queues ``user`` may act on (every configured queue for admins, and for
    supervisors without a queue list)."""
    every = frozenset(services.settings.routing.get("queues", {}))
    if user.role is Role.ADMIN:
        return every
    if user.role is not Role.SUPERVISOR:
        return frozenset()
    own = (await agent_routing_of(services, user)).queues
    return every if own is None else frozenset(own) & every


async def require_queues(services: Services, user: User, queues: Collection[str]) -> None:
    """Refuse (403 not-your-queue) unless ``user`` supervises every one of ``queues``."""
    mine = await supervised_queues(services, user)
    outside = sorted(set(queues) - mine)
    if outside:
        raise NotYourQueue("you do not supervise this queue", details={"queues": outside})


async def require_agent_in_scope(services: Services, supervisor: User, agent: User) -> None:
    """Refuse unless the agent serves at least one of the supervisor's queues."""
    if supervisor.role is Role.ADMIN:
        return
    served = set((await agent_routing_of(services, agent)).served_queues(services))
    if not served & await supervised_queues(services, supervisor):
        raise NotYourQueue("this agent serves none of your queues", details={"user_id": agent.id})


def _routing(services: Services) -> Any:
    if services.routing is None:
        raise RoutingOff("this server runs no router")
    return services.routing


async def move_contact(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    routing = _routing(services)
    body = body_of(request, ContactMove)
    me = principal_of(request).user
    contact_id = request.match_info["contact_id"]
    if (body.queue is None) == (body.agent_id is None):
        raise InvalidInput("give either queue or agent_id", details={"field": "queue"})
    before = await routing.describe_contact(contact_id)
    if body.queue is not None:
        await require_queues(services, me, {before["queue"], body.queue})
        await routing.move(contact_id, body.queue)
        details: dict[str, Any] = {"from_queue": before["queue"], "queue": body.queue}
    else:
        assert body.agent_id is not None
        await require_queues(services, me, {before["queue"]})
        await routing.describe_agent(body.agent_id)  # 404 no-such-agent
        await routing.offer_to_agent(contact_id, body.agent_id)
        details = {"queue": before["queue"], "agent_id": body.agent_id}
    await services.profiles.record_audit(
        me.actor, "contact.moved", contact_id=contact_id, details=details
    )
    log.info("supervision: user %d moved contact %s", me.id, contact_id)
    return json_response(await routing.describe_contact(contact_id))


async def change_priority(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    routing = _routing(services)
    body = body_of(request, ContactPriority)
    me = principal_of(request).user
    contact_id = request.match_info["contact_id"]
    before = await routing.describe_contact(contact_id)
    await require_queues(services, me, {before["queue"]})
    await routing.change_priority(contact_id, body.priority)
    await services.profiles.record_audit(
        me.actor,
        "contact.priority_changed",
        contact_id=contact_id,
        details={"queue": before["queue"], "from": before["priority"], "to": body.priority},
    )
    return json_response(await routing.describe_contact(contact_id))


async def explanation(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    routing = _routing(services)
    me = principal_of(request).user
    contact_id = request.match_info["contact_id"]
    described = await routing.describe_contact(contact_id)
    await require_queues(services, me, {described["queue"]})
    return json_response(await routing.explain(contact_id))
