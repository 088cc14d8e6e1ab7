"""Faults and bad input: the link survives, resync restores calls, nothing is lost."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from contact_center.settings import AsteriskServer
from cti.connection import AmiLink, Backoff, LinkState
from cti.errors import AsteriskRejected, AsteriskUnavailable
from cti.events import CallHungUp, HungUpBy
from cti.protocol import AmiFramer, AmiMessage
from tests.cti.conftest import capture_bytes
from tests.cti.stack import Stack, build_stack, close_stack

pytestmark = pytest.mark.integration


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    s = await build_stack()
    yield s
    await close_stack(s)


async def test_ami_drop_mid_call_then_caller_hangs_up_while_down_resync_ends_it(
    stack: Stack,
) -> None:
    call = await stack.pbx.place_call("+442079460101")
    await stack.events.wait_for("call.answered")
    resyncs = stack.session.resyncs
    await stack.pbx.drop_connections()
    await stack.pbx.caller_hangs_up(call)  # nobody hears these events
    await stack.wait_resyncs(resyncs + 1)
    end = await stack.events.wait_for("call.hung_up")
    assert isinstance(end, CallHungUp)
    assert (end.call_id, end.hung_up_by) == (stack.cid(call), HungUpBy.UNKNOWN)
    assert (await stack.contact(call))["state"] in ("wrap_up", "closed")
    assert len(stack.events.named("call.hung_up")) == 1


async def test_ami_drop_while_queued_and_answered_meanwhile_is_restored_by_resync(
    stack: Stack,
) -> None:
    # No agent ready: the call waits; during the outage an offer is answered.
    for agent in ("alice", "bob", "carol"):
        await stack.router.not_ready(agent, "break")
    call = await stack.pbx.place_call("+442079460102")
    await stack.events.wait_for("call.queued")
    await stack.pbx.drop_connections()
    stack.pbx.accepting = False
    # Asterisk keeps working without us: the caller is dialled to 1002 and answers.
    await stack.pbx.offer_directly(call, "1002")
    await stack.pbx.wait_for_event("BridgeEnter", 2)
    stack.pbx.accepting = True
    await stack.wait_link(lambda h: h.logged_in and h.connections >= 2)
    answered = await stack.events.wait_for("call.answered")
    assert answered.to_dict()["extension"] == "1002"
    assert len(stack.events.named("call.queued")) == 1  # not queued twice


async def test_our_process_restarting_finds_live_calls_again(stack: Stack) -> None:
    call = await stack.pbx.place_call("+442079460103")
    await stack.events.wait_for("call.answered")
    # A second CTI instance (a restarted process) attaches to the same PBX.
    fresh = await build_stack_on(stack)
    try:
        answered = await fresh.events.wait_for("call.answered")
        assert answered.to_dict()["call_id"] == fresh.cid(call)
        assert fresh.session.tracker.call(call) is not None
    finally:
        await close_stack(fresh)


async def build_stack_on(existing: Stack) -> Stack:
    """Another CTI + router attached to the same simulated PBX."""
    from cti.ports import CollectingEventSink, StaticAgentDirectory
    from cti.routing_adapter import RouterVoiceRouting
    from cti.service import TelephonyService
    from cti.wiring import RouterOffersToTelephony
    from routing.backends.memory import MemoryRouterBackend
    from routing.ports import ListEventSink
    from routing.service import RoutingService
    from routing.settings import build_config, parse_routing_settings
    from tests.cti.stack import AGENTS, ROUTING

    link = AmiLink(existing.link.server, reconnect_base=0.01, reconnect_max=0.2)
    router_events = ListEventSink()
    offers = RouterOffersToTelephony(router_events)
    router = RoutingService(
        MemoryRouterBackend(build_config(parse_routing_settings(ROUTING)), sink=offers)
    )
    await router.start()
    for agent in AGENTS:
        await router.upsert_agent(agent, queues=("support", "sales"))
    events = CollectingEventSink()
    telephony = TelephonyService(
        routing=RouterVoiceRouting(router), directory=StaticAgentDirectory(AGENTS), sink=events
    )
    offers.attach(telephony)
    session = telephony.add_server(link)
    await telephony.start()
    await link.wait_up(5)
    return Stack(existing.pbx, link, telephony, session, router, router_events, events, offers)


async def test_asterisk_restart_ends_every_call_once(stack: Stack) -> None:
    first = await stack.pbx.place_call("+442079460104")
    await stack.events.wait_for("call.answered")
    for agent in ("bob", "carol"):
        await stack.router.not_ready(agent, "break")
    second = await stack.pbx.place_call("+442079460105")
    await stack.events.wait_for("call.queued", 2)
    await stack.pbx.restart()
    await stack.events.wait_for("call.hung_up", 2)
    ends = {e.to_dict()["call_id"]: e.to_dict() for e in stack.events.named("call.hung_up")}
    assert set(ends) == {stack.cid(first), stack.cid(second)}
    assert ends[stack.cid(first)]["outcome"] == "completed"
    assert ends[stack.cid(second)]["outcome"] == "abandoned"
    # Nobody saw the waiting caller leave: the contact ends as lost with the PBX.
    lost = await stack.contact(second)
    assert (lost["state"], lost["end_reason"]) == ("abandoned", "lost-with-pbx")
    assert stack.session.tracker.live_calls() == []
    assert stack.link.health().connections >= 2


# ---------------------------------------------------------------- raw servers

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(script: Script) -> tuple[asyncio.Server, int]:
    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(reader, writer)
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    server = await asyncio.start_server(run, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def shut(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()


async def read_action(reader: asyncio.StreamReader, framer: AmiFramer) -> AmiMessage:
    while True:
        for frame in framer.feed(await reader.read(4096)):
            if isinstance(frame, AmiMessage):
                return frame


def link_to(port: int, **kwargs: object) -> AmiLink:
    options: dict[str, object] = {"reconnect_base": 0.01, "reconnect_max": 0.2}
    options.update(kwargs)
    return AmiLink(
        AsteriskServer(name="raw", port=port, secret="s"),
        **options,  # type: ignore[arg-type]
    )


async def logged_in(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> AmiFramer:
    writer.write(b"Asterisk Call Manager/11.0.0\r\n")
    framer = AmiFramer(expect_banner=False)
    login = await read_action(reader, framer)
    writer.write(
        f"Response: Success\r\nActionID: {login.action_id}\r\n"
        "Message: Authentication accepted\r\n\r\n".encode()
    )
    return framer


async def next_event(link: AmiLink, timeout: float = 5.0) -> AmiMessage:
    while True:
        item = await asyncio.wait_for(link.events.get(), timeout)
        if isinstance(item, AmiMessage):
            return item


async def test_garbage_truncated_and_1mb_lines_are_skipped_and_the_rest_is_read() -> None:
    b_abandon = capture_bytes("b-abandon").split(b"\r\n", 1)[1]  # without the banner
    body = b_abandon.split(b"\r\n\r\n", 3)[3]  # without login reply, FullyBooted, SuccessfulAuth

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await logged_in(reader, writer)
        writer.write(b"\x00\xff garbage\r\nno colon here\r\n\r\n")
        writer.write(b"Event: Huge\r\nJunk: " + b"x" * (1024 * 1024) + b"\r\n\r\n")
        writer.write(body)
        writer.write(b"Event: Hangup\r\nChannel: PJSIP/trunk-0000")  # cut mid-message
        await writer.drain()
        writer.close()

    server, port = await serve(script)
    link = link_to(port, max_message_bytes=64 * 1024)
    link.start()
    try:
        seen = []
        while "Cdr" not in seen:
            seen.append((await next_event(link)).event)
        assert seen[0] == "Newchannel"
        assert "UserEvent" in seen
        health = link.health()
        assert health.protocol_violations == 1
        await link.wait_health(lambda h: "partial message" in h.last_error)
    finally:
        await link.stop()
        await shut(server)


async def test_login_failure_is_reported_and_retried_slowly() -> None:
    connections: list[float] = []
    second_connection = asyncio.Event()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(asyncio.get_running_loop().time())
        if len(connections) >= 2:
            second_connection.set()
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        login = await read_action(reader, AmiFramer(expect_banner=False))
        # Asterisk's reply from capture l1, then it closes the socket.
        writer.write(
            f"Response: Error\r\nActionID: {login.action_id}\r\n"
            "Message: Authentication failed\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    server, port = await serve(script)
    link = link_to(port, reconnect_max=0.3)
    link.start()
    try:
        await link.wait_health(lambda h: h.reconnect_attempts >= 1)
        await asyncio.wait_for(second_connection.wait(), 5)
        health = link.health()
        assert "Authentication failed" in health.last_error
        assert not health.logged_in
        # A rejected login waits (close to) the maximum delay, not the short first backoff.
        assert connections[1] - connections[0] >= 0.3 * 0.8 - 0.02
    finally:
        await link.stop()
        await shut(server)


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    backoff = Backoff(base=0.5, maximum=30.0)
    rng = random.Random(7)
    delays = [backoff.delay(n, rng) for n in range(10)]
    assert 0.25 <= delays[0] <= 0.5
    assert 4.0 <= delays[4] <= 8.0
    assert all(15.0 <= d <= 30.0 for d in delays[7:])
    assert len({round(d, 6) for d in delays}) == len(delays)  # jitter: no lockstep
    assert all(24.0 <= backoff.after_login_rejected(rng) <= 30.0 for _ in range(20))


async def test_ping_watchdog_drops_a_link_that_stopped_answering() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await logged_in(reader, writer)
        while await reader.read(1 << 16):  # reads every Ping, never answers: a hung Asterisk
            pass

    server, port = await serve(script)
    link = link_to(port, ping_interval=0.05, ping_timeout=0.1)
    link.start()
    try:
        await link.wait_health(lambda h: h.connections >= 2)
        assert "no Pong" in link.health().last_error
    finally:
        await link.stop()
        await shut(server)


async def test_a_consumer_too_slow_drops_the_link_instead_of_growing_memory() -> None:
    stack = await build_stack(queue_size=8)
    try:
        await stack.telephony.stop()  # nobody consumes now
        stack.link.start()
        await stack.link.wait_up(5)
        await stack.pbx.place_call("+442079460106")  # > 8 events
        await stack.wait_link(lambda h: "overflow" in h.last_error)
        assert stack.link.events.qsize() <= 8
    finally:
        await close_stack(stack)


async def test_pending_action_fails_clearly_when_the_link_drops() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        framer = await logged_in(reader, writer)
        await read_action(reader, framer)  # the Redirect: drop instead of answering
        writer.close()

    server, port = await serve(script)
    link = link_to(port)
    link.start()
    try:
        await link.wait_up(5)
        with pytest.raises(AsteriskUnavailable) as err:
            await link.send_action("Redirect", [("Channel", "PJSIP/trunk-00000001")])
        assert err.value.error_id == "asterisk-unavailable"
    finally:
        await link.stop()
        await shut(server)


async def test_md5_challenge_login_against_the_simulator() -> None:
    stack = await build_stack(md5=True)
    try:
        assert stack.link.health().logged_in
        assert [a.get("Action") for a in stack.pbx.actions[:2]] == ["Challenge", "Login"]
        assert "Secret" not in stack.pbx.actions[1].headers
        call = await stack.pbx.place_call("+442079460107")
        answered = await stack.events.wait_for("call.answered")
        assert answered.to_dict()["call_id"] == stack.cid(call)
    finally:
        await close_stack(stack)


async def test_actions_while_down_fail_with_asterisk_unavailable() -> None:
    link = link_to(1)  # nothing listens on port 1
    with pytest.raises(AsteriskUnavailable):
        await link.send_action("Ping")
    link.start()
    try:
        await link.wait_health(lambda h: h.reconnect_attempts >= 2)
        assert link.health().state in (LinkState.WAITING_TO_RETRY, LinkState.CONNECTING)
        assert link.health().last_error
    finally:
        await link.stop()


async def test_simulator_answers_bad_actions_like_asterisk_did_in_capture_l2(stack: Stack) -> None:
    recorded = [
        (m.get("Response"), m.get("Message"))
        for m in _l2_responses()
        if m.get("Response") == "Error"
    ]
    replies = []
    for action, headers in (
        ("NoSuchAction", []),
        (
            "Redirect",
            [
                ("Channel", "PJSIP/nosuch-00000000"),
                ("Context", "cc-agent"),
                ("Exten", "1001"),
                ("Priority", "1"),
            ],
        ),
        ("Originate", [("Context", "cc-outbound"), ("Exten", "1")]),
        ("Hangup", [("Channel", "PJSIP/nosuch-00000000")]),
    ):
        with pytest.raises(AsteriskRejected) as err:
            await stack.link.send_action(action, headers)
        replies.append(("Error", err.value.message))
    assert replies == recorded[:4]


def _l2_responses() -> list[AmiMessage]:
    from tests.cti.conftest import capture_messages

    return [m for m in capture_messages("l2-unknown-action") if not m.event]


async def test_unknown_events_from_asterisk_are_ignored_by_the_service(stack: Stack) -> None:
    stack.pbx._broadcast([[("Event", "BrandNewEvent"), ("Foo", "bar")]])
    call = await stack.pbx.place_call("+442079460108")
    answered = await stack.events.wait_for("call.answered")
    assert answered.to_dict()["call_id"] == stack.cid(call)
    assert stack.session.tracker.unknown_events >= 1


async def test_a_resync_refused_by_asterisk_is_shown_in_health(stack: Stack) -> None:
    stack.pbx.denied_actions.add("coreshowchannels")
    resyncs = stack.session.resyncs
    attempts = stack.session.resync_attempts
    await stack.pbx.drop_connections()
    await stack.telephony.wait_resyncs("pbx1", attempts + 1, attempts=True)
    health = stack.telephony.health()[0]
    assert health["resync_error"] == "Permission denied"
    assert health["logged_in"] is True
    # Logged in, but the tracker may not match Asterisk: not ok.
    assert (health["ok"], health["in_sync"]) == (False, False)
    assert health["problems"] == ["resync failed: Permission denied"]
    assert stack.session.resyncs == resyncs
