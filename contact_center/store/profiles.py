"""The customer profile store: identity resolution, profiles, history, merges, value, privacy.

Every channel writes here (interactions, messages, notes, orders) and the console
reads from here (screen-pop, history). Reads of a profile and every change are
audit-logged in the same transaction as the read or change.

Hot reads use SQLAlchemy Core with hand-shaped queries: a screen-pop is three
read round trips (profile + value figures, interactions, their notes/messages and
recent orders) plus the audit insert.

The audit log says who did what to which customer id, and keeps no personal values:
which identity kind matched (not the number or address), which fields changed (values
only for fields that identify nobody), never free text. Erasing a customer also redacts
their older audit rows and merge records, and on SQLite checkpoints the write-ahead log
so no erased value is left in the database files.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from sqlalchemy import (
    Integer,
    Select,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from contact_center.domain.customer import (
    Channel,
    Direction,
    InteractionStatus,
    LifecycleStage,
    MonthTotals,
    compute_value,
    month_index,
    next_lifecycle_stage,
    search_key,
)
from contact_center.domain.identity import (
    Identity,
    IdentityKind,
    InvalidIdentity,
    normalize_identity,
)
from contact_center.errors import AppError, Conflict, InvalidInput, NotFound
from contact_center.services import SYSTEM, Actor
from contact_center.settings import ValueSettings
from contact_center.store.schema import (
    Id,
    audit_events,
    customer_value_months,
    customers,
    identities,
    interactions,
    merges,
    messages,
    notes,
    orders,
    users,
)

log = logging.getLogger(__name__)


class CustomerNotFound(NotFound):
    error_id = "customer-not-found"


class InteractionNotFound(NotFound):
    error_id = "interaction-not-found"


class MergeNotFound(NotFound):
    error_id = "merge-not-found"


class IdentityTaken(Conflict):
    error_id = "identity-taken"


class CustomerMerged(Conflict):
    error_id = "customer-merged"


class MergeRejected(Conflict):
    error_id = "merge-rejected"


class InvalidCursor(InvalidInput):
    error_id = "invalid-cursor"


class MissingField(InvalidInput):
    error_id = "missing-field"


class UnknownAgent(InvalidInput):
    error_id = "unknown-agent"


class CustomerErased(Conflict):
    error_id = "customer-erased"


class IdentitiesConflict(Conflict):
    """A row's identities (or customer id) name more than one customer, or one unknown."""

    error_id = "identities-conflict"


class CustomerExists(Conflict):
    error_id = "customer-exists"


class OrderExists(Conflict):
    error_id = "order-exists"


# What an import does with a row that matches an existing record and differs from it.
OnConflict = Literal["update", "skip", "reject"]


@dataclasses.dataclass(frozen=True, slots=True)
class Resolution:
    customer_id: int
    created: bool


@dataclasses.dataclass(frozen=True, slots=True)
class CustomerOutcome:
    """What :meth:`ProfileStore.import_customer` did with one row."""

    outcome: Literal["created", "updated", "unchanged", "skipped"]
    customer_id: int
    # Names of the fields the row changed, or would have changed ("identity:phone" for a
    # new identity): never their values, so the outcome can be reported anywhere.
    fields: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class OrderOutcome:
    """What :meth:`ProfileStore.write_orders` did with one order row."""

    index: int
    outcome: Literal["created", "updated", "unchanged", "skipped", "rejected"]
    order_id: int | None = None
    customer_id: int | None = None
    # Set when an update moved the order from another customer.
    previous_customer_id: int | None = None
    fields: tuple[str, ...] = ()  # order fields that differ from the stored order
    customer_created: bool = False
    error: AppError | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class NewMessage:
    direction: str
    body: str
    created_at: float
    sender: str | None = None
    subject: str | None = None
    external_id: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class NewNote:
    body: str
    author: Actor


@dataclasses.dataclass(frozen=True, slots=True)
class NewInteraction:
    """One past or still open contact, for :meth:`ProfileStore.create_customer_with_history`."""

    channel: str
    direction: str
    started_at: float
    status: str = InteractionStatus.OPEN.value
    contact_id: str | None = None
    queue: str | None = None
    subject: str | None = None
    external_ids: Mapping[str, str] = dataclasses.field(default_factory=dict)
    agent: Actor | None = None  # who handled it (and wrote its wrap-up)
    queued_at: float | None = None
    offered_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    disposition: str | None = None
    resolved: bool = False
    notes: str | None = None
    summary: str | None = None
    messages: Sequence[NewMessage] = ()
    note_items: Sequence[NewNote] = ()


SNIPPET_CHARS = 200
_ORDER_CHUNK = 500  # order rows per transaction in write_orders
# Order columns compared when a row names a stored order, with the names reported.
_ORDER_FIELDS = (
    ("amount_cents", "amount"),
    ("margin_cents", "margin"),
    ("currency", "currency"),
    ("items", "items"),
    ("status", "status"),
    ("ordered_at", "ordered_at"),
)
MAX_NOTE_CHARS = 20_000
MAX_MESSAGE_CHARS = 1_000_000
ERASED = "[erased]"

# Fields a person may change on a customer, with the checks each needs.
_TEXT_LIMITS = {"display_name": 200, "language": 16, "timezone": 64}
_UPDATABLE = {
    "display_name",
    "language",
    "timezone",
    "lifecycle_stage",
    "owner_agent_id",
    "tags",
    "attributes",
    "consent",
    "provisional",
}
_MERGE_RESTORABLE = (
    "display_name",
    "search_name",
    "language",
    "timezone",
    "lifecycle_stage",
    "owner_agent_id",
    "tags",
    "attributes",
    "consent",
    "provisional",
)
_LIFECYCLE_ORDER = [s.value for s in LifecycleStage]
# What the wrap-up of a recorded contact sets (the audit details of interaction.updated).
_RECORDED_FIELDS = [
    "agent_id", "answered_at", "disposition", "ended_at", "notes", "offered_at",
    "queued_at", "resolved", "status", "summary",
]  # fmt: skip
# Fields whose before and after values the audit log keeps: they identify nobody. Of
# the others (name, language, time zone, tags, attributes) it records only that they
# changed: their values are personal data, and free text may hold anything.
_AUDITED_VALUES = frozenset({"lifecycle_stage", "owner_agent_id", "consent", "provisional"})
# Audit detail keys whose string values are vocabulary of this code, not personal data.
_AUDIT_SAFE_STRINGS = frozenset({"via", "identity_kind", "criteria", "fields"})
_ASCII_DIGITS = re.compile(r"[0-9]{1,18}")

_PROFILE_COLUMNS = [
    customers.c.id,
    customers.c.display_name,
    customers.c.language,
    customers.c.timezone,
    customers.c.tier,
    customers.c.previous_tier,
    customers.c.churn_risk,
    customers.c.lifecycle_stage,
    customers.c.owner_agent_id,
    customers.c.tags,
    customers.c.attributes,
    customers.c.consent,
    customers.c.provisional,
    customers.c.merged_into_id,
    customers.c.erased_at,
    customers.c.spend_window_cents,
    customers.c.margin_window_cents,
    customers.c.orders_window,
    customers.c.lifetime_spend_cents,
    customers.c.lifetime_orders,
    customers.c.last_order_at,
    customers.c.last_contact_at,
    customers.c.repeat_contact,
    customers.c.created_at,
    customers.c.updated_at,
]

_INTERACTION_COLUMNS = [
    interactions.c.id,
    interactions.c.contact_id,
    interactions.c.channel,
    interactions.c.direction,
    interactions.c.status,
    interactions.c.queue,
    interactions.c.agent_id,
    interactions.c.started_at,
    interactions.c.queued_at,
    interactions.c.offered_at,
    interactions.c.answered_at,
    interactions.c.ended_at,
    interactions.c.disposition,
    interactions.c.resolved,
    interactions.c.repeat_contact,
    interactions.c.subject,
    interactions.c.notes,
    interactions.c.summary,
    interactions.c.external_ids,
    interactions.c.rating,
    interactions.c.rating_comment,
]


def _details_statement(customer_id: Any, interaction_ids: Any) -> Any:
    """Notes of the interactions and the customer, latest messages, recent orders: one query.

    The three parts share one column shape so they travel in one UNION ALL. The
    arguments are values or bind parameters (the screen-pop's statement is built once).
    """
    ranked = (
        select(
            messages.c.id,
            messages.c.interaction_id,
            messages.c.created_at,
            messages.c.direction,
            messages.c.sender,
            messages.c.subject,
            func.substr(messages.c.body, 1, SNIPPET_CHARS).label("body"),
            func.row_number()
            .over(partition_by=messages.c.interaction_id, order_by=messages.c.created_at.desc())
            .label("rank"),
        )
        .where(messages.c.interaction_id.in_(interaction_ids))
        .subquery()
    )
    message_part = select(
        literal("message").label("part"),
        ranked.c.id,
        ranked.c.interaction_id,
        ranked.c.created_at.label("at"),
        ranked.c.direction.label("who"),
        ranked.c.sender.label("extra"),
        ranked.c.subject.label("title"),
        ranked.c.body.label("body"),
        literal(0).label("amount_cents"),
        literal(0).label("margin_cents"),
    ).where(ranked.c.rank <= 3)
    note_part = (
        select(
            literal("note").label("part"),
            notes.c.id,
            notes.c.interaction_id,
            notes.c.created_at.label("at"),
            func.coalesce(users.c.display_name, "").label("who"),
            literal("").label("extra"),
            literal("").label("title"),
            notes.c.body,
            literal(0).label("amount_cents"),
            literal(0).label("margin_cents"),
        )
        .select_from(notes.outerjoin(users, users.c.id == notes.c.author_id))
        .where(
            # customer_id first: a note's customer is always its interaction's customer,
            # and this keeps the search to one customer's notes.
            notes.c.customer_id == customer_id,
            or_(
                notes.c.interaction_id.in_(interaction_ids),
                notes.c.interaction_id.is_(None),
            ),
        )
        .order_by(notes.c.created_at.desc())
        .limit(100)
        .subquery()
    )
    order_part = (
        select(
            literal("order").label("part"),
            orders.c.id,
            cast(null(), Id).label("interaction_id"),
            orders.c.ordered_at.label("at"),
            orders.c.status.label("who"),
            orders.c.currency.label("extra"),
            orders.c.external_id.label("title"),
            literal("").label("body"),
            orders.c.amount_cents,
            orders.c.margin_cents,
        )
        .where(orders.c.customer_id == customer_id)
        .order_by(orders.c.ordered_at.desc())
        .limit(10)
        .subquery()
    )
    return union_all(message_part, select(note_part), select(order_part))


class _ScreenPopStatements:
    """The screen-pop's three statements, built once with bind parameters.

    Built per call, SQLAlchemy spent ~1-2 ms of CPU a screen-pop constructing the
    union/subquery constructs and their cache keys before finding the compiled form
    in its cache; a statement object built once memoizes its cache key.
    """

    def __init__(self) -> None:
        self.head = self._head(by_identity=True)
        self.head_of_customer = self._head(by_identity=False)
        customer_id = bindparam("customer_id", type_=interactions.c.customer_id.type)
        recent = (
            select(*_INTERACTION_COLUMNS)
            .where(interactions.c.customer_id == customer_id)
            .order_by(interactions.c.started_at.desc(), interactions.c.id.desc())
            .limit(bindparam("limit", type_=Integer))
        ).subquery()
        still_open = select(*_INTERACTION_COLUMNS).where(
            interactions.c.customer_id == customer_id,
            interactions.c.status == InteractionStatus.OPEN.value,
        )
        self.interactions = union_all(select(recent), still_open)
        self.details = _details_statement(
            bindparam("customer_id", type_=interactions.c.customer_id.type),
            bindparam("interaction_ids", expanding=True, type_=interactions.c.id.type),
        )

    @staticmethod
    def _head(*, by_identity: bool) -> Select[Any]:
        """Profile, identities and value figures of the owner of the identity
        ``kind``/``value``, or of the customer ``customer_id``."""
        owner: Any = bindparam("customer_id", type_=customers.c.id.type)
        if by_identity:
            owner = (
                select(identities.c.customer_id)
                .where(
                    identities.c.kind == bindparam("kind", type_=identities.c.kind.type),
                    identities.c.value == bindparam("value", type_=identities.c.value.type),
                )
                .scalar_subquery()
            )
        contacts_30d = (
            select(func.count())
            .select_from(interactions)
            .where(
                interactions.c.customer_id == customers.c.id,
                interactions.c.started_at
                >= bindparam("since", type_=interactions.c.started_at.type),
            )
            .scalar_subquery()
        )
        open_items = (
            select(func.count())
            .select_from(interactions)
            .where(
                interactions.c.customer_id == customers.c.id,
                interactions.c.status == InteractionStatus.OPEN.value,
            )
            .scalar_subquery()
        )
        return (
            select(
                *_PROFILE_COLUMNS,
                contacts_30d.label("contacts_30d"),
                open_items.label("open_items"),
                identities.c.kind,
                identities.c.value,
            )
            .select_from(
                customers.outerjoin(identities, identities.c.customer_id == customers.c.id)
            )
            .where(customers.c.id == owner)
            .order_by(identities.c.id)
        )


