"""SQL implementation of the router's ``WaitingContactStore`` port.

Every contact waiting in a queue is written here when queued or updated and
removed when it ends, so a restarted single-node router re-queues them all.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.store.schema import waiting_contacts
from routing.ports import WaitingContact


class SqlWaitingContactStore:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    async def save(self, contact: WaitingContact) -> None:
        data = contact.to_dict()
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(waiting_contacts)
                .where(waiting_contacts.c.contact_id == contact.contact_id)
                .values(data=data, updated_at=self.clock())
            )
            if result.rowcount == 0:
                try:
                    async with conn.begin_nested():
                        await conn.execute(
                            insert(waiting_contacts).values(
                                contact_id=contact.contact_id, data=data, updated_at=self.clock()
                            )
                        )
                except IntegrityError:
                    # Saved concurrently by another task: last write wins.
                    await conn.execute(
                        update(waiting_contacts)
                        .where(waiting_contacts.c.contact_id == contact.contact_id)
                        .values(data=data, updated_at=self.clock())
                    )

    async def remove(self, contact_id: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                delete(waiting_contacts).where(waiting_contacts.c.contact_id == contact_id)
            )

    async def load_all(self) -> list[WaitingContact]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(waiting_contacts.c.data))).scalars().all()
        contacts = [WaitingContact.from_dict(r) for r in rows]
        return sorted(contacts, key=lambda c: (c.waiting_since, c.contact_id))
