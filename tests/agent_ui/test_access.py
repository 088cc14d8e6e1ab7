"""Access rules for every registered route, derived from the app itself: a new route is
covered the moment it is added. Plus the OpenAPI document: valid, and in step with the
router both ways."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from agent_ui.app_keys import ENDPOINTS, OPENAPI_DOCUMENT
from agent_ui.endpoint import Endpoint
from tests.agent_ui.conftest import Caller

Client = TestClient[Any, Any]


def registered_routes(app: web.Application) -> list[tuple[str, str]]:
    routes = []
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS") or route.resource is None:
            continue
        routes.append((route.method, route.resource.canonical))
    assert routes, "the app registers no routes"
    return routes


# Path variables that are not numeric ids, with a value of their pattern nothing has.
SAMPLES = {"contact_id": "call-pbx1:1750000000.999999"}


def concrete(path: str) -> str:
    # An id nothing has: a permitted call must not change what later calls see.
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLES.get(m.group(1), "999999"), path)


def endpoint(app: web.Application, method: str, path: str) -> Endpoint | None:
    return app[ENDPOINTS].get((method, path))


async def test_given_no_credentials_when_calling_any_protected_route_then_401(
    app: web.Application, client: Client
) -> None:
    checked = 0
    for method, path in registered_routes(app):
        declared = endpoint(app, method, path)
        if declared is not None and declared.public:
            continue
        response = await client.request(method, concrete(path), allow_redirects=False)
        checked += 1
        if declared is not None and declared.media_type == "text/html":
            # A page sends a person to the login form instead.
            assert response.status == 302, (method, path, await response.text())
            assert response.headers["Location"].startswith("/login"), (method, path)
            continue
        assert response.status == 401, (method, path, await response.text())
        assert (await response.json())["error"] == "unauthenticated"
    assert checked >= 25


async def test_given_public_routes_then_only_login_logout_status_and_the_start_page(
    app: web.Application,
) -> None:
    public = sorted(
        (m, p) for m, p in registered_routes(app) if (e := endpoint(app, m, p)) and e.public
    )
    assert public == [
        ("GET", "/"),
        # The chat widget and its sample page: embedded by other sites, no login.
        ("GET", "/chat/demo"),
        ("GET", "/chat/widget.js"),
        ("GET", "/login"),
        ("GET", "/static/{name}"),
        ("GET", "/status"),
        ("POST", "/api/v1/auth/login"),
        # The login form (login-CSRF token and Origin) and logging out (the session's
        # CSRF token) check their own forms: tests/agent_ui/test_page_login.py.
        ("POST", "/login"),
        ("POST", "/logout"),
    ]


async def test_given_wrong_role_when_calling_any_route_then_403_and_right_role_passes(
    app: web.Application, client: Client, agent: Caller, supervisor: Caller, admin: Caller
) -> None:
    callers = {"agent": agent, "supervisor": supervisor, "admin": admin}
    refusals = 0
    for method, path in registered_routes(app):
        declared = endpoint(app, method, path)
        assert declared is not None, f"{method} {path} has no declared access rule"
        if declared.public:
            continue
        for role, caller in callers.items():
            response = await client.request(method, concrete(path), headers=caller.bearer)
            if role in {r.value for r in declared.roles}:
                assert response.status not in (401, 403), (role, method, path)
            else:
                assert response.status == 403, (role, method, path, await response.text())
                body = await response.json()
                assert body["error"] == "forbidden"
                assert body["details"]["required"]
                refusals += 1
    assert refusals >= 10


async def test_given_route_outside_the_table_when_called_then_it_needs_a_login(
    services: Any, aiohttp_client: Any, agent: Caller
) -> None:
    from agent_ui.wiring import setup

    application = web.Application()
    setup(application, services)

    async def undeclared(_request: web.Request) -> web.Response:
        return web.json_response({"reached": True})

    application.router.add_get("/undeclared", undeclared)
    client = await aiohttp_client(application)
    assert (await client.get("/undeclared")).status == 401
    assert (await client.get("/undeclared", headers=agent.bearer)).status == 200


def test_given_openapi_document_then_valid_openapi_3_1(app: web.Application) -> None:
    document = app[OPENAPI_DOCUMENT]
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_given_openapi_document_then_same_routes_as_router(app: web.Application) -> None:
    document = app[OPENAPI_DOCUMENT]
    described = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert described == set(registered_routes(app))


def test_given_openapi_document_then_roles_and_security_match_the_table(
    app: web.Application,
) -> None:
    document = app[OPENAPI_DOCUMENT]
    for (method, path), declared in app[ENDPOINTS].items():
        operation = document["paths"][path][method.lower()]
        if declared.public:
            assert operation["security"] == []
            assert operation["x-roles"] == ["public"]
        else:
            assert operation["x-roles"] == sorted(r.value for r in declared.roles)
            assert {"bearerToken": []} in operation["security"]
        if declared.body is not None:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            name = ref.rsplit("/", 1)[1]
            schema = document["components"]["schemas"][name]
            assert schema["additionalProperties"] is False


async def test_given_authenticated_user_when_fetching_openapi_then_served(
    client: Client, agent: Caller
) -> None:
    response = await client.get("/api/v1/openapi.json", headers=agent.bearer)
    assert response.status == 200
    assert (await response.json())["info"]["title"] == "Contact center API"


@pytest.mark.parametrize(
    ("method", "path", "status", "error"),
    [
        ("GET", "/api/v1/nothing-here", 404, "route-not-found"),
        ("PUT", "/api/v1/auth/login", 405, "method-not-allowed"),
        ("GET", "/api/v1/customers/12345678901234567890", 404, "route-not-found"),
    ],
)
async def test_given_unknown_route_or_method_then_json_error(
    client: Client, method: str, path: str, status: int, error: str
) -> None:
    response = await client.request(method, path)
    assert response.status == status
    assert (await response.json())["error"] == error


async def test_given_any_response_then_security_headers_present(
    client: Client, agent: Caller
) -> None:
    for response in (
        await client.get("/status"),
        await client.get("/api/v1/auth/me"),
        await client.get("/api/v1/auth/me", headers=agent.bearer),
        await client.get("/nowhere"),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Request-Id"]
