"""The file importer's rules (docs/importing.md), on SQLite and PostgreSQL: every row gets
an outcome, bad rows are rejected by line with a stable reason id, rows matching stored
customers or orders follow --on-conflict, and nothing from the file reaches a log line.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from contact_center import importing
from contact_center.importing import (
    ImportSummary,
    InvalidFile,
    import_customers,
    import_orders,
    language_tag,
    read_rows,
)
from contact_center.services import SYSTEM, Actor
from contact_center.store.profiles import ProfileStore
from contact_center.store.schema import audit_events, customers, identities, orders

OPERATOR = Actor(None, "cli", "admin")
DAY = 86_400.0


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(*rows: dict[str, Any]) -> str:
    return "".join(orjson.dumps(row).decode() + "\n" for row in rows)


async def customers_from(
    store: ProfileStore, tmp_path: Path, name: str, text: str, **options: Any
) -> dict[str, Any]:
    rows = read_rows(write(tmp_path, name, text), None, "customers")
    summary = await import_customers(store, rows, actor=OPERATOR, **options)
    return summary.to_dict()


async def orders_from(
    store: ProfileStore, tmp_path: Path, name: str, text: str, **options: Any
) -> dict[str, Any]:
    rows = read_rows(write(tmp_path, name, text), None, "orders")
    summary = await import_orders(store, rows, actor=OPERATOR, **options)
    return summary.to_dict()


def by_line(summary: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {entry["line"]: entry for entry in summary["errors"] + summary["changes"]}


async def count(store: ProfileStore, table: Any) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def customer(store: ProfileStore, email: str) -> dict[str, Any]:
    found = await store.search(email=email)
    assert len(found["items"]) == 1, email
    return dict(found["items"][0])


async def ann(store: ProfileStore, **fields: Any) -> int:
    created = await store.create_customer(
        {"display_name": "Ann Lee", **fields},
        [store.identity("email", "ann@example.com")],
        actor=SYSTEM,
    )
    return int(created["id"])


# ------------------------------------------------------------------ bad rows


async def test_given_an_unknown_customer_id_mid_file_then_only_that_order_line_fails(
    store: ProfileStore, tmp_path: Path
) -> None:
    cid = await ann(store)
    text = (
        "customer_id,external_id,amount,ordered_at\n"
        f"{cid},o-1,10,2026-01-05T10:00:00Z\n"
        "424242,o-2,20,2026-01-06T10:00:00Z\n"
        f"{cid},o-3,30,2026-01-07T10:00:00Z\n"
    )

    summary = await orders_from(store, tmp_path, "orders.csv", text)

    assert (summary["created"], summary["rejected"]) == (2, 1)
    assert by_line(summary)[3]["error"] == "customer-not-found"
    assert await count(store, orders) == 2
    profile = await store.get_profile(cid, viewer=SYSTEM)
    assert profile["value"]["lifetime_orders"] == 2  # value refreshed for the kept rows


async def test_given_the_api_import_when_a_customer_id_is_unknown_then_the_row_is_reported(
    store: ProfileStore,
) -> None:
    cid = await ann(store)
    rows = [
        {"customer_id": cid, "external_id": "a", "amount": 1, "ordered_at": 1.7e9},
        {"customer_id": 424242, "external_id": "b", "amount": 1, "ordered_at": 1.7e9},
        {"customer_id": cid, "external_id": "c", "amount": 1, "ordered_at": 1.7e9},
    ]

    summary = await store.import_orders(rows, actor=SYSTEM)

    assert summary["inserted"] == 2
    assert summary["rejected"] == [
        {"index": 1, "error": "customer-not-found", "message": "customer 424242 does not exist"}
    ]


@pytest.mark.parametrize(
    ("row", "reason", "column"),
    [
        ({"display_name": "No Identity"}, "missing-identity", None),
        ({"display_name": "Bad", "email": "not-an-email"}, "invalid-identity", "email"),
        ({"display_name": "Num", "phone": 442079460018}, "invalid-type", "phone"),
        ({"display_name": 5, "email": "a@example.com"}, "invalid-type", "display_name"),
        ({"display_name": "T", "email": "a@example.com", "tags": 5}, "invalid-type", "tags"),
        ({"display_name": "T", "email": "a@example.com", "tags": ["x", 5]}, "invalid-type", "tags"),
        ({"display_name": "T", "email": "a@example.com", "tags": ["x" * 51]}, "invalid-value",
         "tags"),
        ({"display_name": "Z", "email": "a@example.com", "timezone": "Mars/Olympus"},
         "invalid-timezone", "timezone"),
        ({"display_name": "K", "email": "a@example.com", "language": "klingon"},
         "invalid-language", "language"),
        ({"display_name": "K", "email": "a@example.com", "language": "tlh"}, "invalid-language",
         "language"),
        ({"display_name": "L", "email": "a@example.com", "lifecycle_stage": "vip"},
         "invalid-value", "lifecycle_stage"),
        ({"display_name": "O", "email": "a@example.com", "owner_agent_id": "7"}, "invalid-type",
         "owner_agent_id"),
        ({"display_name": "O", "email": "a@example.com", "owner_agent_id": 999}, "unknown-agent",
         "owner_agent_id"),
        ({"display_name": "A", "email": "a@example.com", "attributes": {"x": {"deep": 1}}},
         "invalid-type", "attr.x"),
        ({"display_name": "C", "email": "a@example.com", "consent": {"email": "yes"}},
         "invalid-type", "consent"),
        ({"display_name": "C", "email": "a@example.com", "consent": {"fax": True}},
         "invalid-value", "consent"),
        ({"display_name": "U", "email": "a@example.com", "nickname": "x"}, "unknown-field", None),
        ({"display_name": "Tab\there", "email": "a@example.com"}, "invalid-value", "display_name"),
    ],
)  # fmt: skip
async def test_given_a_questionable_customer_row_then_it_is_rejected_with_its_reason(
    store: ProfileStore, tmp_path: Path, row: dict[str, Any], reason: str, column: str | None
) -> None:
    before = {"display_name": "Good Row", "email": "good@example.com"}
    after = {"display_name": "Good Row", "email": "good2@example.com"}

    summary = await customers_from(store, tmp_path, "c.jsonl", jsonl(before, row, after))

    assert summary["created"] == 2 and summary["rejected"] == 1
    (error,) = summary["errors"]
    assert (error["line"], error["error"], error.get("column")) == (2, reason, column)
    assert await count(store, customers) == 2


@pytest.mark.parametrize(
    ("given", "stored"),
    [("en", "en"), ("EN-gb", "en-GB"), ("zh-cn", "zh-CN"), ("zh-hant-tw", "zh-Hant-TW"),
     ("es-419", "es-419"), ("fil", "fil")],
)  # fmt: skip
def test_given_language_tags_then_they_are_stored_in_their_usual_case(
    given: str, stored: str
) -> None:
    assert language_tag(given) == stored


async def test_given_unreadable_lines_then_each_is_rejected_by_line_and_the_rest_imported(
    store: ProfileStore, tmp_path: Path
) -> None:
    text = (
        '{"display_name": "One", "email": "one@example.com"}\n'
        "{broken\n"
        "\n"
        "[1, 2]\n"
        '{"display_name": "Two", "email": "two@example.com"}\n'
    )

    summary = await customers_from(store, tmp_path, "c.jsonl", text)

    assert summary["created"] == 2
    assert [(e["line"], e["error"]) for e in summary["errors"]] == [
        (2, "invalid-json"),
        (4, "not-an-object"),
    ]


async def test_given_csv_problems_then_line_numbers_are_where_each_record_starts(
    store: ProfileStore, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(
        b"display_name,email,attr.note\n"
        b'Ann Lee,ann@example.com,"two\nlines"\n'
        b"Too,many@example.com,x,y\n"
        b"Bad \xff byte,bad@example.com,\n"
        b"Ok,ok@example.com,\n"
    )

    summary = (
        await import_customers(store, read_rows(path, None, "customers"), actor=OPERATOR)
    ).to_dict()

    assert summary["created"] == 2
    assert [(e["line"], e["error"]) for e in summary["errors"]] == [
        (4, "too-many-fields"),
        (5, "invalid-encoding"),
    ]
    assert (await customer(store, "ann@example.com"))["attributes"] == {"note": "two\nlines"}


async def test_given_an_unknown_csv_column_then_the_file_is_refused_before_any_row(
    store: ProfileStore, tmp_path: Path
) -> None:
    path = write(tmp_path, "c.csv", "display_name,emial\nAnn,ann@example.com\n")

    with pytest.raises(InvalidFile) as caught:
        await import_customers(store, read_rows(path, None, "customers"), actor=OPERATOR)

    assert "emial" in caught.value.message
    assert await count(store, customers) == 0


async def test_given_the_same_identity_twice_in_a_file_then_the_later_line_is_rejected(
    store: ProfileStore, tmp_path: Path
) -> None:
    text = jsonl(
        {"display_name": "Ann Lee", "email": "ann@example.com"},
        {"display_name": "Ann Other", "email": "ANN@example.com", "phone": "+442079460018"},
    )

    summary = await customers_from(store, tmp_path, "c.jsonl", text, on_conflict="update")

    assert summary["errors"][0] | {"message": ""} == {
        "line": 2, "outcome": "rejected", "error": "duplicate-in-file", "message": "",
        "first_line": 1,
    }  # fmt: skip
    assert (await customer(store, "ann@example.com"))["display_name"] == "Ann Lee"
    assert await count(store, identities) == 1


# ------------------------------------------------------- rows matching a customer


async def test_given_a_row_for_an_existing_customer_then_by_default_it_is_rejected_unchanged(
    store: ProfileStore, tmp_path: Path
) -> None:
    cid = await ann(store)
    text = jsonl(
        {"display_name": "Ann Smith", "email": "ann@example.com", "phone": "+442079460018"}
    )

    summary = await customers_from(store, tmp_path, "c.jsonl", text)

    assert summary["on_conflict"] == "reject"
    (error,) = summary["errors"]
    assert error["error"] == "customer-exists" and error["customer_id"] == cid
    assert error["fields"] == ["display_name", "identity:phone"]
    profile = await store.get_profile(cid, viewer=SYSTEM)
    assert profile["display_name"] == "Ann Lee" and len(profile["identities"]) == 1


async def test_given_on_conflict_skip_then_the_customer_is_left_and_the_row_listed(
    store: ProfileStore, tmp_path: Path
) -> None:
    cid = await ann(store)
    text = jsonl({"display_name": "Ann Smith", "email": "ann@example.com"})

    summary = await customers_from(store, tmp_path, "c.jsonl", text, on_conflict="skip")

    assert (summary["skipped"], summary["rejected"]) == (1, 0)
    assert summary["changes"] == [
        {"line": 1, "outcome": "skipped", "customer_id": cid, "fields": ["display_name"]}
    ]
    assert (await store.get_profile(cid, viewer=SYSTEM))["display_name"] == "Ann Lee"


async def test_given_on_conflict_update_then_fields_merge_and_the_change_is_reported_and_audited(
    store: ProfileStore, tmp_path: Path
) -> None:
    cid = await ann(
        store, tags=["vip"], attributes={"crm": "C-1", "seat": "A"}, lifecycle_stage="repeat"
    )
    text = jsonl(
        {"display_name": "Ann Smith", "email": "ann@example.com", "phone": "020 7946 0018",
         "tags": ["newsletter"], "attributes": {"seat": "B"}, "lifecycle_stage": "prospect"}
    )  # fmt: skip

    summary = await customers_from(store, tmp_path, "c.jsonl", text, on_conflict="update")

    assert summary["changes"] == [
        {"line": 1, "outcome": "updated", "customer_id": cid,
         "fields": ["display_name", "tags", "attributes", "identity:phone"]}
    ]  # fmt: skip
    profile = await store.get_profile(cid, viewer=SYSTEM)
    assert profile["display_name"] == "Ann Smith"
    assert profile["tags"] == ["newsletter", "vip"]
    assert profile["attributes"] == {"crm": "C-1", "seat": "B"}
    assert profile["lifecycle_stage"] == "repeat"  # an import never moves it back
    assert {i["value"] for i in profile["identities"]} == {"ann@example.com", "+442079460018"}
    actions = [e["action"] for e in (await store.audit_log(customer_id=cid))["items"]]
    assert {"customer.updated", "identity.added"} <= set(actions)


async def test_given_a_row_that_brings_nothing_new_then_it_is_unchanged_whatever_the_policy(
    store: ProfileStore, tmp_path: Path
) -> None:
    cid = await ann(store, tags=["vip", "newsletter"])
    text = jsonl({"display_name": "Ann Lee", "email": "ann@example.com", "tags": ["vip"]})

    summary = await customers_from(store, tmp_path, "c.jsonl", text)

    assert (summary["unchanged"], summary["rejected"], summary["changes"]) == (1, 0, [])
    assert [e["action"] for e in (await store.audit_log(customer_id=cid))["items"]] == [
        "customer.created"
    ]


async def test_given_a_provisional_customer_when_a_row_updates_it_then_it_is_known(
    store: ProfileStore, tmp_path: Path
) -> None:
    resolved = await store.resolve(store.identity("phone", "+442079460018"))
    text = "display_name,phone\nAnn Lee,+44 20 7946 0018\n"

    summary = await customers_from(store, tmp_path, "c.csv", text, on_conflict="update")

    assert summary["changes"][0]["fields"] == ["display_name", "provisional"]
    profile = await store.get_profile(resolved.customer_id, viewer=SYSTEM)
    assert profile["display_name"] == "Ann Lee" and profile["provisional"] is False


async def test_given_identities_of_two_customers_in_one_row_then_it_is_rejected_naming_both(
    store: ProfileStore, tmp_path: Path
) -> None:
    first = await ann(store)
    second = (await store.resolve(store.identity("phone", "+442079460018"))).customer_id
    text = jsonl({"display_name": "Ann", "email": "ann@example.com", "phone": "+442079460018"})

    summary = await customers_from(store, tmp_path, "c.jsonl", text, on_conflict="update")

    (error,) = summary["errors"]
    assert error["error"] == "identities-conflict"
    assert error["customer_ids"] == sorted([first, second])


# ----------------------------------------------------------------------- orders


async def test_given_an_order_for_an_unknown_email_then_it_is_rejected_unless_asked_to_create(
    store: ProfileStore, tmp_path: Path
) -> None:
    text = jsonl(
        {"email": "new@example.com", "external_id": "o-1", "amount": 12.5,
         "ordered_at": "2026-01-02T10:00:00Z"},
        {"email": "new2@example.com", "customer_name": "New Two", "external_id": "o-2",
         "amount": 5, "ordered_at": 1_767_000_000},
    )  # fmt: skip

    refused = await orders_from(store, tmp_path, "o.jsonl", text)
    assert [(e["line"], e["error"]) for e in refused["errors"]] == [
        (1, "customer-not-found"),
        (2, "customer-not-found"),
    ]
    assert await count(store, customers) == 0

    created = await orders_from(store, tmp_path, "o.jsonl", text, create_missing_customers=True)
    assert [(e["line"], e["error"], e["column"]) for e in created["errors"]] == [
        (1, "missing-field", "customer_name")
    ]
    assert created["customers_created"] == 1
    (change,) = created["changes"]
    assert change["line"] == 2 and change["customer_created"] is True
    made = await customer(store, "new2@example.com")
    assert made["display_name"] == "New Two" and made["provisional"] is False
    assert made["value"]["lifetime_spend"] == 5


async def test_given_an_external_id_twice_in_a_file_then_the_later_line_is_rejected(
    store: ProfileStore, tmp_path: Path
) -> None:
    cid = await ann(store)
    text = (
        "email,external_id,amount,ordered_at\n"
        "ann@example.com,o-1,10,2026-01-05\n"
        "ann@example.com,o-1,99,2026-01-05\n"
    )

    summary = await orders_from(store, tmp_path, "o.csv", text)

    (error,) = summary["errors"]
    assert (error["line"], error["error"], error["first_line"]) == (3, "duplicate-in-file", 2)
    profile = await store.get_profile(cid, viewer=SYSTEM)
    assert profile["value"]["lifetime_spend"] == 10


async def test_given_a_stored_order_when_imported_again_then_on_conflict_decides(
    store: ProfileStore, tmp_path: Path
) -> None:
    cid = await ann(store)
    first = (
        "email,external_id,amount,status,ordered_at\nann@example.com,o-1,10,shipped,1767000000\n"
    )
    changed = first.replace("shipped", "completed").replace(",10,", ",12,")
    assert (await orders_from(store, tmp_path, "a.csv", first))["created"] == 1

    again = await orders_from(store, tmp_path, "b.csv", first)
    assert (again["unchanged"], again["changes"]) == (1, [])
    rejected = await orders_from(store, tmp_path, "c.csv", changed, on_conflict="reject")
    assert rejected["errors"][0]["error"] == "order-exists"
    assert rejected["errors"][0]["fields"] == ["amount", "status"]
    skipped = await orders_from(store, tmp_path, "d.csv", changed, on_conflict="skip")
    assert skipped["skipped"] == 1
    assert (await store.get_profile(cid, viewer=SYSTEM))["value"]["lifetime_spend"] == 10

    updated = await orders_from(store, tmp_path, "e.csv", changed)  # default for orders: update

    assert updated["on_conflict"] == "update"
    (change,) = updated["changes"]
    assert (change["outcome"], change["customer_id"], change["fields"]) == (
        "updated",
        cid,
        ["amount", "status"],
    )
    assert (await store.get_profile(cid, viewer=SYSTEM))["value"]["lifetime_spend"] == 12


async def test_given_an_order_naming_two_customers_then_it_is_rejected(
    store: ProfileStore, tmp_path: Path
) -> None:
    cid = await ann(store)
    other = (await store.resolve(store.identity("phone", "+442079460018"))).customer_id
    text = jsonl(
        {"customer_id": cid, "phone": "+442079460018", "external_id": "o", "amount": 1,
         "ordered_at": 1_767_000_000},
        {"customer_id": cid, "email": "nobody@example.com", "external_id": "p", "amount": 1,
         "ordered_at": 1_767_000_000},
    )  # fmt: skip

    summary = await orders_from(store, tmp_path, "o.jsonl", text)

    assert [(e["error"], e["customer_ids"]) for e in summary["errors"]] == [
        ("identities-conflict", sorted([cid, other])),
        ("identities-conflict", [cid]),
    ]


@pytest.mark.parametrize(
    ("row", "reason", "column"),
    [
        ({"amount": 1, "ordered_at": 1}, "missing-field", "external_id"),
        ({"external_id": "o", "ordered_at": 1}, "missing-field", "amount"),
        ({"external_id": "o", "amount": "lots", "ordered_at": 1}, "invalid-type", "amount"),
        ({"external_id": "o", "amount": "12.50", "ordered_at": 1}, "invalid-type", "amount"),
        ({"external_id": "o", "amount": True, "ordered_at": 1}, "invalid-type", "amount"),
        ({"external_id": "o", "amount": 1e300, "ordered_at": 1}, "invalid-value", "amount"),
        ({"external_id": "o", "amount": 1, "ordered_at": "yesterday"}, "invalid-value",
         "ordered_at"),
        ({"external_id": "o", "amount": 1, "ordered_at": 1, "status": "canceled"},
         "invalid-value", "status"),
        ({"external_id": "o", "amount": 1, "ordered_at": 1, "currency": "EURO"}, "invalid-value",
         "currency"),
        ({"external_id": "o", "amount": 1, "ordered_at": 1, "items": {"sku": "x"}},
         "invalid-type", "items"),
        ({"external_id": 7, "amount": 1, "ordered_at": 1}, "invalid-type", "external_id"),
        ({"external_id": "o", "amount": 1, "ordered_at": 1, "hack": "'; DROP"}, "unknown-field",
         None),
    ],
)  # fmt: skip
async def test_given_a_questionable_order_row_then_it_is_rejected_with_its_reason(
    store: ProfileStore, tmp_path: Path, row: dict[str, Any], reason: str, column: str | None
) -> None:
    await ann(store)
    good = {"email": "ann@example.com", "external_id": "good", "amount": 1, "ordered_at": 1}
    text = jsonl({"email": "ann@example.com", **row}, good)

    summary = await orders_from(store, tmp_path, "o.jsonl", text)

    assert (summary["created"], summary["rejected"]) == (1, 1)
    (error,) = summary["errors"]
    assert (error["line"], error["error"], error.get("column")) == (1, reason, column)


async def test_given_orders_in_csv_then_text_is_read_as_numbers_dates_and_json(
    store: ProfileStore, tmp_path: Path
) -> None:
    cid = await ann(store)
    text = (
        "email,external_id,amount,margin,currency,items,ordered_at,status\n"
        'ann@example.com,o-1,12.50,3,eur,"[{""sku"": ""X"", ""qty"": 2}]",'
        "2026-01-02T10:00:00+01:00,Completed\n"
        "ann@example.com,o-2,1,,,,1767000000.5,\n"
    )

    summary = await orders_from(store, tmp_path, "o.csv", text)

    assert summary["created"] == 2, summary
    exported = await store.export_customer(cid, actor=SYSTEM)
    first, second = sorted(exported["orders"], key=lambda o: o["external_id"])
    assert (first["amount_cents"], first["margin_cents"], first["currency"]) == (1250, 300, "EUR")
    assert first["items"] == [{"sku": "X", "qty": 2}] and first["status"] == "completed"
    assert first["ordered_at"] == 1_767_344_400.0
    assert second["ordered_at"] == 1_767_000_000.5 and second["currency"] == "USD"


# ------------------------------------------------------------ what gets reported


async def test_given_personal_data_in_bad_rows_then_it_reaches_neither_logs_nor_summary(
    store: ProfileStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    await ann(store)
    secrets = ["Zelda Secretname", "zelda.secret@@example", "+99 secret", "Atlantis/Secret"]
    text = jsonl(
        {"display_name": secrets[0], "email": secrets[1]},
        {"display_name": secrets[0], "phone": secrets[2]},
        {"display_name": secrets[0], "email": "z@example.com", "timezone": secrets[3]},
        {"display_name": secrets[0], "email": "ann@example.com"},
    )
    caplog.set_level(logging.DEBUG, logger="contact_center")

    summary = await customers_from(store, tmp_path, "c.jsonl", text, on_conflict="update")

    assert summary["rejected"] == 3 and summary["updated"] == 1
    written = orjson.dumps(summary).decode() + caplog.text
    assert "line 4: updated" in caplog.text
    for secret in secrets:
        assert secret not in written


async def test_given_more_problems_than_listed_then_the_report_still_has_every_row(
    store: ProfileStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "LIST_LIMIT", 2)
    reported: list[dict[str, Any]] = []
    nameless = [{"display_name": f"N{n}"} for n in range(5)]
    text = jsonl(*nameless, {"display_name": "A", "email": "a@example.com"})
    rows = read_rows(write(tmp_path, "c.jsonl", text), None, "customers")

    summary = await import_customers(store, rows, actor=OPERATOR, report=reported.append)

    assert summary.to_dict()["truncated"] is True
    assert [e["line"] for e in summary.errors] == [1, 2]
    assert [(e["line"], e["outcome"]) for e in reported] == [
        *((n, "rejected") for n in range(1, 6)),
        (6, "created"),
    ]


def test_given_an_empty_summary_then_its_shape_is_stable() -> None:
    assert ImportSummary("orders", "update").to_dict() == {
        "kind": "orders", "on_conflict": "update", "rows": 0, "created": 0, "updated": 0,
        "unchanged": 0, "skipped": 0, "rejected": 0, "customers_created": 0, "errors": [],
        "changes": [], "truncated": False,
    }  # fmt: skip


async def test_given_an_import_then_orders_are_audited_per_customer(
    store: ProfileStore, tmp_path: Path
) -> None:
    cid = await ann(store)
    text = jsonl(
        {"customer_id": cid, "external_id": "o-1", "amount": 5, "ordered_at": 1_767_000_000}
    )

    await orders_from(store, tmp_path, "o.jsonl", text)

    async with store.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(audit_events.c.customer_id, audit_events.c.details).where(
                    audit_events.c.action == "orders.imported"
                )
            )
        ).all()
    assert [(r.customer_id, len(r.details["created"])) for r in rows] == [(cid, 1)]
