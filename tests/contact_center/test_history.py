"""The history recorder turns router and telephony events into interactions."""

from __future__ import annotations

from contact_center.history import InteractionRecorder
from contact_center.services import SYSTEM
from contact_center.store.profiles import ProfileStore
from cti.events import CallDirection, CallHungUp, CallOutcome, CallRecordingStarted, HungUpBy
from routing.events import (
    ContactAbandoned,
    ContactConnected,
    ContactCustomerIdentified,
    ContactOffered,
    ContactQueued,
)
from routing.model import Channel


async def test_events_build_one_interaction_with_monotonic_times(store: ProfileStore) -> None:
    customer = await store.create_customer({"display_name": "Ann"}, [], actor=SYSTEM)
    recorder = InteractionRecorder(store, voice_prefix="call-")
    cid, common = "call-pbx:1.1", {"channel": Channel.VOICE, "queue": "support"}
    await recorder.start()
    await recorder.publish(
        [
            ContactQueued(at=100.0, contact_id=cid, customer_id=str(customer["id"]), **common),
            ContactOffered(
                at=101.0,
                contact_id=cid,
                agent_id="7",
                waited_seconds=1.0,
                offer_deadline=120.0,
                decided_by="node",
                strategy="longest-idle",
                ring=0,
                **common,
            ),
            ContactConnected(
                at=103.0, contact_id=cid, agent_id="not-a-user", waited_seconds=3.0, **common
            ),
            CallRecordingStarted(at=104.0, server="pbx", call_id="pbx:1.1", file="/r/1.wav"),
            # Asterisk's clock runs a little behind ours: the end must not precede the answer.
            CallHungUp(
                at=102.5,
                server="pbx",
                call_id="pbx:1.1",
                direction=CallDirection.INBOUND,
                hung_up_by=HungUpBy.CUSTOMER,
                outcome=CallOutcome.COMPLETED,
                cause=16,
                cause_text="Normal Clearing",
                extension="1001",
                queue="support",
                caller_number="+442079460018",
                wait_seconds=3.0,
                talk_seconds=0.0,
            ),
        ]
    )
    await recorder.wait_idle()
    await recorder.stop()
    row = await store.interaction_for_contact(cid)
    assert row is not None
    assert (row["queued_at"], row["offered_at"], row["answered_at"]) == (100.0, 101.0, 103.0)
    assert row["ended_at"] == 103.0
    assert row["agent_id"] is None  # not a user id
    assert row["external_ids"]["recordings"] == ["/r/1.wav"]
    assert row["external_ids"]["asterisk_call"] == "pbx:1.1"
    assert recorder.health() == {
        "ok": True,
        "problems": [],
        "pending": 0,
        "waiting_on_disk": 0,
        "applied": 5,
        "failed": 0,
        "late": 0,
        "batches": 1,
    }


async def test_given_a_caller_routed_before_its_customer_then_its_steps_wait_for_it(
    store: ProfileStore,
) -> None:
    """A caller never seen before is offered before its provisional customer exists: its
    steps are written once ``contact.customer_identified`` names the customer."""
    recorder = InteractionRecorder(store, voice_prefix="call-")
    cid, common = "call-pbx:2.1", {"channel": Channel.VOICE, "queue": "support"}
    await recorder.start()
    await recorder.publish(
        [
            ContactQueued(at=100.0, contact_id=cid, **common),
            ContactOffered(
                at=100.01,
                contact_id=cid,
                agent_id="not-a-user",
                waited_seconds=0.01,
                offer_deadline=120.0,
                decided_by="node",
                strategy="longest-idle",
                ring=0,
                **common,
            ),
        ]
    )
    await recorder.wait_idle()
    assert await store.interaction_for_contact(cid) is None  # no customer to write it on yet

    made = await store.resolve(store.identity("phone", "+14155552671"))
    await recorder.publish(
        [
            ContactCustomerIdentified(
                at=100.02,
                contact_id=cid,
                customer_id=str(made.customer_id),
                agent_id="not-a-user",
                state="offered",
                **common,
            ),
            ContactConnected(
                at=103.0,
                contact_id=cid,
                customer_id=str(made.customer_id),
                agent_id="not-a-user",
                waited_seconds=3.0,
                **common,
            ),
        ]
    )
    await recorder.wait_idle()
    await recorder.stop()
    row = await store.interaction_for_contact(cid)
    assert row is not None and row["customer_id"] == made.customer_id
    assert (row["queued_at"], row["offered_at"], row["answered_at"]) == (100.0, 100.01, 103.0)
    assert recorder.health()["failed"] == 0


async def test_given_a_caller_who_left_before_its_customer_was_made_then_it_is_still_recorded(
    store: ProfileStore,
) -> None:
    recorder = InteractionRecorder(store, voice_prefix="call-")
    cid, common = "call-pbx:3.1", {"channel": Channel.VOICE, "queue": "support"}
    await recorder.start()
    await recorder.publish(
        [
            ContactQueued(at=200.0, contact_id=cid, **common),
            ContactAbandoned(
                at=200.004, contact_id=cid, waited_seconds=0.004, reason="customer-left", **common
            ),
        ]
    )
    made = await store.resolve(store.identity("phone", "+14155550100"))
    await recorder.publish(
        [
            ContactCustomerIdentified(
                at=200.01,
                contact_id=cid,
                customer_id=str(made.customer_id),
                state="ended",
                **common,
            )
        ]
    )
    await recorder.wait_idle()
    await recorder.stop()
    row = await store.interaction_for_contact(cid)
    assert row is not None and row["customer_id"] == made.customer_id
    assert (row["status"], row["disposition"], row["ended_at"]) == ("closed", "abandoned", 200.004)
