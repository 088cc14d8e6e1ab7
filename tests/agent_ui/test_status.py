"""/status: public health of every adapter, without secrets."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from agent_ui.api import status as status_module
from contact_center.services import Services

Client = TestClient[Any, Any]


async def test_given_all_probes_ok_then_200_with_each_report(
    client: Client, services: Services
) -> None:
    services.health["database"] = services.profiles.ping

    async def bus() -> dict[str, Any]:
        return {"ok": True, "backend": "memory"}

    services.health["bus"] = bus
    response = await client.get("/status")
    assert response.status == 200
    body = await response.json()
    assert body["ok"] is True
    assert body["services"]["database"]["backend"] == "sqlite"
    assert body["services"]["bus"] == {"ok": True, "backend": "memory"}


async def test_given_failing_raising_or_hanging_probe_then_503_naming_it(
    client: Client, services: Services, monkeypatch: Any
) -> None:
    monkeypatch.setattr(status_module, "PROBE_TIMEOUT_SECONDS", 0.05)
    never = asyncio.Event()

    async def down() -> dict[str, Any]:
        return {"ok": False, "error": "connection refused"}

    async def broken() -> dict[str, Any]:
        raise RuntimeError("redis://user:hunter2@db.internal failed")

    async def hanging() -> dict[str, Any]:
        await never.wait()
        return {"ok": True}

    async def fine() -> dict[str, Any]:
        return {"ok": True}

    services.health.update(ami=down, redis=broken, smtp=hanging, bus=fine)
    response = await client.get("/status")
    assert response.status == 503
    body = await response.json()
    assert body["ok"] is False
    assert body["services"]["ami"]["ok"] is False
    assert body["services"]["redis"] == {"ok": False, "error": "RuntimeError"}
    assert body["services"]["smtp"]["ok"] is False
    assert body["services"]["bus"]["ok"] is True
    assert "hunter2" not in await response.text()


async def test_given_probe_reporting_secrets_then_they_are_not_shown(
    client: Client, services: Services
) -> None:
    async def leaky() -> dict[str, Any]:
        return {
            "ok": True,
            "url": "redis://cc:s3cret-pass@10.0.0.5:6379/0",
            "secret": "ami-secret",
            "servers": [{"name": "pbx1", "password": "pw"}],
        }

    services.health["redis"] = leaky
    response = await client.get("/status")
    text = await response.text()
    assert response.status == 200
    assert "s3cret-pass" not in text and "ami-secret" not in text and '"pw"' not in text
    assert (await response.json())["services"]["redis"]["servers"] == [{"name": "pbx1"}]


async def test_given_no_service_probes_then_the_edge_still_names_its_own_backends(
    client: Client,
) -> None:
    response = await client.get("/status")
    assert response.status == 200
    assert await response.json() == {
        "ok": True,
        "services": {
            "sessions": {"ok": True, "backend": "memory", "sessions": 0},
            "login_throttle": {"ok": True, "backend": "memory"},
        },
    }
