"""The live hub: every console tab's websocket on this node, each user's numbered stream,
topics and their authorisation, resume and snapshots, and the periodic upkeep.

What to say and to whom is the notifier's decision (agent_ui/hub/notifier.py); the hub
numbers it per user, buffers it for resuming and queues it for each watching tab.

* **Sequence and resume.** Each user has one stream per node, named by an id that is
  new whenever the node (re)starts or the stream is dropped; every message for the
  user takes the stream's next ``seq``. A tab's ``hello`` may quote the stream and the
  last ``seq`` it read: if this node still holds everything after it on the tab's
  topics, exactly those messages follow; otherwise a snapshot of the current state
  does. A reconnect that lands on another node therefore gets a snapshot (docs/hub.md,
  "Decisions").
* **Bounded.** Per user, the buffer keeps ``console.resume_messages`` messages (and at
  most 1 MiB) for the resume window; per tab, ``console.send_queue_messages`` frames
  wait at most, beyond which the tab is dropped (close 1013) and resumes on reconnect.
* **Upkeep** (:meth:`Hub.tick`, every few seconds): presence (agents gone longer than the
  grace go not ready), expiry of streams and held topics after the resume window, and
  re-authentication of long-lived connections (a logout, a disabled account or a
  revoked token closes the socket with 4401; a changed role with 4403).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from agent_ui.hub.errors import CloseCode, TopicRefused
from agent_ui.hub.messages import (
    MAX_TOPICS,
    Hello,
    Refused,
    Snapshot,
    StreamMessage,
    Subscribed,
    Unsubscribed,
    Welcome,
    encode,
)
from agent_ui.hub.presence import Presence
from agent_ui.hub.streams import Connection, Entry, UserStream
from agent_ui.hub.topics import WALLBOARD, authorise, personal_topics
from contact_center.accounts import Role, User
from contact_center.errors import AppError

if TYPE_CHECKING:
    from contact_center.services import Services
    from contact_center.settings import ConsoleSettings
    from contact_center.wallboard import Wallboard

log = logging.getLogger(__name__)

MAX_BUFFER_BYTES = 1024 * 1024
BUILD_TIMEOUT_SECONDS = 5.0
REAUTH_SECONDS = 60.0
REAUTH_PER_TICK = 500
# Streams and held topics outlive the grace by this much, so a tab back just in time
# still finds the messages sent while it was away.
RESUME_MARGIN_SECONDS = 30.0

MessageBuilder = Callable[[User, int, str], Awaitable[StreamMessage | None]]


class Payloads(Protocol):
    """What the hub asks of the notifier."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def snapshot(self, user: User, topics: set[str], seq: int) -> Snapshot: ...

    async def holds_customer(self, user: User, customer_id: str) -> bool: ...

    def board_frame(self) -> bytes | None: ...


