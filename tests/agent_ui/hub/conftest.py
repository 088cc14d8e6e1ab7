"""Fixtures of the live hub: an app with a real router and bus, and a console client
that checks every frame the server sends against the protocol's schema."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import orjson
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestClient

from agent_ui.hub.hub import Hub
from agent_ui.hub.messages import ServerMessage, Snapshot, Welcome, server_decoder
from agent_ui.hub.wiring import HUB_PATH, build_hub
from agent_ui.wiring import setup
from contact_center.agent_state import register_agents
from contact_center.bus import MemoryBus
from contact_center.services import SYSTEM, Services
from contact_center.settings import Settings
from routing.model import CustomerContext
from routing.wiring import build_routing
from tests.agent_ui.conftest import Caller, FakeClock

Client = TestClient[Any, Any]
M = TypeVar("M")
WAIT = 5.0
ROUTING = {"queues": {"support": {"channels": ["voice", "chat"]}, "sales": {"channels": ["voice"]}}}


@pytest.fixture
def settings() -> Settings:
    base = Settings().with_overrides(
        phone={"default_region": "GB"},
        console={"disconnect_grace_seconds": 60, "resume_messages": 16, "send_queue_messages": 64},
    )
    return base.model_copy(update={"routing": ROUTING})


@pytest.fixture
async def routed(services: Services, clock: FakeClock) -> AsyncIterator[Services]:
    bus = MemoryBus()
    services.bus = bus
    services.routing = build_routing(services.settings, sink=bus, clock=clock)
    await services.routing.start()
    try:
        yield services
    finally:
        await services.routing.close()


@pytest.fixture
async def hub(routed: Services, clock: FakeClock) -> AsyncIterator[Hub]:
    hub = build_hub(routed, redis_prefix="test", clock=clock, tick_seconds=None)
    await hub.start()
    try:
        yield hub
    finally:
        await hub.stop()


@pytest.fixture
def app(routed: Services, hub: Hub) -> web.Application:
    application = web.Application()
    setup(application, routed, hub=hub)
    return application


@dataclasses.dataclass
class Closed:
    code: int | None
    error: str | None  # the error message's id sent just before the close, if any


class Console:
    """One console tab, as a browser's script would drive it. Every frame received is
    decoded with the protocol's schema (unknown fields refused), so a test fails on any
    message the server sends that docs/hub.md does not describe."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.received: list[ServerMessage] = []

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send_str(orjson.dumps(message).decode())

    async def hello(self, **fields: Any) -> tuple[Welcome, list[ServerMessage]]:
        """Say hello; the welcome and what follows it up to (and with) the snapshot or,
        when resumed, nothing more (the missed messages are read with next())."""
        await self.send({"type": "hello", **fields})
        welcome = await self.next(Welcome)
        after: list[ServerMessage] = []
        if not welcome.resumed:
            while not isinstance(after[-1] if after else None, Snapshot):
                after.append(await self.next())
        return welcome, after

    async def next(self, kind: type[M] = object, timeout: float = WAIT) -> M:  # type: ignore[assignment]
        frame = await self.ws.receive(timeout=timeout)
        assert frame.type == WSMsgType.TEXT, (frame.type, frame.data, frame.extra)
        message = server_decoder.decode(frame.data)
        self.received.append(message)
        assert isinstance(message, kind), message
        return message

    async def until(self, kind: type[M], timeout: float = WAIT) -> M:
        """The next message of ``kind``, skipping others."""
        while True:
            message = await self.next(timeout=timeout)
            if isinstance(message, kind):
                return message

    async def closed(self, timeout: float = WAIT) -> Closed:
        """Read to the end: the close code and the last error message's id."""
        error: str | None = None
        while True:
            frame = await self.ws.receive(timeout=timeout)
            if frame.type == WSMsgType.TEXT:
                message = server_decoder.decode(frame.data)
                self.received.append(message)
                error = getattr(message, "error", error)
                continue
            if frame.type == WSMsgType.CLOSE:
                # The code in the server's close frame, as a browser's onclose reports it.
                return Closed(int(frame.data), error)
            if frame.type in (WSMsgType.CLOSING, WSMsgType.CLOSED):
                return Closed(self.ws.close_code, error)
            if frame.type == WSMsgType.ERROR:
                return Closed(self.ws.close_code, error)

    async def silent(self, timeout: float = 0.2) -> bool:
        """True if nothing arrives within ``timeout`` (only to show an absence)."""
        try:
            frame = await self.ws.receive(timeout=timeout)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected frame {frame.type} {frame.data!r}")

    async def close(self) -> None:
        await self.ws.close()


Connect = Callable[..., Awaitable[Console]]


@pytest.fixture
def connect(client: Client) -> Connect:
    """Open a console websocket as ``caller`` (bearer) or with the client's session."""

    async def open_console(caller: Caller | None = None, **kwargs: Any) -> Console:
        headers = dict(kwargs.pop("headers", {}))
        if caller is not None:
            headers.update(caller.bearer)
        ws = await client.ws_connect(HUB_PATH, headers=headers, autoping=True, **kwargs)
        return Console(ws)

    return open_console


@pytest.fixture
async def customer(routed: Services) -> dict[str, Any]:
    """A known customer with one earlier call on their timeline."""
    profiles = routed.profiles
    created = await profiles.create_customer(
        {"display_name": "Ada Lovelace"},
        [profiles.identity("phone", "+442079460018")],
        actor=SYSTEM,
    )
    await profiles.start_interaction(created["id"], channel="voice", queue="support")
    return created


async def enqueue(
    services: Services, contact_id: str, *, customer_id: int | None = None, queue: str = "support"
) -> None:
    assert services.routing is not None
    context = CustomerContext(customer_id=str(customer_id)) if customer_id is not None else None
    await services.routing.enqueue(contact_id, "voice", queue, context)


async def ready(services: Services, *callers: Caller) -> None:
    assert services.routing is not None
    await register_agents(services)
    for caller in callers:
        await services.routing.ready(str(caller.user_id))


async def gone(hub: Hub, caller: Caller) -> None:
    """Wait until the hub has let every tab of ``caller`` go and recorded it."""
    await hub.wait_until(lambda: not hub.is_live(caller.user_id) and hub.settled, WAIT)
