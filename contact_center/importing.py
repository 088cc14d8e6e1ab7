"""Import customers and orders from CSV or JSON Lines files (``contact-center import``).

Rows are read one at a time (files of any size), checked against the rules of
docs/importing.md, and written through the profile store (validated and audited).
Every row gets one outcome: created, updated, unchanged, skipped, or rejected with its
line number and a stable reason id. A rejected row never stops the rest of the file.

What the file says is personal data: it never reaches a log line. Log lines carry line
numbers, outcomes, reason ids, customer ids and column names; so do the summary and
the report, whose messages name columns, never what was in them.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import re
import zoneinfo
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any, Literal

import orjson

from contact_center.domain.customer import LifecycleStage
from contact_center.domain.identity import Identity, IdentityKind, InvalidIdentity
from contact_center.errors import AppError, InvalidInput
from contact_center.services import Actor
from contact_center.store.profiles import ORDER_FIELDS, OnConflict, OrderOutcome, ProfileStore

log = logging.getLogger(__name__)

Kind = Literal["customers", "orders"]
# Rows matching an existing customer change it only when asked: people edit customers
# in the console, and a file must not silently overwrite their work. Orders belong to
# the back office (nobody edits them here) and re-exports carry their status changes.
DEFAULT_ON_CONFLICT: dict[Kind, OnConflict] = {"customers": "reject", "orders": "update"}
ORDER_BATCH = 500  # order rows per call to the store (one transaction each)
MAX_LINE_BYTES = 1_000_000
LIST_LIMIT = 1000  # errors and changes listed in the summary; --report has every row
MAX_TAGS = 50

IDENTITY_COLUMNS = {
    "email": IdentityKind.EMAIL,
    "phone": IdentityKind.PHONE,
    "account": IdentityKind.ACCOUNT,
    "chat": IdentityKind.CHAT,
}
IDENTITY_NAMES = {
    IdentityKind.EMAIL: "email address",
    IdentityKind.PHONE: "phone number",
    IdentityKind.ACCOUNT: "account number",
    IdentityKind.CHAT: "chat visitor id",
}
ORDER_TEXT_LIMITS = {"customer_name": 200, "source": 64, "external_id": 128}
CUSTOMER_COLUMNS = frozenset(
    {
        *IDENTITY_COLUMNS,
        "display_name",
        "language",
        "timezone",
        "lifecycle_stage",
        "tags",
        "owner_agent_id",
    }
)
JSON_ONLY_CUSTOMER_COLUMNS = frozenset({"attributes", "consent"})
ORDER_COLUMNS = ORDER_FIELDS
ORDER_STATUSES = ("processing", "shipped", "completed", "refunded", "cancelled")
CONSENT_KEYS = ("voice", "chat", "email", "marketing", "recording")
LIFECYCLE_STAGES = tuple(s.value for s in LifecycleStage)
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
# Tabs, line breaks and other C0/C1 controls: never wanted inside one field.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROLS_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # free text

# BCP 47 as people write it: a language, then optionally a script and a region
# ("en", "en-GB", "zh-CN", "zh-Hant-TW", "es-419"). Variants and extensions are not
# accepted: nobody routes on them.
LANGUAGE_TAG = re.compile(r"^([A-Za-z]{2,3})(?:-([A-Za-z]{4}))?(?:-([A-Za-z]{2}|[0-9]{3}))?$")
# ISO 639-1 (every two-letter code) and the few three-letter codes without one that a
# contact centre is likely to meet. The shape alone would let "tlh" (Klingon) through.
_LANGUAGE_CODES = """
    aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu
    cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi
    ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks
    ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl
    nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl
    sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve
    vi vo wa wo xh yi yo za zh zu ceb fil gsw haw hmn yue