class Hub:
    def __init__(
        self,
        services: Services,
        *,
        settings: ConsoleSettings,
        presence: Presence,
        clock: Callable[[], float],
        tick_seconds: float | None = None,
    ) -> None:
        self.services = services
        self.settings = settings
        self.presence = presence
        self.clock = clock
        # None: no background upkeep (tests call tick() themselves).
        self.tick_seconds = tick_seconds
        self.payloads: Payloads | None = None
        # Computes (on one node) and keeps the live wallboard (contact_center/wallboard.py).
        self.wallboard: Wallboard | None = None
        self.node = secrets.token_hex(4)
        self.streams: dict[int, UserStream] = {}
        self.watchers: dict[str, set[UserStream]] = {}
        self.connections: set[Connection] = set()
        self.accepting = True
        self.counters = {"dropped_slow": 0, "resyncs": 0, "builds_failed": 0, "snapshots": 0}
        self._stream_counter = 0
        self._builds: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        # Notified whenever a tab comes or goes (see wait_until).
        self._changed = asyncio.Condition()
        self._recording = 0

    @property
    def retention_seconds(self) -> float:
        return self.settings.disconnect_grace_seconds + RESUME_MARGIN_SECONDS

    # -- lifetime ------------------------------------------------------------------

    async def start(self) -> None:
        self.node = secrets.token_hex(4)
        self.accepting = True
        if self.payloads is not None:
            await self.payloads.start()
        if self.wallboard is not None:
            self.wallboard.watched = lambda: bool(self.watchers.get(WALLBOARD))
            await self.wallboard.start()
        if self.tick_seconds is not None and self._ticker is None:
            self._ticker = asyncio.create_task(self._tick_forever(), name="hub-upkeep")
        self.services.health["hub"] = self._health

    async def _health(self) -> dict[str, Any]:
        return self.health()

    async def shutdown(self, _app: Any = None) -> None:
        """Close every tab (1001: reconnect, to another node if this one is going)."""
        self.accepting = False
        live_agents = self._live_agents()
        for connection in list(self.connections):
            connection.close(CloseCode.GOING_AWAY, "server-stopping", "this server is stopping")
        for connection in list(self.connections):
            await connection.closed_fully()
        if live_agents:
            # Their grace starts now; a console reconnecting elsewhere is seen again.
            with contextlib.suppress(Exception):
                await self.presence.seen(live_agents)

    async def stop(self) -> None:
        self.services.health.pop("hub", None)
        await self.shutdown()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self.wallboard is not None:
            await self.wallboard.stop()
        if self.payloads is not None:
            await self.payloads.stop()
        for task in list(self._builds):
            task.cancel()
        await asyncio.gather(*self._builds, return_exceptions=True)
        await self.presence.store.close()

    async def _tick_forever(self) -> None:
        assert self.tick_seconds is not None
        while True:
            await asyncio.sleep(self.tick_seconds)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hub: upkeep failed; trying again next tick")

    # -- what the notifier says ----------------------------------------------------

    def publish(self, topic: str, message: StreamMessage) -> None:
        """Number ``message`` for every user watching ``topic`` and send it to their tabs."""
        for stream in list(self.watchers.get(topic, ())):

            def frame_of(seq: int, topic: str = topic) -> bytes:
                return encode(msgspec.structs.replace(message, seq=seq, topic=topic))

            stream.add(topic, message.at, frame_of=frame_of)
            self._bound(stream)

    def push_state(self, topic: str, frame: bytes) -> None:
        """Send ``frame`` to every tab watching ``topic``, outside the numbered streams:
        a state that replaces the one before (the wallboard), not an event to resume."""
        for stream in list(self.watchers.get(topic, ())):
            for connection in list(stream.connections):
                if topic in connection.topics:
                    connection.push(frame)

    def _board_frame(self, topics: set[str]) -> bytes | None:
        if WALLBOARD not in topics or self.payloads is None:
            return None
        if self.wallboard is not None:
            self.wallboard.poke()
        return self.payloads.board_frame()

    def publish_built(self, topic: str, at: float, build: MessageBuilder) -> None:
        """Like :meth:`publish` for a message built per user, later (an offer and its
        screen-pop, fetched as that user). It keeps its place in each user's order;
        for a user with no live tab it is built only when a tab comes back."""
        for stream in list(self.watchers.get(topic, ())):

            def build_of(
                seq: int, stream: UserStream = stream, topic: str = topic
            ) -> Callable[[], Awaitable[bytes | None]]:
                async def run() -> bytes | None:
                    message = await build(stream.user, seq, topic)
                    return None if message is None else encode(message)

                return run

            entry = stream.add(topic, at, build_of=build_of)
            if stream.live:
                self._start_build(stream, entry)
            self._bound(stream)

    def _start_build(self, stream: UserStream, entry: Entry) -> None:
        entry.started = True
        task = asyncio.create_task(self._build(stream, entry), name="hub-build")
        self._builds.add(task)
        task.add_done_callback(self._builds.discard)

    async def _build(self, stream: UserStream, entry: Entry) -> None:
        assert entry.build is not None
        frame: bytes | None = None
        try:
            async with asyncio.timeout(BUILD_TIMEOUT_SECONDS):
                frame = await entry.build()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.counters["builds_failed"] += 1
            log.exception("hub: building message %d for user %s failed", entry.seq, stream.user.id)
        entry.frame = frame
        entry.build = None
        stream.flush()

    def _bound(self, stream: UserStream) -> None:
        # A user with no tab and a pending message piles up entries behind it: past the
        # buffer's size, start over (a returning tab gets a snapshot).
        if len(stream.unsent) > stream.max_entries:
            self._restart_stream(stream)

    def resync_all(self, reason: str) -> None:
        """This node lost events (the bus dropped some): every stream starts over and every
        tab reconnects to a snapshot."""
        self.counters["resyncs"] += 1
        log.warning("hub: %s; every console reconnects to a snapshot", reason)
        for connection in list(self.connections):
            connection.close(CloseCode.RESYNC, "resync", reason)
        for stream in list(self.streams.values()):
            self._restart_stream(stream)

    def _restart_stream(self, stream: UserStream) -> None:
        for connection in list(stream.connections):
            connection.close(CloseCode.RESYNC, "resync", "messages were lost; reconnect")
        self._stream_counter += 1
        stream.stream_id = f"{self.node}-{self._stream_counter}"
        stream.buffer.clear()
        stream.buffer_bytes = 0
        stream.unsent.clear()
        stream.watched_from = {t: stream.seq + 1 for t in stream.topics}

    # -- connections -----------------------------------------------------------------

    async def open(self, connection: Connection, hello: Hello) -> None:
        """Register a tab after its hello: welcome, then what it missed or a snapshot."""
        user = connection.user
        topics = set(personal_topics(user))
        refused: list[Refused] = []
        for topic in dict.fromkeys(hello.topics):
            if topic in topics:
                continue
            try:
                await self._authorise(user, topic, len(topics))
            except TopicRefused as exc:
                refused.append(Refused(topic=topic, error=exc.error, message=exc.message))
                continue
            topics.add(topic)
        stream = self._stream_of(user)
        missed: list[bytes] | None = None
        resume = hello.resume_from
        if resume is not None and resume.stream == stream.stream_id:
            missed = stream.missed(resume.seq, topics)
        # From here to attach nothing awaits, so no message falls between the two.
        connection.topics = topics
        connection.floor = resume.seq if missed is not None and resume is not None else stream.seq
        connection.checked_at = self.clock()
        seq = stream.seq
        self._attach(stream, connection)
        welcome = Welcome(
            user_id=user.id,
            role=user.role.value,
            stream=stream.stream_id,
            seq=seq,
            resumed=missed is not None,
            topics=sorted(topics),
            disconnect_grace_seconds=self.settings.disconnect_grace_seconds,
        )
        first = [encode(welcome), *(encode(r) for r in refused)]
        if missed is not None:
            first.extend(missed)
        else:
            self.counters["snapshots"] += 1
            first.append(encode(await self._snapshot(user, topics, seq)))
        board = self._board_frame(topics)
        if board is not None:
            first.append(board)
        connection.push_first(first)
        connection.start()
        for entry in stream.pending_builds():
            self._start_build(stream, entry)
        await self._seen_later([user.id] if user.role is Role.AGENT else [])

    async def _snapshot(self, user: User, topics: set[str], seq: int) -> Snapshot:
        if self.payloads is None:
            return Snapshot(seq=seq, agent=None, offers=[], contacts=[], statistics=None)
        return await self.payloads.snapshot(user, topics, seq)

    async def subscribe(self, connection: Connection, topic: str) -> None:
        stream = connection.stream
        if stream is None or connection.closed:
            return
        if topic in connection.topics:
            connection.push(encode(Subscribed(topic=topic, seq=stream.seq)))
            return
        try:
            await self._authorise(connection.user, topic, len(connection.topics))
        except TopicRefused as exc:
            connection.push(encode(Refused(topic=topic, error=exc.error, message=exc.message)))
            return
        if connection.closed:
            return
        before = stream.topics
        stream.watch(connection, topic)
        self._reindex(stream, before)
        connection.push(encode(Subscribed(topic=topic, seq=stream.seq)))
        board = self._board_frame({topic})
        if board is not None:
            connection.push(board)

    def unsubscribe(self, connection: Connection, topic: str) -> None:
        stream = connection.stream
        if stream is None or connection.closed:
            return
        if topic in personal_topics(connection.user):
            connection.push(
                encode(
                    Refused(
                        topic=topic,
                        error="personal-topic",
                        message="an agent always watches their own topic",
                    )
                )
            )
            return
        before = stream.topics
        stream.unwatch(connection, topic)
        self._reindex(stream, before)
        connection.push(encode(Unsubscribed(topic=topic)))

    def forget(self, connection: Connection) -> None:
        """A tab is gone (closed by either side): stop queueing for it."""
        self.connections.discard(connection)
        stream = connection.stream
        if stream is None:
            return
        if connection.close_code == CloseCode.TOO_SLOW:
            self.counters["dropped_slow"] += 1
        before = stream.topics
        stream.detach(connection, self.clock())
        connection.stream = None
        self._reindex(stream, before)
        # The grace runs from the last console's end, on whichever node it was.
        gone = [stream.user.id] if stream.user.role is Role.AGENT and not stream.live else []
        self._recording += 1  # counted from now, so `settled` never reads too early
        task = asyncio.create_task(self._seen_after_forget(gone), name="hub-presence")
        self._builds.add(task)
        task.add_done_callback(self._builds.discard)

    async def _seen_later(self, user_ids: list[int]) -> None:
        self._recording += 1
        try:
            await self.presence.seen(user_ids)
        except Exception:
            log.exception("hub: could not record the presence of %s", user_ids)
        finally:
            self._recording -= 1
        await self._notify_changed()

    async def _seen_after_forget(self, user_ids: list[int]) -> None:
        self._recording -= 1
        await self._seen_later(user_ids)

    @property
    def settled(self) -> bool:
        """No presence record of a tab that came or went is still being written."""
        return self._recording == 0

    async def _notify_changed(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, condition: Callable[[], bool], timeout: float) -> None:
        """Wait until ``condition()`` holds, checked each time a tab comes or goes (and
        its presence is recorded)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(condition)

    async def _authorise(self, user: User, topic: str, watching: int) -> None:
        if watching >= MAX_TOPICS + len(personal_topics(user)):
            raise TopicRefused("too-many-topics", f"a tab may watch at most {MAX_TOPICS} topics")
        queues = self.services.settings.routing.get("queues", {})
        await authorise(user, topic, queues=queues, holds_customer=self._holds_customer)

    async def _holds_customer(self, user: User, customer_id: str) -> bool:
        if self.payloads is None:
            return False
        return await self.payloads.holds_customer(user, customer_id)

    def _stream_of(self, user: User) -> UserStream:
        stream = self.streams.get(user.id)
        if stream is None:
            self._stream_counter += 1
            stream = UserStream(
                user,
                f"{self.node}-{self._stream_counter}",
                max_entries=self.settings.resume_messages,
                max_bytes=MAX_BUFFER_BYTES,
                now=self.clock(),
            )
            self.streams[user.id] = stream
        else:
            stream.user = user  # the freshest copy (role, name) wins
        return stream

    def _attach(self, stream: UserStream, connection: Connection) -> None:
        before = stream.topics
        stream.attach(connection)
        self._reindex(stream, before)
        connection.on_closed = self.forget
        self.connections.add(connection)

    def _reindex(self, stream: UserStream, before: set[str]) -> None:
        after = stream.topics
        for topic in before - after:
            watchers = self.watchers.get(topic)
            if watchers is not None:
                watchers.discard(stream)
                if not watchers:
                    del self.watchers[topic]
        for topic in after - before:
            self.watchers.setdefault(topic, set()).add(stream)

    def is_live(self, user_id: int) -> bool:
        stream = self.streams.get(user_id)
        return stream is not None and stream.live

    def _live_agents(self) -> list[int]:
        return [uid for uid, s in self.streams.items() if s.live and s.user.role is Role.AGENT]

    # -- upkeep ------------------------------------------------------------------------

    async def tick(self) -> dict[str, Any]:
        """Presence, expiry and re-authentication; what it did (for tests and logs)."""
        now = self.clock()
        await self.presence.seen(self._live_agents())
        paused = await self.presence.sweep(self.is_live)
        cutoff = now - self.retention_seconds
        expired = 0
        for user_id, stream in list(self.streams.items()):
            before = stream.topics
            stream.release_held(cutoff)
            stream.trim(cutoff)
            if not stream.live and stream.idle_since is not None and stream.idle_since < cutoff:
                stream.held_topics.clear()
                del self.streams[user_id]
                expired += 1
            self._reindex(stream, before)
        closed = await self._recheck(now)
        return {"paused": paused, "expired_streams": expired, "closed": closed}

    async def _recheck(self, now: float) -> int:
        """Authenticate long-lived connections again, as a new request would be."""
        from agent_ui.middlewares import authenticate

        due = [
            c
            for c in self.connections
            if c.request is not None and not c.closed and now - c.checked_at >= REAUTH_SECONDS
        ]
        closed = 0
        for connection in due[:REAUTH_PER_TICK]:
            assert connection.request is not None
            try:
                principal = await authenticate(connection.request)
            except AppError as exc:
                connection.close(CloseCode.UNAUTHENTICATED, exc.error_id, exc.message)
                closed += 1
                continue
            except Exception:
                log.exception("hub: could not check user %s again", connection.user.id)
                continue
            if principal.user.role is not connection.user.role:
                connection.close(
                    CloseCode.ROLE_CHANGED,
                    "role-changed",
                    "your role changed; reconnect to be authorised again",
                )
                closed += 1
                continue
            connection.checked_at = now
        return closed

    def health(self) -> dict[str, Any]:
        return {
            "ok": True,
            "connections": len(self.connections),
            "streams": len(self.streams),
            **self.counters,
        }
