"""Base class and registry for domain events.

Every package declares its own events (``routing/events.py``, ``cti/events.py``,
``contact_center/domain/...``) as ``@frozen`` dataclasses deriving from
:class:`DomainEvent`, each with a dotted ``name`` such as ``contact.queued``.
The registry lets a bus adapter (Redis) turn a name back into a class.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import orjson

from contact_center.domain.frozen import constructor, frozen

EVENT_TYPES: dict[str, type[DomainEvent]] = {}


@frozen
class DomainEvent:
    """Something that happened. ``at`` is a Unix timestamp passed in by the caller."""

    name: ClassVar[str] = ""
    at: float

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Explicit super(): slots rebuild the class, so the zero-argument form breaks.
        super(DomainEvent, cls).__init_subclass__(**kwargs)  # noqa: UP008
        if cls.name:
            existing = EVENT_TYPES.get(cls.name)
            if existing is not None and existing.__qualname__ != cls.__qualname__:
                raise TypeError(f"event name {cls.name!r} used twice")
            EVENT_TYPES[cls.name] = cls

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form: ``{"event": name, ...fields}``."""
        data: dict[str, Any] = orjson.loads(orjson.dumps(self))
        return {"event": self.name, **data}


def encode_event(event: DomainEvent) -> bytes:
    return orjson.dumps(event.to_dict())


def decode_event(raw: bytes | str) -> DomainEvent:
    """Rebuild an event from :func:`encode_event` output (unknown names raise KeyError)."""
    return event_from_dict(orjson.loads(raw))


def event_from_dict(data: dict[str, Any]) -> DomainEvent:
    """Rebuild an event from its decoded JSON (``{"event": name, ...fields}``)."""
    return event_from_fields(data["event"], data)


def event_from_fields(name: str, fields: dict[str, Any]) -> DomainEvent:
    """Rebuild an event of type ``name`` from its decoded fields (other keys ignored).

    Replies and outbox entries carry thousands of events a second: the generated
    constructor skips ``type.__call__``, and only JSON arrays need converting."""
    cls = EVENT_TYPES[name]
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = frozenset(f.name for f in dataclasses.fields(cls))
    build = constructor(cls)
    return build(
        **{k: _frozen(v) if type(v) is list else v for k, v in fields.items() if k in names}
    )


# Field names per event class (dataclasses.fields builds a tuple on every call).
_FIELD_NAMES: dict[type[DomainEvent], frozenset[str]] = {}


def _frozen(value: Any) -> Any:
    # JSON has no tuples; events hold tuples (immutable), never lists.
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value
