"""The ``[routing]`` settings section: validated here into a :class:`RoutingConfig`.

``contact_center.settings`` keeps ``routing`` as a free-form dict; this module owns its
shape (queues, routing profiles, not-ready reasons, static agents, state backend) and
turns any mistake into one :class:`InvalidRoutingConfig` naming every bad key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from routing.errors import InvalidRoutingConfig
from routing.model import (
    DEFAULT_NOT_READY_REASONS,
    DEFAULT_OFFER_TIMEOUTS,
    DEFAULT_PROFILE,
    SYSTEM_NOT_READY_REASONS,
    BlockRule,
    Channel,
    MaxWait,
    MaxWaitAction,
    OverflowStep,
    QueueConfig,
    RoutingConfig,
    RoutingProfile,
    SkillRequirement,
    StickyRule,
    StrategyName,
    name_problem,
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BlockSettings(_Model):
    when: Channel
    blocks: tuple[Channel, ...] = Field(min_length=1)
    unless_awaiting_customer: bool = False


class ProfileSettings(_Model):
    capacity: dict[Channel, int] = Field(min_length=1)
    blocks: tuple[BlockSettings, ...] = ()
    max_total: int | None = Field(None, ge=1)

    @field_validator("capacity")
    @classmethod
    def _non_negative(cls, value: dict[Channel, int]) -> dict[Channel, int]:
        for channel, slots in value.items():
            if not 0 <= slots <= 1000:
                raise ValueError(f"{channel} capacity must be between 0 and 1000")
        return value


class ServiceLevelSettings(_Model):
    percent: float = Field(80.0, gt=0, le=100)
    seconds: float = Field(20.0, gt=0)


class OverflowSettings(_Model):
    after_seconds: float = Field(gt=0)
    drop_skills: tuple[str, ...] = ()
    lower_skills: dict[str, int] = Field(default_factory=dict)
    add_queues: tuple[str, ...] = ()

    @field_validator("lower_skills")
    @classmethod
    def _levels(cls, value: dict[str, int]) -> dict[str, int]:
        return _check_levels(value)


class StickySettings(_Model):
    seconds: float = Field(0.0, ge=0)
    prefer_owner: bool = True
    prefer_last_agent: bool = True
    last_agent_max_age_hours: float = Field(168.0, gt=0)


class MaxWaitSettings(_Model):
    seconds: float = Field(gt=0)
    action: MaxWaitAction
    target_queue: str | None = None


class DispositionSettings(_Model):
    """One wrap-up outcome an agent can pick: a stable id (what reports and the API
    carry), the label agents see, and whether it marks the customer's issue resolved
    (an unresolved last contact shows as such on the next screen-pop)."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    label: str = Field("", max_length=100)
    resolved: bool = False


class QueueAlerts(_Model):
    """Wallboard colours: [amber, red] per figure (service level: below them; docs/metrics.md).
    None: the default for that figure."""

    waiting: tuple[float, float] | None = None
    longest_wait_seconds: tuple[float, float] | None = None
    service_level_percent: tuple[float, float] | None = None
    abandon_rate_percent: tuple[float, float] | None = None


