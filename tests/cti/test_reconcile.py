"""Offers that cannot be carried out: calls Asterisk does not have, failures in a row,
offers before the first resync. Each is visible in the telephony health."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from contact_center.settings import AsteriskServer
from cti.connection import AmiLink
from cti.errors import AsteriskUnavailable
from cti.ports import CollectingEventSink, FifoVoiceRouting, StaticAgentDirectory
from cti.routing_adapter import contact_id
from cti.service import FAILED_OFFERS_LIMIT, UNKNOWN_CALL_WINDOW_SECONDS, TelephonyService
from cti.simulator.pbx import PhoneMode, SimulatedPbx
from routing.events import ContactAbandoned
from routing.model import Channel
from tests.cti.stack import Stack, build_stack, close_stack

pytestmark = pytest.mark.integration


def failures(health: dict[str, object]) -> int:
    count = health["offers_failed_in_a_row"]
    assert isinstance(count, int)
    return count


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    s = await build_stack(ready=("alice",))
    yield s
    await close_stack(s)


async def test_an_offer_of_a_call_asterisk_does_not_have_closes_it_and_blames_no_agent(
    stack: Stack,
) -> None:
    before = stack.telephony.health()[0]
    assert (before["ok"], before["in_sync"], before["problems"]) == (True, True, [])
    assert before["resynced_at"] is not None
    ghost = contact_id(stack.cid("1700000000.99"))  # e.g. kept by a router from before
    await stack.router.enqueue(ghost, Channel.VOICE, "support")
    await stack.offers.wait_idle()
    await stack.telephony.wait_idle()

    ends = [e for e in stack.router_events.named("contact.abandoned") if e.contact_id == ghost]
    assert [e.reason for e in ends if isinstance(e, ContactAbandoned)] == ["lost-with-pbx"]
    assert (await stack.agent("alice"))["state"] == "ready"
    assert stack.redirects_to("1001") == 0
    health = stack.telephony.health()[0]
    assert (health["ok"], health["unknown_call_offers"]) == (False, 1)
    problems = health["problems"]
    assert isinstance(problems, list) and len(problems) == 1
    assert problems[0].startswith("an offer named a call Asterisk does not have")

    # The agent was never blamed: the next real caller gets her at once.
    call = await stack.pbx.place_call("+442079460601")
    assert await stack.pbx.wait_call_state(call, ("connected",)) == "connected"
    # Present tense: once the window has passed, the server is ok again.
    later = stack.telephony.clock() + UNKNOWN_CALL_WINDOW_SECONDS
    stack.telephony.clock = lambda: later
    assert stack.telephony.health()[0]["ok"] is True


async def test_offers_failing_in_a_row_make_the_server_not_ok_until_one_succeeds(
    stack: Stack,
) -> None:
    for agent in ("bob", "carol"):
        await stack.router.ready(agent)
    stack.pbx.denied_actions.add("redirect")  # e.g. an AMI user without the call class
    call = await stack.pbx.place_call("+442079460602")
    health = await stack.telephony.wait_health("pbx1", lambda h: failures(h) >= FAILED_OFFERS_LIMIT)
    assert health["ok"] is False
    assert health["last_offer_error"] == "asterisk-rejected: Permission denied"
    assert f"the last {failures(health)} offers failed" in str(health["problems"])

    # The CTI's own failures are not the agents': nobody was set not ready.
    for agent in ("alice", "bob", "carol"):
        assert (await stack.agent(agent))["state"] == "ready"
    stack.pbx.denied_actions.clear()
    # The caller kept its place and is offered again once the refused pairs' time is up.
    assert await stack.pbx.wait_call_state(call, ("connected",)) == "connected"
    health = await stack.telephony.wait_health("pbx1", lambda h: failures(h) == 0)
    assert health["ok"] is True


async def test_nothing_is_offered_before_the_first_resync() -> None:
    pbx = SimulatedPbx()
    pbx.set_phone("1001", PhoneMode.ANSWER, ring_seconds=0.02)
    pbx.denied_actions.add("coreshowchannels")  # the first resync fails
    port = await pbx.start()
    routing = FifoVoiceRouting({"alice": ["support"]})
    telephony = TelephonyService(
        routing=routing,
        directory=StaticAgentDirectory({"alice": "1001"}),
        sink=CollectingEventSink(),
        sync_timeout=0.2,
    )
    link = AmiLink(AsteriskServer(name="pbx1", port=port, secret="cc-secret"), ping_interval=5)
    telephony.add_server(link)
    await telephony.start()
    try:
        await telephony.wait_resyncs("pbx1", 1, attempts=True)
        call = await pbx.place_call("+442079460603")  # tracked from its events all the same
        health = await telephony.wait_health("pbx1", lambda h: failures(h) == 1)
        assert not [a for a in pbx.actions if a.get("Action") == "Redirect"]
        assert ("refused", f"pbx1:{call}", "alice") in routing.log
        assert ("not_answered", f"pbx1:{call}", "alice") not in routing.log
        assert health["last_offer_error"] == "asterisk-unavailable: no resync yet"
        assert health["problems"] == ["resync failed: Permission denied"]
        with pytest.raises(AsteriskUnavailable):
            await telephony.offer(f"pbx1:{call}", "alice")
    finally:
        await telephony.stop()
        await pbx.stop()
