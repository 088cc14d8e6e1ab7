"""Wiring of the chat edge: builds the service, its router-event sink and this node's
visitor sockets from the settings, and registers the visitor's endpoints.

:func:`build_chat` creates (never connects); the assembly puts its ``lifecycle`` among
the router's event sinks, gives it the router, starts and stops it with the other
services, and calls :func:`setup` to add the routes and join the hub's presence (the
chats of an agent gone for the grace go back to the queue).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from agent_ui.endpoint import PUBLIC, Endpoint
from chat import http
from chat.attachments import AttachmentFiles
from chat.lifecycle import ChatLifecycle
from chat.service import ChatService
from chat.settings import parse_chat_settings
from chat.store import ChatStore
from chat.visitor_ws import VisitorSockets, visitor_socket

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from agent_ui.hub.hub import Hub
    from contact_center.accounts import AccountStore
    from contact_center.bus import EventBus
    from contact_center.settings import Settings
    from contact_center.store.profiles import ProfileStore

CHAT = web.AppKey("chat.service", ChatService)
SOCKETS = web.AppKey("chat.sockets", VisitorSockets)
CONVERSATION = r"c_[A-Za-z0-9_-]{10,40}"
ATTACHMENT = r"a_[A-Za-z0-9_-]{8,40}"
BASE = "/chat/api"


@dataclasses.dataclass(slots=True)
class Chat:
    service: ChatService
    lifecycle: ChatLifecycle
    sockets: VisitorSockets

    async def start(self) -> None:
        await self.lifecycle.start()
        await self.sockets.start()

    async def stop(self) -> None:
        await self.sockets.stop()
        await self.lifecycle.stop()

    async def health(self) -> dict[str, Any]:
        return {
            "ok": self.lifecycle.failed == 0,
            "visitors": sum(len(c) for c in self.sockets.by_conversation.values()),
            **self.sockets.counters,
            "failed_steps": self.lifecycle.failed,
        }


def build_chat(
    settings: Settings,
    *,
    engine: AsyncEngine,
    profiles: ProfileStore,
    bus: EventBus,
    accounts: Callable[[], AccountStore],
    clock: Callable[[], float],
    home: Path | None = None,
) -> Chat:
    from contact_center.settings import project_home

    routing_queues = dict(settings.routing.get("queues", {}))
    chat_settings = parse_chat_settings(settings.chat, routing_queues=routing_queues)
    directory = Path(chat_settings.attachments_dir)
    if not directory.is_absolute():
        directory = (home or project_home()) / directory
    service = ChatService(
        chat_settings,
        ChatStore(engine),
        AttachmentFiles(directory),
        profiles=profiles,
        bus=bus,
        routing_queues=routing_queues,
        clock=clock,
    )
    return Chat(service, ChatLifecycle(service, accounts), VisitorSockets(service))


def _visitor(method: str, path: str, handler: http.Handler, summary: str, **extra: Any) -> Endpoint:
    return Endpoint(method, path, handler, PUBLIC, summary, "chat", body=None, **extra)


CONV = f"{BASE}/conversations/{{conversation_id:{CONVERSATION}}}"
PREFLIGHT_PATHS = (
    f"{BASE}/config", f"{BASE}/sessions", f"{BASE}/offline-messages", CONV, f"{CONV}/messages",
    f"{CONV}/attachments", f"{CONV}/transcript", f"{CONV}/transcript-email", f"{CONV}/end",
    f"{CONV}/rating",
)  # fmt: skip
ENDPOINTS: tuple[Endpoint, ...] = (
    _visitor("GET", f"{BASE}/config", http.visitor_widget_config,
             "The widget's configuration for a site and queue, and whether chat is open"),
    _visitor("POST", f"{BASE}/sessions", http.visitor_create_session,
             "Start a chat: a visitor token and conversation (docs/chat.md)", status=201),
    _visitor("POST", f"{BASE}/offline-messages", http.visitor_offline_message,
             "Leave a message for the team to answer by email (chat closed)", status=201),
    _visitor("GET", CONV, http.visitor_conversation, "The visitor's conversation (X-Chat-Token)"),
    _visitor("GET", f"{CONV}/messages", http.visitor_messages,
             "The conversation's messages after a seq (X-Chat-Token)"),
    _visitor("POST", f"{CONV}/attachments", http.visitor_upload,
             "Send a file (multipart 'file'; X-Chat-Token)", status=201),
    _visitor("GET", f"{CONV}/attachments/{{attachment_id:{ATTACHMENT}}}", http.visitor_download,
             "A file of the conversation (X-Chat-Token)",
             response={"type": "string"}, media_type="application/octet-stream"),
    _visitor("GET", f"{CONV}/transcript", http.visitor_transcript,
             "The transcript as a text download (X-Chat-Token)",
             response={"type": "string"}, media_type="text/plain"),
    _visitor("POST", f"{CONV}/transcript-email", http.visitor_transcript_email,
             "Have the transcript emailed (queued for the email channel)", status=202),
    _visitor("POST", f"{CONV}/end", http.visitor_end, "End the chat (X-Chat-Token)"),
    _visitor("POST", f"{CONV}/rating", http.visitor_rate, "Rate the ended chat 1-5 with a comment"),
    *(
        _visitor("OPTIONS", path, http.preflight_named(str(index)),
                 "CORS preflight of the widget's requests", status=204, response=None)
        for index, path in enumerate(PREFLIGHT_PATHS)
    ),
    _visitor("GET", "/chat/ws", visitor_socket,
             "The visitor's websocket (protocol in docs/chat.md)", status=101, response=None),
)  # fmt: skip


def setup(app: web.Application, chat: Chat, *, hub: Hub | None) -> None:
    """Register the visitor's endpoints; with a hub, requeue the chats of agents its
    presence finds gone."""
    from agent_ui.wiring import add_endpoints

    app[CHAT] = chat.service
    app[SOCKETS] = chat.sockets
    app.on_shutdown.append(chat.sockets.shutdown)
    add_endpoints(app, ENDPOINTS)
    if hub is not None:
        hub.presence.on_gone.append(chat.lifecycle.agent_gone)
