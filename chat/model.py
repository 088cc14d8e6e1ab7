"""Pure chat rules: signed identities, business hours, rate limits, canned-response
placeholders, visitor names. No I/O, no clock reads: time is passed in."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import re
import zoneinfo
from collections.abc import Mapping
from enum import StrEnum

from chat.settings import HoursSettings


class Status(StrEnum):
    QUEUED = "queued"
    OFFERED = "offered"
    ACTIVE = "active"
    ENDED = "ended"


class Origin(StrEnum):
    VISITOR = "visitor"
    AGENT = "agent"
    SYSTEM = "system"


class Notice(StrEnum):
    AGENT_JOINED = "agent_joined"
    TRANSFERRED = "transferred"
    AGENT_LEFT = "agent_left"
    REQUEUED = "requeued"
    ENDED = "ended"


CONTACT_PREFIX = "chat-"
CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def contact_id_of(conversation_id: str) -> str:
    return CONTACT_PREFIX + conversation_id


def token_digest(token: str) -> str:
    """What is stored of a visitor token: its SHA-256 (a leaked table grants nothing)."""
    return hashlib.sha256(token.encode()).hexdigest()


def identity_signature(secret: str, user_id: str) -> str:
    """The signature a host site computes for its user id: hex HMAC-SHA256."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def signature_valid(secret: str, user_id: str, signature: str) -> bool:
    """Whether ``signature`` is the site's for ``user_id``, compared in constant time."""
    if not secret:
        return False
    expected = identity_signature(secret, user_id)
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


def is_open(hours: HoursSettings | None, now: float) -> bool:
    """Whether a queue with these business hours is open at ``now`` (Unix time)."""
    if hours is None:
        return True
    local = datetime.datetime.fromtimestamp(now, zoneinfo.ZoneInfo(hours.timezone))
    minute = local.hour * 60 + local.minute
    return any(start <= minute < end for start, end in hours.spans(local.weekday()))


@dataclasses.dataclass(slots=True)
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets per key: ``rate`` events per ``per`` seconds, bursts up to ``rate``.

    In memory: each node limits what reaches it (a visitor's websocket lives on one
    node; addresses are limited per node, which bounds them per deployment too)."""

    def __init__(self, rate: int, per: float, *, max_keys: int = 100_000) -> None:
        self.capacity = float(rate)
        self.refill = rate / per
        self.max_keys = max_keys
        self._buckets: dict[str, Bucket] = {}

    def take(self, key: str, now: float, cost: float = 1.0) -> float:
        """0 if allowed (and counted), else the seconds until it would be."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._evict(now)
            bucket = self._buckets[key] = Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.updated) * self.refill)
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.refill

    def debt(self, key: str) -> float:
        bucket = self._buckets.get(key)
        return 0.0 if bucket is None else bucket.tokens

    def _evict(self, now: float) -> None:
        # Full buckets are the same as no bucket: drop them first, then the oldest.
        full = [
            k
            for k, b in self._buckets.items()
            if b.tokens + (now - b.updated) * self.refill >= self.capacity
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            oldest = sorted(self._buckets, key=lambda k: self._buckets[k].updated)
            for key in oldest[: len(oldest) // 2]:
                del self._buckets[key]


_PLACEHOLDER = re.compile(r"\{(customer|agent)\.(first_name|name)\}|\{queue\}")


def render_canned(text: str, values: Mapping[str, str]) -> str:
    """Fill ``{customer.first_name}``, ``{customer.name}``, ``{agent.name}``,
    ``{agent.first_name}`` and ``{queue}``; unknown braces stay as written."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(0)[1:-1]
        return values.get(key, match.group(0))

    return _PLACEHOLDER.sub(fill, text)


def placeholder_values(customer_name: str, agent_name: str, queue: str) -> dict[str, str]:
    return {
        "customer.name": customer_name,
        "customer.first_name": first_name(customer_name),
        "agent.name": agent_name,
        "agent.first_name": first_name(agent_name),
        "queue": queue,
    }


def first_name(name: str) -> str:
    parts = name.split()
    return parts[0] if parts else ""


def clean_text(text: str) -> str:
    """A message as stored: NUL and other C0 controls (but tab and newline) removed,
    line ends as \\n. Text stays plain text: consoles render it as text, never HTML."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(ch for ch in text if ch >= " " or ch in "\n\t")
