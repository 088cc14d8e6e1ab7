"""Agent state in the router: an agent's own (``/agents/me/state``) and, for
supervisors, anyone's (``/agents/{id}/state``, recorded as forced by the supervisor).
Admins edit an agent's routing (``/agents/{id}/routing``: queues, skills, profile,
auto-accept channels), in force from the router's next decision.

Logging in to the router is separate from logging in to the API: an agent logged in
over HTTP stays OFFLINE until they ask to be READY or NOT_READY (with a reason from
``[routing] not_ready_reasons``).
"""

from __future__ import annotations

import logging

from aiohttp import web

from agent_ui.api.supervision import require_agent_in_scope
from agent_ui.middlewares import json_response
from agent_ui.request_state import body_of, path_id, principal_of, services_of
from agent_ui.schemas import AgentRoutingUpdate, AgentStateChange
from contact_center.agent_state import (
    agent_routing_view,
    agent_state,
    change_agent_state,
    set_agent_routing,
)

log = logging.getLogger(__name__)


async def my_state(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    return json_response(await agent_state(services, principal_of(request).user))


async def set_my_state(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    body = body_of(request, AgentStateChange)
    me = principal_of(request).user
    return json_response(await change_agent_state(services, me, body.state, body.reason, by=me))


async def get_agent_state(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    user = await services.accounts.get_user(path_id(request, "user_id"))
    return json_response(await agent_state(services, user))


async def set_agent_state(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    body = body_of(request, AgentStateChange)
    user = await services.accounts.get_user(path_id(request, "user_id"))
    supervisor = principal_of(request).user
    await require_agent_in_scope(services, supervisor, user)
    changed = await change_agent_state(services, user, body.state, body.reason, by=supervisor)
    # The agent's console hears it as an agent_state message with by "supervisor".
    await services.profiles.record_audit(
        supervisor.actor,
        "agent.state_forced",
        details={"user_id": user.id, "state": body.state, "reason": body.reason},
    )
    return json_response(changed)


async def get_agent_routing(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    user = await services.accounts.get_user(path_id(request, "user_id"))
    return json_response(await agent_routing_view(services, user))


async def set_agent_routing_of(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    body = body_of(request, AgentRoutingUpdate)
    user = await services.accounts.get_user(path_id(request, "user_id"))
    admin = principal_of(request).user
    view = await set_agent_routing(
        services,
        user,
        queues=body.queues,
        skills=body.skills,
        profile=body.profile,
        auto_accept=body.auto_accept,
        by=admin,
    )
    log.info("agents: user %d changed the routing of agent %d", admin.id, user.id)
    return json_response(view)
