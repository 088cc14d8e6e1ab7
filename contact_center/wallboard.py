"""The live supervisor wallboard: computed once, by one node, and the same for everyone.

:class:`Wallboard` runs on every node. The node holding the lease (Redis, or the only
node) computes a board after contact and agent events, coalesced to one every
``[wallboard] push_seconds`` (and one at least every ``refresh_seconds``), and
publishes it on the bus as :class:`WallboardUpdated`. Every node — the computing one
too — keeps the last board it heard (``current``) and its hub sends it to the tabs
watching ``wallboard`` (agent_ui/hub/notifier.py). Two supervisors therefore never
see different numbers, whichever node they are connected to (docs/hub.md, "The
wallboard").

What a board holds (:func:`build_board`): waiting and longest wait from the router's
statistics; agents, their states and held contacts from the router's floor; today's
and the rolling window's figures, the charts and the staffing from the stored contacts
(contact_center/contact_reports.py) through contact_center/metrics.py and staffing.py,
so the board and the reports agree (docs/metrics.md).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime
import logging
import secrets
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select

from contact_center import metrics, staffing
from contact_center.board_view import (
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
from contact_center.contact_reports import load_changed_records, thresholds_of
from contact_center.domain.events import DomainEvent
from contact_center.metrics import ContactRecord, Tally, Thresholds
from contact_center.settings import MetricsSettings, WallboardSettings
from contact_center.store.schema import customers

log = logging.getLogger(__name__)

LEASE_MILLISECONDS = 3_000
# A node with a tab watching the wallboard says so for this long (renewed each board).
WANTED_MILLISECONDS = 10_000
# Names of users and teams are read again after this long (a renamed agent shows soon).
NAMES_SECONDS = 10.0
# Events that change the board.
WATCHED = ("contact.*", "agent.*")
ACTIVITIES = ("ready", "busy", "wrap_up", "not_ready")


class WallboardUpdated(DomainEvent, frozen=True, kw_only=True):
    """A new board from the computing node (``board``: a BoardView as JSON values)."""

    name: ClassVar[str] = "wallboard.updated"
    node: str
    board: BoardView


# -- the lease: who computes ----------------------------------------------------------


class Lease(Protocol):
    async def hold(self) -> bool: ...

    async def wanted(self, here: bool) -> bool: ...

    async def release(self) -> None: ...


class SoleNode:
    """One node without Redis: it always computes."""

    async def hold(self) -> bool:
        return True

    async def wanted(self, here: bool) -> bool:
        return here

    async def release(self) -> None:
        return None


_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class RedisLease:
    """``{prefix}:wallboard:leader`` = the computing node, for 3 s unless renewed; a
    renewal or release only by its holder (compare in a script)."""

    def __init__(self, client: Any, *, prefix: str, node: str) -> None:
        self.client = client
        self.key = f"{{{prefix}}}:wallboard:leader"
        self.wanted_key = f"{{{prefix}}}:wallboard:wanted"
        self.node = node

    async def wanted(self, here: bool) -> bool:
        """Whether any node has a tab watching: a node with one says so for 10 s."""
        try:
            if here:
                await self.client.set(self.wanted_key, self.node, px=WANTED_MILLISECONDS)
                return True
            return bool(await self.client.exists(self.wanted_key))
        except Exception:
            log.warning("wallboard: could not reach Redis", exc_info=True)
            return here

    async def hold(self) -> bool:
        try:
            if await self.client.set(self.key, self.node, nx=True, px=LEASE_MILLISECONDS):
                return True
            return bool(await self.client.eval(_RENEW, 1, self.key, self.node, LEASE_MILLISECONDS))
        except Exception:
            log.warning("wallboard: could not reach Redis for the lease", exc_info=True)
            return False

    async def release(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.eval(_RELEASE, 1, self.key, self.node)
        with contextlib.suppress(Exception):
            await self.client.aclose()


# -- building a board (no I/O below this line but through the arguments) ---------------


def _default_alerts(target: Thresholds) -> dict[str, tuple[float, float]]:
    return {
        "waiting": (5.0, 10.0),
        "longest_wait_seconds": (target.service_level_seconds, 3 * target.service_level_seconds),
        "service_level_percent": (
            target.service_level_percent,
            max(0.0, target.service_level_percent - 10.0),
        ),
        "abandon_rate_percent": (5.0, 10.0),
    }


def alert_levels(
    figures: Mapping[str, float | None], target: Thresholds, configured: Mapping[str, Any]
) -> AlertLevels:
    limits = _default_alerts(target)
    for key, value in (configured or {}).items():
        if value is not None and key in limits:
            limits[key] = (float(value[0]), float(value[1]))
    found = {key: metrics.level(figures.get(key), *limits[key]) for key in limits}
    return AlertLevels(**found)


def activity(state: str, contacts: Sequence[Mapping[str, Any]]) -> str:
    """What an agent does now: busy (any contact ringing or connected), wrap_up (only
    wrap-ups), ready (idle), not_ready or offline."""
    states = {c["state"] for c in contacts}
    if states & {"offered", "connected"}:
        return "busy"
    if "wrap_up" in states:
        return "wrap_up"
    return "ready" if state == "ready" else state


class Directory(Protocol):
    """Names the board shows: user ids to names and usernames."""

    def name(self, agent_id: str) -> str | None: ...

    def team(self, agent_id: str) -> str | None: ...


def _series(
    records: Sequence[ContactRecord],
    thresholds: Callable[[str], Thresholds],
    *,
    now: float,
    hours: float,
    step: float,
    queue: str,
) -> QueueSeries:
    arrivals = sorted(r.queued_at for r in records)
    departures = sorted(
        left
        for r in records
        if (left := r.answered_at if r.answered_at is not None else r.ended_at) is not None
    )
    count = max(1, int(hours * 3600 // step))
    moments = [now - step * k for k in range(count, -1, -1)]
    tallies = [Tally() for _ in moments]
    for record in records:
        # Counted in the step that ends at the first moment at or after its queueing.
        slot = bisect_right(moments, record.queued_at - 1e-9)
        if slot < len(moments) and record.queued_at > moments[0] - step:
            tallies[slot].add(record, thresholds(record.queue))
    points = [
        SeriesPoint(
            at=round(at, 3),
            waiting=bisect_right(arrivals, at) - bisect_right(departures, at),
            service_level_percent=tally.service_level_percent,
        )
        for at, tally in zip(moments, tallies, strict=True)
    ]
    return QueueSeries(queue=queue, step_seconds=step, points=points)


@dataclasses.dataclass(frozen=True, slots=True)
class History:
    """What the board takes from the stored contacts (docs/metrics.md), per queue and
    channel: today's and the rolling window's tallies, arrivals in the last hour; per
    agent today's tally; and the charts. Computed at most every ``history_seconds``."""

    at: float
    today: dict[tuple[str, str], Tally]
    recent: dict[tuple[str, str], Tally]
    last_hour: dict[tuple[str, str], int]
    by_agent: dict[str, Tally]
    series: list[QueueSeries]


