"""The first resync of a server closes the interactions an earlier run left open."""

from __future__ import annotations

from typing import Any

from contact_center.history import InteractionRecorder
from contact_center.services import SYSTEM
from contact_center.store.profiles import ProfileStore
from cti.events import TelephonyResynced
from routing.events import ContactConnected, ContactQueued
from routing.model import Channel


async def _open(recorder: InteractionRecorder, customer: str, cid: str, answered: bool) -> None:
    common: dict[str, Any] = {"contact_id": cid, "channel": Channel.VOICE, "queue": "support"}
    events: list[Any] = [ContactQueued(at=100.0, customer_id=customer, **common)]
    if answered:
        events.append(ContactConnected(at=110.0, agent_id="x", waited_seconds=10.0, **common))
    await recorder.publish(events)


async def test_the_first_resync_closes_what_an_earlier_run_left_open(store: ProfileStore) -> None:
    customer = str((await store.create_customer({"display_name": "Ann"}, [], actor=SYSTEM))["id"])
    recorder = InteractionRecorder(store, voice_prefix="call-")
    await recorder.start()
    talked_gone, waiting, waited_gone, talking, other_server = (
        "call-pbx1:1.1",
        "call-pbx1:1.2",
        "call-pbx1:1.3",
        "call-pbx1:1.4",
        "call-pbx10:1.5",
    )
    for cid, answered in [
        (talked_gone, True),
        (waiting, False),
        (waited_gone, False),
        (talking, True),
        (other_server, False),
    ]:
        await _open(recorder, customer, cid, answered)

    def resynced(first: bool) -> TelephonyResynced:
        return TelephonyResynced(
            at=500.0,
            server="pbx1",
            first=first,
            live_call_ids=("pbx1:1.2", "pbx1:1.4"),
            waiting_call_ids=("pbx1:1.2",),
        )

    # A later resync changes nothing: this run's router closes its own contacts.
    await recorder.publish([resynced(first=False)])
    await recorder.wait_idle()
    for cid in (talked_gone, waiting, waited_gone, talking, other_server):
        row = await store.interaction_for_contact(cid)
        assert row is not None and row["status"] == "open", cid

    await recorder.publish([resynced(first=True)])
    await recorder.wait_idle()
    await recorder.stop()
    everything = (talked_gone, waiting, waited_gone, talking, other_server)
    rows = {cid: await store.interaction_for_contact(cid) for cid in everything}
    view = {
        cid: (
            row["status"],
            row["ended_at"],
            row["disposition"],
            row["external_ids"].get("end_reason"),
        )
        for cid, row in rows.items()
        if row is not None
    }
    assert view == {
        # Gone: ended at the last moment anyone recorded (the time of the crash is unknown).
        talked_gone: ("closed", 110.0, None, ["lost-with-pbx"]),
        waiting: ("open", None, None, None),  # back in its queue, routed again
        waited_gone: ("closed", 100.0, "abandoned", ["lost-with-pbx"]),
        # Still talking on Asterisk: the end comes with the call's own hang-up.
        talking: ("closed", None, None, ["interrupted-run"]),
        other_server: ("open", None, None, None),
    }
    assert recorder.health()["failed"] == 0
