"""Hostile visitors contained: another visitor's conversation, wrong origins, signed
identities, floods, oversized and malformed frames, slow readers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chat import frames
from chat.visitor_ws import Close, VisitorConnection
from tests.chat.conftest import (
    SECRET,
    SHOP,
    Stack,
    accept,
    open_visitor,
    ready,
    signed,
    start_chat,
)

EVIL = "https://evil.example"


async def test_given_two_visitors_then_neither_can_read_resume_post_or_listen_to_the_other(
    stack: Stack,
) -> None:
    await ready(stack, "alice")
    mine = await start_chat(stack.client)
    theirs = await start_chat(stack.client, name="Bea")
    await stack.settle()
    await accept(stack, "alice", "chat-" + theirs["conversation_id"])
    headers = {"Origin": SHOP, "X-Chat-Token": mine["token"]}
    base = f"/chat/api/conversations/{theirs['conversation_id']}"
    for method, path, body in (
        ("GET", base, None),
        ("GET", f"{base}/messages?after_seq=0", None),
        ("GET", f"{base}/transcript", None),
        ("POST", f"{base}/end", None),
        ("POST", f"{base}/rating", {"rating": 1}),
        ("POST", f"{base}/transcript-email", {"email": "x@example.com"}),
    ):
        response = await stack.client.request(method, path, json=body, headers=headers)
        assert response.status == 404, (method, path, await response.text())
        assert (await response.json())["error"] == "chat-not-found"
    # Without a token, or with a made-up one: refused, whatever the id.
    for token in ("", "not-a-token"):
        response = await stack.client.get(base, headers={"Origin": SHOP, "X-Chat-Token": token})
        assert response.status == 401
    # The websocket: a token opens its own conversation only; a forged one nothing.
    visitor = await open_visitor(stack.client)
    welcome = await visitor.hello(mine["token"])
    assert welcome.conversation_id == mine["conversation_id"]
    await visitor.send({"type": "send", "client_id": "x1", "text": "only mine"})
    await visitor.until(frames.Ack)
    await visitor.close()
    intruder = await open_visitor(stack.client)
    await intruder.send({"type": "hello", "token": "forged", "resume_from": 0})
    assert await intruder.closed() == (Close.TOKEN_INVALID, "chat-token-invalid")
    # Their conversation holds nothing of mine, and they never ended.
    history = await stack.client.get(
        f"/api/v1/chats/chat-{theirs['conversation_id']}/messages",
        headers=stack.agents["alice"].bearer,
    )
    texts = [m["text"] for m in (await history.json())["items"]]
    assert "only mine" not in texts and "ended" not in texts


async def test_given_a_page_of_another_site_then_sessions_and_sockets_are_refused(
    stack: Stack,
) -> None:
    await ready(stack, "alice")
    response = await stack.client.post(
        "/chat/api/sessions", json={"queue": "support", "name": "Eve"}, headers={"Origin": EVIL}
    )
    assert response.status == 403
    assert (await response.json())["error"] == "origin-refused"
    assert "Access-Control-Allow-Origin" not in response.headers
    upgrade = {
        "Origin": EVIL,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }
    refused = await stack.client.get("/chat/ws", headers=upgrade)
    assert refused.status == 403
    # A real token used from another site's page is refused too.
    session = await start_chat(stack.client)
    ok = await stack.client.get(
        f"/chat/api/conversations/{session['conversation_id']}",
        headers={"Origin": SHOP, "X-Chat-Token": session["token"]},
    )
    assert ok.status == 200 and ok.headers["Access-Control-Allow-Origin"] == SHOP
    preflight = await stack.client.options("/chat/api/sessions", headers={"Origin": SHOP})
    assert preflight.status == 204
    assert "X-Chat-Token" in preflight.headers["Access-Control-Allow-Headers"]


@pytest.mark.parametrize(
    ("site", "identity", "status"),
    [
        ("default", signed("u-1"), 201),
        ("default", {"user_id": "u-1", "signature": "00" * 32}, 403),
        ("default", signed("u-1", secret="another-secret"), 403),
        ("default", {"user_id": "u-1"}, 403),
        ("default", None, 201),  # this site takes anonymous chats
        ("members", None, 403),  # this one requires a signed identity, anonymous included
        ("members", {"user_id": "u-1", "signature": "bad"}, 403),
        ("members", signed("u-1"), 201),
    ],
)
async def test_given_a_signed_identity_then_only_a_valid_signature_is_taken(
    stack: Stack, site: str, identity: dict[str, str] | None, status: int
) -> None:
    await ready(stack, "alice")
    body: dict[str, Any] = {"site": site, "queue": "support", "name": "Ada"}
    if identity is not None:
        body["identity"] = identity
    response = await stack.client.post("/chat/api/sessions", json=body, headers={"Origin": SHOP})
    assert response.status == status, await response.text()
    if status == 403:
        assert (await response.json())["error"] == "identity-refused"


async def test_given_a_signed_returning_customer_then_the_same_customer_is_found(
    stack: Stack,
) -> None:
    await ready(stack, "alice")
    first = await start_chat(stack.client, identity=signed("u-42"))
    second = await start_chat(stack.client, identity=signed("u-42"), name="Someone Else")
    chat = stack.services.chat
    assert chat is not None
    one = await chat.service.store.by_id(first["conversation_id"])
    two = await chat.service.store.by_id(second["conversation_id"])
    assert one is not None and two is not None
    assert one["customer_id"] == two["customer_id"]
    assert SECRET not in str(one)


async def test_given_a_flood_then_the_excess_is_refused_and_every_acked_message_is_stored_once(
    stack: Stack,
) -> None:
    await ready(stack, "alice")
    session = await start_chat(stack.client)
    visitor = await open_visitor(stack.client)
    await visitor.hello(session["token"])
    for index in range(40):  # the limit is 30 a minute
        await visitor.send({"type": "send", "client_id": f"f{index}", "text": f"spam {index}"})
    acks: list[frames.Ack] = []
    errors: list[str] = []
    while len(acks) + len(errors) < 40:
        frame = await visitor.next()
        if isinstance(frame, frames.Ack):
            acks.append(frame)
        elif isinstance(frame, frames.Error):
            errors.append(frame.error)
    assert len(acks) == 30 and errors == ["rate-limited"] * 10
    # Still connected: a read receipt is taken, and the stored stream is the acked one.
    await visitor.send({"type": "read", "seq": 1})
    history = await stack.client.get(
        f"/chat/api/conversations/{session['conversation_id']}/messages",
        headers={"Origin": SHOP, "X-Chat-Token": session["token"]},
    )
    stored = [m["client_id"] for m in (await history.json())["items"]]
    assert sorted(stored) == sorted(a.client_id for a in acks)
    await visitor.close()


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (b"\xff\xfe not utf-8", (Close.INVALID_PAYLOAD, "not-utf8")),
        ("{not json", (Close.INVALID_PAYLOAD, "not-json")),
        (b"binary", (Close.UNSUPPORTED_DATA, "binary-not-supported")),
        ("x" * 5000, (Close.MESSAGE_TOO_BIG, "frame-too-big")),
    ],
)
async def test_given_garbage_frames_then_a_clear_error_and_nothing_acked_is_lost(
    stack: Stack, frame: str | bytes, expected: tuple[int, str]
) -> None:
    await ready(stack, "alice")
    session = await start_chat(stack.client)
    visitor = await open_visitor(stack.client)
    await visitor.hello(session["token"])
    await visitor.send({"type": "send", "client_id": "ok1", "text": "before"})
    await visitor.until(frames.Ack)
    if isinstance(frame, bytes) and frame.startswith(b"\xff"):
        await visitor.ws._writer.send_frame(frame, 0x1)  # a text frame of invalid UTF-8
    elif isinstance(frame, bytes):
        await visitor.ws.send_bytes(frame)
    else:
        await visitor.ws.send_str(frame)
    assert await visitor.closed() == expected
    back = await open_visitor(stack.client)
    await back.hello(session["token"])
    restored = await back.until(frames.Message)
    assert (restored.client_id, restored.text) == ("ok1", "before")
    await back.close()


async def test_given_a_too_long_message_or_an_unknown_frame_then_an_error_and_the_socket_stays(
    stack: Stack,
) -> None:
    await ready(stack, "alice")
    session = await start_chat(stack.client)
    visitor = await open_visitor(stack.client)
    await visitor.hello(session["token"])
    await visitor.send({"type": "send", "client_id": "long", "text": "x" * 600})
    assert (await visitor.next(frames.Error)).error == "message-too-long"
    await visitor.send({"type": "subscribe", "conversation": "c_other"})
    assert (await visitor.next(frames.Error)).error == "invalid-message"
    await visitor.send({"type": "send", "client_id": "short", "text": "fine"})
    assert (await visitor.until(frames.Ack)).client_id == "short"
    await visitor.close()


class _StuckSocket:
    """A peer that never reads: every send waits forever."""

    def __init__(self) -> None:
        self.sent = 0
        self.closed_with: int | None = None
        self.sending = asyncio.Event()

    async def send_frame(self, data: bytes, _kind: Any) -> None:
        self.sent += 1
        self.sending.set()
        await asyncio.Event().wait()

    async def close(self, *, code: int, message: bytes) -> bool:
        self.closed_with = code
        return True


async def test_given_a_slow_reader_then_its_queue_is_bounded_and_it_is_dropped_to_resume() -> None:
    socket = _StuckSocket()
    conversation = {"id": "c_x", "interaction_id": 1}
    connection = VisitorConnection(socket, conversation, queue_limit=4, resume_from=0)  # type: ignore[arg-type]
    connection.writer = asyncio.create_task(connection.run(None))  # type: ignore[arg-type]
    connection.push(b'{"type":"typing","from":"agent","on":false}')
    await asyncio.wait_for(socket.sending.wait(), 5)  # the writer is stuck on the peer
    for _ in range(10):
        connection.push(b'{"type":"typing","from":"agent","on":true}')
    assert connection.closed and connection.close_code == Close.TOO_SLOW
    assert len(connection.items) == 0  # what was queued is freed at once
    await connection.closed_fully()
    # The stuck send was abandoned and the socket closed with 1013: the visitor
    # reconnects and resumes from the store.
    assert socket.sent == 1 and socket.closed_with == Close.TOO_SLOW
    assert connection.writer.cancelled()