class AuditWriter:
    """Group commit of audit rows: concurrent writers share one INSERT and one commit.

    :meth:`write` returns once its row is committed. Rows arriving while a batch is
    being written form the next batch, so under load each commit carries every view
    of the last round trip, and a lone writer waits for nothing but its own commit
    (no timer). A batch is one transaction: it fails or commits as a whole, and a
    failed batch fails every writer in it.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.batches = 0  # commits made (for tests and diagnostics)

    async def write(self, row: dict[str, Any]) -> None:
        loop = asyncio.get_running_loop()
        if self._flushing is not None and self._flushing.get_loop() is not loop:
            # Left by an event loop that ended mid-write (a test's, a CLI command's):
            # its rows and waiters went with it.
            self._pending, self._flushing = [], None
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((row, done))
        if self._flushing is None or self._flushing.done():
            self._flushing = loop.create_task(self._flush(), name="audit-group-commit")
        # Shielded: a cancelled request does not cancel the write of its row.
        await asyncio.shield(done)

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self._engine.begin() as conn:
                    await conn.execute(_INSERT_AUDIT, [row for row, _ in batch])
            except BaseException as exc:
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                        done.exception()  # retrieved here if its writer was cancelled
                if not isinstance(exc, Exception):
                    raise
            else:
                self.batches += 1
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)


_SCREEN_POP = _ScreenPopStatements()
_INSERT_AUDIT = insert(audit_events)


def _profile(row: Mapping[Any, Any], identity_rows: Iterable[Mapping[Any, Any]]) -> dict[str, Any]:
    data = dict(row)
    data["identities"] = [{"kind": r["kind"], "value": r["value"]} for r in identity_rows]
    data["value"] = {
        "tier": data["tier"],
        "previous_tier": data.pop("previous_tier"),
        "churn_risk": bool(data.pop("churn_risk")),
        "spend_window": data.pop("spend_window_cents") / 100,
        "margin_window": data.pop("margin_window_cents") / 100,
        "orders_window": data.pop("orders_window"),
        "lifetime_spend": data.pop("lifetime_spend_cents") / 100,
        "lifetime_orders": data.pop("lifetime_orders"),
        "last_order_at": data.pop("last_order_at"),
        "last_contact_at": data.pop("last_contact_at"),
        "repeat_contact": bool(data.pop("repeat_contact")),
    }
    data["provisional"] = bool(data["provisional"])
    return data


def _interaction(row: Mapping[Any, Any]) -> dict[str, Any]:
    data = dict(row)
    data["resolved"] = bool(data["resolved"])
    data["repeat_contact"] = bool(data["repeat_contact"])
    data["wait_seconds"] = _span(data["queued_at"], data["answered_at"] or data["ended_at"])
    data["talk_seconds"] = _span(data["answered_at"], data["ended_at"])
    data["note_items"] = []
    data["messages"] = []
    return data


def _span(start: float | None, end: float | None) -> float | None:
    return round(end - start, 3) if start is not None and end is not None else None


def _cents(value: Any, field: str) -> int:
    try:
        amount = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{field} must be a number", details={"field": field}) from None
    if amount != amount or abs(amount) > 1e12:
        raise InvalidInput(f"{field} is out of range", details={"field": field})
    return round(amount * 100)


# C0 controls but tab and line breaks; a regex, because message and note bodies are long.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _check_text(field: str, value: Any, limit: int, *, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", details={"field": field})
    text_value: str = value.strip()
    value = text_value
    if required and not value:
        raise InvalidInput(f"{field} must not be empty", details={"field": field})
    if len(value) > limit:
        raise InvalidInput(
            f"{field} is longer than {limit} characters", details={"field": field, "max": limit}
        )
    if _CONTROL_CHARACTERS.search(value):
        raise InvalidInput(f"{field} contains control characters", details={"field": field})
    return text_value


def _json_size_ok(value: Any, limit: int = 16_384) -> bool:
    import orjson

    try:
        return len(orjson.dumps(value)) <= limit
    except TypeError:
        return False


# The fields an order row may carry (the API's order import and the CLI's files).
ORDER_FIELDS = frozenset(
    {
        "customer_id",
        "email",
        "phone",
        "account",
        "customer_name",
        "source",
        "external_id",
        "amount",
        "margin",
        "currency",
        "items",
        "ordered_at",
        "status",
    }
)


class ProfileStore:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        default_region: str,
        value_settings: ValueSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.default_region = default_region
        self.value_settings = value_settings
        self.clock = clock
        # The same pool; connections from it run each statement on its own (no BEGIN).
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._views = AuditWriter(engine)

    # ----------------------------------------------------------------- identities

    def identity(self, kind: str, raw: str) -> Identity:
        return normalize_identity(kind, raw, default_region=self.default_region)

    async def resolve(
        self, identity: Identity, *, display_name: str | None = None, actor: Actor = SYSTEM
    ) -> Resolution:
        """The customer owning ``identity``, or a new provisional customer holding it.

        Safe against two nodes resolving the same new identity at once: the unique
        (kind, value) constraint lets exactly one insert win; the loser reads the winner.
        """
        name = _check_text("display_name", display_name, 200) or identity.value
        for _ in range(3):
            async with self.engine.connect() as conn:
                found = await self._owner_of(conn, identity)
            if found is not None:
                return Resolution(found, False)
            try:
                async with self.engine.begin() as conn:
                    now = self.clock()
                    customer_id = await self._insert_customer(
                        conn, {"display_name": name, "provisional": True}, now
                    )
                    await conn.execute(
                        insert(identities).values(
                            customer_id=customer_id,
                            kind=identity.kind.value,
                            value=identity.value,
                            created_at=now,
                        )
                    )
                    await self._audit(
                        conn,
                        actor,
                        "customer.created",
                        customer_id,
                        details={"provisional": True, "identity_kind": identity.kind.value},
                    )
                return Resolution(customer_id, True)
            except IntegrityError:
                continue
        raise Conflict(f"could not resolve {identity}: concurrent updates, try again")

    async def find_owner(self, identity: Identity) -> int | None:
        """The id of the customer holding ``identity``, if any (no audit: no profile is read)."""
        async with self.engine.connect() as conn:
            return await self._owner_of(conn, identity)

    async def _owner_of(self, conn: AsyncConnection, identity: Identity) -> int | None:
        result = await conn.execute(
            select(identities.c.customer_id).where(
                identities.c.kind == identity.kind.value, identities.c.value == identity.value
            )
        )
        return result.scalar()

    async def add_identity(self, customer_id: int, identity: Identity, *, actor: Actor) -> None:
        async with self.engine.begin() as conn:
            await self._live_customer(conn, customer_id)
            owner = await self._owner_of(conn, identity)
            if owner == customer_id:
                return
            if owner is not None:
                raise IdentityTaken(
                    f"{identity} already belongs to customer {owner}; merge the two customers",
                    details={"customer_id": owner},
                )
            try:
                async with conn.begin_nested():
                    await conn.execute(
                        insert(identities).values(
                            customer_id=customer_id,
                            kind=identity.kind.value,
                            value=identity.value,
                            created_at=self.clock(),
                        )
                    )
            except IntegrityError:
                raise IdentityTaken(f"{identity} was just added to another customer") from None
            await self._touch(conn, customer_id)
            await self._audit(
                conn,
                actor,
                "identity.added",
                customer_id,
                details={"identity_kind": identity.kind.value},
            )

    async def remove_identity(self, customer_id: int, identity: Identity, *, actor: Actor) -> None:
        async with self.engine.begin() as conn:
            await self._live_customer(conn, customer_id)
            result = await conn.execute(
                delete(identities).where(
                    identities.c.customer_id == customer_id,
                    identities.c.kind == identity.kind.value,
                    identities.c.value == identity.value,
                )
            )
            if result.rowcount == 0:
                raise NotFound(f"customer {customer_id} has no identity {identity}")
            await self._touch(conn, customer_id)
            await self._audit(
                conn,
                actor,
                "identity.removed",
                customer_id,
                details={"identity_kind": identity.kind.value},
            )

    # ------------------------------------------------------------------ customers

    async def create_customer(
        self, fields: Mapping[Any, Any], identity_list: Sequence[Identity], *, actor: Actor
    ) -> dict[str, Any]:
        values = self._validated_changes(fields, creating=True)
        async with self.engine.begin() as conn:
            if values.get("owner_agent_id") is not None:
                await self._check_agent(conn, values["owner_agent_id"])
            now = self.clock()
            customer_id = await self._insert_customer(conn, values, now)
            for identity in dict.fromkeys(identity_list):
                owner = await self._owner_of(conn, identity)
                if owner is not None:
                    raise IdentityTaken(
                        f"{identity} already belongs to customer {owner}",
                        details={"customer_id": owner},
                    )
                await conn.execute(
                    insert(identities).values(
                        customer_id=customer_id,
                        kind=identity.kind.value,
                        value=identity.value,
                        created_at=now,
                    )
                )
            await self._audit(conn, actor, "customer.created", customer_id, details={})
            return await self._load_profile(conn, customer_id)

    async def _insert_customer(
        self, conn: AsyncConnection, values: Mapping[Any, Any], now: float
    ) -> int:
        row = self._new_customer_row(values, now)
        result = await conn.execute(insert(customers).values(**row).returning(customers.c.id))
        return int(result.scalar_one())

    def _new_customer_row(self, values: Mapping[Any, Any], now: float) -> dict[str, Any]:
        name = values.get("display_name") or "Unknown customer"
        return {
            "display_name": name,
            "search_name": search_key(name),
            "language": values.get("language"),
            "timezone": values.get("timezone"),
            "tier": self.new_customer_tier,
            "lifecycle_stage": values.get("lifecycle_stage") or LifecycleStage.PROSPECT.value,
            "owner_agent_id": values.get("owner_agent_id"),
            "tags": values.get("tags") or [],
            "attributes": values.get("attributes") or {},
            "consent": values.get("consent") or {},
            "provisional": bool(values.get("provisional", False)),
            "created_at": now,
            "updated_at": now,
        }

    def _validated_changes(
        self, changes: Mapping[Any, Any], *, creating: bool = False
    ) -> dict[str, Any]:
        unknown = sorted(set(changes) - _UPDATABLE)
        if unknown:
            raise InvalidInput(
                f"unknown or read-only field(s): {', '.join(unknown)}",
                details={"fields": unknown},
            )
        values: dict[str, Any] = {}
        for field, value in changes.items():
            if field in _TEXT_LIMITS:
                values[field] = _check_text(
                    field, value, _TEXT_LIMITS[field], required=field == "display_name"
                )
            elif field == "lifecycle_stage":
                if value not in _LIFECYCLE_ORDER:
                    raise InvalidInput(
                        f"lifecycle_stage must be one of {', '.join(_LIFECYCLE_ORDER)}",
                        details={"field": field},
                    )
                values[field] = value
            elif field == "owner_agent_id":
                if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                    raise InvalidInput("owner_agent_id must be a user id or null")
                values[field] = value
            elif field == "tags":
                if not isinstance(value, list) or not all(
                    isinstance(t, str) and 0 < len(t) <= 50 for t in value
                ):
                    raise InvalidInput("tags must be a list of strings of 1-50 characters")
                if len(value) > 50:
                    raise InvalidInput("at most 50 tags")
                values[field] = sorted(set(value))
            elif field in ("attributes", "consent"):
                if not isinstance(value, dict) or not _json_size_ok(value):
                    raise InvalidInput(f"{field} must be an object of at most 16 KiB")
                if field == "consent" and not all(
                    k in {c.value for c in Channel} | {"marketing", "recording"}
                    and isinstance(v, bool)
                    for k, v in value.items()
                ):
                    raise InvalidInput(
                        "consent maps voice/chat/email/marketing/recording to true or false"
                    )
                values[field] = value
            elif field == "provisional":
                if not isinstance(value, bool):
                    raise InvalidInput("provisional must be true or false")
                values[field] = value
        if creating and not values.get("display_name"):
            raise InvalidInput("display_name is required", details={"field": "display_name"})
        if "display_name" in values and values["display_name"] is not None:
            values["search_name"] = search_key(values["display_name"])
        return values

    async def update_customer(
        self, customer_id: int, changes: Mapping[Any, Any], *, actor: Actor
    ) -> dict[str, Any]:
        values = self._validated_changes(changes)
        async with self.engine.begin() as conn:
            before = await self._live_customer(conn, customer_id)
            if values.get("owner_agent_id") is not None:
                await self._check_agent(conn, values["owner_agent_id"])
            if values:
                values["updated_at"] = self.clock()
                await conn.execute(
                    update(customers).where(customers.c.id == customer_id).values(**values)
                )
            changed = sorted(
                k
                for k, v in values.items()
                if k not in ("updated_at", "search_name") and before[k] != v
            )
            details: dict[str, Any] = {"fields": changed}
            details.update(
                {k: {"from": before[k], "to": values[k]} for k in changed if k in _AUDITED_VALUES}
            )
            await self._audit(conn, actor, "customer.updated", customer_id, details=details)
            return await self._load_profile(conn, customer_id)

    async def import_customer(
        self,
        fields: Mapping[str, Any],
        identity_list: Sequence[Identity],
        *,
        actor: Actor,
        on_conflict: OnConflict,
    ) -> CustomerOutcome:
        """Create the customer an imported row describes, or reconcile the row with the
        customer already holding its identities; one transaction.

        A row that brings nothing new to that customer is ``unchanged``. Otherwise
        ``on_conflict`` decides: ``update`` applies the row, ``skip`` leaves the customer
        alone, ``reject`` raises :class:`CustomerExists`. An update never removes
        anything: the row's fields replace the stored ones, tags are added, attributes
        and consent merged key by key, identities added, the lifecycle stage only moves
        forward, and a provisional customer becomes a known one. Identities held by two
        customers raise :class:`IdentitiesConflict` (merge them first); creating needs a
        ``display_name`` (:class:`MissingField`).
        """
        if not identity_list:
            raise MissingField("an imported customer needs an identity")
        values = self._validated_changes(fields)
        for _ in range(3):
            try:
                async with self.engine.begin() as conn:
                    return await self._import_customer(
                        conn, values, identity_list, actor=actor, on_conflict=on_conflict
                    )
            except IntegrityError:
                continue  # another writer took one of the identities meanwhile: look again
        raise IdentityTaken("the identities of this row are being changed by someone else")

    async def _import_customer(
        self,
        conn: AsyncConnection,
        values: dict[str, Any],
        identity_list: Sequence[Identity],
        *,
        actor: Actor,
        on_conflict: OnConflict,
    ) -> CustomerOutcome:
        agent = values.get("owner_agent_id")
        if agent is not None:
            found = await conn.execute(select(users.c.id).where(users.c.id == agent))
            if found.scalar() is None:
                raise UnknownAgent(
                    f"owner_agent_id {agent} is not a user", details={"field": "owner_agent_id"}
                )
        unique = list(dict.fromkeys(identity_list))
        owners = await self._owners(conn, unique)
        holders = sorted(set(owners.values()))
        if len(holders) > 1:
            raise IdentitiesConflict(
                "the identities of this row belong to different customers: merge them first",
                details={"customer_ids": holders},
            )
        now = self.clock()
        if not holders:
            if not values.get("display_name"):
                raise MissingField(
                    "display_name is needed to create a customer",
                    details={"field": "display_name"},
                )
            customer_id = await self._insert_customer(conn, values, now)
            await self._insert_identities(conn, customer_id, unique, now)
            await self._audit(conn, actor, "customer.created", customer_id, details={})
            return CustomerOutcome("created", customer_id)
        customer_id = holders[0]
        current = await self._live_customer(conn, customer_id)
        changes = self._import_changes(current, values)
        added = [i for i in unique if i not in owners]
        names = [k for k in changes if k != "search_name"]
        names += list(dict.fromkeys(f"identity:{i.kind.value}" for i in added))
        if not names:
            return CustomerOutcome("unchanged", customer_id)
        if on_conflict == "reject":
            raise CustomerExists(
                f"customer {customer_id} holds this row's identities and the row would "
                f"change its {', '.join(names)}",
                details={"customer_id": customer_id, "fields": names},
            )
        if on_conflict == "skip":
            return CustomerOutcome("skipped", customer_id, tuple(names))
        if current["provisional"]:
            # Someone now knows who this is: no longer a stranger created from a contact.
            changes["provisional"] = False
            names.append("provisional")
        if changes:
            await conn.execute(
                update(customers)
                .where(customers.c.id == customer_id)
                .values(**changes, updated_at=now)
            )
            await self._audit(
                conn,
                actor,
                "customer.updated",
                customer_id,
                details={
                    k: {"from": current[k], "to": v}
                    for k, v in changes.items()
                    if k != "search_name"
                },
            )
        if added:
            await self._insert_identities(conn, customer_id, added, now)
            for identity in added:
                await self._audit(
                    conn, actor, "identity.added", customer_id, details={"identity": str(identity)}
                )
        return CustomerOutcome("updated", customer_id, tuple(names))

    @staticmethod
    def _import_changes(current: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        """Column values an imported row changes on ``current`` (see :meth:`import_customer`)."""
        changes: dict[str, Any] = {}
        for field in ("display_name", "language", "timezone", "owner_agent_id"):
            if values.get(field) is not None and values[field] != current[field]:
                changes[field] = values[field]
        if "display_name" in changes:
            changes["search_name"] = search_key(changes["display_name"])
        stage = values.get("lifecycle_stage")
        # Orders and people move a customer forward; an older file must not move it back.
        if stage is not None and _LIFECYCLE_ORDER.index(stage) > _LIFECYCLE_ORDER.index(
            current["lifecycle_stage"]
        ):
            changes["lifecycle_stage"] = stage
        if values.get("tags"):
            tags = sorted(set(current["tags"]) | set(values["tags"]))
            if len(tags) > 50:
                raise InvalidInput("the customer would have more than 50 tags")
            if tags != sorted(current["tags"]):
                changes["tags"] = tags
        for field in ("attributes", "consent"):
            if values.get(field):
                merged = {**current[field], **values[field]}
                if not _json_size_ok(merged):
                    raise InvalidInput(f"{field} would grow beyond 16 KiB")
                if merged != current[field]:
                    changes[field] = merged
        return changes

    async def create_customer_with_history(
        self,
        fields: Mapping[str, Any],
        identity_list: Sequence[Identity],
        *,
        order_rows: Sequence[Mapping[Any, Any]] = (),
        contacts: Sequence[NewInteraction] = (),
        customer_notes: Sequence[NewNote] = (),
        actor: Actor,
    ) -> dict[str, Any]:
        """Create a customer together with its past, in one transaction: identities,
        orders, interactions (finished or open) with their messages and notes, and notes
        about the customer.

        For writers that know a customer's whole story at once (the seeder). The checks
        and audit events are those of :meth:`create_customer`, :meth:`import_orders`,
        :meth:`start_interaction`, :meth:`update_interaction`, :meth:`add_message` and
        :meth:`add_note`, and so are the derived figures (value and tier, lifecycle,
        repeat contacts, last contact), computed here from the rows being written instead
        of read back: about ten statements instead of a transaction per call. Raises a
        :class:`Conflict` and writes nothing if an identity, order or contact id is
        already recorded.
        """
        values = self._validated_changes(fields, creating=True)
        order_values = [self._order_values(row) for row in order_rows]
        order_keys = [(o["source"], o["external_id"]) for o in order_values]
        if len(set(order_keys)) != len(order_keys):
            raise InvalidInput("two orders have the same source and external_id")
        # Chronological, as if each contact had been recorded when it happened.
        history = sorted(contacts, key=lambda c: c.started_at)
        contact_rows = [self._new_interaction_row(c) for c in history]
        contact_ids = [c.contact_id for c in history if c.contact_id is not None]
        if len(set(contact_ids)) != len(contact_ids):
            raise InvalidInput("two interactions have the same contact_id")
        message_rows = [[self._new_message_row(m) for m in c.messages] for c in history]
        note_texts = [
            [
                (_check_text("body", n.body, MAX_NOTE_CHARS, required=True), n.author)
                for n in c.note_items
            ]
            for c in history
        ]
        customer_note_texts = [
            (_check_text("body", n.body, MAX_NOTE_CHARS, required=True), n.author)
            for n in customer_notes
        ]
        now = self.clock()
        window = self.value_settings.repeat_contact_days * 86_400
        # The repeat rule of start_interaction: an unresolved contact started within the
        # window before this one; the customer's flag of _refresh_repeat_flag.
        for n, row in enumerate(contact_rows):
            row["repeat_contact"] = any(
                not e["resolved"] and e["started_at"] >= row["started_at"] - window
                for e in contact_rows[:n]
            )
        months, last_order_at = _month_totals(order_values)
        value = compute_value(
            months, now=now, last_order_at=last_order_at, settings=self.value_settings
        )
        lifetime_orders = sum(m.orders for m in months)
        customer_row = self._new_customer_row(values, now)
        customer_row.update(
            lifecycle_stage=next_lifecycle_stage(customer_row["lifecycle_stage"], lifetime_orders),
            last_contact_at=contact_rows[-1]["started_at"] if contact_rows else None,
            repeat_contact=any(
                r["repeat_contact"] and not r["resolved"] and r["started_at"] >= now - window
                for r in contact_rows
            ),
        )
        if order_values:
            # Like import_orders, which refreshes the value of customers it gave orders to:
            # one without orders keeps a new customer's figures (lowest tier, none before).
            customer_row.update(
                tier=value.tier,
                previous_tier=value.previous_tier,
                churn_risk=value.churn_risk,
                spend_window_cents=value.spend_window_cents,
                margin_window_cents=value.margin_window_cents,
                orders_window=value.orders_window,
                lifetime_spend_cents=sum(m.spend_cents for m in months),
                lifetime_orders=lifetime_orders,
                last_order_at=last_order_at,
            )
        unique = list(dict.fromkeys(identity_list))
        try:
            async with self.engine.begin() as conn:
                if values.get("owner_agent_id") is not None:
                    await self._check_agent(conn, values["owner_agent_id"])
                if await self._owners(conn, unique):
                    raise IdentityTaken("an identity of this customer already belongs to another")
                # Parameters apart from the statement: one cached statement for every call.
                result = await conn.execute(
                    insert(customers).returning(customers.c.id), customer_row
                )
                customer_id = int(result.scalar_one())
                await self._insert_identities(conn, customer_id, unique, now)
                first_ids = await self._next_ids(conn, (orders, interactions, notes))
                order_ids = await self._insert_many(
                    conn,
                    orders,
                    [{"customer_id": customer_id, **o} for o in order_values],
                    first_ids.get(orders.name),
                )
                if months:
                    await conn.execute(
                        insert(customer_value_months),
                        [
                            {
                                "customer_id": customer_id,
                                "month": m.month,
                                "spend_cents": m.spend_cents,
                                "margin_cents": m.margin_cents,
                                "orders": m.orders,
                            }
                            for m in months
                        ],
                    )
                interaction_ids = await self._insert_many(
                    conn,
                    interactions,
                    [{"customer_id": customer_id, **r} for r in contact_rows],
                    first_ids.get(interactions.name),
                )
                all_messages = [
                    {"customer_id": customer_id, "interaction_id": interaction_id, **m}
                    for interaction_id, rows in zip(interaction_ids, message_rows, strict=True)
                    for m in rows
                ]
                if all_messages:
                    await conn.execute(insert(messages), all_messages)
                note_list = [
                    (interaction_id, body, author)
                    for interaction_id, texts in zip(interaction_ids, note_texts, strict=True)
                    for body, author in texts
                ] + [(None, body, author) for body, author in customer_note_texts]
                note_ids = await self._insert_many(
                    conn,
                    notes,
                    [
                        {
                            "customer_id": customer_id,
                            "interaction_id": interaction_id,
                            "author_id": author.user_id,
                            "body": body,
                            "created_at": now,
                        }
                        for interaction_id, body, author in note_list
                    ],
                    first_ids.get(notes.name),
                )
                audit = [self._audit_row(actor, "customer.created", customer_id, {})]
                if order_ids:
                    audit.append(
                        self._audit_row(
                            actor,
                            "orders.imported",
                            customer_id,
                            {"created": order_ids, "updated": {}},
                        )
                    )
                audit += [
                    self._audit_row(
                        contact.agent or actor,
                        "interaction.updated",
                        customer_id,
                        {"interaction_id": interaction_id, "fields": _RECORDED_FIELDS},
                    )
                    for contact, interaction_id in zip(history, interaction_ids, strict=True)
                ]
                audit += [
                    self._audit_row(
                        author,
                        "note.added",
                        customer_id,
                        {"note_id": note_id, "interaction_id": interaction_id},
                    )
                    for (interaction_id, _body, author), note_id in zip(
                        note_list, note_ids, strict=True
                    )
                ]
                await conn.execute(insert(audit_events), audit)
        except IntegrityError:
            # The unique keys of orders and contacts (and the identities, should someone
            # have taken one since the check) say it faster than asking beforehand.
            raise Conflict(
                "an identity, order or contact of this customer is already recorded, "
                "or one of its agents no longer exists"
            ) from None
        return {
            "customer_id": customer_id,
            "tier": customer_row["tier"],
            "identities": len(unique),
            "orders": len(order_ids),
            "interactions": len(interaction_ids),
            "messages": len(all_messages),
            "notes": len(note_ids),
        }

    @staticmethod
    async def _next_ids(conn: AsyncConnection, tables: Sequence[Any]) -> dict[str, int]:
        """On SQLite, the first free id of each table (one query); elsewhere nothing.

        SQLite does not say which new id went to which row of a multi-row insert, so
        SQLAlchemy would insert rows one by one to learn their ids. A transaction that has
        written a row holds SQLite's only write lock, so the ids above each table's
        maximum are its own until it commits: :meth:`_insert_many` hands them out (as
        bulk_load does). Call only after this transaction has written.
        """
        if conn.dialect.name != "sqlite":
            return {}
        row = (await conn.execute(_highest_ids(tuple(tables)))).one()
        return {t.name: int(value) + 1 for t, value in zip(tables, row, strict=True)}

    @staticmethod
    async def _insert_many(
        conn: AsyncConnection, table: Any, rows: Sequence[Mapping[str, Any]], first_id: int | None
    ) -> list[int]:
        """Insert rows in one statement; their new ids, in the order of ``rows``.

        ``first_id`` (from :meth:`_next_ids`) numbers the rows; without it the database
        does, and says which id went to which row (RETURNING in parameter order).
        """
        if not rows:
            return []
        if first_id is not None:
            ids = list(range(first_id, first_id + len(rows)))
            await conn.execute(
                insert(table), [{"id": i, **row} for i, row in zip(ids, rows, strict=True)]
            )
            return ids
        result = await conn.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
        )
        return [int(i) for i in result.scalars()]

    def _audit_row(
        self,
        actor: Actor,
        action: str,
        customer_id: int | None,
        details: Mapping[str, Any],
        *,
        contact_id: str | None = None,
    ) -> dict[str, Any]:
        return {
            "at": self.clock(),
            "actor_id": actor.user_id,
            "actor": actor.name[:64],
            "action": action,
            "customer_id": customer_id,
            "contact_id": contact_id,
            "details": dict(details),
        }

    @staticmethod
    def _new_interaction_row(contact: NewInteraction) -> dict[str, Any]:
        """The interactions row of a recorded contact, checked as start_interaction and
        update_interaction check it (without customer_id and repeat_contact)."""
        if contact.channel not in {c.value for c in Channel}:
            raise InvalidInput(f"channel must be one of {', '.join(c.value for c in Channel)}")
        if contact.direction not in {d.value for d in Direction}:
            raise InvalidInput("direction must be inbound or outbound")
        if contact.status not in {s.value for s in InteractionStatus}:
            raise InvalidInput("status must be open or closed")
        external = dict(contact.external_ids)
        if not _json_size_ok(external, 4096):
            raise InvalidInput("external_ids is too large")
        return {
            "contact_id": _check_text("contact_id", contact.contact_id, 64),
            "channel": contact.channel,
            "direction": contact.direction,
            "status": contact.status,
            "queue": _check_text("queue", contact.queue, 64),
            "agent_id": contact.agent.user_id if contact.agent is not None else None,
            "started_at": contact.started_at,
            "queued_at": contact.queued_at,
            "offered_at": contact.offered_at,
            "answered_at": contact.answered_at,
            "ended_at": contact.ended_at,
            "disposition": _check_text("disposition", contact.disposition, 64),
            "resolved": bool(contact.resolved),
            "subject": _check_text("subject", contact.subject, 300),
            "notes": _check_text("notes", contact.notes, MAX_NOTE_CHARS),
            "summary": _check_text("summary", contact.summary, MAX_NOTE_CHARS),
            "external_ids": external,
            "external_ref": next(iter(external.values()), None),
        }

    @staticmethod
    def _new_message_row(message: NewMessage) -> dict[str, Any]:
        """A messages row, checked as add_message checks it (without its two ids)."""
        if message.direction not in {d.value for d in Direction}:
            raise InvalidInput("direction must be inbound or outbound")
        if not isinstance(message.body, str) or len(message.body) > MAX_MESSAGE_CHARS:
            raise InvalidInput(f"message body must be text of at most {MAX_MESSAGE_CHARS} chars")
        return {
            "direction": message.direction,
            "sender": _check_text("sender", message.sender, 320),
            "subject": _check_text("subject", message.subject, 300),
            "body": message.body,
            "attachments": [],
            "external_id": _check_text("external_id", message.external_id, 255),
            "created_at": message.created_at,
        }

    async def get_profile(
        self, customer_id: int, *, viewer: Actor, contact_id: str | None = None
    ) -> dict[str, Any]:
        async with self.engine.begin() as conn:
            profile = await self._load_profile(conn, customer_id)
            await self._audit(conn, viewer, "profile.viewed", customer_id, contact_id=contact_id)
            return profile

    async def _load_profile(self, conn: AsyncConnection, customer_id: int) -> dict[str, Any]:
        row = (
            (await conn.execute(select(*_PROFILE_COLUMNS).where(customers.c.id == customer_id)))
            .mappings()
            .first()
        )
        if row is None:
            raise CustomerNotFound(f"customer {customer_id} does not exist")
        ids = (
            await conn.execute(
                select(identities.c.kind, identities.c.value)
                .where(identities.c.customer_id == customer_id)
                .order_by(identities.c.id)
            )
        ).mappings()
        return _profile(row, ids)

    async def _live_customer(self, conn: AsyncConnection, customer_id: int) -> dict[str, Any]:
        row = (
            (await conn.execute(select(customers).where(customers.c.id == customer_id)))
            .mappings()
            .first()
        )
        if row is None:
            raise CustomerNotFound(f"customer {customer_id} does not exist")
        if row["merged_into_id"] is not None:
            raise CustomerMerged(
                f"customer {customer_id} was merged into {row['merged_into_id']}",
                details={"merged_into_id": row["merged_into_id"]},
            )
        if row["erased_at"] is not None:
            raise Conflict(f"customer {customer_id} was erased")
        return dict(row)

    async def _check_agent(self, conn: AsyncConnection, user_id: int) -> None:
        found = await conn.execute(select(users.c.id).where(users.c.id == user_id))
        if found.scalar() is None:
            raise InvalidInput(f"owner_agent_id {user_id} is not a user")

    async def _touch(self, conn: AsyncConnection, customer_id: int) -> None:
        await conn.execute(
            update(customers).where(customers.c.id == customer_id).values(updated_at=self.clock())
        )

    # --------------------------------------------------------------------- search

    async def search(
        self,
        *,
        text: str | None = None,
        name: str | None = None,
        phone: str | None = None,
        email: str | None = None,
        number: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Find customers by name prefix, phone, email or account number (keyset pages by id).

        ``text`` guesses: an address with @ is an email, mostly digits is a phone or an
        account number, anything else a name prefix.
        """
        limit = max(1, min(int(limit), 100))
        after = self._int_cursor(cursor)
        wanted: list[Identity] = []
        name_prefix: str | None = None
        if text is not None:
            text = _check_text("q", text, 200, required=True) or ""
            if "@" in text:
                email = text
            elif sum(c.isdigit() for c in text) >= max(4, len(text.replace(" ", "")) * 2 // 3):
                for kind in (IdentityKind.PHONE, IdentityKind.ACCOUNT, IdentityKind.CHAT):
                    try:
                        wanted.append(self.identity(kind, text))
                    except InvalidIdentity:
                        continue
            else:
                name = text
        if phone is not None:
            wanted.append(self.identity(IdentityKind.PHONE, phone))
        if email is not None:
            wanted.append(self.identity(IdentityKind.EMAIL, email))
        if number is not None:
            wanted.append(self.identity(IdentityKind.ACCOUNT, number))
        if name is not None:
            name_prefix = search_key(_check_text("name", name, 200, required=True) or "")
        if not wanted and name_prefix is None:
            raise InvalidInput("give a name, phone, email, number or q to search for")

        conditions: list[ColumnElement[bool]] = []
        for identity in wanted:
            conditions.append(
                customers.c.id.in_(
                    select(identities.c.customer_id).where(
                        identities.c.kind == identity.kind.value,
                        identities.c.value == identity.value,
                    )
                )
            )
        if name_prefix:
            escaped = name_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(
                or_(
                    customers.c.search_name.like(escaped + "%", escape="\\"),
                    customers.c.search_name.like("% " + escaped + "%", escape="\\"),
                )
            )
        query = (
            select(*_PROFILE_COLUMNS)
            .where(
                or_(*conditions),
                customers.c.merged_into_id.is_(None),
                customers.c.erased_at.is_(None),
                customers.c.id > after,
            )
            .order_by(customers.c.id)
            .limit(limit + 1)
        )
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            page = rows[:limit]
            id_rows = (
                await conn.execute(
                    select(identities.c.customer_id, identities.c.kind, identities.c.value)
                    .where(identities.c.customer_id.in_([r["id"] for r in page]))
                    .order_by(identities.c.id)
                )
            ).mappings()
            by_customer: dict[int, list[Mapping[Any, Any]]] = {}
            for r in id_rows:
                by_customer.setdefault(r["customer_id"], []).append(r)
        items = [_profile(r, by_customer.get(r["id"], [])) for r in page]
        next_cursor = str(page[-1]["id"]) if len(rows) > limit else None
        return {"items": items, "next_cursor": next_cursor}

    @staticmethod
    def _int_cursor(cursor: str | None) -> int:
        if cursor is None or cursor == "":
            return 0
        # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
        if not _ASCII_DIGITS.fullmatch(cursor):
            raise InvalidCursor("cursor is not one this API returned")
        return int(cursor)

    # ------------------------------------------------------------------ screen-pop

    async def screen_pop(
        self,
        identity: Identity | None = None,
        *,
        viewer: Actor,
        contact_id: str | None = None,
        limit: int | None = None,
        customer_id: int | None = None,
    ) -> dict[str, Any]:
        """Everything an agent needs when a contact is offered, from any identity (or
        from the customer's id, which is what the router knows of an offered contact).

        Three read round trips: (1) profile, identities and value figures; (2) the last
        ``limit`` interactions plus every open one; (3) their notes, latest message
        snippets, and recent orders. Then the view's audit row, committed before this
        returns: concurrent screen-pops share one insert and one commit (group commit).
        """
        if (identity is None) == (customer_id is None):
            raise ValueError("screen_pop needs an identity or a customer id, not both")
        limit = min(max(1, limit or self.value_settings.screen_pop_interactions), 200)
        now = self.clock()
        # Reads without BEGIN/COMMIT: each statement sees the latest committed data, as
        # each one did inside a READ COMMITTED transaction (and in SQLite, where reads
        # never opened one). The statements are built once (see _ScreenPopStatements).
        async with self._autocommit.connect() as conn:
            since = now - 30 * 86_400
            if identity is not None:
                head_statement = _SCREEN_POP.head
                head_params: dict[str, Any] = {
                    "kind": identity.kind.value,
                    "value": identity.value,
                    "since": since,
                }
            else:
                head_statement = _SCREEN_POP.head_of_customer
                head_params = {"customer_id": customer_id, "since": since}
            head = (await conn.execute(head_statement, head_params)).mappings().all()
            if not head:
                raise CustomerNotFound(
                    f"no customer has identity {identity}"
                    if identity is not None
                    else f"customer {customer_id} does not exist"
                )
            customer_id = head[0]["id"]
            profile = _profile(head[0], [r for r in head if r["kind"] is not None])
            profile["value"]["contacts_30d"] = head[0]["contacts_30d"]
            profile["open_items"] = head[0]["open_items"]

            rows = (
                (
                    await conn.execute(
                        _SCREEN_POP.interactions, {"customer_id": customer_id, "limit": limit}
                    )
                )
                .mappings()
                .all()
            )
            seen: dict[int, dict[str, Any]] = {}
            for r in rows:
                seen.setdefault(r["id"], _interaction(r))
            items = sorted(seen.values(), key=lambda i: (i["started_at"], i["id"]), reverse=True)

            details = (
                await conn.execute(
                    _SCREEN_POP.details,
                    {"customer_id": customer_id, "interaction_ids": list(seen) or [-1]},
                )
            ).mappings()
            recent_orders: list[dict[str, Any]] = []
            customer_notes: list[dict[str, Any]] = []
            for d in details:
                self._attach_detail(d, seen, recent_orders, customer_notes)

        # The view is audited (committed) before its data is returned: concurrent
        # screen-pops share one insert and one commit (see AuditWriter).
        await self._views.write(
            self._audit_row(
                viewer,
                "profile.viewed",
                customer_id,
                {"via": "screen_pop", "identity_kind": identity.kind.value}
                if identity is not None
                else {"via": "screen_pop"},
                contact_id=contact_id,
            )
        )
        history = [i for i in items if i["status"] != InteractionStatus.OPEN.value][:limit]
        return {
            "customer": profile,
            "matched_identity": {"kind": identity.kind.value, "value": identity.value}
            if identity is not None
            else None,
            "open_interactions": [i for i in items if i["status"] == InteractionStatus.OPEN.value],
            "interactions": history,
            "notes": customer_notes,
            "recent_orders": recent_orders,
            "history_cursor": self._history_cursor(history[-1]) if len(history) == limit else None,
        }

    def _details_query(self, customer_id: int, interaction_ids: list[int]) -> Any:
        """Notes of the interactions and the customer, latest messages, recent orders."""
        return _details_statement(customer_id, interaction_ids or [-1])

    @staticmethod
    def _attach_detail(
        d: Mapping[Any, Any],
        by_id: dict[int, dict[str, Any]],
        recent_orders: list[dict[str, Any]],
        customer_notes: list[dict[str, Any]],
    ) -> None:
        if d["part"] == "order":
            recent_orders.append(
                {
                    "id": d["id"],
                    "external_id": d["title"],
                    "status": d["who"],
                    "currency": d["extra"],
                    "amount": d["amount_cents"] / 100,
                    "margin": d["margin_cents"] / 100,
                    "ordered_at": d["at"],
                }
            )
            recent_orders.sort(key=lambda o: o["ordered_at"], reverse=True)
        elif d["part"] == "note":
            note = {"id": d["id"], "author": d["who"], "body": d["body"], "created_at": d["at"]}
            target = by_id.get(d["interaction_id"]) if d["interaction_id"] else None
            (target["note_items"] if target else customer_notes).append(note)
        else:
            target = by_id.get(d["interaction_id"])
            if target is not None:
                target["messages"].append(
                    {
                        "id": d["id"],
                        "direction": d["who"],
                        "sender": d["extra"],
                        "subject": d["title"],
                        "snippet": d["body"],
                        "created_at": d["at"],
                    }
                )

    # -------------------------------------------------------------------- history

    @staticmethod
    def _history_cursor(item: Mapping[Any, Any]) -> str:
        return f"{item['started_at']!r}_{item['id']}"

    @staticmethod
    def _parse_history_cursor(cursor: str) -> tuple[float, int]:
        try:
            at, _, ident = cursor.partition("_")
            return float(at), int(ident)
        except ValueError:
            raise InvalidCursor("cursor is not one this API returned") from None

    async def history(
        self,
        customer_id: int,
        *,
        viewer: Actor,
        cursor: str | None = None,
        limit: int = 50,
        channel: str | None = None,
    ) -> dict[str, Any]:
        """A page of a customer's interactions (newest first) with notes and message snippets."""
        limit = max(1, min(int(limit), 200))
        query = select(*_INTERACTION_COLUMNS).where(interactions.c.customer_id == customer_id)
        if channel is not None:
            if channel not in {c.value for c in Channel}:
                raise InvalidInput(f"channel must be one of {', '.join(c.value for c in Channel)}")
            query = query.where(interactions.c.channel == channel)
        if cursor:
            at, ident = self._parse_history_cursor(cursor)
            query = query.where(
                or_(
                    interactions.c.started_at < at,
                    and_(interactions.c.started_at == at, interactions.c.id < ident),
                )
            )
        query = query.order_by(interactions.c.started_at.desc(), interactions.c.id.desc()).limit(
            limit + 1
        )
        async with self.engine.begin() as conn:
            exists_row = await conn.execute(
                select(customers.c.id).where(customers.c.id == customer_id)
            )
            if exists_row.scalar() is None:
                raise CustomerNotFound(f"customer {customer_id} does not exist")
            rows = (await conn.execute(query)).mappings().all()
            page = [_interaction(r) for r in rows[:limit]]
            by_id = {i["id"]: i for i in page}
            if page:
                details = await conn.execute(self._details_query(customer_id, list(by_id)))
                for d in details.mappings():
                    if d["part"] != "order" and d["interaction_id"] is not None:
                        self._attach_detail(d, by_id, [], [])
            await self._audit(
                conn, viewer, "profile.viewed", customer_id, details={"via": "history"}
            )
        next_cursor = self._history_cursor(page[-1]) if len(rows) > limit else None
        return {"items": page, "next_cursor": next_cursor}

    # --------------------------------------------------------- interactions, notes

    async def start_interaction(
        self,
        customer_id: int,
        *,
        channel: str,
        direction: str = Direction.INBOUND.value,
        contact_id: str | None = None,
        queue: str | None = None,
        subject: str | None = None,
        external_ids: Mapping[str, str] | None = None,
        started_at: float | None = None,
    ) -> dict[str, Any]:
        """Record a new contact. Flags a repeat contact: the customer came back within
        ``repeat_contact_days`` of an interaction that was not resolved."""
        if channel not in {c.value for c in Channel}:
            raise InvalidInput(f"channel must be one of {', '.join(c.value for c in Channel)}")
        if direction not in {d.value for d in Direction}:
            raise InvalidInput("direction must be inbound or outbound")
        subject = _check_text("subject", subject, 300)
        ext = dict(external_ids or {})
        if not _json_size_ok(ext, 4096):
            raise InvalidInput("external_ids is too large")
        now = started_at if started_at is not None else self.clock()
        window = self.value_settings.repeat_contact_days * 86_400
        async with self.engine.begin() as conn:
            await self._live_customer(conn, customer_id)
            unresolved = await conn.execute(
                select(
                    exists().where(
                        interactions.c.customer_id == customer_id,
                        interactions.c.resolved.is_(False),
                        interactions.c.started_at >= now - window,
                    )
                )
            )
            repeat = bool(unresolved.scalar())
            try:
                async with conn.begin_nested():
                    result = await conn.execute(
                        insert(interactions)
                        .values(
                            customer_id=customer_id,
                            contact_id=contact_id,
                            channel=channel,
                            direction=direction,
                            status=InteractionStatus.OPEN.value,
                            queue=queue,
                            started_at=now,
                            subject=subject,
                            repeat_contact=repeat,
                            external_ids=ext,
                            external_ref=next(iter(ext.values()), None),
                        )
                        .returning(interactions.c.id)
                    )
            except IntegrityError:
                raise Conflict(f"contact {contact_id} already has an interaction") from None
            interaction_id = int(result.scalar_one())
            await conn.execute(
                update(customers)
                .where(customers.c.id == customer_id)
                .values(
                    last_contact_at=now,
                    repeat_contact=customers.c.repeat_contact | literal(repeat),
                    updated_at=now,
                )
            )
            row = (
                (
                    await conn.execute(
                        select(*_INTERACTION_COLUMNS).where(interactions.c.id == interaction_id)
                    )
                )
                .mappings()
                .one()
            )
            return _interaction(row)

    _INTERACTION_FIELDS = frozenset(
        {
            "queue",
            "agent_id",
            "queued_at",
            "offered_at",
            "answered_at",
            "ended_at",
            "disposition",
            "resolved",
            "notes",
            "summary",
            "subject",
            "status",
        }
    )

    async def update_interaction(
        self, interaction_id: int, changes: Mapping[Any, Any], *, actor: Actor = SYSTEM
    ) -> dict[str, Any]:
        """Record progress of a contact (timestamps, agent, wrap-up disposition and notes)."""
        unknown = sorted(set(changes) - self._INTERACTION_FIELDS)
        if unknown:
            raise InvalidInput(f"unknown interaction field(s): {', '.join(unknown)}")
        values = dict(changes)
        for field in ("notes", "summary"):
            if field in values:
                values[field] = _check_text(field, values[field], MAX_NOTE_CHARS)
        if "disposition" in values:
            values["disposition"] = _check_text("disposition", values["disposition"], 64)
        if "status" in values and values["status"] not in {s.value for s in InteractionStatus}:
            raise InvalidInput("status must be open or closed")
        async with self.engine.begin() as conn:
            current = (
                (
                    await conn.execute(
                        select(interactions.c.customer_id).where(
                            interactions.c.id == interaction_id
                        )
                    )
                )
                .mappings()
                .first()
            )
            if current is None:
                raise InteractionNotFound(f"interaction {interaction_id} does not exist")
            await conn.execute(
                update(interactions).where(interactions.c.id == interaction_id).values(**values)
            )
            customer_id = current["customer_id"]
            if values.get("resolved") is True:
                await self._refresh_repeat_flag(conn, customer_id)
            if {"disposition", "notes", "summary", "resolved"} & set(values):
                await self._audit(
                    conn,
                    actor,
                    "interaction.updated",
                    customer_id,
                    details={"interaction_id": interaction_id, "fields": sorted(values)},
                )
            row = (
                (
                    await conn.execute(
                        select(*_INTERACTION_COLUMNS).where(interactions.c.id == interaction_id)
                    )
                )
                .mappings()
                .one()
            )
            return _interaction(row)

    async def interaction_for_contact(self, contact_id: str) -> dict[str, Any] | None:
        async with self.engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        select(*_INTERACTION_COLUMNS, interactions.c.customer_id).where(
                            interactions.c.contact_id == contact_id
                        )
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            return None
        data = _interaction(row)
        data["customer_id"] = row["customer_id"]
        return data

    @property
    def new_customer_tier(self) -> str:
        """The tier a new (provisional) customer gets: the lowest."""
        return self.value_settings.tiers[-1].name

    async def routing_context(
        self, identity: Identity, *, create: bool = True
    ) -> dict[str, Any] | None:
        """What the router needs about the customer behind ``identity``: id, tier, owner
        agent, last agent who served them and when. An unknown identity gets a new
        provisional customer, or with ``create=False`` gives None and nothing is written
        (a caller is then routed first and its customer made after the decision).

        Not a profile view (nobody sees it), so not audit-logged.
        """
        # A known caller (the usual case): one query, one round trip to the database.
        last = (
            interactions.c.customer_id == customers.c.id,
            interactions.c.agent_id.is_not(None),
        )
        served_at = func.coalesce(
            interactions.c.ended_at, interactions.c.answered_at, interactions.c.started_at
        )
        newest = interactions.c.started_at.desc()
        known = (
            select(
                customers.c.id,
                customers.c.tier,
                customers.c.owner_agent_id,
                select(interactions.c.agent_id)
                .where(*last)
                .order_by(newest)
                .limit(1)
                .scalar_subquery()
                .label("last_agent_id"),
                select(served_at)
                .where(*last)
                .order_by(newest)
                .limit(1)
                .scalar_subquery()
                .label("last_served_at"),
            )
            .select_from(identities.join(customers, customers.c.id == identities.c.customer_id))
            .where(identities.c.kind == identity.kind.value, identities.c.value == identity.value)
        )
        async with self.engine.connect() as conn:
            row = (await conn.execute(known)).mappings().first()
        if row is not None:
            return {
                "customer_id": row["id"],
                "created": False,
                "tier": row["tier"],
                "owner_agent_id": row["owner_agent_id"],
                "last_agent_id": row["last_agent_id"],
                "last_served_at": row["last_served_at"],
            }
        if not create:
            return None
        resolution = await self.resolve(identity)
        async with self.engine.connect() as conn:
            return await self._routing_rows(
                conn, resolution.customer_id, created=resolution.created
            )

    async def _routing_rows(
        self, conn: AsyncConnection, cid: int, *, created: bool
    ) -> dict[str, Any]:
        row = (
            (
                await conn.execute(
                    select(customers.c.tier, customers.c.owner_agent_id).where(
                        customers.c.id == cid
                    )
                )
            )
            .mappings()
            .one()
        )
        last = (
            (
                await conn.execute(
                    select(
                        interactions.c.agent_id,
                        func.coalesce(
                            interactions.c.ended_at,
                            interactions.c.answered_at,
                            interactions.c.started_at,
                        ).label("served_at"),
                    )
                    .where(interactions.c.customer_id == cid, interactions.c.agent_id.is_not(None))
                    .order_by(interactions.c.started_at.desc())
                    .limit(1)
                )
            )
            .mappings()
            .first()
        )
        return {
            "customer_id": cid,
            "created": created,
            "tier": row["tier"],
            "owner_agent_id": row["owner_agent_id"],
            "last_agent_id": last["agent_id"] if last else None,
            "last_served_at": last["served_at"] if last else None,
        }

    async def update_contact(
        self, contact_id: str, changes: Mapping[str, Any], *, add_refs: Mapping[str, str] = {}
    ) -> bool:
        """Record progress of the interaction of a router contact (no-op, False, if none).

        ``add_refs`` appends values to lists in ``external_ids`` (e.g. recording files).
        """
        found = await self.interaction_for_contact(contact_id)
        if found is None:
            return False
        values = dict(changes)
        if add_refs:
            external = dict(found["external_ids"])
            for key, value in add_refs.items():
                listed = external.get(key)
                external[key] = [*(listed if isinstance(listed, list) else []), value]
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(interactions)
                    .where(interactions.c.id == found["id"])
                    .values(external_ids=external)
                )
        if values:
            await self.update_interaction(found["id"], values)
        return True

    async def _refresh_repeat_flag(self, conn: AsyncConnection, customer_id: int) -> None:
        window = self.value_settings.repeat_contact_days * 86_400
        still = exists().where(
            interactions.c.customer_id == customer_id,
            interactions.c.resolved.is_(False),
            interactions.c.repeat_contact.is_(True),
            interactions.c.started_at >= self.clock() - window,
        )
        await conn.execute(
            update(customers).where(customers.c.id == customer_id).values(repeat_contact=still)
        )

    async def add_message(
        self,
        interaction_id: int,
        *,
        direction: str,
        body: str,
        sender: str | None = None,
        subject: str | None = None,
        attachments: Sequence[Mapping[Any, Any]] = (),
        external_id: str | None = None,
        created_at: float | None = None,
    ) -> dict[str, Any]:
        if direction not in {d.value for d in Direction}:
            raise InvalidInput("direction must be inbound or outbound")
        if not isinstance(body, str) or len(body) > MAX_MESSAGE_CHARS:
            raise InvalidInput(f"message body must be text of at most {MAX_MESSAGE_CHARS} chars")
        attachment_list = [dict(a) for a in attachments]
        if not _json_size_ok(attachment_list, 65_536):
            raise InvalidInput("attachments metadata is too large")
        at = created_at if created_at is not None else self.clock()
        async with self.engine.begin() as conn:
            owner = await conn.execute(
                select(interactions.c.customer_id).where(interactions.c.id == interaction_id)
            )
            customer_id = owner.scalar()
            if customer_id is None:
                raise InteractionNotFound(f"interaction {interaction_id} does not exist")
            result = await conn.execute(
                insert(messages)
                .values(
                    interaction_id=interaction_id,
                    customer_id=customer_id,
                    direction=direction,
                    sender=_check_text("sender", sender, 320),
                    subject=_check_text("subject", subject, 300),
                    body=body,
                    attachments=attachment_list,
                    external_id=_check_text("external_id", external_id, 255),
                    created_at=at,
                )
                .returning(messages.c.id)
            )
            return {"id": int(result.scalar_one()), "interaction_id": interaction_id}

    async def add_note(
        self,
        customer_id: int,
        body: str,
        *,
        actor: Actor,
        interaction_id: int | None = None,
    ) -> dict[str, Any]:
        text_body = _check_text("body", body, MAX_NOTE_CHARS, required=True)
        now = self.clock()
        async with self.engine.begin() as conn:
            await self._live_customer(conn, customer_id)
            if interaction_id is not None:
                owner = await conn.execute(
                    select(interactions.c.customer_id).where(interactions.c.id == interaction_id)
                )
                if owner.scalar() != customer_id:
                    raise InteractionNotFound(
                        f"interaction {interaction_id} does not belong to customer {customer_id}"
                    )
            result = await conn.execute(
                insert(notes)
                .values(
                    customer_id=customer_id,
                    interaction_id=interaction_id,
                    author_id=actor.user_id,
                    body=text_body,
                    created_at=now,
                )
                .returning(notes.c.id)
            )
            note_id = int(result.scalar_one())
            await self._audit(
                conn,
                actor,
                "note.added",
                customer_id,
                details={"note_id": note_id, "interaction_id": interaction_id},
            )
        return {
            "id": note_id,
            "customer_id": customer_id,
            "interaction_id": interaction_id,
            "author_id": actor.user_id,
            "author": actor.name,
            "body": text_body,
            "created_at": now,
        }

    # --------------------------------------------------------------------- orders

    async def import_orders(
        self, rows: Sequence[Mapping[Any, Any]], *, actor: Actor
    ) -> dict[str, Any]:
        """Insert or update orders (keyed by source + external_id), then refresh the value of
        each customer touched, from that customer's monthly totals only.

        A row names its customer by ``customer_id`` or by an identity (``email``,
        ``phone`` or ``account``); an unknown identity creates the customer (the
        back office is authoritative), named by ``customer_name`` if given.
        Rows with errors are reported by index and skipped; the others are kept.
        This is the API's contract; the file importer calls :meth:`write_orders` with
        stricter choices.
        """
        outcomes = await self.write_orders(
            rows, actor=actor, on_conflict="update", create_missing_customers=True
        )
        kept = [o for o in outcomes if o.error is None]
        touched = {o.customer_id for o in kept} | {o.previous_customer_id for o in kept}
        return {
            "inserted": sum(o.outcome == "created" for o in outcomes),
            # Written again with the same values counts as updated, as it always has.
            "updated": sum(o.outcome in ("updated", "unchanged") for o in outcomes),
            "rejected": [
                {"index": o.index, "error": o.error.error_id, "message": o.error.message}
                for o in outcomes
                if o.error is not None
            ],
            "customers": len(touched - {None}),
        }

    async def write_orders(
        self,
        rows: Sequence[Mapping[Any, Any]],
        *,
        actor: Actor,
        on_conflict: OnConflict,
        create_missing_customers: bool,
        require_customer_name: bool = False,
    ) -> list[OrderOutcome]:
        """Write order rows and say what became of each; a bad row never stops the others.

        An order is keyed by ``source`` + ``external_id``. A row equal to the stored
        order is ``unchanged``; one that differs is updated, skipped or rejected
        (:class:`OrderExists`) as ``on_conflict`` says, and an update may move the order
        to another customer. Every customer reference of a row (``customer_id``,
        ``email``, ``phone``, ``account``) must name the same live customer. When none
        names anyone, the row is rejected (:class:`CustomerNotFound`) unless
        ``create_missing_customers``: then a customer holding the row's identities is
        created, named ``customer_name`` (required if ``require_customer_name``, else
        the first identity).

        Rows are written in chunks, one transaction each and one savepoint per row, so
        a rejected row leaves no trace. Then the value of every customer touched is
        recomputed from its monthly totals, and each gets an ``orders.imported`` audit
        event naming the orders written.
        """
        outcomes: list[OrderOutcome] = []
        for start in range(0, len(rows), _ORDER_CHUNK):
            async with self.engine.begin() as conn:
                touched: dict[int, set[int]] = {}
                written: dict[int, list[OrderOutcome]] = {}
                for index in range(start, min(start + _ORDER_CHUNK, len(rows))):
                    try:
                        async with conn.begin_nested():
                            outcome = await self._write_order(
                                conn,
                                index,
                                rows[index],
                                actor=actor,
                                on_conflict=on_conflict,
                                create_missing_customers=create_missing_customers,
                                require_customer_name=require_customer_name,
                                touched=touched,
                            )
                    except AppError as exc:
                        outcome = OrderOutcome(index, "rejected", error=exc)
                    except IntegrityError:
                        # Another writer stored the same order or identity meanwhile.
                        outcome = OrderOutcome(
                            index,
                            "rejected",
                            error=Conflict("written by someone else at the same time: retry"),
                        )
                    outcomes.append(outcome)
                    if outcome.outcome in ("created", "updated"):
                        for customer_id in {outcome.customer_id, outcome.previous_customer_id}:
                            if customer_id is not None:
                                written.setdefault(customer_id, []).append(outcome)
                for customer_id, months in touched.items():
                    await self._rebuild_months(conn, customer_id, months)
                    await self._refresh_value(conn, customer_id)
                for customer_id, done in written.items():
                    await self._audit(
                        conn,
                        actor,
                        "orders.imported",
                        customer_id,
                        details={
                            "created": [o.order_id for o in done if o.outcome == "created"],
                            "updated": {
                                str(o.order_id): list(o.fields)
                                for o in done
                                if o.outcome == "updated"
                            },
                        },
                    )
        return outcomes

    async def _write_order(
        self,
        conn: AsyncConnection,
        index: int,
        row: Mapping[Any, Any],
        *,
        actor: Actor,
        on_conflict: OnConflict,
        create_missing_customers: bool,
        require_customer_name: bool,
        touched: dict[int, set[int]],
    ) -> OrderOutcome:
        order = self._order_values(row)
        customer_id, references = await self._order_customer(conn, row)
        if customer_id is None and not create_missing_customers:
            kinds = ", ".join(dict.fromkeys(i.kind.value for i in references))
            raise CustomerNotFound(f"no customer has the {kinds} of this row")
        existing = (
            (
                await conn.execute(
                    select(orders).where(
                        orders.c.source == order["source"],
                        orders.c.external_id == order["external_id"],
                    )
                )
            )
            .mappings()
            .first()
        )
        fields: tuple[str, ...] = ()
        if existing is not None:
            fields = tuple(
                name for column, name in _ORDER_FIELDS if existing[column] != order[column]
            )
            if existing["customer_id"] != customer_id:
                fields += ("customer",)
            if not fields:
                return OrderOutcome(index, "unchanged", existing["id"], customer_id)
            if on_conflict == "reject":
                raise OrderExists(
                    f"order {existing['id']} is stored with a different {', '.join(fields)}",
                    details={
                        "order_id": existing["id"],
                        "customer_id": existing["customer_id"],
                        "fields": list(fields),
                    },
                )
            if on_conflict == "skip":
                return OrderOutcome(
                    index, "skipped", existing["id"], existing["customer_id"], fields=fields
                )
        created = customer_id is None
        if customer_id is None:
            customer_id = await self._create_order_customer(
                conn, row, references, actor=actor, require_name=require_customer_name
            )
        month = month_index(order["ordered_at"])
        if existing is None:
            result = await conn.execute(
                insert(orders).values(customer_id=customer_id, **order).returning(orders.c.id)
            )
            touched.setdefault(customer_id, set()).add(month)
            return OrderOutcome(
                index, "created", int(result.scalar_one()), customer_id, customer_created=created
            )
        await conn.execute(
            update(orders)
            .where(orders.c.id == existing["id"])
            .values(customer_id=customer_id, **order)
        )
        touched.setdefault(existing["customer_id"], set()).add(month_index(existing["ordered_at"]))
        touched.setdefault(customer_id, set()).add(month)
        moved = existing["customer_id"] if existing["customer_id"] != customer_id else None
        return OrderOutcome(
            index,
            "updated",
            existing["id"],
            customer_id,
            previous_customer_id=moved,
            fields=fields,
            customer_created=created,
        )

    async def _order_customer(
        self, conn: AsyncConnection, row: Mapping[Any, Any]
    ) -> tuple[int | None, list[Identity]]:
        """The live customer every reference of an order row names (None: nobody), and
        the row's identities."""
        references: list[Identity] = []
        for kind, key in (
            (IdentityKind.EMAIL, "email"),
            (IdentityKind.PHONE, "phone"),
            (IdentityKind.ACCOUNT, "account"),
        ):
            raw = row.get(key)
            if raw is not None and raw != "":
                references.append(self.identity(kind, raw))
        named: set[int] = set()
        customer_id = row.get("customer_id")
        if customer_id is not None:
            if not isinstance(customer_id, int) or isinstance(customer_id, bool):
                raise InvalidInput("customer_id must be an integer")
            await self._check_order_customer(conn, customer_id)
            named.add(customer_id)
        elif not references:
            raise InvalidInput("an order needs customer_id, email, phone or account")
        owners = await self._owners(conn, references)
        named |= set(owners.values())
        unknown = [i for i in references if i not in owners]
        if len(named) > 1 or (named and unknown):
            raise IdentitiesConflict(
                "the customer id and identities of this row do not all name the same customer",
                details={
                    "customer_ids": sorted(named),
                    "unknown": list(dict.fromkeys(i.kind.value for i in unknown)),
                },
            )
        if not named:
            return None, references
        (found,) = named
        await self._check_order_customer(conn, found)
        return found, references

    async def _check_order_customer(self, conn: AsyncConnection, customer_id: int) -> None:
        row = (
            (
                await conn.execute(
                    select(customers.c.merged_into_id, customers.c.erased_at).where(
                        customers.c.id == customer_id
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise CustomerNotFound(f"customer {customer_id} does not exist")
        if row["merged_into_id"] is not None:
            raise CustomerMerged(
                f"customer {customer_id} was merged into {row['merged_into_id']}",
                details={"merged_into_id": row["merged_into_id"]},
            )
        if row["erased_at"] is not None:
            raise CustomerErased(f"customer {customer_id} was erased")

    async def _create_order_customer(
        self,
        conn: AsyncConnection,
        row: Mapping[Any, Any],
        references: Sequence[Identity],
        *,
        actor: Actor,
        require_name: bool,
    ) -> int:
        name = _check_text("customer_name", row.get("customer_name"), 200)
        if not name:
            if require_name:
                raise MissingField(
                    "customer_name is needed to create the customer of this order",
                    details={"field": "customer_name"},
                )
            name = references[0].value
        now = self.clock()
        # Known to the back office: a customer, not a provisional stranger.
        customer_id = await self._insert_customer(conn, {"display_name": name}, now)
        await self._insert_identities(conn, customer_id, references, now)
        await self._audit(
            conn,
            actor,
            "customer.created",
            customer_id,
            details={"via": "orders", "identities": [str(i) for i in references]},
        )
        return customer_id

    async def _owners(
        self, conn: AsyncConnection, identity_list: Sequence[Identity]
    ) -> dict[Identity, int]:
        """Who holds each of these identities (those nobody holds are absent): one query."""
        if not identity_list:
            return {}
        result = await conn.execute(
            select(identities.c.kind, identities.c.value, identities.c.customer_id).where(
                or_(
                    *(
                        and_(identities.c.kind == i.kind.value, identities.c.value == i.value)
                        for i in identity_list
                    )
                )
            )
        )
        return {Identity(IdentityKind(r.kind), r.value): int(r.customer_id) for r in result}

    async def _insert_identities(
        self,
        conn: AsyncConnection,
        customer_id: int,
        identity_list: Iterable[Identity],
        now: float,
    ) -> None:
        rows = [
            {"customer_id": customer_id, "kind": i.kind.value, "value": i.value, "created_at": now}
            for i in dict.fromkeys(identity_list)
        ]
        if rows:
            await conn.execute(insert(identities), rows)

    def _order_values(self, row: Mapping[Any, Any]) -> dict[str, Any]:
        unknown = sorted(set(row) - ORDER_FIELDS)
        if unknown:
            raise InvalidInput(f"unknown order field(s): {', '.join(unknown)}")
        external_id = _check_text("external_id", row.get("external_id"), 128, required=True)
        source = _check_text("source", row.get("source") or "import", 64, required=True)
        currency = str(row.get("currency") or "USD").upper()
        if len(currency) != 3 or not currency.isalpha():
            raise InvalidInput("currency must be a three-letter code")
        items = row.get("items") or []
        if not isinstance(items, list) or not _json_size_ok(items, 65_536):
            raise InvalidInput("items must be a list (at most 64 KiB)")
        ordered_at = row.get("ordered_at")
        if isinstance(ordered_at, str):
            from datetime import datetime

            try:
                parsed = datetime.fromisoformat(ordered_at.replace("Z", "+00:00"))
            except ValueError:
                raise InvalidInput(f"ordered_at {ordered_at[:40]!r} is not ISO 8601") from None
            if parsed.tzinfo is None:
                from datetime import UTC

                parsed = parsed.replace(tzinfo=UTC)
            ordered_at = parsed.timestamp()
        if not isinstance(ordered_at, int | float) or isinstance(ordered_at, bool):
            raise InvalidInput("ordered_at must be an ISO 8601 date or a Unix timestamp")
        return {
            "source": source,
            "external_id": external_id,
            "amount_cents": _cents(row.get("amount"), "amount"),
            "margin_cents": _cents(row.get("margin", 0), "margin"),
            "currency": currency,
            "items": items,
            "status": _check_text("status", row.get("status") or "completed", 32),
            "ordered_at": float(ordered_at),
        }

    async def _rebuild_months(
        self, conn: AsyncConnection, customer_id: int, months: Iterable[int]
    ) -> None:
        """Recompute the given monthly buckets of one customer from its own orders."""
        for month in months:
            year, m0 = divmod(month, 12)
            start = _month_start(year, m0 + 1)
            end = _month_start(year + (m0 + 1) // 12, (m0 + 1) % 12 + 1)
            totals = (
                (
                    await conn.execute(
                        select(
                            func.coalesce(func.sum(orders.c.amount_cents), 0).label("spend"),
                            func.coalesce(func.sum(orders.c.margin_cents), 0).label("margin"),
                            func.count().label("n"),
                        ).where(
                            orders.c.customer_id == customer_id,
                            orders.c.ordered_at >= start,
                            orders.c.ordered_at < end,
                            orders.c.status != "cancelled",
                        )
                    )
                )
                .mappings()
                .one()
            )
            await conn.execute(
                delete(customer_value_months).where(
                    customer_value_months.c.customer_id == customer_id,
                    customer_value_months.c.month == month,
                )
            )
            if totals["n"]:
                await conn.execute(
                    insert(customer_value_months).values(
                        customer_id=customer_id,
                        month=month,
                        spend_cents=int(totals["spend"]),
                        margin_cents=int(totals["margin"]),
                        orders=int(totals["n"]),
                    )
                )

    async def _refresh_value(self, conn: AsyncConnection, customer_id: int) -> None:
        buckets = (
            (
                await conn.execute(
                    select(customer_value_months).where(
                        customer_value_months.c.customer_id == customer_id
                    )
                )
            )
            .mappings()
            .all()
        )
        months = [
            MonthTotals(b["month"], b["spend_cents"], b["margin_cents"], b["orders"])
            for b in buckets
        ]
        last = await conn.execute(
            select(func.max(orders.c.ordered_at)).where(
                orders.c.customer_id == customer_id, orders.c.status != "cancelled"
            )
        )
        last_order_at = last.scalar()
        value = compute_value(
            months, now=self.clock(), last_order_at=last_order_at, settings=self.value_settings
        )
        stage = (
            await conn.execute(
                select(customers.c.lifecycle_stage).where(customers.c.id == customer_id)
            )
        ).scalar_one()
        lifetime_orders = sum(m.orders for m in months)
        await conn.execute(
            update(customers)
            .where(customers.c.id == customer_id)
            .values(
                tier=value.tier,
                previous_tier=value.previous_tier,
                churn_risk=value.churn_risk,
                spend_window_cents=value.spend_window_cents,
                margin_window_cents=value.margin_window_cents,
                orders_window=value.orders_window,
                lifetime_spend_cents=sum(m.spend_cents for m in months),
                lifetime_orders=lifetime_orders,
                last_order_at=last_order_at,
                lifecycle_stage=next_lifecycle_stage(stage, lifetime_orders),
                updated_at=self.clock(),
            )
        )

    async def refresh_value(self, customer_id: int) -> dict[str, Any]:
        """Recompute one customer's value now (tiers drift as windows move on)."""
        async with self.engine.begin() as conn:
            await self._refresh_value(conn, customer_id)
            return await self._load_profile(conn, customer_id)

    # --------------------------------------------------------------------- merges

    async def merge(
        self, survivor_id: int, merged_id: int, *, actor: Actor, reason: str
    ) -> dict[str, Any]:
        """Move everything of ``merged_id`` onto ``survivor_id``; undoable with :meth:`unmerge`.

        The merged customer row stays (marked ``merged_into_id``) so nothing is lost and
        the merge can be reversed; the ids of every moved row are kept on the merge record.
        """
        reason_text = _check_text("reason", reason, 2000, required=True)
        if survivor_id == merged_id:
            raise MergeRejected("a customer cannot be merged into itself")
        async with self.engine.begin() as conn:
            survivor = await self._live_customer(conn, survivor_id)
            merged = await self._live_customer(conn, merged_id)
            moved: dict[str, list[int]] = {}
            for table in (identities, interactions, messages, notes, orders):
                ids = (
                    (await conn.execute(select(table.c.id).where(table.c.customer_id == merged_id)))
                    .scalars()
                    .all()
                )
                moved[table.name] = [int(i) for i in ids]
                if ids:
                    await conn.execute(
                        update(table)
                        .where(table.c.customer_id == merged_id)
                        .values(customer_id=survivor_id)
                    )
            combined = self._combined_fields(survivor, merged)
            now = self.clock()
            await conn.execute(
                update(customers)
                .where(customers.c.id == survivor_id)
                .values(**combined, updated_at=now)
            )
            await conn.execute(
                update(customers)
                .where(customers.c.id == merged_id)
                .values(merged_into_id=survivor_id, updated_at=now)
            )
            await self._move_months(conn, merged_id, survivor_id)
            await self._refresh_value(conn, survivor_id)
            await self._refresh_value(conn, merged_id)
            before = {k: survivor[k] for k in _MERGE_RESTORABLE}
            now_row = (
                (await conn.execute(select(customers).where(customers.c.id == survivor_id)))
                .mappings()
                .one()
            )
            after = {k: now_row[k] for k in _MERGE_RESTORABLE}
            result = await conn.execute(
                insert(merges)
                .values(
                    survivor_id=survivor_id,
                    merged_id=merged_id,
                    merged_by=actor.user_id,
                    reason=reason_text,
                    created_at=now,
                    moved=moved,
                    survivor_before={"before": before, "after": after},
                )
                .returning(merges.c.id)
            )
            merge_id = int(result.scalar_one())
            counts = {k: len(v) for k, v in moved.items()}
            for customer_id in (survivor_id, merged_id):
                await self._audit(
                    conn,
                    actor,
                    "customer.merged",
                    customer_id,
                    # The reason is free text: it stays on the merge record, which an
                    # erasure redacts, not in the audit log.
                    details={
                        "merge_id": merge_id,
                        "survivor_id": survivor_id,
                        "merged_id": merged_id,
                        "moved": counts,
                    },
                )
            return {
                "id": merge_id,
                "survivor_id": survivor_id,
                "merged_id": merged_id,
                "reason": reason_text,
                "merged_by": actor.user_id,
                "created_at": now,
                "moved": counts,
                "undone_at": None,
            }

    @staticmethod
    def _combined_fields(survivor: Mapping[Any, Any], merged: Mapping[Any, Any]) -> dict[str, Any]:
        combined: dict[str, Any] = {
            "tags": sorted(set(survivor["tags"]) | set(merged["tags"])),
            "attributes": {**merged["attributes"], **survivor["attributes"]},
            "consent": {**merged["consent"], **survivor["consent"]},
            "provisional": bool(survivor["provisional"] and merged["provisional"]),
            "owner_agent_id": survivor["owner_agent_id"] or merged["owner_agent_id"],
            "language": survivor["language"] or merged["language"],
            "timezone": survivor["timezone"] or merged["timezone"],
            "lifecycle_stage": max(
                survivor["lifecycle_stage"], merged["lifecycle_stage"], key=_LIFECYCLE_ORDER.index
            ),
        }
        if survivor["provisional"] and not merged["provisional"]:
            combined["display_name"] = merged["display_name"]
            combined["search_name"] = merged["search_name"]
        return combined

    async def _move_months(self, conn: AsyncConnection, from_id: int, to_id: int) -> None:
        months = (
            (
                await conn.execute(
                    select(customer_value_months.c.month).where(
                        customer_value_months.c.customer_id.in_([from_id, to_id])
                    )
                )
            )
            .scalars()
            .all()
        )
        await self._rebuild_months(conn, from_id, set(months))
        await self._rebuild_months(conn, to_id, set(months))

    async def unmerge(self, merge_id: int, *, actor: Actor) -> dict[str, Any]:
        """Undo a merge: every row it moved that still exists goes back to the merged customer.

        Rows created after the merge stay with the survivor. Survivor fields the merge
        changed are put back unless someone changed them since.
        """
        async with self.engine.begin() as conn:
            record = (
                (await conn.execute(select(merges).where(merges.c.id == merge_id)))
                .mappings()
                .first()
            )
            if record is None:
                raise MergeNotFound(f"merge {merge_id} does not exist")
            if record["undone_at"] is not None:
                raise MergeRejected(f"merge {merge_id} was already undone")
            survivor_id, merged_id = record["survivor_id"], record["merged_id"]
            survivor = (
                (await conn.execute(select(customers).where(customers.c.id == survivor_id)))
                .mappings()
                .one()
            )
            if survivor["merged_into_id"] is not None:
                later = (
                    await conn.execute(
                        select(merges.c.id).where(
                            merges.c.merged_id == survivor_id, merges.c.undone_at.is_(None)
                        )
                    )
                ).scalar()
                raise MergeRejected(
                    f"customer {survivor_id} was itself merged since; undo merge {later} first",
                    details={"blocking_merge_id": later},
                )
            moved: dict[str, list[int]] = record["moved"]
            returned: dict[str, int] = {}
            for table in (identities, interactions, messages, notes, orders):
                ids = moved.get(table.name, [])
                count = 0
                for chunk_start in range(0, len(ids), 500):
                    chunk = ids[chunk_start : chunk_start + 500]
                    result = await conn.execute(
                        update(table)
                        .where(table.c.id.in_(chunk), table.c.customer_id == survivor_id)
                        .values(customer_id=merged_id)
                    )
                    count += result.rowcount
                returned[table.name] = count
            # Notes and messages added since the merge follow their interaction back.
            back = moved.get(interactions.name, [])
            for chunk_start in range(0, len(back), 500):
                chunk = back[chunk_start : chunk_start + 500]
                for table in (notes, messages):
                    await conn.execute(
                        update(table)
                        .where(table.c.interaction_id.in_(chunk))
                        .values(customer_id=merged_id)
                    )
            fields = record["survivor_before"]
            # An erasure since keeps only the fields that identify nobody: the rest
            # is not put back.
            restore = {
                k: fields["before"][k]
                for k in _MERGE_RESTORABLE
                if k in fields["before"]
                and k in fields["after"]
                and survivor[k] == fields["after"][k]
            }
            now = self.clock()
            if restore:
                await conn.execute(
                    update(customers)
                    .where(customers.c.id == survivor_id)
                    .values(**restore, updated_at=now)
                )
            await conn.execute(
                update(customers)
                .where(customers.c.id == merged_id)
                .values(merged_into_id=None, updated_at=now)
            )
            await conn.execute(
                update(merges)
                .where(merges.c.id == merge_id)
                .values(undone_at=now, undone_by=actor.user_id)
            )
            months = (
                (
                    await conn.execute(
                        select(customer_value_months.c.month).where(
                            customer_value_months.c.customer_id == survivor_id
                        )
                    )
                )
                .scalars()
                .all()
            )
            await self._rebuild_months(conn, merged_id, set(months))
            await self._rebuild_months(conn, survivor_id, set(months))
            await self._refresh_value(conn, survivor_id)
            await self._refresh_value(conn, merged_id)
            for customer_id in (survivor_id, merged_id):
                await self._audit(
                    conn,
                    actor,
                    "customer.unmerged",
                    customer_id,
                    details={"merge_id": merge_id, "returned": returned},
                )
        return {
            "id": merge_id,
            "survivor_id": survivor_id,
            "merged_id": merged_id,
            "undone_at": now,
            "returned": returned,
        }

    async def list_merges(self, customer_id: int) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        select(merges)
                        .where(
                            or_(
                                merges.c.survivor_id == customer_id,
                                merges.c.merged_id == customer_id,
                            )
                        )
                        .order_by(merges.c.id.desc())
                    )
                )
                .mappings()
                .all()
            )
        return [
            {
                "id": r["id"],
                "survivor_id": r["survivor_id"],
                "merged_id": r["merged_id"],
                "merged_by": r["merged_by"],
                "reason": r["reason"],
                "created_at": r["created_at"],
                "moved": {k: len(v) for k, v in r["moved"].items()},
                "undone_at": r["undone_at"],
                "undone_by": r["undone_by"],
            }
            for r in rows
        ]

    # -------------------------------------------------------------------- privacy

    async def export_customer(self, customer_id: int, *, actor: Actor) -> dict[str, Any]:
        """Everything held about a customer (a data-subject access request), as JSON-able data."""
        async with self.engine.begin() as conn:
            profile = await self._load_profile(conn, customer_id)

            async def rows(table: Any, column: Any) -> list[dict[str, Any]]:
                result = await conn.execute(
                    select(table).where(column == customer_id).order_by(*table.primary_key)
                )
                return [dict(r) for r in result.mappings()]

            data = {
                "format": "contact-center-export/1",
                "exported_at": self.clock(),
                "customer": profile,
                "identities": await rows(identities, identities.c.customer_id),
                "interactions": await rows(interactions, interactions.c.customer_id),
                "messages": await rows(messages, messages.c.customer_id),
                "notes": await rows(notes, notes.c.customer_id),
                "orders": await rows(orders, orders.c.customer_id),
                "merges": [
                    dict(r)
                    for r in (
                        await conn.execute(
                            select(merges).where(
                                or_(
                                    merges.c.survivor_id == customer_id,
                                    merges.c.merged_id == customer_id,
                                )
                            )
                        )
                    ).mappings()
                ],
                "audit_events": await rows(audit_events, audit_events.c.customer_id),
            }
            await self._audit(conn, actor, "customer.exported", customer_id, details={})
        return data

    async def erase_customer(self, customer_id: int, *, actor: Actor) -> dict[str, Any]:
        """Anonymise personal data; keep what aggregate metrics need (channels, queues,
        agents, timestamps, dispositions, order amounts and dates).

        Covers the customer, every record merged into it (the same person), the free
        text and field values of their merge records, and their audit rows (who did
        what to which customer id stays; values are replaced). On SQLite the
        write-ahead log is then checkpointed and truncated, and freed pages are zeroed
        (``secure_delete``, set by the engine), so the file keeps no erased value.
        """
        now = self.clock()
        async with self.engine.begin() as conn:
            row = await self._live_customer(conn, customer_id)
            erased = await self._merged_into(conn, customer_id)
            for cid in erased:
                name = f"Erased customer {cid}"
                await conn.execute(
                    update(customers)
                    .where(customers.c.id == cid)
                    .values(
                        display_name=name,
                        search_name=search_key(name),
                        language=None,
                        timezone=None,
                        tags=[],
                        attributes={},
                        consent={},
                        erased_at=now,
                        updated_at=now,
                    )
                )
            removed = await conn.execute(
                delete(identities).where(identities.c.customer_id.in_(erased))
            )
            await conn.execute(
                update(interactions)
                .where(interactions.c.customer_id.in_(erased))
                .values(
                    subject=None,
                    notes=None,
                    summary=None,
                    external_ids={},
                    external_ref=None,
                    rating_comment=None,
                )
            )
            await conn.execute(
                update(messages)
                .where(messages.c.customer_id.in_(erased))
                .values(body=ERASED, subject=None, sender=None, attachments=[], external_id=None)
            )
            await conn.execute(
                update(notes).where(notes.c.customer_id.in_(erased)).values(body=ERASED)
            )
            await conn.execute(
                update(orders).where(orders.c.customer_id.in_(erased)).values(items=[])
            )
            await self._redact_merges(conn, erased)
            await self._redact_audit(conn, erased)
            await self._audit(
                conn,
                actor,
                "customer.erased",
                customer_id,
                details={
                    "identities_removed": removed.rowcount,
                    "had_name": bool(row),
                    "merged_records": len(erased) - 1,
                },
            )
        await self._checkpoint()
        return {"customer_id": customer_id, "erased_at": now}

    async def _merged_into(self, conn: AsyncConnection, customer_id: int) -> list[int]:
        """``customer_id`` and every customer merged into it, directly or through others."""
        found = [customer_id]
        frontier = [customer_id]
        while frontier:
            children = (
                (
                    await conn.execute(
                        select(customers.c.id).where(customers.c.merged_into_id.in_(frontier))
                    )
                )
                .scalars()
                .all()
            )
            frontier = [int(c) for c in children if int(c) not in found]
            found.extend(frontier)
        return found

    async def _redact_merges(self, conn: AsyncConnection, erased: list[int]) -> None:
        """The merge records of erased customers keep their ids and counts (undo still
        works on what is left) but lose the reason text and the personal field values."""
        rows = (
            await conn.execute(
                select(merges.c.id, merges.c.survivor_before).where(
                    or_(merges.c.survivor_id.in_(erased), merges.c.merged_id.in_(erased))
                )
            )
        ).all()
        for merge_id, survivor_before in rows:
            kept = {
                side: {k: v for k, v in fields.items() if k in _AUDITED_VALUES}
                for side, fields in (survivor_before or {}).items()
                if isinstance(fields, dict)
            }
            await conn.execute(
                update(merges)
                .where(merges.c.id == merge_id)
                .values(reason=ERASED, survivor_before=kept)
            )

    async def _redact_audit(self, conn: AsyncConnection, erased: list[int]) -> None:
        """Rows written before the audit log stopped keeping personal values (or by
        code that slipped one in) are rewritten without them."""
        rows = (
            await conn.execute(
                select(audit_events.c.id, audit_events.c.details).where(
                    audit_events.c.customer_id.in_(erased)
                )
            )
        ).all()
        for event_id, details in rows:
            redacted = redact_audit_details(details or {})
            if redacted != details:
                await conn.execute(
                    update(audit_events)
                    .where(audit_events.c.id == event_id)
                    .values(details=redacted)
                )

    async def _checkpoint(self) -> None:
        """On SQLite, move the write-ahead log into the database file and truncate it:
        until then the log holds the pages as they were before the erasure."""
        if self.engine.dialect.name != "sqlite" or self.engine.url.database in (
            None,
            "",
            ":memory:",
        ):
            return  # PostgreSQL has no such log to empty; an in-memory database no file.
        async with self.engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            result = await autocommit.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            busy = result.first()
        if busy is not None and busy[0]:
            # A long reader kept the log from being emptied; the next checkpoint (SQLite
            # runs one every 1000 pages) finishes the job.
            log.warning("the write-ahead log could not be truncated after an erasure")

    # ---------------------------------------------------------------------- audit

    async def _audit(
        self,
        conn: AsyncConnection,
        actor: Actor,
        action: str,
        customer_id: int | None,
        *,
        contact_id: str | None = None,
        details: Mapping[Any, Any] | None = None,
    ) -> None:
        await conn.execute(
            insert(audit_events).values(
                at=self.clock(),
                actor_id=actor.user_id,
                actor=actor.name[:64],
                action=action,
                customer_id=customer_id,
                contact_id=contact_id,
                details=dict(details or {}),
            )
        )

    async def record_audit(
        self,
        actor: Actor,
        action: str,
        *,
        customer_id: int | None = None,
        contact_id: str | None = None,
        details: Mapping[Any, Any] | None = None,
    ) -> None:
        async with self.engine.begin() as conn:
            await self._audit(
                conn, actor, action, customer_id, contact_id=contact_id, details=details
            )

    async def audit_log(
        self,
        *,
        customer_id: int | None = None,
        actor_id: int | None = None,
        action: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """Audit events, newest first, keyset-paged by id."""
        limit = max(1, min(int(limit), 500))
        query = select(audit_events)
        if customer_id is not None:
            query = query.where(audit_events.c.customer_id == customer_id)
        if actor_id is not None:
            query = query.where(audit_events.c.actor_id == actor_id)
        if action is not None:
            query = query.where(audit_events.c.action == action)
        if since is not None:
            query = query.where(audit_events.c.at >= since)
        if until is not None:
            query = query.where(audit_events.c.at < until)
        if cursor:
            query = query.where(audit_events.c.id < self._int_cursor(cursor))
        query = query.order_by(audit_events.c.id.desc()).limit(limit + 1)
        async with self.engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(query)).mappings()]
        page = rows[:limit]
        return {"items": page, "next_cursor": str(page[-1]["id"]) if len(rows) > limit else None}

    async def ping(self) -> dict[str, Any]:
        """Health probe for /status."""
        started = time.perf_counter()
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return {
            "ok": True,
            "backend": self.engine.dialect.name,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        }


@functools.cache
def _highest_ids(tables: tuple[Any, ...]) -> Select[Any]:
    """The largest id of each table, in one row (built once per set of tables)."""
    return select(*(select(func.coalesce(func.max(t.c.id), 0)).scalar_subquery() for t in tables))


def _month_totals(
    order_values: Iterable[Mapping[str, Any]],
) -> tuple[list[MonthTotals], float | None]:
    """Monthly totals and the last order time of a new customer's orders, as
    :meth:`ProfileStore._rebuild_months` and ``_refresh_value`` would read them back."""
    buckets: dict[int, list[int]] = {}
    last_order_at: float | None = None
    for order in order_values:
        if order["status"] == "cancelled":
            continue
        bucket = buckets.setdefault(month_index(order["ordered_at"]), [0, 0, 0])
        bucket[0] += order["amount_cents"]
        bucket[1] += order["margin_cents"]
        bucket[2] += 1
        if last_order_at is None or order["ordered_at"] > last_order_at:
            last_order_at = order["ordered_at"]
    months = [MonthTotals(m, s, g, n) for m, (s, g, n) in sorted(buckets.items())]
    return months, last_order_at


def _month_start(year: int, month: int) -> float:
    import calendar

    return float(calendar.timegm((year, month, 1, 0, 0, 0, 0, 0, 0)))


def redact_audit_details(details: Any, key: str | None = None) -> Any:
    """Audit details without personal values: numbers, booleans and this code's own
    vocabulary (``via``, ``criteria``, field names) stay; an identity keeps its kind;
    any other text, and any before/after value that is not a number, is replaced."""
    if isinstance(details, dict):
        redacted: dict[str, Any] = {}
        for k, v in details.items():
            if v is None or isinstance(v, bool | int | float):
                redacted[str(k)] = v
            elif k in ("from", "to"):
                # A changed field's old or new text, list or object (a name, tags, ...).
                redacted[str(k)] = ERASED
            else:
                redacted[str(k)] = redact_audit_details(v, str(k))
        return redacted
    if isinstance(details, list):
        return [redact_audit_details(v, key) for v in details]
    if isinstance(details, str):
        if key == "identity":
            return details.partition(":")[0] + ":" + ERASED
        return details if key in _AUDIT_SAFE_STRINGS else ERASED
    return details
