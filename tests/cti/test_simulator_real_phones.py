"""The simulated PBX against new captures of the real Asterisk, as the product sees them.

``tests/fixtures/ami-product/`` was recorded with the product's AMI user (``read =
system,call,user``) by ``tests/fixtures/recording/record.py``: an agent's phone ringing,
answering and hanging up (p1), three Redirects out of music on hold (p2), a phone that
registers and un-registers (p3), Asterisk out of RTP ports (p4). Each test plays the same
scenario on the simulator and compares what that user would receive (the simulator's
events filtered by the user's read classes) with the capture:

- the same events, with their key fields (device and contact states, dial statuses,
  channel states, hang-up causes, user events);
- per channel, the same sequence (channels named by phone, callers by number: Asterisk
  interleaves different channels' events from different threads);
- per phone, its ``DeviceStateChange`` in the same place among its channels' events;
- the Redirect's reply before the redirected channel's first event.

Timestamps and the interleaving of different channels are not compared.
"""

from __future__ import annotations

import asyncio
import collections
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from contact_center.settings import AsteriskServer
from cti.connection import AmiLink, LinkUp
from cti.protocol import AmiMessage, frame_all
from cti.simulator.pbx import REFUSED_NO_MEDIA, CallRefused, PhoneMode, SimulatedPbx
from tests.cti.stack import build_stack, close_stack

pytestmark = pytest.mark.integration

CAPTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ami-product"
READ = {"system", "call", "user"}  # config/asterisk/manager_cc.conf
LOGIN = {"FullyBooted", "SuccessfulAuth"}
KEY_FIELDS = (
    "State",
    "ContactStatus",
    "PeerStatus",
    "UserEvent",
    "DialStatus",
    "ChannelStateDesc",
    "Cause",
)
DEVICE_CHANNEL_EVENTS = ("Newchannel", "Newstate", "Hangup")


def capture(name: str) -> list[AmiMessage]:
    data = (CAPTURES / f"{name}.ami.txt").read_bytes()
    return [m for m in frame_all(data) if isinstance(m, AmiMessage)]


def product_view(messages: list[AmiMessage]) -> list[AmiMessage]:
    """The events an AMI user reading ``READ`` gets (Asterisk filters by Privilege)."""
    return [
        m
        for m in messages
        if m.event and m.event not in LOGIN and READ & set(m.get("Privilege").split(","))
    ]


def label(msg: AmiMessage) -> str:
    fields = ",".join(f"{k}={msg.get(k)}" for k in KEY_FIELDS if msg.get(k))
    return f"{msg.event}({fields})"


def keyed(messages: list[AmiMessage]) -> dict[str, list[str]]:
    """Event labels per channel (``trunk:<caller number>``, ``PJSIP/1001#1``: the phone's
    first channel), per device, per contact; bridges apart."""
    numbers: dict[str, str] = {}
    legs: dict[str, str] = {}
    out: dict[str, list[str]] = collections.defaultdict(list)
    for msg in messages:
        channel = msg.get("Channel")
        if msg.event == "DeviceStateChange":
            key = f"device:{msg.get('Device')}"
        elif msg.event in ("ContactStatus", "PeerStatus"):
            key = f"contact:{msg.get('AOR') or msg.get('Peer').removeprefix('PJSIP/')}"
        elif not channel:
            key = "bridges"
        elif channel.startswith("PJSIP/trunk-"):
            numbers.setdefault(channel, msg.get("CallerIDNum"))
            key = f"trunk:{numbers[channel]}"
        else:
            phone = channel.rpartition("-")[0]
            if channel not in legs:
                legs[channel] = f"{phone}#{sum(1 for c in legs if c.startswith(phone)) + 1}"
            key = legs[channel]
        out[key].append(label(msg))
    return dict(out)


def device_timelines(messages: list[AmiMessage]) -> dict[str, list[str]]:
    """Per phone: its channels' life events and its state changes, in stream order."""
    out: dict[str, list[str]] = collections.defaultdict(list)
    for msg in messages:
        if msg.event == "DeviceStateChange":
            out[msg.get("Device")].append(label(msg))
        elif msg.event in DEVICE_CHANNEL_EVENTS and msg.get("Channel").startswith("PJSIP/"):
            out[msg.get("Channel").rpartition("-")[0]].append(label(msg))
    return dict(out)


