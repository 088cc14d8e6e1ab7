"""The FastAGI server and the fast path's meeting point, over real loopback sockets.

A test client plays Asterisk: it connects, sends ``agi_*`` lines and a blank line,
answers ``200 result=1`` to each command, and sees the connection closed at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from cti.fast_path import FastPathHandler, FastPathSettings, FastPathSlots
from cti.fastagi import MAX_LINE_BYTES, OFFER_VARIABLE, AgiRequest, AgiSession, FastAgiServer

CALL = "pbx1:1712.4"
CHANNEL = "PJSIP/trunk-00000001"


def request_lines(uniqueid: str = "1712.4", channel: str = CHANNEL) -> bytes:
    lines = [
        "agi_network: yes",
        "agi_network_script: route",
        "agi_request: agi://127.0.0.1:4573/route",
        f"agi_channel: {channel}",
        f"agi_uniqueid: {uniqueid}",
        "agi_callerid: 5550101",
        "agi_context: cc-inbound",
        "agi_extension: enqueue",
        "",
    ]
    return "\n".join(lines).encode() + b"\n"


class FakeAsterisk:
    """One AGI connection as Asterisk makes it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int) -> FakeAsterisk:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def commands_until_closed(self, reply: bytes = b"200 result=1\n") -> list[str]:
        """Answer every command with ``reply`` until the server closes; the commands."""
        commands = []
        try:
            async with asyncio.timeout(5):
                while line := await self.reader.readline():
                    commands.append(line.decode().rstrip("\n"))
                    self.writer.write(reply)
                    await self.writer.drain()
        except ConnectionResetError:
            pass  # closed by the server while data was still unread: closed all the same
        self.writer.close()
        return commands


@pytest.fixture
async def slots() -> FastPathSlots:
    return FastPathSlots(FastPathSettings(decision_seconds=0.3, handoff_seconds=0.3))


@pytest.fixture
async def located() -> asyncio.Event:
    """Set when the server has read a request and looks for its call."""
    return asyncio.Event()


@pytest.fixture
async def server(slots: FastPathSlots, located: asyncio.Event) -> AsyncIterator[FastAgiServer]:
    def locate(request: AgiRequest) -> str:
        located.set()
        return f"pbx1:{request.uniqueid}" if request.channel == CHANNEL else ""

    agi = FastAgiServer(
        FastPathHandler(slots, locate), port=0, read_timeout=0.3, handler_timeout=2.0
    )
    await agi.start()
    try:
        yield agi
    finally:
        await agi.stop()


async def test_a_decision_taken_first_is_set_in_the_dialplan_and_confirmed(
    server: FastAgiServer, slots: FastPathSlots
) -> None:
    """Given the CCEnqueue announced a request, when the router's decision comes first and
    then the dialplan asks, then the extension is set and the decision knows it was taken."""
    slots.expect(CALL)
    handed = asyncio.create_task(slots.hand_over(CALL, "1001"))
    asterisk = await FakeAsterisk.connect(server.port)
    await asterisk.send(request_lines())
    commands = await asterisk.commands_until_closed()
    assert commands == [f'SET VARIABLE {OFFER_VARIABLE} "1001"']
    assert await handed is True
    assert slots.dialled == 1 and slots.pending() == 0


async def test_the_extension_comes_with_the_end_of_the_script_so_asterisk_goes_on_at_once(
    server: FastAgiServer, slots: FastPathSlots
) -> None:
    """Asterisk reads the command and the end of the script before it replies (it goes on
    with the dialplan without waiting for us); its reply still confirms the decision."""
    slots.expect(CALL)
    handed = asyncio.create_task(slots.hand_over(CALL, "1001"))
    asterisk = await FakeAsterisk.connect(server.port)
    await asterisk.send(request_lines())
    async with asyncio.timeout(5):
        everything = await asterisk.reader.read()  # up to the server's end of sending
    assert everything.decode() == f'SET VARIABLE {OFFER_VARIABLE} "1001"\n'
    await asterisk.send(b"200 result=1\n")
    assert await handed is True
    asterisk.writer.close()
    assert slots.dialled == 1


async def test_a_request_first_waits_for_the_decision(
    server: FastAgiServer, slots: FastPathSlots, located: asyncio.Event
) -> None:
    asterisk = await FakeAsterisk.connect(server.port)
    await asterisk.send(request_lines())
    replies = asyncio.create_task(asterisk.commands_until_closed())
    # The AMI event is processed after the request arrived: the decision finds it waiting.
    async with asyncio.timeout(2):
        await located.wait()
    await asyncio.sleep(0)  # let the request reach its wait for the decision
    assert slots.pending() == 1
    assert await slots.hand_over(CALL, "1002") is True
    assert await replies == [f'SET VARIABLE {OFFER_VARIABLE} "1002"']


async def test_nobody_free_closes_without_setting_anything_so_the_caller_waits_on_hold(
    server: FastAgiServer, slots: FastPathSlots
) -> None:
    slots.expect(CALL)
    slots.no_agent(CALL)
    asterisk = await FakeAsterisk.connect(server.port)
    await asterisk.send(request_lines())
    assert await asterisk.commands_until_closed() == []
    assert slots.sent_to_hold == 1
    # A later decision goes by Redirect: the fast path has nothing waiting for it.
    assert await slots.hand_over(CALL, "1001") is False


