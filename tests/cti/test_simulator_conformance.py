"""The simulated PBX against the real captures: same event types, same order, per flow.

Each test drives the simulator through the steps of one recorded scenario (the
same actions, phones answering or not) and compares the events it sends with
the capture's: for every channel, the same event types in the same order, and
the same events overall. Asterisk serialises the events of one channel but
raises those of different channels from different threads, so their
interleaving varies between real runs too (the captures of the same redirect
step differ in it; "the order of the two Hangup events is NOT reliable", say the
notes). RTCP reports (a media timer: their count depends on call length) and
the login events are left out.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from contact_center.settings import AsteriskServer
from cti.connection import AmiLink, LinkUp
from cti.protocol import AmiMessage
from cti.simulator.pbx import PhoneMode, SimulatedPbx
from tests.cti.conftest import capture_messages

pytestmark = pytest.mark.integration

# DeviceStateChange: captures a-l have none (recorded without it); the simulator's are
# checked against tests/cti/captures (test_device_states.py).
SKIP = {"RTCPSent", "RTCPReceived", "FullyBooted", "SuccessfulAuth", "DeviceStateChange"}


def label(msg: AmiMessage) -> str:
    if msg.event == "UserEvent":
        return f"UserEvent({msg.get('UserEvent')})"
    return msg.event


def recorded(name: str) -> list[AmiMessage]:
    return [m for m in capture_messages(name) if m.event and m.event not in SKIP]


def per_channel(messages: list[AmiMessage]) -> dict[int, list[str]]:
    """Event types per channel; channels numbered in order of first appearance."""
    order: dict[str, int] = {}
    out: dict[int, list[str]] = collections.defaultdict(list)
    for msg in messages:
        # CDRs come from the CDR engine's own thread, not the channel's.
        channel = "cdr" if msg.event == "Cdr" else msg.get("Channel") or msg.get("SpyerChannel")
        if channel not in order:
            order[channel] = len(order)
        out[order[channel]].append(label(msg))
    return dict(out)


class Driver:
    def __init__(self, pbx: SimulatedPbx, link: AmiLink) -> None:
        self.pbx = pbx
        self.link = link
        self.seen: list[AmiMessage] = []

    async def until(self, event: str, count: int = 1, timeout: float = 5.0) -> None:
        async def wait() -> None:
            while sum(1 for m in self.seen if label(m) == event) < count:
                item = await self.link.events.get()
                if isinstance(item, AmiMessage):
                    self.seen.append(item)

        await asyncio.wait_for(wait(), timeout)

    async def settle(self) -> None:
        """Collect everything sent so far: the Ping reply follows it on the socket."""
        await self.link.send_action("Ping")
        while not self.link.events.empty():
            item = self.link.events.get_nowait()
            if isinstance(item, AmiMessage):
                self.seen.append(item)

    def events(self) -> list[AmiMessage]:
        return [m for m in self.seen if m.event not in SKIP]

    def caller(self, call_id: str) -> str:
        return self.pbx.calls[call_id].caller.name

    def agent(self, call_id: str) -> str:
        agent = self.pbx.calls[call_id].agent
        assert agent is not None
        return agent.name

    async def redirect(self, channel: str, context: str, exten: str) -> None:
        await self.link.send_action(
            "Redirect",
            [("Channel", channel), ("Context", context), ("Exten", exten), ("Priority", "1")],
        )


@pytest.fixture
async def driver() -> AsyncIterator[Driver]:
    pbx = SimulatedPbx(ring_timeout=0.2, atxfer_digit_timeout=0.05, optimize_delay=0.02)
    for ext in ("1001", "1002", "1003", "1901"):
        pbx.set_phone(ext, PhoneMode.ANSWER, ring_seconds=0.02)
    port = await pbx.start()
    link = AmiLink(AsteriskServer(name="sim", port=port, secret="cc-secret"))
    link.start()
    await link.wait_up(5)
    while not isinstance(await asyncio.wait_for(link.events.get(), 5), LinkUp):
        pass  # FullyBooted / SuccessfulAuth come with the login reply
    yield Driver(pbx, link)
    await link.stop()
    await pbx.stop()


def assert_same(sim: list[AmiMessage], real: list[AmiMessage]) -> None:
    assert collections.Counter(map(label, sim)) == collections.Counter(map(label, real))
    assert per_channel(sim) == per_channel(real)


async def connected_call(d: Driver, queue: str = "support") -> str:
    call = await d.pbx.place_call("55510001", queue=queue)
    await d.until("MusicOnHoldStart")
    await d.redirect(d.caller(call), "cc-agent", "1001")
    await d.until("BridgeEnter", 2)
    return call


Flow = Callable[[Driver], Awaitable[None]]


async def flow_b(d: Driver) -> None:
    call = await d.pbx.place_call("55510001")
    await d.until("MusicOnHoldStart")
    await d.pbx.caller_hangs_up(call)
    await d.until("Hangup")


async def flow_c(d: Driver) -> None:
    call = await connected_call(d)
    await d.pbx.caller_hangs_up(call)
    await d.until("Hangup", 2)
    await d.until("Cdr")


async def flow_d(d: Driver) -> None:
    call = await connected_call(d)
    await d.pbx.agent_hangs_up(call)
    await d.until("Hangup", 2)


async def flow_e(d: Driver) -> None:
    d.pbx.set_phone("1001", PhoneMode.NO_ANSWER)
    d.pbx.set_phone("1003", PhoneMode.BUSY)
    call = await d.pbx.place_call("55510001", queue="sales")
    await d.until("MusicOnHoldStart")
    await d.redirect(d.caller(call), "cc-agent", "1001")
    await d.until("UserEvent(CCAgentNoAnswer)")
    await d.until("MusicOnHoldStart", 2)
    await d.redirect(d.caller(call), "cc-agent", "1003")
    await d.until("UserEvent(CCAgentNoAnswer)", 2)
    await d.redirect(d.caller(call), "cc-agent", "1002")
    await d.until("BridgeEnter", 2)
    await d.pbx.agent_hangs_up(call)
    await d.until("Hangup", 4)


async def flow_f1(d: Driver) -> None:
    call = await connected_call(d)
    await d.redirect(d.caller(call), "cc-agent", "1002")
    await d.until("BridgeEnter", 4)
    await d.pbx.agent_hangs_up(call)
    await d.until("Hangup", 3)


async def flow_f2(d: Driver) -> None:
    call = await connected_call(d)
    await d.link.send_action(
        "BlindTransfer",
        [("Channel", d.agent(call)), ("Context", "cc-agent"), ("Exten", "1002")],
    )
    await d.until("BridgeEnter", 4)
    await d.pbx.agent_hangs_up(call)
    await d.until("Hangup", 3)


async def flow_f3(d: Driver) -> None:
    call = await connected_call(d)
    await d.link.send_action(
        "Atxfer", [("Channel", d.agent(call)), ("Exten", "1002"), ("Context", "cc-agents")]
    )
    await d.until("BridgeEnter", 6)  # consultation answered
    await d.link.send_action("Hangup", [("Channel", d.agent(call))])
    await d.until("LocalOptimizationEnd")
    await d.until("Hangup", 3)
    await d.pbx.agent_hangs_up(call)
    await d.until("Hangup", 5)


async def flow_g(d: Driver) -> None:
    d.pbx.set_number("5559876", PhoneMode.ANSWER, ring_seconds=0.02)
    await d.link.send_action(
        "Originate",
        [
            ("Channel", "PJSIP/1001"),
            ("Context", "cc-outbound"),
            ("Exten", "5559876"),
            ("Priority", "1"),
            ("Timeout", "20000"),
            ("Async", "true"),
            ("Variable", "CC_CAMPAIGN=manual"),
            ("ChannelId", "c2d-agent-0001"),
        ],
    )
    await d.until("BridgeEnter", 2)
    await d.pbx.caller_hangs_up("c2d-agent-0001")
    await d.until("Hangup", 2)


async def flow_g2(d: Driver) -> None:
    d.pbx.set_phone("1001", PhoneMode.NO_ANSWER)
    await d.link.send_action(
        "Originate",
        [
            ("Channel", "PJSIP/1001"),
            ("Context", "cc-outbound"),
            ("Exten", "5559876"),
            ("Priority", "1"),
            ("Timeout", "100"),
            ("Async", "true"),
            ("ChannelId", "c2d-agent-0002"),
        ],
    )
    await d.until("Hangup")


async def flow_h(d: Driver) -> None:
    call = await connected_call(d)
    await d.link.send_action(
        "Originate",
        [
            ("Channel", "PJSIP/1901"),
            ("Context", "cc-supervisor"),
            ("Exten", "1001"),
            ("Priority", "1"),
            ("Async", "true"),
        ],
    )
    await d.until("ChanSpyStart")
    spy = next(iter(d.pbx.calls[call].spies))
    await d.link.send_action("Hangup", [("Channel", spy)])
    await d.until("Hangup")
    await d.pbx.agent_hangs_up(call)
    await d.until("Hangup", 3)


async def flow_i(d: Driver) -> None:
    call = await connected_call(d)
    await d.link.send_action(
        "MixMonitor",
        [("Channel", d.caller(call)), ("File", "/srv/cc/rec.wav"), ("Options", "b")],
    )
    await d.until("MixMonitorStart")
    await d.link.send_action("StopMixMonitor", [("Channel", d.caller(call))])
    await d.until("MixMonitorStop")
    await d.pbx.agent_hangs_up(call)
    await d.until("Hangup", 2)


FLOWS: list[tuple[str, Flow]] = [
    ("b-abandon", flow_b),
    ("c-agent-answers-caller-hangs-up", flow_c),
    ("d-agent-hangs-up-first", flow_d),
    ("e-agent-noanswer-busy-then-answer", flow_e),
    ("f1-transfer-by-redirect", flow_f1),
    ("f2-blind-transfer-action", flow_f2),
    ("f3-attended-transfer-atxfer", flow_f3),
    ("g-click-to-dial", flow_g),
    ("g2-click-to-dial-agent-noanswer", flow_g2),
    ("h-supervisor-chanspy", flow_h),
    ("i-mixmonitor", flow_i),
]


@pytest.mark.parametrize(("name", "flow"), FLOWS, ids=[f[0] for f in FLOWS])
async def test_simulator_emits_the_recorded_event_sequence(
    driver: Driver, name: str, flow: Flow
) -> None:
    await flow(driver)
    await driver.settle()
    assert_same(driver.events(), recorded(name))
