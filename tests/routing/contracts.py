"""Contract every :class:`routing.ports.WaitingContactStore` must pass.

Subclass :class:`WaitingContactStoreContract` in a ``Test...`` class and give it a
``store`` fixture returning an empty store (the SQL adapter in the profile store runs
the same suite against SQLite and PostgreSQL).
"""

from __future__ import annotations

from routing.ports import WaitingContact, WaitingContactStore


def waiting(contact_id: str, since: float, **fields: object) -> WaitingContact:
    data: dict[str, object] = {
        "contact_id": contact_id,
        "channel": "voice",
        "queue": "support",
        "waiting_since": since,
        "priority": 0,
    }
    data.update(fields)
    return WaitingContact(**data)  # type: ignore[arg-type]


class WaitingContactStoreContract:
    async def test_given_saved_contacts_when_loaded_then_oldest_first(
        self, store: WaitingContactStore
    ) -> None:
        await store.save(waiting("b", 20.0))
        await store.save(waiting("c", 10.0))
        await store.save(waiting("a", 20.0))
        assert [w.contact_id for w in await store.load_all()] == ["c", "a", "b"]

    async def test_given_a_saved_contact_when_saved_again_then_it_is_replaced(
        self, store: WaitingContactStore
    ) -> None:
        await store.save(waiting("a", 10.0, queue="support"))
        await store.save(waiting("a", 10.0, queue="sales", priority=7))
        (loaded,) = await store.load_all()
        assert (loaded.queue, loaded.priority) == ("sales", 7)

    async def test_given_every_field_when_loaded_then_nothing_is_lost(
        self, store: WaitingContactStore
    ) -> None:
        original = waiting(
            "full",
            1_800_000_000.25,
            channel="chat",
            priority=-3,
            customer_id="cust-9",
            tier="gold",
            owner_agent_id="owner",
            last_agent_id="last",
            last_served_at=1_799_000_000.5,
            attributes=(("language", "zh"), ("topic", "billing")),
        )
        await store.save(original)
        assert await store.load_all() == [original]

    async def test_given_removals_when_loaded_then_removed_ones_are_gone(
        self, store: WaitingContactStore
    ) -> None:
        await store.save(waiting("a", 1.0))
        await store.save(waiting("b", 2.0))
        await store.remove("a")
        await store.remove("never-saved")
        assert [w.contact_id for w in await store.load_all()] == ["b"]

    async def test_given_an_empty_store_when_loaded_then_nothing(
        self, store: WaitingContactStore
    ) -> None:
        assert await store.load_all() == []