async def test_no_decision_in_time_sends_the_caller_to_hold(
    server: FastAgiServer, slots: FastPathSlots
) -> None:
    asterisk = await FakeAsterisk.connect(server.port)
    await asterisk.send(request_lines())
    assert await asterisk.commands_until_closed() == []  # after decision_seconds
    assert slots.sent_to_hold == 1 and slots.pending() == 0


async def test_an_unknown_channel_is_sent_to_hold_at_once(server: FastAgiServer) -> None:
    asterisk = await FakeAsterisk.connect(server.port)
    await asterisk.send(request_lines(channel="PJSIP/someone-else-00000009"))
    assert await asterisk.commands_until_closed() == []


async def test_asterisk_refusing_the_variable_hands_the_decision_back_to_the_redirect_path(
    server: FastAgiServer, slots: FastPathSlots
) -> None:
    slots.expect(CALL)
    handed = asyncio.create_task(slots.hand_over(CALL, "1001"))
    asterisk = await FakeAsterisk.connect(server.port)
    await asterisk.send(request_lines())
    await asterisk.commands_until_closed(reply=b"511 Command Not Permitted on a dead channel\n")
    assert await handed is False
    assert slots.dialled == 0


async def test_a_decision_without_a_request_goes_by_redirect_after_the_handoff_wait(
    slots: FastPathSlots,
) -> None:
    """The dialplan announced a request that never comes (FastAGI blocked, wrong port)."""
    slots.expect(CALL)
    assert await slots.hand_over(CALL, "1001") is False
    assert slots.handoffs_missed == 1 and slots.pending() == 0


async def test_an_unannounced_call_goes_by_redirect_at_once(slots: FastPathSlots) -> None:
    async with asyncio.timeout(0.05):  # no waiting at all
        assert await slots.hand_over(CALL, "1001") is False


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", id="http"),
        pytest.param(b"\n", id="empty-request"),
        pytest.param(b"agi_channel PJSIP/x\n\n", id="no-separator"),
        pytest.param(b"agi_channel: \xff\xfe\n\n", id="not-utf8"),
        pytest.param(b"agi_x: " + b"y" * (MAX_LINE_BYTES * 2) + b"\n\n", id="oversized-line"),
        pytest.param(b"".join(b"agi_v%d: 1\n" % i for i in range(500)) + b"\n", id="too-many"),
    ],
)
async def test_garbage_is_dropped_without_calling_the_handler(
    server: FastAgiServer, slots: FastPathSlots, garbage: bytes
) -> None:
    asterisk = await FakeAsterisk.connect(server.port)
    await asterisk.send(garbage)
    assert await asterisk.commands_until_closed() == []
    assert server.rejected == 1 and server.requests == 0
    assert slots.pending() == 0
    assert "\n" not in server.last_error


async def test_a_client_that_stops_sending_is_dropped_after_the_read_timeout(
    server: FastAgiServer,
) -> None:
    asterisk = await FakeAsterisk.connect(server.port)
    await asterisk.send(b"agi_network: yes\nagi_chan")  # and then nothing
    assert await asterisk.commands_until_closed() == []
    assert server.rejected == 1
    assert "no complete line" in server.last_error


async def test_a_client_that_never_answers_a_command_fails_the_handoff(
    server: FastAgiServer, slots: FastPathSlots
) -> None:
    slots.expect(CALL)
    handed = asyncio.create_task(slots.hand_over(CALL, "1001"))
    asterisk = await FakeAsterisk.connect(server.port)
    await asterisk.send(request_lines())
    async with asyncio.timeout(5):
        assert (await asterisk.reader.readline()).startswith(b"SET VARIABLE")
        # No reply: the server gives up after its read timeout and closes.
        assert await asterisk.commands_until_closed() == []
    assert await handed is False


async def test_peers_outside_the_permit_are_refused(slots: FastPathSlots) -> None:
    async def never(session: AgiSession) -> None:
        raise AssertionError("not permitted peers never reach the handler")

    agi = FastAgiServer(never, port=0, permit=("10.1.2.0/24",))
    await agi.start()
    try:
        asterisk = await FakeAsterisk.connect(agi.port)
        await asterisk.send(request_lines())
        assert await asterisk.commands_until_closed() == []
        assert agi.rejected == 1 and "not in fastagi_permit" in agi.last_error
    finally:
        await agi.stop()


async def test_values_are_quoted_for_asterisk(server: FastAgiServer) -> None:
    seen: list[str] = []

    async def handler(session: AgiSession) -> None:
        assert await session.set_variable("X", 'a "b" \\c')

    agi = FastAgiServer(handler, port=0)
    await agi.start()
    try:
        asterisk = await FakeAsterisk.connect(agi.port)
        await asterisk.send(request_lines())
        seen = await asterisk.commands_until_closed()
    finally:
        await agi.stop()
    assert seen == ['SET VARIABLE X "a \\"b\\" \\\\c"']
