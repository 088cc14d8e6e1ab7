"""``GET /chat/ws``: the visitor's websocket, and this node's registry of them.

One connection per widget tab. The handler checks the page's Origin (before the
upgrade against every site, after ``hello`` against the conversation's site), reads
frames and hands them to the service; a writer task per connection sends what the
conversation's numbered stream and the live state say, in order:

* **Exactly the missed items.** The writer keeps the last ``seq`` the visitor holds.
  An item at or below it is skipped (a duplicate); one further ahead than the next
  (the bus dropped or reordered something, or the visitor resumed) makes the writer
  read the gap from the store first. So a resume, a lost bus message or two nodes'
  posts racing never skip or repeat a number.
* **Bounded.** At most ``send_queue_frames`` frames wait per connection; a visitor who
  does not read them is disconnected (1013) and resumes on reconnect.
* **Hostile input** gets an ``error`` frame: non-fatal ones (too long, too fast) keep
  the socket; garbage (not UTF-8, not JSON, binary, too big) closes it after saying why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from chat import frames
from chat.errors import OriginRefused
from chat.events import ChatMessagePosted, ChatRead, ChatStatusChanged, ChatTyping
from chat.model import Origin, Status
from contact_center.bus import Subscription
from contact_center.errors import AppError, RateLimited

if TYPE_CHECKING:
    from chat.service import ChatService

log = logging.getLogger(__name__)

HELLO_TIMEOUT_SECONDS = 10.0
CLOSE_TIMEOUT_SECONDS = 5.0
# Sends refused for speed in a row before the socket is closed as a flood.
FLOOD_REFUSALS = 50
_FILL = object()


class Close:
    GOING_AWAY = 1001
    UNSUPPORTED_DATA = 1003
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TOO_SLOW = 1013
    TOKEN_INVALID = 4401
    ORIGIN_REFUSED = 4403


class VisitorSocket(web.WebSocketResponse):
    """Says why before the websocket layer closes by itself (too big, not UTF-8)."""

    max_bytes = 0

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True
    ) -> bool:
        if (
            not message
            and not self.closed
            and code in (Close.MESSAGE_TOO_BIG, Close.INVALID_PAYLOAD)
        ):
            error, text = (
                ("frame-too-big", f"frames are limited to {self.max_bytes} bytes")
                if code == Close.MESSAGE_TOO_BIG
                else ("not-utf8", "text frames must be UTF-8")
            )
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.send_frame(
                    frames.encode(frames.Error(error=error, message=text)), WSMsgType.TEXT
                )
            message = error.encode()
        return await super().close(code=code, message=message, drain=drain)


class Fatal(Exception):
    def __init__(self, code: int, error: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.error = error
        self.message = message


class VisitorConnection:
    def __init__(
        self,
        ws: web.WebSocketResponse,
        conversation: dict[str, Any],
        *,
        queue_limit: int,
        resume_from: int,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.conversation = conversation
        self.queue_limit = queue_limit
        self.last_seq = resume_from
        self.items: deque[Any] = deque()
        self.wakeup = asyncio.Event()
        self.closed = False
        self.close_code: int | None = None
        self.typing_until: float | None = None
        self.position: tuple[int, float | None] | None = None
        self.writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    @property
    def conversation_id(self) -> str:
        return str(self.conversation["id"])

    def push(self, item: Any) -> None:
        if self.closed:
            return
        if len(self.items) >= self.queue_limit:
            self.close(Close.TOO_SLOW, "too-slow", "the connection fell behind; reconnect")
            return
        self.items.append(item)
        self.wakeup.set()

    def close(self, code: int, error: str, message: str) -> None:
        """Queue an error frame and the close (the writer sends both, in order)."""
        if self.closed:
            return
        self.closed = True
        self.close_code = code
        self.items.clear()
        if code == Close.TOO_SLOW:
            # The writer is stuck on a peer that does not read: stop it and close (or,
            # when even the close frame cannot go, drop the connection).
            self._closer = asyncio.get_running_loop().create_task(self._drop(error))
            return
        self.items.append(frames.encode(frames.Error(error=error, message=message)))
        self.items.append(("close", code, error))
        self.wakeup.set()

    async def closed_fully(self) -> None:
        """Wait until the writer and a close in progress have finished."""
        for task in (self._closer, self.writer):
            if task is not None and not task.done():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(task, CLOSE_TIMEOUT_SECONDS + 1)

    async def _drop(self, error: str) -> None:
        if self.writer is not None:
            self.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.writer
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await self.ws.close(code=Close.TOO_SLOW, message=error.encode())
        except Exception:
            if self.transport is not None:
                self.transport.abort()

    async def run(self, service: ChatService) -> None:
        ws = self.ws
        try:
            while True:
                if not self.items:
                    self.wakeup.clear()
                    await self.wakeup.wait()
                    continue
                item = self.items.popleft()
                if isinstance(item, bytes):
                    await ws.send_frame(item, WSMsgType.TEXT)
                elif item is _FILL:
                    await self._fill(service, None)
                elif isinstance(item, tuple):
                    _, code, error = item
                    async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                        await ws.close(code=code, message=error.encode())
                    return
                else:
                    seq = int(item["seq"])
                    if seq <= self.last_seq:
                        continue
                    if seq > self.last_seq + 1:
                        await self._fill(service, seq)
                        continue
                    await ws.send_frame(frames.stream_frame(item), WSMsgType.TEXT)
                    self.last_seq = seq
        except (ConnectionError, RuntimeError, TimeoutError):
            pass  # the visitor went away: they resume on reconnect
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("chat: writer of conversation %s failed", self.conversation_id)
            with contextlib.suppress(Exception):
                await ws.close(code=Close.INTERNAL_ERROR, message=b"internal-error")

    async def _fill(self, service: ChatService, until: int | None) -> None:
        """Send every stored item after ``last_seq`` (up to ``until``), in order."""
        while until is None or self.last_seq < until:
            items = await service.store.messages_after(
                self.conversation["interaction_id"], self.last_seq, 200
            )
            if not items:
                return
            for item in items:
                if until is not None and item["seq"] > until:
                    return
                await self.ws.send_frame(frames.stream_frame(item), WSMsgType.TEXT)
                self.last_seq = item["seq"]
            if len(items) < 200:
                return


class VisitorSockets:
    """This node's visitor connections, fed from the bus's ``chat.*`` events."""

    def __init__(self, service: ChatService) -> None:
        self.service = service
        self.by_conversation: dict[str, set[VisitorConnection]] = {}
        self.accepting = True
        self._subscription: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.counters = {"connections": 0, "dropped_slow": 0, "refused": 0}

    async def start(self) -> None:
        self.accepting = True
        self._subscription = self.service.bus.subscribe(["chat.*"], maxsize=100_000)
        self._tasks = [
            asyncio.create_task(self._deliver(self._subscription), name="chat-deliver"),
            asyncio.create_task(self._upkeep(), name="chat-upkeep"),
        ]

    async def shutdown(self, _app: Any = None) -> None:
        self.accepting = False
        for connections in list(self.by_conversation.values()):
            for connection in list(connections):
                connection.close(
                    Close.GOING_AWAY, "server-stopping", "this server is stopping; reconnect"
                )
        for connections in list(self.by_conversation.values()):
            for connection in list(connections):
                if connection.writer is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(
                            asyncio.shield(connection.writer), CLOSE_TIMEOUT_SECONDS
                        )

    async def stop(self) -> None:
        await self.shutdown()
        if self._subscription is not None:
            self.service.bus.unsubscribe(self._subscription)
            self._subscription = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def add(self, connection: VisitorConnection) -> None:
        self.by_conversation.setdefault(connection.conversation_id, set()).add(connection)
        self.counters["connections"] += 1

    def remove(self, connection: VisitorConnection) -> None:
        found = self.by_conversation.get(connection.conversation_id)
        if found is not None:
            found.discard(connection)
            if not found:
                del self.by_conversation[connection.conversation_id]
        if connection.close_code == Close.TOO_SLOW:
            self.counters["dropped_slow"] += 1

    async def _deliver(self, subscription: Subscription) -> None:
        async for event in subscription:
            connections = self.by_conversation.get(getattr(event, "conversation_id", ""))
            if not connections:
                continue
            try:
                self._hand_out(event, connections)
            except Exception:
                log.exception("chat: could not deliver %s", event.name)

    def _hand_out(self, event: Any, connections: set[VisitorConnection]) -> None:
        if isinstance(event, ChatMessagePosted):
            for connection in list(connections):
                connection.push(event.message)
        elif isinstance(event, ChatTyping) and event.origin == Origin.AGENT.value:
            frame = frames.encode(frames.TypingFrame(from_="agent", on=event.on))
            for connection in list(connections):
                connection.push(frame)
        elif isinstance(event, ChatRead) and event.origin == Origin.AGENT.value:
            frame = frames.encode(frames.ReadFrame(from_="agent", seq=event.seq))
            for connection in list(connections):
                connection.push(frame)
        elif isinstance(event, ChatStatusChanged):
            for connection in list(connections):
                connection.conversation["status"] = event.status
                connection.conversation["agent_id"] = event.agent_id
                if event.status != Status.QUEUED.value:
                    connection.position = None

    async def _upkeep(self) -> None:
        interval = min(1.0, self.service.settings.position_interval_seconds)
        last_positions = 0.0
        while True:
            await asyncio.sleep(interval)
            try:
                now = self.service.clock()
                await self.expire_typing()
                if now - last_positions >= self.service.settings.position_interval_seconds:
                    last_positions = now
                    await self.positions()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("chat: upkeep failed; trying again")

    async def expire_typing(self) -> None:
        """Typing indicators nobody renewed for ``typing_timeout_seconds`` go off, the
        visitors' on this node and the agents' set through this node."""
        now = self.service.clock()
        await self.service.expire_agent_typing()
        for connections in list(self.by_conversation.values()):
            for connection in list(connections):
                if connection.typing_until is not None and connection.typing_until <= now:
                    connection.typing_until = None
                    await self.service.visitor_typing(connection.conversation, False)

    async def positions(self) -> int:
        """Tell every waiting visitor on this node their place and estimated wait (only
        when it changed); how many were told."""
        routing = self.service.routing
        if routing is None:
            return 0
        told = 0
        for connections in list(self.by_conversation.values()):
            queued = [c for c in connections if c.conversation["status"] == Status.QUEUED.value]
            if not queued:
                continue
            try:
                contact = await routing.describe_contact(queued[0].conversation["contact_id"])
            except AppError:
                continue
            if contact["position"] is None:
                continue
            position = (int(contact["position"]), contact["estimated_wait_seconds"])
            frame = frames.encode(
                frames.Position(position=position[0], estimated_wait_seconds=position[1])
            )
            for connection in queued:
                if connection.position != position:
                    connection.position = position
                    connection.push(frame)
                    told += 1
        return told


async def visitor_socket(request: web.Request) -> web.StreamResponse:
    """Open a visitor's websocket (docs/chat.md)."""
    from chat.http import visitor_of
    from chat.wiring import CHAT, SOCKETS

    service = request.app[CHAT]
    sockets = request.app[SOCKETS]
    visitor = visitor_of(request)
    if not service.any_site_allows(visitor):
        raise OriginRefused("this page may not open chats")
    service.limit_address(visitor)
    ws = VisitorSocket(
        compress=False,
        heartbeat=20.0,
        max_msg_size=service.settings.max_frame_bytes,
        timeout=CLOSE_TIMEOUT_SECONDS,
    )
    ws.max_bytes = service.settings.max_frame_bytes
    if not ws.can_prepare(request).ok:
        from agent_ui.hub.errors import UpgradeRequired

        raise UpgradeRequired("this is a websocket endpoint: connect with a websocket upgrade")
    if not sockets.accepting:
        from contact_center.errors import ServiceUnavailable

        raise ServiceUnavailable("this server is stopping; connect again")
    await ws.prepare(request)
    connection: VisitorConnection | None = None
    try:
        hello = await _hello(ws)
        try:
            conversation = await service.visitor_conversation(hello.token)
        except AppError:
            raise Fatal(
                Close.TOKEN_INVALID, "chat-token-invalid", "this chat token is not valid"
            ) from None
        if not service.origin_allowed(service.site(conversation["site"]), visitor):
            raise Fatal(Close.ORIGIN_REFUSED, "origin-refused", "this page may not open this chat")
        latest = await service.store.by_id(conversation["id"])
        assert latest is not None
        connection = VisitorConnection(
            ws,
            latest,
            queue_limit=service.settings.send_queue_frames,
            resume_from=min(hello.resume_from, int(latest["last_seq"])),
            transport=request.transport,
        )
        connection.push(
            frames.encode(
                frames.Welcome(
                    conversation_id=latest["id"],
                    status=latest["status"],
                    seq=int(latest["last_seq"]),
                    agent_name=latest["agent_name"],
                    agent_read_seq=int(latest["agent_read_seq"]),
                    resumed=hello.resume_from > 0,
                    typing_timeout_seconds=service.settings.typing_timeout_seconds,
                )
            )
        )
        # Registered before reading the store: nothing posted from now on is missed,
        # and the writer skips what the fill already sent.
        sockets.add(connection)
        connection.push(_FILL)
        connection.writer = asyncio.create_task(connection.run(service), name="chat-visitor-writer")
        await _read_loop(ws, connection, service)
    except Fatal as exc:
        if connection is None or connection.writer is None:
            with contextlib.suppress(Exception):
                await ws.send_frame(
                    frames.encode(frames.Error(error=exc.error, message=exc.message)),
                    WSMsgType.TEXT,
                )
                await ws.close(code=exc.code, message=exc.error.encode())
        else:
            connection.close(exc.code, exc.error, exc.message)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("chat: a visitor connection failed")
        if connection is not None:
            connection.close(Close.INTERNAL_ERROR, "internal-error", "the server failed")
    finally:
        if connection is not None:
            sockets.remove(connection)
            if connection.typing_until is not None:
                with contextlib.suppress(Exception):
                    await service.visitor_typing(connection.conversation, False)
            if connection.writer is not None and not connection.closed:
                connection.writer.cancel()
            await connection.closed_fully()
        if not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
    return ws


