"""The agent-state report: every agent.state_changed kept (ids only), and seconds per
state and per not-ready reason per agent for a UTC day, intervals crossing midnight
split, the open interval counted up to now; for supervisors and admins only."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_ui.wiring import setup
from contact_center.agent_reports import StateChange, day_bounds, time_in_states
from contact_center.agent_state import register_agents, settle_state_log
from contact_center.services import Services
from contact_center.store.schema import agent_state_changes
from routing.model import CustomerContext
from routing.wiring import build_routing
from tests.agent_ui.conftest import Caller, FakeClock

Client = TestClient[Any, Any]
DAY = datetime.date(2026, 3, 9)
START, END = day_bounds(DAY)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    # A file for SQLite: the history recorder and the agent state log write from their
    # own tasks, which one shared in-memory connection cannot take.
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START + 23 * 3600)  # 23:00 UTC


@pytest.fixture
def app(routed_services: Services) -> web.Application:
    application = web.Application()
    setup(application, routed_services)
    return application


async def set_state(client: Client, caller: Caller, state: str, reason: str | None = None) -> None:
    response = await client.put(
        "/api/v1/agents/me/state", json={"state": state, "reason": reason}, headers=caller.bearer
    )
    assert response.status == 200, await response.text()


async def report(client: Client, caller: Caller, query: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/reports/agent-states?{query}", headers=caller.bearer)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_given_a_shift_across_midnight_then_each_day_counts_its_own_part(
    client: Client, agent: Caller, supervisor: Caller, clock: FakeClock
) -> None:
    await set_state(client, agent, "ready")  # 23:00
    clock.advance(5400)  # 00:30 the next day
    await set_state(client, agent, "not_ready", "lunch")
    clock.advance(1800)  # 01:00
    await set_state(client, agent, "ready")
    clock.advance(3600)  # now: 02:00, still ready

    first = await report(client, supervisor, f"day={DAY}")
    [row] = first["agents"]
    assert (row["agent_id"], row["user_id"], row["name"]) == (
        str(agent.user_id),
        agent.user_id,
        "agent1",
    )
    assert row["states"] == {"offline": 0.0, "ready": 3600.0, "not_ready": 0.0}
    assert row["changes"] == 1

    second = await report(client, supervisor, f"day={DAY + datetime.timedelta(days=1)}")
    [row] = second["agents"]
    assert row["states"] == {"offline": 0.0, "ready": 1800.0 + 3600.0, "not_ready": 1800.0}
    assert row["not_ready_reasons"] == {"lunch": 1800.0}
    assert (row["state"], row["changes"]) == ("ready", 2)
    # The open interval ends now: "to" is now, not midnight.
    assert second["to"] == clock.now

    future = await report(client, supervisor, f"day={DAY + datetime.timedelta(days=5)}")
    assert future["agents"] == []


async def test_given_a_missed_offer_then_its_time_is_counted_under_that_reason(
    client: Client, agent: Caller, admin: Caller, clock: FakeClock, routed_services: Services
) -> None:
    assert routed_services.routing is not None
    await set_state(client, agent, "ready")
    await routed_services.routing.enqueue("chat-1", "chat", "support", CustomerContext())
    clock.advance(10)
    declined = await client.post("/api/v1/offers/chat-1/decline", headers=agent.bearer)
    assert declined.status == 200
    clock.advance(50)
    body = await report(client, admin, f"day={DAY}&agent_id={agent.user_id}")
    [row] = body["agents"]
    assert row["states"]["ready"] == 10.0
    assert row["not_ready_reasons"] == {"missed-offer": 50.0}
    assert (row["state"], row["reason"]) == ("not_ready", "missed-offer")


async def test_given_an_agent_filter_then_only_that_agent_is_reported(
    client: Client, agent: Caller, supervisor: Caller, make_user: Any
) -> None:
    other = await make_user("agent2", "agent")
    await set_state(client, agent, "ready")
    await set_state(client, other, "ready")
    body = await report(client, supervisor, f"day={DAY}&agent_id={other.user_id}")
    assert [row["agent_id"] for row in body["agents"]] == [str(other.user_id)]
    both = await report(client, supervisor, f"day={DAY}")
    assert [row["agent_id"] for row in both["agents"]] == [str(agent.user_id), str(other.user_id)]


async def test_given_kept_changes_then_they_hold_ids_and_states_only(
    client: Client, agent: Caller, routed_services: Services
) -> None:
    await set_state(client, agent, "not_ready", "lunch")
    assert routed_services.agent_states is not None
    await routed_services.agent_states.wait_idle()
    async with routed_services.engine.connect() as conn:
        rows = (await conn.execute(sa.select(agent_state_changes))).mappings().all()
    assert [(r["agent_id"], r["state"], r["reason"], r["changed_by"]) for r in rows] == [
        (str(agent.user_id), "not_ready", "lunch", "agent")
    ]
    assert set(agent_state_changes.c.keys()) == {
        "id",
        "agent_id",
        "at",
        "state",
        "reason",
        "changed_by",
    }


async def test_given_an_agent_or_bad_input_then_the_report_is_refused(
    client: Client, agent: Caller, supervisor: Caller
) -> None:
    path = "/api/v1/reports/agent-states"
    assert (await client.get(f"{path}?day={DAY}", headers=agent.bearer)).status == 403
    assert (await client.get(f"{path}?day={DAY}")).status == 401
    for query in ("", "day=yesterday", "day=2026-02-30", "day=2026-03-09&agent_id=0",
                  "day=2026-03-09&agent_id=x", "day=2026-03-09&extra=1"):  # fmt: skip
        response = await client.get(f"{path}?{query}", headers=supervisor.bearer)
        assert response.status == 422, query


def test_given_changes_then_intervals_are_cut_at_the_period_bounds() -> None:
    changes = [
        StateChange("7", START - 600, "not_ready", "break"),
        StateChange("7", START + 600, "ready", None),
        StateChange("7", START + 900, "offline", None),
        StateChange("8", START + 100, "ready", None),
        StateChange("8", END + 100, "offline", None),
    ]
    days = {d.agent_id: d for d in time_in_states(changes, START, END)}
    assert days["7"].states == {"offline": 86_400.0 - 900, "ready": 300.0, "not_ready": 600.0}
    assert days["7"].not_ready_reasons == {"break": 600.0}
    assert days["7"].changes == 2
    assert days["8"].states["ready"] == 86_400.0 - 100
    assert (days["8"].state, days["8"].changes) == ("ready", 1)


async def test_given_a_restart_under_a_ready_agent_then_the_downtime_is_not_counted_as_ready(
    client: Client, agent: Caller, supervisor: Caller, clock: FakeClock, routed_services: Services
) -> None:
    await set_state(client, agent, "ready")  # 23:00
    clock.advance(600)
    # The node stops; an in-memory router starts everyone offline.
    fresh = build_routing(
        routed_services.settings, sink=routed_services.agent_states, clock=routed_services.clock
    )
    await fresh.start()
    old, routed_services.routing = routed_services.routing, fresh
    try:
        agents = await register_agents(routed_services)
        assert await settle_state_log(routed_services, agents) == 1
        assert await settle_state_log(routed_services, agents) == 0  # once is enough
        clock.advance(1200)
        body = await report(client, supervisor, f"day={DAY}")
        [row] = body["agents"]
        assert row["states"] == {"offline": 1200.0, "ready": 600.0, "not_ready": 0.0}
    finally:
        routed_services.routing = old
        await fresh.close()
