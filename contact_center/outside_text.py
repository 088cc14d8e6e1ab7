"""Text from outside (Asterisk, mail, chat, HTTP clients) made safe for a log line or a
status report: control characters escaped, length capped.

A bare newline in a value could forge a log line of its own; a value of 100 KB in a
public health report makes that report a way to amplify traffic. Every log line of the
server passes through :class:`EscapingFormatter`, and the edges use :func:`one_line`
for what they keep (last errors, rejection messages).
"""

from __future__ import annotations

import logging
import re

# Longest text kept from one outside value, and longest log message.
VALUE_LIMIT = 300
MESSAGE_LIMIT = 4000

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


def configure_logging(level: int | str) -> None:
    """The server's and the CLI's logging: one line per record, outside text escaped."""
    handler = logging.StreamHandler()
    handler.setFormatter(EscapingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
