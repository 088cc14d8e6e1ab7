"""A caller never seen before is routed first; its provisional customer is made after
the decision, and the router, the history and the consoles are told of it then."""

from __future__ import annotations

import asyncio

from cti.ports import CollectingEventSink
from cti.routing_adapter import HeldVoiceContacts, RouterVoiceRouting, contact_id
from routing.backends.memory import MemoryRouterBackend
from routing.model import CustomerContext
from routing.ports import InMemoryWaitingContactStore, ListEventSink, WaitingContact
from routing.service import RoutingService
from routing.settings import build_config, parse_routing_settings

T0 = 1_800_000_000.0
NEW_NUMBER, KNOWN_NUMBER = "+14155552671", "+14155550100"


class Customers:
    """The profile store's side: one known number; provisional customers made on demand,
    each held until ``release`` is set (a slow database write)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.writing = asyncio.Event()
        self.asked: list[str] = []
        self.made: list[str] = []

    async def lookup(self, number: str) -> CustomerContext:
        if number == KNOWN_NUMBER:
            return CustomerContext(customer_id="5", tier="gold")
        return CustomerContext(tier="bronze")  # never seen: routed as the new customer

    async def provisional(self, number: str) -> str:
        self.asked.append(number)
        self.writing.set()
        await self.release.wait()
        self.made.append(number)
        return "42"


async def router_with(
    sink: ListEventSink, store: HeldVoiceContacts | None = None, *, ready: bool = True
) -> RoutingService:
    router = RoutingService(
        MemoryRouterBackend(
            build_config(parse_routing_settings({"queues": {"support": {"channels": ["voice"]}}})),
            sink=sink,
            store=store,
            clock=lambda: T0,
            run_timers=False,
        )
    )
    await router.start()
    await router.upsert_agent("alice", queues=("support",))
    if ready:
        await router.ready("alice")
    return router


async def queued(voice: RouterVoiceRouting, call: str, number: str) -> list[str]:
    offers = await voice.call_queued(
        call_id=call, queue="support", caller_number=number, caller_name="", at=T0, requeued=False
    )
    return [offer.agent_id for offer in offers]


async def test_given_a_new_number_then_the_offer_does_not_wait_for_its_customer() -> None:
    router_events, customers = ListEventSink(), Customers()
    router = await router_with(router_events)
    voice = RouterVoiceRouting(
        router, customers=customers.lookup, provisional=customers.provisional
    )

    assert await queued(voice, "pbx:1.1", NEW_NUMBER) == ["alice"]

    # Offered while the customer's write has not finished (it has not even been let go).
    await asyncio.wait_for(customers.writing.wait(), 5)
    assert (customers.asked, customers.made) == ([NEW_NUMBER], [])
    offered = router_events.named("contact.offered")
    assert [(e.agent_id, e.customer_id) for e in offered] == [("alice", None)]
    customers.release.set()
    await voice.identified()
    described = await router.describe_contact(contact_id("pbx:1.1"))
    assert (described["customer_id"], described["state"]) == ("42", "offered")
    (identified,) = router_events.named("contact.customer_identified")
    assert (identified.customer_id, identified.agent_id, identified.state) == (  # type: ignore[attr-defined]
        "42",
        "alice",
        "offered",
    )


async def test_given_a_known_number_then_no_customer_is_made() -> None:
    router_events, customers = ListEventSink(), Customers()
    router = await router_with(router_events)
    voice = RouterVoiceRouting(
        router, customers=customers.lookup, provisional=customers.provisional
    )
    assert await queued(voice, "pbx:1.2", KNOWN_NUMBER) == ["alice"]
    await voice.identified()
    assert customers.asked == []
    assert [e.customer_id for e in router_events.named("contact.offered")] == ["5"]


async def test_given_a_caller_gone_before_its_customer_then_the_history_still_hears_of_it() -> None:
    router_events, customers, events = ListEventSink(), Customers(), CollectingEventSink()
    router = await router_with(router_events, ready=False)
    voice = RouterVoiceRouting(
        router, customers=customers.lookup, provisional=customers.provisional, events=events
    )
    assert await queued(voice, "pbx:1.3", NEW_NUMBER) == []
    await voice.call_ended(call_id="pbx:1.3", agent_id=None, abandoned=True, at=T0 + 1)
    customers.release.set()
    await voice.identified()

    assert router_events.named("contact.customer_identified") == []  # the router has ended it
    told = [e for e in events.events if e.name == "contact.customer_identified"]
    assert [(e.contact_id, e.customer_id, e.state) for e in told] == [  # type: ignore[attr-defined]
        (contact_id("pbx:1.3"), "42", "ended")
    ]


async def test_given_a_crash_before_the_customer_was_made_then_the_restart_makes_it() -> None:
    """The waiting contact was kept without a customer; the resync after the restart
    routes it again and its provisional customer is made then."""
    store = InMemoryWaitingContactStore()
    cid = contact_id("pbx:1.4")
    await store.save(
        WaitingContact(
            contact_id=cid,
            channel="voice",
            queue="support",
            waiting_since=T0 - 5,
            priority=0,
            tier="bronze",
            attributes=(("caller_number", NEW_NUMBER),),
        )
    )
    held = HeldVoiceContacts(store)
    router_events, customers, events = ListEventSink(), Customers(), CollectingEventSink()
    router = await router_with(router_events, held)
    voice = RouterVoiceRouting(
        router,
        customers=customers.lookup,
        held=held,
        events=events,
        provisional=customers.provisional,
    )
    customers.release.set()

    offers = await voice.resynced(
        server="pbx", waiting_calls={"pbx:1.4"}, live_calls={"pbx:1.4"}, at=T0
    )

    assert [(o.call_id, o.agent_id) for o in offers] == [("pbx:1.4", "alice")]
    await voice.identified()
    assert customers.made == [NEW_NUMBER]
    assert (await router.describe_contact(cid))["customer_id"] == "42"
    await held.flush()
    (kept,) = await store.load_all()
    assert kept.customer_id == "42"  # kept with it now, for the next restart
