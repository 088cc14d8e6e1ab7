"""Request schemas: every body and query string the API accepts, strictly bounded.

Unknown fields are refused (``extra="forbid"``), every string has a maximum length
and no control characters, and every id fits a 64-bit column, so bad input is turned
away with a 422 before any store is called.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from contact_center.accounts import MAX_PASSWORD_LENGTH
from contact_center.settings import MAX_TOKEN_DAYS

MAX_ID = 2**63 - 1
MAX_IMPORT_ROWS = 10_000


def _no_control_characters(value: str) -> str:
    if any((ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    return value


_CLEAN = AfterValidator(_no_control_characters)

# Bounded strings without control characters, named by their length limits.
Text16OrEmpty = Annotated[str, StringConstraints(min_length=0, max_length=16), _CLEAN]
Text32 = Annotated[str, StringConstraints(min_length=1, max_length=32), _CLEAN]
Text40 = Annotated[str, StringConstraints(min_length=1, max_length=40), _CLEAN]
Text50 = Annotated[str, StringConstraints(min_length=1, max_length=50), _CLEAN]
Text64OrEmpty = Annotated[str, StringConstraints(min_length=0, max_length=64), _CLEAN]
Text64 = Annotated[str, StringConstraints(min_length=1, max_length=64), _CLEAN]
Text64Min3 = Annotated[str, StringConstraints(min_length=3, max_length=64), _CLEAN]
Text100OrEmpty = Annotated[str, StringConstraints(min_length=0, max_length=100), _CLEAN]
Text100 = Annotated[str, StringConstraints(min_length=1, max_length=100), _CLEAN]
Text128 = Annotated[str, StringConstraints(min_length=1, max_length=128), _CLEAN]
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200), _CLEAN]
Text320 = Annotated[str, StringConstraints(min_length=1, max_length=320), _CLEAN]
Text2000 = Annotated[str, StringConstraints(min_length=1, max_length=2000), _CLEAN]
Text20000 = Annotated[str, StringConstraints(min_length=1, max_length=20000), _CLEAN]

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Cursor = Text64OrEmpty
Timestamp = Annotated[float, Field(ge=0, le=1e11)]
IdentityKindName = Literal["phone", "email", "chat", "account"]
LifecycleName = Literal["prospect", "customer", "repeat", "advocate", "partner"]
ConsentName = Literal["voice", "chat", "email", "marketing", "recording"]
RoleName = Literal["agent", "supervisor", "admin"]
LanguageName = Literal["en", "zh-CN"]
ChannelName = Literal["voice", "chat", "email"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# -- auth, tokens, users -----------------------------------------------------------


class LoginRequest(Strict):
    username: Text64
    password: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


class TokenCreate(Strict):
    name: Text100
    # Shorter than security.token_days if wanted (a token for one day's job); never longer.
    expires_in_days: Annotated[int, Field(ge=1, le=MAX_TOKEN_DAYS)] | None = None


class UserCreate(Strict):
    username: Text64Min3
    password: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
    role: RoleName = "agent"
    display_name: Text200 | None = None
    extension: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,32}$")] | None = None
    language: LanguageName = "en"


class UserUpdate(Strict):
    role: RoleName | None = None
    display_name: Text200 | None = None
    # "" clears the extension.
    extension: Annotated[str, StringConstraints(pattern=r"^[0-9]{0,32}$")] | None = None
    language: LanguageName | None = None
    disabled: bool | None = None


class MyPreferences(Strict):
    """What any user may change about their own account."""

    language: LanguageName


class PasswordChange(Strict):
    current_password: Annotated[
        str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_LENGTH)
    ]
    new_password: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


class PasswordReset(Strict):
    password: Annotated[str, StringConstraints(min_length=1, max_length=MAX_PASSWORD_LENGTH)]


class UserListQuery(Strict):
    include_disabled: bool = True


class AuditQuery(Strict):
    customer_id: Id | None = None
    actor_id: Id | None = None
    action: Text64 | None = None
    since: Timestamp | None = Field(None, description="Unix time, inclusive")
    until: Timestamp | None = Field(None, description="Unix time, exclusive")
    limit: Annotated[int, Field(ge=1, le=500)] = 100
    cursor: Cursor | None = Field(None, description="next_cursor of the previous page")


# -- customers ---------------------------------------------------------------------


class IdentityIn(Strict):
    kind: IdentityKindName
    value: Text320


class CustomerFields(Strict):
    display_name: Text200 | None = None
    language: Text16OrEmpty | None = None
    timezone: Text64OrEmpty | None = None
    lifecycle_stage: LifecycleName | None = None
    owner_agent_id: Id | None = None
    tags: Annotated[list[Text50], Field(max_length=50)] | None = None
    attributes: dict[Text100, Any] | None = None
    consent: dict[ConsentName, bool] | None = None
    provisional: bool | None = None


class CustomerCreate(CustomerFields):
    display_name: Text200
    identities: Annotated[list[IdentityIn], Field(max_length=20)] = []


class CustomerUpdate(CustomerFields):
    """Only the fields present are changed; ``null`` clears an optional field."""


class CustomerSearchQuery(Strict):
    q: Text200 | None = Field(
        None, description="free text: an email, a phone or account number, or a name prefix"
    )
    name: Text200 | None = Field(None, description="name prefix (any word of the name)")
    phone: Text40 | None = Field(None, description="phone number, read with the default region")
    email: Text320 | None = None
    number: Text128 | None = Field(None, description="account / member number")
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Cursor | None = Field(None, description="next_cursor of the previous page")


class ProfileQuery(Strict):
    contact_id: Text64 | None = None


class ScreenPopQuery(Strict):
    kind: IdentityKindName
    value: Text320
    contact_id: Text64 | None = None
    limit: Annotated[int, Field(ge=1, le=200)] | None = None


class HistoryQuery(Strict):
    cursor: Cursor | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    channel: ChannelName | None = None


class IdentityRemoveQuery(Strict):
    kind: IdentityKindName
    value: Text320


class NoteCreate(Strict):
    body: Text20000
    interaction_id: Id | None = None


class MergeRequest(Strict):
    survivor_id: Id
    merged_id: Id
    reason: Text2000


class OrderRow(Strict):
    customer_id: Id | None = None
    email: Text320 | None = None
    phone: Text40 | None = None
    account: Text128 | None = None
    customer_name: Text200 | None = None
    source: Text64 | None = None
    external_id: Text128
    amount: Annotated[float, Field(ge=-1e12, le=1e12, allow_inf_nan=False)]
    margin: Annotated[float, Field(ge=-1e12, le=1e12, allow_inf_nan=False)] | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] | None = None
    items: Annotated[list[dict[Text100OrEmpty, Any]], Field(max_length=500)] | None = None
    ordered_at: Timestamp | Text40
    status: Text32 | None = None


class OrderImport(Strict):
    orders: Annotated[list[OrderRow], Field(min_length=1, max_length=MAX_IMPORT_ROWS)]


# -- agents ------------------------------------------------------------------------


class AgentStateChange(Strict):
    state: Literal["ready", "not_ready", "offline"]
    # Required for not_ready: one of [routing] not_ready_reasons.
    reason: Text64 | None = None


# -- calls -----------------------------------------------------------------------------

# Phone numbers as people write them (+44 20 7946 0018, (555) 010-1234); the CTI
# strips the punctuation and refuses anything else.
PhoneNumberText = Annotated[
    str, StringConstraints(min_length=1, max_length=40, pattern=r"^[0-9+*#() ./-]+$")
]
AgentIdText = Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=r"^[0-9]+$")]
QueueText = Annotated[
    str, StringConstraints(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]+$")
]


class ToAgent(Strict):
    agent_id: AgentIdText


class ToQueue(Strict):
    queue: QueueText


class ToNumber(Strict):
    number: PhoneNumberText


class CallTransfer(Strict):
    mode: Literal["blind", "attended"]
    to: ToAgent | ToQueue | ToNumber


class CallDial(Strict):
    number: PhoneNumberText
    # The customer being called (from their profile): recorded with the action.
    customer_id: Id | None = None


class CallMonitor(Strict):
    mode: Literal["listen", "whisper", "barge"]


# -- offers, wrap-up, agent reports and administration -------------------------------

DispositionId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
SkillName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]


class WrapUpSave(Strict):
    # One of the queue's dispositions (GET /queues); null keeps what was saved before.
    disposition: DispositionId | None = None
    # Replaces the interaction's notes; null keeps them.
    notes: Annotated[str, StringConstraints(max_length=20_000), _CLEAN] | None = None
    # End wrap-up now (the agent becomes available again); false only saves.
    finish: bool = True


class AgentStatesReportQuery(Strict):
    # The UTC day, YYYY-MM-DD.
    day: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    agent_id: Id | None = None


class AgentRoutingUpdate(Strict):
    # Queues served; null: every configured queue.
    queues: Annotated[list[Text64], Field(max_length=200)] | None = None
    # Skill -> level 1-5.
    skills: Annotated[dict[SkillName, Annotated[int, Field(ge=1, le=5)]], Field(max_length=200)] = (
        Field(default_factory=dict)
    )
    # A [routing.profiles] name; null: the default profile.
    profile: Text64 | None = None
    # Channels whose offers are accepted without a click; null: the [routing] default.
    auto_accept: Annotated[list[ChannelName], Field(max_length=3)] | None = None


# -- chats and canned responses (docs/chat.md) ------------------------------------------

ChatClientId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class ChatSend(Strict):
    # The console's own id for this message: a retry with the same id is stored once.
    client_id: ChatClientId
    text: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]


class ChatTypingIn(Strict):
    on: bool


class ChatReadIn(Strict):
    seq: int = Field(ge=0, le=2**31 - 1)


class ChatTransfer(Strict):
    # One of the two: a queue taking chats, or an agent (router agent id = user id).
    queue: Text64 | None = None
    agent_id: Text64 | None = None


class ChatMessagesQuery(Strict):
    after_seq: int = Field(0, ge=0, le=2**31 - 1)
    limit: int = Field(200, ge=1, le=1000)


class ChatUploadQuery(Strict):
    client_id: ChatClientId


class CannedQuery(Strict):
    queue: Text64 | None = None
    q: Text100 | None = None
    # Fill the placeholders for this chat of mine ({customer.first_name}, {agent.name}...).
    contact_id: Text128 | None = None


class CannedCreate(Strict):
    # None: every queue.
    queue: Text64 | None = None
    shortcut: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,32}$")]
    title: Text100
    text: Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class CannedUpdate(Strict):
    queue: Text64 | None = None
    shortcut: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,32}$")] | None = None
    title: Text100 | None = None
    text: Annotated[str, StringConstraints(min_length=1, max_length=4000)] | None = None


# -- wallboard, supervisor actions, contact reports ----------------------------------------


class ContactMove(Strict):
    # Exactly one: the queue to move the waiting contact to, or the agent to offer it to.
    queue: Text64 | None = None
    agent_id: Text64 | None = None


class ContactPriority(Strict):
    priority: Annotated[int, Field(ge=-1000, le=1000)]


class StaffingWhatIf(Strict):
    queue: Text64
    channel: Literal["voice", "chat", "email"] = "voice"
    # Each replaces the live value when given.
    arrival_rate_per_hour: Annotated[float, Field(ge=0, le=1_000_000)] | None = None
    aht_seconds: Annotated[float, Field(gt=0, le=86_400)] | None = None
    target_service_level: Annotated[float, Field(gt=0, le=100)] | None = None
    target_seconds: Annotated[float, Field(gt=0, le=86_400)] | None = None
    agents: Annotated[int, Field(ge=1, le=5_000)] | None = None
    # Callers' mean patience: Erlang A with it (default: the board's, if it has one).
    patience_seconds: Annotated[float, Field(gt=0, le=86_400)] | None = None


class ContactsReportQuery(Strict):
    # Days of [routing] timezone, YYYY-MM-DD, both included.
    from_: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")] = Field(
        alias="from"
    )
    to: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    group_by: Literal["queue", "agent", "channel"] = "queue"
    interval: Literal["day", "hour"] = "day"
    format: Literal["json", "csv"] = "json"


class CsatScore(Strict):
    # The customer's satisfaction, 1 (very unhappy) to 5 (very happy).
    score: Annotated[int, Field(ge=1, le=5)]


# -- email (agent_ui/api/emails.py, docs/email.md) ----------------------------------------


class EmailAttachmentIn(Strict):
    filename: Text200
    content_type: Annotated[
        str, StringConstraints(pattern=r"^[a-z0-9.+-]{1,40}/[a-z0-9.+-]{1,80}$")
    ] = "application/octet-stream"
    # The file's bytes, base64 (the reply endpoint's body limit bounds them).
    content_base64: Annotated[str, StringConstraints(max_length=14_000_000)]


class EmailReply(Strict):
    body_text: Annotated[str, StringConstraints(min_length=1, max_length=100_000), _CLEAN]
    # Also to everyone else the customer's last message was sent to (not our addresses).
    reply_all: bool = False
    attachments: list[EmailAttachmentIn] = Field(default_factory=list, max_length=20)
    # The console's id for this reply: sending it again returns the first result.
    client_id: Text64


class EmailThreadQuery(Strict):
    # Show remote images in HTML messages (blocked by default).
    images: bool = False


class EmailTransfer(Strict):
    queue: Text64


class QuarantineQuery(Strict):
    limit: int = Field(50, ge=1, le=200)
    # The next page: messages with an id below this one.
    before: Id | None = None


class ContactLink(Strict):
    # The existing customer the caller of the contact is (their provisional profile is
    # merged into it).
    customer_id: Id
