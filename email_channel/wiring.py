"""Builds the email channel from settings and gives it a lifetime (start, stop, health).

``contact_center.app`` calls :func:`build_email` when ``[email] enabled`` is true and
keeps the result in ``services.extras["email"]`` (:func:`email_of` reads it back); the
channel then follows the router's events (thread status and last agent) and publishes
its own on the bus.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from email_channel.imap import MailboxPoller
from email_channel.outbound import Outbound, SmtpRelay, Transport
from email_channel.service import EmailService, EventSink
from email_channel.settings import EmailSettings, parse_email_settings
from email_channel.smtp import SmtpIntake
from email_channel.store import EmailStore

if TYPE_CHECKING:
    from contact_center.services import Services
    from contact_center.settings import Settings

EXTRAS_KEY = "email"


class EmailChannel:
    def __init__(
        self,
        settings: EmailSettings,
        service: EmailService,
        smtp: SmtpIntake | None,
        pollers: list[MailboxPoller],
    ) -> None:
        self.settings = settings
        self.service = service
        self.smtp = smtp
        self.pollers = pollers

    async def start(self) -> None:
        await self.service.start()
        if self.smtp is not None:
            await self.smtp.start()
        for poller in self.pollers:
            await poller.start()

    async def stop(self) -> None:
        for poller in self.pollers:
            await poller.stop()
        if self.smtp is not None:
            await self.smtp.stop()
        await self.service.stop()

    async def health(self) -> dict[str, Any]:
        parts: dict[str, Any] = {"processing": self.service.health()}
        if self.smtp is not None:
            parts["smtp"] = self.smtp.health()
        parts["imap"] = [p.health() for p in self.pollers]
        ok = parts["processing"]["ok"] and (self.smtp is None or parts["smtp"]["ok"])
        return {"ok": ok and all(p["ok"] for p in parts["imap"]), **parts}


def email_settings(settings: Settings) -> EmailSettings:
    return parse_email_settings(settings.email)


def node_name(settings: Settings) -> str:
    return settings.server.node_id or f"{socket.gethostname()}-{os.getpid()}"


def build_email(
    settings: Settings,
    services: Services,
    *,
    sink: EventSink,
    transport: Transport | None = None,
    clock: Callable[[], float] | None = None,
) -> EmailChannel:
    """The channel (not started): service, SMTP intake (if ``smtp_intake``), one
    poller per IMAP mailbox."""
    config = email_settings(settings)
    store = EmailStore(services.engine)
    node = node_name(settings)
    now = clock or services.clock
    service = EmailService(
        config,
        store=store,
        profiles=services.profiles,
        outbound=Outbound(config, transport or SmtpRelay(config)),
        sink=sink,
        routing=services.routing,
        node_id=node,
        clock=now,
        # SQLite has one writer at a time: more workers only wait on each other.
        workers=1 if services.engine.dialect.name == "sqlite" else 4,
    )
    smtp = SmtpIntake(config, service) if config.smtp_intake else None
    pollers = [
        MailboxPoller(box, config, service, store, node_id=node, clock=now) for box in config.imap
    ]
    return EmailChannel(config, service, smtp, pollers)


def email_of(services: Services) -> EmailChannel | None:
    found = services.extras.get(EXTRAS_KEY)
    return found if isinstance(found, EmailChannel) else None