class QueueSettings(_Model):
    channels: tuple[Channel, ...] = Field(min_length=1)
    skills: dict[str, int] = Field(default_factory=dict)
    strategy: StrategyName = StrategyName.LONGEST_IDLE
    base_priority: int = Field(0, ge=-1000, le=1000)
    tier_boost: dict[str, int] = Field(default_factory=dict)
    ageing_points_per_minute: float = Field(1.0, ge=0, le=1000)
    service_level: ServiceLevelSettings = ServiceLevelSettings()
    overflow: tuple[OverflowSettings, ...] = ()
    sticky: StickySettings = StickySettings()
    offer_timeout_seconds: dict[Channel, float] = Field(default_factory=dict)
    wrap_up_seconds: float | Literal["manual"] = 0.0
    wrap_up_max_seconds: float = Field(3600.0, gt=0)
    max_wait: MaxWaitSettings | None = None
    # Wrap-up outcomes offered for this queue's contacts: ids ("resolved") or tables
    # ({ id = "resolved", label = "Resolved", resolved = true }).
    dispositions: tuple[DispositionSettings, ...] = ()
    # Whether saving a wrap-up needs one of them.
    disposition_required: bool = False
    # Metrics (docs/metrics.md): shorter abandons are not counted against the queue
    # (None: [routing] short_abandon_seconds); when wallboard cells turn amber and red.
    short_abandon_seconds: float | None = Field(None, ge=0)
    alerts: QueueAlerts = QueueAlerts()

    @field_validator("skills")
    @classmethod
    def _levels(cls, value: dict[str, int]) -> dict[str, int]:
        return _check_levels(value)

    @field_validator("dispositions", mode="before")
    @classmethod
    def _disposition_ids(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            return value
        found = [{"id": item} if isinstance(item, str) else item for item in value]
        ids = [item.get("id") for item in found if isinstance(item, dict)]
        if len(set(ids)) != len(ids):
            raise ValueError("disposition ids must be unique")
        return found

    @field_validator("offer_timeout_seconds")
    @classmethod
    def _timeouts(cls, value: dict[Channel, float]) -> dict[Channel, float]:
        for channel, seconds in value.items():
            if not 1 <= seconds <= 86_400:
                raise ValueError(f"{channel} offer timeout must be 1-86400 seconds")
        return value

    @field_validator("wrap_up_seconds")
    @classmethod
    def _wrap_up(cls, value: float | str) -> float | str:
        if not isinstance(value, str) and not 0 <= value <= 86_400:
            raise ValueError('must be 0-86400 seconds or "manual"')
        return value


class AgentSettings(_Model):
    name: str = ""
    skills: dict[str, int] = Field(default_factory=dict)
    queues: tuple[str, ...] = ()
    profile: str | None = None
    # None: the channels of [routing] auto_accept.
    auto_accept: tuple[Channel, ...] | None = None

    @field_validator("skills")
    @classmethod
    def _levels(cls, value: dict[str, int]) -> dict[str, int]:
        return _check_levels(value)


BackendName = Literal["memory", "redis"]


class RoutingSettings(_Model):
    # None: "redis" when redis.url is set (state shared by every node), else "memory"
    # (see backend_name).
    backend: BackendName | None = None
    # Redis: keys are "{<key_prefix>:<namespace>:<shard>}:..." (namespace: the
    # deployment's, contact_center/deployment.py) so one shard shares a cluster slot.
    key_prefix: str = Field("cc", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    shard: str = Field("default", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    lease_seconds: float = Field(3.0, ge=0.5, le=60)
    command_timeout_seconds: float = Field(10.0, gt=0, le=300)
    # Redis: records written at least this often; a fail-over replays what came after.
    checkpoint_seconds: float = Field(5.0, ge=0.1, le=300)
    checkpoint_commands: int = Field(100_000, ge=1, le=1_000_000)
    not_ready_reasons: tuple[str, ...] = tuple(sorted(DEFAULT_NOT_READY_REASONS))
    # Channels whose offers are accepted without a click, for every agent who does not
    # set their own (agent administration, [routing.agents.NAME] auto_accept).
    auto_accept: tuple[Channel, ...] = ()
    default_profile: str = "default"
    stats_window_seconds: float = Field(1800.0, ge=60, le=86_400)
    short_abandon_seconds: float = Field(5.0, ge=0)
    timezone: str = "UTC"
    explanations_per_contact: int = Field(10, ge=1, le=100)
    candidates_per_explanation: int = Field(20, ge=1, le=500)
    profiles: dict[str, ProfileSettings] = Field(default_factory=dict)
    queues: dict[str, QueueSettings] = Field(default_factory=dict)
    agents: dict[str, AgentSettings] = Field(default_factory=dict)

    @field_validator("queues", "profiles", "agents")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            problem = name_problem(name)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


def backend_name(settings: RoutingSettings, redis_url: str) -> BackendName:
    """The state backend: the one set, else Redis whenever Redis is configured (so every
    node of a deployment shares the router's state), else memory."""
    if settings.backend is not None:
        return settings.backend
    return "redis" if redis_url else "memory"


def _check_levels(value: dict[str, int]) -> dict[str, int]:
    for skill, level in value.items():
        if not skill:
            raise ValueError("skill names must not be empty")
        if not 1 <= level <= 5:
            raise ValueError(f"skill {skill!r} level must be 1-5 (got {level})")
    return value


def parse_routing_settings(data: Mapping[str, Any]) -> RoutingSettings:
    """Validate the raw ``[routing]`` dict; errors name each bad key."""
    try:
        settings = RoutingSettings.model_validate(dict(data))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = "routing." + ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown setting"
            problems.append(f"{key}: {msg}")
        raise InvalidRoutingConfig("invalid routing settings: " + "; ".join(problems)) from None
    _check_references(settings)
    return settings


def _check_references(settings: RoutingSettings) -> None:
    problems: list[str] = []
    profiles = set(settings.profiles) | {"default"}
    queues = set(settings.queues)
    if settings.default_profile not in profiles:
        problems.append(f"routing.default_profile: no profile {settings.default_profile!r}")
    for name, queue in settings.queues.items():
        for index, step in enumerate(queue.overflow):
            for target in step.add_queues:
                if target not in queues or target == name:
                    problems.append(
                        f"routing.queues.{name}.overflow.{index}.add_queues: "
                        f"{target!r} is not another configured queue"
                    )
        if len({s.after_seconds for s in queue.overflow}) != len(queue.overflow):
            problems.append(f"routing.queues.{name}.overflow: two steps fire at the same time")
        wait = queue.max_wait
        if wait is not None and wait.action == MaxWaitAction.MOVE:
            if wait.target_queue not in queues or wait.target_queue == name:
                problems.append(
                    f"routing.queues.{name}.max_wait.target_queue: "
                    "the move action needs another configured queue"
                )
            elif not set(queue.channels) <= set(settings.queues[wait.target_queue].channels):
                problems.append(
                    f"routing.queues.{name}.max_wait.target_queue: "
                    f"{wait.target_queue!r} does not take all of this queue's channels"
                )
    for name, agent in settings.agents.items():
        for queue_name in agent.queues:
            if queue_name not in queues:
                problems.append(f"routing.agents.{name}.queues: no queue {queue_name!r}")
        if agent.profile is not None and agent.profile not in profiles:
            problems.append(f"routing.agents.{name}.profile: no profile {agent.profile!r}")
    if problems:
        raise InvalidRoutingConfig("invalid routing settings: " + "; ".join(problems))


def build_config(settings: RoutingSettings) -> RoutingConfig:
    """The engine's immutable configuration from validated settings."""
    profiles = {"default": DEFAULT_PROFILE}
    for name, profile in settings.profiles.items():
        profiles[name] = RoutingProfile(
            name=name,
            capacity=dict(profile.capacity),
            blocks=tuple(
                BlockRule(b.when, frozenset(b.blocks), b.unless_awaiting_customer)
                for b in profile.blocks
            ),
            max_total=profile.max_total,
        )
    queues = {name: _queue(name, q) for name, q in settings.queues.items()}
    return RoutingConfig(
        queues=queues,
        profiles=profiles,
        not_ready_reasons=frozenset(settings.not_ready_reasons) - SYSTEM_NOT_READY_REASONS,
        auto_accept=frozenset(settings.auto_accept),
        default_profile=settings.default_profile,
        stats_window_seconds=settings.stats_window_seconds,
        short_abandon_seconds=settings.short_abandon_seconds,
        timezone=settings.timezone,
        explanations_per_contact=settings.explanations_per_contact,
        candidates_per_explanation=settings.candidates_per_explanation,
    )


def _requirements(skills: Mapping[str, int]) -> tuple[SkillRequirement, ...]:
    return tuple(SkillRequirement(skill, level) for skill, level in sorted(skills.items()))


def _queue(name: str, q: QueueSettings) -> QueueConfig:
    timeouts = dict(DEFAULT_OFFER_TIMEOUTS)
    timeouts.update(q.offer_timeout_seconds)
    return QueueConfig(
        name=name,
        channels=frozenset(q.channels),
        skills=_requirements(q.skills),
        strategy=q.strategy,
        base_priority=q.base_priority,
        tier_boost=dict(q.tier_boost),
        ageing_points_per_minute=q.ageing_points_per_minute,
        service_level_percent=q.service_level.percent,
        service_level_seconds=q.service_level.seconds,
        overflow=tuple(
            OverflowStep(
                after_seconds=s.after_seconds,
                drop_skills=s.drop_skills,
                lower_skills=_requirements(s.lower_skills),
                add_queues=s.add_queues,
            )
            for s in q.overflow
        ),
        sticky=StickyRule(
            seconds=q.sticky.seconds,
            prefer_owner=q.sticky.prefer_owner,
            prefer_last_agent=q.sticky.prefer_last_agent,
            last_agent_max_age_seconds=q.sticky.last_agent_max_age_hours * 3600.0,
        ),
        offer_timeout_seconds=timeouts,
        wrap_up_seconds=None if q.wrap_up_seconds == "manual" else float(q.wrap_up_seconds),
        wrap_up_max_seconds=q.wrap_up_max_seconds,
        max_wait=(
            MaxWait(q.max_wait.seconds, q.max_wait.action, q.max_wait.target_queue)
            if q.max_wait is not None
            else None
        ),
    )
