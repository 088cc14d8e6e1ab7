"""Sending mail: every outbound path goes through :meth:`Outbound.send`, which applies
the one loop rule (email_channel.loops.outbound_refusal) before handing the message to
the relay with aiosmtplib."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib

from contact_center.outside_text import one_line
from email_channel.loops import OutgoingKind, outbound_refusal
from email_channel.settings import EmailSettings

log = logging.getLogger(__name__)


class Refused(Exception):
    """The loop rule forbids this mail: ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class DeliveryFailed(Exception):
    """The relay did not take the message (``error``: what it said, one line)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class Transport(Protocol):
    async def deliver(self, message: EmailMessage, sender: str, recipients: list[str]) -> None: ...


class SmtpRelay:
    """The configured relay ([email.smtp_relay]) over aiosmtplib."""

    def __init__(self, settings: EmailSettings) -> None:
        self.relay = settings.smtp_relay

    async def deliver(self, message: EmailMessage, sender: str, recipients: list[str]) -> None:
        relay = self.relay
        try:
            await aiosmtplib.send(
                message,
                sender=sender,
                recipients=recipients,
                hostname=relay.host,
                port=relay.port,
                username=relay.username or None,
                password=relay.password or None,
                start_tls=relay.starttls,
                use_tls=relay.use_tls,
                timeout=relay.timeout_seconds,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(one_line(f"{type(exc).__name__}: {exc}", 500)) from None


class Outbound:
    def __init__(self, settings: EmailSettings, transport: Transport) -> None:
        self.settings = settings
        self.transport = transport
        self.own_addresses = frozenset(settings.addresses)

    async def send(
        self,
        kind: OutgoingKind,
        message: EmailMessage,
        *,
        sender: str,
        recipients: list[str],
        answering_automatic: str | None,
        sent_recently: int = 0,
    ) -> None:
        """Send ``message`` unless the loop rule refuses it (:class:`Refused`); a relay
        failure raises :class:`DeliveryFailed`."""
        refusal = outbound_refusal(
            kind,
            recipients,
            own_addresses=self.own_addresses,
            answering_automatic=answering_automatic,
            sent_recently=sent_recently,
            per_hour_limit=self.settings.auto_replies_per_hour,
        )
        if refusal is not None:
            log.info("email: %s not sent (%s)", kind.value, refusal)
            raise Refused(refusal)
        await self.transport.deliver(message, sender, recipients)
