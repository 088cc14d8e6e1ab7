"""One AMI link per Asterisk server: login, ping watchdog, reconnect, health.

Our own asyncio client on top of :mod:`cti.protocol` (see the Decisions section
of ``docs/cti.md`` for why not panoramisk or asterisk-ami). The link

* logs in with the plain secret or the MD5 challenge, then puts a
  :class:`LinkUp` marker in its event queue so the consumer resynchronises
  before it applies any newer event;
* matches responses to actions by ActionID and collects ``EventList`` replies
  (CoreShowChannels, BridgeList, Status) until their ``...Complete`` event;
* pings every ``ping_interval`` seconds and *awaits* the Pong: no reply within
  the timeout drops the link (a half-open TCP connection looks idle forever);
* hands events to one consumer through a bounded queue. If the consumer falls
  that far behind, the link is dropped and rebuilt by resync instead of
  growing memory or blocking the reader (which would also block the replies
  the resync itself waits for);
* reconnects with exponential backoff and jitter; a rejected login waits the
  maximum delay, so a wrong secret does not hammer Asterisk.

Actions still pending when the link drops fail with :class:`AsteriskUnavailable`:
telephony actions are not idempotent (re-sending a Redirect after a reconnect
could move a call that has moved on), so the caller decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import hashlib
import itertools
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from contact_center.outside_text import one_line
from contact_center.settings import AsteriskServer
from cti.errors import AsteriskRejected, AsteriskTimeout, AsteriskUnavailable, LoginFailed
from cti.protocol import (
    AmiFramer,
    AmiMessage,
    Banner,
    MessageKind,
    ProtocolViolation,
    encode_action,
)

log = logging.getLogger(__name__)


class LinkState(enum.StrEnum):
    STOPPED = "stopped"
    CONNECTING = "connecting"
    LOGGING_IN = "logging_in"
    UP = "up"
    WAITING_TO_RETRY = "waiting_to_retry"
    LOGIN_REJECTED = "login_rejected"


@dataclasses.dataclass(frozen=True, slots=True)
class LinkUp:
    """Queued after every successful login: resynchronise before the events behind it."""

    generation: int
    at: float


@dataclasses.dataclass(slots=True)
class LinkHealth:
    """What ``/status`` shows for one Asterisk server."""

    server: str
    host: str
    port: int
    state: LinkState = LinkState.STOPPED
    connected: bool = False
    logged_in: bool = False
    asterisk_version: str = ""
    connected_since: float | None = None
    last_event_at: float | None = None
    last_error: str = ""
    last_error_at: float | None = None
    reconnect_attempts: int = 0
    connections: int = 0
    events_received: int = 0
    protocol_violations: int = 0
    queue_depth: int = 0

    def to_dict(self) -> dict[str, object]:
        data = dataclasses.asdict(self)
        data["state"] = str(self.state)
        data["ok"] = self.logged_in
        return data


class AmiLinkPort(Protocol):
    """What the CTI service needs from an AMI link (real TCP or in-process twin)."""

    name: str
    events: asyncio.Queue[AmiMessage | LinkUp]

    async def send_action(
        self, action: str, headers: Iterable[tuple[str, str]] = (), *, timeout: float | None = None
    ) -> AmiMessage: ...

    async def send_list_action(
        self, action: str, headers: Iterable[tuple[str, str]] = (), *, timeout: float | None = None
    ) -> tuple[AmiMessage, list[AmiMessage]]: ...

    def health(self) -> LinkHealth: ...


@dataclasses.dataclass(slots=True)
class _Pending:
    future: asyncio.Future[tuple[AmiMessage, list[AmiMessage]]]
    is_list: bool
    response: AmiMessage | None = None
    items: list[AmiMessage] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with jitter: attempt n waits between half and all of base*2^n."""

    base: float = 0.5
    maximum: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.maximum, self.base * (2 ** min(attempt, 30)))
        return rng.uniform(ceiling / 2, ceiling)

    def after_login_rejected(self, rng: random.Random) -> float:
        return rng.uniform(self.maximum * 0.8, self.maximum)


