"""In-memory router state: one process, the default and the demo.

Commands are applied one at a time to a :class:`RoutingEngine`; after each, waiting
contacts are written to the :class:`WaitingContactStore` (so a restart re-queues them)
and the events are published. A timer task fires offer timeouts, overflow rings,
sticky windows, wrap-ups and max waits when they fall due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

from contact_center.errors import AppError
from routing.backends.base import CommandResult
from routing.commands import Command, FireTimers
from routing.commands import fires_timers_first as _fires_first
from routing.engine import Changes, Outcome, RoutingEngine
from routing.model import ContactState, RoutingConfig
from routing.ports import WAITING_STATES, EventSink, WaitingContact, WaitingContactStore

log = logging.getLogger(__name__)


class MemoryRouterBackend:
    def __init__(
        self,
        config: RoutingConfig,
        *,
        sink: EventSink,
        store: WaitingContactStore | None = None,
        clock: Callable[[], float] = time.time,
        run_timers: bool = True,
    ) -> None:
        self.engine = RoutingEngine(config)
        self._sink = sink
        self._store = store
        self._clock = clock
        self._run_timers = run_timers
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        # The deadline the timer task sleeps until: commands wake it only when they
        # arm an earlier one (waking it on every command costs an event-loop round).
        self._sleeping_until = math.inf
        self._timer_task: asyncio.Task[None] | None = None
        self._saved: set[str] = set()
        # The last unexpected engine error (a bug): shown by health(), never cleared.
        self._failure = ""
        # Store writes that failed: retried after the next command.
        self._unsaved: dict[str, WaitingContact | None] = {}

    async def start(self) -> None:
        """Re-queue every contact the store kept (oldest first), then start the timers."""
        if self._store is not None:
            for waiting in await self._store.load_all():
                try:
                    await self.execute(waiting.to_command())
                except Exception:
                    log.exception("could not re-queue stored contact %s", waiting.contact_id)
        if self._run_timers and self._timer_task is None:
            self._timer_task = asyncio.create_task(self._timer_loop(), name="routing-timers")

    async def close(self) -> None:
        if self._timer_task is not None:
            self._timer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer_task
            self._timer_task = None

    async def execute(self, command: Command) -> CommandResult:
        async with self._lock:
            now = self._clock()
            if _fires_first(command) and self.engine.timers_due(now):
                await self._apply(FireTimers(), now)
            outcome = await self._apply(command, now)
        deadline = self.engine.next_deadline()
        if deadline is not None and deadline < self._sleeping_until:
            self._wake.set()
        return CommandResult(events=tuple(outcome.events), value=outcome.value)

    async def health(self) -> dict[str, Any]:
        # After an unexpected engine error the router keeps serving, but its state may
        # be inconsistent: /status says so until the process is restarted.
        return {
            "ok": not self._failure,
            "backend": "memory",
            "contacts": sum(1 for _ in self.engine.contacts()),
            "agents": sum(1 for _ in self.engine.agents()),
            "error": self._failure,
        }

    async def _apply(self, command: Command, now: float) -> Outcome:
        try:
            outcome = self.engine.execute(command, now)
        except AppError:
            raise
        except Exception as exc:
            log.exception("routing engine failed on %r", command)
            self._failure = f"{type(exc).__name__}: {exc} (restart the service)"
            raise
        if self._store is None:
            self.engine.discard_changes()
        else:
            await self._persist(self.engine.take_changes())
        if outcome.events:
            await self._sink.publish(outcome.events)
        return outcome

    async def _persist(self, changes: Changes) -> None:
        assert self._store is not None
        pending = self._unsaved
        self._unsaved = {}
        for cid, record in changes.contacts.items():
            if ContactState(record["state"]) in WAITING_STATES:
                pending[cid] = WaitingContact.from_record(record)
            elif cid in self._saved:
                pending[cid] = None
        for cid in changes.removed_contacts:
            if cid in self._saved or cid in pending:
                pending[cid] = None
        for cid, waiting in pending.items():
            try:
                if waiting is None:
                    await self._store.remove(cid)
                    self._saved.discard(cid)
                else:
                    await self._store.save(waiting)
                    self._saved.add(cid)
            except Exception:
                # The routing decision stands; the store catches up on the next command.
                log.exception("waiting-contact store failed for %s; will retry", cid)
                self._unsaved[cid] = waiting

    async def _timer_loop(self) -> None:
        while True:
            deadline = self.engine.next_deadline()
            delay = None if deadline is None else max(0.0, deadline - self._clock())
            self._wake.clear()
            self._sleeping_until = math.inf if deadline is None else deadline
            if delay is None or delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                continue
            try:
                await self.execute(FireTimers())
            except Exception:
                log.exception("firing routing timers failed")
