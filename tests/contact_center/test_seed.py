"""Synthetic data: the generator's determinism and realism, the store-backed seeder, and
the bulk loader (same screen-pop on SQLite and PostgreSQL as data written through the store).
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from argon2 import PasswordHasher
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.accounts import AccountStore
from contact_center.bulk_load import (
    COLUMNS,
    BulkLoadConflict,
    BulkLoadRejected,
    build_rows,
    bulk_load,
    bulk_load_generated,
    rebase,
)
from contact_center.domain.customer import Channel, Direction, InteractionStatus
from contact_center.domain.identity import Identity, IdentityKind, normalize_email
from contact_center.errors import Conflict
from contact_center.seed import (
    MAX_CUSTOMERS,
    InvalidSeedRequest,
    SeedShape,
    SyntheticCustomer,
    account_for,
    derive_value,
    generate_customer,
    generate_customers,
    phone_for,
    seed_store,
    visitor_id_for,
)
from contact_center.services import SYSTEM, Actor
from contact_center.settings import ValueSettings
from contact_center.store.engine import create_engine
from contact_center.store.migrate import upgrade
from contact_center.store.profiles import NewInteraction, ProfileStore
from contact_center.store.schema import (
    audit_events,
    customers,
    identities,
    interactions,
    metadata,
    notes,
)

NOW = 1_790_000_000.0
CJK = re.compile(r"[\u4e00-\u9fff]")
COUNTRY_CODES = {"US": 1, "GB": 44, "CN": 86}


@pytest.fixture(scope="module")
def sample() -> list[SyntheticCustomer]:
    return list(generate_customers(600, rng_seed=11, now=NOW))


# ------------------------------------------------------------------ generator


def test_given_the_same_seed_when_generating_again_then_customers_are_identical() -> None:
    first = list(generate_customers(40, rng_seed=5, now=NOW))
    second = list(generate_customers(40, rng_seed=5, now=NOW))
    assert first == second


def test_given_a_customer_number_when_generated_alone_then_it_matches_the_stream() -> None:
    stream = list(generate_customers(30, rng_seed=5, now=NOW, first_number=100))
    alone = generate_customer(117, rng_seed=5, now=NOW, shape=SeedShape())
    assert stream[17] == alone
    assert alone.number == 117


def test_given_another_seed_when_generating_then_customers_differ() -> None:
    a = [c.display_name for c in generate_customers(30, rng_seed=1, now=NOW)]
    b = [c.display_name for c in generate_customers(30, rng_seed=2, now=NOW)]
    assert a != b


def test_given_a_sample_then_both_languages_and_all_countries_are_present(
    sample: list[SyntheticCustomer],
) -> None:
    languages = {c.language for c in sample}
    countries = {c.country for c in sample}
    assert languages == {"en", "zh-CN"}
    assert countries == {"US", "GB", "CN"}
    for customer in sample:
        if customer.language == "zh-CN":
            assert CJK.search(customer.display_name), customer.display_name
        else:
            assert not CJK.search(customer.display_name)


def test_given_a_sample_then_phones_are_valid_e164_for_the_customer_country(
    sample: list[SyntheticCustomer],
) -> None:
    for customer in sample:
        phones = customer.identity_values(IdentityKind.PHONE)
        assert 1 <= len(phones) <= 2
        for phone in phones:
            parsed = phonenumbers.parse(phone)
            assert phonenumbers.is_valid_number(parsed), phone
            assert parsed.country_code == COUNTRY_CODES[customer.country]
            assert phone == phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@pytest.mark.parametrize(("country", "line"), [(c, line) for c in COUNTRY_CODES for line in (0, 1)])
def test_given_numbers_across_the_range_then_phones_are_valid_and_distinct(
    country: str, line: int
) -> None:
    numbers = [*range(1, 400), *range(MAX_CUSTOMERS - 400, MAX_CUSTOMERS + 1, 7)]
    numbers += [n * 9_973 % MAX_CUSTOMERS + 1 for n in range(400)]
    phones = {phone_for(country, n, line) for n in numbers}
    assert len(phones) == len(set(numbers))
    for phone in phones:
        assert phonenumbers.is_valid_number(phonenumbers.parse(phone)), phone


def test_given_us_customers_then_mobile_and_landline_never_collide() -> None:
    first = {phone_for("US", n, 0) for n in range(1, 3000)}
    second = {phone_for("US", n, 1) for n in range(1, 3000)}
    assert not first & second


def test_given_a_sample_then_identities_are_unique_and_normalised(
    sample: list[SyntheticCustomer],
) -> None:
    seen: set[tuple[IdentityKind, str]] = set()
    for customer in sample:
        for kind, value in customer.identities:
            assert (kind, value) not in seen
            seen.add((kind, value))
        (email,) = customer.identity_values(IdentityKind.EMAIL)
        assert email == normalize_email(email)
        domain = email.rsplit("@", 1)[1]
        assert domain in {"example.com", "example.org", "example.net", "cn.example"}
        if customer.language == "zh-CN":
            assert re.fullmatch(r"user\d+@cn\.example", email)
    kinds = {kind for kind, _ in seen}
    assert kinds == set(IdentityKind)
    assert len({visitor_id_for(n) for n in range(1, 5000)}) == 4999
    assert len({account_for(n) for n in range(1, 5000)}) == 4999


def test_given_a_sample_then_contact_timestamps_follow_each_other(
    sample: list[SyntheticCustomer],
) -> None:
    statuses: set[InteractionStatus] = set()
    contact_ids: set[str] = set()
    for customer in sample:
        starts = [i.started_at for i in customer.interactions]
        assert starts == sorted(starts)
        for i in customer.interactions:
            assert i.contact_id not in contact_ids
            contact_ids.add(i.contact_id)
            statuses.add(i.status)
            stamps = [
                t
                for t in (i.started_at, i.queued_at, i.offered_at, i.answered_at, i.ended_at)
                if t is not None
            ]
            assert stamps == sorted(stamps), i
            assert customer.created_at <= i.started_at and stamps[-1] <= NOW
            if i.offered_at is not None:
                assert i.queued_at is not None
            if i.status is InteractionStatus.CLOSED:
                assert i.ended_at is not None and i.disposition is not None
            else:
                assert not i.resolved
            for m in i.messages:
                assert i.started_at <= m.created_at <= (i.ended_at or NOW)
            for n in i.note_items:
                assert i.ended_at is not None and i.ended_at <= n.created_at <= NOW
            if i.channel is Channel.VOICE:
                assert not i.messages
            else:
                assert i.messages
    assert statuses == {InteractionStatus.OPEN, InteractionStatus.CLOSED}


def test_given_a_sample_then_channels_directions_queues_and_outcomes_vary(
    sample: list[SyntheticCustomer],
) -> None:
    all_interactions = [i for c in sample for i in c.interactions]
    assert {i.channel for i in all_interactions} == set(Channel)
    assert {i.direction for i in all_interactions} == set(Direction)
    assert {"support", "sales", "billing"} <= {i.queue for i in all_interactions}
    dispositions = {i.disposition for i in all_interactions}
    assert {"abandoned", "resolved", "follow-up"} <= dispositions
    assert any(i.repeat_contact for i in all_interactions)
    assert any(not i.resolved for i in all_interactions)


def test_given_chinese_customers_then_their_messages_and_notes_are_chinese(
    sample: list[SyntheticCustomer],
) -> None:
    checked = 0
    for customer in sample:
        for i in customer.interactions:
            texts = [m.body for m in i.messages if m.direction is Direction.INBOUND]
            texts += [n.body for n in i.note_items]
            for body in texts:
                assert bool(CJK.search(body)) == (customer.language == "zh-CN"), body
                checked += 1
    assert checked > 500


def test_given_repeat_rule_then_flag_matches_earlier_unresolved_contacts(
    sample: list[SyntheticCustomer],
) -> None:
    window = SeedShape().repeat_contact_days * 86_400
    for customer in sample:
        for index, i in enumerate(customer.interactions):
            earlier = customer.interactions[:index]
            expected = any(
                not e.resolved and e.started_at >= i.started_at - window for e in earlier
            )
            assert i.repeat_contact == expected


def test_given_orders_then_amounts_add_up_and_tiers_emerge(
    sample: list[SyntheticCustomer],
) -> None:
    settings = ValueSettings()
    tiers = set()
    for customer in sample:
        for order in customer.orders:
            assert order.amount_cents == sum(
                item.unit_price_cents * item.quantity for item in order.items
            )
            assert 0 < order.margin_cents < order.amount_cents
            assert NOW - 731 * 86_400 <= order.ordered_at <= NOW
            assert all(item.sku.startswith("SKU-") and item.quantity >= 1 for item in order.items)
        tiers.add(derive_value(customer, now=NOW, settings=settings).value.tier)
    assert tiers == {t.name for t in settings.tiers}


def test_given_exact_interaction_count_then_every_customer_has_it() -> None:
    shape = SeedShape(interactions=(4, 4))
    assert all(
        len(c.interactions) == 4 for c in generate_customers(50, rng_seed=3, now=NOW, shape=shape)
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: generate_customers(-1, rng_seed=1, now=NOW),
        lambda: generate_customers(1, rng_seed=1, now=NOW, first_number=0),
        lambda: generate_customers(2, rng_seed=1, now=NOW, first_number=MAX_CUSTOMERS),
        lambda: generate_customers(1, rng_seed=1, now=float("nan")),
        lambda: SeedShape(interactions=(5, 2)),
        lambda: SeedShape(chinese_share=0.8, british_share=0.5),
        lambda: SeedShape(agents=0),
    ],
)
def test_given_bad_generation_requests_then_a_clear_error_is_raised(call: Any) -> None:
    with pytest.raises(InvalidSeedRequest) as caught:
        call()
    assert caught.value.error_id == "invalid-seed-request"


def test_given_local_rows_when_rebased_then_references_follow_the_new_ids() -> None:
    batch = build_rows(
        generate_customers(5, rng_seed=2, now=NOW, shape=SeedShape(interactions=(3, 3))),
        now=NOW,
        settings=ValueSettings(),
    )
    allocated = {t: [1000 + n * 10 for n in range(len(batch.rows[t]))] for t in COLUMNS}
    moved = rebase(batch, allocated)
    assert {r[0] for r in moved.rows["customers"]} == set(allocated["customers"])
    interaction_ids = {r[0] for r in moved.rows["interactions"]}
    assert {r[1] for r in moved.rows["messages"]} <= interaction_ids
    assert {r[2] for r in moved.rows["notes"] if r[2] is not None} <= interaction_ids
    for table, rows in moved.rows.items():
        assert [len(r) for r in rows] == [len(COLUMNS[table])] * len(rows)


# ------------------------------------------------------------------- databases


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seed-template") / "template.db"

    async def migrate() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade(engine)
        await engine.dispose()

    asyncio.run(migrate())
    return path


@pytest.fixture(scope="module")
def migrated_postgres(postgres_url: str) -> str:
    async def migrate() -> None:
        engine = create_engine(postgres_url)
        await upgrade(engine)
        await engine.dispose()

    # Its own thread and loop: this may be set up from inside a running event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, migrate()).result()
    return postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def engine(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        db = tmp_path / "seed.db"
        shutil.copy(sqlite_template, db)
        created = create_engine(f"sqlite+aiosqlite:///{db}")
    else:
        created = create_engine(request.getfixturevalue("migrated_postgres"))
        await _empty(created)
    yield created
    await created.dispose()


async def _empty(engine: AsyncEngine) -> None:
    names = [t.name for t in metadata.sorted_tables]
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(names):
                await conn.execute(text(f"DELETE FROM {name}"))  # noqa: S608


def _store(engine: AsyncEngine) -> ProfileStore:
    return ProfileStore(
        engine, default_region="US", value_settings=ValueSettings(), clock=lambda: NOW
    )


async def _agents(engine: AsyncEngine, count: int = 3) -> list[Actor]:
    # A cheap hasher: password hashing is not what these tests are about.
    accounts = AccountStore(
        engine, hasher=PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    )
    actors = []
    for n in range(count):
        user = await accounts.add_user(
            f"agent{n + 1:03d}", password="correct horse battery", display_name=f"Agent {n}"
        )
        actors.append(user.actor)
    return actors


async def _count(engine: AsyncEngine, table: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


SHAPE = SeedShape(interactions=(1, 4), agents=3)


async def test_given_a_store_when_seeding_then_every_customer_is_written_and_audited(
    engine: AsyncEngine,
) -> None:
    store = _store(engine)
    agents = await _agents(engine)
    generated = list(generate_customers(8, rng_seed=4, now=NOW, shape=SHAPE))
    seen: list[int] = []

    summary = await seed_store(
        store, 8, rng_seed=4, shape=SHAPE, agents=agents, progress=seen.append
    )

    assert summary["customers"] == 8 and summary["skipped_existing"] == 0
    assert sum(seen) == 8
    assert summary["interactions"] == sum(len(c.interactions) for c in generated)
    assert summary["messages"] == sum(len(i.messages) for c in generated for i in c.interactions)
    assert summary["orders"] == sum(len(c.orders) for c in generated)
    assert await _count(engine, customers) == 8
    assert await _count(engine, identities) == sum(len(c.identities) for c in generated)
    assert await _count(engine, interactions) == summary["interactions"]
    assert await _count(engine, notes) == summary["notes"]
    async with engine.connect() as conn:
        created = await conn.execute(
            select(func.count())
            .select_from(audit_events)
            .where(audit_events.c.action == "customer.created")
        )
        assert created.scalar_one() == 8
        result = await conn.execute(select(customers.c.display_name, customers.c.tier))
        tiers = {name: tier for name, tier in result}
    settings = store.value_settings
    for customer in generated:
        assert tiers[customer.display_name] == (
            derive_value(customer, now=NOW, settings=settings).value.tier
        )


async def test_given_a_store_when_seeding_then_each_customer_is_one_short_transaction(
    engine: AsyncEngine,
) -> None:
    store = _store(engine)
    agents = await _agents(engine)
    statements: list[str] = []
    commits: list[bool] = []

    def on_statement(*args: Any) -> None:
        statements.append(args[2])

    def on_commit(*_args: Any) -> None:
        commits.append(True)

    event.listen(engine.sync_engine, "before_cursor_execute", on_statement)
    event.listen(engine.sync_engine, "commit", on_commit)
    try:
        summary = await seed_store(store, 6, rng_seed=4, shape=SHAPE, agents=agents)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_statement)
        event.remove(engine.sync_engine, "commit", on_commit)

    assert summary["customers"] == 6
    # One transaction per customer, every row of a table in one statement, nothing read
    # back: what makes the audited path take seconds, not minutes, for thousands.
    assert len(commits) == 6
    assert len(statements) <= 6 * 11, len(statements)


async def test_given_a_seeded_store_then_the_audit_trail_names_every_write(
    engine: AsyncEngine,
) -> None:
    store = _store(engine)
    agents = await _agents(engine)
    generated = list(generate_customers(5, rng_seed=6, now=NOW, shape=SHAPE))

    summary = await seed_store(store, 5, rng_seed=6, shape=SHAPE, agents=agents)

    async with engine.connect() as conn:
        result = await conn.execute(
            select(audit_events.c.action, audit_events.c.customer_id, audit_events.c.actor_id)
        )
        events = result.all()
    actions = [e.action for e in events]
    assert actions.count("customer.created") == 5
    assert actions.count("interaction.updated") == summary["interactions"]
    assert actions.count("note.added") == summary["notes"]
    assert actions.count("orders.imported") == sum(1 for c in generated if c.orders)
    assert all(e.customer_id is not None for e in events)
    agent_ids = {a.user_id for a in agents}
    handled = [e for e in events if e.action == "interaction.updated"]
    assert any(e.actor_id in agent_ids for e in handled)


async def test_given_an_order_already_recorded_when_writing_a_history_then_nothing_is_written(
    engine: AsyncEngine,
) -> None:
    store = _store(engine)
    first = await store.create_customer(
        {"display_name": "Ann"}, [store.identity("email", "ann@example.com")], actor=SYSTEM
    )
    await store.import_orders(
        [{"customer_id": first["id"], "external_id": "o-1", "amount": 5, "ordered_at": NOW}],
        actor=SYSTEM,
    )

    with pytest.raises(Conflict):
        await store.create_customer_with_history(
            {"display_name": "Bob"},
            [store.identity("email", "bob@example.com")],
            order_rows=[{"external_id": "o-1", "amount": 9, "ordered_at": NOW}],
            contacts=[NewInteraction(channel="voice", direction="inbound", started_at=NOW)],
            actor=SYSTEM,
        )

    assert await _count(engine, customers) == 1
    assert await _count(engine, interactions) == 0


async def test_given_a_seeded_store_when_seeding_the_same_numbers_again_then_nothing_is_added(
    engine: AsyncEngine,
) -> None:
    store = _store(engine)
    await seed_store(store, 5, rng_seed=4, shape=SHAPE)
    before = await _count(engine, interactions)

    again = await seed_store(store, 5, rng_seed=4, shape=SHAPE)

    assert again["customers"] == 0 and again["skipped_existing"] == 5
    assert await _count(engine, customers) == 5
    assert await _count(engine, interactions) == before


def _comparable(pop: dict[str, Any]) -> dict[str, Any]:
    """A screen-pop without what legitimately differs between the two writers: row ids,
    creation times of the customer and of notes (the store stamps them with its clock)."""

    def interaction(i: dict[str, Any]) -> dict[str, Any]:
        return {
            **{k: v for k, v in i.items() if k not in ("id", "note_items", "messages")},
            # Messages of one interaction come back in no particular order.
            "messages": sorted(
                ({k: v for k, v in m.items() if k != "id"} for m in i["messages"]),
                key=lambda m: (m["created_at"], m["snippet"]),
            ),
            "note_items": sorted((n["author"], n["body"]) for n in i["note_items"]),
        }

    customer = {
        k: v
        for k, v in pop["customer"].items()
        if k not in ("id", "created_at", "updated_at", "value")
    }
    value = pop["customer"]["value"]
    return {
        "keys": sorted(pop),
        "customer": customer,
        "value": value,
        "matched_identity": pop["matched_identity"],
        "interactions": [interaction(i) for i in pop["interactions"]],
        "open_interactions": [interaction(i) for i in pop["open_interactions"]],
        "notes": sorted((n["author"], n["body"]) for n in pop["notes"]),
        "recent_orders": [{k: v for k, v in o.items() if k != "id"} for o in pop["recent_orders"]],
    }


async def _screen_pops(store: ProfileStore, people: list[SyntheticCustomer]) -> list[Any]:
    viewer = Actor(None, "test")
    pops = []
    for customer in people:
        kind, value = customer.identities[-1]
        pops.append(_comparable(await store.screen_pop(Identity(kind, value), viewer=viewer)))
    return pops


async def test_given_the_same_customers_when_bulk_loaded_then_screen_pop_matches_the_store(
    engine: AsyncEngine,
) -> None:
    store = _store(engine)
    agents = await _agents(engine)
    people = list(generate_customers(10, rng_seed=9, now=NOW, shape=SHAPE))
    await seed_store(store, 10, rng_seed=9, shape=SHAPE, agents=agents)
    written = await _screen_pops(store, people)
    await _empty(engine)
    agents = await _agents(engine)

    summary = await bulk_load(
        engine,
        people,
        now=NOW,
        value_settings=store.value_settings,
        agent_ids=[a.user_id for a in agents if a.user_id is not None],
        batch_size=4,
    )

    assert summary["customers"] == 10
    assert summary["interactions"] == sum(len(c.interactions) for c in people)
    loaded = await _screen_pops(store, people)
    assert loaded == written
    assert any(pop["interactions"] for pop in loaded)
    assert any(pop["recent_orders"] for pop in loaded)


async def test_given_loaded_customers_when_loading_them_again_then_a_conflict_keeps_the_data(
    engine: AsyncEngine,
) -> None:
    people = list(generate_customers(6, rng_seed=2, now=NOW, shape=SHAPE))
    await bulk_load(engine, people, now=NOW, value_settings=ValueSettings(), batch_size=3)
    rows = await _count(engine, interactions)

    with pytest.raises(BulkLoadConflict) as caught:
        await bulk_load(engine, people[3:], now=NOW, value_settings=ValueSettings())

    assert caught.value.error_id == "bulk-load-conflict"
    assert await _count(engine, customers) == 6
    assert await _count(engine, interactions) == rows


async def test_given_bad_bulk_requests_then_they_are_rejected_before_writing(
    engine: AsyncEngine,
) -> None:
    with pytest.raises(BulkLoadRejected):
        await bulk_load(engine, [], now=NOW, value_settings=ValueSettings(), batch_size=0)
    with pytest.raises(BulkLoadRejected):
        await bulk_load_generated(
            engine, 5, rng_seed=1, now=NOW, value_settings=ValueSettings(), workers=0
        )
    for first_number in (0, MAX_CUSTOMERS):
        with pytest.raises(InvalidSeedRequest):
            await bulk_load_generated(
                engine, 5, rng_seed=1, now=NOW, value_settings=ValueSettings(),
                first_number=first_number,
            )  # fmt: skip
    assert await _count(engine, customers) == 0


@pytest.mark.integration
async def test_given_empty_postgres_when_loading_with_index_rebuild_then_indexes_and_keys_return(
    migrated_postgres: str,
) -> None:
    engine = create_engine(migrated_postgres)
    try:
        await _empty(engine)
        query = text(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            "UNION ALL SELECT conname FROM pg_constraint WHERE contype = 'f' ORDER BY 1"
        )
        async with engine.connect() as conn:
            before = (await conn.execute(query)).scalars().all()
        people = generate_customers(20, rng_seed=3, now=NOW, shape=SHAPE)

        summary = await bulk_load(
            engine, people, now=NOW, value_settings=ValueSettings(), rebuild_indexes=True
        )

        assert summary["indexes_rebuilt"] is True
        async with engine.connect() as conn:
            assert (await conn.execute(query)).scalars().all() == before
        again = await bulk_load(
            engine,
            generate_customers(3, rng_seed=3, now=NOW, first_number=21, shape=SHAPE),
            now=NOW,
            value_settings=ValueSettings(),
            rebuild_indexes=True,
        )
        assert again["indexes_rebuilt"] is False  # tables not empty: indexes left alone
        assert await _count(engine, customers) == 23
    finally:
        await engine.dispose()


@pytest.mark.slow
async def test_given_worker_processes_when_loading_then_rows_match_the_in_process_load(
    tmp_path: Path, sqlite_template: Path
) -> None:
    async def load(name: str, workers: int) -> list[Any]:
        db = tmp_path / name
        shutil.copy(sqlite_template, db)
        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        try:
            if workers:
                await bulk_load_generated(
                    engine, 9, rng_seed=8, now=NOW, value_settings=ValueSettings(),
                    shape=SHAPE, batch_size=4, workers=workers,
                )  # fmt: skip
            else:
                await bulk_load(
                    engine,
                    generate_customers(9, rng_seed=8, now=NOW, shape=SHAPE),
                    now=NOW,
                    value_settings=ValueSettings(),
                    batch_size=4,
                )
            async with engine.connect() as conn:
                rows = []
                for table in (customers, identities, interactions, notes):
                    result = await conn.execute(select(table).order_by(table.c.id))
                    rows.append([tuple(r) for r in result])
                return rows
        finally:
            await engine.dispose()

    in_process = await load("serial.db", 0)
    assert await load("workers.db", 1) == in_process
    assert len(in_process[0]) == 9 and in_process[2]