def day_start_of(now: float, zone: ZoneInfo) -> float:
    local = datetime.datetime.fromtimestamp(now, zone)
    return datetime.datetime.combine(local.date(), datetime.time(), tzinfo=zone).timestamp()


def summarise_history(
    records: Iterable[ContactRecord],
    *,
    now: float,
    zone: ZoneInfo,
    routing_settings: Mapping[str, Any],
    metric_settings: MetricsSettings,
    board_settings: WallboardSettings,
) -> History:
    """``records``: every contact queued since the earliest of today's start, the
    rolling window, the last hour and the charts' first point."""
    thresholds = thresholds_of(routing_settings)
    queue_settings: Mapping[str, Any] = routing_settings.get("queues") or {}
    window = float(routing_settings.get("stats_window_seconds", 1800.0))
    day_start = day_start_of(now, zone)
    limits = {queue: thresholds(queue) for queue in queue_settings}

    def tally(queue: str) -> Tally:
        return Tally(
            thresholds=limits.get(queue) or thresholds(queue),
            fcr_days=metric_settings.fcr_days,
            exclude_short_abandons=metric_settings.exclude_short_abandons,
        )

    today: dict[tuple[str, str], Tally] = {}
    recent: dict[tuple[str, str], Tally] = {}
    last_hour: dict[tuple[str, str], int] = {}
    by_agent: dict[str, Tally] = {}
    by_queue: dict[str, list[ContactRecord]] = {}
    for record in records:
        key = (record.queue, record.channel)
        by_queue.setdefault(record.queue, []).append(record)
        if record.queued_at >= day_start:
            found = today.get(key)
            if found is None:
                found = today[key] = tally(record.queue)
            found.add(record)
            if record.agent_id is not None:
                mine = by_agent.get(record.agent_id)
                if mine is None:
                    mine = by_agent[record.agent_id] = Tally()
                mine.add(record, found.thresholds)
        if record.queued_at >= now - window:
            found = recent.get(key)
            if found is None:
                found = recent[key] = tally(record.queue)
            found.add(record)
        if record.queued_at >= now - 3600.0:
            last_hour[key] = last_hour.get(key, 0) + 1
    series: list[QueueSeries] = []
    for queue in sorted(queue_settings):
        chart = _series(
            by_queue.get(queue, []),
            thresholds,
            now=now,
            hours=board_settings.series_hours,
            step=board_settings.series_step_seconds,
            queue=queue,
        )
        series.append(chart)
    return History(
        at=now,
        today=today,
        recent=recent,
        last_hour=last_hour,
        by_agent=by_agent,
        series=series,
    )


