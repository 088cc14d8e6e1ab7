"""The ``[email]`` settings section: addresses and their queues, intakes, relay, limits.

Validated here (``contact_center.settings`` keeps the section as a free-form table,
like ``[routing]``). Addresses are compared lower-cased.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contact_center.errors import AppError

_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


class EmailSettingsError(AppError):
    error_id = "invalid-settings"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BusinessHours(_Section):
    """When the due-time clock runs: ``start``-``end`` on ``days`` (1 Monday .. 7 Sunday)."""

    start: str = "09:00"
    end: str = "17:00"
    days: tuple[int, ...] = (1, 2, 3, 4, 5)
    timezone: str = "UTC"

    @field_validator("start", "end")
    @classmethod
    def _clock_time(cls, value: str) -> str:
        if not _TIME.match(value):
            raise ValueError("must be HH:MM (24 hours)")
        return value

    @field_validator("days")
    @classmethod
    def _weekdays(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(d < 1 or d > 7 for d in value):
            raise ValueError("must list weekdays 1 (Monday) to 7 (Sunday)")
        return tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _start_before_end(self) -> BusinessHours:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class QueueEmailSettings(_Section):
    """Per-queue email behaviour."""

    # Answer within this many business hours (0: no due time, plain arrival order).
    due_business_hours: float = Field(0.0, ge=0.0, le=10_000.0)
    # Send one automatic acknowledgement for each new thread (never to automatic mail).
    auto_acknowledge: bool = False
    acknowledgement_text: str = Field(
        "We have received your message and will answer it as soon as we can.",
        max_length=5000,
    )


class RelaySettings(_Section):
    """The SMTP server replies are sent through (the MTA's submission port)."""

    host: str = "127.0.0.1"
    port: int = Field(25, ge=1, le=65535)
    username: str = ""
    password: str = ""
    starttls: bool = False
    use_tls: bool = False
    timeout_seconds: float = Field(30.0, gt=0.0, le=600.0)


class ImapMailbox(_Section):
    """One mailbox polled over IMAP; its mail goes to ``queue`` as if sent to ``address``."""

    name: str = Field(..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    host: str = "127.0.0.1"
    port: int = Field(143, ge=1, le=65535)
    ssl: bool = False
    username: str
    password: str
    folder: str = "INBOX"
    address: str
    poll_seconds: float = Field(30.0, ge=0.05, le=3600.0)
    # Wait with IMAP IDLE between polls when the server offers it.
    idle: bool = True


class EmailSettings(_Section):
    enabled: bool = False
    # The SMTP intake (false: IMAP only); port 0: any free port (tests).
    smtp_intake: bool = True
    listen_host: str = "127.0.0.1"
    listen_port: int = Field(2525, ge=0, le=65535)
    # Our addresses and the queue each one feeds: {"support@example.com" = "support"}.
    addresses: dict[str, str] = Field(default_factory=dict)
    # Right-hand side of our Message-IDs.
    hostname: str = Field("contact-center.invalid", min_length=1, max_length=200)
    # Key of the reply tokens (HMAC-SHA256): the same on every node; at least 32 chars.
    secret: str = ""
    max_message_bytes: int = Field(25 * 1024 * 1024, ge=1024, le=200 * 1024 * 1024)
    max_headers: int = Field(500, ge=10, le=100_000)
    max_parts: int = Field(200, ge=1, le=10_000)
    max_depth: int = Field(20, ge=1, le=200)
    # Text kept per message for the thread view (longer text is cut, the raw is kept).
    max_text_chars: int = Field(200_000, ge=1000, le=10_000_000)
    # Subject fallback: only a thread of the same customer touched within this many days.
    subject_thread_days: float = Field(14.0, ge=0.0, le=365.0)
    # IMAP: one node polls a mailbox at a time, holding a lease this long.
    lease_seconds: float = Field(30.0, ge=1.0, le=3600.0)
    # Automatic mail (acknowledgements) to one address at most this often per hour.
    auto_replies_per_hour: int = Field(3, ge=0, le=1000)
    business_hours: BusinessHours = BusinessHours()
    queues: dict[str, QueueEmailSettings] = Field(default_factory=dict)
    smtp_relay: RelaySettings = RelaySettings()
    imap: tuple[ImapMailbox, ...] = ()

    @field_validator("addresses")
    @classmethod
    def _lower_addresses(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for address, queue in value.items():
            if "@" not in address or any(c.isspace() for c in address) or "+" in address:
                raise ValueError(f"{address!r} is not a plain address (no '+', no spaces)")
            out[address.strip().lower()] = queue
        return out

    @model_validator(mode="after")
    def _consistent(self) -> EmailSettings:
        if self.enabled and len(self.secret) < 32:
            raise ValueError("secret: at least 32 characters when email is enabled")
        for box in self.imap:
            if box.address.lower() not in self.addresses:
                raise ValueError(f"imap {box.name}: address {box.address} is not in addresses")
        if len({box.name for box in self.imap}) != len(self.imap):
            raise ValueError("imap: mailbox names must be unique")
        return self

    def queue_of(self, address: str) -> str | None:
        return self.addresses.get(address.lower())

    def queue_settings(self, queue: str) -> QueueEmailSettings:
        return self.queues.get(queue) or QueueEmailSettings()


def parse_email_settings(section: Mapping[str, Any]) -> EmailSettings:
    """The ``[email]`` table validated; errors name the key (``email.<key>``)."""
    try:
        return EmailSettings.model_validate(dict(section))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in ("email", *err["loc"]))
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown setting"
            problems.append(f"{key}: {msg}")
        raise EmailSettingsError("invalid settings: " + "; ".join(problems)) from None
