"""A user's numbered stream on this node, and one tab's connection to it.

:class:`UserStream` numbers every message for one user (``seq``), keeps the recent ones
for a reconnecting tab to resume from, and hands each to the user's live connections
that watch its topic, in order. A message may be *pending*: an offer waiting for its
screen-pop. It holds back the messages after it (per user, never anyone else's) until
it is built.

:class:`Connection` is one tab: its topics and a bounded queue of frames that one
writer task sends. A tab whose queue is full is too slow or dead: it is dropped (close
code 1013) rather than let it hold memory or delay anybody, and it resumes when it
reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import WSMsgType, web

from agent_ui.hub.errors import CloseCode
from agent_ui.hub.messages import Error, encode
from contact_center.accounts import User

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_SECONDS = 5.0
# A healthy tab may fall this many times its queue limit behind in a burst (its writer
# has not had its turn yet); beyond it, memory says stop.
BURST_FACTOR = 4
Build = Callable[[], Awaitable[bytes | None]]


class Entry:
    """One numbered message of a user's stream."""

    __slots__ = ("at", "build", "frame", "seq", "started", "topic")

    def __init__(
        self, seq: int, topic: str, at: float, frame: bytes | None, build: Build | None
    ) -> None:
        self.seq = seq
        self.topic = topic
        self.at = at
        self.frame = frame
        # Pending entries: how to build the frame, and whether that has begun.
        self.build = build
        self.started = False

    @property
    def ready(self) -> bool:
        return self.build is None


