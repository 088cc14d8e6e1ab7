"""/status never echoes a peer's text unbounded or over several lines."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from contact_center.services import Services


async def test_given_a_probe_quoting_a_huge_multiline_error_then_status_is_bounded(
    services: Services, aiohttp_client: Any
) -> None:
    async def forged() -> dict[str, Any]:
        return {"ok": False, "last_error": "denied\nforged " + "z" * 100_000}

    services.health["asterisk"] = forged
    from agent_ui.wiring import setup

    app = web.Application()
    setup(app, services)
    client: TestClient[Any, Any] = await aiohttp_client(app)
    response = await client.get("/status")
    body = await response.text()
    assert response.status == 503
    assert len(body) < 2000
    report = (await response.json())["services"]["asterisk"]["last_error"]
    assert "\n" not in report and report.startswith("denied\\nforged")
