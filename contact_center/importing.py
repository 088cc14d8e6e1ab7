"""Import customers and orders from CSV or JSON Lines files (``contact-center import``).

Rows are read one at a time (files of any size), validated, and written through
the profile store; a bad row is reported with its line number and skipped, never
aborting the rest of the file.

Customer rows: ``display_name``, ``email``, ``phone``, ``account``, ``chat``,
``language``, ``timezone``, ``lifecycle_stage``, ``tags`` (CSV: separated by ``;``),
``owner_agent_id``, and ``attr.<name>`` columns (CSV) or an ``attributes`` object
(JSON). A row whose identities already belong to a customer updates that customer.
Order rows: see :meth:`ProfileStore.import_orders`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from contact_center.domain.identity import Identity, IdentityKind
from contact_center.errors import AppError, InvalidInput
from contact_center.services import Actor
from contact_center.store.profiles import ProfileStore

IDENTITY_COLUMNS = {
    "email": IdentityKind.EMAIL,
    "phone": IdentityKind.PHONE,
    "account": IdentityKind.ACCOUNT,
    "chat": IdentityKind.CHAT,
}
CUSTOMER_FIELDS = {"display_name", "language", "timezone", "lifecycle_stage", "tags",
                   "owner_agent_id", "attributes", "consent"}  # fmt: skip
ORDER_BATCH = 500
MAX_LINE_BYTES = 1_000_000


@dataclasses.dataclass
class ImportSummary:
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    rejected: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "rejected": len(self.rejected),
            "errors": self.rejected[:100],
        }


def read_rows(path: Path, fmt: str | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, row) from a CSV (header line) or JSON Lines file."""
    kind = fmt or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv")
    if kind == "csv":
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                if None in row:
                    yield reader.line_num, {"__error__": "more fields than the header names"}
                    continue
                yield reader.line_num, {k.strip(): v for k, v in row.items() if v not in ("", None)}
    elif kind == "jsonl":
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                if len(line) > MAX_LINE_BYTES:
                    yield number, {"__error__": "line longer than 1 MB"}
                    continue
                try:
                    value = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    yield number, {"__error__": f"not valid JSON: {exc}"}
                    continue
                if not isinstance(value, dict):
                    yield number, {"__error__": "each line must be a JSON object"}
                    continue
                yield number, value
    else:
        raise InvalidInput(f"unknown file format {kind!r} (use csv or jsonl)")


def customer_row(row: dict[str, Any], store: ProfileStore) -> tuple[dict[str, Any], list[Identity]]:
    if "__error__" in row:
        raise InvalidInput(row["__error__"])
    fields: dict[str, Any] = {}
    found: list[Identity] = []
    attributes: dict[str, Any] = dict(row.get("attributes") or {})
    for key, value in row.items():
        if key in IDENTITY_COLUMNS:
            values = value if isinstance(value, list) else str(value).split(";")
            found += [store.identity(IDENTITY_COLUMNS[key], v) for v in values if str(v).strip()]
        elif key.startswith("attr."):
            attributes[key[5:]] = value
        elif key == "tags":
            fields["tags"] = (
                value
                if isinstance(value, list)
                else [t.strip() for t in str(value).split(";") if t.strip()]
            )
        elif key == "owner_agent_id":
            try:
                fields[key] = int(value)
            except (TypeError, ValueError):
                raise InvalidInput("owner_agent_id must be a user id") from None
        elif key in CUSTOMER_FIELDS and key != "attributes":
            fields[key] = value
        elif key != "attributes":
            raise InvalidInput(f"unknown column {key!r}")
    if attributes:
        fields["attributes"] = attributes
    if not found and not fields.get("display_name"):
        raise InvalidInput("a customer row needs a display_name or an identity")
    return fields, found


async def import_customers(
    store: ProfileStore,
    rows: Iterator[tuple[int, dict[str, Any]]],
    *,
    actor: Actor,
    progress: Callable[[int], None] = lambda _n: None,
) -> ImportSummary:
    summary = ImportSummary("customers")
    for line, row in rows:
        summary.rows += 1
        try:
            fields, found = customer_row(row, store)
            owners = {o for o in [await store.find_owner(i) for i in found] if o is not None}
            if len(owners) > 1:
                raise InvalidInput(
                    f"identities belong to different customers {sorted(owners)}: merge them first"
                )
            if owners:
                customer_id = owners.pop()
                if fields:
                    await store.update_customer(customer_id, fields, actor=actor)
                for identity in found:
                    await store.add_identity(customer_id, identity, actor=actor)
                summary.updated += 1
            else:
                await store.create_customer(
                    {"display_name": str(found[0].value) if found else "", **fields},
                    found,
                    actor=actor,
                )
                summary.created += 1
        except AppError as exc:
            summary.rejected.append({"line": line, "error": exc.error_id, "message": exc.message})
        progress(1)
    return summary


async def import_orders(
    store: ProfileStore,
    rows: Iterator[tuple[int, dict[str, Any]]],
    *,
    actor: Actor,
    progress: Callable[[int], None] = lambda _n: None,
) -> ImportSummary:
    summary = ImportSummary("orders")
    batch: list[tuple[int, dict[str, Any]]] = []

    async def flush() -> None:
        result = await store.import_orders([r for _, r in batch], actor=actor)
        summary.created += result["inserted"]
        summary.updated += result["updated"]
        for rejected in result["rejected"]:
            summary.rejected.append(
                {"line": batch[rejected["index"]][0], "error": rejected["error"],
                 "message": rejected["message"]}
            )  # fmt: skip
        progress(len(batch))
        batch.clear()

    for line, row in rows:
        summary.rows += 1
        if "__error__" in row:
            summary.rejected.append({"line": line, "error": "invalid-input",
                                     "message": row["__error__"]})  # fmt: skip
            progress(1)
            continue
        if "items" in row and isinstance(row["items"], str):
            try:
                row["items"] = orjson.loads(row["items"])
            except orjson.JSONDecodeError:
                summary.rejected.append({"line": line, "error": "invalid-input",
                                         "message": "items is not valid JSON"})  # fmt: skip
                continue
        for key in ("customer_id",):
            if key in row and isinstance(row[key], str) and row[key].isdigit():
                row[key] = int(row[key])
        if isinstance(row.get("ordered_at"), str):
            # A number is a Unix time; anything else is an ISO date the store parses.
            with contextlib.suppress(ValueError):
                row["ordered_at"] = float(row["ordered_at"])
        batch.append((line, row))
        if len(batch) >= ORDER_BATCH:
            await flush()
    if batch:
        await flush()
    return summary
