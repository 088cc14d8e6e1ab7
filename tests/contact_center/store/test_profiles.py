"""Profile store behaviour, run on SQLite and on real PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.accounts import AccountStore
from contact_center.domain.identity import InvalidIdentity
from contact_center.errors import InvalidInput
from contact_center.services import SYSTEM, Actor
from contact_center.store.profiles import (
    CustomerMerged,
    CustomerNotFound,
    IdentityTaken,
    InvalidCursor,
    MergeRejected,
    ProfileStore,
)
from contact_center.store.schema import audit_events, customers, merges
from tests.contact_center.conftest import FakeClock

AGENT = Actor(None, "alice", "agent")
DAY = 86_400.0


async def _customer_with_history(store: ProfileStore, phone: str, name: str) -> int:
    customer = await store.create_customer(
        {"display_name": name, "tags": ["vip"]}, [store.identity("phone", phone)], actor=SYSTEM
    )
    cid = customer["id"]
    call = await store.start_interaction(cid, channel="voice", contact_id=f"call-{cid}")
    await store.update_interaction(
        call["id"], {"status": "closed", "ended_at": store.clock(), "disposition": "billing"}
    )
    await store.add_note(cid, "asked about the invoice", actor=AGENT, interaction_id=call["id"])
    chat = await store.start_interaction(cid, channel="chat")
    await store.add_message(chat["id"], direction="inbound", body="hello, my order is late")
    await store.import_orders(
        [{"customer_id": cid, "external_id": f"o-{cid}", "amount": 120, "ordered_at": 1.7e9}],
        actor=SYSTEM,
    )
    return int(cid)


def _without_volatile(export: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in export.items() if k not in ("exported_at", "audit_events", "merges")}
    data["customer"] = {k: v for k, v in data["customer"].items() if k != "updated_at"}
    return data


async def test_given_unknown_identity_when_resolved_then_one_provisional_customer(
    store: ProfileStore,
) -> None:
    first = await store.resolve(store.identity("phone", "020 7946 0018"))
    again = await store.resolve(store.identity("phone", "+44 20 7946 0018"))
    assert first.created and not again.created
    assert again.customer_id == first.customer_id
    profile = await store.get_profile(first.customer_id, viewer=AGENT)
    assert profile["provisional"] is True
    assert profile["identities"] == [{"kind": "phone", "value": "+442079460018"}]


async def test_given_concurrent_resolves_of_one_new_identity_then_one_customer(
    store: ProfileStore, engine: AsyncEngine
) -> None:
    identity = store.identity("email", "Race@Example.com")
    results = await asyncio.gather(*(store.resolve(identity) for _ in range(8)))
    assert len({r.customer_id for r in results}) == 1
    assert sum(r.created for r in results) == 1
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(customers))).scalar() == 1


async def test_identity_belonging_to_someone_else_is_refused(store: ProfileStore) -> None:
    a = await store.resolve(store.identity("email", "a@example.com"))
    b = await store.resolve(store.identity("email", "b@example.com"))
    with pytest.raises(IdentityTaken) as err:
        await store.add_identity(
            b.customer_id, store.identity("email", "A@example.com"), actor=AGENT
        )
    assert err.value.details["customer_id"] == a.customer_id


@pytest.mark.parametrize(
    "changes",
    [
        {"unknown_field": 1},
        {"display_name": "x" * 201},
        {"display_name": ""},
        {"display_name": "bad\x00name"},
        {"lifecycle_stage": "emperor"},
        {"tags": ["ok", 3]},
        {"consent": {"email": "yes"}},
        {"attributes": {"blob": "x" * 20_000}},
        {"owner_agent_id": 9999},
    ],
)
async def test_bad_updates_are_rejected_and_change_nothing(
    store: ProfileStore, changes: dict[str, Any]
) -> None:
    cid = (await store.create_customer({"display_name": "Ann Lee"}, [], actor=SYSTEM))["id"]
    before = await store.get_profile(cid, viewer=AGENT)
    with pytest.raises(InvalidInput):
        await store.update_customer(cid, changes, actor=AGENT)
    assert await store.get_profile(cid, viewer=AGENT) == before


async def test_update_is_audited_with_fields_and_only_impersonal_values(
    store: ProfileStore,
) -> None:
    cid = (await store.create_customer({"display_name": "Ann Lee"}, [], actor=SYSTEM))["id"]
    updated = await store.update_customer(
        cid,
        {"display_name": "Ann Leigh", "lifecycle_stage": "advocate", "attributes": {"x": "y"}},
        actor=AGENT,
    )
    assert updated["display_name"] == "Ann Leigh"
    log = await store.audit_log(customer_id=cid, action="customer.updated")
    assert log["items"][0]["details"] == {
        "fields": ["attributes", "display_name", "lifecycle_stage"],
        "lifecycle_stage": {"from": "prospect", "to": "advocate"},
    }
    assert log["items"][0]["actor"] == "alice"


async def test_merge_moves_everything_and_unmerge_restores_it(store: ProfileStore) -> None:
    a = await _customer_with_history(store, "+442079460018", "Ann Lee")
    b = await _customer_with_history(store, "+8613800138000", "李娜")
    before_a = _without_volatile(await store.export_customer(a, actor=SYSTEM))
    before_b = _without_volatile(await store.export_customer(b, actor=SYSTEM))

    merge = await store.merge(a, b, actor=AGENT, reason="same person, two phones")
    assert merge["moved"] == {
        "identities": 1,
        "interactions": 2,
        "messages": 1,
        "notes": 1,
        "orders": 1,
    }
    merged_view = await store.export_customer(a, actor=SYSTEM)
    assert len(merged_view["interactions"]) == 4
    assert len(merged_view["orders"]) == 2
    assert merged_view["customer"]["value"]["lifetime_spend"] == 240.0
    with pytest.raises(CustomerMerged):
        await store.update_customer(b, {"display_name": "x"}, actor=AGENT)
    # The merged customer's phone now pops the survivor.
    pop = await store.screen_pop(store.identity("phone", "+8613800138000"), viewer=AGENT)
    assert pop["customer"]["id"] == a

    await store.unmerge(merge["id"], actor=AGENT)
    assert _without_volatile(await store.export_customer(a, actor=SYSTEM)) == before_a
    assert _without_volatile(await store.export_customer(b, actor=SYSTEM)) == before_b
    with pytest.raises(MergeRejected):
        await store.unmerge(merge["id"], actor=AGENT)


async def test_unmerge_waits_for_a_later_merge_of_the_survivor(store: ProfileStore) -> None:
    a, b, c = [
        (await store.resolve(store.identity("email", f"{n}@example.com"))).customer_id
        for n in "abc"
    ]
    first = await store.merge(a, b, actor=AGENT, reason="dup")
    second = await store.merge(c, a, actor=AGENT, reason="dup again")
    with pytest.raises(MergeRejected) as err:
        await store.unmerge(first["id"], actor=AGENT)
    assert err.value.details["blocking_merge_id"] == second["id"]
    await store.unmerge(second["id"], actor=AGENT)
    await store.unmerge(first["id"], actor=AGENT)
    for cid, email in ((a, "a"), (b, "b"), (c, "c")):
        profile = await store.get_profile(cid, viewer=AGENT)
        assert profile["identities"] == [{"kind": "email", "value": f"{email}@example.com"}]
        assert profile["merged_into_id"] is None


async def test_merge_refuses_self_and_unknown(store: ProfileStore) -> None:
    a = (await store.resolve(store.identity("email", "a@example.com"))).customer_id
    with pytest.raises(MergeRejected):
        await store.merge(a, a, actor=AGENT, reason="oops")
    with pytest.raises(CustomerNotFound):
        await store.merge(a, 12345, actor=AGENT, reason="oops")


async def test_tier_from_orders_and_churn_when_value_falls(
    store: ProfileStore, clock: FakeClock
) -> None:
    cid = (await store.resolve(store.identity("email", "big@example.com"))).customer_id
    year_ago = clock.now - 400 * DAY
    rows = [
        {
            "customer_id": cid,
            "external_id": f"old-{i}",
            "amount": 3000,
            "margin": 900,
            "ordered_at": year_ago - i * DAY,
        }
        for i in range(5)
    ] + [
        {"customer_id": cid, "external_id": "recent", "amount": 600, "ordered_at": clock.now - DAY}
    ]
    summary = await store.import_orders(rows, actor=SYSTEM)
    assert summary["inserted"] == 6 and not summary["rejected"]
    value = (await store.get_profile(cid, viewer=AGENT))["value"]
    assert value["tier"] == "silver"
    assert value["previous_tier"] == "platinum"
    assert value["churn_risk"] is True
    assert value["lifetime_orders"] == 6

    # A large new order lifts the tier back; churn risk clears.
    await store.import_orders(
        [{"customer_id": cid, "external_id": "recent", "amount": 20_000, "ordered_at": clock.now}]
        + [
            {"customer_id": cid, "external_id": f"n{i}", "amount": 10, "ordered_at": clock.now}
            for i in range(4)
        ],
        actor=SYSTEM,
    )
    profile = await store.get_profile(cid, viewer=AGENT)
    assert profile["value"]["tier"] == "platinum"
    assert profile["value"]["churn_risk"] is False
    assert profile["lifecycle_stage"] == "repeat"


async def test_bad_order_rows_are_reported_and_the_good_ones_kept(store: ProfileStore) -> None:
    summary = await store.import_orders(
        [
            {
                "email": "new@example.com",
                "customer_name": "New Person",
                "external_id": "1",
                "amount": "12.50",
                "ordered_at": "2026-01-02T10:00:00Z",
            },
            {"email": "not-an-email", "external_id": "2", "amount": 1, "ordered_at": 1.7e9},
            {"email": "new@example.com", "external_id": "3", "amount": "lots", "ordered_at": 1.7e9},
            {
                "email": "new@example.com",
                "external_id": "4",
                "amount": 1,
                "ordered_at": "yesterday",
            },
            {"email": "new@example.com", "external_id": "5", "amount": 1, "hack": "'; DROP"},
        ],
        actor=SYSTEM,
    )
    assert summary["inserted"] == 1
    assert [r["index"] for r in summary["rejected"]] == [1, 2, 3, 4]
    found = await store.search(email="NEW@example.com")
    assert found["items"][0]["display_name"] == "New Person"
    assert found["items"][0]["provisional"] is False
    assert found["items"][0]["value"]["lifetime_spend"] == 12.5


async def test_repeat_contact_flag_until_resolved(store: ProfileStore, clock: FakeClock) -> None:
    cid = (await store.resolve(store.identity("phone", "+14155552671"))).customer_id
    first = await store.start_interaction(cid, channel="voice")
    await store.update_interaction(first["id"], {"status": "closed", "ended_at": clock.now})
    clock.advance(2 * DAY)
    second = await store.start_interaction(cid, channel="email")
    assert second["repeat_contact"] is True
    assert (await store.get_profile(cid, viewer=AGENT))["value"]["repeat_contact"] is True
    await store.update_interaction(first["id"], {"resolved": True})
    await store.update_interaction(second["id"], {"resolved": True})
    assert (await store.get_profile(cid, viewer=AGENT))["value"]["repeat_contact"] is False
    clock.advance(30 * DAY)
    third = await store.start_interaction(cid, channel="chat")
    assert third["repeat_contact"] is False


async def test_screen_pop_has_everything_in_three_reads_and_is_audited(
    store: ProfileStore, engine: AsyncEngine
) -> None:
    cid = await _customer_with_history(store, "+442079460018", "Ann Lee")
    await store.add_note(cid, "prefers email", actor=AGENT)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.lstrip().split()[0].upper())

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        pop = await store.screen_pop(
            store.identity("phone", "020 7946 0018"), viewer=AGENT, contact_id="call-99"
        )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    reads = [s for s in statements if s in ("SELECT", "WITH", "(SELECT")]
    assert len(reads) <= 3, statements
    assert pop["customer"]["display_name"] == "Ann Lee"
    assert pop["customer"]["value"]["contacts_30d"] == 2
    assert pop["customer"]["open_items"] == 1
    assert [i["channel"] for i in pop["open_interactions"]] == ["chat"]
    assert pop["open_interactions"][0]["messages"][0]["snippet"] == "hello, my order is late"
    assert pop["interactions"][0]["disposition"] == "billing"
    assert pop["interactions"][0]["note_items"][0]["body"] == "asked about the invoice"
    assert [n["body"] for n in pop["notes"]] == ["prefers email"]
    assert pop["recent_orders"][0]["amount"] == 120.0
    log = await store.audit_log(customer_id=cid, action="profile.viewed")
    assert log["items"][0]["contact_id"] == "call-99"
    assert log["items"][0]["actor"] == "alice"


async def test_given_concurrent_screen_pops_then_each_view_is_audited_before_it_returns(
    store: ProfileStore, engine: AsyncEngine
) -> None:
    cid = await _customer_with_history(store, "+442079460018", "Ann Lee")
    identity = store.identity("phone", "020 7946 0018")
    commits: list[int] = []
    audited_when_returned: list[int] = []

    def count(_conn: Any) -> None:
        commits.append(1)

    async def pop(n: int) -> None:
        await store.screen_pop(identity, viewer=AGENT, contact_id=f"call-{n}")
        # Committed by the time the data comes back: another connection sees it.
        async with engine.connect() as conn:
            audited_when_returned.append(
                (
                    await conn.execute(
                        select(func.count())
                        .select_from(audit_events)
                        .where(audit_events.c.contact_id == f"call-{n}")
                    )
                ).scalar_one()
            )

    event.listen(engine.sync_engine, "commit", count)
    try:
        await asyncio.gather(*(pop(n) for n in range(20)))
    finally:
        event.remove(engine.sync_engine, "commit", count)
    assert audited_when_returned == [1] * 20
    log = await store.audit_log(customer_id=cid, action="profile.viewed", limit=100)
    assert sorted(e["contact_id"] for e in log["items"]) == sorted(f"call-{n}" for n in range(20))
    # Group commit: the twenty views did not take twenty commits.
    assert 1 <= len(commits) < 20, commits


async def test_given_an_audit_write_that_fails_then_the_screen_pop_returns_no_data(
    store: ProfileStore, engine: AsyncEngine
) -> None:
    await _customer_with_history(store, "+442079460018", "Ann Lee")
    identity = store.identity("phone", "020 7946 0018")

    def refuse(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_EVENTS"):
            raise RuntimeError("audit log unavailable")

    event.listen(engine.sync_engine, "before_cursor_execute", refuse)
    try:
        results = await asyncio.gather(
            *(store.screen_pop(identity, viewer=AGENT) for _ in range(5)),
            return_exceptions=True,
        )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", refuse)
    assert all(isinstance(r, RuntimeError) for r in results), results
    # The writer recovers: the next view is audited and returned.
    pop = await store.screen_pop(identity, viewer=AGENT, contact_id="after")
    assert pop["customer"]["display_name"] == "Ann Lee"
    log = await store.audit_log(action="profile.viewed")
    assert [e["contact_id"] for e in log["items"]] == ["after"]


async def test_screen_pop_of_unknown_identity_is_not_found(store: ProfileStore) -> None:
    with pytest.raises(CustomerNotFound):
        await store.screen_pop(store.identity("email", "nobody@example.com"), viewer=AGENT)


async def test_history_pages_cover_everything_once_newest_first(
    store: ProfileStore, clock: FakeClock
) -> None:
    cid = (await store.resolve(store.identity("chat", "visitor-1"))).customer_id
    for i in range(23):
        clock.advance(60)
        await store.start_interaction(cid, channel=("voice", "chat", "email")[i % 3])
    seen: list[int] = []
    cursor = None
    while True:
        page = await store.history(cid, viewer=AGENT, cursor=cursor, limit=5)
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 23 and len(set(seen)) == 23
    assert seen == sorted(seen, reverse=True)
    emails = await store.history(cid, viewer=AGENT, channel="email", limit=50)
    assert len(emails["items"]) == 7
    with pytest.raises(InvalidCursor):
        await store.history(cid, viewer=AGENT, cursor="'; DROP TABLE customers; --")


async def test_search_by_name_phone_email_number_and_hostile_text(store: ProfileStore) -> None:
    await store.create_customer(
        {"display_name": "Zoë Smith"},
        [store.identity("email", "zoe@example.com"), store.identity("account", "ACC-1001")],
        actor=SYSTEM,
    )
    await store.create_customer(
        {"display_name": "王小明"}, [store.identity("phone", "+8613800138000")], actor=SYSTEM
    )
    assert [c["display_name"] for c in (await store.search(text="zoe"))["items"]] == ["Zoë Smith"]
    assert [c["display_name"] for c in (await store.search(name="smi"))["items"]] == ["Zoë Smith"]
    assert [c["display_name"] for c in (await store.search(text="王"))["items"]] == ["王小明"]
    assert (await store.search(phone="+86 138 0013 8000"))["items"][0]["display_name"] == "王小明"
    assert (await store.search(number="ACC-1001"))["items"][0]["display_name"] == "Zoë Smith"
    for hostile in ("' OR '1'='1", "%", "_", "\\", "zoe%' --"):
        assert (await store.search(text=hostile))["items"] == []
    with pytest.raises(InvalidIdentity):
        await store.search(phone="not a phone")
    with pytest.raises(InvalidInput):
        await store.search()


async def test_search_pages_by_cursor(store: ProfileStore) -> None:
    for i in range(7):
        await store.create_customer({"display_name": f"Pat {i}"}, [], actor=SYSTEM)
    first = await store.search(name="pat", limit=4)
    second = await store.search(name="pat", limit=4, cursor=first["next_cursor"])
    assert len(first["items"]) == 4 and len(second["items"]) == 3
    assert second["next_cursor"] is None


async def test_erase_removes_personal_data_and_keeps_aggregates(
    store: ProfileStore, engine: AsyncEngine
) -> None:
    cid = await _customer_with_history(store, "+442079460018", "Ann Lee")
    await store.erase_customer(cid, actor=AGENT)
    data = await store.export_customer(cid, actor=SYSTEM)
    assert data["customer"]["display_name"] == f"Erased customer {cid}"
    assert data["identities"] == []
    assert {m["body"] for m in data["messages"]} == {"[erased]"}
    assert {n["body"] for n in data["notes"]} == {"[erased]"}
    assert [i["channel"] for i in data["interactions"]] == ["voice", "chat"]
    assert data["orders"][0]["amount_cents"] == 12_000
    assert data["customer"]["value"]["lifetime_spend"] == 120.0
    assert (await store.search(phone="+442079460018"))["items"] == []
    assert "customer.erased" in {e["action"] for e in data["audit_events"]}
    exported = await store.audit_log(customer_id=cid, action="customer.exported")
    assert len(exported["items"]) == 1
    # The phone number is free again: a new caller with it is a new customer.
    again = await store.resolve(store.identity("phone", "+442079460018"))
    assert again.created and again.customer_id != cid


async def test_audit_log_filters_and_pages(store: ProfileStore) -> None:
    cid = (await store.resolve(store.identity("email", "a@example.com"))).customer_id
    for _ in range(5):
        await store.get_profile(cid, viewer=AGENT)
    page = await store.audit_log(customer_id=cid, action="profile.viewed", limit=3)
    rest = await store.audit_log(
        customer_id=cid, action="profile.viewed", limit=3, cursor=page["next_cursor"]
    )
    assert len(page["items"]) == 3 and len(rest["items"]) == 2
    assert rest["next_cursor"] is None
    assert (await store.audit_log(action="no.such.action"))["items"] == []


async def test_every_profile_read_writes_an_audit_row(
    store: ProfileStore, engine: AsyncEngine
) -> None:
    cid = (await store.resolve(store.identity("email", "a@example.com"))).customer_id

    async def views() -> int:
        async with engine.connect() as conn:
            query = select(func.count()).where(
                audit_events.c.action == "profile.viewed", audit_events.c.customer_id == cid
            )
            return int((await conn.execute(query)).scalar_one())

    await store.get_profile(cid, viewer=AGENT)
    await store.screen_pop(store.identity("email", "a@example.com"), viewer=AGENT)
    await store.history(cid, viewer=AGENT)
    assert await views() == 3


async def test_notes_added_after_a_merge_follow_their_interaction_back(
    store: ProfileStore,
) -> None:
    a = await _customer_with_history(store, "+442079460018", "Ann Lee")
    b = await _customer_with_history(store, "+8613800138000", "李娜")
    merge = await store.merge(a, b, actor=AGENT, reason="dup")
    b_calls = [
        i for i in (await store.history(a, viewer=AGENT))["items"] if i["contact_id"] == f"call-{b}"
    ]
    await store.add_note(a, "added while merged", actor=AGENT, interaction_id=b_calls[0]["id"])
    await store.unmerge(merge["id"], actor=AGENT)
    history = await store.history(b, viewer=AGENT)
    call = next(i for i in history["items"] if i["contact_id"] == f"call-{b}")
    assert "added while merged" in [n["body"] for n in call["note_items"]]
    exported = await store.export_customer(b, actor=SYSTEM)
    assert {n["customer_id"] for n in exported["notes"]} == {b}


async def test_erase_reaches_merged_records_merge_reasons_and_audit_values(
    store: ProfileStore, engine: AsyncEngine
) -> None:
    a = await _customer_with_history(store, "+442079460018", "Ann Lee")
    b = await _customer_with_history(store, "+8613800138000", "Ann Leigh")
    merge = await store.merge(a, b, actor=AGENT, reason="Ann Lee, second phone")
    async with engine.begin() as conn:
        # A row as the audit log wrote them before it stopped keeping values.
        await conn.execute(
            audit_events.insert().values(
                at=store.clock(), actor_id=None, actor="alice", action="customer.updated",
                customer_id=b, details={"display_name": {"from": "Ann Leigh", "to": "Ann L"},
                                        "identity": "phone:+8613800138000", "note_id": 3},
            )
        )  # fmt: skip
    await store.erase_customer(a, actor=AGENT)

    async with engine.connect() as conn:
        names = dict((await conn.execute(select(customers.c.id, customers.c.display_name))).all())
        merge_row = (await conn.execute(select(merges))).mappings().one()
        details = [r for r in (await conn.execute(select(audit_events.c.details))).scalars()]
    assert names == {a: f"Erased customer {a}", b: f"Erased customer {b}"}
    assert merge_row["reason"] == "[erased]"
    assert "Ann" not in str(merge_row["survivor_before"])
    assert "Ann" not in str(details) and "8613800138000" not in str(details)
    assert {"display_name": {"from": "[erased]", "to": "[erased]"},
            "identity": "phone:[erased]", "note_id": 3} in details  # fmt: skip
    # Undoing the merge still works on what is left, and brings no name back.
    await store.unmerge(merge["id"], actor=AGENT)
    async with engine.connect() as conn:
        names = dict((await conn.execute(select(customers.c.id, customers.c.display_name))).all())
    assert names == {a: f"Erased customer {a}", b: f"Erased customer {b}"}


async def test_audit_rows_keep_identity_kinds_not_values(store: ProfileStore) -> None:
    cid = (await store.create_customer({"display_name": "Ann Lee"}, [], actor=SYSTEM))["id"]
    phone = store.identity("phone", "+442079460018")
    await store.add_identity(cid, phone, actor=AGENT)
    await store.screen_pop(phone, viewer=AGENT)
    await store.remove_identity(cid, phone, actor=AGENT)
    await store.resolve(store.identity("email", "ann@example.com"), actor=AGENT)
    log = await store.audit_log(limit=50)
    assert "442079460018" not in str(log) and "ann@example.com" not in str(log)
    kinds = [e["details"].get("identity_kind") for e in log["items"]]
    assert kinds.count("phone") == 3 and kinds.count("email") == 1


async def test_given_a_caller_number_then_its_routing_context_is_read_or_made_on_demand(
    store: ProfileStore, engine: AsyncEngine
) -> None:
    """What the router needs: the owner, tier, and the newest interaction an agent served
    (read in one query), or nothing written at all for a number never seen before unless
    asked to make its provisional customer."""
    accounts = AccountStore(engine, store.clock, hasher=PasswordHasher(1, 1024, 1))
    ann = await accounts.add_user("ann", password="ann-password-2026")
    bob = await accounts.add_user("bob", password="bob-password-2026")
    number = store.identity("phone", "+442079460123")
    assert await store.routing_context(number, create=False) is None
    assert (await store.search(phone="+442079460123"))["items"] == []  # nothing written

    made = await store.routing_context(number)
    assert made is not None and made["created"] is True
    assert (made["tier"], made["owner_agent_id"], made["last_agent_id"]) == (
        store.new_customer_tier,
        None,
        None,
    )
    cid = made["customer_id"]
    await store.update_customer(cid, {"owner_agent_id": ann.id}, actor=SYSTEM)
    for contact, agent, started, answered in (
        ("call-1", ann.id, 100.0, 101.0),
        ("call-2", bob.id, 200.0, 205.0),  # the newest an agent served, still open
        ("chat-3", None, 300.0, None),  # newer, but nobody served it
    ):
        row = await store.start_interaction(
            cid, channel="voice", contact_id=contact, started_at=started
        )
        await store.update_interaction(row["id"], {"agent_id": agent, "answered_at": answered})

    known = await store.routing_context(number, create=False)
    assert known == {
        "customer_id": cid,
        "created": False,
        "tier": store.new_customer_tier,
        "owner_agent_id": ann.id,
        "last_agent_id": bob.id,
        "last_served_at": 205.0,
    }
    assert await store.routing_context(number) == known
