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


# -- Erlang A: callers who hang up ------------------------------------------------------
#
# M/M/n+M (Palm's Erlang A): as Erlang C, and each waiting caller leaves after an
# exponential patience of mean ``patience_seconds`` (rate theta). The queue is stable
# whatever the agents, so it also answers "what if we are short-staffed".
#
# * Stationary distribution (k callers in the system): p_k ~ A^k / k! for k <= n, then
#   p_{k} = p_{k-1} * lam / (n*mu + (k-n)*theta). Truncated where the tail is negligible.
# * An arrival that finds m callers waiting (PASTA) reaches an agent after m+1 phases of
#   rates n*mu + j*theta (j = m..0: a service ends or one ahead leaves) unless its own
#   patience runs out first. P(answered within T | m) is computed for every m at once by
#   uniformisation of that small chain (a sum of Poisson-weighted steps, no matrix
#   exponentials), and P(answered at all | m) = prod_j r_j / (r_j + theta).
# * Service level = P(answered within T) over all arrivals (abandons count against it,
#   short ones too: a conservative reading of docs/metrics.md's definition); abandon rate
#   = 1 - P(answered); average wait (every caller, answered or not) = Lq / lam (Little).

# Stop the distribution's tail, and the uniformisation's sum, below this mass.
_TAIL = 1e-12
# Patience from fewer abandons than this is too noisy: the board stays with Erlang C.
MIN_ABANDONS_FOR_ERLANG_A = 20


@dataclasses.dataclass(frozen=True, slots=True)
class StaffingWithAbandons:
    agents: int
    traffic_erlangs: float
    wait_probability: float
    service_level_percent: float
    abandon_percent: float
    average_wait_seconds: float
    occupancy_percent: float


def patience_seconds(waiting_seconds: float, abandons: int) -> float | None:
    """Mean patience estimated from stored contacts: the time every caller spent waiting
    (answered or not) over the callers who gave up (the exponential model's maximum
    likelihood). None below MIN_ABANDONS_FOR_ERLANG_A abandons."""
    if abandons < MIN_ABANDONS_FOR_ERLANG_A or waiting_seconds <= 0:
        return None
    return waiting_seconds / abandons


def _stationary(agents: int, lam: float, mu: float, theta: float) -> list[float]:
    """p_0..p_K of the M/M/n+M system, normalised."""
    weights = [1.0]
    for k in range(1, agents + 1):
        weights.append(weights[-1] * lam / (k * mu))
    k = agents
    while True:
        k += 1
        weights.append(weights[-1] * lam / (agents * mu + (k - agents) * theta))
        if weights[-1] < _TAIL * sum(weights[-50:]) and k > agents + 10:
            break
        if k > agents + 100_000:
            break
    total = sum(weights)
    return [w / total for w in weights]


def _answered_within(
    waiting_ahead: int, agents: int, mu: float, theta: float, seconds: float
) -> list[float]:
    """P(answered within ``seconds``) for an arrival finding m = 0..waiting_ahead callers
    waiting (uniformisation of the phase chain with the caller's own abandonment)."""
    rates = [agents * mu + j * theta for j in range(waiting_ahead + 1)]
    uniform = rates[-1] + theta
    # u[j]: P(answered within s steps | j ahead); after 0 steps nobody is answered.
    u = [0.0] * (waiting_ahead + 1)
    total = [0.0] * (waiting_ahead + 1)
    mean = uniform * seconds
    weight = math.exp(-mean) if mean < 700 else 0.0
    log_weight = -mean
    step = 0
    accumulated = 0.0
    limit = mean + 10.0 * math.sqrt(mean + 1.0) + 20.0
    while step <= limit:
        weight = math.exp(log_weight)
        if weight > 0.0:
            for j in range(waiting_ahead + 1):
                total[j] += weight * u[j]
            accumulated += weight
        # One more step: from j, to j-1 (j = 0: answered) with rate r_j, leave with theta.
        stay = [(uniform - rates[j] - theta) / uniform for j in range(waiting_ahead + 1)]
        advance = [rates[j] / uniform for j in range(waiting_ahead + 1)]
        u = [
            advance[j] * (1.0 if j == 0 else u[j - 1]) + stay[j] * u[j]
            for j in range(waiting_ahead + 1)
        ]
        step += 1
        log_weight += math.log(mean) - math.log(step) if mean > 0 else -math.inf
        if accumulated > 1.0 - _TAIL and step > mean:
            break
    return total


def evaluate_with_abandons(
    agents: int,
    *,
    rate_per_hour: float,
    aht_seconds: float,
    patience: float,
    target_seconds: float,
) -> StaffingWithAbandons:
    """What ``agents`` achieve when callers leave after ``patience`` seconds on average."""
    lam = rate_per_hour / 3600.0
    mu = 1.0 / aht_seconds
    theta = 1.0 / patience
    traffic = lam / mu
    if lam <= 0:
        return StaffingWithAbandons(agents, 0.0, 0.0, 100.0, 0.0, 0.0, 0.0)
    p = _stationary(agents, lam, mu, theta)
    waiting_probs = p[agents:]
    wait_probability = sum(waiting_probs)
    within = _answered_within(len(waiting_probs) - 1, agents, mu, theta, target_seconds)
    answered_within = sum(p[:agents]) + sum(
        q * w for q, w in zip(waiting_probs, within, strict=True)
    )
    answered = sum(p[:agents])
    survive = 1.0
    for m, q in enumerate(waiting_probs):
        survive *= (agents * mu + m * theta) / (agents * mu + (m + 1) * theta)
        answered += q * survive
    queue_length = sum(m * q for m, q in enumerate(waiting_probs))
    busy = sum(min(k, agents) * q for k, q in enumerate(p))
    return StaffingWithAbandons(
        agents=agents,
        traffic_erlangs=round(traffic, 4),
        wait_probability=round(wait_probability, 4),
        service_level_percent=round(100.0 * min(1.0, answered_within), 2),
        abandon_percent=round(100.0 * max(0.0, 1.0 - answered), 2),
        average_wait_seconds=round(queue_length / lam, 2),
        occupancy_percent=round(100.0 * busy / agents, 2) if agents else 0.0,
    )


def agents_needed_with_abandons(
    *,
    rate_per_hour: float,
    aht_seconds: float,
    patience: float,
    target_percent: float,
    target_seconds: float,
) -> int | None:
    """Fewest agents reaching ``target_percent`` answered within ``target_seconds``
    under Erlang A; 0 with no load; None when even MAX_AGENTS do not."""
    if rate_per_hour <= 0 or aht_seconds <= 0:
        return 0
    traffic = traffic_erlangs(rate_per_hour, aht_seconds)
    # Erlang C's answer is an upper bound (abandons only shorten the queue): search down.
    upper = agents_needed(
        rate_per_hour=rate_per_hour,
        aht_seconds=aht_seconds,
        target_percent=target_percent,
        target_seconds=target_seconds,
    )
    if upper is None:
        return None
    agents = upper
    floor_ = max(1, math.floor(traffic * 0.5))
    while agents - 1 >= floor_:
        reached = evaluate_with_abandons(
            agents - 1,
            rate_per_hour=rate_per_hour,
            aht_seconds=aht_seconds,
            patience=patience,
            target_seconds=target_seconds,
        ).service_level_percent
        if reached < target_percent:
            break
        agents -= 1
    return agents