def assert_conforms(sim: list[AmiMessage], name: str) -> None:
    real = product_view(capture(name))
    sim = product_view(sim)
    assert collections.Counter(map(label, sim)) == collections.Counter(map(label, real))
    assert keyed(sim) == keyed(real)
    assert device_timelines(sim) == device_timelines(real)


def replies_before_events(messages: list[AmiMessage], redirected: list[str]) -> list[bool]:
    """For each Redirect reply in ``messages``: did it come before the first event of
    the channel redirected by it (``redirected``, in order)?"""
    out = []
    replies = [i for i, m in enumerate(messages) if m.get("Message") == "Redirect successful"]
    for index, channel in zip(replies, redirected, strict=True):
        first = next(
            i for i, m in enumerate(messages) if i > index - 10 and m.get("Channel") == channel
        )
        out.append(index < first or messages[first].event != "MusicOnHoldStop")
    return out


class Bench:
    """The simulated PBX, and an AMI client logged in to it recording everything."""

    def __init__(self, pbx: SimulatedPbx, link: AmiLink) -> None:
        self.pbx = pbx
        self.link = link
        self.seen: list[AmiMessage] = []

    async def until(self, event: str, count: int = 1, timeout: float = 5.0, **fields: str) -> None:
        def matches(m: AmiMessage) -> bool:
            return m.event == event and all(m.get(k) == v for k, v in fields.items())

        async def wait() -> None:
            while sum(1 for m in self.seen if matches(m)) < count:
                item = await self.link.events.get()
                if isinstance(item, AmiMessage):
                    self.seen.append(item)

        await asyncio.wait_for(wait(), timeout)

    async def settle(self) -> list[AmiMessage]:
        """Everything sent so far (the Ping reply follows it on the socket)."""
        await self.link.send_action("Ping")
        while not self.link.events.empty():
            item = self.link.events.get_nowait()
            if isinstance(item, AmiMessage):
                self.seen.append(item)
        return self.seen

    async def call(self, number: str) -> str:
        call_id = await self.pbx.place_call(number, queue="support")
        await self.until("MusicOnHoldStart", Channel=self.pbx.calls[call_id].caller.name)
        return call_id

    async def redirect(self, call_id: str, exten: str) -> AmiMessage:
        reply = await self.link.send_action(
            "Redirect",
            [
                ("Channel", self.pbx.calls[call_id].caller.name),
                ("Context", "cc-agent"),
                ("Exten", exten),
                ("Priority", "1"),
            ],
        )
        self.seen.append(reply)
        return reply