def build_board(
    *,
    now: float,
    version: int,
    zone: ZoneInfo,
    routing_settings: Mapping[str, Any],
    metric_settings: MetricsSettings,
    statistics: Mapping[str, Any],
    floor: Mapping[str, Any],
    history: History,
    directory: Directory,
    customer_names: Mapping[str, str],
) -> BoardView:
    """The board from the router's state (``statistics``, ``floor``) and the stored
    contacts' ``history``."""
    thresholds = thresholds_of(routing_settings)
    queue_settings: Mapping[str, Any] = routing_settings.get("queues") or {}
    window = float(routing_settings.get("stats_window_seconds", 1800.0))
    local = datetime.datetime.fromtimestamp(now, zone)
    today, recent, last_hour, by_agent = (
        history.today,
        history.recent,
        history.last_hour,
        history.by_agent,
    )

    def tally(queue: str) -> Tally:
        return Tally(
            thresholds=thresholds(queue),
            fcr_days=metric_settings.fcr_days,
            exclude_short_abandons=metric_settings.exclude_short_abandons,
        )

    counts: dict[str, dict[str, int]] = {q: dict.fromkeys(ACTIVITIES, 0) for q in queue_settings}
    agents: list[AgentFigures] = []
    for agent in floor.get("agents", ()):
        agent_id = str(agent["agent_id"])
        held = list(agent.get("contacts", ()))
        doing = activity(str(agent["state"]), held)
        if doing != "offline":
            for queue in agent.get("queues", ()):
                if queue in counts:
                    counts[queue][doing] += 1
        handled = by_agent.get(agent_id)
        if doing == "offline" and not held and handled is None:
            continue
        agents.append(
            AgentFigures(
                agent_id=agent_id,
                user_id=int(agent_id) if agent_id.isdigit() else None,
                name=directory.name(agent_id) or str(agent.get("name") or agent_id),
                state=str(agent["state"]),
                activity=doing,
                reason=agent.get("reason"),
                state_seconds=float(agent.get("state_seconds") or 0.0),
                contacts=[
                    BoardContact(
                        contact_id=c["contact_id"],
                        channel=c["channel"],
                        queue=c["queue"],
                        state=c["state"],
                        customer_id=c.get("customer_id"),
                        customer_name=customer_names.get(str(c.get("customer_id"))),
                        seconds=round(max(0.0, now - c["since"]), 3)
                        if c.get("since") is not None
                        else 0.0,
                    )
                    for c in held
                ],
                handled_today=handled.answered if handled else 0,
                aht_today_seconds=handled.aht_seconds if handled else None,
                queues=list(agent.get("queues", ())),
                team=directory.team(agent_id),
            )
        )
    agents.sort(key=lambda a: (a.name.casefold(), a.agent_id))

    queues: list[QueueFigures] = []
    staffing_views: list[StaffingView] = []
    live: Mapping[str, Any] = statistics.get("queues") or {}
    for queue in sorted(queue_settings):
        target = thresholds(queue)
        channels = (live.get(queue) or {}).get("channels") or {}
        configured = queue_settings[queue].get("channels") or list(channels)
        agent_counts = AgentCounts(**counts.get(queue, dict.fromkeys(ACTIVITIES, 0)))
        for channel in [c for c in ("voice", "chat", "email") if c in configured]:
            view = channels.get(channel) or {}
            day = today.get((queue, channel)) or tally(queue)
            rolling = recent.get((queue, channel)) or tally(queue)
            waiting = int(view.get("waiting", 0))
            longest = float(view.get("longest_wait_seconds", 0.0))
            figures: dict[str, float | None] = {
                "waiting": waiting,
                "longest_wait_seconds": longest,
                "service_level_percent": day.service_level_percent,
                "abandon_rate_percent": day.abandon_rate_percent,
            }
            queues.append(
                QueueFigures(
                    queue=queue,
                    channel=channel,
                    waiting=waiting,
                    longest_wait_seconds=longest,
                    offered=day.offered,
                    answered=day.answered,
                    abandoned=day.abandoned,
                    short_abandoned=day.short_abandoned,
                    service_level_percent=day.service_level_percent,
                    service_level_window_percent=rolling.service_level_percent,
                    abandon_rate_percent=day.abandon_rate_percent,
                    asa_seconds=day.asa_seconds,
                    aht_seconds=day.aht_seconds,
                    target=QueueTargets(
                        service_level_percent=target.service_level_percent,
                        service_level_seconds=target.service_level_seconds,
                        short_abandon_seconds=target.short_abandon_seconds,
                    ),
                    agents=agent_counts,
                    levels=alert_levels(figures, target, queue_settings[queue].get("alerts") or {}),
                )
            )
            if channel == "voice":
                aht = day.aht_seconds if day.aht_seconds is not None else rolling.aht_seconds
                agents_now = agent_counts.ready + agent_counts.busy + agent_counts.wrap_up
                staffing_views.append(
                    staffing_view(
                        queue,
                        rate_per_hour=float(last_hour.get((queue, channel), 0)),
                        aht_seconds=aht,
                        target=target,
                        agents_now=agents_now,
                        patience=day.patience_seconds,
                    )
                )

    return BoardView(
        at=round(now, 3),
        version=version,
        day=local.date().isoformat(),
        timezone=zone.key,
        window_seconds=window,
        queues=queues,
        agents=agents,
        series=history.series,
        staffing=staffing_views,
    )


