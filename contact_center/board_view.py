"""The live wallboard's shape: what every supervisor's tab is sent (docs/hub.md).

msgspec structs, decoded strictly (unknown fields refused). The hub's schema
(agent_ui/hub/messages.py) carries a :class:`BoardView` in its ``board`` message;
contact_center/wallboard.py builds it. Here, in the core, so the builder does not
import the web layer.
"""

from __future__ import annotations

import msgspec


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
    """Agents needed for a voice queue's target at the current load (Erlang C, or
    Erlang A when today's abandons tell the callers' patience)."""

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
    # Erlang A: the callers' mean patience from today's abandons, and the share the
    # model expects to abandon with agents_now (None under Erlang C).
    patience_seconds: float | None = None
    abandon_now_percent: float | None = None


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


# Every part of a board, for the documentation check (tests/agent_ui/hub/test_schema.py).
WALLBOARD_PARTS: tuple[type[msgspec.Struct], ...] = (
    BoardView,
    QueueFigures,
    QueueTargets,
    AgentCounts,
    AlertLevels,
    AgentFigures,
    BoardContact,
    QueueSeries,
    SeriesPoint,
    StaffingView,
)
