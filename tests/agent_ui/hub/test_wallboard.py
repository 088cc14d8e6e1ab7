"""The wallboard over the hub: supervisors get the board on subscribe and after every
change, agents are refused, and every viewer gets the very same board."""

from __future__ import annotations

from typing import Any

from agent_ui.hub.hub import Hub
from agent_ui.hub.messages import Board, Refused, Subscribed
from contact_center.services import Services
from tests.agent_ui.conftest import Caller
from tests.agent_ui.hub.conftest import Connect, enqueue, ready


def _waiting(board: Board, queue: str, channel: str) -> int:
    for row in board.board.queues:
        if (row.queue, row.channel) == (queue, channel):
            return row.waiting
    raise AssertionError(f"no row for {queue}/{channel}")


async def test_given_a_supervisor_watching_the_wallboard_then_a_new_contact_shows_within_a_second(
    connect: Connect, supervisor: Caller, routed: Services, hub: Hub
) -> None:
    wall = await connect(supervisor)
    await wall.hello(topics=["wallboard"])
    first = await wall.until(Board)
    assert first.topic == "wallboard"
    assert _waiting(first, "support", "voice") == 0
    assert [s.queue for s in first.board.series] == ["sales", "support"]
    assert [s.queue for s in first.board.staffing] == ["sales", "support"]

    await enqueue(routed, "call-1")
    while True:
        board = await wall.until(Board, timeout=1.5)
        if _waiting(board, "support", "voice") == 1:
            break
    assert board.board.version > first.board.version
    row = next(r for r in board.board.queues if (r.queue, r.channel) == ("support", "voice"))
    assert row.longest_wait_seconds >= 0.0
    assert row.levels.waiting == "ok"


async def test_given_an_agent_when_asking_for_the_wallboard_then_refused(
    connect: Connect, agent: Caller, hub: Hub
) -> None:
    desk = await connect(agent)
    await desk.hello()
    await desk.send({"type": "subscribe", "topic": "wallboard"})
    refused = await desk.until(Refused)
    assert (refused.topic, refused.error) == ("wallboard", "topic-forbidden")
    assert await desk.silent(0.3)


async def test_given_two_supervisors_then_both_see_the_same_board(
    connect: Connect,
    supervisor: Caller,
    admin: Caller,
    agent: Caller,
    routed: Services,
    hub: Hub,
    customer: dict[str, Any],
) -> None:
    assert hub.wallboard is not None
    await ready(routed, agent)
    one = await connect(supervisor)
    await one.hello()
    await one.send({"type": "subscribe", "topic": "wallboard"})
    await one.until(Subscribed)
    other = await connect(admin)
    await other.hello(topics=["wallboard"])
    await enqueue(routed, "call-7", customer_id=customer["id"])
    board = await hub.wallboard.wait_for(
        lambda b: any(c.contact_id == "call-7" for a in b.agents for c in a.contacts), 3.0
    )
    seen_one = await one.until(Board)
    while seen_one.board.version < board.version:
        seen_one = await one.until(Board)
    seen_other = await other.until(Board)
    while seen_other.board.version < board.version:
        seen_other = await other.until(Board)
    assert seen_one.board == seen_other.board == board
    holder = next(a for a in board.agents if a.agent_id == str(agent.user_id))
    assert holder.activity == "busy"
    assert holder.contacts[0].customer_name == "Ada Lovelace"
    support = next(r for r in board.queues if (r.queue, r.channel) == ("support", "voice"))
    assert support.agents.busy == 1
