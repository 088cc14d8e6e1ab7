"""``/wallboard`` and ``/reports``: who may open them, and what their page data carries."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from tests.agent_ui.conftest import Caller
from tests.agent_ui.test_console_page import page_data

Client = TestClient[Any, Any]


async def test_given_no_session_when_opening_the_wallboard_then_it_sends_to_the_login_page(
    client: Client,
) -> None:
    for path in ("/wallboard", "/reports"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 302
        assert response.headers["Location"] == f"/login?next={path}"


async def test_given_an_agent_when_opening_the_wallboard_or_reports_then_refused(
    client: Client, agent: Caller
) -> None:
    for path in ("/wallboard", "/wallboard?kiosk=1", "/reports"):
        response = await client.get(path, headers={"Authorization": f"Bearer {agent.token}"})
        assert response.status == 403, path


async def test_given_a_supervisor_when_opening_the_wallboard_then_the_page_can_act(
    client: Client,
    supervisor: Caller,
    make_user: Callable[..., Awaitable[Caller]],
    login: Callable[..., Awaitable[str]],
) -> None:
    await make_user("agent2", "agent", display_name="Bob <b>Agent</b>", extension="1002")
    csrf = await login(supervisor.username)
    response = await client.get("/wallboard")
    assert response.status == 200
    html = await response.text()
    assert '<script type="module" src="/static/js/wallboard.js"></script>' in html
    assert not re.search(r"<script(?![^>]*(?:src=|type=\"application/json\"))", html)
    assert "<b>Agent</b>" not in html
    assert 'id="action-dialog"' in html
    assert 'href="/wallboard?kiosk=1"' in html
    data = page_data(html)
    assert data["csrf_token"] == csrf
    assert data["kiosk"] is False and data["can_act"] is True
    assert data["topic"] == "wallboard" and data["hub_path"] == "/api/v1/hub"
    assert {a["name"] for a in data["agents"]} == {"Bob <b>Agent</b>"}
    assert "missed-offer" not in data["not_ready_reasons"]


async def test_given_the_kiosk_view_then_it_has_no_actions(
    client: Client, admin: Caller, login: Callable[..., Awaitable[str]]
) -> None:
    await login(admin.username)
    response = await client.get("/wallboard?kiosk=1")
    assert response.status == 200
    html = await response.text()
    assert 'class="page-wallboard kiosk"' in html
    assert 'id="action-dialog"' not in html and 'id="waiting-table"' not in html
    data = page_data(html)
    assert data["kiosk"] is True and data["can_act"] is False


async def test_given_a_supervisor_when_opening_reports_then_today_is_the_routing_day(
    client: Client, supervisor: Caller, login: Callable[..., Awaitable[str]]
) -> None:
    await login(supervisor.username)
    response = await client.get("/reports")
    assert response.status == 200
    html = await response.text()
    data = page_data(html)
    assert data["reports_path"] == "/api/v1/reports/contacts"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", data["today"])
    assert f'value="{data["today"]}"' in html
