"""Fixtures of the chat channel: the assembled product (router, hub, chat) on a real
database, a visitor's websocket that checks every frame against the protocol's schema,
and an agent console on the hub."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient

from agent_ui.hub.wiring import HUB
from chat import frames
from chat.model import identity_signature
from chat.wiring import CHAT
from contact_center.accounts import AccountStore
from contact_center.agent_state import register_agents
from contact_center.app import SERVICES, build_app, build_services
from contact_center.services import Services
from contact_center.settings import Settings
from contact_center.store.migrate import upgrade
from tests.agent_ui.conftest import FAST_HASHER, Caller, FakeClock
from tests.agent_ui.hub.conftest import Console

Client = TestClient[Any, Any]
M = TypeVar("M")
WAIT = 5.0
SHOP = "https://shop.example"
SECRET = "s3cret-key-of-the-shop"
ROUTING: dict[str, Any] = {
    "profiles": {"default": {"capacity": {"voice": 1, "chat": 3}}},
    "queues": {
        "support": {"channels": ["voice", "chat"], "wrap_up_seconds": "manual"},
        "billing": {"channels": ["chat"], "wrap_up_seconds": "manual"},
        "night": {"channels": ["chat"]},
    },
}
CHAT_SETTINGS: dict[str, Any] = {
    "visitor_messages_per_minute": 30,
    "max_message_chars": 500,
    "max_frame_bytes": 4096,
    "send_queue_frames": 16,
    "sites": {
        "default": {
            "allowed_origins": [SHOP],
            "identity_secret": SECRET,
            "attachment_types": ["image/png", "application/pdf", "text/plain"],
            "attachment_max_bytes": 4096,
        },
        "members": {"allowed_origins": [SHOP], "identity_secret": SECRET, "require_identity": True},
    },
    "queues": {
        "support": {"email": "optional", "topics": [{"id": "bills", "queue": "billing"}]},
        "night": {"hours": {"timezone": "UTC"}},
    },
}


@dataclasses.dataclass
class Stack:
    app: web.Application
    client: Client
    services: Services
    clock: FakeClock
    agents: dict[str, Caller]

    @property
    def routing(self) -> Any:
        assert self.services.routing is not None
        return self.services.routing

    async def settle(self) -> None:
        """Wait until the chat's router-event sink and the history have caught up."""
        assert self.services.chat is not None and self.services.recorder is not None
        await self.services.chat.lifecycle.wait_idle()
        await self.services.recorder.wait_idle()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"


@pytest.fixture
async def stack(
    tmp_path: Path,
    database_url: str,
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> AsyncIterator[Stack]:
    clock = FakeClock()
    settings = Settings().with_overrides(
        database={"url": database_url},
        phone={"default_region": "GB"},
        console={"disconnect_grace_seconds": 30},
    )
    chat = dict(CHAT_SETTINGS, attachments_dir=str(tmp_path / "files"))
    settings = settings.model_copy(update={"routing": ROUTING, "chat": chat})
    services = build_services(settings, clock=clock)
    services.accounts = AccountStore(services.engine, clock, hasher=FAST_HASHER)
    await upgrade(services.engine)
    if services.engine.dialect.name == "postgresql":
        from tests.chat.pg import empty_tables

        await empty_tables(services.engine)
    agents: dict[str, Caller] = {}
    for name, role in (("alice", "agent"), ("bob", "agent"), ("sam", "supervisor")):
        user = await services.accounts.add_user(
            name, password="correct horse battery", role=role, display_name=name.title() + " Smith"
        )
        issued = await services.accounts.issue_token(user.id, "tests")
        agents[name] = Caller(name, user.id, issued.secret, role)
    app = build_app(settings, services=services, clock=clock)
    client = await aiohttp_client(app)
    await register_agents(services)
    yield Stack(app, client, services, clock, agents)


async def ready(stack: Stack, *names: str) -> None:
    for name in names:
        await stack.routing.ready(str(stack.agents[name].user_id))


class VisitorWs:
    """The widget's websocket, as its script drives it: every frame is decoded with the
    protocol's schema (unknown fields refused)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.received: list[frames.ServerFrame] = []

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send_str(orjson.dumps(frame).decode())

    async def hello(self, token: str, resume_from: int = 0) -> frames.Welcome:
        await self.send({"type": "hello", "token": token, "resume_from": resume_from})
        return await self.next(frames.Welcome)

    async def next(self, kind: type[M] = object, timeout: float = WAIT) -> M:  # type: ignore[assignment]
        frame = await self.ws.receive(timeout=timeout)
        assert frame.type == WSMsgType.TEXT, (frame.type, frame.data, frame.extra)
        message = frames.server_decoder.decode(frame.data)
        self.received.append(message)
        assert isinstance(message, kind), message
        return message

    async def until(self, kind: type[M], timeout: float = WAIT) -> M:
        while True:
            message = await self.next(timeout=timeout)
            if isinstance(message, kind):
                return message

    async def stream_until(self, seq: int) -> list[frames.Message | frames.NoticeFrame]:
        """Numbered frames received until ``seq`` (others skipped)."""
        found: list[frames.Message | frames.NoticeFrame] = []
        while not found or found[-1].seq < seq:
            message = await self.next()
            if isinstance(message, frames.Message | frames.NoticeFrame):
                found.append(message)
        return found

    async def closed(self, timeout: float = WAIT) -> tuple[int | None, str | None]:
        error: str | None = None
        while True:
            frame = await self.ws.receive(timeout=timeout)
            if frame.type == WSMsgType.TEXT:
                message = frames.server_decoder.decode(frame.data)
                error = getattr(message, "error", error)
                continue
            if frame.type == WSMsgType.CLOSE:
                return int(frame.data), error
            if frame.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return self.ws.close_code, error

    async def close(self) -> None:
        await self.ws.close()


async def open_visitor(client: Client, origin: str = SHOP, **kwargs: Any) -> VisitorWs:
    ws = await client.ws_connect("/chat/ws", headers={"Origin": origin}, **kwargs)
    return VisitorWs(ws)


async def start_chat(
    client: Client, *, queue: str = "support", origin: str = SHOP, **fields: Any
) -> dict[str, Any]:
    body = {"queue": queue, "name": "Ada Lovelace", **fields}
    response = await client.post("/chat/api/sessions", json=body, headers={"Origin": origin})
    assert response.status == 201, await response.text()
    found: dict[str, Any] = await response.json()
    return found


def signed(user_id: str, secret: str = SECRET) -> dict[str, str]:
    return {"user_id": user_id, "signature": identity_signature(secret, user_id)}


async def console(stack: Stack, name: str) -> Console:
    ws = await stack.client.ws_connect("/api/v1/hub", headers=stack.agents[name].bearer)
    desk = Console(ws)
    await desk.hello()
    return desk


async def accept(stack: Stack, name: str, contact_id: str) -> None:
    response = await stack.client.post(
        f"/api/v1/offers/{contact_id}/accept", headers=stack.agents[name].bearer
    )
    assert response.status == 200, await response.text()
    await stack.settle()


async def agent_send(stack: Stack, name: str, contact_id: str, client_id: str, text: str) -> Any:
    response = await stack.client.post(
        f"/api/v1/chats/{contact_id}/messages",
        json={"client_id": client_id, "text": text},
        headers=stack.agents[name].bearer,
    )
    assert response.status in (200, 201), await response.text()
    return await response.json()


__all__ = ["CHAT", "HUB", "SERVICES"]
