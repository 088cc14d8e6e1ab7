"""Every frame of the visitor's websocket (``GET /chat/ws``), both ways: the one schema.

docs/chat.md lists them with their fields; tests decode every frame the server sends
with :data:`server_decoder` (unknown fields refused), so the two cannot drift.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

ClientId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class _Frame(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type"
):
    pass


# -- visitor -> server --------------------------------------------------------------


class Hello(_Frame, frozen=True, kw_only=True, tag="hello"):
    token: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    resume_from: Annotated[int, msgspec.Meta(ge=0)] = 0


class Send(_Frame, frozen=True, kw_only=True, tag="send"):
    client_id: ClientId
    # The length limit is the site's (checked after decoding, answered with an error).
    text: Annotated[str, msgspec.Meta(min_length=1)]


class Typing(_Frame, frozen=True, kw_only=True, tag="typing"):
    on: bool


class Read(_Frame, frozen=True, kw_only=True, tag="read"):
    seq: Annotated[int, msgspec.Meta(ge=0)]


class End(_Frame, frozen=True, kw_only=True, tag="end"):
    pass


VisitorFrame = Hello | Send | Typing | Read | End
visitor_decoder: msgspec.json.Decoder[VisitorFrame] = msgspec.json.Decoder(VisitorFrame)


# -- server -> visitor ----------------------------------------------------------------


class AttachmentView(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str
    content_type: str
    size: int
    # An image the widget may show inline.
    preview: bool


class Welcome(_Frame, frozen=True, kw_only=True, tag="welcome"):
    conversation_id: str
    status: str
    seq: int
    agent_name: str | None
    agent_read_seq: int
    resumed: bool
    typing_timeout_seconds: float


class Message(_Frame, frozen=True, kw_only=True, tag="message"):
    seq: int
    client_id: str | None
    # "from" is a keyword in Python: the field is renamed on the wire.
    from_: str = msgspec.field(name="from")
    text: str
    at: float
    sender_name: str | None
    attachment: AttachmentView | None = None


class NoticeFrame(_Frame, frozen=True, kw_only=True, tag="notice"):
    seq: int
    kind: str
    at: float
    agent_name: str | None


class Ack(_Frame, frozen=True, kw_only=True, tag="ack"):
    client_id: str
    seq: int


class TypingFrame(_Frame, frozen=True, kw_only=True, tag="typing"):
    from_: str = msgspec.field(name="from")
    on: bool


class ReadFrame(_Frame, frozen=True, kw_only=True, tag="read"):
    from_: str = msgspec.field(name="from")
    seq: int


class Position(_Frame, frozen=True, kw_only=True, tag="position"):
    position: int
    estimated_wait_seconds: float | None


class Error(_Frame, frozen=True, kw_only=True, tag="error"):
    error: str
    message: str


ServerFrame = Welcome | Message | NoticeFrame | Ack | TypingFrame | ReadFrame | Position | Error
server_decoder: msgspec.json.Decoder[ServerFrame] = msgspec.json.Decoder(ServerFrame)
encode = msgspec.json.Encoder().encode

VISITOR_FRAMES: tuple[type[_Frame], ...] = (Hello, Send, Typing, Read, End)
SERVER_FRAMES: tuple[type[_Frame], ...] = (
    Welcome,
    Message,
    NoticeFrame,
    Ack,
    TypingFrame,
    ReadFrame,
    Position,
    Error,
)


def stream_frame(message: dict[str, Any]) -> bytes:
    """The frame of a stored stream item (a message dict as the store returns it)."""
    if message["notice"] is not None:
        return encode(
            NoticeFrame(
                seq=message["seq"],
                kind=message["notice"],
                at=message["at"],
                agent_name=message["sender_name"],
            )
        )
    attachment = message.get("attachment")
    return encode(
        Message(
            seq=message["seq"],
            client_id=message["client_id"],
            from_=message["from"],
            text=message["text"],
            at=message["at"],
            sender_name=message["sender_name"],
            attachment=None if attachment is None else msgspec.convert(attachment, AttachmentView),
        )
    )
