"""The email channel under test: the assembled app with email enabled, its SMTP intake on
a free loopback port, and a real SMTP relay (aiosmtpd) the product sends replies to."""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiohttp.test_utils import TestClient
from aiosmtpd.smtp import SMTP, Envelope, Session

from contact_center.app import build_app, build_services
from contact_center.services import Services
from contact_center.settings import Settings
from contact_center.store.migrate import upgrade
from email_channel.wiring import EmailChannel, email_of
from tests.agent_ui.conftest import FAST_HASHER, PASSWORD
from tests.conftest import REQUIRE_SERVICES
from tests.email_channel.dovecot import Dovecot, dovecot_binary

SECRET = "test-secret-that-is-long-enough-0123456789"
SUPPORT = "support@example.com"
SALES = "sales@example.com"

EMAIL_ROUTING: dict[str, Any] = {
    "queues": {
        "support": {
            "channels": ["voice", "chat", "email"],
            "wrap_up_seconds": 0,
            "sticky": {"seconds": 600, "prefer_owner": False, "prefer_last_agent": True},
        },
        "sales": {"channels": ["email"], "wrap_up_seconds": 0},
    }
}


class Relay:
    """A real SMTP server on the test's loop: what the product sends arrives here."""

    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[Envelope, EmailMessage]] = asyncio.Queue()
        self.refuse = False
        self.port = 0
        self._server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse:
            return "554 5.7.1 Refused by test relay"
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.put_nowait((envelope, message))
        return "250 OK"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="relay.test", loop=loop), "127.0.0.1", 0
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def next(self, timeout: float = 10.0) -> tuple[Envelope, EmailMessage]:
        return await asyncio.wait_for(self.received.get(), timeout)


@dataclasses.dataclass
class EmailStack:
    services: Services
    channel: EmailChannel
    client: TestClient[Any, Any]
    relay: Relay
    tokens: dict[str, str]
    user_ids: dict[str, int]

    @property
    def intake_port(self) -> int:
        assert self.channel.smtp is not None and self.channel.smtp.port is not None
        return self.channel.smtp.port

    def auth(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[username]}"}

    async def send(
        self, raw: bytes, *, sender: str = "ada@example.org", to: tuple[str, ...] = (SUPPORT,)
    ) -> None:
        """Deliver ``raw`` to the SMTP intake as an MTA would, and wait until processed."""
        # A client of its own: aiosmtplib.send refuses the null sender (bounces use it).
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=self.intake_port, timeout=30)
        async with smtp:
            await smtp.sendmail(sender, list(to), raw)
        assert await self.channel.service.wait_idle(30)

    async def api(self, method: str, path: str, username: str, **kwargs: Any) -> Any:
        response = await self.client.request(method, path, headers=self.auth(username), **kwargs)
        body = await response.json()
        return response.status, body

    async def ready(self, username: str) -> None:
        status, body = await self.api(
            "PUT", "/api/v1/agents/me/state", username, json={"state": "ready"}
        )
        assert status == 200, body


def customer_mail(
    body: str = "My order has not arrived.",
    *,
    sender: str = "Ada Lovelace <ada@example.org>",
    to: str = SUPPORT,
    subject: str = "Order 1234",
    message_id: str = "<m1@example.org>",
    in_reply_to: str | None = None,
    references: str | None = None,
    extra: dict[str, str] | None = None,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for name, value in (extra or {}).items():
        message[name] = value
    message.set_content(body)
    return bytes(message)


def email_settings(relay_port: int, **overrides: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "listen_host": "127.0.0.1",
        "listen_port": 0,
        "addresses": {SUPPORT: "support", SALES: "sales"},
        "secret": SECRET,
        "hostname": "cc.example.com",
        "smtp_relay": {"host": "127.0.0.1", "port": relay_port, "timeout_seconds": 10},
        **overrides,
    }


StackFactory = Callable[..., Awaitable[EmailStack]]
DEFAULT_USERS = (("agent1", "agent"), ("agent2", "agent"), ("admin1", "admin"))


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    server = Relay()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def email_database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'email.db'}"


@pytest.fixture
async def make_stack(
    relay: Relay,
    email_database_url: str,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> StackFactory:
    async def make(
        *, users: tuple[tuple[str, str], ...] = DEFAULT_USERS, **email_overrides: Any
    ) -> EmailStack:
        settings = Settings().with_overrides(
            database={"url": email_database_url},
            email=email_settings(relay.port, **email_overrides),
            routing=EMAIL_ROUTING,
        )
        services = build_services(settings)
        services.accounts._hasher = FAST_HASHER  # cheap hashing: tests only
        await upgrade(services.engine)
        if services.engine.dialect.name == "postgresql":
            import sqlalchemy as sa

            from contact_center.store.schema import metadata

            tables = ", ".join(t.name for t in metadata.sorted_tables)
            async with services.engine.begin() as conn:
                await conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        tokens: dict[str, str] = {}
        user_ids: dict[str, int] = {}
        for username, role in users:
            user = await services.accounts.add_user(username, password=PASSWORD, role=role)
            tokens[username] = (await services.accounts.issue_token(user.id, "tests")).secret
            user_ids[username] = user.id
        client = await aiohttp_client(build_app(settings, services=services))
        channel = email_of(services)
        assert channel is not None
        return EmailStack(services, channel, client, relay, tokens, user_ids)

    return make


@pytest.fixture
async def stack(make_stack: StackFactory) -> EmailStack:
    return await make_stack()


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """A real dovecot on loopback for the session (each test logs in as its own user)."""
    if dovecot_binary() is None:
        if REQUIRE_SERVICES:
            pytest.fail("dovecot is required (CC_REQUIRE_SERVICES=1) but not installed")
        pytest.skip("dovecot is not installed (Debian package dovecot-imapd; .ci/run installs it)")
    # Not under pytest's temporary directory: its parents are private to this user, and
    # dovecot reads the mail as ``nobody``.
    root = Path(tempfile.mkdtemp(prefix="cc-dovecot-"))
    server = Dovecot(root)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
