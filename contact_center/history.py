"""Contact history: router and telephony events written to the profile store and the log.

Every contact the router handles becomes one interaction on the customer's
timeline: queued, offered, answered (with the agent), transferred, ended,
abandoned; telephony adds the Asterisk call id, who hung up, and recording files.
At the first resync of an Asterisk server the recorder closes the interactions an
earlier run left open for calls that are no longer waiting there.

A caller never seen before is routed before its provisional customer exists (cti): its
events wait here (``contact.queued`` without a customer, then whatever follows) until
``contact.customer_identified`` names the customer, and are then written in order.

The recorder is an event sink placed on the node that produced the events (not a
bus subscriber, which on Redis would run on every node). ``publish`` never waits: the
router's decisions do not wait on the database. A background task writes in order,
one statement per event (:mod:`contact_center.history_sql`), the events queued
together in one transaction. It never drops an event: past ``max_pending`` events in
memory the rest wait in a spill file on disk (late, not lost) and are written once the
database catches up; a database that cannot be reached is retried, not given up on.
Its health reports the present: a backlog on disk or a failing database now is a
problem; a flood in the past is only a counter (``late``).

:class:`ContactLifeLog` is the other sink here: one INFO line per step of each
contact's life (ids, queue, agent, durations; never the customer's personal data).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from contact_center.domain.events import DomainEvent, decode_event, encode_event
from contact_center.history_sql import HistoryStatements
from contact_center.outside_text import one_line
from contact_center.store.profiles import ProfileStore
from contact_center.store.schema import interactions

log = logging.getLogger(__name__)

# Events written in one transaction at most (those queued together).
BATCH_SIZE = 200
# Events kept in memory; past this the rest wait on disk.
DEFAULT_MAX_PENDING = 10_000
# Retry delays while the database cannot be reached (doubling up to the maximum).
RETRY_FIRST_SECONDS = 0.1
RETRY_MAX_SECONDS = 5.0
# Contacts whose events wait for their customer (most wait milliseconds); beyond this the
# oldest are dropped: a contact that is never identified (an anonymous caller) leaves none.
MAX_UNIDENTIFIED = 1000
# Events whose name starts with one of these go on the timeline.
_RECORDED = ("contact.", "call.", "telephony.resynced")


def _transient(exc: BaseException) -> bool:
    """A database that cannot be reached or is busy (retry), not a bad event (skip)."""
    if isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class EventSpill:
    """Events waiting on disk, first in first out: an anonymous temporary file (gone
    with the process) of one JSON line per event, emptied each time it is read to the
    end."""

    def __init__(self, directory: str | None = None) -> None:
        self._directory = directory
        self._file: IO[bytes] | None = None
        self._read_at = 0
        self.count = 0

    def append(self, event: DomainEvent) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(dir=self._directory)  # noqa: SIM115
        self._file.seek(0, os.SEEK_END)
        self._file.write(encode_event(event) + b"\n")
        self.count += 1

    def take(self, limit: int) -> list[DomainEvent]:
        if self._file is None or not self.count:
            return []
        self._file.seek(self._read_at)
        lines = [self._file.readline() for _ in range(min(limit, self.count))]
        self._read_at = self._file.tell()
        self.count -= len(lines)
        if not self.count:
            self._file.seek(0)
            self._file.truncate()
            self._read_at = 0
        return [decode_event(line) for line in lines]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.count = 0


class InteractionRecorder:
    def __init__(
        self,
        profiles: ProfileStore,
        *,
        voice_prefix: str = "call-",
        max_pending: int = DEFAULT_MAX_PENDING,
        batch_size: int = BATCH_SIZE,
        spill_directory: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        # Voice contact ids are the telephony call id behind this prefix (the assembly
        # passes the CTI's), so call events find their interaction.
        self.voice_prefix = voice_prefix
        self.profiles = profiles
        self.max_pending = max_pending
        self.batch_size = batch_size
        self._statements = HistoryStatements(
            profiles.engine.dialect.name,
            voice_prefix=voice_prefix,
            repeat_window_seconds=profiles.value_settings.repeat_contact_days * 86_400,
        )
        self._memory: collections.deque[DomainEvent] = collections.deque()
        self._spill = EventSpill(spill_directory)
        self._monotonic = monotonic
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writing = 0  # events taken from the backlog and not yet written
        self.applied = 0
        self.failed = 0
        self.late = 0  # events that waited on disk (all written later, none lost)
        self.batches = 0
        self.retrying_since: float | None = None
        self.last_error = ""
        # Contact id -> its events (name, fields) until its customer is identified.
        self._unidentified: collections.OrderedDict[str, list[tuple[str, dict[str, Any]]]] = (
            collections.OrderedDict()
        )

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        """Queue events for writing; never waits (the router's path calls this)."""
        for event in events:
            if not event.name.startswith(_RECORDED):
                continue
            if self._spill.count or len(self._memory) >= self.max_pending:
                if not self._spill.count:
                    log.warning(
                        "history: more than %d events waiting for the database; the next "
                        "ones wait on disk and are written late, not lost",
                        self.max_pending,
                    )
                self._spill.append(event)
                self.late += 1
            else:
                self._memory.append(event)
            self._idle.clear()
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._memory) + self._spill.count + self._writing

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="interaction-recorder")

    async def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued (up to ``timeout``), then stop."""
        await self.wait_idle(timeout=timeout)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.pending:
            log.error(
                "history: stopped with %d event(s) not written (the database did not "
                "catch up within %.0f s)",
                self.pending,
                timeout,
            )
        self._spill.close()

    async def wait_idle(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    def _take(self) -> list[DomainEvent]:
        """The next batch: from memory first (older), then from disk."""
        if self._memory:
            count = min(self.batch_size, len(self._memory))
            return [self._memory.popleft() for _ in range(count)]
        batch = self._spill.take(self.batch_size)
        if batch and not self._spill.count:
            log.info("history: caught up; %d event(s) in all were written late", self.late)
        return batch

    async def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            self._writing = len(batch)
            try:
                await self._write_until_done(self._release(batch))
            finally:
                self._writing = 0

    def _release(self, batch: Sequence[DomainEvent]) -> list[tuple[str, dict[str, Any]]]:
        """The events to write now, as (name, fields), in order: those of a contact that
        waits for its customer are held, and written once ``contact.customer_identified``
        names it (with that customer)."""
        ready: list[tuple[str, dict[str, Any]]] = []
        for event in batch:
            name, data = event.name, event.to_dict()
            if name == "contact.customer_identified":
                held = self._unidentified.pop(str(data["contact_id"]), None)
                for held_name, fields in held or ():
                    if held_name.startswith("contact."):
                        fields = {**fields, "customer_id": data["customer_id"]}
                    ready.append((held_name, fields))
                continue
            waiting = self._unidentified.get(self._contact_of(name, data))
            if waiting is not None:
                waiting.append((name, data))
            elif (
                name == "contact.queued"
                and data.get("reason", "arrived") == "arrived"
                and not data.get("customer_id")
            ):
                self._unidentified[str(data["contact_id"])] = [(name, data)]
                while len(self._unidentified) > MAX_UNIDENTIFIED:
                    self._unidentified.popitem(last=False)
            else:
                ready.append((name, data))
        return ready

    def _contact_of(self, name: str, data: dict[str, Any]) -> str:
        if name.startswith("call.") and "call_id" in data:
            return self.voice_prefix + str(data["call_id"])
        return str(data.get("contact_id", ""))

    async def _write_until_done(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                await self._write(batch)
            except Exception as exc:
                if not _transient(exc):
                    await self._write_one_by_one(batch)
                    return
                if self.retrying_since is None:
                    self.retrying_since = self._monotonic()
                    log.error(
                        "history: the database cannot be written (%s); retrying, events "
                        "wait meanwhile",
                        one_line(exc),
                    )
                self.last_error = one_line(exc)
                await asyncio.sleep(delay)  # back-off before the next attempt
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            if self.retrying_since is not None:
                log.warning("history: the database can be written again")
                self.retrying_since = None
            self.applied += len(batch)
            self.batches += 1
            return

    async def _write_one_by_one(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        """A batch failed for one bad event: write each alone, skipping only those that
        fail by themselves."""
        for name, data in batch:
            try:
                await self._write([(name, data)])
                self.applied += 1
            except Exception as exc:
                if _transient(exc):
                    await self._write_until_done([(name, data)])
                    continue
                self.failed += 1
                log.warning("history: %s not recorded: %s", name, one_line(exc))

    async def _write(self, batch: list[tuple[str, dict[str, Any]]]) -> None:
        """One transaction, one statement per event (plus one for the customers of the
        contacts that arrived).

        The events are laid out in steps: an event goes one step after the previous
        event of its contact, so each contact's events keep their order while, within a
        step, the events of one kind go to the database together (``executemany``: one
        round trip for many statements).
        """
        steps: list[dict[Executable, list[dict[str, Any]]]] = []
        step_of: dict[str, int] = {}
        arrived: list[int] = []
        resyncs: list[dict[str, Any]] = []
        for name, data in batch:
            if name == "telephony.resynced":
                if data["first"]:
                    resyncs.append(data)
                continue
            found = self._statements.for_event(name, data)
            if found is None:
                continue
            statement, params = found
            key = str(params["p_contact"])
            step = step_of.get(key, -1) + 1
            step_of[key] = step
            if step == len(steps):
                steps.append({})
            steps[step].setdefault(statement, []).append(params)
            if name == "contact.queued":
                arrived.append(int(params["p_customer"]))
        async with self.profiles.engine.begin() as conn:
            # A first resync closes what an earlier run left open: before this run's
            # events, which are all about calls routed after it.
            for data in resyncs:
                await self._close_earlier_run(conn, data)
            for groups in steps:
                for statement, rows in groups.items():
                    await conn.execute(statement, rows)
            if arrived:
                await conn.execute(
                    self._statements.customers_touched(arrived, self.profiles.clock())
                )

    async def apply(self, event: DomainEvent) -> None:
        """Write one event now (tests, tools); the running recorder batches."""
        await self._write(self._release([event]))

    async def _close_earlier_run(self, conn: AsyncConnection, data: dict[str, Any]) -> None:
        """Close the interactions an earlier run left open for this server's calls.

        Before its first resync no call of the server has been routed in this run, so
        an open interaction of one belongs to an earlier run; the router no longer has
        it (only waiting contacts outlive a restart, and those still waiting are back
        in their queue), so no event would ever close it. Once per server and run.
        """
        prefix = f"{self.voice_prefix}{data['server']}:"
        waiting, live = set(data["waiting_call_ids"]), set(data["live_call_ids"])
        rows = (
            (
                await conn.execute(
                    select(
                        interactions.c.id,
                        interactions.c.contact_id,
                        interactions.c.started_at,
                        interactions.c.queued_at,
                        interactions.c.offered_at,
                        interactions.c.answered_at,
                        interactions.c.ended_at,
                        interactions.c.external_ids,
                    ).where(
                        interactions.c.status == "open",
                        interactions.c.contact_id.startswith(prefix, autoescape=True),
                    )
                )
            )
            .mappings()
            .all()
        )
        closed = 0
        for row in rows:
            call_id = row["contact_id"][len(self.voice_prefix) :]
            if call_id in waiting:
                continue  # routed again: its own events will close it
            changes: dict[str, Any] = {"status": "closed"}
            if row["answered_at"] is None:
                changes["disposition"] = "abandoned"
            if call_id not in live and row["ended_at"] is None:
                # When it really ended is unknown: the last moment anyone recorded.
                changes["ended_at"] = max(
                    row[k]
                    for k in ("started_at", "queued_at", "offered_at", "answered_at")
                    if row[k] is not None
                )
            reason = "lost-with-pbx" if call_id not in live else "interrupted-run"
            external = dict(row["external_ids"])
            listed = external.get("end_reason")
            external["end_reason"] = [*(listed if isinstance(listed, list) else []), reason]
            await conn.execute(
                interactions.update()
                .where(interactions.c.id == row["id"])
                .values(**changes, external_ids=external)
            )
            closed += 1
        if closed:
            log.info(
                "history: closed %d interaction(s) an earlier run left open on %s",
                closed,
                data["server"],
            )

    def health(self) -> dict[str, Any]:
        """The present: a backlog on disk or a database failing now is a problem; events
        written late in the past are only counted (``late``)."""
        problems = []
        if self._spill.count:
            problems.append(
                f"{self._spill.count} timeline event(s) waiting on disk: the database is "
                "behind (they are written late, not lost)"
            )
        if self.retrying_since is not None:
            problems.append(
                f"the database cannot be written for "
                f"{self._monotonic() - self.retrying_since:.0f} s, retrying: {self.last_error}"
            )
        return {
            "ok": not problems,
            "problems": problems,
            "pending": self.pending,
            "waiting_on_disk": self._spill.count,
            "applied": self.applied,
            "failed": self.failed,
            "late": self.late,
            "batches": self.batches,
        }


def _seconds(value: object) -> str:
    return f"{float(value):.1f}s" if isinstance(value, int | float) else "-"


class ContactLifeLog:
    """An event sink writing one INFO line per step of each contact's life.

    Queued, offered (to which agent), offer not answered or declined, connected,
    transferred, ended (calls: who hung up), closed, abandoned (with the reason): each
    line starts ``contact <contact id> <step>`` followed by ``key=value`` pairs of ids,
    queue and durations, so one ``grep`` shows a contact's whole life. Only ids go out:
    customers' numbers, names and addresses never reach the log.
    """

    def __init__(
        self, *, voice_prefix: str = "call-", logger: logging.Logger | None = None
    ) -> None:
        self.voice_prefix = voice_prefix
        self.log = logger or log.getChild("life")

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        if not self.log.isEnabledFor(logging.INFO):
            return
        for event in events:
            line = self._line(event.name, event.to_dict())
            if line is not None:
                self.log.info("%s", line)

    def _line(self, name: str, d: dict[str, Any]) -> str | None:
        contact = d.get("contact_id", "")
        if name == "contact.queued":
            return (
                f"contact {contact} queued queue={d['queue']} channel={d['channel']} "
                f"reason={d['reason']} priority={d['priority']}"
            )
        if name == "contact.offered":
            return (
                f"contact {contact} offered agent={d['agent_id']} queue={d['queue']} "
                f"waited={_seconds(d['waited_seconds'])} decided_by={d['decided_by']}"
            )
        if name == "contact.offer_timed_out":
            return (
                f"contact {contact} offer not answered agent={d['agent_id']} "
                f"queue={d['queue']} rang={_seconds(d['offered_seconds'])}"
            )
        if name == "contact.offer_declined":
            return f"contact {contact} offer declined agent={d['agent_id']} queue={d['queue']}"
        if name == "contact.connected":
            return (
                f"contact {contact} connected agent={d['agent_id']} queue={d['queue']} "
                f"waited={_seconds(d['waited_seconds'])}"
            )
        if name == "contact.transferred":
            return (
                f"contact {contact} transferred queue={d['queue']} from_queue={d['from_queue']} "
                f"from_agent={d['from_agent_id'] or '-'} to_agent={d['to_agent_id'] or '-'} "
                f"by={d['by']}"
            )
        if name == "call.hung_up":
            if d["direction"] != "inbound" or d["outcome"] == "abandoned":
                return None  # not a routed contact / told by contact.abandoned with its reason
            return (
                f"contact {self.voice_prefix}{d['call_id']} ended hung_up_by={d['hung_up_by']} "
                f"outcome={d['outcome']} queue={d['queue'] or '-'} "
                f"waited={_seconds(d['wait_seconds'])} talked={_seconds(d['talk_seconds'])}"
            )
        if name == "contact.wrap_up_started":
            if contact.startswith(self.voice_prefix):
                return None  # a call's end is told by call.hung_up, with who hung up
            return (
                f"contact {contact} ended agent={d['agent_id']} queue={d['queue']} "
                f"talked={_seconds(d['talk_seconds'])}"
            )
        if name == "contact.closed":
            return (
                f"contact {contact} closed agent={d['agent_id'] or '-'} queue={d['queue']} "
                f"reason={d['reason']}"
            )
        if name == "contact.abandoned":
            return (
                f"contact {contact} abandoned queue={d['queue']} "
                f"waited={_seconds(d['waited_seconds'])} reason={d['reason']} "
                f"agent={d['agent_id'] or '-'}"
            )
        return None
