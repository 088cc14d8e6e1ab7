"""Chat domain events: what the hub's notifier (agents' consoles) and every node's
visitor sockets hear over the bus. Published after the change is stored."""

from __future__ import annotations

from typing import Any, ClassVar

from contact_center.domain.events import DomainEvent


class ChatEvent(DomainEvent, frozen=True, kw_only=True):
    conversation_id: str
    contact_id: str
    # The router agent id holding the chat when it happened (None: nobody).
    agent_id: str | None = None


class ChatMessagePosted(ChatEvent, frozen=True, kw_only=True):
    """A message or notice of the conversation's numbered stream (``message``: the
    frame as docs/chat.md shows it)."""

    name: ClassVar[str] = "chat.message"
    message: dict[str, Any]


class ChatTyping(ChatEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "chat.typing"
    origin: str  # visitor | agent
    on: bool


class ChatRead(ChatEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "chat.read"
    origin: str
    seq: int


class ChatStatusChanged(ChatEvent, frozen=True, kw_only=True):
    """Queued, offered, active, ended: visitor sockets refresh positions and close
    read-only conversations."""

    name: ClassVar[str] = "chat.status"
    status: str