async def _hello(ws: web.WebSocketResponse) -> frames.Hello:
    try:
        message = await ws.receive(timeout=HELLO_TIMEOUT_SECONDS)
    except TimeoutError:
        raise Fatal(
            Close.POLICY_VIOLATION,
            "hello-timeout",
            f"send hello within {HELLO_TIMEOUT_SECONDS:g} seconds of connecting",
        ) from None
    frame = _parse(message)
    if frame is None:
        raise Fatal(Close.GOING_AWAY, "closed", "the connection closed")
    if not isinstance(frame, frames.Hello):
        raise Fatal(Close.POLICY_VIOLATION, "hello-expected", "the first frame must be hello")
    return frame


def _parse(message: Any) -> frames.VisitorFrame | None:
    """The visitor's frame, None if the socket is closing; Fatal for garbage."""
    if message.type == WSMsgType.TEXT:
        try:
            return frames.visitor_decoder.decode(message.data)
        except msgspec.ValidationError as exc:
            raise _Invalid(_problem(exc)) from None
        except msgspec.DecodeError:
            raise Fatal(Close.INVALID_PAYLOAD, "not-json", "frames are JSON text") from None
    if message.type == WSMsgType.BINARY:
        raise Fatal(Close.UNSUPPORTED_DATA, "binary-not-supported", "send JSON text frames")
    return None