class Connection:
    """One tab's websocket: what it watches and the frames waiting to be sent."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        user: User,
        *,
        queue_limit: int,
        request: web.Request | None = None,
        on_closed: Callable[[Connection], None] | None = None,
    ) -> None:
        self.ws = ws
        self.user = user
        self.request = request
        self.topics: set[str] = set()
        self.stream: UserStream | None = None
        self.queue_limit = queue_limit
        self.on_closed = on_closed
        self.checked_at = 0.0
        # The highest seq this tab has (or does not need: a snapshot covers it).
        self.floor = 0
        self.sent = 0
        self.closed = False
        self.close_code: int | None = None
        self._frames: deque[bytes] = deque()
        self._waiting_on_peer = False
        self._wakeup = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    @property
    def queued(self) -> int:
        return len(self._frames)

    def start(self) -> None:
        if self._writer is None and not self.closed:
            self._writer = asyncio.create_task(self._write(), name="hub-connection-writer")

    def push(self, frame: bytes) -> bool:
        """Queue one frame; a full queue drops this tab (it is too slow).

        Full means ``queue_limit`` frames while a send waits for the peer to read
        (the transport is paused), or, whatever the reason, :data:`BURST_FACTOR` times
        that (a burst the writer has had no turn to send yet)."""
        if self.closed:
            return False
        queued = len(self._frames)
        if queued >= self.queue_limit and (
            self._waiting_on_peer or queued >= self.queue_limit * BURST_FACTOR
        ):
            # No message before the close: a tab this far behind would not read it.
            self.close(CloseCode.TOO_SLOW, "too-slow", "", explain=False)
            return False
        self._frames.append(frame)
        self._wakeup.set()
        return True

    def push_first(self, frames: Iterable[bytes]) -> None:
        """Put frames before everything queued (the welcome and snapshot of a tab)."""
        if self.closed:
            return
        self._frames.extendleft(reversed(list(frames)))
        self._wakeup.set()

    async def _write(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._frames:
                    frame = self._frames.popleft()
                    # A send only suspends when the peer is not reading fast enough.
                    self._waiting_on_peer = True
                    await self.ws.send_frame(frame, WSMsgType.TEXT)
                    self._waiting_on_peer = False
                    self.sent += 1
        except asyncio.CancelledError:
            raise
        except (ConnectionError, RuntimeError) as exc:
            # The peer went away under us; the handler's read loop sees it too.
            log.debug("hub: send to user %s failed: %s", self.user.id, exc)
            self.close(CloseCode.GOING_AWAY, "", "")

    def close(self, code: CloseCode, error: str, message: str, *, explain: bool = True) -> None:
        """Stop queueing, tell the tab why (an ``error`` message first, if ``explain``)
        and close the socket, its reason the error id."""
        if self.closed:
            return
        self.closed = True
        self.close_code = int(code)
        self._frames.clear()
        if self.on_closed is not None:
            self.on_closed(self)
        self._closer = asyncio.create_task(
            self._close(code, error, message, explain), name="hub-close"
        )

    async def _close(self, code: CloseCode, error: str, message: str, explain: bool) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                if explain and error and not self.ws.closed:
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await self.ws.send_frame(
                            encode(Error(error=error, message=message)), WSMsgType.TEXT
                        )
                await self.ws.close(code=int(code), message=error.encode()[:120])
        except Exception:
            # A peer that reads nothing cannot take a close frame either.
            transport = self.request.transport if self.request is not None else None
            if transport is not None:
                transport.abort()

    async def closed_fully(self) -> None:
        """Wait until the writer and any close in progress have finished."""
        for task in (self._closer, self._writer):
            if task is not None and not task.done():
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    def stop_writer(self) -> None:
        if self._writer is not None and not self._writer.done():
            self._writer.cancel()


class UserStream:
    """One user's numbered messages on this node and their live connections."""

    def __init__(
        self,
        user: User,
        stream_id: str,
        *,
        max_entries: int,
        max_bytes: int,
        now: float,
    ) -> None:
        self.user = user
        self.stream_id = stream_id
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.seq = 0
        self.connections: list[Connection] = []
        # Topics watched by live connections (counted), and those of tabs that went away
        # (with when), kept for the resume window so a returning tab misses nothing.
        self.topic_counts: Counter[str] = Counter()
        self.held_topics: dict[str, float] = {}
        # The first seq recorded for each watched topic: a tab resuming from before it
        # cannot be served from the buffer.
        self.watched_from: dict[str, int] = {}
        # Sent entries kept for resuming, oldest first; entries not yet sent, in order.
        self.buffer: deque[Entry] = deque()
        self.buffer_bytes = 0
        self.unsent: deque[Entry] = deque()
        self.idle_since: float | None = now

    @property
    def topics(self) -> set[str]:
        return set(self.topic_counts) | set(self.held_topics)

    @property
    def live(self) -> bool:
        return bool(self.connections)

    def add(
        self,
        topic: str,
        at: float,
        *,
        frame_of: Callable[[int], bytes] | None = None,
        build_of: Callable[[int], Build] | None = None,
    ) -> Entry:
        """Number the next message: its frame now (``frame_of(seq)``), or a pending one
        built later (``build_of(seq)``: how to build it)."""
        self.seq += 1
        if build_of is not None:
            entry = Entry(self.seq, topic, at, None, build_of(self.seq))
        else:
            assert frame_of is not None
            entry = Entry(self.seq, topic, at, frame_of(self.seq), None)
        self.unsent.append(entry)
        self.flush()
        return entry

    def flush(self) -> None:
        """Send, in order, every entry up to the first still being built."""
        while self.unsent and self.unsent[0].ready:
            entry = self.unsent.popleft()
            if entry.frame is None:
                continue  # its build failed: a gap in the numbers, nothing to send
            self._keep(entry)
            for connection in self.connections:
                if entry.topic in connection.topics and entry.seq > connection.floor:
                    connection.push(entry.frame)

    def _keep(self, entry: Entry) -> None:
        assert entry.frame is not None
        self.buffer.append(entry)
        self.buffer_bytes += len(entry.frame)
        while self.buffer and (
            len(self.buffer) > self.max_entries or self.buffer_bytes > self.max_bytes
        ):
            self._forget_oldest()

    def _forget_oldest(self) -> None:
        old = self.buffer.popleft()
        self.buffer_bytes -= len(old.frame or b"")

    def trim(self, older_than: float) -> None:
        """Forget sent entries older than the resume window."""
        while self.buffer and self.buffer[0].at < older_than:
            self._forget_oldest()

    def missed(self, after: int, topics: set[str]) -> list[bytes] | None:
        """The frames a tab that last read ``after`` missed on ``topics`` (sent ones;
        unsent ones follow by themselves), or None if some may be no longer kept."""
        if after > self.seq:
            return None
        first_kept = self.buffer[0].seq if self.buffer else self._next_unsent_seq()
        if after + 1 < first_kept:
            return None
        for topic in topics:
            since = self.watched_from.get(topic)
            if since is None or since > after + 1:
                return None
        return [
            e.frame
            for e in self.buffer
            if e.seq > after and e.topic in topics and e.frame is not None
        ]

    def _next_unsent_seq(self) -> int:
        return self.unsent[0].seq if self.unsent else self.seq + 1

    def attach(self, connection: Connection) -> None:
        for topic in connection.topics:
            self._watch_topic(topic)
        connection.stream = self
        self.connections.append(connection)
        self.idle_since = None

    def detach(self, connection: Connection, now: float) -> None:
        """A tab went away: its topics are held for the resume window."""
        if connection not in self.connections:
            return
        self.connections.remove(connection)
        for topic in connection.topics:
            self.topic_counts[topic] -= 1
            if self.topic_counts[topic] <= 0:
                del self.topic_counts[topic]
                self.held_topics[topic] = now
        if not self.connections:
            self.idle_since = now

    def watch(self, connection: Connection, topic: str) -> None:
        if topic not in connection.topics:
            self._watch_topic(topic)
            connection.topics.add(topic)

    def _watch_topic(self, topic: str) -> None:
        if topic not in self.topic_counts and topic not in self.held_topics:
            self.watched_from[topic] = self.seq + 1
        self.held_topics.pop(topic, None)
        self.topic_counts[topic] += 1

    def unwatch(self, connection: Connection, topic: str) -> None:
        if topic not in connection.topics:
            return
        connection.topics.discard(topic)
        self.topic_counts[topic] -= 1
        if self.topic_counts[topic] <= 0:
            del self.topic_counts[topic]
            self.watched_from.pop(topic, None)

    def release_held(self, older_than: float) -> list[str]:
        """Stop recording topics of tabs gone longer than the resume window."""
        released = [t for t, since in self.held_topics.items() if since < older_than]
        for topic in released:
            del self.held_topics[topic]
            self.watched_from.pop(topic, None)
        return released

    def pending_builds(self) -> list[Entry]:
        return [e for e in self.unsent if e.build is not None and not e.started]

    def describe(self) -> dict[str, Any]:
        return {
            "stream": self.stream_id,
            "seq": self.seq,
            "connections": len(self.connections),
            "buffered": len(self.buffer),
            "unsent": len(self.unsent),
        }
