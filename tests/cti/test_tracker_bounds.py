"""The call tracker's memory stays bounded whatever arrives over AMI (a flood of fake
events from anything posing as Asterisk), and tracking resumes once calls end."""

from __future__ import annotations

import logging
import tracemalloc

import pytest

from contact_center.domain.events import DomainEvent
from cti.events import CallNotTracked, CallQueued
from cti.protocol import AmiMessage
from cti.tracker import CEILING_CLEAR_FRACTION, DEFAULT_MAX_CHANNELS, CallTracker


def event(name: str, **headers: str) -> AmiMessage:
    return AmiMessage(b"", {"Event": name, **headers})


def newchannel(i: int, context: str = "cc-inbound") -> AmiMessage:
    uid = f"1795000000.{i}"
    return event(
        "Newchannel",
        Channel=f"PJSIP/trunk-{i:08x}",
        Uniqueid=uid,
        Linkedid=uid,
        Context=context,
        CallerIDNum=f"+4420794{i:05d}",
        ChannelStateDesc="Ring",
    )


def hangup(i: int) -> AmiMessage:
    return event("Hangup", Channel=f"PJSIP/trunk-{i:08x}", Uniqueid=f"1795000000.{i}", Cause="16")


def enqueue(i: int) -> AmiMessage:
    uid = f"1795000000.{i}"
    return event(
        "UserEvent",
        UserEvent="CCEnqueue",
        Channel=f"PJSIP/trunk-{i:08x}",
        Uniqueid=uid,
        Linkedid=uid,
        Queue="support",
    )


def flood(tracker: CallTracker, count: int) -> list[DomainEvent]:
    """``count`` fake calls, each a Newchannel plus a mix of the events that fill the
    tracker's other maps (bridges, device states, monitors), none ever hung up."""
    out: list[DomainEvent] = []
    for i in range(count):
        out += tracker.feed(newchannel(i))
        uid = f"1795000000.{i}"
        if i % 4 == 0:
            out += tracker.feed(event("BridgeEnter", BridgeUniqueid=f"b-{i}", Uniqueid=uid))
        if i % 4 == 1:
            out += tracker.feed(event("DeviceStateChange", Device=f"PJSIP/x{i}", State="INUSE"))
        if i % 4 == 2:
            out += tracker.feed(
                event(
                    "ChanSpyStart",
                    SpyeeLinkedid="1795000000.0",
                    SpyerChannel=f"PJSIP/spy-{i}",
                    SpyeeChannel="PJSIP/1001-1",
                )
            )
        if i % 4 == 3:
            out += tracker.feed(enqueue(i))
    return out


