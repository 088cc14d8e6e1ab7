"""Customer model rules: lifecycle stages, channels, and customer value (RFM tiers, churn).

Value is computed from a customer's monthly order totals, never from raw orders:
tier over the current window, the tier over the window before it, churn risk
when the tier fell. Pure: ``now`` is passed in.
"""

from __future__ import annotations

import dataclasses
import time
import unicodedata
from collections.abc import Iterable
from enum import StrEnum

from contact_center.settings import ValueSettings


class LifecycleStage(StrEnum):
    PROSPECT = "prospect"
    CUSTOMER = "customer"
    REPEAT = "repeat"
    ADVOCATE = "advocate"
    PARTNER = "partner"


class Channel(StrEnum):
    VOICE = "voice"
    CHAT = "chat"
    EMAIL = "email"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class InteractionStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


@dataclasses.dataclass(frozen=True, slots=True)
class MonthTotals:
    month: int  # year * 12 + (month - 1)
    spend_cents: int
    margin_cents: int
    orders: int


@dataclasses.dataclass(frozen=True, slots=True)
class CustomerValue:
    tier: str
    previous_tier: str
    churn_risk: bool
    spend_window_cents: int
    margin_window_cents: int
    orders_window: int


def month_index(timestamp: float) -> int:
    t = time.gmtime(timestamp)
    return t.tm_year * 12 + t.tm_mon - 1


def window_months(settings: ValueSettings) -> int:
    return max(1, round(settings.window_days / 30.4375))


def tier_for(spend_cents: int, orders: int, settings: ValueSettings) -> str:
    for rule in settings.tiers:
        if spend_cents >= round(rule.min_spend * 100) and orders >= rule.min_orders:
            return rule.name
    return settings.tiers[-1].name


def tier_rank(tier: str, settings: ValueSettings) -> int:
    """0 for the highest tier; unknown tiers rank lowest."""
    names = [t.name for t in settings.tiers]
    return names.index(tier) if tier in names else len(names)


def compute_value(
    months: Iterable[MonthTotals],
    *,
    now: float,
    last_order_at: float | None,
    settings: ValueSettings,
) -> CustomerValue:
    span = window_months(settings)
    current_month = month_index(now)
    current_start = current_month - span + 1
    previous_start = current_start - span
    spend = margin = previous_spend = 0
    orders = previous_orders = 0
    for m in months:
        if current_start <= m.month <= current_month:
            spend += m.spend_cents
            margin += m.margin_cents
            orders += m.orders
        elif previous_start <= m.month < current_start:
            previous_spend += m.spend_cents
            previous_orders += m.orders
    tier = tier_for(spend, orders, settings)
    stale = last_order_at is None or now - last_order_at > settings.max_recency_days * 86_400
    if stale:
        tier = settings.tiers[-1].name
    previous = tier_for(previous_spend, previous_orders, settings)
    churn = tier_rank(tier, settings) > tier_rank(previous, settings)
    return CustomerValue(tier, previous, churn, spend, margin, orders)


def next_lifecycle_stage(current: str, lifetime_orders: int) -> str:
    """Orders move a customer forward (prospect -> customer -> repeat), never back.

    Advocate and partner are set by people, so orders never change them.
    """
    if current == LifecycleStage.PROSPECT and lifetime_orders >= 1:
        current = LifecycleStage.CUSTOMER
    if current == LifecycleStage.CUSTOMER and lifetime_orders >= 2:
        current = LifecycleStage.REPEAT
    return current


def search_key(name: str) -> str:
    """Lower-cased, accent-free form of a name for prefix search ("Zoë" -> "zoe")."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())[:200]
