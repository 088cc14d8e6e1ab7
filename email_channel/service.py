"""The email use cases: take a message in, thread it, route it; reply; set pending.

Intake (SMTP or IMAP) stores the raw message first (:meth:`EmailService.receive`), then
a worker processes it: parse (bounded), find the customer, find the thread, store the
message, open the thread in the router. A parse failure quarantines the message (the
raw stays, an administrator sees and retries it); an unexpected failure does the same:
one bad message never blocks the next. A message received but not processed (a restart,
a dead node) is picked up again from the database.

Threading, in order (docs/email.md): our signed reply token (plus-address or our own
Message-ID); In-Reply-To/References against stored Message-IDs; the subject, for the same
customer and a thread touched recently. A thread found by token or header belongs to
one customer: mail from another customer's address starts a thread of its own (linked
as related), so a shared thread never merges two customers.

Each opening of a thread (new, or the customer wrote again after it was pending or
closed) is one router contact ``email-<thread>-<opening>`` and one interaction on the
customer's timeline; it goes to its last agent first when the queue is sticky.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.exc import IntegrityError

from contact_center.accounts import Role, User
from contact_center.domain.events import DomainEvent
from contact_center.domain.identity import IdentityKind, InvalidIdentity
from contact_center.errors import AppError
from contact_center.outside_text import one_line
from contact_center.store.profiles import ProfileStore
from email_channel import store as st
from email_channel.due import due_at
from email_channel.errors import (
    NoSuchAttachment,
    NoSuchQuarantined,
    NoSuchThread,
    NothingToReplyTo,
    NotHoldingThread,
    NotYourThread,
)
from email_channel.events import EmailQuarantined, EmailReceived, EmailSent
from email_channel.loops import OutgoingKind
from email_channel.outbound import DeliveryFailed, Outbound, Refused
from email_channel.parsing import Limits, ParsedEmail, ParseRefused, display_html, parse_message
from email_channel.settings import EmailSettings
from email_channel.store import EmailStore
from email_channel.tokens import ReplyTokens
from routing.model import Channel, ContactState, CustomerContext

if TYPE_CHECKING:
    from routing.service import RoutingService

log = logging.getLogger(__name__)

CONTACT_PREFIX = "email-"
_CONTACT_ID = re.compile(r"^email-([0-9]{1,18})-([0-9]{1,9})$")
_REPLY_PREFIX = re.compile(
    r"^\s*((re|fw|fwd|aw|wg|sv|antw|回复|回覆|答复|转发|轉寄)\s*(\[\d+\])?\s*[:\uff1a]\s*)+", re.I
)
# A message claimed by a node that has not finished it after this long is taken again.
STALE_CLAIM_SECONDS = 300.0
# Messages larger than this are parsed in a worker thread, off the event loop.
_THREAD_PARSE_BYTES = 256 * 1024
_TIMELINE_CHARS = 20_000


class EventSink(Protocol):
    async def publish(self, events: Sequence[DomainEvent]) -> None: ...


def subject_key(subject: str) -> str:
    """The subject without reply/forward prefixes, lower-cased (the subject fallback)."""
    return _REPLY_PREFIX.sub("", subject).strip().lower()[:300]


def thread_of_contact_id(contact_id: str) -> int | None:
    match = _CONTACT_ID.match(contact_id)
    return int(match.group(1)) if match else None


class EmailService:
    def __init__(
        self,
        settings: EmailSettings,
        *,
        store: EmailStore,
        profiles: ProfileStore,
        outbound: Outbound,
        sink: EventSink,
        routing: RoutingService | None = None,
        node_id: str = "node",
        clock: Callable[[], float] = time.time,
        workers: int = 1,
    ) -> None:
        self.settings = settings
        self.store = store
        self.profiles = profiles
        self.outbound = outbound
        self.sink = sink
        self.routing = routing
        self.node_id = node_id
        self.clock = clock
        self.tokens = ReplyTokens(settings.secret, settings.hostname)
        self.own_addresses = frozenset(settings.addresses)
        self.limits = Limits(
            max_bytes=settings.max_message_bytes,
            max_headers=settings.max_headers,
            max_parts=settings.max_parts,
            max_depth=settings.max_depth,
            max_text_chars=settings.max_text_chars,
        )
        # Message ids to process, with the row when this node just stored (and claimed) it.
        self._work: asyncio.Queue[tuple[int, dict[str, Any] | None]] = asyncio.Queue()
        self._pending_ids: set[int] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._worker_count = workers
        self._idle = asyncio.Event()
        self._idle.set()
        self._router_events: asyncio.Queue[DomainEvent] = asyncio.Queue()
        self._router_task: asyncio.Task[None] | None = None
        self.processed = 0
        self.quarantined = 0
        # One message per sender at a time on this node: their thread is found or made
        # once (other nodes are kept apart by EmailStore.claim_opening).
        self._sender_locks: dict[str, asyncio.Lock] = {}
        self._lock_users: dict[str, int] = {}

    # -- lifetime ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the workers and pick up what an earlier run received but did not process."""
        if self._workers:
            return
        self._workers = [
            asyncio.create_task(self._worker(), name=f"email-worker-{n}")
            for n in range(self._worker_count)
        ]
        self._router_task = asyncio.create_task(self._follow_router(), name="email-router-events")
        await self.recover()

    async def stop(self) -> None:
        await self.wait_idle(10.0)
        for task in [*self._workers, *([self._router_task] if self._router_task else [])]:
            task.cancel()
        for task in [*self._workers, *([self._router_task] if self._router_task else [])]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []
        self._router_task = None

    async def recover(self) -> int:
        """Queue every message received but not processed (restart, dead node)."""
        ids = await self.store.unprocessed(self.clock(), STALE_CLAIM_SECONDS, limit=10_000)
        for inbound_id in ids:
            self.submit(inbound_id)
        if ids:
            log.info("email: %d message(s) received earlier queued for processing", len(ids))
        return len(ids)

    async def wait_idle(self, timeout: float = 5.0) -> bool:
        """Until every submitted message is processed (True) or ``timeout`` passed."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._router_events.join(), timeout)
        return True

    def health(self) -> dict[str, Any]:
        return {
            "ok": bool(self._workers) and all(not t.done() for t in self._workers),
            "pending": len(self._pending_ids),
            "processed": self.processed,
            "quarantined": self.quarantined,
        }

    # -- intake ----------------------------------------------------------------------------

    async def receive(
        self,
        raw: bytes,
        *,
        source: str,
        envelope_from: str | None = None,
        envelope_to: Sequence[str] = (),
    ) -> int:
        """Store ``raw`` (before anything reads it) and queue it for processing; its id.

        When this returns the message is safe: the SMTP intake answers 250 only then."""
        # Stored as claimed by this node, and processed from memory: no second read.
        inbound_id = await self.store.store_raw(
            raw,
            source=source,
            received_at=self.clock(),
            envelope_from=envelope_from,
            envelope_to=envelope_to,
            claimed_by=self.node_id,
        )
        row = {
            "raw": raw,
            "source": source,
            "envelope_from": envelope_from,
            "envelope_to": list(envelope_to),
            "mailbox": None,
        }
        self.submit(inbound_id, row)
        return inbound_id

    def submit(self, inbound_id: int, row: dict[str, Any] | None = None) -> None:
        """Queue a stored message; ``row``: it is claimed by this node already."""
        if inbound_id in self._pending_ids:
            return
        self._pending_ids.add(inbound_id)
        self._idle.clear()
        self._work.put_nowait((inbound_id, row))

    async def _worker(self) -> None:
        while True:
            inbound_id, claimed = await self._work.get()
            try:
                await self.process(inbound_id, claimed)
            except Exception:  # never let one message stop the intake
                log.exception("email: message %d could not be processed", inbound_id)
            finally:
                self._pending_ids.discard(inbound_id)
                if not self._pending_ids:
                    self._idle.set()

    async def process(self, inbound_id: int, claimed: dict[str, Any] | None = None) -> str | None:
        """Process one stored message (claimed first, so one node does it; ``claimed``:
        the row this node stored as claimed); its status."""
        row = claimed
        if row is None:
            if not await self.store.claim(
                inbound_id, self.node_id, self.clock(), STALE_CLAIM_SECONDS
            ):
                return None
            row = await self.store.raw_of(inbound_id)
            if row is None:
                return None
        raw: bytes = row["raw"]
        envelope_from = row["envelope_from"] if row["source"] == "smtp" else None
        try:
            if len(raw) > _THREAD_PARSE_BYTES:
                parsed = await asyncio.to_thread(
                    parse_message, raw, self.limits, return_path=envelope_from
                )
            else:
                parsed = parse_message(raw, self.limits, return_path=envelope_from)
        except ParseRefused as refused:
            await self._quarantine(inbound_id, refused.reason, refused.message)
            return st.QUARANTINED
        except Exception as exc:
            log.exception("email: parser failed on message %d", inbound_id)
            await self._quarantine(inbound_id, "parser-error", f"{type(exc).__name__}: {exc}")
            return st.QUARANTINED
        sender = parsed.from_address or ""
        lock = self._sender_locks.setdefault(sender, asyncio.Lock())
        self._lock_users[sender] = self._lock_users.get(sender, 0) + 1
        try:
            async with lock:
                status, thread_id = await self._take_in(inbound_id, row, parsed)
        except Exception as exc:
            log.exception("email: message %d could not be stored on a thread", inbound_id)
            await self._quarantine(inbound_id, "processing-error", f"{type(exc).__name__}: {exc}")
            return st.QUARANTINED
        finally:
            self._lock_users[sender] -= 1
            if not self._lock_users[sender]:
                del self._lock_users[sender], self._sender_locks[sender]
        await self.store.finish(
            inbound_id, status, self.clock(), thread_id=thread_id, reason=parsed.automatic
        )
        self.processed += 1
        return status

    async def quarantine_now(self, inbound_id: int, reason: str, message: str) -> None:
        """Quarantine a stored message without parsing it (the IMAP intake's too-large)."""
        if await self.store.claim(inbound_id, self.node_id, self.clock(), STALE_CLAIM_SECONDS):
            await self._quarantine(inbound_id, reason, message)

    async def _quarantine(self, inbound_id: int, reason: str, message: str) -> None:
        self.quarantined += 1
        text = one_line(message, 500)
        log.warning(
            "email: message %d quarantined (%s): %s; the raw message is kept, "
            "see GET /api/v1/email/quarantine",
            inbound_id,
            reason,
            text,
        )
        await self.store.finish(inbound_id, st.QUARANTINED, self.clock(), reason=reason, error=text)
        await self.sink.publish(
            [EmailQuarantined(at=self.clock(), inbound_id=inbound_id, reason=reason)]
        )

    # -- threading -------------------------------------------------------------------------

    def _our_address(self, row: dict[str, Any], parsed: ParsedEmail) -> str | None:
        """Which of our addresses the message was sent to (envelope first, then headers)."""
        candidates = [*row["envelope_to"], *parsed.to, *parsed.cc]
        if row["mailbox"]:
            for box in self.settings.imap:
                if box.name == row["mailbox"]:
                    candidates.insert(0, box.address)
        for candidate in candidates:
            local, _, domain = candidate.lower().rpartition("@")
            base = f"{local.partition('+')[0]}@{domain}"
            if base in self.own_addresses:
                return base
        return None

    def _signed_thread(self, row: dict[str, Any], parsed: ParsedEmail) -> int | None:
        for address in (*row["envelope_to"], *parsed.to, *parsed.cc):
            found = self.tokens.thread_of_address(address, self.own_addresses)
            if found is not None:
                return found
        for message_id in (*parsed.in_reply_to, *reversed(parsed.references)):
            found = self.tokens.thread_of_message_id(message_id)
            if found is not None:
                return found
        return None

    async def _customer_of(self, parsed: ParsedEmail, *, create: bool) -> int | None:
        try:
            identity = self.profiles.identity(IdentityKind.EMAIL, parsed.from_address or "")
        except InvalidIdentity:
            return None
        if not create:
            return await self.profiles.find_owner(identity)
        resolution = await self.profiles.resolve(identity, display_name=parsed.from_name or None)
        return resolution.customer_id

    async def _find_thread(
        self, row: dict[str, Any], parsed: ParsedEmail, customer_id: int | None
    ) -> tuple[dict[str, Any] | None, int | None, str]:
        """(the thread this message belongs to, a related thread of another customer,
        how it was found)."""
        related: int | None = None
        signed = self._signed_thread(row, parsed)
        if signed is not None:
            thread = await self.store.thread(signed)
            if thread is not None:
                if thread["customer_id"] == customer_id:
                    return thread, None, "token"
                related = thread["id"]
        for thread_id in await self.store.threads_of_message_ids(
            [*parsed.in_reply_to, *parsed.references]
        ):
            thread = await self.store.thread(thread_id)
            if thread is None:
                continue
            if thread["customer_id"] == customer_id:
                return thread, None, "references"
            related = related or thread["id"]
        key = subject_key(parsed.subject)
        if customer_id is not None and key and self.settings.subject_thread_days > 0:
            since = self.clock() - self.settings.subject_thread_days * 86_400
            found = await self.store.recent_thread_by_subject(customer_id, key, since)
            if found is not None:
                return await self.store.thread(found), None, "subject"
        return None, related, "new"

    async def _take_in(
        self, inbound_id: int, row: dict[str, Any], parsed: ParsedEmail
    ) -> tuple[str, int | None]:
        now = self.clock()
        address = self._our_address(row, parsed)
        if address is None:
            raise ParseRefused("not-our-address", "sent to none of our addresses")
        automatic = parsed.automatic
        customer_id = await self._customer_of(parsed, create=automatic is None)
        thread, related, how = await self._find_thread(row, parsed, customer_id)
        if automatic is not None and thread is None:
            # Automatic mail never opens a contact of its own: kept, logged, done.
            log.info(
                "email: message %d is automatic (%s) and answers no thread: kept, not routed",
                inbound_id,
                automatic,
            )
            return st.AUTOMATIC, None
        assert customer_id is not None
        queue = self.settings.queue_of(address) or ""
        reopened = False
        if thread is None:
            thread = {
                "customer_id": customer_id,
                "queue": queue,
                "address": address,
                "subject": parsed.subject or "(no subject)",
                "subject_key": subject_key(parsed.subject),
                "status": "new",
                "openings": 0,
                "related_thread_id": related,
                "created_at": now,
                "updated_at": now,
            }
            async with self.store.engine.begin() as conn:
                thread_id = await self.store.create_thread(conn, thread)
            thread.update(id=thread_id, contact_id=None, agent_id=None)
        thread_id = int(thread["id"])
        opening: dict[str, Any] | None = None
        if automatic is None and (thread["status"] != "open" or thread["contact_id"] is None):
            reopened = thread["status"] != "new"
            opening = await self._open(thread, now)
            if opening is None:  # another node opened it a moment ago
                reopened = False
                thread = await self.store.thread(thread_id) or thread
        interaction_id = (
            opening["interaction_id"] if opening else await self._interaction_of(thread)
        )
        async with self.store.engine.begin() as conn:
            message_id = await self.store.insert_message(
                conn,
                {
                    "thread_id": thread_id,
                    "interaction_id": interaction_id,
                    "inbound_id": inbound_id,
                    "direction": "inbound",
                    "kind": "customer",
                    "message_id": parsed.message_id,
                    "in_reply_to": list(parsed.in_reply_to),
                    "references": list(parsed.references),
                    "from_address": parsed.from_address,
                    "from_name": parsed.from_name,
                    "to": list(parsed.to),
                    "cc": list(parsed.cc),
                    "subject": parsed.subject,
                    "text": parsed.text,
                    "html": parsed.html,
                    "quoted_at": parsed.quoted_at,
                    "automatic": automatic,
                    "defects": list(parsed.defects),
                    "status": "received",
                    "created_at": now,
                },
                parsed.attachments,
            )
            await self.store.update_thread(thread_id, {"updated_at": now}, conn)
        if interaction_id is not None:
            await self.profiles.add_message(
                interaction_id,
                direction="inbound",
                body=parsed.text[:_TIMELINE_CHARS],
                sender=parsed.from_address,
                subject=parsed.subject,
                attachments=[
                    {
                        "filename": a.filename,
                        "type": a.detected_type or a.declared_type,
                        "size": a.size,
                    }
                    for a in parsed.attachments[:50]
                ],
                external_id=(parsed.message_id or "")[:255] or None,
                created_at=now,
            )
        contact_id = opening["contact_id"] if opening else thread["contact_id"]
        log.info(
            "email: message %d on thread %d (%s)%s",
            inbound_id,
            thread_id,
            how,
            f", contact {contact_id} opened" if opening else "",
        )
        await self.sink.publish(
            [
                EmailReceived(
                    at=now,
                    thread_id=thread_id,
                    message_id=message_id,
                    contact_id=contact_id,
                    customer_id=customer_id,
                    automatic=automatic,
                    reopened=reopened,
                )
            ]
        )
        if opening is not None and not reopened:
            await self._acknowledge(thread, parsed, automatic)
        return (st.AUTOMATIC if automatic else st.PROCESSED), thread_id

    async def _interaction_of(self, thread: dict[str, Any]) -> int | None:
        if thread["contact_id"] is None:
            return None
        found = await self.profiles.interaction_for_contact(thread["contact_id"])
        return int(found["id"]) if found else None

    async def _open(self, thread: dict[str, Any], now: float) -> dict[str, Any] | None:
        """A new opening of ``thread``: interaction, router contact (sticky to its last
        agent); None if another node opened it first."""
        thread_id = int(thread["id"])
        opening = int(thread["openings"]) + 1
        contact_id = f"{CONTACT_PREFIX}{thread_id}-{opening}"
        if not await self.store.claim_opening(thread_id, opening - 1, contact_id, now):
            return None
        interaction = await self.profiles.start_interaction(
            int(thread["customer_id"]),
            channel="email",
            contact_id=contact_id,
            queue=thread["queue"] or None,
            subject=(thread["subject"] or "")[:300],
            external_ids={"email_thread": str(thread_id)},
            started_at=now,
        )
        await self._route(thread, contact_id, now)
        return {"contact_id": contact_id, "interaction_id": int(interaction["id"])}

    async def _route(self, thread: dict[str, Any], contact_id: str, now: float) -> None:
        if self.routing is None or not thread["queue"]:
            log.warning("email: contact %s not routed (no router or no queue)", contact_id)
            return
        queue_settings = self.settings.queue_settings(thread["queue"])
        due = (
            due_at(now, queue_settings.due_business_hours, self.settings.business_hours)
            if queue_settings.due_business_hours > 0
            else None
        )
        agent = thread["agent_id"]
        customer = CustomerContext(
            customer_id=str(thread["customer_id"]),
            last_agent_id=str(agent) if agent is not None else None,
            last_served_at=now if agent is not None else None,
        )
        try:
            await self.routing.enqueue(
                contact_id, Channel.EMAIL, thread["queue"], customer, due_at=due
            )
        except AppError as exc:
            # The message is stored on its thread; an administrator fixes the queue.
            log.error(
                "email: contact %s not routed: %s (%s)", contact_id, exc.message, exc.error_id
            )

    # -- the router's events for email contacts -------------------------------------------

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        """An event sink for the router's events: follows email contacts' lives."""
        for event in events:
            contact_id = getattr(event, "contact_id", "")
            if (
                isinstance(contact_id, str)
                and contact_id.startswith(CONTACT_PREFIX)
                and event.name in ("contact.connected", "contact.closed", "contact.abandoned")
            ):
                self._router_events.put_nowait(event)

    async def _follow_router(self) -> None:
        while True:
            event = await self._router_events.get()
            try:
                await self._router_event(event)
            except Exception:
                log.exception("email: %s not applied to its thread", event.name)
            finally:
                self._router_events.task_done()

    async def _router_event(self, event: DomainEvent) -> None:
        data = event.to_dict()
        thread = await self.store.thread_of_contact(data["contact_id"])
        if thread is None:
            return
        if event.name == "contact.connected":
            agent = str(data["agent_id"])
            if agent.isdigit():
                await self.store.update_thread(thread["id"], {"agent_id": int(agent)})
            return
        # Ended: a pending thread waits for the customer; any other is closed.
        status = "pending" if thread["status"] == "pending" else "closed"
        await self.store.update_thread(
            thread["id"], {"status": status, "contact_id": None, "updated_at": data["at"]}
        )

    # -- the console -----------------------------------------------------------------------

    async def _thread_for(self, user: User, contact_id: str) -> dict[str, Any]:
        """The thread of ``contact_id`` if ``user`` may see it: supervisors and admins,
        the agent it is offered to or connected with, or its last agent."""
        thread_id = thread_of_contact_id(contact_id)
        thread = await self.store.thread(thread_id) if thread_id is not None else None
        if thread is None:
            raise NoSuchThread(
                f"no email thread for {contact_id}", details={"contact_id": contact_id}
            )
        if user.role in (Role.SUPERVISOR, Role.ADMIN):
            return thread
        if thread["agent_id"] == user.id:
            return thread
        holder = await self._holder(thread["contact_id"]) if thread["contact_id"] else None
        if holder is not None and holder[0] == str(user.id):
            return thread
        raise NotYourThread("this thread is not with you", details={"contact_id": contact_id})

    async def _holder(self, contact_id: str) -> tuple[str, str] | None:
        """(agent id, state) of a live contact held by an agent, else None."""
        if self.routing is None:
            return None
        try:
            described = await self.routing.describe_contact(contact_id)
        except AppError:
            return None
        if described["agent_id"] is None:
            return None
        return str(described["agent_id"]), str(described["state"])

    async def _held_by(self, user: User, contact_id: str) -> dict[str, Any]:
        thread = await self._thread_for(user, contact_id)
        holder = await self._holder(contact_id) if thread["contact_id"] == contact_id else None
        if holder is None or holder != (str(user.id), ContactState.CONNECTED.value):
            raise NotHoldingThread(
                f"contact {contact_id} is not connected with you",
                details={"contact_id": contact_id},
            )
        return thread

    async def thread_view(
        self, user: User, contact_id: str, *, allow_remote_images: bool = False
    ) -> dict[str, Any]:
        thread = await self._thread_for(user, contact_id)
        items = []
        for message in await self.store.messages(int(thread["id"])):
            by_cid = {a["content_id"]: a["id"] for a in message["attachments"] if a["content_id"]}

            def cid_url(cid: str, by_cid: dict[str, int] = by_cid) -> str | None:
                found = by_cid.get(cid.strip("<>"))
                return None if found is None else attachment_url(contact_id, found)

            html, remote = (None, False)
            if message["html"]:
                html, remote = display_html(
                    message["html"], allow_remote_images=allow_remote_images, cid_url=cid_url
                )
            items.append(
                {
                    "id": message["id"],
                    "direction": message["direction"],
                    "kind": message["kind"],
                    "from": {"address": message["from_address"], "name": message["from_name"]},
                    "to": message["to"],
                    "cc": message["cc"],
                    "subject": message["subject"],
                    "text": message["text"],
                    "quoted_at": message["quoted_at"],
                    "html": html,
                    "remote_images_blocked": remote and not allow_remote_images,
                    "automatic": message["automatic"],
                    "status": message["status"],
                    "error": message["error"],
                    "created_at": message["created_at"],
                    "attachments": [
                        {
                            "id": a["id"],
                            "filename": a["filename"],
                            "content_type": a["detected_type"] or a["declared_type"],
                            "size": a["size"],
                            "inline": a["inline"],
                            "url": attachment_url(contact_id, a["id"]),
                        }
                        for a in message["attachments"]
                    ],
                }
            )
        return {
            "thread_id": thread["id"],
            "contact_id": contact_id,
            "current_contact_id": thread["contact_id"],
            "customer_id": thread["customer_id"],
            "queue": thread["queue"],
            "address": thread["address"],
            "subject": thread["subject"],
            "status": thread["status"],
            "related_thread_id": thread["related_thread_id"],
            "messages": items,
        }

    async def attachment(self, user: User, contact_id: str, attachment_id: int) -> dict[str, Any]:
        thread = await self._thread_for(user, contact_id)
        found = await self.store.attachment(attachment_id)
        if found is None or found["thread_id"] != thread["id"]:
            raise NoSuchAttachment(f"attachment {attachment_id} is not on this thread")
        return found

    async def reply(
        self,
        user: User,
        contact_id: str,
        *,
        body_text: str,
        reply_all: bool,
        client_id: str,
        attachments: Sequence[tuple[str, str, bytes]] = (),
    ) -> dict[str, Any]:
        """Send the agent's reply from the queue's address, threaded; stored on the thread
        with its delivery status. Idempotent on ``client_id``."""
        thread = await self._held_by(user, contact_id)
        thread_id = int(thread["id"])
        earlier = await self.store.message_by_client_id(thread_id, client_id)
        if earlier is not None:
            return _message_result(earlier)
        messages = await self.store.messages(thread_id)
        last = next((m for m in reversed(messages) if m["kind"] == "customer"), None)
        if last is None:
            raise NothingToReplyTo("the thread has no message from the customer")
        recipients = _reply_recipients(last, reply_all, self.own_addresses)
        now = self.clock()
        message = self._compose(thread, last, body_text, recipients, attachments, now)
        message_row = await self._store_outbound(
            thread,
            message,
            recipients,
            kind="agent-reply",
            client_id=client_id,
            author_id=user.id,
            now=now,
        )
        if message_row is None:
            earlier = await self.store.message_by_client_id(thread_id, client_id)
            assert earlier is not None
            return _message_result(earlier)
        result = await self._deliver(
            thread, message_row, message, recipients, OutgoingKind.AGENT_REPLY, None, 0
        )
        interaction_id = await self._interaction_of(thread)
        if interaction_id is not None:
            await self.profiles.add_message(
                interaction_id,
                direction="outbound",
                body=body_text[:_TIMELINE_CHARS],
                sender=thread["address"],
                subject=str(message["Subject"]),
                external_id=str(message["Message-ID"]),
                created_at=now,
            )
        return result

    def _compose(
        self,
        thread: dict[str, Any],
        last: dict[str, Any] | None,
        body_text: str,
        recipients: dict[str, list[str]],
        attachments: Sequence[tuple[str, str, bytes]],
        now: float,
    ) -> EmailMessage:
        thread_id = int(thread["id"])
        message = EmailMessage()
        message["From"] = thread["address"]
        message["Reply-To"] = self.tokens.reply_address(thread["address"], thread_id)
        message["To"] = ", ".join(recipients["to"])
        if recipients["cc"]:
            message["Cc"] = ", ".join(recipients["cc"])
        subject = thread["subject"] or ""
        message["Subject"] = (
            subject if subject_key(subject) != subject.lower().strip() else f"Re: {subject}"
        )
        message["Date"] = formatdate(now, usegmt=True)
        message["Message-ID"] = self.tokens.message_id(thread_id)
        if last is not None and last["message_id"]:
            message["In-Reply-To"] = last["message_id"]
            message["References"] = " ".join([*last["references"][-20:], last["message_id"]])
        text = body_text
        if last is not None:
            quoted = (last["text"][: last["quoted_at"]] if last["quoted_at"] else last["text"])[
                :20_000
            ]
            who = last["from_name"] or last["from_address"] or ""
            text += f"\n\nOn {formatdate(last['created_at'], usegmt=True)}, {who} wrote:\n"
            text += "\n".join("> " + line for line in quoted.rstrip().splitlines())
        message.set_content(text + "\n")
        for filename, content_type, data in attachments:
            main, _, sub = content_type.partition("/")
            message.add_attachment(
                data,
                maintype=main or "application",
                subtype=sub or "octet-stream",
                filename=filename,
            )
        return message

    async def _store_outbound(
        self,
        thread: dict[str, Any],
        message: EmailMessage,
        recipients: dict[str, list[str]],
        *,
        kind: str,
        client_id: str | None,
        author_id: int | None,
        now: float,
    ) -> dict[str, Any] | None:
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        values = {
            "thread_id": thread["id"],
            "interaction_id": None,
            "inbound_id": None,
            "direction": "outbound",
            "kind": kind,
            "message_id": str(message["Message-ID"]),
            "in_reply_to": [str(message["In-Reply-To"])] if message["In-Reply-To"] else [],
            "references": str(message["References"] or "").split(),
            "from_address": thread["address"],
            "from_name": None,
            "to": recipients["to"],
            "cc": recipients["cc"],
            "subject": str(message["Subject"])[:300],
            "text": text,
            "html": None,
            "quoted_at": None,
            "automatic": None,
            "defects": [],
            "status": "sending",
            "client_id": client_id,
            "author_id": author_id,
            "created_at": now,
        }
        try:
            async with self.store.engine.begin() as conn:
                values["id"] = await self.store.insert_message(conn, values)
                await self.store.update_thread(int(thread["id"]), {"updated_at": now}, conn)
        except IntegrityError:
            return None  # the same client_id, sent a moment ago
        values["attachments"] = []
        return values

    async def _deliver(
        self,
        thread: dict[str, Any],
        row: dict[str, Any],
        message: EmailMessage,
        recipients: dict[str, list[str]],
        kind: OutgoingKind,
        answering_automatic: str | None,
        sent_recently: int,
    ) -> dict[str, Any]:
        error: str | None = None
        try:
            await self.outbound.send(
                kind,
                message,
                sender=thread["address"],
                recipients=[*recipients["to"], *recipients["cc"]],
                answering_automatic=answering_automatic,
                sent_recently=sent_recently,
            )
            status = "sent"
        except Refused as refused:
            status, error = "refused", refused.reason
        except DeliveryFailed as failed:
            status, error = "failed", failed.error
            log.warning(
                "email: reply %d on thread %d not delivered: %s",
                row["id"],
                thread["id"],
                failed.error,
            )
        now = self.clock()
        changes = {"status": status, "error": error, "sent_at": now if status == "sent" else None}
        await self.store.update_message(int(row["id"]), changes)
        row.update(changes)
        await self.sink.publish(
            [
                EmailSent(
                    at=now,
                    thread_id=int(thread["id"]),
                    message_id=int(row["id"]),
                    contact_id=thread["contact_id"],
                    kind=kind.value,
                    status=status,
                    error=error,
                )
            ]
        )
        return _message_result(row)

    async def _acknowledge(
        self, thread: dict[str, Any], parsed: ParsedEmail, automatic: str | None
    ) -> None:
        """The queue's automatic acknowledgement of a new thread, under the loop rule."""
        settings = self.settings.queue_settings(thread["queue"])
        if not settings.auto_acknowledge:
            return
        thread = await self.store.thread(int(thread["id"])) or thread
        now = self.clock()
        recipient = (parsed.reply_to or (parsed.from_address,))[0] or ""
        recipients = {"to": [recipient], "cc": []}
        message = self._compose(thread, None, settings.acknowledgement_text, recipients, (), now)
        if parsed.message_id:
            message["In-Reply-To"] = parsed.message_id
            message["References"] = parsed.message_id
        # RFC 3834: mark it, and ask Exchange not to answer it automatically.
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
        recent = await self.store.acknowledgements_since(int(thread["customer_id"]), now - 3600)
        row = await self._store_outbound(
            thread,
            message,
            recipients,
            kind="acknowledgement",
            client_id=None,
            author_id=None,
            now=now,
        )
        if row is not None:
            await self._deliver(
                thread, row, message, recipients, OutgoingKind.ACKNOWLEDGEMENT, automatic, recent
            )

    async def set_pending(self, user: User, contact_id: str) -> dict[str, Any]:
        """Waiting on the customer: the contact ends (the agent's slot is free) and the
        customer's next message reopens the thread, for this agent first."""
        thread = await self._held_by(user, contact_id)
        await self.store.update_thread(
            int(thread["id"]), {"status": "pending", "agent_id": user.id}
        )
        assert self.routing is not None
        await self.routing.hang_up(contact_id, reason="pending")
        return {"contact_id": contact_id, "thread_id": thread["id"], "status": "pending"}

    async def close(self, user: User, contact_id: str) -> dict[str, Any]:
        """Done with the thread: the contact ends (then wrap-up as the queue says)."""
        thread = await self._held_by(user, contact_id)
        assert self.routing is not None
        await self.routing.hang_up(contact_id, reason="answered")
        return {"contact_id": contact_id, "thread_id": thread["id"], "status": "closed"}

    async def transfer(self, user: User, contact_id: str, queue: str) -> dict[str, Any]:
        thread = await self._held_by(user, contact_id)
        assert self.routing is not None
        await self.routing.transfer_to_queue(contact_id, queue)
        await self.store.update_thread(int(thread["id"]), {"queue": queue})
        return {"contact_id": contact_id, "thread_id": thread["id"], "queue": queue}

    # -- quarantine ------------------------------------------------------------------------

    async def quarantine(self, limit: int = 50, before_id: int | None = None) -> dict[str, Any]:
        rows = await self.store.quarantined(limit, before_id)
        items = [
            {
                "id": r["id"],
                "received_at": r["received_at"],
                "source": r["source"],
                "mailbox": r["mailbox"],
                "size": r["size"],
                "sha256": r["sha256"],
                "reason": r["reason"],
                "error": r["error"],
                "attempts": r["attempts"],
            }
            for r in rows
        ]
        next_cursor = str(items[-1]["id"]) if len(items) == limit else None
        return {"items": items, "next_cursor": next_cursor}

    async def retry(self, inbound_id: int) -> dict[str, Any]:
        """Process a quarantined message again (after a fix, or a raised limit)."""
        if not await self.store.requeue(inbound_id):
            raise NoSuchQuarantined(f"no quarantined message {inbound_id}")
        status = await self.process(inbound_id)
        row = await self.store.raw_of(inbound_id)
        assert row is not None
        return {
            "id": inbound_id,
            "status": status or row["status"],
            "reason": row["reason"],
            "error": row["error"],
            "thread_id": row["thread_id"],
        }


def attachment_url(contact_id: str, attachment_id: int) -> str:
    return f"/api/v1/emails/{contact_id}/attachments/{attachment_id}"


def _reply_recipients(
    last: dict[str, Any], reply_all: bool, own: frozenset[str]
) -> dict[str, list[str]]:
    sender = last["from_address"] or ""
    to = [sender]
    cc: list[str] = []
    if reply_all:
        for address in [*last["to"], *last["cc"]]:
            local, _, domain = address.rpartition("@")
            if f"{local.partition('+')[0]}@{domain}" in own or address in to or address in cc:
                continue
            cc.append(address)
    return {"to": to, "cc": cc}


def _message_result(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "thread_id": row["thread_id"],
        "message_id": row["message_id"],
        "status": row["status"],
        "error": row["error"],
        "to": row["to"],
        "cc": row["cc"],
        "subject": row["subject"],
        "client_id": row["client_id"],
        "created_at": row["created_at"],
    }