@pytest.mark.slow
def test_given_200000_fake_calls_then_tracked_state_stops_at_the_ceiling_and_memory_is_bounded(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = CallTracker("pbx", id_prefix="pbx:")
    assert tracker.max_channels == DEFAULT_MAX_CHANNELS
    tracemalloc.start()
    try:
        with caplog.at_level(logging.ERROR, logger="cti.tracker"):
            flood(tracker, DEFAULT_MAX_CHANNELS)
            at_ceiling, _ = tracemalloc.get_traced_memory()
            flood_from.reported = 0  # type: ignore[attr-defined]
            turned_away = flood_from(tracker, DEFAULT_MAX_CHANNELS, 100_000)
            half_way, _ = tracemalloc.get_traced_memory()
            flood_from(tracker, 100_000, 200_000)
        after_flood, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(tracker.channels) == DEFAULT_MAX_CHANNELS
    assert len(tracker.calls) == DEFAULT_MAX_CHANNELS
    assert len(tracker._by_name) == DEFAULT_MAX_CHANNELS
    assert len(tracker._bridges) <= DEFAULT_MAX_CHANNELS
    assert len(tracker.phone_states) <= DEFAULT_MAX_CHANNELS
    assert all(len(c.monitors) <= 16 for c in tracker.calls.values())
    assert tracker.channels_not_tracked == 180_000
    assert tracker.at_ceiling
    # The ceiling costs about 1 KB per channel with everything around it (calls, names,
    # bridges, phone states: the last fill up to the ceiling too, past the channels')...
    assert at_ceiling < DEFAULT_MAX_CHANNELS * 1_500, at_ceiling
    assert after_flood < DEFAULT_MAX_CHANNELS * 1_600, after_flood
    # ...and once every map is full, 100,000 more fake calls add nothing.
    assert after_flood - half_way < 50_000, after_flood - half_way
    # One ERROR for the whole episode, not one per refused channel.
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "max_tracked_channels" in errors[0].getMessage()
    # Callers past the ceiling asking for a queue are reported, so that the service
    # sends them away instead of leaving them on music for ever.
    assert flood_from.reported == 180_000 // 4  # type: ignore[attr-defined]
    assert turned_away[0].channel.startswith("PJSIP/trunk-") and turned_away[0].queue == "support"


def flood_from(tracker: CallTracker, start: int, stop: int) -> list[CallNotTracked]:
    """More fake calls; returns the first few callers reported as not tracked (counted in
    ``reported``: the test keeps no more than a server would)."""
    sample: list[CallNotTracked] = []
    for i in range(start, stop):
        tracker.feed(newchannel(i))
        if i % 4 == 3:
            for e in tracker.feed(enqueue(i)):
                assert isinstance(e, CallNotTracked)
                flood_from.reported += 1  # type: ignore[attr-defined]
                if len(sample) < 3:
                    sample.append(e)
        elif i % 4 == 0:
            uid = f"1795000000.{i}"
            tracker.feed(event("BridgeEnter", BridgeUniqueid=f"b-{i}", Uniqueid=uid))
        elif i % 4 == 1:
            tracker.feed(event("DeviceStateChange", Device=f"PJSIP/x{i}", State="INUSE"))
    return sample


def test_given_the_ceiling_when_calls_hang_up_then_tracking_resumes_and_the_episode_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tracker = CallTracker("pbx", id_prefix="pbx:", max_channels=100)
    with caplog.at_level(logging.WARNING, logger="cti.tracker"):
        for i in range(150):
            tracker.feed(newchannel(i))
        assert len(tracker.channels) == 100 and tracker.channels_not_tracked == 50
        assert tracker.at_ceiling
        # A caller past the ceiling is reported once it asks for a queue; a known one
        # is queued as usual.
        assert [type(e) for e in tracker.feed(enqueue(120))] == [CallNotTracked]
        assert [type(e) for e in tracker.feed(enqueue(5))] == [CallQueued]
        # Below the ceiling but above 90 % of it: new channels are tracked again, the
        # episode (and its health problem) lasts until the count is clearly down.
        for i in range(5):
            tracker.feed(hangup(i))
        tracker.feed(newchannel(1_000))
        assert "1795000000.1000" in tracker.channels
        assert tracker.at_ceiling
        for i in range(5, 20):
            tracker.feed(hangup(i))
    assert len(tracker.channels) < 100 * CEILING_CLEAR_FRACTION
    assert not tracker.at_ceiling
    assert tracker.ceiling_episodes == 1
    # Its calls are tracked from start to end again.
    events = tracker.feed(newchannel(2_000)) + tracker.feed(enqueue(2_000))
    assert [e.name for e in events] == ["call.queued"]
    assert [e.name for e in tracker.feed(hangup(2_000))] == ["call.hung_up"]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("max_tracked_channels" in m for m in messages) == 1
    assert sum("back under the tracking ceiling" in m for m in messages) == 1


def test_given_a_resync_listing_more_channels_than_the_ceiling_then_only_the_ceiling_is_kept() -> (
    None
):
    from cti.tracker import ChannelSnapshot

    tracker = CallTracker("pbx", max_channels=10)
    snapshot = [
        ChannelSnapshot(
            name=f"PJSIP/trunk-{i:08x}",
            uniqueid=f"1.{i}",
            linkedid=f"1.{i}",
            context="cc-hold",
            exten="s",
            application="MusicOnHold",
            caller_number="+442079460000",
            caller_name="",
            bridge="",
            duration_seconds=1.0,
        )
        for i in range(25)
    ]
    events = tracker.reconcile(snapshot, {f"1.{i}": "support" for i in range(25)}, at=100.0)
    assert len(tracker.channels) == 10 and len(tracker.calls) == 10
    assert tracker.channels_not_tracked == 15 and tracker.at_ceiling
    assert sum(isinstance(e, CallQueued) for e in events) == 10


def test_bridges_and_pending_originates_hold_only_what_is_tracked() -> None:
    tracker = CallTracker("pbx", max_channels=10)
    # Bridges of channels never seen are not kept; a channel moving bridge leaves the old.
    for i in range(1_000):
        tracker.feed(event("BridgeEnter", BridgeUniqueid=f"b-{i}", Uniqueid=f"nobody.{i}"))
    assert tracker._bridges == {}
    tracker.feed(newchannel(1))
    tracker.feed(event("BridgeEnter", BridgeUniqueid="b-1", Uniqueid="1795000000.1"))
    tracker.feed(event("BridgeEnter", BridgeUniqueid="b-2", Uniqueid="1795000000.1"))
    assert tracker._bridges == {"b-2": {"1795000000.1"}}
    tracker.feed(hangup(1))
    assert tracker._bridges == {}
    # Originates Asterisk never answers do not pile up.
    for i in range(5_000):
        tracker.expect_outbound(f"orig-{i}", "1001", "+15550000")
    assert len(tracker._pending_originates) == 1_000
    assert "orig-4999" in tracker._pending_originates
