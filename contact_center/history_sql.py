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
    Float,
    Integer,
    String,
    Text,
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
    """The statement of each event for one database dialect, built once with bound
    parameters (an event only supplies values, so the statements of many events of one
    kind can go to the database together, as one ``executemany``)."""

    def __init__(self, dialect: str, *, voice_prefix: str, repeat_window_seconds: float) -> None:
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"history: unsupported database dialect {dialect!r}")
        self.dialect = dialect
        self.voice_prefix = voice_prefix
        self.repeat_window_seconds = repeat_window_seconds
        at = bindparam("p_at", type_=Float)
        by_contact = update(interactions).where(
            _I.contact_id == bindparam("p_contact", type_=String)
        )
        agent = func.coalesce(
            select(users.c.id)
            .where(users.c.id == bindparam("p_agent", type_=Integer))
            .scalar_subquery(),
            _I.agent_id,
        )
        # An agent id that is no user (configured by hand) keeps the times and the agent
        # recorded before, in the same statement (no failed foreign key).
        latest = func.greatest if dialect == "postgresql" else func.max
        moments = [
            func.coalesce(col, at)
            for col in (_I.started_at, _I.queued_at, _I.offered_at, _I.answered_at)
        ]
        self._arrival = self._arrival_statement(at)
        self._offered = by_contact.values(offered_at=at)
        self._offered_to_user = by_contact.values(offered_at=at, agent_id=agent)
        self._connected = by_contact.values(answered_at=at)
        self._connected_to_user = by_contact.values(answered_at=at, agent_id=agent)
        self._transferred = by_contact.values(queue=bindparam("p_queue", type_=String))
        self._abandoned = by_contact.values(
            ended_at=at,
            status="closed",
            disposition="abandoned",
            external_ids=self._append_ref("end_reason"),
        )
        self._closed = by_contact.where(_I.status != "closed").values(
            status="closed", ended_at=func.coalesce(_I.ended_at, at)
        )
        self._recording = by_contact.values(external_ids=self._append_ref("recordings"))
        # Asterisk stamps a hang-up with its own clock: never let it put the end before
        # a moment our clock recorded.
        # A hold that was still on when the call ended counts up to the hang-up.
        hold_so_far = case(
            (
                and_(_I.held_since.is_not(None), at > _I.held_since),
                _I.hold_seconds + (at - _I.held_since),
            ),
            else_=_I.hold_seconds,
        )
        self._hung_up = by_contact.values(
            ended_at=latest(at, *moments),
            external_ids=self._append_ref("hangup"),
            hold_seconds=hold_so_far,
            held_since=None,
        )
        # Metrics (docs/metrics.md): handle time is talk + hold + wrap-up. Wrap-up starts
        # when the conversation ends (a call's own end, from its hang-up, is kept when
        # it came first); its end is kept; holds add up from call.held to call.resumed.
        self._wrap_up_started = by_contact.values(ended_at=func.coalesce(_I.ended_at, at))
        self._wrap_up_ended = by_contact.values(wrap_up_ended_at=at)
        self._held = by_contact.where(_I.held_since.is_(None)).values(held_since=at)
        self._resumed = by_contact.where(_I.held_since.is_not(None)).values(
            hold_seconds=hold_so_far, held_since=None
        )

    def for_event(
        self, name: str, data: dict[str, Any]
    ) -> tuple[Executable, dict[str, Any]] | None:
        """The one statement recording event ``name`` (``data``: its ``to_dict()``) and
        its parameters, or None when the event changes nothing on the timeline."""
        at = float(data["at"])
        if name == "contact.queued":
            return self._arrived(data)
        if name in ("contact.offered", "contact.connected"):
            user_id = agent_user_id(data["agent_id"])
            params: dict[str, Any] = {"p_contact": data["contact_id"], "p_at": at}
            if user_id is None:
                plain = self._offered if name == "contact.offered" else self._connected
                return plain, params
            with_user = (
                self._offered_to_user if name == "contact.offered" else self._connected_to_user
            )
            return with_user, {**params, "p_agent": user_id}
        if name == "contact.transferred":
            return self._transferred, {"p_contact": data["contact_id"], "p_queue": data["queue"]}
        if name == "contact.abandoned":
            return self._abandoned, {
                "p_contact": data["contact_id"],
                "p_at": at,
                "p_ref": str(data["reason"]),
            }
        if name == "contact.closed":
            return self._closed, {"p_contact": data["contact_id"], "p_at": at}
        if name == "call.recording_started":
            return self._recording, {
                "p_contact": self.voice_prefix + data["call_id"],
                "p_ref": str(data["file"]),
            }
        if name == "contact.wrap_up_started":
            return self._wrap_up_started, {"p_contact": data["contact_id"], "p_at": at}
        if name == "contact.wrap_up_ended":
            return self._wrap_up_ended, {"p_contact": data["contact_id"], "p_at": at}
        if name in ("call.held", "call.resumed"):
            statement = self._held if name == "call.held" else self._resumed
            return statement, {"p_contact": self.voice_prefix + data["call_id"], "p_at": at}
        if name == "call.hung_up":
            return self._hung_up, {
                "p_contact": self.voice_prefix + data["call_id"],
                "p_at": at,
                "p_ref": f"{data['hung_up_by']}:{data['cause_text']}",
            }
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

    def next_contacts(self, customer_ids: Iterable[int]) -> Executable:
        """For the customers whose contacts arrived in a batch: each earlier contact
        without a next one gets when the customer's next contact started (first-contact
        resolution, docs/metrics.md)."""
        later = interactions.alias("later")
        return (
            update(interactions)
            .where(
                _I.customer_id.in_(sorted(set(customer_ids))),
                _I.next_contact_at.is_(None),
            )
            .values(
                next_contact_at=select(func.min(later.c.started_at))
                .where(
                    later.c.customer_id == _I.customer_id,
                    later.c.started_at > _I.started_at,
                )
                .scalar_subquery()
            )
        )

    # ------------------------------------------------------------------ parts

    def _arrived(self, data: dict[str, Any]) -> tuple[Executable, dict[str, Any]] | None:
        contact_id = data["contact_id"]
        if data.get("reason", "arrived") != "arrived" or not data.get("customer_id"):
            # Re-queued (declined, transferred, recovered) contacts already have their row;
            # a contact with no known customer has no timeline to go on.
            return None
        at = float(data["at"])
        external: dict[str, str] = {"contact_id": contact_id}
        if contact_id.startswith(self.voice_prefix):
            external["asterisk_call"] = contact_id[len(self.voice_prefix) :]
        return self._arrival, {
            "p_customer": int(data["customer_id"]),
            "p_contact": contact_id,
            "p_channel": str(data["channel"]),
            "p_queue": data["queue"],
            "p_at": at,
            "p_since": at - self.repeat_window_seconds,
            "p_external": external,
            "p_ref": contact_id,
        }

    def _arrival_statement(self, at: Any) -> Executable:
        """``INSERT ... SELECT`` from the customer's row, so that only a live customer (not
        merged, not erased) gets a new timeline entry, and ``ON CONFLICT DO NOTHING`` on
        the contact id (an arrival seen twice records one interaction)."""
        customer = bindparam("p_customer", type_=Integer)
        earlier = interactions.alias("earlier")
        repeat = exists().where(
            earlier.c.customer_id == customer,
            earlier.c.resolved.is_(False),
            earlier.c.started_at >= bindparam("p_since", type_=Float),
        )
        row = select(
            customers.c.id,
            bindparam("p_contact", type_=String),
            bindparam("p_channel", type_=String),
            literal("inbound"),
            literal("open"),
            bindparam("p_queue", type_=String),
            at,
            at,
            false(),
            case((repeat, True), else_=False),
            bindparam("p_external", type_=JSON),
            bindparam("p_ref", type_=String),
        ).where(
            and_(
                customers.c.id == customer,
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

    def _append_ref(self, key: str) -> ColumnElement[Any]:
        """``external_ids`` with the parameter ``p_ref`` appended to its list ``key`` (a
        list is made if the key is missing or holds something else)."""
        col = _I.external_ids
        value = bindparam("p_ref", type_=String)
        if self.dialect == "postgresql":
            doc = cast(col, JSONB)
            listed = case(
                (func.jsonb_typeof(doc[key]) == "array", doc[key]),
                else_=cast(literal("[]"), JSONB),
            )
            added = listed.op("||")(func.jsonb_build_array(cast(value, Text)))
            merged = doc.op("||")(func.jsonb_build_object(cast(literal(key), Text), added))
            return cast(merged, JSON)
        path = f"$.{key}"
        listed_text = case(
            (func.json_type(col, path) == "array", func.json_extract(col, path)), else_="[]"
        )
        return func.json_set(col, path, func.json(func.json_insert(listed_text, "$[#]", value)))
