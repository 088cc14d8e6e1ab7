"""No event lost across a reconnect: a tab quoting its stream and last ``seq`` gets
exactly what it missed; one too far behind (or from an unknown stream) a snapshot;
and a tab too slow to read is dropped without delaying anybody else."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import WSMsgType

from agent_ui.hub import streams
from agent_ui.hub.hub import Hub
from agent_ui.hub.messages import AgentStateUpdate, ContactUpdate, Hello, Offer, Snapshot
from agent_ui.hub.streams import Connection
from contact_center.accounts import User
from contact_center.services import Services
from tests.agent_ui.conftest import Caller
from tests.agent_ui.hub.conftest import Connect, enqueue, gone, ready


async def _viewed(services: Services, customer_id: int) -> list[tuple[int, str | None]]:
    audit = await services.profiles.audit_log(customer_id=customer_id, action="profile.viewed")
    return [(e["actor_id"], e["contact_id"]) for e in audit["items"]]


async def test_given_a_dropped_tab_when_it_resumes_then_exactly_the_missed_messages_follow(
    connect: Connect, agent: Caller, routed: Services, hub: Hub, customer: dict[str, Any]
) -> None:
    assert routed.routing is not None
    agent_id = str(agent.user_id)
    await ready(routed, agent)
    console = await connect(agent)
    welcome, _ = await console.hello()
    await routed.routing.not_ready(agent_id, "break")
    last = (await console.next(AgentStateUpdate)).seq
    await console.close()
    await gone(hub, agent)

    # While the tab is away: back to ready, a contact offered, taken and ended.
    await routed.routing.ready(agent_id)
    await enqueue(routed, "call-1", customer_id=customer["id"])
    await routed.routing.accept("call-1", agent_id)
    # The offer's screen-pop waits for a tab to show it to: nobody viewed it yet.
    assert await _viewed(routed, customer["id"]) == []

    again = await connect(agent)
    resumed, after = await again.hello(resume_from={"stream": welcome.stream, "seq": last})
    assert resumed.resumed is True and resumed.stream == welcome.stream and after == []
    missed = [await again.next(), await again.next(), await again.next()]
    assert [m.seq for m in missed] == [last + 1, last + 2, last + 3]  # type: ignore[attr-defined]
    state, offer, connected = missed
    assert isinstance(state, AgentStateUpdate) and state.state == "ready"
    assert isinstance(offer, Offer) and offer.offer.contact_id == "call-1"
    assert offer.offer.screen_pop is not None
    assert isinstance(connected, ContactUpdate) and connected.event == "contact.connected"
    assert await _viewed(routed, customer["id"]) == [(agent.user_id, "call-1")]
    # Nothing twice: the next message is a new one.
    await routed.routing.hang_up("call-1")
    assert (await again.next(ContactUpdate)).seq == last + 4


async def test_given_an_unknown_stream_then_a_snapshot_with_the_ringing_offer_and_its_pop(
    connect: Connect, agent: Caller, routed: Services, customer: dict[str, Any]
) -> None:
    await ready(routed, agent)
    await enqueue(routed, "call-1", customer_id=customer["id"])
    console = await connect(agent)
    welcome, after = await console.hello(resume_from={"stream": "elsewhere-1", "seq": 7})

    assert welcome.resumed is False
    snapshot = after[-1]
    assert isinstance(snapshot, Snapshot) and snapshot.seq == welcome.seq
    assert snapshot.agent is not None and snapshot.agent.state == "ready"
    assert [o.contact_id for o in snapshot.offers] == ["call-1"]
    offer = snapshot.offers[0]
    assert offer.screen_pop is not None and offer.screen_pop["customer"]["id"] == customer["id"]
    # This node saw the offer being made, so it knows its deadline too.
    assert offer.offer_deadline is not None and offer.offered_at is not None


async def test_given_a_tab_too_far_behind_then_a_snapshot_instead_of_a_partial_replay(
    connect: Connect, agent: Caller, routed: Services
) -> None:
    assert routed.routing is not None
    agent_id = str(agent.user_id)
    await ready(routed, agent)
    console = await connect(agent)
    welcome, _ = await console.hello()
    await console.close()
    for _ in range(10):  # 20 messages; the buffer keeps 16 (settings fixture)
        await routed.routing.not_ready(agent_id, "break")
        await routed.routing.ready(agent_id)

    again = await connect(agent)
    resumed, after = await again.hello(resume_from={"stream": welcome.stream, "seq": welcome.seq})
    assert resumed.resumed is False and resumed.seq == welcome.seq + 20
    snapshot = after[-1]
    assert isinstance(snapshot, Snapshot) and snapshot.agent is not None
    assert snapshot.agent.state == "ready"


async def test_given_a_seq_the_stream_never_reached_then_a_snapshot(
    connect: Connect, agent: Caller
) -> None:
    console = await connect(agent)
    welcome, _ = await console.hello()
    again = await connect(agent)
    resumed, after = await again.hello(
        resume_from={"stream": welcome.stream, "seq": welcome.seq + 5}
    )
    assert resumed.resumed is False and isinstance(after[-1], Snapshot)


async def test_given_two_tabs_of_one_agent_then_one_stream_and_the_same_numbers(
    connect: Connect, agent: Caller, routed: Services, customer: dict[str, Any]
) -> None:
    await ready(routed, agent)
    first, second = await connect(agent), await connect(agent)
    one, _ = await first.hello()
    two, _ = await second.hello()
    assert one.stream == two.stream
    await enqueue(routed, "call-1", customer_id=customer["id"])
    a, b = await first.next(Offer), await second.next(Offer)
    assert a.seq == b.seq and a.offer == b.offer
    # Fetched once for the agent, shown in both tabs.
    assert await _viewed(routed, customer["id"]) == [(agent.user_id, "call-1")]


async def test_given_a_supervisor_tab_back_within_the_window_then_its_queue_resumes_too(
    connect: Connect, supervisor: Caller, agent: Caller, routed: Services, customer: dict[str, Any]
) -> None:
    await ready(routed, agent)
    console = await connect(supervisor)
    welcome, _ = await console.hello(topics=["queue:support"])
    await console.close()
    await enqueue(routed, "call-1", customer_id=customer["id"])

    again = await connect(supervisor)
    resumed, _ = await again.hello(
        resume_from={"stream": welcome.stream, "seq": welcome.seq}, topics=["queue:support"]
    )
    assert resumed.resumed is True
    steps = [await again.next(ContactUpdate), await again.next(ContactUpdate)]
    assert [s.event for s in steps] == ["contact.queued", "contact.offered"]
    # A topic the stream was not recording cannot be resumed: a snapshot instead.
    third = await connect(supervisor)
    fresh, after = await third.hello(
        resume_from={"stream": welcome.stream, "seq": steps[-1].seq}, topics=["queue:sales"]
    )
    assert fresh.resumed is False and isinstance(after[-1], Snapshot)


class StuckSocket:
    """A websocket whose peer reads nothing: every send waits forever."""

    def __init__(self) -> None:
        self.closed = False
        self.close_code: int | None = None
        self.never = asyncio.Event()

    async def send_frame(self, _frame: bytes, _opcode: int) -> None:
        await self.never.wait()

    async def close(self, *, code: int, message: bytes = b"") -> bool:
        self.close_code = code
        self.closed = True
        return True


async def test_given_a_stuck_tab_then_it_is_dropped_and_nobody_else_waits(
    connect: Connect,
    make_user: Callable[..., Awaitable[Caller]],
    routed: Services,
    hub: Hub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert routed.routing is not None
    monkeypatch.setattr(streams, "CLOSE_TIMEOUT_SECONDS", 0.05)
    stuck_user = await make_user("stuck", "agent")
    user: User = await routed.accounts.get_user(stuck_user.user_id)
    socket = StuckSocket()
    stuck = Connection(socket, user, queue_limit=hub.settings.send_queue_messages)  # type: ignore[arg-type]
    await hub.open(stuck, Hello())
    supervisor = await make_user("watcher", "supervisor")
    watcher = await connect(supervisor)
    await watcher.hello(topics=["agents"])

    # The stuck agent's own state flips fill their queue (64 frames) and more.
    agent_id = str(stuck_user.user_id)
    await ready(routed)
    for _ in range(40):
        await routed.routing.ready(agent_id)
        await routed.routing.not_ready(agent_id, "break")
    states = [await watcher.next(AgentStateUpdate) for _ in range(80)]

    assert states[-1].agent_id == agent_id and states[-1].state == "not_ready"
    await stuck.closed_fully()
    assert stuck.closed and socket.close_code == 1013
    assert hub.counters["dropped_slow"] == 1
    assert stuck not in hub.connections and hub.streams[stuck_user.user_id].live is False


async def test_given_a_tab_then_its_frames_are_sent_in_order_as_text_frames(
    hub: Hub, agent: Caller, routed: Services
) -> None:
    sent: list[tuple[bytes, int]] = []
    two_sent = asyncio.Event()

    class Socket(StuckSocket):
        async def send_frame(self, frame: bytes, opcode: int) -> None:
            sent.append((frame, opcode))
            if len(sent) == 2:
                two_sent.set()

    user = await routed.accounts.get_user(agent.user_id)
    connection = Connection(Socket(), user, queue_limit=8)  # type: ignore[arg-type]
    await hub.open(connection, Hello())
    await asyncio.wait_for(two_sent.wait(), 5)
    assert [opcode for _, opcode in sent] == [WSMsgType.TEXT, WSMsgType.TEXT]
    assert [frame[:18] for frame, _ in sent] == [b'{"type":"welcome",', b'{"type":"snapshot"']