Start = Callable[..., Awaitable[Bench]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    started: list[tuple[SimulatedPbx, AmiLink]] = []

    async def run(**options: object) -> Bench:
        pbx = SimulatedPbx(ring_timeout=0.5, **options)  # type: ignore[arg-type]
        for ext in ("1001", "1002", "1003"):
            pbx.set_phone(ext, PhoneMode.ANSWER, ring_seconds=0.03)
        port = await pbx.start()
        link = AmiLink(AsteriskServer(name="sim", port=port, secret="cc-secret"))
        started.append((pbx, link))
        link.start()
        await link.wait_up(5)
        while not isinstance(await asyncio.wait_for(link.events.get(), 5), LinkUp):
            pass  # FullyBooted / SuccessfulAuth come with the login reply
        return Bench(pbx, link)

    yield run
    for pbx, link in started:
        await link.stop()
        await pbx.stop()


async def test_an_agents_phone_rings_answers_and_hangs_up_as_on_asterisk(start: Start) -> None:
    b = await start()
    call = await b.call("5551001")
    await b.redirect(call, "1001")
    await b.until("BridgeEnter", 2)
    await b.pbx.agent_hangs_up(call)
    await b.until("DeviceStateChange", Device="PJSIP/trunk", State="NOT_INUSE")
    assert_conforms(await b.settle(), "p1-agent-rings-answers-hangs-up")


async def test_redirects_out_of_music_on_hold_as_on_asterisk(start: Start) -> None:
    b = await start()
    calls = [await b.call(f"555200{i}") for i in (1, 2, 3)]
    for call, ext in zip(calls, ("1001", "1002", "1003"), strict=True):
        await b.redirect(call, ext)
    await b.until("BridgeEnter", 6)
    for call in calls:
        await b.pbx.agent_hangs_up(call)
    await b.until("Hangup", 6)
    seen = await b.settle()
    assert_conforms(seen, "p2-redirect-out-of-hold")
    # The reply comes first, the channel's events after it, as on Asterisk.
    callers = [b.pbx.channels.get(c) for c in calls]
    assert callers == [None, None, None]  # all gone
    real = product_view_with_replies(capture("p2-redirect-out-of-hold"))
    real_callers = trunk_channels(real)
    assert replies_before_events(real, real_callers) == [True, True, True]
    sim_callers = trunk_channels(seen)
    assert replies_before_events(seen, sim_callers) == [True, True, True]


def product_view_with_replies(messages: list[AmiMessage]) -> list[AmiMessage]:
    return [m for m in messages if not m.event or m in product_view([m])]


def trunk_channels(messages: list[AmiMessage]) -> list[str]:
    names: list[str] = []
    for m in messages:
        if m.event == "Newchannel" and m.get("Channel").startswith("PJSIP/trunk-"):
            names.append(m.get("Channel"))
    return names


def test_the_simulated_redirect_delay_is_within_what_asterisk_takes() -> None:
    """p1-p3's Redirects: reply, then the caller's first event, then DialBegin; the
    simulator sends the events ``redirect_delay`` after the reply, within that span."""
    spans = []
    for name in ("p1-agent-rings-answers-hangs-up", "p2-redirect-out-of-hold"):
        text = (CAPTURES / f"{name}.md").read_text()
        for reply, dial in re.findall(r"\| ([\d.]+) ms \| [\d.]+ ms \| ([\d.]+) ms \|", text):
            spans.append((float(reply), float(dial)))
    assert len(spans) == 4
    delay_ms = SimulatedPbx().redirect_delay * 1000
    assert all(reply < delay_ms < dial for reply, dial in spans), (delay_ms, spans)


async def test_a_phone_that_registers_and_unregisters_as_on_asterisk(start: Start) -> None:
    b = await start()
    b.pbx.set_phone("1003", PhoneMode.UNREACHABLE)  # no contact yet: as after the reload
    await b.pbx.register_phone("1003")
    first = await b.call("5553001")
    await b.redirect(first, "1003")
    await b.until("BridgeEnter", 2)
    await b.pbx.agent_hangs_up(first)
    await b.until("Hangup", 2)
    await b.pbx.unregister_phone("1003")
    second = await b.call("5553002")
    await b.redirect(second, "1003")
    await b.until("UserEvent", UserEvent="CCAgentNoAnswer", DialStatus="CHANUNAVAIL")
    await b.until("MusicOnHoldStart", 3)
    await b.pbx.caller_hangs_up(second)
    await b.until("Hangup", 3)
    assert_conforms(await b.settle(), "p3-unregistered-phone")


async def test_out_of_rtp_ports_callers_are_refused_and_agent_legs_fail_as_on_asterisk(
    start: Start,
) -> None:
    b = await start(media_sessions=3)
    calls = [await b.call(f"555400{i}") for i in (1, 2, 3)]
    with pytest.raises(CallRefused) as refused:
        await b.pbx.place_call("5554004")
    assert refused.value.status == REFUSED_NO_MEDIA == "488 Not Acceptable Here"
    assert b.pbx.refused_calls == [("5554004", REFUSED_NO_MEDIA)]
    await b.redirect(calls[0], "1001")
    await b.until("UserEvent", UserEvent="CCAgentNoAnswer", DialStatus="CHANUNAVAIL")
    await b.until("MusicOnHoldStart", 4)
    for call in calls:
        await b.pbx.caller_hangs_up(call)
    await b.until("Hangup", 4)
    assert_conforms(await b.settle(), "p4-out-of-rtp-ports")
    # Ports free again: the next caller gets in.
    assert await b.pbx.place_call("5554005")


async def test_an_agent_leg_asterisk_cannot_make_does_not_pause_the_agent() -> None:
    stack = await build_stack(ready=("alice",))
    stack.pbx.media_sessions = 1  # the waiting caller takes the only RTP session
    try:
        call = await stack.pbx.place_call("5554001", queue="support")
        await stack.pbx.wait_for_event("UserEvent", 2)  # CCEnqueue, CCAgentNoAnswer
        assert stack.redirects_to("1001") == 1
        deadline = asyncio.get_running_loop().time() + 5
        while (await stack.contact(call))["state"] != "queued":
            assert asyncio.get_running_loop().time() < deadline, "the offer never ended"
            await asyncio.sleep(0.01)  # polling the router with a deadline
        alice = await stack.agent("alice")
        assert (alice["state"], alice["reason"]) == ("ready", None)
    finally:
        await close_stack(stack)
