"""Staffing math (Erlang C): agents needed for a service-level target. Pure, no I/O.

For arrivals at ``rate_per_hour`` with mean handle time ``aht_seconds`` the offered
traffic is A = rate * AHT / 3600 erlangs. With N agents (N > A):

* Erlang B by its recurrence B(0) = 1, B(k) = A*B(k-1) / (k + A*B(k-1)) (stable for
  hundreds of agents, no factorials);
* Erlang C, the chance that a caller waits: C = N*B / (N - A*(1 - B));
* service level within T seconds: SL = 1 - C*e^(-(N - A)*T / AHT);
* average speed of answer: ASA = C*AHT / (N - A); occupancy A / N.

:func:`agents_needed` is the smallest N reaching the target. docs/metrics.md has the
published example the tests check (A = 10 erlangs, 80% in 20 s: 14 agents).
"""

from __future__ import annotations

import dataclasses
import math

# Beyond this many agents the answer is not worth computing (a mistyped rate).
MAX_AGENTS = 5_000


@dataclasses.dataclass(frozen=True, slots=True)
class Staffing:
    """What N agents achieve under a load."""

    agents: int
    traffic_erlangs: float
    wait_probability: float
    service_level_percent: float
    asa_seconds: float
    occupancy_percent: float


def traffic_erlangs(rate_per_hour: float, aht_seconds: float) -> float:
    return rate_per_hour * aht_seconds / 3600.0


def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability with ``agents`` servers and no queue."""
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return blocking


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a contact waits (1.0 when the agents cannot keep up)."""
    if traffic <= 0:
        return 0.0
    if agents <= traffic:
        return 1.0
    blocking = erlang_b(agents, traffic)
    return agents * blocking / (agents - traffic * (1.0 - blocking))


def evaluate(
    agents: int, *, rate_per_hour: float, aht_seconds: float, target_seconds: float
) -> Staffing:
    """Service level, ASA and occupancy that ``agents`` reach under the load."""
    traffic = traffic_erlangs(rate_per_hour, aht_seconds)
    wait = erlang_c(agents, traffic)
    if traffic <= 0:
        return Staffing(agents, 0.0, 0.0, 100.0, 0.0, 0.0)
    if agents <= traffic:
        return Staffing(agents, traffic, 1.0, 0.0, math.inf, 100.0)
    spare = agents - traffic
    service_level = 1.0 - wait * math.exp(-spare * target_seconds / aht_seconds)
    return Staffing(
        agents=agents,
        traffic_erlangs=round(traffic, 4),
        wait_probability=round(wait, 4),
        service_level_percent=round(100.0 * max(0.0, service_level), 2),
        asa_seconds=round(wait * aht_seconds / spare, 2),
        occupancy_percent=round(100.0 * traffic / agents, 2),
    )


def agents_needed(
    *,
    rate_per_hour: float,
    aht_seconds: float,
    target_percent: float,
    target_seconds: float,
) -> int | None:
    """Fewest agents whose service level reaches ``target_percent`` within
    ``target_seconds``; 0 with no load; None when even MAX_AGENTS do not."""
    if rate_per_hour <= 0 or aht_seconds <= 0:
        return 0
    traffic = traffic_erlangs(rate_per_hour, aht_seconds)
    agents = max(1, math.floor(traffic) + 1)
    while agents <= MAX_AGENTS:
        reached = evaluate(
            agents,
            rate_per_hour=rate_per_hour,
            aht_seconds=aht_seconds,
            target_seconds=target_seconds,
        ).service_level_percent
        if reached >= target_percent:
            return agents
        agents += 1
    return None


def table(
    *,
    rate_per_hour: float,
    aht_seconds: float,
    target_seconds: float,
    up_to: int,
) -> list[Staffing]:
    """One row per number of agents, from the fewest that keep up to ``up_to``."""
    traffic = traffic_erlangs(rate_per_hour, aht_seconds)
    first = max(1, math.floor(traffic) + 1)
    return [
        evaluate(
            n, rate_per_hour=rate_per_hour, aht_seconds=aht_seconds, target_seconds=target_seconds
        )
        for n in range(first, max(first, min(up_to, MAX_AGENTS)) + 1)
    ]
