"""Erasure erases: after ``POST /customers/{id}/erase`` none of the customer's personal
values is left in the database files (SQLite after its checkpoint, a pg_dump of
PostgreSQL) or in anything the server logged while agents worked with the customer."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from sqlalchemy.engine import make_url

from contact_center.services import SYSTEM, Services
from contact_center.settings import ValueSettings
from contact_center.store.engine import create_engine
from contact_center.store.migrate import upgrade
from contact_center.store.profiles import ProfileStore
from contact_center.store.schema import audit_events
from tests.agent_ui.conftest import Caller

Client = TestClient[Any, Any]

NAME = "Haley Goodwin"
PHONE = "+12135550147"
EMAIL = "haley.goodwin@example.com"
WORK_EMAIL = "hgoodwin@work.example"
ACCOUNT = "HGOODWIN-7781"
# Every form a value may take: as typed, lower-cased (search keys), URL-encoded.
PERSONAL = [
    "Haley",
    "Goodwin",
    "Hales",
    PHONE,
    PHONE[2:],
    EMAIL,
    WORK_EMAIL,
    ACCOUNT,
    quote(PHONE, safe=""),
    quote_plus(NAME),
    quote(NAME, safe=""),
    quote(EMAIL, safe=""),
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        # A file, not :memory:: what is checked is what is left on disk.
        return f"sqlite+aiosqlite:///{tmp_path / 'erasure.db'}"
    return str(request.getfixturevalue("postgres_url"))


def leftovers(text: str) -> list[str]:
    lowered = text.lower()
    return [value for value in PERSONAL if value.lower() in lowered]


async def ok(response: Any, status: int = 200) -> Any:
    assert response.status == status, await response.text()
    return await response.json() if response.content_type == "application/json" else None


async def work_with_the_customer(
    client: Client, services: Services, agent: Caller, supervisor: Caller
) -> int:
    """What agents do with a customer over time, through the API (and the channels)."""
    customer = await ok(
        await client.post(
            "/api/v1/customers",
            json={
                "display_name": "Haley Goodwn",
                "tags": ["goodwin-family"],
                "attributes": {"alt_email": EMAIL, "nickname": "Hales"},
                "identities": [
                    {"kind": "phone", "value": "+1 213 555 0147"},
                    {"kind": "email", "value": EMAIL},
                ],
            },
            headers=agent.bearer,
        ),
        201,
    )
    cid = customer["id"]
    await ok(
        await client.patch(
            f"/api/v1/customers/{cid}", json={"display_name": NAME}, headers=agent.bearer
        )
    )
    await ok(
        await client.post(
            f"/api/v1/customers/{cid}/identities",
            json={"kind": "account", "value": ACCOUNT},
            headers=agent.bearer,
        ),
        201,
    )
    await ok(
        await client.get(
            f"/api/v1/screen-pop?kind=phone&value={quote(PHONE, safe='')}&contact_id=call-1",
            headers=agent.bearer,
        )
    )
    for query in (f"q={quote_plus(NAME)}", "name=Goodwin", f"email={quote(EMAIL, safe='')}",
                  f"phone={quote(PHONE, safe='')}", f"q={ACCOUNT}"):  # fmt: skip
        await ok(await client.get(f"/api/v1/customers?{query}", headers=agent.bearer))
    await ok(await client.get(f"/api/v1/customers/{cid}?contact_id=call-1", headers=agent.bearer))
    await ok(
        await client.post(
            f"/api/v1/customers/{cid}/notes",
            json={"body": "Haley asked about her refund"},
            headers=agent.bearer,
        ),
        201,
    )
    call = await services.profiles.start_interaction(
        cid, channel="email", subject="Refund for Haley Goodwin"
    )
    await services.profiles.add_message(
        call["id"], direction="inbound", body=f"Hi, this is Haley ({PHONE})", sender=EMAIL
    )
    await ok(await client.get(f"/api/v1/customers/{cid}/history", headers=agent.bearer))
    await ok(
        await client.post(
            "/api/v1/orders/import",
            json={"orders": [{"email": EMAIL, "external_id": "o-1", "amount": 20,
                              "items": [{"sku": "gift", "note": "for Haley"}],
                              "ordered_at": "2025-06-01T10:00:00Z"}]},
            headers=supervisor.bearer,
        )
    )  # fmt: skip
    # The same person again, merged in: the erasure must reach this record too.
    second = await ok(
        await client.post(
            "/api/v1/customers",
            json={"display_name": "H. Goodwin",
                  "identities": [{"kind": "email", "value": WORK_EMAIL}]},
            headers=agent.bearer,
        ),
        201,
    )  # fmt: skip
    await ok(
        await client.post(
            "/api/v1/merges",
            json={"survivor_id": cid, "merged_id": second["id"],
                  "reason": "Haley Goodwin twice, work address"},
            headers=supervisor.bearer,
        ),
        201,
    )  # fmt: skip
    # An audit row as the audit log wrote them before it stopped keeping values.
    async with services.engine.begin() as conn:
        await conn.execute(
            audit_events.insert().values(
                at=services.clock(), actor_id=agent.user_id, actor=agent.username,
                action="customer.updated", customer_id=cid,
                details={"display_name": {"from": "Haley Goodwn", "to": NAME},
                         "attributes": {"from": {}, "to": {"alt_email": EMAIL}},
                         "identity": f"phone:{PHONE}"},
            )
        )  # fmt: skip
    return int(cid)


def database_text(database_url: str) -> str:
    """The database files' bytes (SQLite) or a dump of the database (PostgreSQL)."""
    if database_url.startswith("sqlite"):
        path = Path(make_url(database_url).database or "")
        files = [path, Path(f"{path}-wal")]
        return "\n".join(f.read_bytes().decode("latin-1") for f in files if f.exists())
    url = make_url(database_url)
    dump = subprocess.run(
        ["pg_dump", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
         "-U", url.username or "postgres", url.database or ""],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    return dump.stdout.decode("utf-8")


async def test_given_customer_worked_with_when_erased_then_no_value_left_in_files_or_logs(
    edge_client: Client,
    services: Services,
    agent: Caller,
    supervisor: Caller,
    admin: Caller,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The production level (logging.level, INFO). DEBUG is for development: aiosqlite
    # then logs every SQL statement with its parameters (docs/security.md).
    caplog.set_level(logging.INFO)
    cid = await work_with_the_customer(edge_client, services, agent, supervisor)
    # The test can fail: before the erasure the values are there to be found.
    assert "Goodwin" in leftovers(await asyncio.to_thread(database_text, database_url))

    await ok(await edge_client.post(f"/api/v1/customers/{cid}/erase", headers=admin.bearer))

    assert leftovers(await asyncio.to_thread(database_text, database_url)) == []
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "aiohttp.access" in logged  # the access log was captured
    assert leftovers(logged) == []
    # What remains says who did what to which customer, without the values.
    log = await services.profiles.audit_log(customer_id=cid, limit=500)
    actions = {e["action"] for e in log["items"]}
    assert {"customer.created", "customer.updated", "identity.added", "profile.viewed",
            "note.added", "customer.merged", "customer.erased"} <= actions  # fmt: skip
    screen_pop = [e for e in log["items"] if e["details"].get("via") == "screen_pop"]
    assert screen_pop[0]["details"] == {"via": "screen_pop", "identity_kind": "phone"}
    assert screen_pop[0]["actor_id"] == agent.user_id
    export = await services.profiles.export_customer(cid, actor=SYSTEM)
    assert export["customer"]["display_name"] == f"Erased customer {cid}"
    assert export["orders"][0]["amount_cents"] == 2000


async def test_given_erasure_on_sqlite_then_write_ahead_log_emptied(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}"
    engine = create_engine(url)
    try:
        await upgrade(engine)
        store = ProfileStore(engine, default_region="US", value_settings=ValueSettings())
        customer = await store.create_customer({"display_name": NAME}, [], actor=SYSTEM)
        wal = tmp_path / "wal.db-wal"
        assert size_of(wal) > 0
        await store.erase_customer(customer["id"], actor=SYSTEM)
        assert size_of(wal) == 0
        async with engine.connect() as conn:
            names = (await conn.execute(sa.text("SELECT display_name FROM customers"))).scalars()
            assert list(names) == [f"Erased customer {customer['id']}"]
            # Freed space is zeroed on every connection, whatever the SQLite build's
            # default (Debian's has it on; others do not).
            assert await conn.scalar(sa.text("PRAGMA secure_delete")) == 1
    finally:
        await engine.dispose()


def size_of(path: Path) -> int:
    return path.stat().st_size
