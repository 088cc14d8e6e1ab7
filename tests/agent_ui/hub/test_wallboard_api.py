"""The wallboard's REST side: the board, the staffing what-if, supervisor actions on
contacts and agents (each authorised and audit-logged), and the contact report."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent_ui.hub.hub import Hub
from agent_ui.hub.messages import AgentStateUpdate
from contact_center.services import SYSTEM, Services
from tests.agent_ui.conftest import Caller, FakeClock
from tests.agent_ui.hub.conftest import Connect, enqueue, ready

Client = TestClient[Any, Any]
MakeUser = Callable[..., Awaitable[Caller]]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The report reads SQL of its own: both databases. (A file for SQLite: the
    wallboard reads from a task of its own, which one shared in-memory connection
    cannot take.)"""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'cc.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def limited(make_user: MakeUser, routed: Services) -> Caller:
    """A supervisor of the sales queue only ([routing.agents.<username>] queues)."""
    routed.agent_settings["salesboss"] = {"queues": ["sales"]}
    return await make_user("salesboss", "supervisor")


async def _audit(client: Client, admin: Caller, action: str) -> list[dict[str, Any]]:
    found = await client.get("/api/v1/audit", params={"action": action}, headers=admin.bearer)
    assert found.status == 200, await found.text()
    items: list[dict[str, Any]] = (await found.json())["items"]
    return items


async def test_given_roles_then_the_board_is_for_supervisors_and_admins_only(
    client: Client, agent: Caller, supervisor: Caller, admin: Caller, hub: Hub
) -> None:
    refused = await client.get("/api/v1/wallboard", headers=agent.bearer)
    assert refused.status == 403
    for caller in (supervisor, admin):
        found = await client.get("/api/v1/wallboard", headers=caller.bearer)
        assert found.status == 200
        board = await found.json()
        assert [(q["queue"], q["channel"]) for q in board["queues"]] == [
            ("sales", "voice"),
            ("support", "voice"),
            ("support", "chat"),
        ]


async def test_given_a_load_then_the_what_if_answers_with_erlang_c(
    client: Client, supervisor: Caller, agent: Caller, hub: Hub
) -> None:
    body = {
        "queue": "support",
        "arrival_rate_per_hour": 200,
        "aht_seconds": 180,
        "target_service_level": 80,
        "target_seconds": 20,
        "agents": 13,
    }
    answer = await client.post("/api/v1/wallboard/staffing", json=body, headers=supervisor.bearer)
    assert answer.status == 200, await answer.text()
    found = await answer.json()
    assert found["agents_needed"] == 14
    assert found["model"] == "erlang-c"
    assert found["service_level_now_percent"] == pytest.approx(79.56, abs=0.01)
    assert [row["agents"] for row in found["table"]][:4] == [11, 12, 13, 14]
    assert found["table"][-1]["agents"] == 17

    for bad in (
        {"queue": "support", "aht_seconds": 0},
        {"queue": "support", "agents": -1},
        {"queue": "support", "surprise": 1},
    ):
        refused = await client.post(
            "/api/v1/wallboard/staffing", json=bad, headers=supervisor.bearer
        )
        assert refused.status == 422, bad
    unknown = await client.post(
        "/api/v1/wallboard/staffing", json={"queue": "nowhere"}, headers=supervisor.bearer
    )
    assert (unknown.status, (await unknown.json())["error"]) == (404, "no-such-queue")
    as_agent = await client.post(
        "/api/v1/wallboard/staffing", json={"queue": "support"}, headers=agent.bearer
    )
    assert as_agent.status == 403


