"""Fixtures for the HTTP edge: a real app on the aiohttp test client over a real database."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web_runner import BaseRunner
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine

from agent_ui.server import EdgeAppRunner
from agent_ui.wiring import setup
from contact_center.accounts import AccountStore
from contact_center.app import SERVICES, build_app, build_services
from contact_center.services import SYSTEM, Services
from contact_center.settings import Settings
from contact_center.store.engine import create_engine
from contact_center.store.migrate import upgrade
from contact_center.store.profiles import ProfileStore
from contact_center.store.schema import metadata
from cti.simulator.pbx import SimulatedPbx
from cti.wiring import start_simulated_asterisk

# Cheap argon2 parameters keep the suite fast; production uses the library defaults.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"


class FakeClock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclasses.dataclass
class Caller:
    """A logged-in user as seen by tests: bearer token and/or session."""

    username: str
    user_id: int
    token: str
    role: str

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings() -> Settings:
    return Settings().with_overrides(
        phone={"default_region": "GB"},
        security={"session_idle_minutes": 30, "login_max_attempts": 3,
                  "login_window_seconds": 300},
    )  # fmt: skip


@pytest.fixture
def database_url() -> str:
    return "sqlite+aiosqlite:///:memory:"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=3)
    await upgrade(engine)
    if engine.dialect.name == "postgresql":
        # The database outlives one test: start each from empty tables.
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def services(engine: AsyncEngine, settings: Settings, clock: FakeClock) -> Services:
    accounts = AccountStore(engine, clock, hasher=FAST_HASHER)
    profiles = ProfileStore(
        engine,
        default_region=settings.phone.default_region,
        value_settings=settings.value,
        clock=clock,
    )
    return Services(
        settings=settings,
        engine=engine,
        profiles=profiles,
        accounts=accounts,
        bus=None,  # type: ignore[arg-type]  # the HTTP edge does not publish events
        clock=clock,
    )


@pytest.fixture
def app(services: Services) -> web.Application:
    application = web.Application()
    setup(application, services)
    return application


@pytest.fixture
async def client(
    app: web.Application, aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]]
) -> TestClient[Any, Any]:
    return await aiohttp_client(app)


class EdgeTestServer(TestServer):
    """The test server with the production runner: the edge's protocol handler (JSON
    answers to unreadable requests) and its redacting access log."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return EdgeAppRunner(self.app, **kwargs)


@pytest.fixture
async def edge_client(
    app: web.Application, aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]]
) -> TestClient[Any, Any]:
    return await aiohttp_client(EdgeTestServer(app))


@pytest.fixture
def make_user(services: Services) -> Callable[..., Awaitable[Caller]]:
    async def make(username: str, role: str = "agent", **kwargs: Any) -> Caller:
        user = await services.accounts.add_user(username, password=PASSWORD, role=role, **kwargs)
        issued = await services.accounts.issue_token(user.id, "tests")
        return Caller(username, user.id, issued.secret, role)

    return make


@pytest.fixture
async def agent(make_user: Callable[..., Awaitable[Caller]]) -> Caller:
    return await make_user("agent1", "agent", extension="1001")


@pytest.fixture
async def supervisor(make_user: Callable[..., Awaitable[Caller]]) -> Caller:
    return await make_user("super1", "supervisor")


@pytest.fixture
async def admin(make_user: Callable[..., Awaitable[Caller]]) -> Caller:
    return await make_user("admin1", "admin")


@pytest.fixture
def login(client: TestClient[Any, Any]) -> Callable[..., Awaitable[str]]:
    """Log in with a browser session (the client keeps the cookie); returns the CSRF token."""

    async def log_in(username: str, password: str = PASSWORD) -> str:
        response = await client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        )
        assert response.status == 200, await response.text()
        body = await response.json()
        return str(body["csrf_token"])

    return log_in


# -- a running router behind the API (offers, wrap-up, agent reports and routing) --------

ROUTED_SETTINGS: dict[str, Any] = {
    "not_ready_reasons": ["break", "lunch"],
    "profiles": {"chat_only": {"capacity": {"chat": 2}}},
    "queues": {
        "support": {
            "channels": ["voice", "chat", "email"],
            "wrap_up_seconds": "manual",
            "dispositions": [
                {"id": "resolved", "label": "Resolved", "resolved": True},
                {"id": "follow-up", "label": "Needs follow-up"},
            ],
            "disposition_required": True,
        },
        "sales": {"channels": ["chat", "email"], "wrap_up_seconds": 30, "dispositions": ["sold"]},
    },
}


@pytest.fixture
async def routed_services(services: Services) -> AsyncIterator[Services]:
    """``services`` with a running in-memory router whose events go, as in the product,
    to the history recorder, the agent state log and an in-memory bus."""
    from contact_center.agent_reports import AgentStateLog
    from contact_center.app import FanOutSink
    from contact_center.bus import MemoryBus
    from contact_center.history import InteractionRecorder
    from routing.wiring import build_routing

    services.settings = services.settings.model_copy(update={"routing": ROUTED_SETTINGS})
    bus = MemoryBus()
    services.bus = bus
    services.recorder = InteractionRecorder(services.profiles)
    services.agent_states = AgentStateLog(services.engine)
    sink = FanOutSink(services.recorder, services.agent_states, bus)
    services.routing = build_routing(services.settings, sink=sink, clock=services.clock)
    await services.recorder.start()
    await services.agent_states.start()
    await services.routing.start()
    try:
        yield services
    finally:
        await services.routing.close()
        await services.agent_states.stop()
        await services.recorder.stop()
        await bus.close()


@pytest.fixture
async def phone_stack(
    tmp_path: Path, aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]]
) -> AsyncIterator[tuple[web.Application, SimulatedPbx, TestClient[Any, Any]]]:
    """The assembled product on a simulated PBX (phone 1001: agent "alice"; "root" is an
    admin), with the ROUTED_SETTINGS queues."""
    settings = Settings().with_overrides(
        database={"url": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"},
        phone={"default_region": "GB"},
    )
    settings = settings.model_copy(update={"routing": ROUTED_SETTINGS})
    setup_services = build_services(settings)
    await upgrade(setup_services.engine)
    await setup_services.accounts.add_user(
        "alice", password=PASSWORD, role="agent", extension="1001"
    )
    await setup_services.accounts.add_user("root", password=PASSWORD, role="admin")
    await setup_services.profiles.create_customer(
        {"display_name": "Ann Lee"},
        [setup_services.profiles.identity("phone", "+442079460018")],
        actor=SYSTEM,
    )
    await setup_services.engine.dispose()
    pbx, server = await start_simulated_asterisk({"alice": "1001"}, ring_seconds=0.05)
    asterisk = settings.asterisk.model_copy(update={"servers": (server,)})
    app = build_app(settings.model_copy(update={"asterisk": asterisk}))
    client = await aiohttp_client(app)
    services = app[SERVICES]
    assert services.telephony is not None
    await services.telephony.wait_resyncs("simulated", 1, timeout=10)
    try:
        yield app, pbx, client
    finally:
        await pbx.stop()
