"""Every message of the live hub's websocket protocol, both ways: the one schema.

Frames are JSON text, one message each, with its kind in ``type``. ``docs/hub.md``
lists every message with its fields; the tests decode every frame the server sends
with :data:`server_decoder` (unknown fields refused), so the two cannot drift.

Stream messages (``offer``, ``contact``, ``agent_state``, ``call``) carry ``seq``: the user's
sequence number on this node's stream, which a reconnecting tab quotes in
``hello.resume_from``. Replies (``welcome``, ``subscribed``, ``refused`` ...) answer
one connection and carry none.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

# Client messages are small; anything larger is refused with close code 1009.
MAX_CLIENT_MESSAGE_BYTES = 4096
MAX_TOPICS = 32

TopicText = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class _Message(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type"
):
    pass


# -- client -> server -----------------------------------------------------------------


class ResumePoint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Where a tab left off: the stream it read (from ``welcome``) and the last ``seq``."""

    stream: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    seq: Annotated[int, msgspec.Meta(ge=0)]


class Hello(_Message, frozen=True, kw_only=True, tag="hello"):
    """The first message of every connection. ``topics``: what this tab watches besides
    the user's own (an agent's ``agent:<user id>`` is always included)."""

    resume_from: ResumePoint | None = None
    topics: Annotated[list[TopicText], msgspec.Meta(max_length=MAX_TOPICS)] = []


class Subscribe(_Message, frozen=True, kw_only=True, tag="subscribe"):
    topic: TopicText


class Unsubscribe(_Message, frozen=True, kw_only=True, tag="unsubscribe"):
    topic: TopicText


ClientMessage = Hello | Subscribe | Unsubscribe
client_decoder: msgspec.json.Decoder[ClientMessage] = msgspec.json.Decoder(ClientMessage)


# -- parts ----------------------------------------------------------------------------


