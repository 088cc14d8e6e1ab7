"""Text from outside (Asterisk, mail, chat, HTTP clients) made safe for a log line or a
status report: control characters escaped, length capped.

A bare newline in a value could forge a log line of its own; a value of 100 KB in a
public health report makes that report a way to amplify traffic. Every log line of the
server passes through :class:`EscapingFormatter`, and the edges use :func:`one_line`
for what they keep (last errors, rejection messages). A traceback keeps its lines, but
each starts with ``| ``: an exception's message may quote outside text too, and no line
of it can then pass for a log record of its own.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# Longest text kept from one outside value, and longest log message.
VALUE_LIMIT = 300
MESSAGE_LIMIT = 4000
# Lines kept of one traceback (the first and last halves).
TRACEBACK_LINE_LIMIT = 200
TRACEBACK_PREFIX = "| "

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{ord(char):02x}")


def one_line(value: object, limit: int = VALUE_LIMIT) -> str:
    """``value`` as text on one line, control characters escaped, at most ``limit``
    characters (a cut value ends with ``…[N more]``)."""
    text = _CONTROL.sub(_escape, str(value))
    if len(text) > limit:
        text = f"{text[:limit]}…[{len(text) - limit} more]"
    return text


class EscapingFormatter(logging.Formatter):
    """Formats every record with its message on one line and bounded; a traceback, which
    the server itself writes, keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message, MESSAGE_LIMIT)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return _continuation(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _continuation(super().formatStack(stack_info))


def _continuation(text: str) -> str:
    """A traceback's lines, each marked as the continuation of its record and bounded."""
    lines = text.splitlines()
    if len(lines) > TRACEBACK_LINE_LIMIT:
        half = TRACEBACK_LINE_LIMIT // 2
        cut = len(lines) - 2 * half
        lines = [*lines[:half], f"... {cut} lines cut", *lines[-half:]]
    return "\n".join(TRACEBACK_PREFIX + one_line(line, MESSAGE_LIMIT) for line in lines)


def configure_logging(level: int | str) -> None:
    """The server's and the CLI's logging: one line per record, outside text escaped."""
    handler = logging.StreamHandler()
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
