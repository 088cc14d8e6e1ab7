"""Domain events of the email channel (published on the bus after the change is stored)."""

from __future__ import annotations

from typing import ClassVar

from contact_center.domain.events import DomainEvent


class EmailReceived(DomainEvent, frozen=True, kw_only=True):
    """A customer's message was stored on its thread (``contact_id``: the thread's
    router contact now, None if the mail was automatic and opened nothing)."""

    name: ClassVar[str] = "email.received"
    thread_id: int
    message_id: int
    contact_id: str | None
    customer_id: int
    automatic: str | None
    reopened: bool


class EmailSent(DomainEvent, frozen=True, kw_only=True):
    """An outbound message left (status "sent"), failed ("failed"), or was refused by the
    loop rule ("refused")."""

    name: ClassVar[str] = "email.sent"
    thread_id: int
    message_id: int
    contact_id: str | None
    kind: str
    status: str
    error: str | None


class EmailQuarantined(DomainEvent, frozen=True, kw_only=True):
    name: ClassVar[str] = "email.quarantined"
    inbound_id: int
    reason: str