def staffing_view(
    queue: str,
    *,
    rate_per_hour: float,
    aht_seconds: float | None,
    target: Thresholds,
    agents_now: int,
    channel: str = "voice",
    patience: float | None = None,
) -> StaffingView:
    """Agents needed for ``target`` at the load, beside the agents now: Erlang A when
    the callers' ``patience`` is known, else Erlang C (contact_center/staffing.py)."""
    needed: int | None = None
    now_level: float | None = None
    abandon_now: float | None = None
    model: str | None = None
    if aht_seconds is not None and aht_seconds > 0 and rate_per_hour > 0:
        if patience is not None:
            model = "erlang-a"
            needed = staffing.agents_needed_with_abandons(
                rate_per_hour=rate_per_hour,
                aht_seconds=aht_seconds,
                patience=patience,
                target_percent=target.service_level_percent,
                target_seconds=target.service_level_seconds,
            )
            if agents_now > 0:
                judged = staffing.evaluate_with_abandons(
                    agents_now,
                    rate_per_hour=rate_per_hour,
                    aht_seconds=aht_seconds,
                    patience=patience,
                    target_seconds=target.service_level_seconds,
                )
                now_level, abandon_now = judged.service_level_percent, judged.abandon_percent
            else:
                now_level, abandon_now = 0.0, 100.0
        else:
            model = "erlang-c"
            needed = staffing.agents_needed(
                rate_per_hour=rate_per_hour,
                aht_seconds=aht_seconds,
                target_percent=target.service_level_percent,
                target_seconds=target.service_level_seconds,
            )
            now_level = 0.0
            if agents_now > 0:
                now_level = staffing.evaluate(
                    agents_now,
                    rate_per_hour=rate_per_hour,
                    aht_seconds=aht_seconds,
                    target_seconds=target.service_level_seconds,
                ).service_level_percent
    return StaffingView(
        queue=queue,
        channel=channel,
        arrival_rate_per_hour=round(rate_per_hour, 3),
        aht_seconds=aht_seconds,
        target_service_level=target.service_level_percent,
        target_seconds=target.service_level_seconds,
        agents_now=agents_now,
        agents_needed=needed,
        service_level_now_percent=now_level,
        model=model,
        patience_seconds=None if patience is None else round(patience, 1),
        abandon_now_percent=abandon_now,
    )