"""
KNOWN_LANGUAGES = frozenset(_LANGUAGE_CODES.split())


class InvalidFile(InvalidInput):
    """The file as a whole cannot be imported (nothing was written)."""

    error_id = "invalid-file"


class RowError(Exception):
    """Why one row was rejected: a stable reason id, the column to blame if one is, and a
    message that names columns but never repeats their values."""

    def __init__(
        self, reason: str, message: str, *, column: str | None = None, **details: Any
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.column = column
        self.details = details

    @classmethod
    def from_store(cls, exc: AppError) -> RowError:
        """A store refusal as a row error (the store's messages carry ids, not values)."""
        # The store's catch-all id says less than the importer's name for the same thing.
        reason = "invalid-value" if exc.error_id == "invalid-input" else exc.error_id
        details = {k: v for k, v in exc.details.items() if k != "field"}
        return cls(reason, exc.message, column=exc.details.get("field"), **details)


@dataclasses.dataclass(frozen=True, slots=True)
class SourceRow:
    """One record of the file: its first line, its values (text from CSV, JSON values
    from JSON Lines) or the reason it could not be read."""

    line: int
    values: dict[str, Any]
    from_csv: bool
    problem: RowError | None = None


@dataclasses.dataclass
class ImportSummary:
    """Counts of outcomes, the first rejected rows and changes, and a sink for all rows."""

    kind: Kind
    on_conflict: OnConflict
    report: Callable[[dict[str, Any]], None] = lambda _entry: None
    rows: int = 0
    counts: dict[str, int] = dataclasses.field(
        default_factory=lambda: dict.fromkeys(
            ("created", "updated", "unchanged", "skipped", "rejected"), 0
        )
    )
    customers_created: int = 0
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    changes: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    truncated: bool = False

    def add(self, entry: dict[str, Any]) -> None:
        """Record one row's outcome (``entry`` has ``line`` and ``outcome``)."""
        outcome = entry["outcome"]
        self.counts[outcome] += 1
        self.customers_created += bool(entry.get("customer_created"))
        listed = self.errors if outcome == "rejected" else self.changes
        if outcome in ("rejected", "updated", "skipped") or entry.get("customer_created"):
            if len(listed) < LIST_LIMIT:
                listed.append(entry)
            else:
                self.truncated = True
        self.report(entry)
        # Only ids and fixed vocabulary: nothing the file said.
        log.debug(
            "import %s line %d: %s %s customer %s",
            self.kind,
            entry["line"],
            outcome,
            entry.get("error", ""),
            entry.get("customer_id"),
        )

    def to_dict(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "kind": self.kind,
            "on_conflict": self.on_conflict,
            "rows": self.rows,
            **self.counts,
        }
        if self.kind == "orders":
            summary["customers_created"] = self.customers_created
        summary["errors"] = self.errors
        summary["changes"] = self.changes
        summary["truncated"] = self.truncated
        return summary


# ---------------------------------------------------------------------- reading


def read_rows(path: Path, fmt: str | None, kind: Kind) -> Iterator[SourceRow]:
    """The records of a CSV file (header line first) or a JSON Lines file, one at a time.

    A CSV header naming an unknown or repeated column refuses the whole file
    (:class:`InvalidFile`) before any row is read: every row would fail the same way.
    """
    chosen = fmt or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv")
    if chosen == "csv":
        return _read_csv(path, kind)
    if chosen == "jsonl":
        return _read_jsonl(path)
    raise InvalidFile(f"unknown file format {chosen[:20]!r} (use csv or jsonl)")


def _read_csv(path: Path, kind: Kind) -> Iterator[SourceRow]:
    # surrogateescape: a byte that is not UTF-8 spoils its own row only (invalid-encoding),
    # not the whole file.
    with path.open(newline="", encoding="utf-8-sig", errors="surrogateescape") as handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidFile(f"the header line is not valid CSV: {exc}") from None
        _check_header(header, kind)
        while True:
            line = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield SourceRow(line, {}, True, RowError("invalid-csv", f"not valid CSV: {exc}"))
                continue
            if not any(cell.strip() for cell in record):
                continue  # a blank line
            if len(record) > len(header):
                problem = RowError("too-many-fields", "more fields than the header names")
                yield SourceRow(line, {}, True, problem)
                continue
            if any(_has_undecodable(cell) for cell in record):
                problem = RowError("invalid-encoding", "the row is not UTF-8 text")
                yield SourceRow(line, {}, True, problem)
                continue
            yield SourceRow(line, dict(zip(header, record, strict=False)), True)


def _check_header(header: list[str], kind: Kind) -> None:
    known = CUSTOMER_COLUMNS if kind == "customers" else ORDER_COLUMNS
    for name in header:
        if _has_undecodable(name) or CONTROL_CHARACTERS.search(name):
            raise InvalidFile("the header line holds a column name that is not printable text")
        if kind == "customers" and name in JSON_ONLY_CUSTOMER_COLUMNS:
            raise InvalidFile(f"column {name!r} needs JSON Lines (in CSV use attr.<name> columns)")
        if name not in known and not (kind == "customers" and _attribute_column(name)):
            raise InvalidFile(f"unknown column {name[:64]!r} in the header line")
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise InvalidFile(f"column {repeated[0][:64]!r} appears twice in the header line")


def _attribute_column(name: str) -> bool:
    return name.startswith("attr.") and bool(ATTRIBUTE_NAME.match(name[5:]))


def _has_undecodable(text: str) -> bool:
    return any("\udc80" <= c <= "\udcff" for c in text)


def _read_jsonl(path: Path) -> Iterator[SourceRow]:
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if len(line) > MAX_LINE_BYTES:
                yield SourceRow(number, {}, False, RowError("line-too-long", "line over 1 MB"))
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                # The decoder's message quotes the line: not repeated.
                problem = RowError("invalid-json", "not valid JSON (or not UTF-8)")
                yield SourceRow(number, {}, False, problem)
                continue
            if not isinstance(value, dict):
                problem = RowError("not-an-object", "each line must be a JSON object")
                yield SourceRow(number, {}, False, problem)
                continue
            yield SourceRow(number, value, False)


# ------------------------------------------------------------------- field rules


def _present(values: dict[str, Any]) -> dict[str, Any]:
    """Given values only: an empty CSV cell, an empty string or a JSON null is no value
    (an import never clears what is stored)."""
    return {
        k: v.strip() if isinstance(v, str) else v
        for k, v in values.items()
        if v is not None and not (isinstance(v, str) and not v.strip())
    }


def _text(column: str, value: Any, limit: int, *, multiline: bool = False) -> str:
    if not isinstance(value, str):
        raise RowError("invalid-type", f"{column} must be a string", column=column)
    if len(value) > limit:
        raise RowError(
            "invalid-value", f"{column} is longer than {limit} characters", column=column
        )
    if (CONTROLS_BUT_LINES if multiline else CONTROL_CHARACTERS).search(value):
        raise RowError("invalid-value", f"{column} contains control characters", column=column)
    return value


def _text_list(column: str, value: Any, from_csv: bool) -> list[str]:
    """A list of strings: ``;``-separated in CSV, a JSON string or array in JSON Lines."""
    if from_csv or isinstance(value, str):
        items: list[Any] = value.split(";")
    elif isinstance(value, list):
        items = value
    else:
        raise RowError(
            "invalid-type", f"{column} must be a string or a list of strings", column=column
        )
    if not all(isinstance(item, str) for item in items):
        raise RowError("invalid-type", f"{column} must hold strings only", column=column)
    return [item.strip() for item in items if item.strip()]


def _integer(column: str, value: Any, from_csv: bool) -> int:
    if from_csv and isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if not from_csv and isinstance(value, int) and not isinstance(value, bool):
        return value
    raise RowError("invalid-type", f"{column} must be a whole number", column=column)


def _number(column: str, value: Any, from_csv: bool) -> float:
    """A money amount: decimal text in CSV, a JSON number in JSON Lines."""
    if from_csv:
        try:
            number = float(Decimal(value))
        except (InvalidOperation, TypeError):
            raise RowError("invalid-type", f"{column} must be a number", column=column) from None
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise RowError("invalid-type", f"{column} must be a number", column=column)
    if not math.isfinite(number) or abs(number) > 1e12:
        raise RowError("invalid-value", f"{column} is out of range", column=column)
    return number


def language_tag(value: str) -> str:
    """A BCP 47 language tag in its usual case ("zh-cn" -> "zh-CN"), or RowError."""
    match = LANGUAGE_TAG.match(value)
    if match is None or match.group(1).lower() not in KNOWN_LANGUAGES:
        raise RowError(
            "invalid-language",
            "language must be a known BCP 47 tag such as en, en-GB or zh-CN",
            column="language",
        )
    language, script, region = match.groups()
    tag = language.lower()
    if script:
        tag += "-" + script.title()
    if region:
        tag += "-" + region.upper()
    return tag


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone(value: str) -> str:
    """An IANA time zone name known to this machine's zone database, or RowError."""
    if value not in _timezones():
        raise RowError(
            "invalid-timezone",
            "timezone must be an IANA time zone name such as Europe/London",
            column="timezone",
        )
    return value


def _identities(
    store: ProfileStore,
    values: dict[str, Any],
    columns: dict[str, IdentityKind],
    *,
    many: bool,
    from_csv: bool,
) -> list[Identity]:
    found: list[Identity] = []
    for column, kind in columns.items():
        if column not in values:
            continue
        raw = values[column]
        items = _text_list(column, raw, from_csv) if many else [_text(column, raw, 320)]
        for position, item in enumerate(items, start=1):
            try:
                found.append(store.identity(kind, item))
            except InvalidIdentity:
                where = f" (item {position})" if len(items) > 1 else ""
                raise RowError(
                    "invalid-identity",
                    f"{column}{where} is not a valid {IDENTITY_NAMES[kind]}",
                    column=column,
                ) from None
    return found


def _attributes(values: dict[str, Any], from_csv: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    given = values.get("attributes", {})
    if not isinstance(given, dict):
        raise RowError("invalid-type", "attributes must be a JSON object", column="attributes")
    named = {k[5:]: v for k, v in values.items() if k.startswith("attr.")}
    for name, value in [*given.items(), *named.items()]:
        column = f"attr.{name}"
        if not ATTRIBUTE_NAME.match(name):
            raise RowError(
                "invalid-value",
                "attribute names are 1-64 letters, digits or _ . : -",
                column="attributes",
            )
        if from_csv or isinstance(value, str):
            attributes[name] = _text(column, value, 1000, multiline=True)
        elif isinstance(value, bool | int | float):
            attributes[name] = value
        else:
            raise RowError(
                "invalid-type", f"{column} must be a string, number or boolean", column=column
            )
    return attributes


def _consent(value: Any) -> dict[str, bool]:
    if not isinstance(value, dict) or not all(isinstance(v, bool) for v in value.values()):
        raise RowError(
            "invalid-type", "consent must map channels to true or false", column="consent"
        )
    if not set(value) <= set(CONSENT_KEYS):
        raise RowError(
            "invalid-value", f"consent keys are {', '.join(CONSENT_KEYS)}", column="consent"
        )
    return dict(value)


def _unknown_columns(values: dict[str, Any], known: frozenset[str], kind: Kind) -> None:
    for name in values:
        allowed = name in known or (
            kind == "customers" and (name in JSON_ONLY_CUSTOMER_COLUMNS or name.startswith("attr."))
        )
        if not allowed:
            # A column name is not personal data, but it is the file's text: bounded.
            raise RowError("unknown-field", f"unknown field {name[:64]!r}")


def customer_row(store: ProfileStore, row: SourceRow) -> tuple[dict[str, Any], list[Identity]]:
    """The store fields and identities of a customer row, or RowError."""
    values = _present(row.values)
    if not row.from_csv:
        _unknown_columns(values, CUSTOMER_COLUMNS, "customers")
    found = _identities(store, values, IDENTITY_COLUMNS, many=True, from_csv=row.from_csv)
    if not found:
        raise RowError("missing-identity", "a customer row needs an email, phone, account or chat")
    fields: dict[str, Any] = {}
    if "display_name" in values:
        fields["display_name"] = _text("display_name", values["display_name"], 200)
    if "language" in values:
        fields["language"] = language_tag(_text("language", values["language"], 16))
    if "timezone" in values:
        fields["timezone"] = time_zone(_text("timezone", values["timezone"], 64))
    if "lifecycle_stage" in values:
        stage = _text("lifecycle_stage", values["lifecycle_stage"], 16)
        if stage not in LIFECYCLE_STAGES:
            raise RowError(
                "invalid-value",
                f"lifecycle_stage must be one of {', '.join(LIFECYCLE_STAGES)}",
                column="lifecycle_stage",
            )
        fields["lifecycle_stage"] = stage
    if "tags" in values:
        tags = _text_list("tags", values["tags"], row.from_csv)
        for tag in tags:
            _text("tags", tag, 50)
        if len(set(tags)) > MAX_TAGS:
            raise RowError("invalid-value", f"at most {MAX_TAGS} tags", column="tags")
        if tags:
            fields["tags"] = tags
    if "owner_agent_id" in values:
        fields["owner_agent_id"] = _integer(
            "owner_agent_id", values["owner_agent_id"], row.from_csv
        )
    attributes = _attributes(values, row.from_csv)
    if attributes:
        fields["attributes"] = attributes
    if "consent" in values:
        fields["consent"] = _consent(values["consent"])
    return fields, found


def order_row(store: ProfileStore, row: SourceRow) -> dict[str, Any]:
    """The store's order row (checked, typed, identities normalised), or RowError."""
    values = _present(row.values)
    if not row.from_csv:
        _unknown_columns(values, ORDER_COLUMNS, "orders")
    order: dict[str, Any] = {}
    for column in ("external_id", "amount", "ordered_at"):
        if column not in values:
            raise RowError("missing-field", f"{column} is required", column=column)
    if "customer_id" in values:
        order["customer_id"] = _integer("customer_id", values["customer_id"], row.from_csv)
    columns = {k: v for k, v in IDENTITY_COLUMNS.items() if k != "chat"}
    found = _identities(store, values, columns, many=False, from_csv=row.from_csv)
    for identity in found:
        order[identity.kind.value] = identity.value
    if not found and "customer_id" not in order:
        raise RowError("missing-customer", "an order needs customer_id, email, phone or account")
    for column, limit in ORDER_TEXT_LIMITS.items():
        if column in values:
            order[column] = _text(column, values[column], limit)
    order["amount"] = _number("amount", values["amount"], row.from_csv)
    if "margin" in values:
        order["margin"] = _number("margin", values["margin"], row.from_csv)
    if "currency" in values:
        currency = _text("currency", values["currency"], 3).upper()
        if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
            raise RowError(
                "invalid-value",
                "currency must be a three-letter code such as EUR",
                column="currency",
            )
        order["currency"] = currency
    if "status" in values:
        status = _text("status", values["status"], 32).lower()
        if status not in ORDER_STATUSES:
            raise RowError(
                "invalid-value",
                f"status must be one of {', '.join(ORDER_STATUSES)}",
                column="status",
            )
        order["status"] = status
    if "items" in values:
        order["items"] = _items(values["items"], row.from_csv)
    order["ordered_at"] = _ordered_at(values["ordered_at"])
    return order


def _items(value: Any, from_csv: bool) -> list[Any]:
    if from_csv:
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise RowError("invalid-value", "items must be a JSON array", column="items") from None
    if not isinstance(value, list):
        raise RowError("invalid-type", "items must be a JSON array", column="items")
    return value


def _ordered_at(value: Any) -> float:
    """Unix seconds from a number (Unix time) or an ISO 8601 date; no zone means UTC."""
    if isinstance(value, bool):
        raise RowError("invalid-type", "ordered_at must be a date or a number", column="ordered_at")
    if isinstance(value, int | float):
        stamp = float(value)
    elif isinstance(value, str):
        try:
            stamp = float(value) if _looks_numeric(value) else _iso(value)
        except (ValueError, OverflowError):
            raise RowError(
                "invalid-value", "ordered_at must be ISO 8601 or Unix seconds", column="ordered_at"
            ) from None
    else:
        raise RowError("invalid-type", "ordered_at must be a date or a number", column="ordered_at")
    if not math.isfinite(stamp) or not 0 <= stamp < 4_102_444_800:  # before 2100
        raise RowError("invalid-value", "ordered_at is out of range", column="ordered_at")
    return stamp


def _looks_numeric(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9]+(\.[0-9]+)?", value))


def _iso(value: str) -> float:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


# --------------------------------------------------------------------- importing


def _rejected(line: int, error: RowError) -> dict[str, Any]:
    entry: dict[str, Any] = {"line": line, "outcome": "rejected", "error": error.reason}
    if error.column is not None:
        entry["column"] = error.column
    entry["message"] = error.message
    entry.update(error.details)
    return entry


async def import_customers(
    store: ProfileStore,
    rows: Iterator[SourceRow],
    *,
    actor: Actor,
    on_conflict: OnConflict = DEFAULT_ON_CONFLICT["customers"],
    progress: Callable[[int], None] = lambda _n: None,
    report: Callable[[dict[str, Any]], None] = lambda _entry: None,
) -> ImportSummary:
    """Import customer rows, one transaction each (see docs/importing.md for the rules)."""
    summary = ImportSummary("customers", on_conflict, report)
    # Identity -> line that first named it: a later line naming it again is a duplicate.
    first_seen: dict[Identity, int] = {}
    for row in rows:
        summary.rows += 1
        try:
            if row.problem is not None:
                raise row.problem
            fields, found = customer_row(store, row)
            earlier = next((first_seen[i] for i in found if i in first_seen), None)
            if earlier is not None:
                raise RowError(
                    "duplicate-in-file",
                    f"line {earlier} already names this customer",
                    first_line=earlier,
                )
            first_seen.update(dict.fromkeys(found, row.line))
            try:
                outcome = await store.import_customer(
                    fields, found, actor=actor, on_conflict=on_conflict
                )
            except AppError as exc:
                raise RowError.from_store(exc) from None
            entry: dict[str, Any] = {
                "line": row.line,
                "outcome": outcome.outcome,
                "customer_id": outcome.customer_id,
            }
            if outcome.fields:
                entry["fields"] = list(outcome.fields)
            summary.add(entry)
        except RowError as error:
            summary.add(_rejected(row.line, error))
        progress(1)
    _log_summary(summary)
    return summary


async def import_orders(
    store: ProfileStore,
    rows: Iterator[SourceRow],
    *,
    actor: Actor,
    on_conflict: OnConflict = DEFAULT_ON_CONFLICT["orders"],
    create_missing_customers: bool = False,
    progress: Callable[[int], None] = lambda _n: None,
    report: Callable[[dict[str, Any]], None] = lambda _entry: None,
) -> ImportSummary:
    """Import order rows in batches (see docs/importing.md for the rules)."""
    summary = ImportSummary("orders", on_conflict, report)
    first_seen: dict[tuple[str, str], int] = {}  # (source, external_id) -> first line
    # Rows waiting for the store, with those already rejected among them: outcomes are
    # reported in line order.
    pending: list[tuple[int, dict[str, Any] | RowError]] = []

    async def flush() -> None:
        ready = [item for _, item in pending if not isinstance(item, RowError)]
        outcomes = iter(
            await store.write_orders(
                ready,
                actor=actor,
                on_conflict=on_conflict,
                create_missing_customers=create_missing_customers,
                require_customer_name=True,
            )
        )
        for line, item in pending:
            if isinstance(item, RowError):
                summary.add(_rejected(line, item))
                continue
            outcome = next(outcomes)
            if outcome.error is not None:
                summary.add(_rejected(line, RowError.from_store(outcome.error)))
            else:
                summary.add(_order_entry(line, outcome))
        progress(len(pending))
        pending.clear()

    for row in rows:
        summary.rows += 1
        try:
            if row.problem is not None:
                raise row.problem
            order = order_row(store, row)
            key = (order.get("source", "import"), order["external_id"])
            earlier = first_seen.get(key)
            if earlier is not None:
                raise RowError(
                    "duplicate-in-file",
                    f"line {earlier} has the same source and external_id",
                    first_line=earlier,
                )
            first_seen[key] = row.line
            pending.append((row.line, order))
        except RowError as error:
            pending.append((row.line, error))
        if len(pending) >= ORDER_BATCH:
            await flush()
    if pending:
        await flush()
    _log_summary(summary)
    return summary


def _order_entry(line: int, outcome: OrderOutcome) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "line": line,
        "outcome": outcome.outcome,
        "order_id": outcome.order_id,
        "customer_id": outcome.customer_id,
    }
    if outcome.previous_customer_id is not None:
        entry["previous_customer_id"] = outcome.previous_customer_id
    if outcome.fields:
        entry["fields"] = list(outcome.fields)
    if outcome.customer_created:
        entry["customer_created"] = True
    return entry


def _log_summary(summary: ImportSummary) -> None:
    log.info(
        "imported %s: %d rows, %s",
        summary.kind,
        summary.rows,
        ", ".join(f"{count} {outcome}" for outcome, count in summary.counts.items()),
    )
