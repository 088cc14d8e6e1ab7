"""``/console``: who may open it, and what its page data carries for the modules."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from agent_ui.pages.console import console_config
from tests.agent_ui.conftest import Caller

Client = TestClient[Any, Any]
PAGE_DATA = re.compile(r'<script type="application/json" id="page-data">(.*?)</script>', re.S)


def page_data(html: str) -> dict[str, Any]:
    found = PAGE_DATA.search(html)
    assert found is not None
    data: dict[str, Any] = json.loads(found.group(1))
    return data


async def test_given_no_session_when_opening_the_console_then_it_sends_to_the_login_page(
    client: Client,
) -> None:
    response = await client.get("/console", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/login?next=/console"


async def test_given_an_agent_when_opening_the_console_then_the_page_carries_what_the_modules_need(
    client: Client, agent: Caller, make_user: Callable[..., Awaitable[Caller]],
    login: Callable[..., Awaitable[str]],
) -> None:  # fmt: skip
    await make_user("agent2", "agent", display_name="Bob <b>Agent</b>", extension="1002")
    csrf = await login(agent.username)
    response = await client.get("/console")
    assert response.status == 200
    html = await response.text()
    assert '<script type="module" src="/static/js/console.js"></script>' in html
    # No inline script: the CSP forbids it, the data is JSON that is never executed.
    assert not re.search(r"<script(?![^>]*(?:src=|type=\"application/json\"))", html)
    assert "<b>Agent</b>" not in html
    data = page_data(html)
    assert data["csrf_token"] == csrf
    assert data["is_agent"] is True
    assert data["hub_path"] == "/api/v1/hub"
    assert isinstance(data["server_time"], float)
    assert {a["name"] for a in data["agents"]} == {"agent1", "Bob <b>Agent</b>"}
    assert "disconnected" not in data["not_ready_reasons"]


async def test_given_a_supervisor_when_opening_the_console_then_it_opens_without_agent_state(
    client: Client, supervisor: Caller, login: Callable[..., Awaitable[str]]
) -> None:
    await login(supervisor.username)
    response = await client.get("/console")
    assert response.status == 200
    html = await response.text()
    assert page_data(html)["is_agent"] is False
    assert 'id="state-ready"' not in html


async def test_given_an_api_token_when_opening_the_console_then_the_page_is_served_too(
    client: Client, agent: Caller
) -> None:
    response = await client.get("/console", headers={"Authorization": f"Bearer {agent.token}"})
    assert response.status == 200
    assert page_data(await response.text())["csrf_token"] is None


def test_given_routing_settings_then_the_console_offers_only_reasons_an_agent_may_choose() -> None:
    config = console_config(
        {
            "not_ready_reasons": ["lunch", "missed-offer", "disconnected", "training"],
            "queues": {
                "support": {"channels": ["voice"], "wrap_up_seconds": "manual"},
                "sales": {"channels": ["chat", "email"], "wrap_up_seconds": 30},
            },
        }
    )
    assert config["not_ready_reasons"] == ["lunch", "training"]
    assert config["queues"]["support"] == {
        "name": "support",
        "channels": ["voice"],
        "wrap_up_seconds": None,
    }
    assert config["queues"]["sales"]["wrap_up_seconds"] == 30.0
