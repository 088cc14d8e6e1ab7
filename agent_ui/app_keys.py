"""Typed keys under which the HTTP edge keeps its services (app) and per-request state."""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

from agent_ui.endpoint import Endpoint
from agent_ui.login_throttle import LoginThrottle
from agent_ui.sessions import BrowserSession, SessionStore
from contact_center.accounts import ApiToken, User
from contact_center.services import Actor, Services


@dataclasses.dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request, and how they proved who they are."""

    user: User
    via: Literal["session", "token"]
    session: BrowserSession | None = None
    token: ApiToken | None = None

    @property
    def actor(self) -> Actor:
        return self.user.actor


SERVICES = web.AppKey("agent_ui.services", Services)
SESSIONS = web.AppKey("agent_ui.sessions", SessionStore)
LOGIN_THROTTLE = web.AppKey("agent_ui.login_throttle", LoginThrottle)
# Customer searches per user (security.search_max_per_window).
SEARCH_THROTTLE = web.AppKey("agent_ui.search_throttle", LoginThrottle)
# (method, canonical path) -> the endpoint's declaration (handler, roles, schemas).
ENDPOINTS = web.AppKey("agent_ui.endpoints", dict[tuple[str, str], Endpoint])
OPENAPI_DOCUMENT = web.AppKey("agent_ui.openapi_document", dict[str, Any])

PRINCIPAL = web.RequestKey("agent_ui.principal", Principal)
BODY = web.RequestKey("agent_ui.body", BaseModel)
QUERY = web.RequestKey("agent_ui.query", BaseModel)
REQUEST_ID = web.RequestKey("agent_ui.request_id", str)
# Whether the path matched a route (read by the access log: an unmatched path is
# whatever a client typed, and may hold an address or a phone number).
ROUTED = web.RequestKey("agent_ui.routed", bool)
