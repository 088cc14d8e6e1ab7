"""One AMI link per configured Asterisk server; calls on each are followed and routed."""

from __future__ import annotations

import pytest

from contact_center.settings import AsteriskServer, Settings
from cti.ports import CollectingEventSink, FifoVoiceRouting, StaticAgentDirectory
from cti.simulator.pbx import PhoneMode, SimulatedPbx
from cti.wiring import build_telephony, start_simulated_asterisk

pytestmark = pytest.mark.integration


async def test_two_servers_from_settings_each_have_a_link_health_and_their_calls() -> None:
    pbxs = [SimulatedPbx(), SimulatedPbx()]
    ports = []
    for pbx in pbxs:
        pbx.set_phone("1001", PhoneMode.ANSWER, ring_seconds=0.01)
        pbx.set_phone("2001", PhoneMode.ANSWER, ring_seconds=0.01)
        ports.append(await pbx.start())
    settings = Settings().with_overrides(
        asterisk={
            "servers": [
                AsteriskServer(name=f"pbx{n}", port=port, secret="cc-secret").model_dump()
                for n, port in enumerate(ports, start=1)
            ],
            "ping_interval_seconds": 5,
        }
    )
    events = CollectingEventSink()
    telephony = build_telephony(
        settings,
        routing=FifoVoiceRouting({"alice": ["support"], "bob": ["support"]}),
        directory=StaticAgentDirectory({"alice": "1001", "bob": "2001"}),
        sink=events,
    )
    await telephony.start()
    try:
        await telephony.wait_resyncs("pbx1", 1)
        await telephony.wait_resyncs("pbx2", 1)
        assert [(h["server"], h["logged_in"]) for h in telephony.health()] == [
            ("pbx1", True),
            ("pbx2", True),
        ]
        first = await pbxs[0].place_call("+442079460401")
        second = await pbxs[1].place_call("+442079460402")
        await events.wait_for("call.answered", 2)
        answered = {e.to_dict()["call_id"]: e.to_dict() for e in events.named("call.answered")}
        # Both Asterisks numbered their first call alike: the ids stay apart.
        assert first == second
        assert answered[f"pbx1:{first}"]["server"] == "pbx1"
        assert answered[f"pbx2:{second}"]["server"] == "pbx2"
        assert telephony.call_view(f"pbx2:{second}")["server"] == "pbx2"
        await telephony.hangup(f"pbx2:{second}")
        end = await events.wait_for("call.hung_up")
        assert end.to_dict()["call_id"] == f"pbx2:{second}"
    finally:
        await telephony.stop()
        for pbx in pbxs:
            await pbx.stop()


async def test_demo_helper_starts_a_simulated_asterisk_the_settings_can_point_at() -> None:
    pbx, server = await start_simulated_asterisk({"alice": "1001"}, ring_seconds=0.01)
    events = CollectingEventSink()
    telephony = build_telephony(
        Settings().with_overrides(asterisk={"servers": [server.model_dump()]}),
        routing=FifoVoiceRouting({"alice": ["support"]}),
        directory=StaticAgentDirectory({"alice": "1001"}),
        sink=events,
    )
    await telephony.start()
    try:
        await telephony.wait_resyncs("simulated", 1)
        call = await pbx.place_call("+442079460501")
        answered = await events.wait_for("call.answered")
        assert answered.to_dict()["call_id"] == f"simulated:{call}"
    finally:
        await telephony.stop()
        await pbx.stop()
