"""Customer endpoints end to end (HTTP -> profile store -> database), on SQLite and on
PostgreSQL, including the audit trail they leave and how bad input is refused."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from contact_center.services import Services
from contact_center.store.schema import audit_events, customers, identities, notes, orders
from tests.agent_ui.conftest import Caller

Client = TestClient[Any, Any]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest) -> str:
    # Synchronous on purpose: postgres_url creates its database with asyncio.run.
    if request.param == "sqlite":
        return "sqlite+aiosqlite:///:memory:"
    return str(request.getfixturevalue("postgres_url"))


async def create(client: Client, caller: Caller, **fields: Any) -> dict[str, Any]:
    body = {"display_name": "Ada Lovelace", **fields}
    response = await client.post("/api/v1/customers", json=body, headers=caller.bearer)
    assert response.status == 201, await response.text()
    return dict(await response.json())


async def count(services: Services, table: sa.Table) -> int:
    async with services.engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def audit_rows(services: Services) -> list[dict[str, Any]]:
    async with services.engine.connect() as conn:
        result = await conn.execute(sa.select(audit_events).order_by(audit_events.c.id))
        return [dict(r) for r in result.mappings()]


async def test_given_customer_created_when_searched_by_each_key_then_found(
    client: Client, agent: Caller
) -> None:
    created = await create(
        client,
        agent,
        identities=[
            {"kind": "phone", "value": "020 7946 0018"},
            {"kind": "email", "value": "Ada@Example.COM"},
            {"kind": "account", "value": "ACC-1815"},
        ],
    )
    assert {"kind": "phone", "value": "+442079460018"} in created["identities"]
    assert {"kind": "email", "value": "ada@example.com"} in created["identities"]
    for query in (
        "name=ada",
        "name=lovel",
        "phone=%2B44%2020%207946%200018",
        "email=ADA@example.com",
        "number=ACC-1815",
        "q=ada%40example.com",
        "q=Ada",
    ):
        response = await client.get(f"/api/v1/customers?{query}", headers=agent.bearer)
        assert response.status == 200, (query, await response.text())
        assert [c["id"] for c in (await response.json())["items"]] == [created["id"]], query


async def test_given_searches_then_each_audited_with_customer_ids_but_not_the_search_text(
    client: Client, agent: Caller, services: Services
) -> None:
    created = await create(client, agent)
    await client.get("/api/v1/customers?name=ada", headers=agent.bearer)
    await client.get("/api/v1/customers?name=nobody", headers=agent.bearer)
    searched = [r for r in await audit_rows(services) if r["action"] == "customers.searched"]
    assert [r["actor_id"] for r in searched] == [agent.user_id, agent.user_id]
    assert searched[0]["details"] == {
        "criteria": ["name"],
        "customer_ids": [created["id"]],
        "next_page": False,
    }
    # An empty search is audited too (probing whether someone is a customer), and the
    # text searched for (a name, a number) is in neither row.
    assert searched[1]["details"]["customer_ids"] == []
    assert "ada" not in str(searched) and "nobody" not in str(searched)


async def test_given_many_matches_when_searching_then_paginated_without_overlap(
    client: Client, agent: Caller
) -> None:
    made = [(await create(client, agent, display_name=f"Smith {i}"))["id"] for i in range(5)]
    seen: list[int] = []
    cursor = ""
    for _ in range(5):
        response = await client.get(
            f"/api/v1/customers?name=smith&limit=2&cursor={cursor}", headers=agent.bearer
        )
        page = await response.json()
        seen.extend(c["id"] for c in page["items"])
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == made


async def test_given_profile_viewed_then_audit_names_viewer_customer_and_contact(
    client: Client, agent: Caller, services: Services
) -> None:
    created = await create(client, agent)
    response = await client.get(
        f"/api/v1/customers/{created['id']}?contact_id=call-42", headers=agent.bearer
    )
    assert response.status == 200
    assert (await response.json())["display_name"] == "Ada Lovelace"
    viewed = [r for r in await audit_rows(services) if r["action"] == "profile.viewed"]
    assert len(viewed) == 1
    assert viewed[0]["actor_id"] == agent.user_id
    assert viewed[0]["actor"] == "agent1"
    assert viewed[0]["customer_id"] == created["id"]
    assert viewed[0]["contact_id"] == "call-42"


async def test_given_update_when_patched_then_changed_and_audited(
    client: Client, agent: Caller, services: Services
) -> None:
    created = await create(client, agent)
    response = await client.patch(
        f"/api/v1/customers/{created['id']}",
        json={"tags": ["vip"], "lifecycle_stage": "customer", "consent": {"marketing": False}},
        headers=agent.bearer,
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["tags"] == ["vip"] and body["lifecycle_stage"] == "customer"
    updated = [r for r in await audit_rows(services) if r["action"] == "customer.updated"]
    assert updated[-1]["actor_id"] == agent.user_id
    assert updated[-1]["details"] == {
        "fields": ["consent", "lifecycle_stage", "tags"],
        "consent": {"from": {}, "to": {"marketing": False}},
        "lifecycle_stage": {"from": "prospect", "to": "customer"},
    }


async def test_given_identity_added_and_removed_then_screen_pop_follows(
    client: Client, agent: Caller
) -> None:
    created = await create(client, agent)
    base = f"/api/v1/customers/{created['id']}/identities"
    added = await client.post(
        base, json={"kind": "phone", "value": "+1 415 555 0100"}, headers=agent.bearer
    )
    assert added.status == 201
    assert (await added.json())["value"] == "+14155550100"
    pop = await client.get(
        "/api/v1/screen-pop?kind=phone&value=%2B14155550100&contact_id=c-1", headers=agent.bearer
    )
    assert pop.status == 200
    assert (await pop.json())["customer"]["id"] == created["id"]
    removed = await client.delete(f"{base}?kind=phone&value=%2B14155550100", headers=agent.bearer)
    assert removed.status == 204
    gone = await client.get(
        "/api/v1/screen-pop?kind=phone&value=%2B14155550100", headers=agent.bearer
    )
    assert gone.status == 404
    assert (await gone.json())["error"] == "customer-not-found"


async def test_given_note_added_then_history_and_screen_pop_show_it(
    client: Client, agent: Caller
) -> None:
    created = await create(client, agent, identities=[{"kind": "email", "value": "a@b.example"}])
    note = await client.post(
        f"/api/v1/customers/{created['id']}/notes",
        json={"body": "prefers email"},
        headers=agent.bearer,
    )
    assert note.status == 201
    assert (await note.json())["author_id"] == agent.user_id
    pop = await (
        await client.get("/api/v1/screen-pop?kind=email&value=a%40b.example", headers=agent.bearer)
    ).json()
    assert [n["body"] for n in pop["notes"]] == ["prefers email"]
    history = await client.get(
        f"/api/v1/customers/{created['id']}/history?limit=10", headers=agent.bearer
    )
    assert history.status == 200
    assert (await history.json())["next_cursor"] is None


async def test_given_two_customers_when_supervisor_merges_and_undoes_then_restored(
    client: Client, agent: Caller, supervisor: Caller
) -> None:
    first = await create(client, agent, identities=[{"kind": "email", "value": "x@y.example"}])
    second = await create(
        client,
        agent,
        display_name="A. Lovelace",
        identities=[{"kind": "phone", "value": "+447700900123"}],
    )
    body = {"survivor_id": first["id"], "merged_id": second["id"], "reason": "same person"}
    refused = await client.post("/api/v1/merges", json=body, headers=agent.bearer)
    assert refused.status == 403
    merged = await client.post("/api/v1/merges", json=body, headers=supervisor.bearer)
    assert merged.status == 201, await merged.text()
    merge_id = (await merged.json())["id"]
    pop = await (
        await client.get(
            "/api/v1/screen-pop?kind=phone&value=%2B447700900123", headers=agent.bearer
        )
    ).json()
    assert pop["customer"]["id"] == first["id"]
    listed = await (
        await client.get(f"/api/v1/customers/{first['id']}/merges", headers=agent.bearer)
    ).json()
    assert [m["id"] for m in listed["items"]] == [merge_id]
    undone = await client.post(f"/api/v1/merges/{merge_id}/undo", headers=supervisor.bearer)
    assert undone.status == 200, await undone.text()
    pop = await (
        await client.get(
            "/api/v1/screen-pop?kind=phone&value=%2B447700900123", headers=agent.bearer
        )
    ).json()
    assert pop["customer"]["id"] == second["id"]


async def test_given_orders_when_supervisor_imports_then_summary_and_rows_stored(
    client: Client, supervisor: Caller, services: Services
) -> None:
    rows = [
        {"email": "buyer@shop.example", "customer_name": "Buyer", "external_id": "o-1",
         "amount": 120.5, "ordered_at": "2025-06-01T10:00:00Z"},
        {"email": "buyer@shop.example", "external_id": "o-2", "amount": 80,
         "ordered_at": 1748772000},
        {"email": "not-an-email", "external_id": "o-3", "amount": 1, "ordered_at": 1748772000},
    ]  # fmt: skip
    response = await client.post(
        "/api/v1/orders/import", json={"orders": rows}, headers=supervisor.bearer
    )
    assert response.status == 200, await response.text()
    summary = await response.json()
    assert summary["inserted"] == 2
    assert [r["index"] for r in summary["rejected"]] == [2]
    assert await count(services, orders) == 2


async def test_given_supervisor_when_querying_audit_then_filtered_page(
    client: Client, agent: Caller, supervisor: Caller
) -> None:
    created = await create(client, agent)
    await client.get(f"/api/v1/customers/{created['id']}", headers=agent.bearer)
    response = await client.get(
        f"/api/v1/audit?customer_id={created['id']}&action=profile.viewed",
        headers=supervisor.bearer,
    )
    assert response.status == 200
    items = (await response.json())["items"]
    assert [(i["actor_id"], i["action"]) for i in items] == [(agent.user_id, "profile.viewed")]
    assert (await client.get("/api/v1/audit", headers=agent.bearer)).status == 403


async def test_given_admin_when_exporting_and_erasing_then_personal_data_gone(
    client: Client, agent: Caller, admin: Caller, services: Services
) -> None:
    created = await create(client, agent, identities=[{"kind": "email", "value": "gone@x.example"}])
    exported = await client.get(f"/api/v1/customers/{created['id']}/export", headers=admin.bearer)
    assert exported.status == 200
    assert "gone@x.example" in await exported.text()
    erased = await client.post(f"/api/v1/customers/{created['id']}/erase", headers=admin.bearer)
    assert erased.status == 200
    assert await count(services, identities) == 0


# -- bad input: refused with a clear 4xx, nothing changed ------------------------------


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"display_name": "X", "favourite_colour": "blue"}, "invalid-input"),
        ({"display_name": "X" * 201}, "invalid-input"),
        ({"display_name": "bell\x07"}, "invalid-input"),
        ({"display_name": 42}, "invalid-input"),
        ({"display_name": "X", "identities": [{"kind": "phone", "value": "12"}]},
         "invalid-identity"),
        ({"display_name": "X", "identities": [{"kind": "email", "value": "a@@b"}]},
         "invalid-identity"),
        ({"display_name": "X", "identities": [{"kind": "fax", "value": "1"}]}, "invalid-input"),
        ({"display_name": "X", "owner_agent_id": 2**70}, "invalid-input"),
        ({"display_name": "X", "tags": ["t"] * 51}, "invalid-input"),
        ({"display_name": "X", "consent": {"telepathy": True}}, "invalid-input"),
    ],
)  # fmt: skip
async def test_given_bad_customer_body_when_creating_then_4xx_and_nothing_stored(
    client: Client, agent: Caller, services: Services, body: dict[str, Any], error: str
) -> None:
    response = await client.post("/api/v1/customers", json=body, headers=agent.bearer)
    assert response.status == 422, await response.text()
    payload = await response.json()
    assert payload["error"] == error
    assert payload["message"]
    assert await count(services, customers) == 0


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "error"),
    [
        (b'{"display_name": "X",', "application/json", 400, "invalid-json"),
        (b"", "application/json", 400, "invalid-json"),
        (b"[1, 2]", "application/json", 422, "invalid-input"),
        (b'"just a string"', "application/json", 422, "invalid-input"),
        (b"display_name=X", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
        (b'{"display_name": "' + b"x" * 70_000 + b'"}', "application/json", 413,
         "body-too-large"),
    ],
)  # fmt: skip
async def test_given_malformed_body_when_posting_then_clear_error_and_nothing_stored(
    client: Client,
    agent: Caller,
    services: Services,
    raw: bytes,
    content_type: str,
    status: int,
    error: str,
) -> None:
    response = await client.post(
        "/api/v1/customers", data=raw, headers={**agent.bearer, "Content-Type": content_type}
    )
    assert response.status == status, await response.text()
    assert (await response.json())["error"] == error
    assert await count(services, customers) == 0


async def test_given_chunked_oversized_body_then_413(
    client: Client, agent: Caller, services: Services
) -> None:
    async def chunks() -> Any:
        for _ in range(100):
            yield b" " * 1024

    response = await client.post(
        "/api/v1/customers",
        data=chunks(),
        headers={**agent.bearer, "Content-Type": "application/json"},
    )
    assert response.status == 413
    assert (await response.json())["error"] == "body-too-large"
    assert await count(services, customers) == 0


async def test_given_bad_update_when_patching_then_refused_and_unchanged(
    client: Client, agent: Caller
) -> None:
    created = await create(client, agent)
    for body in ({"id": 5}, {"tier": "platinum"}, {"display_name": None}, {"timezone": "x" * 65}):
        response = await client.patch(
            f"/api/v1/customers/{created['id']}", json=body, headers=agent.bearer
        )
        assert response.status == 422, (body, await response.text())
    profile = await (
        await client.get(f"/api/v1/customers/{created['id']}", headers=agent.bearer)
    ).json()
    assert profile["display_name"] == "Ada Lovelace"
    assert profile["tier"] == created["tier"]


@pytest.mark.parametrize(
    "query",
    [
        "phone=not-a-number",
        "phone=%2B1",
        "email=no-at-sign",
        "limit=0",
        "limit=1000",
        "limit=abc",
        "sort=name",
        "name=" + "a" * 201,
        "cursor=abc",
        "name=a&name=b",
        "",
    ],
)
async def test_given_bad_search_when_searching_then_4xx_with_clear_message(
    client: Client, agent: Caller, query: str
) -> None:
    response = await client.get(f"/api/v1/customers?{query}", headers=agent.bearer)
    assert 400 <= response.status < 500, (query, await response.text())
    payload = await response.json()
    assert payload["error"] in {"invalid-input", "invalid-identity", "invalid-cursor"}
    assert payload["message"]


@pytest.mark.parametrize(
    "text",
    [
        "' OR '1'='1",
        "'; DROP TABLE customers; --",
        "%",
        "_",
        "\\",
        "a%' UNION SELECT username, password_hash FROM users --",
        "Robert'); DELETE FROM identities;--",
    ],
)
async def test_given_injection_looking_search_then_no_error_no_leak_nothing_changed(
    client: Client, agent: Caller, services: Services, text: str
) -> None:
    await create(client, agent, display_name="Zed Zulu")
    for parameter in ("q", "name"):
        response = await client.get(
            "/api/v1/customers", params={parameter: text}, headers=agent.bearer
        )
        assert response.status == 200, (parameter, text, await response.text())
        assert (await response.json())["items"] == []
    assert await count(services, customers) == 1
    raw = await (
        await client.get("/api/v1/customers", params={"q": text}, headers=agent.bearer)
    ).text()
    assert "argon2" not in raw and "password" not in raw


async def test_given_unknown_customer_then_404_with_stable_id(
    client: Client, agent: Caller
) -> None:
    for path in ("/api/v1/customers/424242", "/api/v1/customers/424242/history"):
        response = await client.get(path, headers=agent.bearer)
        assert response.status == 404
        assert (await response.json())["error"] == "customer-not-found"
    note = await client.post(
        "/api/v1/customers/424242/notes", json={"body": "x"}, headers=agent.bearer
    )
    assert note.status == 404


async def test_given_oversized_note_when_adding_then_refused_and_nothing_stored(
    client: Client, agent: Caller, services: Services
) -> None:
    created = await create(client, agent)
    response = await client.post(
        f"/api/v1/customers/{created['id']}/notes",
        json={"body": "n" * 20_001},
        headers=agent.bearer,
    )
    assert response.status == 422
    assert await count(services, notes) == 0


async def test_given_bad_order_rows_when_importing_then_whole_request_refused(
    client: Client, supervisor: Caller, services: Services
) -> None:
    for body in (
        {"orders": []},
        {"orders": [{"external_id": "o", "amount": "lots", "ordered_at": 1}]},
        {"orders": [{"external_id": "o", "amount": 1, "ordered_at": 1, "hack": 1}]},
        {"orders": [{"external_id": "o", "amount": 1e300, "ordered_at": 1}]},
        {"rows": []},
    ):
        response = await client.post("/api/v1/orders/import", json=body, headers=supervisor.bearer)
        assert response.status == 422, (body, await response.text())
    assert await count(services, orders) == 0
