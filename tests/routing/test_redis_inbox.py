"""The Redis leader's inbox and stream reading: commands in order, the reader told
when the apply loop has nothing to do, and a stream entry taken once however many
reads return it (the reader's and a commit's)."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from routing.backends.redis import (
    _READ_COUNT,
    RedisRouterBackend,
    _entry_order,
    _Inbox,
    _Pending,
    router_client,
)
from routing.commands import FireTimers, HangUp, command_to_json
from routing.ports import ListEventSink
from routing.settings import build_config, parse_routing_settings


def _commands(inbox: _Inbox, n: int) -> None:
    for _ in range(n):
        inbox.put(_Pending(FireTimers(), None))


async def test_given_an_empty_inbox_when_the_apply_loop_waits_then_it_says_so() -> None:
    inbox = _Inbox()
    told: list[bool] = []
    inbox.on_idle = lambda: told.append(inbox.idle)
    _commands(inbox, 2)
    assert len(await inbox.take(10)) == 2
    assert told == []  # it had commands: no one is told
    taker = asyncio.create_task(inbox.take(10))
    _done, pending = await asyncio.wait([taker], timeout=0.05)
    assert taker in pending and told == [True] and inbox.idle
    _commands(inbox, 1)
    async with asyncio.timeout(1):
        assert len(await taker) == 1
    assert not inbox.idle and len(inbox) == 0


def test_stream_ids_sort_as_the_stream_does() -> None:
    assert _entry_order("1700000000000-10") > _entry_order("1700000000000-9")
    assert _entry_order("1700000000001-0") > _entry_order("1700000000000-99")
    assert _entry_order("0-0") < _entry_order("1-0")
    assert _READ_COUNT > 0


def _entry(request_id: str, contact_id: str) -> dict[bytes, bytes]:
    body = (
        b'[["'
        + request_id.encode()
        + b'",'
        + command_to_json(HangUp(contact_id=contact_id))
        + b"]]"
    )
    return {b"b": body, b"n": b"node-b"}


async def test_given_two_reads_returning_one_entry_then_its_commands_are_taken_once() -> None:
    config = build_config(parse_routing_settings({"queues": {"sales": {"channels": ["voice"]}}}))
    client = router_client("redis://127.0.0.1:1/0")  # never connected to
    backend = RedisRouterBackend(config, client, sink=ListEventSink())
    try:
        backend._read_upto = "5-0"
        first = [
            (b"4-0", _entry("r0", "c0")),
            (b"6-0", _entry("r1", "c1")),
            (b"7-0", _entry("r2", "c2")),
        ]
        assert backend._take_entries(first)
        # A second read that started before the first returned, overlapping it.
        again = [
            (b"6-0", _entry("r1", "c1")),
            (b"7-0", _entry("r2", "c2")),
            (b"8-1", _entry("r3", "c3")),
        ]
        assert backend._take_entries(again)
        assert not backend._take_entries(again)
        taken = backend._inbox.drain()
        assert [p.request_id for p in taken] == ["r1", "r2", "r3"]
        assert [p.stream_id for p in taken] == ["6-0", "7-0", "8-1"]
        assert backend._read_upto == "8-1"
    finally:
        await client.aclose()


async def test_given_replies_then_results_decode_in_one_call_and_others_still_settle() -> None:
    from routing.backends.base import CommandResult
    from routing.backends.redis import _reply, encode_event_batch
    from routing.errors import InvalidCommand, RouterUnavailable
    from routing.events import ContactQueued
    from routing.model import Channel

    config = build_config(parse_routing_settings({"queues": {"sales": {"channels": ["voice"]}}}))
    client = router_client("redis://127.0.0.1:1/0")  # never connected to
    backend = RedisRouterBackend(config, client, sink=ListEventSink())
    loop = asyncio.get_running_loop()
    try:
        queued = ContactQueued(at=5.0, contact_id="c1", channel=Channel.VOICE, queue="sales")
        futures = {}
        for request_id in ("r1", "r2", "r3", "r4", "r5"):
            futures[request_id] = loop.create_future()
            backend._waiting[request_id] = (futures[request_id], loop.time() + 60)

        def result(request_id: str, value: object = None) -> dict[str, object]:
            answered = CommandResult(events=(queued,), value=value)
            return _reply(request_id, answered, None, encode_event_batch([queued]))

        # Results only: the typed path.
        backend._handle_reply(orjson.dumps([result("r1"), result("r2", {"position": 1})]))
        assert futures["r1"].result() == CommandResult(events=(queued,), value=None)
        assert futures["r2"].result().value == {"position": 1}
        # A refusal among them: the general path, every reply settled all the same.
        refused = _reply("r4", None, InvalidCommand("bad accept command"))
        backend._handle_reply(orjson.dumps([result("r3"), refused]))
        assert futures["r3"].result().events == (queued,)
        with pytest.raises(InvalidCommand, match="bad accept"):
            futures["r4"].result()
        # An event of a kind this node does not know: that caller hears of it.
        unknown = {"r": "r5", "events": [["contact.teleported", {"at": 1.0}]], "value": None}
        backend._handle_reply(orjson.dumps([unknown]))
        with pytest.raises(RouterUnavailable, match="unreadable reply"):
            futures["r5"].result()
        backend._handle_reply(b"garbage")  # dropped, logged
        assert not backend._waiting
    finally:
        await client.aclose()
