"""Commands the router accepts (imperative), and the read-only queries it answers.

Commands are frozen ``msgspec.Struct`` classes of JSON primitives and tuples (like
events, see contact_center.domain.events) so that a state backend
can ship them between nodes (the Redis backend appends them to a stream that the
node holding the lease applies in order).
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import msgspec
import orjson

from contact_center.domain.events import to_json
from routing.errors import InvalidCommand

COMMAND_TYPES: dict[str, type[Command]] = {}


class Command(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="kind"
):
    """A command's ``kind`` is its struct tag (``class HangUp(Command, tag="hang_up")``):
    its JSON carries it as the ``"kind"`` field, first, and a union of every command
    decodes in one call (see :func:`decode_submitted`)."""

    # Set from the tag, for every command, once the module has defined them (below).
    kind: ClassVar[str] = ""
    # Queries change nothing: backends may skip persistence for them.
    read_only: ClassVar[bool] = False


class EnqueueContact(Command, frozen=True, kw_only=True, tag="enqueue"):
    contact_id: str
    channel: str
    queue: str
    customer_id: str | None = None
    tier: str | None = None
    owner_agent_id: str | None = None
    last_agent_id: str | None = None
    last_served_at: float | None = None
    # None: the queue's base priority.
    priority: int | None = None
    # Original arrival time when a contact is re-queued after a restart.
    waiting_since: float | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    # When the contact should be answered by (e.g. email: 4 business hours after it
    # arrived): among equal priorities the earliest due goes first (docs/routing.md).
    due_at: float | None = None


class UpsertAgent(Command, frozen=True, kw_only=True, tag="upsert_agent"):
    """Create or update an agent's definition (skills, queues, routing profile, the
    channels they auto-accept): in force from the next routing decision."""

    agent_id: str
    name: str = ""
    skills: tuple[tuple[str, int], ...] = ()
    queues: tuple[str, ...] = ()
    profile: str | None = None
    # Channels whose offers are accepted without a click; None: the configured default.
    auto_accept: tuple[str, ...] | None = None


class SetAgentState(Command, frozen=True, kw_only=True, tag="set_agent_state"):
    agent_id: str
    state: str
    reason: str | None = None
    # Set by supervisors: may log out an agent holding contacts.
    forced: bool = False
    by: str = "agent"


class AcceptOffer(Command, frozen=True, kw_only=True, tag="accept"):
    contact_id: str
    agent_id: str


class DeclineOffer(Command, frozen=True, kw_only=True, tag="decline"):
    contact_id: str
    agent_id: str


class OfferNotAnswered(Command, frozen=True, kw_only=True, tag="not_answered"):
    """The channel reports ring-no-answer before the router's own offer timer fired."""

    contact_id: str
    agent_id: str


class ReturnOffer(Command, frozen=True, kw_only=True, tag="return_offer"):
    """The channel could not carry out the offer (its own refusal, not the agent's: the
    phone is in another call, the call is not known yet, the PBX refused the action).

    The contact goes back to its place in the queue (its original wait), the agent keeps
    its state, and the two are not matched again for ``retry_seconds`` (0: at once)."""

    contact_id: str
    agent_id: str
    reason: str = "returned"
    retry_seconds: float = 0.0


class AttachToAgent(Command, frozen=True, kw_only=True, tag="attach"):
    """The channel reports that the contact is with this agent already, whatever the
    router decided: the agent's phone rings for it (``state`` "offered") or they talk
    (``state`` "connected"). The router follows: a waiting contact, or one offered to
    someone else (who keeps their state), becomes offered to this agent; "connected"
    then connects it. A contact the router does not have (a call found talking or
    ringing after a restart) is created from the other fields, with that agent, and is
    never matched with anyone else."""

    contact_id: str
    agent_id: str
    state: str = "offered"
    channel: str = "voice"
    queue: str = ""
    customer_id: str | None = None
    tier: str | None = None
    owner_agent_id: str | None = None
    last_agent_id: str | None = None
    last_served_at: float | None = None
    priority: int | None = None
    waiting_since: float | None = None
    attributes: tuple[tuple[str, str], ...] = ()


class HangUp(Command, frozen=True, kw_only=True, tag="hang_up"):
    """The remote side ended: abandons a waiting contact, starts wrap-up of a connected one."""

    contact_id: str
    reason: str = "customer-left"


class EndWrapUp(Command, frozen=True, kw_only=True, tag="end_wrap_up"):
    contact_id: str
    agent_id: str


class TransferToQueue(Command, frozen=True, kw_only=True, tag="transfer_to_queue"):
    contact_id: str
    queue: str


class TransferToAgent(Command, frozen=True, kw_only=True, tag="transfer_to_agent"):
    contact_id: str
    agent_id: str


