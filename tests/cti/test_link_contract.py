"""One contract for the AMI link port: the TCP adapter and the in-process twin pass it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from contact_center.settings import AsteriskServer
from cti.connection import AmiLink, AmiLinkPort, LinkUp
from cti.errors import AsteriskRejected
from cti.protocol import AmiMessage
from cti.simulator.link import SimulatedAmiLink
from cti.simulator.pbx import PhoneMode, SimulatedPbx

pytestmark = pytest.mark.integration


@pytest.fixture(params=["tcp", "in-process"])
async def linked(request: pytest.FixtureRequest) -> AsyncIterator[tuple[AmiLinkPort, SimulatedPbx]]:
    pbx = SimulatedPbx(ring_timeout=0.2)
    pbx.set_phone("1001", PhoneMode.ANSWER, ring_seconds=0.01)
    link: AmiLink | SimulatedAmiLink
    if request.param == "tcp":
        port = await pbx.start()
        link = AmiLink(
            AsteriskServer(name="pbx", port=port, secret=pbx.secret),
            reconnect_base=0.01,
            reconnect_max=0.1,
        )
    else:
        link = SimulatedAmiLink(pbx, name="pbx")
    link.start()
    first = await next_item(link)
    assert isinstance(first, LinkUp)
    yield link, pbx
    await link.stop()
    await pbx.stop()


async def next_item(link: AmiLinkPort) -> AmiMessage | LinkUp:
    while True:
        item = await asyncio.wait_for(link.events.get(), 5)
        if isinstance(item, AmiMessage) and item.event in ("FullyBooted", "SuccessfulAuth"):
            continue
        return item


async def next_event(link: AmiLinkPort, name: str) -> AmiMessage:
    while True:
        item = await next_item(link)
        if isinstance(item, AmiMessage) and item.event == name:
            return item


async def test_health_says_logged_in_with_the_banner_version(
    linked: tuple[AmiLinkPort, SimulatedPbx],
) -> None:
    link, _ = linked
    health = link.health()
    assert health.logged_in and health.connected
    assert health.asterisk_version == "Asterisk Call Manager/11.0.0"
    assert health.to_dict()["ok"] is True


async def test_ping_is_answered(linked: tuple[AmiLinkPort, SimulatedPbx]) -> None:
    link, _ = linked
    reply = await link.send_action("Ping")
    assert (reply.get("Response"), reply.get("Ping")) == ("Success", "Pong")


async def test_errors_carry_asterisks_message(linked: tuple[AmiLinkPort, SimulatedPbx]) -> None:
    link, _ = linked
    with pytest.raises(AsteriskRejected) as err:
        await link.send_action("Hangup", [("Channel", "PJSIP/nosuch-00000000")])
    assert err.value.message == "No such channel"


async def test_events_arrive_in_order_and_lists_are_collected(
    linked: tuple[AmiLinkPort, SimulatedPbx],
) -> None:
    link, pbx = linked
    call = await pbx.place_call("+442079460201")
    newchannel = await next_event(link, "Newchannel")
    assert newchannel.get("Uniqueid") == call
    enqueue = await next_event(link, "UserEvent")
    assert enqueue.get("UserEvent") == "CCEnqueue"
    response, items = await link.send_list_action("CoreShowChannels")
    assert response.get("EventList") == "start"
    assert [i.get("Uniqueid") for i in items] == [call]
    assert items[0].get("Context") == "cc-hold"
    reply = await link.send_action(
        "Getvar", [("Channel", pbx.calls[call].caller.name), ("Variable", "CC_QUEUE")]
    )
    assert reply.get("Value") == "support"


async def test_redirect_reply_comes_before_its_events(
    linked: tuple[AmiLinkPort, SimulatedPbx],
) -> None:
    link, pbx = linked
    call = await pbx.place_call("+442079460202")
    await next_event(link, "MusicOnHoldStart")
    reply = await link.send_action(
        "Redirect",
        [
            ("Channel", pbx.calls[call].caller.name),
            ("Context", "cc-agent"),
            ("Exten", "1001"),
            ("Priority", "1"),
        ],
    )
    assert reply.get("Message") == "Redirect successful"
    dial = await next_event(link, "DialBegin")
    assert dial.get("DestExten") == "1001"


async def test_after_a_drop_the_link_comes_back_with_a_new_link_up(
    linked: tuple[AmiLinkPort, SimulatedPbx],
) -> None:
    link, pbx = linked
    await pbx.drop_connections()
    item = await next_item(link)
    assert isinstance(item, LinkUp) and item.generation == 2
    assert link.health().connections == 2
