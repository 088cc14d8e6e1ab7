"""Contact history: router and telephony events written to the profile store and the log.

Every contact the router handles becomes one interaction on the customer's
timeline: queued, offered, answered (with the agent), transferred, ended,
abandoned; telephony adds the Asterisk call id, who hung up, and recording files.
At the first resync of an Asterisk server the recorder closes the interactions an
earlier run left open for calls that are no longer waiting there.

The recorder is an event sink placed on the node that produced the events (not a
bus subscriber, which on Redis would run on every node). ``publish`` only queues:
the router's decisions never wait on the database. A background task writes in
order and logs, rather than loses, anything it cannot apply.

:class:`ContactLifeLog` is the other sink here: one INFO line per step of each
contact's life (ids, queue, agent, durations; never the customer's personal data).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from contact_center.domain.events import DomainEvent
from contact_center.errors import AppError
from contact_center.store.profiles import ProfileStore
from contact_center.store.schema import interactions

log = logging.getLogger(__name__)


def agent_user_id(agent_id: object) -> int | None:
    """Router agent ids are user ids as text; anything else has no user row."""
    text = str(agent_id) if agent_id is not None else ""
    return int(text) if text.isdigit() else None


class InteractionRecorder:
    def __init__(
        self, profiles: ProfileStore, *, voice_prefix: str = "call-", max_pending: int = 100_000
    ) -> None:
        # Voice contact ids are the telephony call id behind this prefix (the assembly
        # passes the CTI's), so call events find their interaction.
        self.voice_prefix = voice_prefix
        self.profiles = profiles
        self._queue: asyncio.Queue[DomainEvent] = asyncio.Queue(max_pending)
        self._task: asyncio.Task[None] | None = None
        # Calls on hold now: call id -> when the hold began.
        self._held_since: dict[str, float] = {}
        self.applied = 0
        self.failed = 0
        self.overflowed = 0
        self._idle = asyncio.Event()
        self._idle.set()

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if not event.name.startswith(("contact.", "call.", "telephony.resynced")):
                continue
            try:
                self._queue.put_nowait(event)
                self._idle.clear()
            except asyncio.QueueFull:
                self.overflowed += 1
                log.error("history: backlog full, %s for %s not recorded", event.name, event)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="interaction-recorder")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        await self.wait_idle(timeout=10)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_idle(self, timeout: float = 5.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self.apply(event)
                self.applied += 1
            except AppError as exc:
                self.failed += 1
                log.warning(
                    "history: %s not recorded: %s (%s)", event.name, exc.message, exc.error_id
                )
            except Exception:
                self.failed += 1
                log.exception("history: %s not recorded", event.name)
            finally:
                if self._queue.empty():
                    self._idle.set()

    async def apply(self, event: DomainEvent) -> None:
        data: dict[str, Any] = event.to_dict()
        name = event.name
        if name == "contact.queued":
            await self._queued(data)
        elif name == "contact.offered":
            await self._with_agent(data, {"offered_at": data["at"]})
        elif name == "contact.connected":
            await self._with_agent(data, {"answered_at": data["at"]})
        elif name == "contact.transferred":
            await self.profiles.update_contact(data["contact_id"], {"queue": data["queue"]})
        elif name == "contact.abandoned":
            await self.profiles.update_contact(
                data["contact_id"],
                {"ended_at": data["at"], "status": "closed", "disposition": "abandoned"},
                add_refs={"end_reason": data["reason"]},
            )
        elif name == "contact.closed":
            found = await self.profiles.interaction_for_contact(data["contact_id"])
            if found is not None and found["status"] != "closed":
                await self.profiles.update_interaction(
                    found["id"], {"ended_at": found["ended_at"] or data["at"], "status": "closed"}
                )
        elif name == "contact.wrap_up_started":
            await self._conversation_ended(data)
        elif name == "contact.wrap_up_ended":
            await self.profiles.update_contact(data["contact_id"], {"wrap_up_ended_at": data["at"]})
        elif name == "call.held":
            self._held_since[data["call_id"]] = data["at"]
        elif name == "call.resumed":
            await self._hold_ended(data["call_id"], data["at"])
        elif name in ("call.recording_started",):
            await self.profiles.update_contact(
                self.voice_prefix + data["call_id"], {}, add_refs={"recordings": data["file"]}
            )
        elif name == "call.hung_up":
            await self._hold_ended(data["call_id"], data["at"])
            contact_id = self.voice_prefix + data["call_id"]
            found = await self.profiles.interaction_for_contact(contact_id)
            if found is None:
                return
            # Asterisk stamps this event with its own clock: never let it put the end
            # before a moment our clock recorded.
            earlier = [
                found[k]
                for k in ("started_at", "queued_at", "offered_at", "answered_at")
                if found[k] is not None
            ]
            await self.profiles.update_contact(
                contact_id,
                {"ended_at": max([data["at"], *earlier])},
                add_refs={"hangup": f"{data['hung_up_by']}:{data['cause_text']}"},
            )
        elif name == "telephony.resynced" and data["first"]:
            await self._close_earlier_run(data)

    async def _close_earlier_run(self, data: dict[str, Any]) -> None:
        """Close the interactions an earlier run left open for this server's calls.

        Before its first resync no call of the server has been routed in this run, so
        an open interaction of one belongs to an earlier run; the router no longer has
        it (only waiting contacts outlive a restart, and those still waiting are back
        in their queue), so no event would ever close it.
        """
        prefix = f"{self.voice_prefix}{data['server']}:"
        waiting, live = set(data["waiting_call_ids"]), set(data["live_call_ids"])
        # A query of its own: the profile store has no "open interactions by prefix" yet.
        async with self.profiles.engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        select(
                            interactions.c.contact_id,
                            interactions.c.started_at,
                            interactions.c.queued_at,
                            interactions.c.offered_at,
                            interactions.c.answered_at,
                            interactions.c.ended_at,
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
            await self.profiles.update_contact(
                row["contact_id"], changes, add_refs={"end_reason": reason}
            )
            closed += 1
        if closed:
            log.info(
                "history: closed %d interaction(s) an earlier run left open on %s",
                closed,
                data["server"],
            )

    async def _conversation_ended(self, data: dict[str, Any]) -> None:
        """Wrap-up starts when the conversation ends: the end of talk for handle time
        (a call's own end, from call.hung_up, is kept when it came first)."""
        found = await self.profiles.interaction_for_contact(data["contact_id"])
        if found is not None and found["ended_at"] is None:
            await self.profiles.update_interaction(found["id"], {"ended_at": data["at"]})

    async def _hold_ended(self, call_id: str, at: float) -> None:
        """Add a finished hold (call.held .. call.resumed or the hang-up) to the call's
        hold time (docs/metrics.md: part of the handle time)."""
        since = self._held_since.pop(call_id, None)
        if since is None:
            return
        async with self.profiles.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(interactions.c.id, interactions.c.hold_seconds).where(
                        interactions.c.contact_id == self.voice_prefix + call_id
                    )
                )
            ).first()
        if row is None:
            return
        held = float(row.hold_seconds or 0.0) + max(0.0, at - since)
        await self.profiles.update_interaction(row.id, {"hold_seconds": round(held, 3)})

    async def _with_agent(self, data: dict[str, Any], changes: dict[str, Any]) -> None:
        user_id = agent_user_id(data["agent_id"])
        try:
            await self.profiles.update_contact(data["contact_id"], {**changes, "agent_id": user_id})
        except IntegrityError:
            # An agent id that is no user (configured by hand): keep the times anyway.
            log.warning(
                "history: agent %s is not a user; %s kept without agent",
                data["agent_id"],
                data["contact_id"],
            )
            await self.profiles.update_contact(data["contact_id"], changes)

    async def _queued(self, data: dict[str, Any]) -> None:
        contact_id = data["contact_id"]
        if data.get("reason", "arrived") != "arrived" or not data.get("customer_id"):
            # Re-queued (declined, transferred, recovered) contacts already have their row;
            # a contact with no known customer has no timeline to go on.
            return
        if await self.profiles.interaction_for_contact(contact_id) is not None:
            return
        external: dict[str, str] = {"contact_id": contact_id}
        if contact_id.startswith(self.voice_prefix):
            external["asterisk_call"] = contact_id[len(self.voice_prefix) :]
        interaction = await self.profiles.start_interaction(
            int(data["customer_id"]),
            channel=str(data["channel"]),
            contact_id=contact_id,
            queue=data["queue"],
            external_ids=external,
            started_at=data["at"],
        )
        await self.profiles.update_interaction(interaction["id"], {"queued_at": data["at"]})

    def health(self) -> dict[str, Any]:
        return {
            "ok": self.overflowed == 0,
            "pending": self._queue.qsize(),
            "applied": self.applied,
            "failed": self.failed,
            "overflowed": self.overflowed,
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