class MoveContact(Command, frozen=True, kw_only=True, tag="move"):
    """Supervisor: move a waiting contact to another queue (it keeps its waiting time)."""

    contact_id: str
    queue: str


class OfferToAgent(Command, frozen=True, kw_only=True, tag="offer_to_agent"):
    """Supervisor: send a waiting contact straight to one agent."""

    contact_id: str
    agent_id: str


class ChangePriority(Command, frozen=True, kw_only=True, tag="change_priority"):
    contact_id: str
    priority: int


class WithdrawContact(Command, frozen=True, kw_only=True, tag="withdraw"):
    contact_id: str
    reason: str = "withdrawn"


class SetAwaitingCustomer(Command, frozen=True, kw_only=True, tag="awaiting_customer"):
    """A chat is now waiting on the customer (or no longer): affects cross-channel rules."""

    contact_id: str
    awaiting: bool


class IdentifyCustomer(Command, frozen=True, kw_only=True, tag="identify_customer"):
    """The customer of a contact routed before it had one: a caller never seen before is
    routed first and its provisional customer made after the decision (cti)."""

    contact_id: str
    customer_id: str


class FireTimers(Command, frozen=True, kw_only=True, tag="fire_timers"):
    """Fire every timer due by now (offer timeout, overflow, sticky, wrap-up, max wait)."""


class ExplainContact(Command, frozen=True, kw_only=True, tag="explain"):
    read_only: ClassVar[bool] = True
    contact_id: str


class DescribeContact(Command, frozen=True, kw_only=True, tag="describe_contact"):
    """State, agent, position in queue and estimated wait of one contact."""

    read_only: ClassVar[bool] = True
    contact_id: str


class DescribeAgent(Command, frozen=True, kw_only=True, tag="describe_agent"):
    read_only: ClassVar[bool] = True
    agent_id: str


class QueueStatistics(Command, frozen=True, kw_only=True, tag="queue_statistics"):
    read_only: ClassVar[bool] = True


def fires_timers_first(command: Command) -> bool:
    """Whether a backend fires due timers before applying ``command`` (all but queries
    and FireTimers itself, whose own events the caller wants to see)."""
    return not command.read_only and not isinstance(command, FireTimers)


def command_to_json(command: Command) -> bytes:
    """``{"kind": kind, ...fields}`` (the struct's tag first)."""
    return to_json(command)


def command_from_json(raw: bytes | str) -> Command:
    """Rebuild a command; anything malformed raises :class:`InvalidCommand`."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidCommand(f"command is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidCommand("command must be a JSON object")
    return command_from_dict(data)


def command_from_dict(data: Mapping[str, Any]) -> Command:
    """Rebuild a command from decoded JSON, checking every field against its declared
    type: a command from the wire must never reach the router with a wrong type (the
    compiled engine would fail on it, and a leader would retry it from the stream)."""
    kind = data.get("kind")
    cls = COMMAND_TYPES.get(str(kind))
    if cls is None:
        raise InvalidCommand(f"unknown command kind {kind!r}")
    # The leader decodes every command from the stream: first in C (msgspec checks the
    # same types, 0.4 against 1.9 us for an arrival); only a command it refuses, or one
    # with a non-finite time, goes through the checks below, which say what is wrong.
    try:
        command = msgspec.convert(data, cls)
    except msgspec.ValidationError:
        pass
    else:
        if _finite_times(command, cls):
            return command
    checks = _FIELD_CHECKS.get(cls)
    if checks is None:
        checks = _FIELD_CHECKS[cls] = _field_checks(cls)
    values: dict[str, Any] = {}
    for name, value in data.items():
        entry = checks.get(name)
        if entry is None:
            if name != "kind":
                _refuse_unknown(kind, data, checks)
            continue
        try:
            values[name] = entry[0](value)
        except _WrongType:
            _refuse_unknown(kind, data, checks)
            raise InvalidCommand(
                f"bad {kind} command: {name} must be {entry[1]}", details={"field": name}
            ) from None
    try:
        return cls(**values)
    except TypeError as exc:
        raise InvalidCommand(f"bad {kind} command: {exc}") from None


def _finite_times(command: Command, cls: type[Command]) -> bool:
    """Whether every float field of ``command`` is finite (or None): JSON has no
    infinities, but a caller's decoded dict may."""
    names = _FLOAT_FIELDS.get(cls)
    if names is None:
        hints = typing.get_type_hints(cls)
        names = _FLOAT_FIELDS[cls] = tuple(
            name
            for name in cls.__struct_fields__
            if float in (hints[name], *typing.get_args(hints[name]))
        )
    for name in names:
        value = getattr(command, name)
        if value is not None and not math.isfinite(value):
            return False
    return True


# Per command class: its fields that hold a float.
_FLOAT_FIELDS: dict[type[Command], tuple[str, ...]] = {}


