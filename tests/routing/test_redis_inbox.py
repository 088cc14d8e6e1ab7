"""The Redis leader's inbox: commands in order, and a stream reader that waits only for
the commands it put there to be taken."""

from __future__ import annotations

import asyncio

from routing.backends.redis import _Inbox, _Pending
from routing.commands import FireTimers


def _commands(inbox: _Inbox, n: int) -> None:
    for _ in range(n):
        inbox.put(_Pending(FireTimers(), None))


async def test_given_a_reader_then_it_waits_for_its_commands_only() -> None:
    inbox = _Inbox()
    _commands(inbox, 3)
    reader = asyncio.create_task(inbox.taken())
    assert len(await inbox.take(2)) == 2
    _done, pending = await asyncio.wait([reader], timeout=0.05)
    assert reader in pending  # one of its three is still there
    _commands(inbox, 5)  # put later (local commands): they do not hold it up
    assert len(await inbox.take(1)) == 1
    async with asyncio.timeout(1):
        await reader
    assert len(await inbox.take(100)) == 5


async def test_given_a_closed_inbox_then_a_waiting_reader_goes_on() -> None:
    inbox = _Inbox()
    _commands(inbox, 2)
    reader = asyncio.create_task(inbox.taken())
    _done, pending = await asyncio.wait([reader], timeout=0.05)
    assert reader in pending
    inbox.close()
    async with asyncio.timeout(1):
        await reader
    assert len(inbox.drain()) == 2
