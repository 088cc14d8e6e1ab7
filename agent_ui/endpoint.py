"""What the HTTP edge knows about one route: handler, who may call it, and its schemas.

The table of every endpoint lives in :mod:`agent_ui.routes`; wiring registers it,
the auth middleware enforces its roles, the body middleware its schemas, and the
OpenAPI document is generated from it, so the four cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from contact_center.accounts import Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Who may call an endpoint. PUBLIC means no authentication at all.
PUBLIC: frozenset[Role] = frozenset()
ANY_USER: frozenset[Role] = frozenset(Role)
AGENTS: frozenset[Role] = frozenset({Role.AGENT})
SUPERVISORS: frozenset[Role] = frozenset({Role.SUPERVISOR, Role.ADMIN})
ADMINS: frozenset[Role] = frozenset({Role.ADMIN})

DEFAULT_MAX_BODY = 64 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_PATH_VARIABLE = re.compile(r"\{(\w+)(?::[^{}]*(?:\{[^{}]*\}[^{}]*)*)?\}")


@dataclasses.dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str  # aiohttp path, variables may carry a regex: /customers/{customer_id:\d{1,18}}
    handler: Handler
    roles: frozenset[Role]
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    max_body: int = DEFAULT_MAX_BODY
    status: int = 200
    # JSON Schema of the success response (None: no body, e.g. 204).
    response: dict[str, Any] | None = dataclasses.field(default_factory=lambda: {"type": "object"})
    description: str = ""
    # What the success response is: JSON for the API, HTML for pages.
    media_type: str = "application/json"

    @property
    def public(self) -> bool:
        return not self.roles

    @property
    def operation_id(self) -> str:
        """Unique per handler across modules (``calls.transfer``, ``emails.transfer``): the
        route's name and the OpenAPI operationId."""
        module = self.handler.__module__.rsplit(".", 1)[-1]
        return f"{module}.{self.handler.__name__}"

    @property
    def canonical(self) -> str:
        """The path as aiohttp's resource reports it (no regexes): /customers/{customer_id}."""
        return _PATH_VARIABLE.sub(lambda m: "{" + m.group(1) + "}", self.path)

    @property
    def path_variables(self) -> list[str]:
        return [m.group(1) for m in _PATH_VARIABLE.finditer(self.path)]
