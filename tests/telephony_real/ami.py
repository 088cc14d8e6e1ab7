"""A small test-side AMI client: logs in to the real Asterisk and records every event.

It is the tests' own view of what happened on Asterisk (independent of the product's
CTI): a reader thread appends each event to a list, and tests wait on that list with a
deadline (``wait_for``) instead of sleeping. Events are plain header dicts; ``ts`` is
Asterisk's own ``Timestamp`` (``timestampevents = yes`` in the kit's manager.conf), on
the same clock as ``time.time()`` in the tests.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping

BANNER_PREFIX = b"Asterisk Call Manager"


@dataclasses.dataclass(frozen=True, slots=True)
class AmiEvent:
    """One AMI event: its headers (the last value wins when a key repeats)."""

    headers: Mapping[str, str]
    received: float

    @property
    def name(self) -> str:
        return self.headers.get("Event", "")

    @property
    def ts(self) -> float:
        """Asterisk's time of the event (the time it was read when it has none)."""
        raw = self.headers.get("Timestamp")
        return float(raw) if raw else self.received

    def get(self, key: str, default: str = "") -> str:
        return self.headers.get(key, default)

    def is_user_event(self, name: str) -> bool:
        return self.name == "UserEvent" and self.get("UserEvent") == name

    def __str__(self) -> str:
        keys = ("Channel", "DestChannel", "UserEvent", "DialStatus", "Cause", "BridgeUniqueid")
        parts = [f"{k}={self.headers[k]}" for k in keys if k in self.headers]
        return f"{self.ts:.3f} {self.name} " + " ".join(parts)


def parse_messages(data: bytes) -> tuple[list[dict[str, str]], bytes]:
    """Split ``data`` into complete AMI messages (header dicts) and the unread rest."""
    messages: list[dict[str, str]] = []
    while True:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return messages, data
        block, data = data[:end], data[end + 4 :]
        headers: dict[str, str] = {}
        for line in block.decode("utf-8", "replace").split("\r\n"):
            key, sep, value = line.partition(":")
            if sep:
                headers[key.strip()] = value.strip()
        if headers:
            messages.append(headers)


def events_from_bytes(data: bytes) -> list[AmiEvent]:
    """The events of a recorded AMI byte stream (the banner line is skipped)."""
    if data.startswith(BANNER_PREFIX):
        data = data[data.find(b"\r\n") + 2 :]
    messages, _ = parse_messages(data)
    return [AmiEvent(m, 0.0) for m in messages if "Event" in m]


class AmiMonitor:
    """Logs in with ``Events: on`` and records every event until ``close``."""

    def __init__(self, host: str, port: int, username: str, secret: str) -> None:
        self.host, self.port = host, port
        self._username, self._secret = username, secret
        self._sock: socket.socket | None = None
        self._events: list[AmiEvent] = []
        self._cond = threading.Condition()
        self._closed = False
        self._error = ""
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ life

    def connect(self, timeout: float = 10.0) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        banner = b""
        while b"\r\n" not in banner:
            chunk = sock.recv(256)
            if not chunk:
                raise ConnectionError("AMI closed before its banner")
            banner += chunk
        if not banner.startswith(BANNER_PREFIX):
            raise ConnectionError(f"not an AMI banner: {banner[:60]!r}")
        sock.sendall(
            (
                "Action: Login\r\n"
                f"Username: {self._username}\r\nSecret: {self._secret}\r\n"
                "Events: on\r\nActionID: test-login\r\n\r\n"
            ).encode()
        )
        rest = banner[banner.find(b"\r\n") + 2 :]
        deadline = time.monotonic() + timeout
        while True:
            messages, rest = parse_messages(rest)
            reply = next((m for m in messages if m.get("ActionID") == "test-login"), None)
            if reply is not None:
                break
            if time.monotonic() > deadline:
                raise TimeoutError("no reply to the AMI Login")
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("AMI closed during login")
            rest += chunk
        if reply.get("Response") != "Success":
            raise ConnectionError(f"AMI login as {self._username!r} refused: {reply}")
        sock.settimeout(None)
        self._sock = sock
        with self._cond:
            self._add(messages)
        self._thread = threading.Thread(
            target=self._read, args=(rest,), name="ami-monitor", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._closed = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
        if self._thread is not None:
            self._thread.join(5)

    def _read(self, rest: bytes) -> None:
        assert self._sock is not None
        try:
            while True:
                chunk = self._sock.recv(65536)
                if not chunk:
                    raise ConnectionError("Asterisk closed the AMI connection")
                messages, rest = parse_messages(rest + chunk)
                with self._cond:
                    self._add(messages)
        except OSError as exc:
            with self._cond:
                if not self._closed:
                    self._error = f"AMI monitor link lost: {exc}"
                self._cond.notify_all()

    def _add(self, messages: Iterable[dict[str, str]]) -> None:
        now = time.time()
        self._events.extend(AmiEvent(m, now) for m in messages if "Event" in m)
        self._cond.notify_all()

    # ------------------------------------------------------------------ queries

    def mark(self) -> int:
        """A position in the event list: pass it as ``since`` to look only at later events."""
        with self._cond:
            return len(self._events)

    def events(self, since: int = 0) -> list[AmiEvent]:
        with self._cond:
            return list(self._events[since:])

    def wait_for(
        self,
        predicate: Callable[[AmiEvent], bool],
        *,
        timeout: float,
        since: int = 0,
        count: int = 1,
        what: str = "event",
    ) -> list[AmiEvent]:
        """Wait until ``count`` events since ``since`` match; they are returned.

        Raises ``AssertionError`` (naming ``what`` and the last events seen) on timeout.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [e for e in self._events[since:] if predicate(e)]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0 or self._error:
                    seen = [e for e in self._events[since:] if e.name in INTERESTING]
                    recent = "\n  ".join(str(e) for e in seen[-40:])
                    raise AssertionError(
                        f"timed out after {timeout:.0f} s waiting for {what} "
                        f"({len(found)}/{count} seen){'; ' + self._error if self._error else ''}"
                        f"\nlast call events on Asterisk:\n  {recent or '(none)'}"
                    )
                self._cond.wait(left)


# Events worth showing in a failure message (the call's life, not VarSet noise).
INTERESTING = (
    "Newchannel",
    "UserEvent",
    "DialBegin",
    "DialEnd",
    "BridgeEnter",
    "BridgeLeave",
    "HangupRequest",
    "SoftHangupRequest",
    "Hangup",
)
