"""Voice contacts a restarted router restores wait for their server's resync."""

from __future__ import annotations

from cti.ports import CollectingEventSink, VoiceOffer
from cti.routing_adapter import HeldVoiceContacts, RouterVoiceRouting, contact_id
from routing.backends.memory import MemoryRouterBackend
from routing.events import ContactAbandoned
from routing.ports import InMemoryWaitingContactStore, ListEventSink, WaitingContact
from routing.service import RoutingService
from routing.settings import build_config, parse_routing_settings

T0 = 1_800_000_000.0
QUEUES = {"support": {"channels": ["voice", "chat"]}}


def kept(contact: str, *, queue: str = "support", channel: str = "voice") -> WaitingContact:
    return WaitingContact(
        contact_id=contact, channel=channel, queue=queue, waiting_since=T0, priority=0
    )


async def test_restored_voice_contacts_are_settled_by_their_servers_resync() -> None:
    waiting, gone, answered, elsewhere, unqueued = (
        contact_id(call) for call in ("pbx1:1.1", "pbx1:1.2", "pbx1:1.3", "pbx2:1.4", "pbx1:1.5")
    )
    store = InMemoryWaitingContactStore()
    for contact in (
        kept("chat-1", channel="chat"),
        kept(waiting),
        kept(gone),
        kept(answered),
        kept(elsewhere),
        kept(unqueued, queue="closed-down"),  # a queue the settings no longer have
    ):
        await store.save(contact)
    held = HeldVoiceContacts(store)
    router_events = ListEventSink()
    router = RoutingService(
        MemoryRouterBackend(
            build_config(parse_routing_settings({"queues": QUEUES})),
            sink=router_events,
            store=held,
            clock=lambda: T0 + 30,
            run_timers=False,
        )
    )
    await router.start()
    await router.upsert_agent("alice", queues=("support",))
    await router.ready("alice")
    # Only the chat was restored and offered; the calls wait for Asterisk's word.
    assert [e.contact_id for e in router_events.named("contact.offered")] == ["chat-1"]
    assert sorted(held.held()) == sorted([waiting, gone, answered, elsewhere, unqueued])

    events = CollectingEventSink()
    voice = RouterVoiceRouting(router, held=held, events=events)
    await router.upsert_agent("bob", queues=("support",))
    await router.ready("bob")
    offers = await voice.resynced(
        server="pbx1",
        waiting_calls={"pbx1:1.1", "pbx1:1.5"},
        live_calls={"pbx1:1.1", "pbx1:1.3", "pbx1:1.5"},
        at=T0 + 30,
    )
    assert offers == [VoiceOffer("pbx1:1.1", "bob")]
    assert (await router.describe_contact(waiting))["waiting_since"] == T0
    lost = [e for e in events.named("contact.abandoned") if isinstance(e, ContactAbandoned)]
    assert [(e.contact_id, e.reason, e.waited_seconds) for e in lost] == [
        (gone, "lost-with-pbx", 30.0)
    ]
    assert held.held() == [elsewhere]
    await held.flush()  # voice contacts are written behind the routing decisions
    assert sorted(c.contact_id for c in await store.load_all()) == sorted(
        ["chat-1", waiting, elsewhere]
    )

    async def resync_queued(call: str) -> list[VoiceOffer]:
        return list(
            await voice.call_queued(
                call_id=call,
                queue="support",
                caller_number="",
                caller_name="",
                at=T0 + 31,
                requeued=False,
            )
        )

    # The resync's own call.queued for the re-queued call is old news (no duplicate);
    # the one whose re-queue was refused is routed afresh from it.
    assert await resync_queued("pbx1:1.1") == []
    assert [e.contact_id for e in router_events.named("contact.queued")].count(waiting) == 1
    await resync_queued("pbx1:1.5")
    assert (await router.describe_contact(unqueued))["queue"] == "support"
    await router.close()
