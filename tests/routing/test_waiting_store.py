"""The waiting-contact store: its contract, and a single in-memory node restarting."""

from __future__ import annotations

import pytest

from routing.backends.memory import MemoryRouterBackend
from routing.ports import (
    InMemoryWaitingContactStore,
    ListEventSink,
    WaitingContact,
    WaitingContactStore,
)
from routing.service import RoutingService
from tests.routing.conftest import ManualClock, make_config
from tests.routing.contracts import WaitingContactStoreContract


class TestInMemoryWaitingContactStore(WaitingContactStoreContract):
    @pytest.fixture
    def store(self) -> WaitingContactStore:
        return InMemoryWaitingContactStore()


async def node(store: WaitingContactStore, clock: ManualClock) -> RoutingService:
    service = RoutingService(
        MemoryRouterBackend(
            make_config(), sink=ListEventSink(), store=store, clock=clock, run_timers=False
        )
    )
    await service.start()
    return service


async def test_given_waiting_contacts_when_the_node_restarts_then_all_are_requeued_in_order(
    clock: ManualClock,
) -> None:
    store = InMemoryWaitingContactStore()
    first = await node(store, clock)
    await first.upsert_agent("a1", queues=("support",))
    await first.ready("a1")
    for n in range(4):
        await first.enqueue(f"c{n}", "voice", "support", priority=n % 2)
        clock.now += 1
    await first.accept("c0", "a1")  # connected: no longer waiting
    offered_before = await first.describe_contact("c1")
    assert offered_before["state"] == "queued"
    # The process dies: nothing is closed, only the store survives.
    clock.now += 30
    second = await node(store, clock)
    for n in (1, 2, 3):
        restored = await second.describe_contact(f"c{n}")
        assert restored["state"] == "queued"
        assert restored["waiting_since"] == offered_before["waiting_since"] + (n - 1)
    with pytest.raises(Exception, match="c0"):
        await second.describe_contact("c0")
    await second.upsert_agent("a2", queues=("support",))
    await second.ready("a2")
    # Priority 1 (c1, c3) before priority 0 (c2); equal priority keeps arrival order.
    assert (await second.describe_agent("a2"))["active"] == {"c1": "voice"}
    assert (await second.describe_contact("c3"))["position"] == 1


async def test_given_an_offered_contact_when_the_node_restarts_then_it_waits_again(
    clock: ManualClock,
) -> None:
    store = InMemoryWaitingContactStore()
    first = await node(store, clock)
    await first.upsert_agent("a1", queues=("support",))
    await first.ready("a1")
    await first.enqueue("c1", "chat", "support", attributes={"topic": "refund"})
    assert (await first.describe_contact("c1"))["state"] == "offered"
    second = await node(store, clock)
    assert (await second.describe_contact("c1"))["state"] == "queued"
    (saved,) = await store.load_all()
    assert saved.attributes == (("topic", "refund"),)


async def test_given_ended_contacts_then_the_store_forgets_them(clock: ManualClock) -> None:
    store = InMemoryWaitingContactStore()
    service = await node(store, clock)
    await service.enqueue("gone", "voice", "support")
    await service.enqueue("kept", "voice", "support")
    await service.hang_up("gone")
    assert [w.contact_id for w in await store.load_all()] == ["kept"]


class FlakyStore(InMemoryWaitingContactStore):
    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    async def save(self, contact: WaitingContact) -> None:
        if self.broken:
            raise ConnectionError("database down")
        await super().save(contact)


async def test_given_a_failing_store_when_routing_then_decisions_stand_and_store_catches_up(
    clock: ManualClock,
) -> None:
    store = FlakyStore()
    service = await node(store, clock)
    result = await service.enqueue("c1", "voice", "support")
    assert [e.name for e in result.events] == ["contact.queued"]
    assert await store.load_all() == []
    store.broken = False
    await service.enqueue("c2", "voice", "support")
    assert [w.contact_id for w in await store.load_all()] == ["c1", "c2"]
