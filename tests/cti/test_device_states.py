"""Agent phone states as a real Asterisk 22 reports them (tests/cti/captures, recorded
with the product's AMI user): the agent's own ringing and talking never take an offer
back; only a phone unreachable for longer than the grace takes its agent out of routing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from contact_center.settings import AsteriskServer
from cti.connection import AmiLink
from cti.events import AgentPhoneStateChanged, PhoneState
from cti.ports import (
    CallFacts,
    CollectingEventSink,
    FifoVoiceRouting,
    StaticAgentDirectory,
    VoiceOffer,
)
from cti.service import TelephonyService, TelephonySettings
from cti.simulator.pbx import PhoneMode, SimulatedPbx
from cti.tracker import CallTracker
from routing.events import AgentStateChanged
from tests.cti.replay import Replay, recorded, start_replay

AGENTS = {"alice": "1001", "bob": "1002", "carol": "1003"}
# As docs/cti.md told operators to configure it before the reason was built in: with it,
# every ring used to pause the agent and move the caller on (a Redirect storm).
ROUTING = {
    "not_ready_reasons": ["break", "phone-unreachable"],
    "queues": {"support": {"channels": ["voice"], "offer_timeout_seconds": {"voice": 60}}},
}


def phone_states(name: str) -> list[tuple[str, PhoneState, bool]]:
    tracker = CallTracker("pbx1")
    out = []
    for event in tracker.feed_all(recorded(name)):
        if isinstance(event, AgentPhoneStateChanged):
            out.append((event.extension, event.state, event.reachable))
    return out


def test_ringing_and_talking_are_read_as_the_agents_own_calls_not_as_unreachable() -> None:
    assert phone_states("m1-ring-answer-device-state") == [
        ("trunk", PhoneState.IN_USE, True),
        ("1001", PhoneState.RINGING, True),
        ("1001", PhoneState.IN_USE, True),
        ("trunk", PhoneState.AVAILABLE, True),
        ("1001", PhoneState.AVAILABLE, True),
    ]


def test_an_unavailable_phone_is_unreachable_until_asterisk_has_it_again() -> None:
    # Qualify switched on for 1003, whose phone does not answer OPTIONS, then off again:
    # Asterisk says UNAVAILABLE at once, Unreachable at the first qualify, then NonQualified.
    assert phone_states("m3-phone-unreachable-and-back") == [
        ("1003", PhoneState.UNREACHABLE, False),
        ("1003", PhoneState.AVAILABLE, True),
    ]


@pytest.fixture
async def replay() -> AsyncIterator[Replay]:
    r = await start_replay(AGENTS, ready=("alice", "bob", "carol"), routing=ROUTING)
    yield r
    await r.close()


async def test_a_ringing_phone_keeps_its_caller_until_it_is_answered(replay: Replay) -> None:
    await replay.feed(recorded("m1-ring-answer-device-state"))
    # One Redirect, to the phone that then rang and answered: nothing took it back.
    assert replay.redirects() == ["1001"]
    assert [e.name for e in replay.events.events if e.name.startswith("call.")] == [
        "call.queued",
        "call.agent_ringing",
        "call.answered",
        "call.hung_up",
    ]
    for agent in AGENTS:
        assert (await replay.agent(agent))["state"] == "ready", agent
    assert not paused(replay)
    names = [e.name for e in replay.router_events.events]
    assert names.count("contact.offered") == 1
    assert "contact.connected" in names


async def test_a_real_no_answer_pauses_the_agent_and_their_phone_coming_back_does_not() -> None:
    r = await start_replay(AGENTS, ready=("bob",), routing=ROUTING)
    try:
        await r.feed(recorded("m2-ring-no-answer-device-state"))
        assert r.redirects() == ["1002"]
        bob = await r.agent("bob")
        assert (bob["state"], bob["reason"]) == ("not_ready", "missed-offer")
        assert [e.name for e in r.router_events.events].count("contact.offered") == 1
    finally:
        await r.close()


async def test_a_phone_unreachable_past_the_grace_pauses_its_agent_until_it_is_back() -> None:
    messages = recorded("m3-phone-unreachable-and-back")
    back = next(i for i, m in enumerate(messages) if m.get("ContactStatus") == "NonQualified")
    r = await start_replay(
        AGENTS, ready=("carol",), settings=TelephonySettings(phone_unreachable_grace_seconds=0.05)
    )
    try:
        await r.feed(messages[:back])
        changed = await wait_agent_state(r, 1)
        assert (changed.state, changed.reason, changed.by) == (
            "not_ready",
            "phone-unreachable",
            "system",
        )
        await r.feed(messages[back:])
        carol = await r.agent("carol")
        assert (carol["state"], carol["reason"]) == ("ready", None)
    finally:
        await r.close()


async def test_a_phone_back_within_the_grace_never_pauses_its_agent() -> None:
    r = await start_replay(
        AGENTS, ready=("carol",), settings=TelephonySettings(phone_unreachable_grace_seconds=60)
    )
    try:
        await r.feed(recorded("m3-phone-unreachable-and-back"))
        assert not r.telephony._phone_grace  # the grace timer was cancelled
        assert (await r.agent("carol"))["state"] == "ready"
        assert not paused(r)
    finally:
        await r.close()


async def test_an_agent_on_a_break_or_logged_out_is_left_alone_by_their_phone() -> None:
    r = await start_replay(
        AGENTS, ready=("carol",), settings=TelephonySettings(phone_unreachable_grace_seconds=0)
    )
    try:
        await r.router.not_ready("carol", "break")
        await r.feed(recorded("m3-phone-unreachable-and-back"))
        carol = await r.agent("carol")
        assert (carol["state"], carol["reason"]) == ("not_ready", "break")
        assert (await r.agent("bob"))["state"] == "offline"
    finally:
        await r.close()


def paused(r: Replay) -> list[AgentStateChanged]:
    return [
        e
        for e in r.router_events.events
        if isinstance(e, AgentStateChanged) and e.state == "not_ready"
    ]


async def wait_agent_state(r: Replay, count: int) -> AgentStateChanged:
    """The ``count``-th agent paused (the grace timer runs on its own)."""
    async with asyncio.timeout(5):
        while len(paused(r)) < count:
            await r.router_events.wait_for(len(r.router_events.events) + 1)
    return paused(r)[count - 1]


async def test_the_simulated_pbx_reports_phone_states_as_the_recording_does() -> None:
    pbx = SimulatedPbx(ring_timeout=0.3)
    pbx.set_phone("1001", PhoneMode.ANSWER, ring_seconds=0.01)
    port = await pbx.start()
    link_events: list[tuple[str, str]] = []
    link = AmiLink(AsteriskServer(name="sim", port=port, secret="cc-secret"), ping_interval=5)
    link.start()
    try:
        await link.wait_up(5)
        call = await pbx.place_call("+442079460901")
        await pbx.offer_directly(call, "1001")
        await pbx.wait_call_state(call, ("connected",))
        await pbx.caller_hangs_up(call)
        await link.send_action("Ping")  # everything before its reply has been queued
        while not link.events.empty():
            item = link.events.get_nowait()
            if getattr(item, "event", "") == "DeviceStateChange":
                link_events.append((item.get("Device"), item.get("State")))  # type: ignore[union-attr]
    finally:
        await link.stop()
        await pbx.stop()
    real = [
        (m.get("Device"), m.get("State"))
        for m in recorded("m1-ring-answer-device-state")
        if m.event == "DeviceStateChange"
    ]
    phone = [e for e in link_events if e[0] == "PJSIP/1001"]
    assert phone == [e for e in real if e[0] == "PJSIP/1001"]


async def test_the_fifo_twin_follows_a_phone_ringing_for_another_agent() -> None:
    routing = FifoVoiceRouting({"alice": ["support"], "bob": ["support"]})
    assert await routing.call_queued(
        call_id="c1", queue="support", caller_number="", caller_name="", at=0.0, requeued=False
    ) == [VoiceOffer("c1", "alice")]
    await routing.agent_ringing(call_id="c1", agent_id="bob", at=0.0, facts=CallFacts())
    assert routing.offered == {"c1": "bob"}
    assert "alice" not in routing.busy


def test_a_service_is_built_with_the_defaults_documented() -> None:
    service = TelephonyService(
        routing=FifoVoiceRouting(),
        directory=StaticAgentDirectory(),
        sink=CollectingEventSink(),
    )
    assert service.settings.phone_unreachable_grace_seconds == 5.0
    assert service.settings.max_offers_per_call_per_minute == 10