class AgentStatus(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An agent's state in the router."""

    agent_id: str
    state: str  # offline | ready | not_ready
    reason: str | None
    state_seconds: float
    queues: list[str]


class OfferView(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A contact offered to the agent, with the customer's screen-pop fetched for them."""

    contact_id: str
    channel: str
    queue: str
    customer_id: str | None
    # When it was offered and until when it rings (None: offered before this node
    # started, so only the router's state is known).
    offered_at: float | None
    offer_deadline: float | None
    waited_seconds: float | None
    # The customer's profile, history, notes and orders (GET /api/v1/screen-pop's
    # answer), fetched once for this agent and audit-logged as their view.
    screen_pop: dict[str, Any] | None
    # Why there is none: no-customer (unknown caller), customer-not-found, unavailable.
    screen_pop_error: str | None = None


class ContactSummary(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A contact the agent holds (connected or in wrap-up)."""

    contact_id: str
    state: str
    channel: str
    queue: str
    customer_id: str | None


class TransferView(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A transfer started from a console: ``mode`` blind or attended; ``target`` one of
    ``{"agent_id"}``, ``{"queue"}``, ``{"number"}``; ``state`` ringing, queued, dialing,
    consulting or completing."""

    mode: str
    target: dict[str, str]
    state: str


class CallSummary(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A call with the agent's phone, as Asterisk reports it (``GET /api/v1/calls/{id}``
    has more)."""

    contact_id: str
    call_id: str
    state: str
    direction: str
    held: bool
    recording: bool
    transfer: TransferView | None
    agent_id: str | None
    caller_number: str
    queue: str


# -- the wallboard (topic ``wallboard``; docs/hub.md, "The wallboard") -------------------


class AlertLevels(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How a wallboard colours a queue's cells: ``ok``, ``amber`` or ``red`` each."""

    waiting: str
    longest_wait_seconds: str
    service_level_percent: str
    abandon_rate_percent: str


class QueueTargets(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A queue's service-level target and short-abandon threshold (docs/metrics.md)."""

    service_level_percent: float
    service_level_seconds: float
    short_abandon_seconds: float


class AgentCounts(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Agents of a queue by what they do now (logged-out agents are not counted)."""

    ready: int
    busy: int
    wrap_up: int
    not_ready: int


class QueueFigures(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One queue and channel on the board: live figures and today's (docs/metrics.md)."""

    queue: str
    channel: str
    waiting: int
    longest_wait_seconds: float
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    service_level_percent: float | None
    service_level_window_percent: float | None
    abandon_rate_percent: float | None
    asa_seconds: float | None
    aht_seconds: float | None
    target: QueueTargets
    agents: AgentCounts
    levels: AlertLevels


class BoardContact(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A contact an agent holds now (ringing, connected or in wrap-up)."""

    contact_id: str
    channel: str
    queue: str
    state: str
    customer_id: str | None
    customer_name: str | None
    seconds: float


class AgentFigures(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One agent on the board. ``activity``: ready, busy, wrap_up, not_ready, offline."""

    agent_id: str
    user_id: int | None
    name: str
    state: str
    activity: str
    reason: str | None
    state_seconds: float
    contacts: list[BoardContact]
    handled_today: int
    aht_today_seconds: float | None
    queues: list[str]
    team: str | None


class SeriesPoint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One step of a queue's chart: contacts waiting at ``at`` and the service level of
    the contacts queued in the step that ends at ``at``."""

    at: float
    waiting: int
    service_level_percent: float | None


class QueueSeries(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A queue's chart (every channel together), oldest point first."""

    queue: str
    step_seconds: float
    points: list[SeriesPoint]


class StaffingView(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Agents needed for a voice queue's target at the current load (Erlang C)."""

    queue: str
    channel: str
    arrival_rate_per_hour: float
    aht_seconds: float | None
    target_service_level: float
    target_seconds: float
    agents_now: int
    agents_needed: int | None
    service_level_now_percent: float | None
    model: str | None


class BoardView(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The whole wallboard, computed once and shown the same to every supervisor."""

    at: float
    version: int
    day: str
    timezone: str
    window_seconds: float
    queues: list[QueueFigures]
    agents: list[AgentFigures]
    series: list[QueueSeries]
    staffing: list[StaffingView]


# -- server -> client -------------------------------------------------------------------


class Welcome(_Message, frozen=True, kw_only=True, tag="welcome"):
    """Answer to ``hello``: who the server thinks you are and where your stream stands.

    ``resumed``: the missed messages follow (``seq`` above the one you gave); otherwise
    a ``snapshot`` follows."""

    user_id: int
    role: str
    stream: str
    seq: int
    resumed: bool
    topics: list[str]
    disconnect_grace_seconds: float


class Snapshot(_Message, frozen=True, kw_only=True, tag="snapshot"):
    """Everything current, instead of the messages a tab cannot resume: the agent's
    state, their ringing offers (each with its screen-pop) and held contacts; for
    supervisors, the router's live statistics. Later messages have ``seq`` above it."""

    seq: int
    agent: AgentStatus | None
    offers: list[OfferView]
    contacts: list[ContactSummary]
    statistics: dict[str, Any] | None
    # The agent's live calls as Asterisk reports them (on the node that holds the AMI
    # link; elsewhere empty: the ``call`` messages that follow tell).
    calls: list[CallSummary] = []


class Offer(_Message, frozen=True, kw_only=True, tag="offer"):
    """A contact offered to you (topic ``agent:<your id>``), screen-pop included."""

    seq: int
    topic: str
    at: float
    offer: OfferView


class ContactUpdate(_Message, frozen=True, kw_only=True, tag="contact"):
    """A step of a contact's life (``event``: contact.queued, contact.connected, ...) on
    a queue's, a customer's or the holding agent's topic. ``details``: the event's other
    fields, as in the domain event (docs/routing.md)."""

    seq: int
    topic: str
    at: float
    event: str
    contact_id: str
    channel: str
    queue: str
    customer_id: str | None
    agent_id: str | None
    details: dict[str, Any]


class AgentStateUpdate(_Message, frozen=True, kw_only=True, tag="agent_state"):
    """An agent's state changed (on ``agent:<id>`` and ``agents``); ``by``: agent,
    supervisor or system (missed-offer, phone-unreachable, disconnected)."""

    seq: int
    topic: str
    at: float
    agent_id: str
    state: str
    previous: str
    reason: str | None
    by: str


class CallUpdate(_Message, frozen=True, kw_only=True, tag="call"):
    """A call changed as Asterisk reported it (on ``agent:<id>`` of the agent whose phone
    has it, and of the agent it just left, and on ``queue:<queue>``). ``state``: new,
    queued, ringing, dialing, talking, held, transferring, transferred, ended; ``held``
    only once Asterisk put the customer on hold."""

    seq: int
    topic: str
    at: float
    contact_id: str
    call_id: str
    state: str
    direction: str
    held: bool
    recording: bool
    transfer: TransferView | None
    agent_id: str | None
    caller_number: str
    queue: str


class Board(_Message, frozen=True, kw_only=True, tag="board"):
    """The wallboard (topic ``wallboard``): not numbered and not kept for resuming, as
    each board replaces the one before; sent after subscribing and whenever it
    changes (at most every ``wallboard.push_seconds``)."""

    topic: str
    board: BoardView


class Subscribed(_Message, frozen=True, kw_only=True, tag="subscribed"):
    """The topic's messages follow, from the stream's ``seq`` on."""

    topic: str
    seq: int


class Unsubscribed(_Message, frozen=True, kw_only=True, tag="unsubscribed"):
    topic: str


class Refused(_Message, frozen=True, kw_only=True, tag="refused"):
    """A topic this user may not watch (``error``: invalid-topic, unknown-topic,
    topic-forbidden, too-many-topics); the connection stays open."""

    topic: str
    error: str
    message: str


class Error(_Message, frozen=True, kw_only=True, tag="error"):
    """Sent just before the server closes the connection; ``error`` is a stable id."""

    error: str
    message: str


StreamMessage = Offer | ContactUpdate | AgentStateUpdate | CallUpdate
ServerMessage = (
    Welcome
    | Snapshot
    | Offer
    | ContactUpdate
    | AgentStateUpdate
    | CallUpdate
    | Board
    | Subscribed
    | Unsubscribed
    | Refused
    | Error
)
server_decoder: msgspec.json.Decoder[ServerMessage] = msgspec.json.Decoder(ServerMessage)
encode = msgspec.json.Encoder().encode

CLIENT_MESSAGES: tuple[type[_Message], ...] = (Hello, Subscribe, Unsubscribe)
SERVER_MESSAGES: tuple[type[_Message], ...] = (
    Welcome,
    Snapshot,
    Offer,
    ContactUpdate,
    AgentStateUpdate,
    CallUpdate,
    Board,
    Subscribed,
    Unsubscribed,
    Refused,
    Error,
)
