"""AMI framing against the real captures, and bad input that must not hurt."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.errors import InvalidActionHeader
from cti.protocol import (
    AmiFramer,
    AmiMessage,
    Banner,
    MessageKind,
    ProtocolViolation,
    encode_action,
    frame_all,
    parse_message,
)
from tests.cti.conftest import CAPTURE_NAMES, CAPTURES, capture_bytes


@pytest.mark.parametrize("name", CAPTURE_NAMES)
def test_given_a_capture_when_framed_then_reencoding_gives_the_same_bytes(name: str) -> None:
    data = capture_bytes(name)
    frames = frame_all(data)
    assert isinstance(frames[0], Banner)
    assert frames[0].text == "Asterisk Call Manager/11.0.0"
    assert b"".join(f.encode() for f in frames if not isinstance(f, ProtocolViolation)) == data
    assert not any(isinstance(f, ProtocolViolation) for f in frames)
    assert all(f.bad_lines == 0 for f in frames if isinstance(f, AmiMessage))


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000])
def test_given_any_read_size_when_framed_then_the_same_messages_come_out(chunk: int) -> None:
    data = capture_bytes("f3-attended-transfer-atxfer")
    framer = AmiFramer()
    frames = []
    for i in range(0, len(data), chunk):
        frames += framer.feed(data[i : i + chunk])
    assert [f.encode() for f in frames] == [f.encode() for f in frame_all(data)]
    assert framer.pending_bytes == 0


def test_every_event_count_matches_the_capture_notes() -> None:
    # k-burst: "Events received ... total 668" in its notes.
    frames = frame_all(capture_bytes("k-burst-20-callers"))
    events = [f for f in frames if isinstance(f, AmiMessage) and f.kind is MessageKind.EVENT]
    assert len(events) == 668
    notes = (CAPTURES / "k-burst-20-callers.md").read_text()
    assert "| **total** | 668 |" in notes


def test_headers_keep_first_value_and_getall_returns_repeats() -> None:
    frames = frame_all(capture_bytes("j-resync-coreshowchannels-status"))
    status = [
        f
        for f in frames
        if isinstance(f, AmiMessage) and f.event == "Status" and "Variable" in f.headers
    ]
    assert status[0].getall("Variable") == ["CC_QUEUE=support", "SIPDOMAIN=127.0.0.1"]
    assert status[0].get("Variable") == "CC_QUEUE=support"


def test_empty_values_and_colon_without_space_are_read() -> None:
    msg = parse_message(b"Event: Newstate\r\nAccountCode: \r\nExten:\r\nOdd:value")
    assert msg.headers == {"Event": "Newstate", "AccountCode": "", "Exten": "", "Odd": "value"}
    assert msg.bad_lines == 0


def test_given_garbage_bytes_when_framed_then_they_are_skipped_and_counted() -> None:
    framer = AmiFramer(expect_banner=False)
    frames = framer.feed(b"\x00\xff\xfegarbage without colon\r\nEvent: Ping\r\n\r\n")
    assert len(frames) == 1
    msg = frames[0]
    assert isinstance(msg, AmiMessage)
    assert msg.event == "Ping"
    assert msg.bad_lines == 1
    # Non-UTF-8 bytes survive a round trip.
    assert msg.encode().startswith(b"\x00\xff\xfe")


def test_given_a_message_without_event_or_response_then_it_is_unknown_not_an_error() -> None:
    frames = frame_all(b"Foo: bar\r\n\r\n", expect_banner=False)
    assert isinstance(frames[0], AmiMessage)
    assert frames[0].kind is MessageKind.UNKNOWN


def test_given_a_truncated_message_then_nothing_is_emitted_until_it_completes() -> None:
    framer = AmiFramer(expect_banner=False)
    assert framer.feed(b"Event: Hangup\r\nChannel: PJSIP/1001-0") == []
    assert framer.pending_bytes > 0
    frames = framer.feed(b"0000002\r\n\r\n")
    assert isinstance(frames[0], AmiMessage)
    assert frames[0].get("Channel") == "PJSIP/1001-00000002"
    assert framer.reset() == 0


def test_given_a_1mb_header_line_then_it_is_discarded_and_the_next_message_is_read() -> None:
    framer = AmiFramer(expect_banner=False, max_message_bytes=64 * 1024)
    frames: list[object] = []
    frames += framer.feed(b"Event: Huge\r\nJunk: ")
    for _ in range(16):
        frames += framer.feed(b"x" * 65536)
    assert framer.pending_bytes <= 64 * 1024 + 3  # bounded memory while skipping
    frames += framer.feed(b"\r\n\r\nEvent: FullyBooted\r\n\r\n")
    violations = [f for f in frames if isinstance(f, ProtocolViolation)]
    messages = [f for f in frames if isinstance(f, AmiMessage)]
    assert len(violations) == 1
    assert violations[0].discarded_bytes > 1_000_000
    assert [m.event for m in messages] == ["FullyBooted"]


def test_given_an_oversized_message_inside_one_read_then_only_it_is_dropped() -> None:
    data = b"Event: A\r\n\r\nEvent: B\r\nX: " + b"y" * 5000 + b"\r\n\r\nEvent: C\r\n\r\n"
    frames = AmiFramer(expect_banner=False, max_message_bytes=1000).feed(data)
    assert [f.event if isinstance(f, AmiMessage) else "violation" for f in frames] == [
        "A",
        "violation",
        "C",
    ]


def test_encode_action_matches_the_recorded_bytes() -> None:
    recorded = (CAPTURES / "c-agent-answers-caller-hangs-up.actions.txt").read_bytes()
    redirect = encode_action(
        "Redirect",
        "c-agent-answers-caller-hangs-up-002",
        [
            ("Channel", "PJSIP/trunk-00000001"),
            ("Context", "cc-agent"),
            ("Exten", "1001"),
            ("Priority", "1"),
        ],
    )
    assert redirect in recorded


@pytest.mark.parametrize(
    ("key", "value"),
    [("Channel", "PJSIP/1001\r\nAction: Hangup"), ("Bad\nKey", "x"), ("Key:", "x"), ("", "x")],
)
def test_encode_action_refuses_header_injection(key: str, value: str) -> None:
    with pytest.raises(InvalidActionHeader) as err:
        encode_action("Redirect", "1", [(key, value)])
    assert err.value.error_id == "invalid-ami-header"


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=40196), max_size=30),
    junk=st.binary(max_size=200),
)
def test_any_chunking_with_junk_in_front_never_raises_and_keeps_every_message(
    cuts: list[int], junk: bytes
) -> None:
    data = capture_bytes("c-agent-answers-caller-hangs-up")
    expected = [f.encode() for f in frame_all(data) if isinstance(f, AmiMessage)]
    stream = data + junk.replace(b"\r\n\r\n", b"") + b"\r\n\r\n" + data.split(b"\r\n", 1)[1]
    framer = AmiFramer(max_message_bytes=4096)
    frames: list[object] = []
    previous = 0
    for cut in [*sorted(cuts), len(stream)]:
        frames += framer.feed(stream[previous:cut])
        previous = max(previous, cut)
    got = [f.encode() for f in frames if isinstance(f, AmiMessage)]
    # The first copy comes out whole and in order; the junk costs at most one message.
    assert got[: len(expected)] == expected
    assert len(got) >= 2 * len(expected) - 1
