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

from contact_center.board_view import (  # the wallboard's parts (docs/hub.md)
    AgentCounts,
    AgentFigures,
    AlertLevels,
    BoardContact,
    BoardView,
    QueueFigures,
    QueueSeries,
    QueueTargets,
    SeriesPoint,
    StaffingView,
)

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


class OfferExplanation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Why the router offered the contact to this agent, from its decision (the
    ``contact.offered`` event; the full record is the router's explain).

    ``decided_by``: sticky (the customer's preferred agent: ``preferred`` says owner or
    last-agent), strategy (the queue's ``strategy`` picked the best of ``candidates``
    free agents), agent-available (the agent became free and this was the most urgent of
    the ``candidates`` queue heads it could take), direct (a transfer or a supervisor), channel (the
    phone already rang for it). ``ring``: 0, or the overflow step that widened the skills.
    ``priority``: the contact's priority with its tier's boost; ``tier`` the customer's.
    """

    decided_by: str
    strategy: str
    ring: int
    preferred: str
    candidates: int
    priority: int
    tier: str | None


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
    # Why it came to this agent (None: offered before this node started).
    explanation: OfferExplanation | None = None


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


class Board(_Message, frozen=True, kw_only=True, tag="board"):
    """The wallboard (topic ``wallboard``): not numbered and not kept for resuming, as
    each board replaces the one before; sent after subscribing and whenever it
    changes (at most every ``wallboard.push_seconds``)."""

    topic: str
    board: BoardView


class CallUpdate(_Message, frozen=True, kw_only=True, tag="call"):
    """A call changed as Asterisk reported it (on ``agent:<id>`` of the agent whose phone
    has it, and of the agent it just left, and on ``queue:<queue>``). ``state``: new,
    queued, ringing, dialing, talking, held, transferring, transferred, ended; ``held``
    only once Asterisk put the customer on hold. ``previous_agent_id``: the agent the
    call just left (a completed transfer), whose console lets it go."""

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
    previous_agent_id: str | None = None


class ChatAttachment(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    name: str
    content_type: str
    size: int
    preview: bool


class ChatMessageView(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One item of a chat's numbered stream (docs/chat.md): ``seq`` is the
    conversation's, ``from`` visitor, agent or system; a system notice has ``notice``
    set (agent_joined, transferred, agent_left, requeued, ended)."""

    seq: int
    client_id: str | None
    from_: str = msgspec.field(name="from")
    text: str
    at: float
    sender_name: str | None
    attachment: ChatAttachment | None
    notice: str | None


class ChatUpdate(_Message, frozen=True, kw_only=True, tag="chat"):
    """A chat the agent holds (topic ``agent:<id>``): ``event`` message (``message``
    set), typing (the visitor's, ``typing``) or read (the visitor read up to
    ``read_seq``). A gap in ``message.seq`` or a snapshot: fetch
    ``GET /api/v1/chats/{contact_id}/messages?after_seq=``."""

    seq: int
    topic: str
    at: float
    contact_id: str
    conversation_id: str
    event: str  # message | typing | read
    message: ChatMessageView | None = None
    typing: bool | None = None
    read_seq: int | None = None


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


__all__ = [
    "AgentCounts",
    "AgentFigures",
    "AlertLevels",
    "BoardContact",
    "BoardView",
    "QueueFigures",
    "QueueSeries",
    "QueueTargets",
    "SeriesPoint",
    "StaffingView",
]

StreamMessage = Offer | ContactUpdate | AgentStateUpdate | CallUpdate | ChatUpdate
ServerMessage = (
    Welcome
    | Snapshot
    | Offer
    | ContactUpdate
    | AgentStateUpdate
    | ChatUpdate
    | Board
    | CallUpdate
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
    ChatUpdate,
    Board,
    CallUpdate,
    Subscribed,
    Unsubscribed,
    Refused,
    Error,
)
