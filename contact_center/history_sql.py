"""The history recorder's statements: one SQL statement per router or telephony event.

Each event becomes a single ``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` (a contact
arrives) or ``UPDATE interactions ... WHERE contact_id = ...`` (everything after), so the
recorder never reads a row to write it back: facts that depend on the row (the end of a
call not before its answer, a list of recordings to append to, an agent id that must be
a user) are computed by the database in the same statement. Works on SQLite and
PostgreSQL (the two dialects differ only in their JSON functions and ``greatest``).

Pure: builds statements, executes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    JSON,
    Text,
    Update,
    and_,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import ColumnElement, Executable

from contact_center.store.schema import customers, interactions, users

_I = interactions.c


def agent_user_id(agent_id: object) -> int | None:
    """Router agent ids are user ids as text; anything else has no user row."""
    text = str(agent_id) if agent_id is not None else ""
    return int(text) if text.isdigit() else None


class HistoryStatements:
    """Builds the statement of each event for one database dialect."""

    def __init__(self, dialect: str, *, voice_prefix: str, repeat_window_seconds: float) -> None:
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"history: unsupported database dialect {dialect!r}")
        self.dialect = dialect
        self.voice_prefix = voice_prefix
        self.repeat_window_seconds = repeat_window_seconds

    def for_event(self, name: str, data: dict[str, Any]) -> Executable | None:
        """The one statement recording event ``name`` (``data``: its ``to_dict()``), or
        None when the event changes nothing on the timeline."""
        if name == "contact.queued":
            return self._arrived(data)
        if name == "contact.offered":
            return self._with_agent(data, {"offered_at": data["at"]})
        if name == "contact.connected":
            return self._with_agent(data, {"answered_at": data["at"]})
        if name == "contact.transferred":
            return self._contact(data["contact_id"]).values(queue=data["queue"])
        if name == "contact.abandoned":
            return self._contact(data["contact_id"]).values(
                ended_at=data["at"],
                status="closed",
                disposition="abandoned",
                external_ids=self._append_ref("end_reason", str(data["reason"])),
            )
        if name == "contact.closed":
            return (
                self._contact(data["contact_id"])
                .where(_I.status != "closed")
                .values(status="closed", ended_at=func.coalesce(_I.ended_at, data["at"]))
            )
        if name == "call.recording_started":
            return self._contact(self.voice_prefix + data["call_id"]).values(
                external_ids=self._append_ref("recordings", str(data["file"]))
            )
        if name == "call.hung_up":
            # Asterisk stamps this event with its own clock: never let it put the end
            # before a moment our clock recorded.
            at = literal(float(data["at"]))
            moments = [
                func.coalesce(col, at)
                for col in (_I.started_at, _I.queued_at, _I.offered_at, _I.answered_at)
            ]
            latest = func.greatest if self.dialect == "postgresql" else func.max
            return self._contact(self.voice_prefix + data["call_id"]).values(
                ended_at=latest(at, *moments),
                external_ids=self._append_ref(
                    "hangup", f"{data['hung_up_by']}:{data['cause_text']}"
                ),
            )
        return None

    def customers_touched(self, customer_ids: Iterable[int], now: float) -> Executable:
        """One statement for all contacts that arrived in a batch: each customer's last
        contact and repeat-contact flag, from their interactions."""
        later = interactions.alias("later")
        return (
            update(customers)
            .where(customers.c.id.in_(sorted(set(customer_ids))))
            .values(
                last_contact_at=select(func.max(later.c.started_at))
                .where(later.c.customer_id == customers.c.id)
                .scalar_subquery(),
                repeat_contact=customers.c.repeat_contact
                | exists().where(
                    later.c.customer_id == customers.c.id,
                    later.c.repeat_contact.is_(True),
                    later.c.resolved.is_(False),
                    later.c.started_at >= now - self.repeat_window_seconds,
                ),
                updated_at=now,
            )
        )

    # ------------------------------------------------------------------ parts

    def _contact(self, contact_id: str) -> Update:
        return update(interactions).where(_I.contact_id == contact_id)

    def _with_agent(self, data: dict[str, Any], changes: dict[str, Any]) -> Executable:
        user_id = agent_user_id(data["agent_id"])
        values: dict[str, Any] = dict(changes)
        if user_id is not None:
            # An agent id that is no user (configured by hand) keeps the times and the
            # agent recorded before, in the same statement (no failed foreign key).
            values["agent_id"] = func.coalesce(
                select(users.c.id).where(users.c.id == user_id).scalar_subquery(), _I.agent_id
            )
        return self._contact(data["contact_id"]).values(**values)

    def _arrived(self, data: dict[str, Any]) -> Executable | None:
        contact_id = data["contact_id"]
        if data.get("reason", "arrived") != "arrived" or not data.get("customer_id"):
            # Re-queued (declined, transferred, recovered) contacts already have their row;
            # a contact with no known customer has no timeline to go on.
            return None
        customer_id = int(data["customer_id"])
        at = float(data["at"])
        external: dict[str, str] = {"contact_id": contact_id}
        if contact_id.startswith(self.voice_prefix):
            external["asterisk_call"] = contact_id[len(self.voice_prefix) :]
        earlier = interactions.alias("earlier")
        repeat = exists().where(
            earlier.c.customer_id == customer_id,
            earlier.c.resolved.is_(False),
            earlier.c.started_at >= at - self.repeat_window_seconds,
        )
        row = select(
            customers.c.id,
            literal(contact_id),
            literal(str(data["channel"])),
            literal("inbound"),
            literal("open"),
            literal(data["queue"]),
            literal(at),
            literal(at),
            false(),
            case((repeat, True), else_=False),
            bindparam("external_ids", external, type_=JSON),
            literal(next(iter(external.values()))),
        ).where(
            # Only a live customer gets a new timeline entry (not merged, not erased).
            and_(
                customers.c.id == customer_id,
                customers.c.merged_into_id.is_(None),
                customers.c.erased_at.is_(None),
            )
        )
        insert = postgresql.insert if self.dialect == "postgresql" else sqlite.insert
        return (
            insert(interactions)
            .from_select(
                [
                    "customer_id",
                    "contact_id",
                    "channel",
                    "direction",
                    "status",
                    "queue",
                    "started_at",
                    "queued_at",
                    "resolved",
                    "repeat_contact",
                    "external_ids",
                    "external_ref",
                ],
                row,
            )
            .on_conflict_do_nothing(index_elements=["contact_id"])
        )

    def _append_ref(self, key: str, value: str) -> ColumnElement[Any]:
        """``external_ids`` with ``value`` appended to its list ``key`` (a list is made
        if the key is missing or holds something else)."""
        col = _I.external_ids
        if self.dialect == "postgresql":
            doc = cast(col, JSONB)
            listed = case(
                (func.jsonb_typeof(doc[key]) == "array", doc[key]),
                else_=cast(literal("[]"), JSONB),
            )
            added = listed.op("||")(func.jsonb_build_array(cast(literal(value), Text)))
            merged = doc.op("||")(func.jsonb_build_object(cast(literal(key), Text), added))
            return cast(merged, JSON)
        path = f"$.{key}"
        listed_text = case(
            (func.json_type(col, path) == "array", func.json_extract(col, path)), else_="[]"
        )
        return func.json_set(
            col, path, func.json(func.json_insert(listed_text, "$[#]", literal(value)))
        )