def _refuse_unknown(kind: Any, data: Mapping[str, Any], checks: Mapping[str, Any]) -> None:
    unknown = data.keys() - checks.keys() - {"kind"}
    if unknown:
        raise InvalidCommand(f"unknown fields for {kind}: {sorted(unknown)}")


class _WrongType(Exception):
    pass


# Per command class: field name -> (check returning the value to use, what it expects).
_FIELD_CHECKS: dict[type[Command], dict[str, tuple[Callable[[Any], Any], str]]] = {}


def _field_checks(cls: type[Command]) -> dict[str, tuple[Callable[[Any], Any], str]]:
    hints = typing.get_type_hints(cls)
    return {name: (_checker(hints[name]), _describe(hints[name])) for name in cls.__struct_fields__}


def _checker(hint: Any) -> Callable[[Any], Any]:
    """A function that returns ``value`` as ``hint`` (ints widen to float, JSON arrays
    become tuples) or raises _WrongType. Covers the shapes commands use: str, int,
    float, bool, optional values and tuples."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is type(None):
        return _exactly_none
    if hint is str:
        return _plain(str)
    if hint is bool:
        return _plain(bool)
    if hint is int:
        return _integer
    if hint is float:
        return _number
    if origin in (types.UnionType, typing.Union):
        if all(arg in _SCALARS for arg in args):
            return _scalar_union(args)
        options = [_checker(arg) for arg in args]
        return lambda value: _first_fitting(options, value)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            item = _checker(args[0])
            return lambda value: tuple([item(v) for v in _sequence(value)])
        items = [_checker(arg) for arg in args]
        return lambda value: _fixed_tuple(items, value)
    raise TypeError(f"no wire check for command field type {hint!r}")


_SCALARS = (type(None), str, int, float, bool)


def _scalar_union(args: tuple[Any, ...]) -> Callable[[Any], Any]:
    """``str | None`` and the like: one exact-type test, no exception unless wrong."""
    exact = frozenset(arg for arg in args if arg is not float)
    widens = float in args

    def check(value: Any) -> Any:
        if type(value) in exact:  # exact: a bool is not an int here
            return value
        if widens:
            return _number(value)
        raise _WrongType

    return check


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) is None and hasattr(hint, "__name__"):
        return str(hint.__name__)
    return str(hint).replace("typing.", "").replace("NoneType", "None")


def _exactly_none(value: Any) -> None:
    if value is not None:
        raise _WrongType
    return None


def _plain(kind: type) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if type(value) is not kind:
            raise _WrongType
        return value

    return check


def _integer(value: Any) -> int:
    if type(value) is not int:  # bool is an int subclass: refused
        raise _WrongType
    return value


def _number(value: Any) -> float:
    if type(value) is int or type(value) is float:
        number = float(value)
        if math.isfinite(number):
            return number
    raise _WrongType


def _sequence(value: Any) -> list[Any] | tuple[Any, ...]:
    if type(value) is not list and type(value) is not tuple:
        raise _WrongType
    return value


def _fixed_tuple(items: list[Callable[[Any], Any]], value: Any) -> tuple[Any, ...]:
    if len(_sequence(value)) != len(items):
        raise _WrongType
    return tuple([check(v) for check, v in zip(items, value, strict=True)])


def _first_fitting(options: list[Callable[[Any], Any]], value: Any) -> Any:
    for option in options:
        try:
            return option(value)
        except _WrongType:
            continue
    raise _WrongType


# Every command (all are defined in this module), by kind. A struct's tag is known only
# once its class exists, hence here rather than in __init_subclass__.
for _cls in Command.__subclasses__():
    _cls.kind = str(_cls.__struct_config__.tag)
    COMMAND_TYPES[_cls.kind] = _cls

# Every command kind, for the decoders below.
_ANY_COMMAND: Any = typing.Union[tuple(COMMAND_TYPES.values())]  # noqa: UP007
_SUBMITTED = msgspec.json.Decoder(list[tuple[str, _ANY_COMMAND]])
_LOGGED = msgspec.json.Decoder(list[tuple[float, _ANY_COMMAND]])


def decode_submitted(raw: bytes) -> list[tuple[str, Command]] | None:
    """``[[request id, command], ...]`` as nodes submit them, decoded and checked in
    one call (0.2 against 1.2 us a command, measured); None if anything in it is
    malformed: the caller then decodes it item by item, for each item's error."""
    try:
        items: list[tuple[str, Command]] = _SUBMITTED.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    for _request_id, command in items:
        if not _finite_times(command, type(command)):
            return None
    return items


def decode_logged(raw: bytes) -> list[tuple[float, Command]] | None:
    """``[[time, command], ...]`` as the Redis leader logs them, in one call; None if
    the entry is not of that shape (an older one, ``[[time, kind, fields], ...]``)."""
    try:
        items: list[tuple[float, Command]] = _LOGGED.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return items
