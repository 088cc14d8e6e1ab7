"""The ``[chat]`` settings section, validated here (``contact_center.settings`` keeps it
as a free-form dict, like ``[routing]``): sites that embed the widget, each queue's
pre-chat form and business hours, and the limits that contain hostile visitors.

Every mistake becomes one :class:`InvalidChatSettings` naming the bad keys.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contact_center.errors import AppError

FieldRule = Literal["required", "optional", "hidden"]
_HOURS = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])$")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
DEFAULT_ATTACHMENT_TYPES = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
)


class InvalidChatSettings(AppError):
    error_id = "invalid-settings"
    status = 500


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteSettings(_Model):
    """One web site that embeds the widget."""

    # Origins (scheme://host[:port]) of the pages allowed to open chats; none: only
    # this server's own pages (the sample page).
    allowed_origins: tuple[str, ...] = ()
    # HMAC-SHA256 key for signed identities ("": this site signs none).
    identity_secret: str = Field("", max_length=256)
    # Every conversation, anonymous ones included, must carry a valid signature.
    require_identity: bool = False
    attachment_types: tuple[str, ...] = DEFAULT_ATTACHMENT_TYPES
    attachment_max_bytes: int = Field(5 * 1024 * 1024, ge=1, le=100 * 1024 * 1024)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?", origin):
                raise ValueError(f"{origin!r} is not an origin like https://shop.example.com")
        return tuple(o.lower() for o in value)


class TopicSettings(_Model):
    id: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")
    label: str = Field("", max_length=100)
    # The queue a chat on this topic goes to ("": the queue the widget names).
    queue: str = Field("", max_length=64)


class HoursSettings(_Model):
    """Opening hours per weekday ("09:00-17:30"); a day not listed is closed."""

    timezone: str = "UTC"
    mon: tuple[str, ...] = ()
    tue: tuple[str, ...] = ()
    wed: tuple[str, ...] = ()
    thu: tuple[str, ...] = ()
    fri: tuple[str, ...] = ()
    sat: tuple[str, ...] = ()
    sun: tuple[str, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    @classmethod
    def _spans(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for span in value:
            match = _HOURS.match(span)
            if match is None:
                raise ValueError(f"{span!r} is not a span like 09:00-17:30")
            start = int(match[1]) * 60 + int(match[2])
            end = int(match[3]) * 60 + int(match[4])
            if end <= start or end > 24 * 60:
                raise ValueError(f"{span!r} ends before it starts")
        return value

    def spans(self, day: int) -> tuple[tuple[int, int], ...]:
        """Opening spans of weekday ``day`` (0 = Monday) in minutes after midnight."""
        found = []
        for span in getattr(self, DAYS[day]):
            match = _HOURS.match(span)
            assert match is not None
            found.append((int(match[1]) * 60 + int(match[2]), int(match[3]) * 60 + int(match[4])))
        return tuple(found)


class QueueChatSettings(_Model):
    """The pre-chat form and business hours of one queue's chats."""

    name: FieldRule = "required"
    email: FieldRule = "optional"
    phone: FieldRule = "hidden"
    topics: tuple[TopicSettings, ...] = ()
    # None: always open.
    hours: HoursSettings | None = None


class ChatSettings(_Model):
    # Where uploaded files are kept (relative: under the project's home), never a
    # directory the server serves.
    attachments_dir: str = "var/chat-attachments"
    max_message_chars: int = Field(4000, ge=1, le=100_000)
    max_messages_per_conversation: int = Field(2000, ge=10, le=1_000_000)
    visitor_messages_per_minute: int = Field(40, ge=1, le=10_000)
    address_sessions_per_hour: int = Field(30, ge=1, le=1_000_000)
    address_requests_per_minute: int = Field(120, ge=1, le=1_000_000)
    max_frame_bytes: int = Field(16_384, ge=1024, le=1024 * 1024)
    send_queue_frames: int = Field(256, ge=8, le=100_000)
    typing_timeout_seconds: float = Field(5.0, ge=1, le=60)
    position_interval_seconds: float = Field(3.0, ge=0.5, le=300)
    sites: dict[str, SiteSettings] = Field(default_factory=lambda: {"default": SiteSettings()})
    queues: dict[str, QueueChatSettings] = Field(default_factory=dict)

    @field_validator("sites")
    @classmethod
    def _site_names(cls, value: dict[str, SiteSettings]) -> dict[str, SiteSettings]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
                raise ValueError(f"site name {name!r}: letters, digits, '_', '.', '-'")
        return value

    def queue(self, name: str) -> QueueChatSettings:
        return self.queues.get(name) or QueueChatSettings()


def parse_chat_settings(
    data: Mapping[str, Any], *, routing_queues: Mapping[str, Any] | None = None
) -> ChatSettings:
    """``[chat]`` as :class:`ChatSettings`; ``routing_queues``: ``[routing.queues]``, to
    check that topics and queue forms name queues that exist."""
    try:
        settings = ChatSettings.model_validate(dict(data))
    except ValidationError as exc:
        problems = [
            f"chat.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise InvalidChatSettings(
            "invalid [chat] settings: " + "; ".join(problems[:10]),
            details={"errors": problems[:50]},
        ) from None
    if routing_queues is not None:
        unknown = sorted(
            {q for q in settings.queues if q not in routing_queues}
            | {
                t.queue
                for queue in settings.queues.values()
                for t in queue.topics
                if t.queue and t.queue not in routing_queues
            }
        )
        if unknown:
            raise InvalidChatSettings(
                f"[chat] names queues that [routing.queues] does not have: {', '.join(unknown)}",
                details={"queues": unknown},
            )
    return settings
