"""The assembled product: a customer phones the simulated PBX, the router offers the
call to a ready agent, the phone rings and answers, and the call lands on the
customer's timeline in the profile store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from contact_center.app import SERVICES, build_app, build_services
from contact_center.services import SYSTEM, Actor
from contact_center.settings import Settings
from contact_center.store.migrate import upgrade
from cti.simulator.pbx import SimulatedPbx
from cti.wiring import start_simulated_asterisk

ROUTING = {"queues": {"support": {"channels": ["voice", "chat", "email"]}}}


@pytest.fixture
async def stack(
    tmp_path: Path, aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]]
) -> AsyncIterator[tuple[web.Application, SimulatedPbx, TestClient[Any, Any]]]:
    settings = Settings().with_overrides(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"}
    )
    settings = settings.model_copy(update={"routing": ROUTING})
    setup = build_services(settings)
    await upgrade(setup.engine)
    await setup.accounts.add_user(
        "alice", password="correct horse battery", role="agent", extension="1001"
    )
    await setup.profiles.create_customer(
        {"display_name": "Ann Lee"}, [setup.profiles.identity("phone", "+442079460018")],
        actor=SYSTEM,
    )  # fmt: skip
    await setup.engine.dispose()

    pbx, server = await start_simulated_asterisk({"alice": "1001"}, ring_seconds=0.05)
    asterisk = settings.asterisk.model_copy(update={"servers": (server,)})
    app = build_app(settings.model_copy(update={"asterisk": asterisk}))
    client = await aiohttp_client(app)
    services = app[SERVICES]
    assert services.telephony is not None
    await services.telephony.wait_resyncs("simulated", 1, timeout=10)
    try:
        yield app, pbx, client
    finally:
        await pbx.stop()


async def test_given_a_ready_agent_when_a_known_customer_calls_then_history_records_the_call(
    stack: tuple[web.Application, SimulatedPbx, TestClient[Any, Any]],
) -> None:
    app, pbx, client = stack
    services = app[SERVICES]
    assert services.routing is not None and services.recorder is not None
    alice = await services.accounts.get_user("alice")
    await services.routing.ready(str(alice.id))
    closed = services.bus.subscribe(["contact.closed", "contact.wrap_up_started"])

    call_id = await pbx.place_call("+44 20 7946 0018", queue="support")
    assert await pbx.wait_call_state(call_id, ("connected",), timeout=10) == "connected"
    await pbx.caller_hangs_up(call_id)
    assert await pbx.wait_call_state(call_id, (), timeout=10) == "gone"
    await closed.get(timeout=10)
    await services.recorder.wait_idle(timeout=10)

    pop = await services.profiles.screen_pop(
        services.profiles.identity("phone", "+442079460018"), viewer=Actor(alice.id, "alice")
    )
    assert pop["customer"]["display_name"] == "Ann Lee"
    calls = pop["interactions"] + pop["open_interactions"]
    assert len(calls) == 1
    call = calls[0]
    assert call["channel"] == "voice" and call["queue"] == "support"
    assert call["agent_id"] == alice.id
    assert call["queued_at"] <= call["offered_at"] <= call["answered_at"] <= call["ended_at"]
    assert call["external_ids"]["asterisk_call"]
    assert services.recorder.health()["failed"] == 0

    status = await client.get("/status")
    body = await status.json()
    assert body["services"]["asterisk"]["ok"] is True
    assert body["services"]["history"]["applied"] > 0
    assert body["services"]["routing"]["ok"] is True
    assert body["services"]["routing"]["backend"] == "memory"


async def test_given_an_unknown_caller_then_a_provisional_customer_gets_the_call(
    stack: tuple[web.Application, SimulatedPbx, TestClient[Any, Any]],
) -> None:
    app, pbx, _client = stack
    services = app[SERVICES]
    assert services.recorder is not None
    queued = services.bus.subscribe(["contact.queued"])
    abandoned = services.bus.subscribe(["contact.abandoned"])
    call_id = await pbx.place_call("+14155552671", queue="support")
    await queued.get(timeout=10)
    await services.recorder.wait_idle(timeout=10)
    found = await services.profiles.search(phone="+14155552671")
    assert found["items"][0]["provisional"] is True
    await pbx.caller_hangs_up(call_id)
    await abandoned.get(timeout=10)
    await services.recorder.wait_idle(timeout=10)
    history = await services.profiles.history(found["items"][0]["id"], viewer=SYSTEM)
    assert history["items"][0]["disposition"] == "abandoned"