async def test_given_a_waiting_contact_when_a_supervisor_moves_it_then_it_is_in_the_new_queue(
    client: Client,
    supervisor: Caller,
    admin: Caller,
    agent: Caller,
    limited: Caller,
    routed: Services,
    hub: Hub,
) -> None:
    await enqueue(routed, "call-1")
    url = "/api/v1/contacts/call-1/move"
    assert (await client.post(url, json={"queue": "sales"}, headers=agent.bearer)).status == 403
    outside = await client.post(url, json={"queue": "sales"}, headers=limited.bearer)
    assert (outside.status, (await outside.json())["error"]) == (403, "not-your-queue")
    both = await client.post(
        url, json={"queue": "sales", "agent_id": "1"}, headers=supervisor.bearer
    )
    assert both.status == 422
    moved = await client.post(url, json={"queue": "sales"}, headers=supervisor.bearer)
    assert moved.status == 200, await moved.text()
    described = await moved.json()
    assert (described["queue"], described["state"]) == ("sales", "queued")
    audit = await _audit(client, admin, "contact.moved")
    assert audit[0]["contact_id"] == "call-1"
    assert audit[0]["details"] == {"from_queue": "support", "queue": "sales"}
    # Now in sales: the sales supervisor may change its priority.
    raised = await client.post(
        "/api/v1/contacts/call-1/priority", json={"priority": 50}, headers=limited.bearer
    )
    assert raised.status == 200, await raised.text()
    assert (await raised.json())["priority"] == 50
    assert (await _audit(client, admin, "contact.priority_changed"))[0]["details"]["to"] == 50
    too_high = await client.post(
        "/api/v1/contacts/call-1/priority", json={"priority": 5000}, headers=supervisor.bearer
    )
    assert too_high.status == 422
    missing = await client.post(
        "/api/v1/contacts/call-404/move", json={"queue": "sales"}, headers=supervisor.bearer
    )
    assert (missing.status, (await missing.json())["error"]) == (404, "no-such-contact")


async def test_given_a_waiting_contact_when_offered_to_a_named_agent_then_the_explanation_says_so(
    client: Client, supervisor: Caller, agent: Caller, routed: Services, hub: Hub
) -> None:
    await register_only(routed)
    await enqueue(routed, "chat-9")
    assert routed.routing is not None
    await routed.routing.ready(str(agent.user_id))
    # Ready now: the router offered it at once. Another one sent to the agent by name
    # is refused: their one voice slot is taken.
    await enqueue(routed, "call-2", queue="sales")
    busy = await client.post(
        "/api/v1/contacts/call-2/move",
        json={"agent_id": str(agent.user_id)},
        headers=supervisor.bearer,
    )
    assert busy.status == 409, await busy.text()
    nobody = await client.post(
        "/api/v1/contacts/call-2/move", json={"agent_id": "nobody"}, headers=supervisor.bearer
    )
    assert (nobody.status, (await nobody.json())["error"]) == (404, "no-such-agent")
    explained = await client.get("/api/v1/contacts/chat-9/explanation", headers=supervisor.bearer)
    assert explained.status == 200, await explained.text()
    found = await explained.json()
    assert found["contact_id"] == "chat-9"
    assert found["decisions"] and found["decisions"][-1]["agent_id"] == str(agent.user_id)
    as_agent = await client.get("/api/v1/contacts/chat-9/explanation", headers=agent.bearer)
    assert as_agent.status == 403


async def register_only(routed: Services) -> None:
    from contact_center.agent_state import register_agents

    await register_agents(routed)


async def test_given_a_supervisor_forcing_an_agent_not_ready_then_the_agents_console_is_told(
    client: Client,
    connect: Connect,
    supervisor: Caller,
    admin: Caller,
    agent: Caller,
    limited: Caller,
    routed: Services,
    hub: Hub,
) -> None:
    routed.agent_settings["agent1"] = {"queues": ["support"]}
    await ready(routed, agent)
    desk = await connect(agent)
    await desk.hello()
    url = f"/api/v1/agents/{agent.user_id}/state"
    body = {"state": "not_ready", "reason": "lunch"}
    outside = await client.put(url, json=body, headers=limited.bearer)
    assert (outside.status, (await outside.json())["error"]) == (403, "not-your-queue")
    forced = await client.put(url, json=body, headers=supervisor.bearer)
    assert forced.status == 200, await forced.text()
    told = await desk.until(AgentStateUpdate)
    assert (told.state, told.reason, told.by) == ("not_ready", "lunch", "supervisor")
    audit = await _audit(client, admin, "agent.state_forced")
    assert audit[0]["details"]["user_id"] == agent.user_id


