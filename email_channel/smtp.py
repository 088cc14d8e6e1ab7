"""The SMTP intake: an aiosmtpd server on the event loop, for our addresses only.

An MTA (or a customer's server) delivers to it. RCPT is refused (550) for any address
that is not one of ours (plus-addressed forms included), so it is never an open relay;
DATA is answered 250 only once the raw message is stored (``EmailService.receive``), and
451 (try again later) if it could not be, so a message is never lost between the
sender and the database. Size: aiosmtpd refuses messages over ``max_message_bytes``
(552); lines over 1000 characters are refused as RFC 5321 says (500).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from contact_center.outside_text import one_line
from email_channel.service import EmailService
from email_channel.settings import EmailSettings

log = logging.getLogger(__name__)


class IntakeHandler:
    """aiosmtpd's handler hooks (called by name)."""

    def __init__(self, service: EmailService, own_addresses: frozenset[str]) -> None:
        self.service = service
        self.own_addresses = own_addresses

    def is_ours(self, address: str) -> bool:
        local, at, domain = address.strip().lower().rpartition("@")
        return bool(at) and f"{local.partition('+')[0]}@{domain}" in self.own_addresses

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if not self.is_ours(address):
            log.info("email: SMTP recipient refused (not ours): %s", one_line(address, 200))
            return "550 5.7.1 Relaying denied: not a local address"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        if not isinstance(raw, bytes):
            raw = (
                bytes(envelope.content or b"")
                if not isinstance(envelope.content, str)
                else envelope.content.encode()
            )
        try:
            await self.service.receive(
                raw,
                source="smtp",
                envelope_from=envelope.mail_from or "",
                envelope_to=list(envelope.rcpt_tos),
            )
        except Exception:
            log.exception("email: SMTP message could not be stored; the sender will retry")
            return "451 4.3.0 Temporary failure, please try again later"
        return "250 2.0.0 Message accepted"


class SmtpIntake:
    def __init__(self, settings: EmailSettings, service: EmailService) -> None:
        self.settings = settings
        self.handler = IntakeHandler(service, frozenset(settings.addresses))
        self._server: asyncio.Server | None = None
        self.port: int | None = None

    def _protocol(self) -> SMTP:
        return SMTP(
            self.handler,
            data_size_limit=self.settings.max_message_bytes,
            hostname=self.settings.hostname,
            enable_SMTPUTF8=True,
            loop=asyncio.get_running_loop(),
        )

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol, host=self.settings.listen_host, port=self.settings.listen_port
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("email: SMTP intake listening on %s:%s", self.settings.listen_host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def health(self) -> dict[str, Any]:
        return {"ok": self._server is not None and self._server.is_serving(), "port": self.port}
