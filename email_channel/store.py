"""SQL for the email channel (SQLAlchemy Core): raw intake, threads, messages,
attachments, IMAP mailbox positions and leases. Tables: contact_center/store/schema.py.

Claims and leases are single conditional UPDATEs, so they hold across nodes sharing the
database (SQLite for one node, PostgreSQL for many) without locks held between calls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contact_center.store.schema import (
    email_attachments,
    email_inbound,
    email_mailboxes,
    email_messages,
    email_threads,
)
from email_channel.parsing import Attachment

# Inbound statuses.
RECEIVED = "received"
PROCESSING = "processing"
PROCESSED = "processed"
AUTOMATIC = "automatic"
QUARANTINED = "quarantined"

_THREAD_COLUMNS = tuple(email_threads.c)
_MESSAGE_COLUMNS = tuple(c for c in email_messages.c)


class EmailStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # -- raw intake --------------------------------------------------------------------

    async def store_raw(
        self,
        raw: bytes,
        *,
        source: str,
        received_at: float,
        envelope_from: str | None = None,
        envelope_to: Sequence[str] = (),
        claimed_by: str | None = None,
    ) -> int:
        """Keep a message as received (before any parsing); its id. With ``claimed_by``
        it is stored as claimed by that node already (it processes it next)."""
        async with self.engine.begin() as conn:
            return await self._insert_raw(
                conn,
                raw,
                source=source,
                received_at=received_at,
                envelope_from=envelope_from,
                envelope_to=envelope_to,
                claimed_by=claimed_by,
            )

    async def _insert_raw(
        self,
        conn: AsyncConnection,
        raw: bytes,
        *,
        source: str,
        received_at: float,
        envelope_from: str | None,
        envelope_to: Sequence[str],
        mailbox: str | None = None,
        uidvalidity: int | None = None,
        uid: int | None = None,
        claimed_by: str | None = None,
    ) -> int:
        result = await conn.execute(
            insert(email_inbound)
            .values(
                received_at=received_at,
                source=source,
                mailbox=mailbox,
                uidvalidity=uidvalidity,
                uid=uid,
                envelope_from=(envelope_from or "")[:320] or None,
                envelope_to=[a[:320] for a in envelope_to][:100],
                raw=raw,
                size=len(raw),
                sha256=hashlib.sha256(raw).hexdigest(),
                status=RECEIVED if claimed_by is None else PROCESSING,
                claimed_by=claimed_by,
                claimed_at=None if claimed_by is None else received_at,
                attempts=0 if claimed_by is None else 1,
            )
            .returning(email_inbound.c.id)
        )
        return int(result.scalar_one())

    async def store_imap_message(
        self,
        raw: bytes,
        *,
        mailbox: str,
        uidvalidity: int,
        uid: int,
        received_at: float,
        holder: str,
    ) -> int | None:
        """Keep one IMAP message and move the mailbox's position past it, in one
        transaction, if ``holder`` still holds the lease. None: taken already (the
        (mailbox, uidvalidity, uid) is stored) or the lease is lost."""
        try:
            async with self.engine.begin() as conn:
                moved = await conn.execute(
                    update(email_mailboxes)
                    .where(
                        email_mailboxes.c.name == mailbox,
                        email_mailboxes.c.lease_holder == holder,
                        email_mailboxes.c.uidvalidity == uidvalidity,
                    )
                    .values(
                        last_uid=func.max(email_mailboxes.c.last_uid, uid)
                        if self.engine.dialect.name == "sqlite"
                        else func.greatest(email_mailboxes.c.last_uid, uid),
                        updated_at=received_at,
                    )
                )
                if moved.rowcount != 1:
                    return None
                return await self._insert_raw(
                    conn,
                    raw,
                    source="imap",
                    received_at=received_at,
                    envelope_from=None,
                    envelope_to=(),
                    mailbox=mailbox,
                    uidvalidity=uidvalidity,
                    uid=uid,
                )
        except IntegrityError:
            return None

    async def claim(self, inbound_id: int, node: str, now: float, stale_after: float) -> bool:
        """Take a received message for processing (or one a dead node left processing)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(email_inbound)
                .where(
                    email_inbound.c.id == inbound_id,
                    or_(
                        email_inbound.c.status == RECEIVED,
                        and_(
                            email_inbound.c.status == PROCESSING,
                            email_inbound.c.claimed_at < now - stale_after,
                        ),
                    ),
                )
                .values(
                    status=PROCESSING,
                    claimed_by=node,
                    claimed_at=now,
                    attempts=email_inbound.c.attempts + 1,
                )
            )
            return bool(result.rowcount == 1)

    async def unprocessed(self, now: float, stale_after: float, limit: int = 100) -> list[int]:
        """Messages received but not processed (a restart, or a node that died)."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(email_inbound.c.id)
                .where(
                    or_(
                        email_inbound.c.status == RECEIVED,
                        and_(
                            email_inbound.c.status == PROCESSING,
                            email_inbound.c.claimed_at < now - stale_after,
                        ),
                    )
                )
                .order_by(email_inbound.c.id)
                .limit(limit)
            )
            return [int(r) for r in rows.scalars()]

    async def raw_of(self, inbound_id: int) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                (await conn.execute(select(email_inbound).where(email_inbound.c.id == inbound_id)))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    async def finish(
        self,
        inbound_id: int,
        status: str,
        now: float,
        *,
        reason: str | None = None,
        error: str | None = None,
        thread_id: int | None = None,
    ) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(email_inbound)
                .where(email_inbound.c.id == inbound_id)
                .values(
                    status=status,
                    reason=reason,
                    error=error,
                    processed_at=now,
                    thread_id=thread_id,
                    claimed_by=None,
                )
            )

    async def requeue(self, inbound_id: int) -> bool:
        """A quarantined message back to received (an administrator's retry)."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(email_inbound)
                .where(email_inbound.c.id == inbound_id, email_inbound.c.status == QUARANTINED)
                .values(status=RECEIVED, claimed_by=None, claimed_at=None)
            )
            return bool(result.rowcount == 1)

    async def quarantined(self, limit: int, before_id: int | None) -> list[dict[str, Any]]:
        columns = [c for c in email_inbound.c if c.name != "raw"]
        query = select(*columns).where(email_inbound.c.status == QUARANTINED)
        if before_id is not None:
            query = query.where(email_inbound.c.id < before_id)
        async with self.engine.connect() as conn:
            rows = await conn.execute(query.order_by(email_inbound.c.id.desc()).limit(limit))
            return [dict(r) for r in rows.mappings()]

    # -- threads and messages --------------------------------------------------------------

    async def create_thread(self, conn: AsyncConnection, values: Mapping[str, Any]) -> int:
        result = await conn.execute(
            insert(email_threads).values(**values).returning(email_threads.c.id)
        )
        return int(result.scalar_one())

    async def update_thread(
        self, thread_id: int, values: Mapping[str, Any], conn: AsyncConnection | None = None
    ) -> None:
        statement = update(email_threads).where(email_threads.c.id == thread_id).values(**values)
        if conn is not None:
            await conn.execute(statement)
            return
        async with self.engine.begin() as own:
            await own.execute(statement)

    async def claim_opening(
        self, thread_id: int, openings: int, contact_id: str, now: float
    ) -> bool:
        """Open the thread as opening ``openings + 1`` unless another node just did."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(email_threads)
                .where(email_threads.c.id == thread_id, email_threads.c.openings == openings)
                .values(status="open", contact_id=contact_id, openings=openings + 1, updated_at=now)
            )
            return bool(result.rowcount == 1)

    async def thread(self, thread_id: int) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(*_THREAD_COLUMNS).where(email_threads.c.id == thread_id)
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    async def thread_of_contact(self, contact_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(*_THREAD_COLUMNS).where(email_threads.c.contact_id == contact_id)
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    async def threads_of_message_ids(self, message_ids: Iterable[str]) -> list[int]:
        """Threads holding any of these Message-IDs, most recently stored first."""
        wanted = [m[:255] for m in message_ids]
        if not wanted:
            return []
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(email_messages.c.thread_id)
                .where(email_messages.c.message_id.in_(wanted))
                .order_by(email_messages.c.id.desc())
                .limit(20)
            )
            return list(dict.fromkeys(int(r) for r in rows.scalars()))

    async def recent_thread_by_subject(
        self, customer_id: int, subject_key: str, since: float
    ) -> int | None:
        async with self.engine.connect() as conn:
            found = await conn.execute(
                select(email_threads.c.id)
                .where(
                    email_threads.c.customer_id == customer_id,
                    email_threads.c.subject_key == subject_key,
                    email_threads.c.updated_at >= since,
                )
                .order_by(email_threads.c.updated_at.desc())
                .limit(1)
            )
            value = found.scalar()
        return int(value) if value is not None else None

    async def insert_message(
        self,
        conn: AsyncConnection,
        values: Mapping[str, Any],
        attachments: Sequence[Attachment] = (),
    ) -> int:
        result = await conn.execute(
            insert(email_messages).values(**values).returning(email_messages.c.id)
        )
        message_id = int(result.scalar_one())
        if attachments:
            await conn.execute(
                insert(email_attachments),
                [
                    {
                        "message_id": message_id,
                        "filename": a.filename,
                        "declared_type": a.declared_type,
                        "detected_type": a.detected_type,
                        "size": a.size,
                        "sha256": a.sha256,
                        "content": a.content,
                        "inline": a.inline,
                        "content_id": a.content_id,
                    }
                    for a in attachments
                ],
            )
        return message_id

    async def update_message(self, message_id: int, values: Mapping[str, Any]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(email_messages).where(email_messages.c.id == message_id).values(**values)
            )

    async def message_by_client_id(self, thread_id: int, client_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(*_MESSAGE_COLUMNS).where(
                            email_messages.c.thread_id == thread_id,
                            email_messages.c.client_id == client_id,
                        )
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    async def messages(self, thread_id: int) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(*_MESSAGE_COLUMNS)
                .where(email_messages.c.thread_id == thread_id)
                .order_by(email_messages.c.created_at, email_messages.c.id)
            )
            found = [dict(r) for r in rows.mappings()]
            ids = [m["id"] for m in found]
            attachments: dict[int, list[dict[str, Any]]] = {}
            if ids:
                rows = await conn.execute(
                    select(*(c for c in email_attachments.c if c.name != "content"))
                    .where(email_attachments.c.message_id.in_(ids))
                    .order_by(email_attachments.c.id)
                )
                for row in rows.mappings():
                    attachments.setdefault(row["message_id"], []).append(dict(row))
        for message in found:
            message["attachments"] = attachments.get(message["id"], [])
        return found

    async def attachment(self, attachment_id: int) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(email_attachments, email_messages.c.thread_id)
                        .join(email_messages, email_messages.c.id == email_attachments.c.message_id)
                        .where(email_attachments.c.id == attachment_id)
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    async def acknowledgements_since(self, customer_id: int, since: float) -> int:
        """Acknowledgements sent to ``customer_id`` since ``since`` (the loop rule's rate)."""
        async with self.engine.connect() as conn:
            found = await conn.execute(
                select(func.count())
                .select_from(
                    email_messages.join(
                        email_threads, email_threads.c.id == email_messages.c.thread_id
                    )
                )
                .where(
                    email_threads.c.customer_id == customer_id,
                    email_messages.c.kind == "acknowledgement",
                    email_messages.c.created_at >= since,
                )
            )
            return int(found.scalar_one())

    # -- IMAP mailboxes ------------------------------------------------------------------------

    async def acquire_lease(self, mailbox: str, holder: str, now: float, seconds: float) -> bool:
        """Hold (or renew) the right to poll ``mailbox`` until ``now + seconds``; False
        while another node holds an unexpired lease."""
        async with self.engine.begin() as conn:
            try:
                async with conn.begin_nested():
                    await conn.execute(
                        insert(email_mailboxes).values(
                            name=mailbox,
                            last_uid=0,
                            lease_holder=holder,
                            lease_until=now + seconds,
                            updated_at=now,
                        )
                    )
                return True
            except IntegrityError:
                pass
            result = await conn.execute(
                update(email_mailboxes)
                .where(
                    email_mailboxes.c.name == mailbox,
                    or_(
                        email_mailboxes.c.lease_holder == holder,
                        email_mailboxes.c.lease_holder.is_(None),
                        email_mailboxes.c.lease_until < now,
                    ),
                )
                .values(lease_holder=holder, lease_until=now + seconds)
            )
            return bool(result.rowcount == 1)

    async def release_lease(self, mailbox: str, holder: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(email_mailboxes)
                .where(email_mailboxes.c.name == mailbox, email_mailboxes.c.lease_holder == holder)
                .values(lease_holder=None, lease_until=None)
            )

    async def mailbox(self, mailbox: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(email_mailboxes).where(email_mailboxes.c.name == mailbox)
                    )
                )
                .mappings()
                .first()
            )
        return dict(row) if row else None

    async def reset_mailbox(self, mailbox: str, holder: str, uidvalidity: int, now: float) -> bool:
        """A new UIDVALIDITY: every UID is new, so polling starts again from the first."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(email_mailboxes)
                .where(email_mailboxes.c.name == mailbox, email_mailboxes.c.lease_holder == holder)
                .values(uidvalidity=uidvalidity, last_uid=0, updated_at=now)
            )
            return bool(result.rowcount == 1)
