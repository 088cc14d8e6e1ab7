"""Ports the router needs from the rest of the system, with in-memory twins.

* :class:`EventSink`: where routing events go (the core's event bus implements it).
* :class:`WaitingContactStore`: durable copy of every waiting contact, so a restarted
  single in-memory node re-queues them (the profile store implements it in SQL).

The twins here are real implementations for one process and for tests; every
implementation must pass ``tests/routing/contracts.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from contact_center.domain.events import DomainEvent
from routing.commands import EnqueueContact
from routing.model import ContactState


class EventSink(Protocol):
    async def publish(self, events: Sequence[DomainEvent]) -> None:
        """Deliver events in order. May be called again with events already delivered
        (after a Redis fail-over): consumers de-duplicate on (event name, contact, at)."""


class ListEventSink:
    """Collects published events in memory (tests, single-process demo)."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []
        self._changed = asyncio.Condition()

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        async with self._changed:
            self.events.extend(events)
            self._changed.notify_all()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[DomainEvent]:
        """Wait until at least ``count`` events arrived (raises TimeoutError)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.events) >= count)
        return list(self.events)

    def named(self, name: str) -> list[DomainEvent]:
        return [e for e in self.events if e.name == name]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class WaitingContact:
    """Everything needed to put a contact back in its queue after a restart."""

    contact_id: str
    channel: str
    queue: str
    waiting_since: float
    priority: int
    customer_id: str | None = None
    tier: str | None = None
    owner_agent_id: str | None = None
    last_agent_id: str | None = None
    last_served_at: float | None = None
    attributes: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> WaitingContact:
        """From a serialised :class:`routing.model.Contact`."""
        customer = record["customer"]
        return cls(
            contact_id=record["contact_id"],
            channel=str(record["channel"]),
            queue=record["queue"],
            waiting_since=float(record["waiting_since"]),
            priority=int(record["priority"]),
            customer_id=customer["customer_id"],
            tier=customer["tier"],
            owner_agent_id=customer["owner_agent_id"],
            last_agent_id=customer["last_agent_id"],
            last_served_at=customer["last_served_at"],
            attributes=tuple(sorted((str(k), str(v)) for k, v in record["attributes"].items())),
        )

    def to_command(self) -> EnqueueContact:
        return EnqueueContact(
            contact_id=self.contact_id,
            channel=self.channel,
            queue=self.queue,
            customer_id=self.customer_id,
            tier=self.tier,
            owner_agent_id=self.owner_agent_id,
            last_agent_id=self.last_agent_id,
            last_served_at=self.last_served_at,
            priority=self.priority,
            waiting_since=self.waiting_since,
            attributes=self.attributes,
        )

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["attributes"] = [list(pair) for pair in self.attributes]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WaitingContact:
        fields = dict(data)
        fields["attributes"] = tuple(tuple(pair) for pair in fields.get("attributes", ()))
        return cls(**fields)


# A contact is "waiting" for the store while it may still need an agent.
WAITING_STATES = frozenset({ContactState.QUEUED, ContactState.OFFERED})


class WaitingContactStore(Protocol):
    async def save(self, contact: WaitingContact) -> None:
        """Insert or replace the record for ``contact.contact_id``."""

    async def remove(self, contact_id: str) -> None:
        """Forget a contact; removing an unknown id is not an error."""

    async def load_all(self) -> list[WaitingContact]:
        """Every saved contact, oldest ``waiting_since`` first (ties by contact id)."""


class InMemoryWaitingContactStore:
    """Twin of the SQL store: survives a router restart only within one process."""

    def __init__(self) -> None:
        self._records: dict[str, WaitingContact] = {}

    async def save(self, contact: WaitingContact) -> None:
        self._records[contact.contact_id] = contact

    async def remove(self, contact_id: str) -> None:
        self._records.pop(contact_id, None)

    async def load_all(self) -> list[WaitingContact]:
        return sorted(self._records.values(), key=lambda c: (c.waiting_since, c.contact_id))
