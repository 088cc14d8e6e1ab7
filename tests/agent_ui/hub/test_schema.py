"""One schema, documented: every message type the server sends shows up in a scenario
and matches agent_ui/hub/messages.py, and docs/hub.md lists every message and field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec

from agent_ui.hub.hub import Hub
from agent_ui.hub.messages import (
    CLIENT_MESSAGES,
    SERVER_MESSAGES,
    AgentStateUpdate,
    AgentStatus,
    Board,
    CallSummary,
    CallUpdate,
    ChatAttachment,
    ChatMessageView,
    ChatUpdate,
    ContactSummary,
    ContactUpdate,
    Offer,
    OfferExplanation,
    OfferView,
    ResumePoint,
    Subscribed,
    TransferView,
    Unsubscribed,
    encode,
    server_decoder,
)
from chat.events import ChatMessagePosted
from contact_center.board_view import WALLBOARD_PARTS
from contact_center.services import Services
from cti.events import CallChanged, CallDirection
from tests.agent_ui.conftest import Caller
from tests.agent_ui.hub.conftest import Connect, enqueue, ready

DOC = Path(__file__).resolve().parents[3] / "docs" / "hub.md"
PARTS = (
    ResumePoint,
    AgentStatus,
    OfferView,
    OfferExplanation,
    ContactSummary,
    TransferView,
    CallSummary,
    ChatMessageView,
    ChatAttachment,
    *WALLBOARD_PARTS,
)


def _name(struct: type[msgspec.Struct]) -> str:
    tag = struct.__struct_config__.tag
    return tag if isinstance(tag, str) else struct.__name__


async def test_given_a_day_in_the_console_then_every_server_message_type_is_sent_and_valid(
    connect: Connect,
    agent: Caller,
    supervisor: Caller,
    routed: Services,
    hub: Hub,
    customer: dict[str, Any],
) -> None:
    assert routed.routing is not None
    await ready(routed, agent)
    desk = await connect(agent)
    await desk.hello()
    wall = await connect(supervisor)
    await wall.hello(topics=["agents", "nowhere"])  # welcome, refused, snapshot
    await wall.send({"type": "subscribe", "topic": "queue:support"})
    await wall.next(Subscribed)
    await wall.send({"type": "subscribe", "topic": "wallboard"})
    await wall.until(Board)
    await enqueue(routed, "call-1", customer_id=customer["id"])
    await desk.next(Offer)
    await wall.until(ContactUpdate)
    await routed.bus.publish(
        [
            ChatMessagePosted(
                at=1.0,
                conversation_id="c_0123456789",
                contact_id="chat-c_0123456789",
                agent_id=str(agent.user_id),
                message={
                    "seq": 1, "client_id": "m1", "from": "visitor", "text": "<b>hi</b>",
                    "at": 1.0, "sender_name": "Ada", "notice": None,
                    "attachment": {"id": "a_123456789", "name": "x.png",
                                   "content_type": "image/png", "size": 9, "preview": True},
                },
            )
        ]
    )  # fmt: skip
    chat = await desk.until(ChatUpdate)
    assert chat.message is not None and chat.message.text == "<b>hi</b>"
    await routed.routing.not_ready(str(agent.user_id), "lunch")
    await desk.until(AgentStateUpdate)
    # The CTI's view of a call reaches the agent whose phone has it.
    await routed.bus.publish([_call_changed(str(agent.user_id))])
    call = await desk.until(CallUpdate)
    assert call.transfer is not None and call.transfer.target == {"queue": "sales"}
    await wall.send({"type": "unsubscribe", "topic": "queue:support"})
    await wall.until(Unsubscribed)
    await desk.send({"type": "hello"})
    await desk.closed()  # error, then the close

    seen = {type(m) for m in desk.received + wall.received}
    assert seen == set(SERVER_MESSAGES)
    # Each decoded message encodes back to what the schema decodes again.
    for message in desk.received + wall.received:
        assert server_decoder.decode(encode(message)) == message


def _call_changed(agent_id: str) -> CallChanged:
    return CallChanged(
        at=1.0,
        server="pbx1",
        call_id="pbx1:1795392925.1",
        state="talking",
        direction=CallDirection.INBOUND,
        held=False,
        recording=True,
        transfer={"mode": "blind", "target": {"queue": "sales"}, "state": "queued"},
        agent_id=agent_id,
        caller_number="+442079460018",
        queue="support",
    )


def _documented() -> dict[str, set[str]]:
    """Section name -> the fields its table lists, from docs/hub.md."""
    sections: dict[str, set[str]] = {}
    current: str | None = None
    for line in DOC.read_text().splitlines():
        heading = re.match(r"^### `(\w+)`\s*$", line)
        if heading:
            current = heading.group(1)
            sections[current] = set()
            continue
        if line.startswith("#"):
            current = None
            continue
        row = re.match(r"^\| `(\w+)` \|", line)
        if current is not None and row:
            sections[current].add(row.group(1))
    return sections


def test_given_the_schema_then_docs_hub_md_lists_every_message_and_every_field() -> None:
    documented = _documented()
    for struct in (*CLIENT_MESSAGES, *SERVER_MESSAGES, *PARTS):
        name = _name(struct)
        assert name in documented, f"docs/hub.md has no section for {name}"
        fields = {f.encode_name for f in msgspec.structs.fields(struct)}
        assert documented[name] == fields, name
    known = {_name(s) for s in (*CLIENT_MESSAGES, *SERVER_MESSAGES, *PARTS)}
    assert set(documented) == known, "docs/hub.md documents messages the schema lacks"


def test_given_a_message_with_an_unknown_or_missing_field_then_the_schema_refuses_it() -> None:
    valid = encode(Subscribed(topic="agents", seq=3))
    assert server_decoder.decode(valid) == Subscribed(topic="agents", seq=3)
    for raw in (
        b'{"type":"subscribed","topic":"agents","seq":3,"extra":1}',
        b'{"type":"subscribed","topic":"agents"}',
        b'{"type":"whatever","topic":"agents","seq":3}',
    ):
        try:
            server_decoder.decode(raw)
        except msgspec.ValidationError:
            continue
        raise AssertionError(f"accepted {raw!r}")


def test_given_the_settings_then_the_console_keys_are_in_the_shipped_file() -> None:
    text = (DOC.parents[1] / "config" / "contact-center.toml").read_text()
    section = text.split("[console]", 1)[1].split("\n[", 1)[0]
    for key, default in (
        ("disconnect_grace_seconds", "60.0"),
        ("heartbeat_seconds", "20.0"),
        ("resume_messages", "256"),
        ("send_queue_messages", "256"),
    ):
        assert f"\n{key} = {default}\n" in section, key