class AmiLink:
    """The real adapter: one TCP connection to one Asterisk's manager port."""

    def __init__(
        self,
        server: AsteriskServer,
        *,
        ping_interval: float = 20.0,
        ping_timeout: float = 5.0,
        action_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        reconnect_max: float = 30.0,
        reconnect_base: float = 0.5,
        queue_size: int = 10_000,
        max_message_bytes: int = 256 * 1024,
        events_filter: str = "on",
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.server = server
        self.name = server.name
        self.events: asyncio.Queue[AmiMessage | LinkUp] = asyncio.Queue(maxsize=queue_size)
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._action_timeout = action_timeout
        self._connect_timeout = connect_timeout
        self._backoff = Backoff(reconnect_base, reconnect_max)
        self._max_message = max_message_bytes
        self._events_filter = events_filter
        self._clock = clock
        self._rng = rng or random.Random()
        self._health = LinkHealth(server=server.name, host=server.host, port=server.port)
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._id_prefix = f"cc-{server.name}-{random.getrandbits(32):08x}"
        self._writer: asyncio.StreamWriter | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._up = asyncio.Event()
        self._generation = 0
        self._closing: set[asyncio.StreamWriter] = set()
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._runner is None or self._runner.done():
            self._stopping.clear()
            self._runner = asyncio.create_task(self._run(), name=f"ami-{self.name}")

    async def stop(self) -> None:
        self._stopping.set()
        writer = self._writer
        if writer is not None and self._health.logged_in:
            with contextlib.suppress(Exception):
                writer.write(encode_action("Logoff", self._next_id()))
                await asyncio.wait_for(writer.drain(), 1.0)
        self._close()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        await self._closed()
        self._health.state = LinkState.STOPPED
        self._notify()

    async def wait_up(self, timeout: float) -> None:
        """Wait until logged in (tests and start-up checks)."""
        await asyncio.wait_for(self._up.wait(), timeout)

    def health(self) -> LinkHealth:
        self._health.queue_depth = self.events.qsize()
        return dataclasses.replace(self._health)

    # ------------------------------------------------------------------ actions

    def _next_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    async def send_action(
        self, action: str, headers: Iterable[tuple[str, str]] = (), *, timeout: float | None = None
    ) -> AmiMessage:
        response, _ = await self._send(action, headers, is_list=False, timeout=timeout)
        return response

    async def send_list_action(
        self, action: str, headers: Iterable[tuple[str, str]] = (), *, timeout: float | None = None
    ) -> tuple[AmiMessage, list[AmiMessage]]:
        return await self._send(action, headers, is_list=True, timeout=timeout)

    async def _send(
        self,
        action: str,
        headers: Iterable[tuple[str, str]],
        *,
        is_list: bool,
        timeout: float | None,
        login: bool = False,
    ) -> tuple[AmiMessage, list[AmiMessage]]:
        writer = self._writer
        if writer is None or (not self._health.logged_in and not login):
            raise AsteriskUnavailable(
                f"Asterisk server {self.name!r} is not connected ({self._health.state})",
                details={"server": self.name, "last_error": self._health.last_error},
            )
        action_id = self._next_id()
        data = encode_action(action, action_id, headers)
        future: asyncio.Future[tuple[AmiMessage, list[AmiMessage]]] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending[action_id] = _Pending(future, is_list)
        try:
            writer.write(data)
            response, items = await asyncio.wait_for(
                future, timeout if timeout is not None else self._action_timeout
            )
        except TimeoutError:
            raise AsteriskTimeout(
                f"Asterisk server {self.name!r} did not answer {action} in time",
                details={"server": self.name, "action": action},
            ) from None
        finally:
            self._pending.pop(action_id, None)
        if response.get("Response") == "Error":
            raise AsteriskRejected(
                response.get("Message") or f"{action} failed",
                details={"server": self.name, "action": action},
            )
        return response, items

    # ------------------------------------------------------------------ loop

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            rejected = False
            generation = self._generation
            try:
                await self._session()
            except LoginFailed as exc:
                rejected = True
                self._record_error(f"login rejected: {exc.message}")
                log.error(
                    "ami[%s] login as %r rejected by %s:%s: %s; check the secret in "
                    "[asterisk.servers]",
                    self.name,
                    self.server.username,
                    self.server.host,
                    self.server.port,
                    exc.message,
                )
            except (
                OSError,
                TimeoutError,
                ConnectionError,
                asyncio.IncompleteReadError,
                AsteriskUnavailable,
                AsteriskTimeout,
                AsteriskRejected,
            ) as exc:
                self._record_error(f"{type(exc).__name__}: {exc}")
            except Exception as exc:
                # A bug must not end the link for good: log it and reconnect.
                log.exception("ami[%s] unexpected failure", self.name)
                self._record_error(f"unexpected {type(exc).__name__}: {exc}")
            finally:
                self._close()
            if self._generation != generation:
                attempt = 0  # it was up: start the backoff from the beginning
            await self._closed()
            if self._stopping.is_set():
                break
            attempt += 1
            self._health.reconnect_attempts += 1
            if rejected:
                delay = self._backoff.after_login_rejected(self._rng)
                self._health.state = LinkState.LOGIN_REJECTED
                self._notify()
            else:
                delay = self._backoff.delay(attempt - 1, self._rng)
                self._health.state = LinkState.WAITING_TO_RETRY
                self._notify()
            log.warning(
                "ami[%s] link to %s:%s down (%s); reconnecting in %.1f s (attempt %d)",
                self.name,
                self.server.host,
                self.server.port,
                self._health.last_error,
                delay,
                attempt,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _session(self) -> None:
        self._health.state = LinkState.CONNECTING
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.server.host, self.server.port), self._connect_timeout
        )
        self._writer = writer
        self._health.connected = True
        self._health.connections += 1
        self._notify()
        log.info("ami[%s] connected to %s:%s", self.name, self.server.host, self.server.port)
        lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        read_task = asyncio.create_task(self._read(reader, lost), name=f"ami-{self.name}-read")
        ping_task: asyncio.Task[None] | None = None
        try:
            self._health.state = LinkState.LOGGING_IN
            await self._login()
            self._generation += 1
            now = self._clock()
            self._health.logged_in = True
            self._health.state = LinkState.UP
            self._notify()
            self._health.connected_since = now
            self._health.reconnect_attempts = 0
            self._up.set()
            log.info("ami[%s] logged in as %r", self.name, self.server.username)
            self._enqueue(LinkUp(self._generation, now), lost)
            ping_task = asyncio.create_task(self._ping_loop(lost), name=f"ami-{self.name}-ping")
            reason = await asyncio.shield(lost) if not lost.done() else lost.result()
            raise ConnectionError(reason)
        finally:
            self._up.clear()
            for task in (read_task, ping_task):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    async def _login(self) -> None:
        timeout = self._action_timeout
        if self.server.md5_auth:
            challenge, _ = await self._send(
                "Challenge", [("AuthType", "MD5")], is_list=False, timeout=timeout, login=True
            )
            digest = hashlib.md5(  # noqa: S324 - the AMI challenge protocol is MD5
                (challenge.get("Challenge") + self.server.secret).encode()
            ).hexdigest()
            headers = [("AuthType", "MD5"), ("Username", self.server.username), ("Key", digest)]
        else:
            headers = [("Username", self.server.username), ("Secret", self.server.secret)]
        headers.append(("Events", self._events_filter))
        try:
            await self._send("Login", headers, is_list=False, timeout=timeout, login=True)
        except AsteriskRejected as exc:
            raise LoginFailed(exc.message, details={"server": self.name}) from None

    async def _read(self, reader: asyncio.StreamReader, lost: asyncio.Future[str]) -> None:
        framer = AmiFramer(max_message_bytes=self._max_message)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    dropped = framer.pending_bytes
                    reason = "connection closed by Asterisk"
                    if dropped:
                        reason += f" ({dropped} bytes of a partial message dropped)"
                    _settle(lost, reason)
                    self._fail_pending(reason)
                    return
                for frame in framer.feed(data):
                    if isinstance(frame, AmiMessage):
                        self._dispatch(frame, lost)
                    elif isinstance(frame, Banner):
                        self._health.asterisk_version = frame.text
                    elif isinstance(frame, ProtocolViolation):
                        self._health.protocol_violations += 1
                        self._notify()
                        log.warning(
                            "ami[%s] bad input skipped: %s (%d bytes)",
                            self.name,
                            frame.reason,
                            frame.discarded_bytes,
                        )
        except (OSError, ConnectionError) as exc:
            _settle(lost, f"read failed: {exc}")
            self._fail_pending(f"read failed: {exc}")

    def _dispatch(self, msg: AmiMessage, lost: asyncio.Future[str]) -> None:
        kind = msg.kind
        action_id = msg.headers.get("ActionID")
        pending = self._pending.get(action_id) if action_id else None
        if kind is MessageKind.RESPONSE:
            if pending is None:
                log.debug("ami[%s] response for unknown ActionID %s", self.name, action_id)
                return
            if pending.is_list and msg.get("EventList").lower() == "start":
                pending.response = msg
            elif not pending.future.done():
                pending.future.set_result((msg, []))
            return
        if kind is MessageKind.EVENT:
            self._health.events_received += 1
            self._health.last_event_at = self._clock()
            if pending is not None and pending.is_list and pending.response is not None:
                if msg.get("EventList").lower() == "complete":
                    if not pending.future.done():
                        pending.future.set_result((pending.response, pending.items))
                else:
                    pending.items.append(msg)
                return
            self._enqueue(msg, lost)
            return
        log.debug("ami[%s] message with neither Event nor Response ignored", self.name)

    def _enqueue(self, item: AmiMessage | LinkUp, lost: asyncio.Future[str]) -> None:
        try:
            self.events.put_nowait(item)
        except asyncio.QueueFull:
            log.error(
                "ami[%s] event queue full (%d): dropping the link to resync",
                self.name,
                self.events.maxsize,
            )
            _settle(lost, "event queue overflow: consumer too slow")

    async def _ping_loop(self, lost: asyncio.Future[str]) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._ping_interval)
            if self._stopping.is_set():
                return
            try:
                await self.send_action("Ping", timeout=self._ping_timeout)
            except AsteriskTimeout:
                _settle(lost, f"no Pong within {self._ping_timeout:.1f} s")
                return
            except AsteriskUnavailable:
                return

    def _fail_pending(self, reason: str) -> None:
        """Every action waiting for a reply fails now: the reply cannot come any more."""
        for action_id, pending in list(self._pending.items()):
            if not pending.future.done():
                pending.future.set_exception(
                    AsteriskUnavailable(
                        f"AMI link to {self.name!r} lost before the reply ({reason})",
                        details={"server": self.name, "action_id": action_id},
                    )
                )
        self._pending.clear()

    def _record_error(self, text: str) -> None:
        # The text may quote what the peer sent (a login rejection's Message): kept on
        # one line and bounded, since /status shows it to anyone.
        self._health.last_error = one_line(text)
        self._health.last_error_at = self._clock()
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_health(
        self, predicate: Callable[[LinkHealth], bool], timeout: float = 5.0
    ) -> LinkHealth:
        """Wait until the health satisfies ``predicate`` (tests, start-up checks, /status)."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                health = self.health()
                if predicate(health):
                    return health
                await changed.wait()

    def _close(self) -> None:
        writer, self._writer = self._writer, None
        self._health.connected = False
        self._health.logged_in = False
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.close()
            self._closing.add(writer)
        self._fail_pending("link closed")

    async def _closed(self) -> None:
        """Let closed transports finish closing (no socket outlives the link)."""
        writers, self._closing = self._closing, set()
        for writer in writers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)


def _settle(future: asyncio.Future[str], reason: str) -> None:
    if not future.done():
        future.set_result(reason)
