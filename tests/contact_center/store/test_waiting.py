"""The SQL waiting-contact store keeps the router's waiting contacts across restarts."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.store.waiting import SqlWaitingContactStore
from routing.ports import WaitingContact, WaitingContactStore
from tests.routing.contracts import WaitingContactStoreContract


def contact(contact_id: str, since: float, **extra: object) -> WaitingContact:
    return WaitingContact(
        contact_id=contact_id,
        channel="voice",
        queue="support",
        waiting_since=since,
        priority=5,
        **extra,  # type: ignore[arg-type]
    )


async def test_saved_contacts_come_back_oldest_first_and_replaced(engine: AsyncEngine) -> None:
    store = SqlWaitingContactStore(engine)
    await store.save(contact("b", 20.0))
    await store.save(
        contact("a", 10.0, customer_id="7", tier="gold", attributes=(("lang", "zh-CN"),))
    )
    await store.save(contact("c", 10.0))
    await store.save(contact("b", 5.0))
    loaded = await store.load_all()
    assert [c.contact_id for c in loaded] == ["b", "a", "c"]
    assert loaded[1] == contact(
        "a", 10.0, customer_id="7", tier="gold", attributes=(("lang", "zh-CN"),)
    )


async def test_remove_forgets_and_unknown_ids_are_fine(engine: AsyncEngine) -> None:
    store = SqlWaitingContactStore(engine)
    await store.save(contact("a", 1.0))
    await store.remove("a")
    await store.remove("never-saved")
    assert await store.load_all() == []


async def test_a_new_store_object_sees_what_an_old_one_saved(engine: AsyncEngine) -> None:
    await SqlWaitingContactStore(engine).save(contact("x", 1.0))
    assert [c.contact_id for c in await SqlWaitingContactStore(engine).load_all()] == ["x"]


async def test_concurrent_saves_of_one_contact_keep_one_row(engine: AsyncEngine) -> None:
    store = SqlWaitingContactStore(engine)
    await asyncio.gather(*(store.save(contact("same", float(i))) for i in range(5)))
    assert [c.contact_id for c in await store.load_all()] == ["same"]


class TestSqlWaitingContactStoreContract(WaitingContactStoreContract):
    """The router's own contract, on SQLite and PostgreSQL."""

    @pytest.fixture
    def store(self, engine: AsyncEngine) -> WaitingContactStore:
        return SqlWaitingContactStore(engine)
