"""Outside text on a log line or in a status report: one line, bounded."""

from __future__ import annotations

import io
import logging

from contact_center.outside_text import MESSAGE_LIMIT, EscapingFormatter, one_line


def test_given_control_characters_then_they_are_escaped_and_long_values_cut() -> None:
    assert one_line("bad\nINFO forged line\r\x00\u2028") == "bad\\nINFO forged line\\r\\x00\\x2028"
    cut = one_line("x" * 1000, 10)
    assert cut == "xxxxxxxxxx…[990 more]"


def test_given_a_forged_log_line_then_the_log_still_has_one_line_per_record() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(EscapingFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.outside_text")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("login rejected: %s", "no\nERROR admin logged in")
        logger.warning("flood %s", "y" * 100_000)
        try:
            raise ValueError("boom\nERROR forged by a peer " + "z" * 100_000)
        except ValueError:
            logger.exception("with a traceback")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "WARNING login rejected: no\\nERROR admin logged in"
    assert len(lines[1]) < MESSAGE_LIMIT + 100
    assert lines[2] == "ERROR with a traceback"
    # The traceback keeps its lines, each marked as part of the record above it: an
    # exception quoting a peer's text cannot start a line that looks like a record.
    assert lines[3] == "| Traceback (most recent call last):"
    assert all(line.startswith("| ") for line in lines[3:])
    assert any(line.startswith("| ERROR forged by a peer zzzz") for line in lines)
    assert max(len(line) for line in lines[3:]) < MESSAGE_LIMIT + 100