# -- the service ----------------------------------------------------------------------


class _Names:
    def __init__(self, names: dict[str, str], teams: dict[str, str]) -> None:
        self._names = names
        self._teams = teams

    def name(self, agent_id: str) -> str | None:
        return self._names.get(agent_id)

    def team(self, agent_id: str) -> str | None:
        return self._teams.get(agent_id)


class Wallboard:
    """Computes (when holding the lease) and keeps the current board on this node."""

    def __init__(
        self,
        services: Any,
        *,
        lease: Lease | None = None,
        node: str | None = None,
    ) -> None:
        self.services = services
        self.node = node or secrets.token_hex(4)
        self.lease: Lease = lease or SoleNode()
        self.settings: WallboardSettings = services.settings.wallboard
        self.current: BoardView | None = None
        self.version = 0
        self.computed = 0
        self.failed = 0
        # How long the last boards took to compute (for /status and the benchmark).
        self.compute_ms: collections.deque[float] = collections.deque(maxlen=1000)
        # Called with each board heard on the bus (the hub's notifier sends it on).
        self.listeners: list[Callable[[BoardView], None]] = []
        # Whether a tab on this node watches the board (set by the hub). Nobody watching
        # anywhere: nothing is computed.
        self.watched: Callable[[], bool] = lambda: False
        self._dirty = asyncio.Event()
        self._subscription: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._names: _Names | None = None
        self._names_at = -1e18
        self._heard = asyncio.Condition()
        # Stored contacts already read (closed ones do not change) and the open ones.
        self._cache: dict[int, ContactRecord] = {}
        self._open: set[int] = set()
        self._last_id = 0
        self._history: History | None = None

    async def start(self) -> None:
        if self._tasks:
            return
        bus = self.services.bus
        self._subscription = bus.subscribe([*WATCHED, WallboardUpdated.name], maxsize=100_000)
        self._tasks = [
            asyncio.create_task(self._listen(self._subscription), name="wallboard-listen"),
            asyncio.create_task(self._compute_forever(), name="wallboard-compute"),
        ]
        self._dirty.set()

    async def stop(self) -> None:
        if self._subscription is not None:
            self.services.bus.unsubscribe(self._subscription)
            self._subscription = None
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.lease.release()

    async def _listen(self, subscription: Any) -> None:
        async for event in subscription:
            if isinstance(event, WallboardUpdated):
                self._heard_board(event.board)
            else:
                self._dirty.set()

    def _heard_board(self, board: BoardView) -> None:
        if self.current is not None and board.at < self.current.at:
            return  # an older board from a node that just lost the lease
        self.current = board
        for listener in list(self.listeners):
            try:
                listener(board)
            except Exception:
                log.exception("wallboard: a listener failed")
        asyncio.get_running_loop().create_task(self._announce())

    async def _announce(self) -> None:
        async with self._heard:
            self._heard.notify_all()

    async def wait_for(self, condition: Callable[[BoardView], bool], timeout: float) -> BoardView:
        """The first board (current or coming) for which ``condition`` holds."""
        async with asyncio.timeout(timeout), self._heard:
            await self._heard.wait_for(lambda: self.current is not None and condition(self.current))
        assert self.current is not None
        return self.current

    async def _compute_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self.settings.refresh_seconds)
            self._dirty.clear()
            began = loop.time()
            try:
                if await self.lease.wanted(self.watched()) and await self.lease.hold():
                    await self.publish()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failed += 1
                log.exception("wallboard: could not compute the board; trying again")
            # Coalesce: what happens meanwhile makes the next board, push_seconds after
            # this one began.
            await asyncio.sleep(max(0.0, began + self.settings.push_seconds - loop.time()))

    async def publish(self) -> BoardView:
        """Compute a board now and send it to every node (this one included)."""
        begun = time.perf_counter()
        board = await self.compute()
        self.compute_ms.append((time.perf_counter() - begun) * 1000)
        event = WallboardUpdated(at=board.at, node=self.node, board=board)
        await self.services.bus.publish([event])
        return board

    async def compute(self) -> BoardView:
        services = self.services
        now = services.clock()
        routing_settings: Mapping[str, Any] = services.settings.routing
        zone = ZoneInfo(str(routing_settings.get("timezone", "UTC")))
        day_start = day_start_of(now, zone)
        window = float(routing_settings.get("stats_window_seconds", 1800.0))
        since = min(
            day_start,
            now - window,
            now - self.settings.series_hours * 3600 - self.settings.series_step_seconds,
            now - 3600.0,
        )
        statistics: Mapping[str, Any] = {}
        floor: Mapping[str, Any] = {}
        if services.routing is not None:
            statistics = await services.routing.statistics()
            floor = await services.routing.describe_floor()
        history = self._history
        if (
            history is None
            or now - history.at >= self.settings.history_seconds
            or (day_start_of(now, zone) != day_start_of(history.at, zone))
        ):
            records = await self._records(since)
            history = self._history = summarise_history(
                records,
                now=now,
                zone=zone,
                routing_settings=routing_settings,
                metric_settings=services.settings.metrics,
                board_settings=self.settings,
            )
        directory = await self._directory(now)
        held = {
            str(c["customer_id"])
            for a in floor.get("agents", ())
            for c in a.get("contacts", ())
            if c.get("customer_id") is not None and str(c["customer_id"]).isdigit()
        }
        names = await self._customer_names(held)
        self.version += 1
        self.computed += 1
        return build_board(
            now=now,
            version=self.version,
            zone=zone,
            routing_settings=routing_settings,
            metric_settings=services.settings.metrics,
            statistics=statistics,
            floor=floor,
            history=history,
            directory=directory,
            customer_names=names,
        )

    async def _records(self, since: float) -> list[ContactRecord]:
        """The stored contacts queued since ``since``: closed ones kept from earlier
        looks, new and open ones read again (contact_reports.load_changed_records)."""
        changed = await load_changed_records(
            self.services.engine, since, after_id=self._last_id, again=self._open
        )
        self._open = set()
        for row_id, still_open, record in changed:
            self._cache[row_id] = record
            self._last_id = max(self._last_id, row_id)
            if still_open:
                self._open.add(row_id)
        for row_id in [k for k, r in self._cache.items() if r.queued_at < since]:
            del self._cache[row_id]
        return list(self._cache.values())

    async def _directory(self, now: float) -> _Names:
        if self._names is None or now - self._names_at > NAMES_SECONDS:
            users = await self.services.accounts.list_users(include_disabled=True)
            by_username = {u.username: str(u.id) for u in users}
            teams: dict[str, str] = {}
            for team, members in self.settings.teams.items():
                for username in members:
                    if username in by_username:
                        teams.setdefault(by_username[username], team)
            self._names = _Names({str(u.id): u.display_name for u in users}, teams)
            self._names_at = now
        return self._names

    async def _customer_names(self, ids: Iterable[str]) -> dict[str, str]:
        wanted = sorted({int(i) for i in ids})
        if not wanted:
            return {}
        async with self.services.engine.connect() as conn:
            rows = await conn.execute(
                select(customers.c.id, customers.c.display_name).where(customers.c.id.in_(wanted))
            )
            return {str(row.id): row.display_name for row in rows}

    def poke(self) -> None:
        """Someone started watching: a board soon, even without events."""
        self._dirty.set()

    async def board(self) -> BoardView:
        """The current board; computed here when the last one heard is older than
        ``refresh_seconds`` (nobody watches, so nobody computes)."""
        now = self.services.clock()
        current = self.current
        if current is not None and now - current.at <= self.settings.refresh_seconds:
            return current
        return await self.compute()

    def health(self) -> dict[str, Any]:
        return {
            "ok": True,
            "computed": self.computed,
            "failed": self.failed,
            "version": self.current.version if self.current else None,
            "compute_ms_max": round(max(self.compute_ms), 1) if self.compute_ms else None,
            "at": self.current.at if self.current else None,
        }
