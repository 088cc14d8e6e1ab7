"""AMI wire format: framing received bytes into messages and encoding actions.

Pure and byte-exact: :class:`AmiFramer` turns the bytes Asterisk sends (a banner
line, then ``Key: Value`` CRLF lines, each message ended by an empty line) into
:class:`AmiMessage` objects that keep their original bytes, so re-encoding a
parsed stream gives back the same bytes. Bad input never raises: oversized
messages are discarded up to the next message boundary and reported as
:class:`ProtocolViolation`, lines without a colon are counted and skipped.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Sequence

from cti.errors import InvalidActionHeader

TERMINATOR = b"\r\n\r\n"
LINE_END = "\r\n"
BANNER_PREFIX = b"Asterisk Call Manager/"
# A real Status reply with AllVariables of a busy channel is a few KiB; anything
# far beyond this is garbage or an attack and must not grow our buffer forever.
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024


class MessageKind(enum.StrEnum):
    EVENT = "event"
    RESPONSE = "response"
    UNKNOWN = "unknown"


class AmiMessage:
    """One AMI message: headers (first occurrence of each key) plus the raw bytes."""

    __slots__ = ("bad_lines", "headers", "raw")

    def __init__(self, raw: bytes, headers: dict[str, str], bad_lines: int = 0) -> None:
        self.raw = raw
        self.headers = headers
        self.bad_lines = bad_lines

    @property
    def kind(self) -> MessageKind:
        if "Event" in self.headers:
            return MessageKind.EVENT
        if "Response" in self.headers:
            return MessageKind.RESPONSE
        return MessageKind.UNKNOWN

    @property
    def event(self) -> str:
        return self.headers.get("Event", "")

    @property
    def action_id(self) -> str:
        return self.headers.get("ActionID", "")

    def get(self, key: str, default: str = "") -> str:
        return self.headers.get(key, default)

    def getall(self, key: str) -> list[str]:
        """Every value of a repeated header (``Variable:`` lines of a Status reply)."""
        prefix = key + ":"
        values = []
        for line in _decode(self.raw).split(LINE_END):
            if line.startswith(prefix):
                values.append(line[len(prefix) :].removeprefix(" "))
        return values

    def encode(self) -> bytes:
        return self.raw + TERMINATOR

    def __repr__(self) -> str:
        label = self.event or self.headers.get("Response", "?")
        return f"AmiMessage({label!r}, {len(self.headers)} headers)"


@dataclasses.dataclass(frozen=True, slots=True)
class Banner:
    """The greeting line, e.g. ``Asterisk Call Manager/11.0.0``."""

    text: str
    raw: bytes

    @property
    def version(self) -> str:
        return self.text.partition("/")[2]

    def encode(self) -> bytes:
        return self.raw + b"\r\n"


@dataclasses.dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """Input that could not be framed (reported, never raised)."""

    reason: str
    discarded_bytes: int


Frame = AmiMessage | Banner | ProtocolViolation


def _decode(raw: bytes) -> str:
    # surrogateescape keeps any byte (Latin-1 caller names, garbage) round-trippable.
    return raw.decode("utf-8", "surrogateescape")


def parse_message(raw: bytes) -> AmiMessage:
    """Parse one message block (without its terminating empty line)."""
    headers: dict[str, str] = {}
    bad = 0
    for line in _decode(raw).split(LINE_END):
        key, sep, value = line.partition(": ")
        if not sep:
            # Tolerate "Key:value" and "Key:" (empty value without the space).
            key, sep, value = line.partition(":")
            if not sep or not key:
                if line:
                    bad += 1
                continue
        if key not in headers:
            headers[key] = value
    return AmiMessage(raw, headers, bad)


class AmiFramer:
    """Incremental framer: feed received chunks, get complete frames back."""

    def __init__(
        self, *, expect_banner: bool = True, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    ) -> None:
        self._buffer = b""
        self._expect_banner = expect_banner
        self._max = max_message_bytes
        self._skipping = False
        self._skipped = 0

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete message held (lost if the link drops now)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        buffer = self._buffer + data if self._buffer else data
        if self._expect_banner and buffer:
            end = buffer.find(b"\r\n")
            if end < 0:
                if len(buffer) > self._max:
                    frames.append(ProtocolViolation("banner line too long", len(buffer)))
                    self._expect_banner = False
                    buffer = b""
                self._buffer = buffer
                return frames
            line = buffer[:end]
            if line.startswith(BANNER_PREFIX):
                frames.append(Banner(_decode(line), line))
                buffer = buffer[end + 2 :]
            self._expect_banner = False
        if self._skipping:
            buffer = self._skip(buffer, frames)
        start = 0
        find = buffer.find
        while True:
            end = find(TERMINATOR, start)
            if end < 0:
                break
            if end - start > self._max:
                frames.append(
                    ProtocolViolation(f"message larger than {self._max} bytes", end - start + 4)
                )
            elif end > start:
                frames.append(parse_message(buffer[start:end]))
            start = end + 4
        rest = buffer[start:]
        if len(rest) > self._max:
            self._skipping = True
            self._skipped = 0
            rest = self._skip(rest, frames)
        self._buffer = rest
        return frames

    def _skip(self, buffer: bytes, frames: list[Frame]) -> bytes:
        """Drop bytes of an oversized message until the next message boundary."""
        end = buffer.find(TERMINATOR)
        if end < 0:
            # Keep 3 bytes: the terminator may straddle two reads.
            self._skipped += max(len(buffer) - 3, 0)
            return buffer[-3:]
        self._skipped += end + 4
        frames.append(ProtocolViolation(f"message larger than {self._max} bytes", self._skipped))
        self._skipping = False
        self._skipped = 0
        return buffer[end + 4 :]

    def reset(self) -> int:
        """Forget buffered bytes (new connection); returns how many were dropped."""
        dropped = len(self._buffer)
        self._buffer = b""
        self._skipping = False
        self._skipped = 0
        self._expect_banner = True
        return dropped


def frame_all(data: bytes, *, expect_banner: bool = True) -> list[Frame]:
    """Frame a complete capture in one go (tests, benchmarks, the simulator)."""
    return AmiFramer(expect_banner=expect_banner, max_message_bytes=len(data) + 1).feed(data)


def _check(text: str, what: str) -> str:
    if "\r" in text or "\n" in text:
        raise InvalidActionHeader(f"{what} must not contain a line break: {text!r}")
    return text


def encode_action(action: str, action_id: str, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """Bytes of one action. Rejects CR/LF in any key or value (header injection)."""
    parts = [
        f"Action: {_check(action, 'action name')}",
        f"ActionID: {_check(action_id, 'ActionID')}",
    ]
    for key, value in headers:
        _check(key, "header name")
        if not key or ":" in key:
            raise InvalidActionHeader(f"bad header name {key!r}")
        parts.append(f"{key}: {_check(value, key)}")
    return ("\r\n".join(parts) + "\r\n\r\n").encode("utf-8")


def encode_message(headers: Sequence[tuple[str, str]]) -> bytes:
    """Bytes of a message in the order given (the simulated PBX writes with this)."""
    return ("\r\n".join(f"{k}: {v}" for k, v in headers) + "\r\n\r\n").encode(
        "utf-8", "surrogateescape"
    )
