"""The tracking ceiling seen from the service: a /status problem while it lasts, and the
callers it cannot follow sent to the unroutable fallback, not left on music for ever."""

from __future__ import annotations

from cti.protocol import AmiMessage
from cti.service import TelephonySettings
from tests.cti.stack import build_stack, close_stack


def fake(name: str, i: int, **headers: str) -> AmiMessage:
    uid = f"1795000000.{i}"
    return AmiMessage(
        b"",
        {
            "Event": name,
            "Channel": f"PJSIP/trunk-{i:08x}",
            "Uniqueid": uid,
            "Linkedid": uid,
            "Context": "cc-inbound",
            **headers,
        },
    )


async def test_given_the_ceiling_then_status_says_so_callers_are_sent_away_and_it_clears() -> None:
    stack = await build_stack(
        settings=TelephonySettings(refused_offer_retry_seconds=0.05, max_tracked_channels=20)
    )
    try:
        telephony, session = stack.telephony, stack.session
        for i in range(30):
            await telephony.process(session, fake("Newchannel", i))
        entry = next(h for h in telephony.health() if h["server"] == "pbx1")
        assert entry["ok"] is False
        assert entry["tracked_channels"] == 20 and entry["channels_not_tracked"] == 10
        problems = entry["problems"]
        assert isinstance(problems, list)
        assert any("max_tracked_channels" in p for p in problems)
        # A caller past the ceiling asks for a queue: it is sent to [cc-unroutable].
        await telephony.process(
            session, fake("UserEvent", 25, UserEvent="CCEnqueue", Queue="support")
        )
        await telephony.wait_idle()  # the Redirect (then a Hangup, the channel is fake)
        sent = [a.headers for a in stack.pbx.actions if a.headers.get("Action") == "Redirect"]
        assert {"Channel": "PJSIP/trunk-00000019", "Context": "cc-unroutable"}.items() <= (
            sent[-1].items()
        )
        # Calls end: tracking resumes and the problem clears.
        for i in range(10):
            await telephony.process(session, fake("Hangup", i, Cause="16"))
        entry = next(h for h in telephony.health() if h["server"] == "pbx1")
        assert entry["tracked_channels"] == 10
        assert not any("max_tracked_channels" in p for p in entry["problems"])  # type: ignore[attr-defined]
        assert entry["ok"] is True
    finally:
        await close_stack(stack)
