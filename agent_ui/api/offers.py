"""Offers: the agent accepts or declines a contact ringing for them.

A call is answered on the phone (``answer-on-phone``) but may be declined here; see
:mod:`contact_center.offers` for the rule shared by every channel.
"""

from __future__ import annotations

from aiohttp import web

from agent_ui.middlewares import json_response
from agent_ui.request_state import principal_of, services_of
from contact_center.offers import accept_offer, decline_offer


async def accept(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    user = principal_of(request).user
    return json_response(await accept_offer(services, user, request.match_info["contact_id"]))


async def decline(request: web.Request) -> web.StreamResponse:
    services = services_of(request)
    user = principal_of(request).user
    return json_response(await decline_offer(services, user, request.match_info["contact_id"]))
