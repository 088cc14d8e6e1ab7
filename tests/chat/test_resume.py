"""Nothing lost, nothing doubled: resume after a drop, retried sends, and a drop while
both sides keep sending, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chat import frames
from tests.chat.conftest import (
    Stack,
    accept,
    agent_send,
    open_visitor,
    ready,
    start_chat,
)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"


async def _connected(stack: Stack) -> tuple[dict[str, Any], str]:
    await ready(stack, "alice")
    session = await start_chat(stack.client)
    contact_id = "chat-" + session["conversation_id"]
    await stack.settle()
    await accept(stack, "alice", contact_id)
    return session, contact_id


async def test_given_a_dropped_visitor_when_they_resume_then_exactly_the_missed_messages_follow(
    stack: Stack,
) -> None:
    session, contact_id = await _connected(stack)
    visitor = await open_visitor(stack.client)
    await visitor.hello(session["token"])
    assert [f.seq for f in await visitor.stream_until(1)] == [1]  # agent joined
    await visitor.close()
    for index in range(3):
        await agent_send(stack, "alice", contact_id, f"a{index}", f"while away {index}")

    back = await open_visitor(stack.client)
    welcome = await back.hello(session["token"], resume_from=1)
    assert welcome.resumed and welcome.seq == 4
    missed = await back.stream_until(4)
    assert [(f.seq, getattr(f, "text", None)) for f in missed] == [
        (2, "while away 0"), (3, "while away 1"), (4, "while away 2"),
    ]  # fmt: skip
    await agent_send(stack, "alice", contact_id, "a3", "live again")
    live = await back.until(frames.Message)
    assert (live.seq, live.text) == (5, "live again")
    await back.close()


async def test_given_a_drop_while_both_sides_keep_sending_then_both_transcripts_are_complete(
    stack: Stack,
) -> None:
    session, contact_id = await _connected(stack)
    token = session["token"]
    visitor = await open_visitor(stack.client)
    await visitor.hello(token)
    held: dict[int, str] = {}  # what the visitor's page shows: seq -> text
    acked: set[str] = set()

    def keep(frame: Any) -> None:
        if isinstance(frame, frames.Message | frames.NoticeFrame):
            assert frame.seq not in held, f"seq {frame.seq} delivered twice"
            held[frame.seq] = frame.text if isinstance(frame, frames.Message) else frame.kind
        elif isinstance(frame, frames.Ack):
            acked.add(frame.client_id)

    async def agent_side() -> None:
        for index in range(10):
            await agent_send(stack, "alice", contact_id, f"a{index}", f"agent {index}")
            await asyncio.sleep(0)

    agent = asyncio.create_task(agent_side())
    # Five sends, then the network drops before their acks are all read.
    for index in range(5):
        await visitor.send({"type": "send", "client_id": f"v{index}", "text": f"visitor {index}"})
    keep(await visitor.next())
    await visitor.close()
    for frame in visitor.received[:-1]:
        if isinstance(frame, frames.Message | frames.NoticeFrame) and frame.seq not in held:
            keep(frame)
    # The page reconnects, resumes from the last seq it shows, and sends again every
    # message it has no ack for (same client ids), then more.
    last = max(held, default=0)
    back = await open_visitor(stack.client)
    await back.hello(token, resume_from=last)
    for index in range(8):
        if f"v{index}" not in acked:
            await back.send({"type": "send", "client_id": f"v{index}", "text": f"visitor {index}"})
    await agent
    expected_total = 1 + 8 + 10  # joined notice, visitor messages, agent messages
    while len(held) < expected_total or len(acked) < 8:
        keep(await back.next())
    await back.close()

    assert sorted(held) == list(range(1, expected_total + 1))  # complete, no gaps
    texts = [held[s] for s in sorted(held)]
    visitor_texts = sorted(t for t in texts if t.startswith("visitor "))
    assert visitor_texts == [f"visitor {i}" for i in range(8)]  # each once
    agent_texts = [t for t in texts if t.startswith("agent ")]
    assert agent_texts == [f"agent {i}" for i in range(10)]  # in the order sent
    history = await stack.client.get(
        f"/api/v1/chats/{contact_id}/messages", headers=stack.agents["alice"].bearer
    )
    console_view = [(m["seq"], m["text"]) for m in (await history.json())["items"]]
    assert console_view == [(s, held[s]) for s in sorted(held)]  # the agent's transcript
