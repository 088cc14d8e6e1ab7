"""The history recorder turns router and telephony events into interactions."""

from __future__ import annotations

from contact_center.history import InteractionRecorder
from contact_center.services import SYSTEM
from contact_center.store.profiles import ProfileStore
from cti.events import CallDirection, CallHungUp, CallOutcome, CallRecordingStarted, HungUpBy
from routing.events import ContactConnected, ContactOffered, ContactQueued
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
        "pending": 0,
        "applied": 5,
        "failed": 0,
        "overflowed": 0,
    }


async def test_hold_and_wrap_up_are_kept_for_handle_time(store: ProfileStore) -> None:
    """call.held .. call.resumed add up as hold time, wrap-up's start ends the talk of a
    chat, its end is kept: the parts of the average handle time (docs/metrics.md)."""
    from cti.events import CallHeld, CallResumed
    from routing.events import WrapUpEnded, WrapUpStarted

    customer = await store.create_customer({"display_name": "Bo"}, [], actor=SYSTEM)
    recorder = InteractionRecorder(store, voice_prefix="call-")
    voice = {"channel": Channel.VOICE, "queue": "support"}
    chat = {"channel": Channel.CHAT, "queue": "support"}
    await recorder.start()
    await recorder.publish(
        [
            ContactQueued(
                at=100.0, contact_id="call-pbx:2.1", customer_id=str(customer["id"]), **voice
            ),
            ContactConnected(
                at=110.0, contact_id="call-pbx:2.1", agent_id="x", waited_seconds=10.0, **voice
            ),
            CallHeld(at=120.0, server="pbx", call_id="pbx:2.1", extension="1001"),
            CallResumed(at=150.0, server="pbx", call_id="pbx:2.1", extension="1001"),
            CallHeld(at=160.0, server="pbx", call_id="pbx:2.1", extension="1001"),
            CallResumed(at=165.0, server="pbx", call_id="pbx:2.1", extension="1001"),
            ContactQueued(at=200.0, contact_id="chat-3", customer_id=str(customer["id"]), **chat),
            ContactConnected(
                at=205.0, contact_id="chat-3", agent_id="x", waited_seconds=5.0, **chat
            ),
            WrapUpStarted(
                at=300.0,
                contact_id="chat-3",
                agent_id="x",
                talk_seconds=95.0,
                deadline=None,
                **chat,
            ),
            WrapUpEnded(at=340.0, contact_id="chat-3", agent_id="x", ended_by="agent", **chat),
        ]
    )
    await recorder.wait_idle()
    await recorder.stop()
    assert recorder.failed == 0
    call = await store.interaction_for_contact("call-pbx:2.1")
    assert call is not None
    async with store.engine.connect() as conn:
        from sqlalchemy import select

        from contact_center.store.schema import interactions

        rows = {
            r.contact_id: r
            for r in await conn.execute(
                select(
                    interactions.c.contact_id,
                    interactions.c.hold_seconds,
                    interactions.c.ended_at,
                    interactions.c.wrap_up_ended_at,
                )
            )
        }
    assert rows["call-pbx:2.1"].hold_seconds == 35.0
    assert (rows["chat-3"].ended_at, rows["chat-3"].wrap_up_ended_at) == (300.0, 340.0)