async def test_given_stored_contacts_then_the_report_counts_them_and_csv_is_safe(
    client: Client,
    supervisor: Caller,
    agent: Caller,
    make_user: MakeUser,
    routed: Services,
    clock: FakeClock,
    hub: Hub,
) -> None:
    tricky = await make_user("tricky", "agent", display_name='=HYPERLINK("x")')
    profiles = routed.profiles
    day = clock() - (clock() % 86_400)  # 2025-06-15 00:00 UTC
    rows = [  # queued, answered, ended, wrap-up end, disposition, agent
        (day + 3600, day + 3610, day + 3790, day + 3820, "resolved", agent.user_id),
        (day + 3630, day + 3660, day + 3930, None, None, tricky.user_id),
        (day + 3640, None, day + 3643, None, "abandoned", None),
        (day + 3650, None, day + 3710, None, "abandoned", None),
    ]
    for n, (queued, answered, ended, wrapped, disposition, who) in enumerate(rows):
        # A customer each: no contact is another's repeat (first-contact resolution).
        customer = await profiles.create_customer({"display_name": f"C{n}"}, [], actor=SYSTEM)
        created = await profiles.start_interaction(
            customer["id"],
            channel="voice",
            contact_id=f"call-r{n}",
            queue="support",
            started_at=queued,
        )
        await profiles.update_interaction(
            created["id"],
            {
                "queued_at": queued,
                "answered_at": answered,
                "ended_at": ended,
                "wrap_up_ended_at": wrapped,
                "disposition": disposition,
                "agent_id": who,
                "resolved": disposition == "resolved",
                "csat": 5 if n == 0 else None,
            },
        )
    url = "/api/v1/reports/contacts"
    query = {"from": "2025-06-15", "to": "2025-06-15", "group_by": "queue"}
    found = await client.get(url, params=query, headers=supervisor.bearer)
    assert found.status == 200, await found.text()
    report = await found.json()
    (row,) = report["rows"]
    assert (row["period"], row["group"]) == ("2025-06-15", "support")
    assert (row["offered"], row["answered"], row["abandoned"], row["short_abandoned"]) == (
        4,
        2,
        2,
        1,
    )
    # Within 20 s: the first (10 s); the second waited 30 s; one long abandon counts.
    assert row["service_level_percent"] == pytest.approx(33.33, abs=0.01)
    assert row["asa_seconds"] == 20.0
    assert row["aht_seconds"] == (210 + 270) / 2
    assert row["fcr_percent"] == 50.0  # the first resolved, the second not
    assert (row["csat_average"], row["csat_responses"]) == (5.0, 1)

    hourly = await client.get(
        url,
        params={**query, "interval": "hour", "group_by": "agent", "format": "csv"},
        headers=supervisor.bearer,
    )
    assert hourly.status == 200
    assert hourly.content_type == "text/csv"
    lines = list(csv.reader(io.StringIO(await hourly.text())))
    assert lines[0][:4] == ["period", "group", "name", "offered"]
    names = {line[2] for line in lines[1:]}
    assert '\'=HYPERLINK("x")' in names
    assert not any(cell.startswith(("=", "+", "-", "@")) for line in lines for cell in line)
    assert any(line[0] == "2025-06-15T01:00" for line in lines[1:])

    for bad in (
        {"from": "2025-06-15", "to": "2025-06-14"},
        {"from": "2025-01-01", "to": "2025-12-31"},
        {"from": "2025-02-30", "to": "2025-03-01"},
        {"from": "x", "to": "2025-06-15"},
        {"from": "2025-06-15", "to": "2025-06-15", "group_by": "planet"},
    ):
        refused = await client.get(url, params=bad, headers=supervisor.bearer)
        assert refused.status == 422, bad
    as_agent = await client.get(url, params=query, headers=agent.bearer)
    assert as_agent.status == 403
