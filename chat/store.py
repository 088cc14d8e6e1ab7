"""Chat storage (SQLAlchemy Core): conversations, their numbered messages (rows of the
core's ``messages`` table, so merges, erasure and the timeline treat them like every
message), attachments, canned responses and the outbound-email hand-off.

Numbering: each message takes the conversation's next ``seq`` in the transaction that
stores it (``UPDATE ... SET last_seq = last_seq + 1 ... RETURNING``), which locks the
conversation's row, so concurrent senders on any node get distinct, gap-free numbers in
commit order. A sender's ``client_id`` is unique per conversation and side: a retried
send finds its first copy instead of storing a second.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, case, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from chat.errors import ChatEnded, ClientIdReused, ConversationFull
from chat.model import Origin, Status
from contact_center.store.schema import (
    canned_responses,
    chat_attachments,
    chat_conversations,
    interactions,
    messages,
    outbound_emails,
)

_CONVERSATION_COLUMNS = [
    chat_conversations.c.id,
    chat_conversations.c.site,
    chat_conversations.c.queue,
    chat_conversations.c.contact_id,
    chat_conversations.c.interaction_id,
    chat_conversations.c.status,
    chat_conversations.c.visitor_name,
    chat_conversations.c.agent_id,
    chat_conversations.c.agent_name,
    chat_conversations.c.last_seq,
    chat_conversations.c.visitor_read_seq,
    chat_conversations.c.agent_read_seq,
    chat_conversations.c.language,
    chat_conversations.c.created_at,
    chat_conversations.c.ended_at,
    chat_conversations.c.ended_by,
    interactions.c.customer_id,
    interactions.c.rating,
    interactions.c.rating_comment,
]
_MESSAGE_COLUMNS = [
    messages.c.seq,
    messages.c.client_id,
    messages.c.origin,
    messages.c.body,
    messages.c.created_at,
    messages.c.sender,
    messages.c.attachments,
    messages.c.notice,
]


# The hot path's statements, built once (their compiled form is cached): number the
# next item of a conversation (not ended, under its limit; system notices always), and
# store it with the interaction's customer read in the same statement.
def _numbering(*conditions: Any) -> Any:
    return (
        update(chat_conversations)
        .where(chat_conversations.c.id == bindparam("conversation_id"), *conditions)
        .values(last_seq=chat_conversations.c.last_seq + 1)
        .returning(
            chat_conversations.c.last_seq,
            chat_conversations.c.agent_id,
            chat_conversations.c.status,
        )
    )


_NUMBER_ANY = _numbering()
_NUMBER_OPEN = _numbering(
    chat_conversations.c.status != Status.ENDED.value,
    chat_conversations.c.last_seq < bindparam("limit"),
)
_MESSAGE_FIELDS = (
    "interaction_id", "direction", "sender", "subject", "body", "attachments",
    "external_id", "created_at", "seq", "client_id", "origin", "notice",
)  # fmt: skip
_INSERT_MESSAGE = insert(messages).from_select(
    ["customer_id", *_MESSAGE_FIELDS],
    select(
        interactions.c.customer_id,
        *(bindparam(f"m_{name}", type_=messages.c[name].type) for name in _MESSAGE_FIELDS),
    ).where(interactions.c.id == bindparam("m_interaction_id")),
)


def message_view(row: Any) -> dict[str, Any]:
    """A stored stream item as the protocol shows it (docs/chat.md, ``message``)."""
    attachments = row["attachments"] or []
    return {
        "seq": row["seq"],
        "client_id": row["client_id"],
        "from": row["origin"],
        "text": row["body"],
        "at": row["created_at"],
        "sender_name": row["sender"],
        "attachment": attachments[0] if attachments else None,
        "notice": row["notice"],
    }


class ChatStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # -- conversations --------------------------------------------------------------

    async def create_conversation(self, values: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(chat_conversations).values(**values))

    def _conversations(self) -> Any:
        return select(*_CONVERSATION_COLUMNS).join(
            interactions, interactions.c.id == chat_conversations.c.interaction_id
        )

    async def _one(self, where: Any) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(self._conversations().where(where))).mappings().first()
        return None if row is None else dict(row)

    async def by_token(self, token_hash: str) -> dict[str, Any] | None:
        return await self._one(chat_conversations.c.token_hash == token_hash)

    async def by_id(self, conversation_id: str) -> dict[str, Any] | None:
        return await self._one(chat_conversations.c.id == conversation_id)

    async def by_contact(self, contact_id: str) -> dict[str, Any] | None:
        return await self._one(chat_conversations.c.contact_id == contact_id)

    async def update(self, conversation_id: str, **values: Any) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(chat_conversations)
                .where(chat_conversations.c.id == conversation_id)
                .values(**values)
            )

    async def mark_read(self, conversation_id: str, origin: Origin, seq: int) -> int:
        """Raise the side's read mark to ``seq`` (never lowers it, never past the last
        message); the mark now."""
        column = (
            chat_conversations.c.visitor_read_seq
            if origin is Origin.VISITOR
            else chat_conversations.c.agent_read_seq
        )
        # A read mark never passes the last message: the lower of the two.
        mark = case((chat_conversations.c.last_seq < seq, chat_conversations.c.last_seq), else_=seq)
        async with self.engine.begin() as conn:
            found = await conn.scalar(
                update(chat_conversations)
                .where(chat_conversations.c.id == conversation_id)
                .values({column.name: case((column < mark, mark), else_=column)})
                .returning(column)
            )
        return int(found or 0)

    async def open_conversations(self) -> list[dict[str, Any]]:
        """Conversations not ended (for upkeep: positions, idle visitors)."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    self._conversations().where(chat_conversations.c.status != Status.ENDED.value)
                )
            ).mappings()
            return [dict(r) for r in rows]

    # -- messages -------------------------------------------------------------------

    async def append(
        self,
        conversation: dict[str, Any],
        *,
        origin: Origin,
        text: str,
        at: float,
        client_id: str | None = None,
        sender_name: str | None = None,
        attachment: dict[str, Any] | None = None,
        notice: str | None = None,
        limit: int | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Store one stream item with the next seq; ``(item, created)``. With a
        ``client_id`` already stored for this side: that item, ``created`` False.

        The item has ``holder``: the agent the conversation was with when it was stored
        (None while nobody has it), for the events. One transaction, no read first: a
        repeated client id fails the unique index, the transaction (and its seq) rolls
        back, and the stored item is read instead."""
        interaction_id = conversation["interaction_id"]
        try:
            async with self.engine.begin() as conn:
                return await self._insert(
                    conn, conversation, origin, text, at, client_id, sender_name, attachment,
                    notice, limit,
                ), True  # fmt: skip
        except IntegrityError:
            if client_id is None:
                raise
            # The same send, arrived twice at once (two nodes, two tabs): the first won.
            found = await self.by_client_id(interaction_id, origin, client_id)
            if found is None:
                raise
            return self._same(found, text, attachment), False

    @staticmethod
    def _same(
        found: dict[str, Any], text: str, attachment: dict[str, Any] | None
    ) -> dict[str, Any]:
        if attachment is None and (found["text"] != text or found["attachment"] is not None):
            raise ClientIdReused(
                "this client_id was already used for another message",
                details={"client_id": found["client_id"], "seq": found["seq"]},
            )
        return found

    async def _insert(
        self,
        conn: AsyncConnection,
        conversation: dict[str, Any],
        origin: Origin,
        text: str,
        at: float,
        client_id: str | None,
        sender_name: str | None,
        attachment: dict[str, Any] | None,
        notice: str | None,
        limit: int | None,
    ) -> dict[str, Any]:
        statement = _NUMBER_ANY if origin is Origin.SYSTEM else _NUMBER_OPEN
        numbered = (
            await conn.execute(
                statement,
                {"conversation_id": conversation["id"], "limit": limit or 2**31 - 1},
            )
        ).first()
        if numbered is None:
            status = await conn.scalar(
                select(chat_conversations.c.status).where(
                    chat_conversations.c.id == conversation["id"]
                )
            )
            if status == Status.ENDED.value:
                raise ChatEnded("this chat has ended")
            raise ConversationFull(
                f"this conversation has reached its {limit} messages",
                details={"max_messages": limit},
            )
        seq, agent_id, status = numbered
        direction = "inbound" if origin is Origin.VISITOR else "outbound"
        row = {
            "interaction_id": conversation["interaction_id"],
            "direction": direction,
            "sender": sender_name,
            "subject": None,
            "body": text,
            "attachments": [attachment] if attachment is not None else [],
            "external_id": None,
            "created_at": at,
            "seq": int(seq),
            "client_id": client_id,
            "origin": origin.value,
            "notice": notice,
        }
        await conn.execute(_INSERT_MESSAGE, {f"m_{k}": v for k, v in row.items()})
        holder = agent_id if status in (Status.OFFERED.value, Status.ACTIVE.value) else None
        return message_view(row) | {"holder": holder}

    async def by_client_id(
        self, interaction_id: int, origin: Origin, client_id: str
    ) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(*_MESSAGE_COLUMNS).where(
                            messages.c.interaction_id == interaction_id,
                            messages.c.origin == origin.value,
                            messages.c.client_id == client_id,
                        )
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else message_view(row)

    async def messages_after(
        self, interaction_id: int, after_seq: int, limit: int = 500
    ) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(*_MESSAGE_COLUMNS)
                    .where(
                        messages.c.interaction_id == interaction_id,
                        messages.c.seq > after_seq,
                    )
                    .order_by(messages.c.seq)
                    .limit(limit)
                )
            ).mappings()
            return [message_view(r) for r in rows]

    # -- attachments ----------------------------------------------------------------

    async def add_attachment(self, values: dict[str, Any]) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(insert(chat_attachments).values(**values))

    async def attachment(self, conversation_id: str, attachment_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(chat_attachments).where(
                            chat_attachments.c.id == attachment_id,
                            chat_attachments.c.conversation_id == conversation_id,
                        )
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else dict(row)

    # -- rating, transcript email ------------------------------------------------------

    async def rate(self, interaction_id: int, rating: int, comment: str | None) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                update(interactions)
                .where(interactions.c.id == interaction_id)
                .values(rating=rating, rating_comment=comment)
            )

    async def queue_email(self, values: dict[str, Any]) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                insert(outbound_emails).values(**values).returning(outbound_emails.c.id)
            )
            return int(result.scalar_one())

    # -- canned responses -------------------------------------------------------------

    async def canned(self, *, queue: str | None, query: str | None) -> list[dict[str, Any]]:
        statement = select(canned_responses).order_by(
            canned_responses.c.shortcut, canned_responses.c.id
        )
        if queue is not None:
            statement = statement.where(
                or_(canned_responses.c.queue == queue, canned_responses.c.queue.is_(None))
            )
        if query:
            needle = query.lower()
            statement = statement.where(
                or_(
                    func.lower(canned_responses.c.shortcut).startswith(needle, autoescape=True),
                    func.lower(canned_responses.c.title).contains(needle, autoescape=True),
                    func.lower(canned_responses.c.text).contains(needle, autoescape=True),
                )
            )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(statement.limit(200))).mappings()
            return [_canned(r) for r in rows]

    async def canned_by_id(self, canned_id: int) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(canned_responses).where(canned_responses.c.id == canned_id)
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else _canned(row)

    async def add_canned(self, values: dict[str, Any]) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                insert(canned_responses).values(**values).returning(canned_responses.c.id)
            )
            return int(result.scalar_one())

    async def update_canned(self, canned_id: int, values: dict[str, Any]) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(canned_responses).where(canned_responses.c.id == canned_id).values(**values)
            )
            return bool(result.rowcount)

    async def delete_canned(self, canned_id: int) -> bool:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(canned_responses).where(canned_responses.c.id == canned_id)
            )
            return bool(result.rowcount)


def _canned(row: Any) -> dict[str, Any]:
    return {
        "id": int(row["id"]),
        "queue": row["queue"],
        "shortcut": row["shortcut"],
        "title": row["title"],
        "text": row["text"],
    }
