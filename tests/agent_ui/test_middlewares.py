"""Error mapping, request ids, endpoint registration and cookie/HSTS settings."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import pytest
from aiohttp import web

from agent_ui.endpoint import ANY_USER, PUBLIC, Endpoint
from agent_ui.middlewares import SESSION_COOKIE
from agent_ui.wiring import add_endpoints, setup
from contact_center.errors import Conflict
from contact_center.services import Services
from tests.agent_ui.conftest import PASSWORD, Caller


async def explode(_request: web.Request) -> web.StreamResponse:
    raise RuntimeError("database password is hunter2")


async def conflict(_request: web.Request) -> web.StreamResponse:
    raise Conflict("already done", details={"thing": 1})


@pytest.fixture
def extended_app(services: Services) -> web.Application:
    application = web.Application()
    setup(application, services)
    add_endpoints(
        application,
        [
            Endpoint("GET", "/api/v1/test/explode", explode, ANY_USER, "boom", "test"),
            Endpoint("GET", "/api/v1/test/conflict", conflict, PUBLIC, "conflict", "test"),
        ],
    )
    return application


async def test_given_unexpected_exception_then_500_with_request_id_and_no_details_leaked(
    extended_app: web.Application, aiohttp_client: Any, agent: Caller, caplog: Any
) -> None:
    client = await aiohttp_client(extended_app)
    with caplog.at_level(logging.ERROR, logger="agent_ui.middlewares"):
        response = await client.get("/api/v1/test/explode", headers=agent.bearer)
    assert response.status == 500
    body = await response.json()
    assert body["error"] == "internal-error"
    assert "hunter2" not in await response.text()
    request_id = body["details"]["request_id"]
    assert response.headers["X-Request-Id"] == request_id
    assert any(request_id in r.getMessage() for r in caplog.records)


async def test_given_app_error_then_its_status_id_and_details(
    extended_app: web.Application, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(extended_app)
    response = await client.get("/api/v1/test/conflict", headers={"X-Request-Id": "abc-123"})
    assert response.status == 409
    assert await response.json() == {
        "error": "conflict",
        "message": "already done",
        "details": {"thing": 1},
    }
    assert response.headers["X-Request-Id"] == "abc-123"


async def test_given_hostile_request_id_then_replaced(
    extended_app: web.Application, aiohttp_client: Any
) -> None:
    client = await aiohttp_client(extended_app)
    response = await client.get("/api/v1/test/conflict", headers={"X-Request-Id": "x" * 500})
    assert response.headers["X-Request-Id"] != "x" * 500
    assert len(response.headers["X-Request-Id"]) <= 64


def test_given_added_endpoints_then_in_openapi_and_duplicates_refused(
    extended_app: web.Application,
) -> None:
    from agent_ui.app_keys import OPENAPI_DOCUMENT

    assert "/api/v1/test/explode" in extended_app[OPENAPI_DOCUMENT]["paths"]
    with pytest.raises(ValueError, match="declared twice"):
        add_endpoints(
            extended_app,
            [Endpoint("GET", "/api/v1/test/explode", explode, ANY_USER, "again", "test")],
        )


async def test_given_secure_cookies_setting_then_secure_cookie_and_hsts(
    services: Services, aiohttp_client: Any, agent: Caller
) -> None:
    secure = dataclasses.replace(
        services, settings=services.settings.with_overrides(security={"cookie_secure": True})
    )
    application = web.Application()
    setup(application, secure)
    client = await aiohttp_client(application)
    response = await client.post(
        "/api/v1/auth/login", json={"username": "agent1", "password": PASSWORD}
    )
    assert response.status == 200
    cookie = response.cookies[SESSION_COOKIE]
    assert cookie["secure"] and cookie["httponly"]
    assert "max-age=" in response.headers["Strict-Transport-Security"]