class _Invalid(Exception):
    """JSON, but not a known frame: answered, the connection stays."""


def _problem(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    problem, _, where = text.rpartition(" - at ")
    if not problem:
        problem, where = text, ""
    if "'" in problem or '"' in problem:
        problem = "Invalid value"
    return f"not a valid chat frame (docs/chat.md): {problem[:120]}" + (
        f" at {where[:120]}" if where else ""
    )


async def _read_loop(
    ws: web.WebSocketResponse, connection: VisitorConnection, service: ChatService
) -> None:
    refusals = 0
    async for message in ws:
        if connection.closed:
            return
        try:
            frame = _parse(message)
        except _Invalid as exc:
            connection.push(frames.encode(frames.Error(error="invalid-message", message=str(exc))))
            continue
        if frame is None:
            return
        try:
            await _handle(frame, connection, service)
            refusals = 0
        except RateLimited as exc:
            refusals += 1
            if refusals >= FLOOD_REFUSALS:
                raise Fatal(Close.POLICY_VIOLATION, "flooding", "far too many messages") from None
            connection.push(frames.encode(frames.Error(error=exc.error_id, message=exc.message)))
        except AppError as exc:
            connection.push(frames.encode(frames.Error(error=exc.error_id, message=exc.message)))


async def _handle(
    frame: frames.VisitorFrame, connection: VisitorConnection, service: ChatService
) -> None:
    conversation = connection.conversation
    if isinstance(frame, frames.Send):
        message, _ = await service.visitor_send(conversation, frame.client_id, frame.text)
        # Stored: now (and only now) acknowledged.
        connection.push(message)
        connection.push(frames.encode(frames.Ack(client_id=frame.client_id, seq=message["seq"])))
        if connection.typing_until is not None:
            connection.typing_until = None
    elif isinstance(frame, frames.Typing):
        was_on = connection.typing_until is not None
        connection.typing_until = (
            service.clock() + service.settings.typing_timeout_seconds if frame.on else None
        )
        if frame.on != was_on:
            await service.visitor_typing(conversation, frame.on)
    elif isinstance(frame, frames.Read):
        await service.read(conversation, Origin.VISITOR, frame.seq)
    elif isinstance(frame, frames.End):
        await service.end(conversation, Origin.VISITOR)
        conversation["status"] = Status.ENDED.value
    else:
        raise Fatal(Close.POLICY_VIOLATION, "hello-repeated", "hello is sent once, first")
