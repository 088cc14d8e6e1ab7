"""Chat use cases: sessions, messages both ways (stored before acknowledged, idempotent
by client id), typing, read receipts, end, transfer, rating, transcripts, attachments.

The service publishes ``chat.*`` events on the bus after storing; every node hears
them and hands them to its own visitor sockets (:mod:`chat.visitor_ws`) and consoles
(the hub's notifier). The router's ``contact.*`` events about chats reach it as an
event sink on the node that produced them (:mod:`chat.lifecycle`), so each step's
notice is stored once.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chat.attachments import AttachmentFiles, clean_name, is_previewable
from chat.errors import (
    AttachmentNotFound,
    ChatEnded,
    ChatNotFound,
    ChatOffline,
    IdentityRefused,
    MessageTooLong,
    NotConnected,
    NotRatable,
    OriginRefused,
    TokenInvalid,
    UnknownSite,
)
from chat.events import ChatEvent, ChatMessagePosted, ChatRead, ChatStatusChanged, ChatTyping
from chat.model import (
    CLIENT_ID,
    Notice,
    Origin,
    RateLimiter,
    Status,
    clean_text,
    contact_id_of,
    is_open,
    signature_valid,
    token_digest,
)
from chat.settings import ChatSettings, SiteSettings
from chat.store import ChatStore
from contact_center.domain.identity import Identity, IdentityKind, InvalidIdentity
from contact_center.errors import InvalidInput, RateLimited
from contact_center.services import SYSTEM
from routing.errors import NoSuchContact
from routing.model import ContactState, CustomerContext

if TYPE_CHECKING:
    from contact_center.accounts import User
    from contact_center.bus import EventBus
    from contact_center.store.profiles import ProfileStore
    from routing.service import RoutingService

log = logging.getLogger(__name__)

HELD_STATES = frozenset({ContactState.OFFERED, ContactState.CONNECTED, ContactState.WRAP_UP})


@dataclass(frozen=True, slots=True)
class SessionRequest:
    site: str
    queue: str
    topic: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    identity_user_id: str | None = None
    identity_signature: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Visitor:
    """Who sends a request: the page's Origin, the server's own origin, the address."""

    origin: str | None
    own_origin: str
    address: str


class ChatService:
    def __init__(
        self,
        settings: ChatSettings,
        store: ChatStore,
        files: AttachmentFiles,
        *,
        profiles: ProfileStore,
        bus: EventBus,
        routing_queues: dict[str, Any],
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.store = store
        self.files = files
        self.profiles = profiles
        self.bus = bus
        self.routing: RoutingService | None = None
        self.routing_queues = routing_queues
        self.clock = clock
        self.visitor_messages = RateLimiter(settings.visitor_messages_per_minute, 60.0)
        self.address_sessions = RateLimiter(settings.address_sessions_per_hour, 3600.0)
        self.address_requests = RateLimiter(settings.address_requests_per_minute, 60.0)
        # Agent typing turned on here: auto-off deadline per conversation.
        self.agent_typing_until: dict[str, tuple[float, str | None, str]] = {}

    # -- sites and origins ------------------------------------------------------------

    def site(self, name: str) -> SiteSettings:
        found = self.settings.sites.get(name)
        if found is None:
            raise UnknownSite("no such chat site", details={"site": name[:64]})
        return found

    def origin_allowed(self, site: SiteSettings, visitor: Visitor) -> bool:
        origin = (visitor.origin or "").lower().rstrip("/")
        if not origin:
            return False
        if site.allowed_origins:
            return origin in site.allowed_origins
        return origin == visitor.own_origin.lower()

    def any_site_allows(self, visitor: Visitor) -> bool:
        return any(self.origin_allowed(s, visitor) for s in self.settings.sites.values())

    def check_origin(self, site: SiteSettings, visitor: Visitor) -> None:
        if not self.origin_allowed(site, visitor):
            raise OriginRefused("this page may not open chats on this site")

    def limit_address(self, visitor: Visitor) -> None:
        wait = self.address_requests.take(visitor.address, self.clock())
        if wait:
            raise RateLimited("too many requests; slow down", details={"retry_after": wait})

    # -- configuration, availability --------------------------------------------------

    def chat_queue(self, queue: str) -> None:
        found = self.routing_queues.get(queue)
        if not isinstance(found, dict) or "chat" not in found.get("channels", ()):
            raise InvalidInput("no such chat queue", details={"queue": queue[:64]})

    async def availability(self, queue: str) -> str | None:
        """None when the queue takes chats now, else why not (closed, no-agents)."""
        if not is_open(self.settings.queue(queue).hours, self.clock()):
            return "closed"
        if self.routing is None:
            return "no-agents"
        statistics = await self.routing.statistics()
        counts = statistics["queues"].get(queue, {}).get("agents", {})
        logged_in = sum(int(counts.get(k, 0)) for k in ("available", "busy", "not_ready"))
        return None if logged_in else "no-agents"

    async def widget_config(self, site_name: str, queue: str, visitor: Visitor) -> dict[str, Any]:
        site = self.site(site_name)
        self.check_origin(site, visitor)
        self.chat_queue(queue)
        form = self.settings.queue(queue)
        reason = await self.availability(queue)
        return {
            "site": site_name,
            "queue": queue,
            "online": reason is None,
            "offline_reason": reason,
            "form": {
                "name": form.name,
                "email": form.email,
                "phone": form.phone,
                "topics": [{"id": t.id, "label": t.label or t.id} for t in form.topics],
            },
            "require_identity": site.require_identity,
            "attachments": {
                "types": list(site.attachment_types),
                "max_bytes": site.attachment_max_bytes,
            },
            "max_message_chars": self.settings.max_message_chars,
        }

    # -- sessions -----------------------------------------------------------------------

    def _target_queue(self, request: SessionRequest) -> str:
        self.chat_queue(request.queue)
        form = self.settings.queue(request.queue)
        if request.topic is None:
            return request.queue
        for topic in form.topics:
            if topic.id == request.topic:
                queue = topic.queue or request.queue
                self.chat_queue(queue)
                return queue
        raise InvalidInput("no such topic", details={"topic": request.topic[:40]})

    def _check_form(self, request: SessionRequest, *, email_required: bool = False) -> None:
        form = self.settings.queue(request.queue)
        for field, rule in (("name", form.name), ("email", form.email), ("phone", form.phone)):
            value = getattr(request, field)
            needed = rule == "required" or (field == "email" and email_required)
            if needed and not (value and value.strip()):
                raise InvalidInput(f"{field} is required", details={"field": field})

    def _identities(self, site_name: str, request: SessionRequest) -> list[Identity]:
        """The visitor's identities, strongest first (signed user id, email, phone);
        a refusal for a missing or wrong signature where the site needs one."""
        site = self.site(site_name)
        found: list[Identity] = []
        if request.identity_user_id is not None:
            if not signature_valid(
                site.identity_secret, request.identity_user_id, request.identity_signature or ""
            ):
                raise IdentityRefused("the identity's signature is not valid for this site")
            found.append(
                self.profiles.identity(IdentityKind.CHAT, f"{site_name}:{request.identity_user_id}")
            )
        elif site.require_identity:
            raise IdentityRefused("this site only takes chats from signed-in visitors")
        for kind, value in (
            (IdentityKind.EMAIL, request.email),
            (IdentityKind.PHONE, request.phone),
        ):
            if value and value.strip():
                try:
                    found.append(self.profiles.identity(kind, value))
                except InvalidIdentity as exc:
                    raise InvalidInput(exc.message, details={"field": kind.value}) from None
        return found

    async def _customer(self, identities: list[Identity], name: str) -> CustomerContext:
        """The customer behind the first identity anybody owns (else a new provisional
        one), the visitor's other identities added to them where free."""
        if not identities:
            identities = [
                self.profiles.identity(IdentityKind.CHAT, f"visitor:{secrets.token_hex(12)}")
            ]
        owner: Identity | None = None
        for identity in identities:
            if await self.profiles.find_owner(identity) is not None:
                owner = identity
                break
        primary = owner or identities[0]
        resolution = await self.profiles.resolve(primary, display_name=name or None)
        for identity in identities:
            if identity != primary and await self.profiles.find_owner(identity) is None:
                try:
                    await self.profiles.add_identity(resolution.customer_id, identity, actor=SYSTEM)
                except Exception as exc:  # taken meanwhile: the visitor keeps the first
                    log.info("chat: identity not added: %s", getattr(exc, "error_id", exc))
        context = await self.profiles.routing_context(primary)
        assert context is not None  # resolved just above: it exists

        def text(value: object) -> str | None:
            return None if value is None else str(value)

        return CustomerContext(
            customer_id=str(context["customer_id"]),
            tier=context["tier"],
            owner_agent_id=text(context["owner_agent_id"]),
            last_agent_id=text(context["last_agent_id"]),
            last_served_at=context["last_served_at"],
        )

    async def start_session(self, request: SessionRequest, visitor: Visitor) -> dict[str, Any]:
        site = self.site(request.site)
        self.check_origin(site, visitor)
        now = self.clock()
        wait = self.address_sessions.take(visitor.address, now)
        if wait:
            raise RateLimited("too many chats from this address", details={"retry_after": wait})
        identities = self._identities(request.site, request)
        queue = self._target_queue(request)
        self._check_form(request)
        reason = await self.availability(queue)
        if reason is not None:
            raise ChatOffline("nobody can chat now; leave a message", details={"reason": reason})
        name = " ".join((request.name or "").split())[:200]
        customer = await self._customer(identities, name)
        assert customer.customer_id is not None
        conversation_id = "c_" + secrets.token_urlsafe(18)
        contact_id = contact_id_of(conversation_id)
        token = secrets.token_urlsafe(32)
        interaction = await self.profiles.start_interaction(
            int(customer.customer_id),
            channel="chat",
            contact_id=contact_id,
            queue=queue,
            external_ids={"contact_id": contact_id},
            started_at=now,
        )
        await self.profiles.update_interaction(interaction["id"], {"queued_at": now})
        await self.store.create_conversation(
            {
                "id": conversation_id,
                "site": request.site,
                "queue": queue,
                "contact_id": contact_id,
                "interaction_id": interaction["id"],
                "token_hash": token_digest(token),
                "status": Status.QUEUED.value,
                "visitor_name": name or "Visitor",
                "language": (request.language or "")[:16] or None,
                "created_at": now,
            }
        )
        if self.routing is None:
            raise ChatOffline(
                "nobody can chat now; leave a message", details={"reason": "no-agents"}
            )
        await self.routing.enqueue(contact_id, "chat", queue, customer)
        log.info("chat: conversation %s started on queue %s", conversation_id, queue)
        return {
            "conversation_id": conversation_id,
            "token": token,
            "status": Status.QUEUED.value,
            "websocket": "/chat/ws",
        }

    async def offline_message(
        self, request: SessionRequest, message: str, visitor: Visitor
    ) -> dict[str, Any]:
        """Outside hours or with nobody logged in: an email-channel contact the team
        answers by email (docs/chat.md, "Hand-off to the email channel")."""
        site = self.site(request.site)
        self.check_origin(site, visitor)
        wait = self.address_sessions.take(visitor.address, self.clock())
        if wait:
            raise RateLimited("too many messages from this address", details={"retry_after": wait})
        identities = self._identities(request.site, request)
        queue = self._target_queue(request)
        self._check_form(request, email_required=True)
        text = clean_text(message).strip()
        if not text:
            raise InvalidInput("the message is empty", details={"field": "message"})
        if len(text) > self.settings.max_message_chars:
            raise MessageTooLong("the message is too long")
        assert request.email is not None
        email = self.profiles.identity(IdentityKind.EMAIL, request.email)
        name = " ".join((request.name or "").split())[:200]
        customer = await self._customer(identities, name)
        assert customer.customer_id is not None
        now = self.clock()
        reference = "c_" + secrets.token_urlsafe(18)
        interaction = await self.profiles.start_interaction(
            int(customer.customer_id),
            channel="email",
            queue=queue,
            subject="Chat offline message",
            external_ids={"chat_offline": reference, "reply_to": email.value},
            started_at=now,
        )
        await self.profiles.add_message(
            interaction["id"], direction="inbound", body=text, sender=email.value, created_at=now
        )
        log.info("chat: offline message %s kept for queue %s", reference, queue)
        return {"received": True, "reference": reference}

    async def visitor_conversation(self, token: str) -> dict[str, Any]:
        found = await self.store.by_token(token_digest(token)) if token else None
        if found is None:
            raise TokenInvalid("this chat token is not valid")
        return found

    async def visitor_owns(self, token: str, conversation_id: str) -> dict[str, Any]:
        """The visitor's conversation if it is ``conversation_id`` (else chat-not-found:
        the same answer whether or not the id exists)."""
        conversation = await self.visitor_conversation(token)
        if not secrets.compare_digest(conversation["id"].encode(), conversation_id.encode()):
            raise ChatNotFound("no such chat")
        return conversation

    # -- messages -----------------------------------------------------------------------

    def _text(self, text: str) -> str:
        cleaned = clean_text(text)
        if not cleaned.strip():
            raise InvalidInput("the message is empty", details={"field": "text"})
        if len(cleaned) > self.settings.max_message_chars:
            raise MessageTooLong(
                f"messages are limited to {self.settings.max_message_chars} characters",
                details={"max_chars": self.settings.max_message_chars},
            )
        return cleaned

    def limit_visitor(self, conversation_id: str) -> None:
        wait = self.visitor_messages.take(conversation_id, self.clock())
        if wait:
            raise RateLimited(
                "you are sending too fast; wait a moment", details={"retry_after": round(wait, 1)}
            )

    async def visitor_send(
        self, conversation: dict[str, Any], client_id: str, text: str
    ) -> tuple[dict[str, Any], bool]:
        if not CLIENT_ID.match(client_id):
            raise InvalidInput("client_id: 1-64 letters, digits, '_' or '-'")
        cleaned = self._text(text)
        self.limit_visitor(conversation["id"])
        return await self._post(
            conversation,
            Origin.VISITOR,
            cleaned,
            client_id=client_id,
            sender_name=conversation["visitor_name"],
        )

    async def _post(
        self,
        conversation: dict[str, Any],
        origin: Origin,
        text: str,
        *,
        client_id: str | None = None,
        sender_name: str | None = None,
        attachment: dict[str, Any] | None = None,
        notice: Notice | None = None,
        agent_id: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        message, created = await self.store.append(
            conversation,
            origin=origin,
            text=text,
            at=self.clock(),
            client_id=client_id,
            sender_name=sender_name,
            attachment=attachment,
            notice=None if notice is None else notice.value,
            limit=self.settings.max_messages_per_conversation,
        )
        if created:
            holder = agent_id if agent_id is not None else message.pop("holder", None)
            message.pop("holder", None)
            await self.publish(
                ChatMessagePosted(
                    at=message["at"],
                    conversation_id=conversation["id"],
                    contact_id=conversation["contact_id"],
                    agent_id=holder,
                    message=message,
                )
            )
        return message, created

    async def _holder(self, conversation: dict[str, Any]) -> str | None:
        """The agent the router has the chat with now (ringing, talking, wrapping up)."""
        if self.routing is None:
            return None
        try:
            contact = await self.routing.describe_contact(conversation["contact_id"])
        except NoSuchContact:
            return None
        if contact["state"] in HELD_STATES:
            agent: str | None = contact["agent_id"]
            return agent
        return None

    async def publish(self, *events: ChatEvent) -> None:
        await self.bus.publish(events)

    async def notice(
        self,
        conversation: dict[str, Any],
        notice: Notice,
        *,
        agent_name: str | None = None,
        agent_id: str | None = None,
    ) -> dict[str, Any]:
        message, _ = await self._post(
            conversation,
            Origin.SYSTEM,
            notice.value,
            sender_name=agent_name,
            notice=notice,
            agent_id=agent_id,
        )
        return message

    async def visitor_typing(self, conversation: dict[str, Any], on: bool) -> None:
        await self.publish(
            ChatTyping(
                at=self.clock(),
                conversation_id=conversation["id"],
                contact_id=conversation["contact_id"],
                agent_id=conversation.get("agent_id"),
                origin=Origin.VISITOR.value,
                on=on,
            )
        )

    async def read(self, conversation: dict[str, Any], origin: Origin, seq: int) -> int:
        mark = await self.store.mark_read(conversation["id"], origin, seq)
        await self.publish(
            ChatRead(
                at=self.clock(),
                conversation_id=conversation["id"],
                contact_id=conversation["contact_id"],
                agent_id=conversation.get("agent_id"),
                origin=origin.value,
                seq=mark,
            )
        )
        return mark

    async def end(self, conversation: dict[str, Any], by: Origin) -> dict[str, Any]:
        """End the chat (either side): the ``ended`` notice, then the router ends the
        contact (wrap-up for the agent, or abandoned if nobody had it yet)."""
        if conversation["status"] == Status.ENDED.value:
            return {"status": Status.ENDED.value}
        holder = await self._holder(conversation)
        now = self.clock()
        await self.store.update(
            conversation["id"], status=Status.ENDED.value, ended_at=now, ended_by=by.value
        )
        await self.notice(conversation, Notice.ENDED, agent_id=holder)
        await self.publish(self._status(conversation, Status.ENDED, holder))
        if self.routing is not None:
            try:
                await self.routing.hang_up(
                    conversation["contact_id"],
                    "customer-left" if by is Origin.VISITOR else "agent-ended",
                )
            except Exception as exc:  # already ended in the router: nothing to undo
                log.info(
                    "chat: router end of %s: %s", conversation["id"], getattr(exc, "error_id", exc)
                )
        log.info("chat: conversation %s ended by %s", conversation["id"], by.value)
        return {"status": Status.ENDED.value}

    def _status(
        self, conversation: dict[str, Any], status: Status, agent_id: str | None
    ) -> ChatStatusChanged:
        return ChatStatusChanged(
            at=self.clock(),
            conversation_id=conversation["id"],
            contact_id=conversation["contact_id"],
            agent_id=agent_id,
            status=status.value,
        )

    async def rate(
        self, conversation: dict[str, Any], rating: int, comment: str | None
    ) -> dict[str, Any]:
        if conversation["status"] != Status.ENDED.value:
            raise NotRatable("a chat is rated once it has ended")
        if not 1 <= rating <= 5:
            raise InvalidInput("rating: 1 to 5", details={"field": "rating"})
        text = clean_text(comment).strip()[:2000] if comment else None
        await self.store.rate(conversation["interaction_id"], rating, text or None)
        return {"rating": rating, "comment": text or None}

    async def history(
        self, conversation: dict[str, Any], after_seq: int, limit: int = 500
    ) -> dict[str, Any]:
        items = await self.store.messages_after(conversation["interaction_id"], after_seq, limit)
        latest = await self.store.by_id(conversation["id"])
        return {"items": items, "seq": latest["last_seq"] if latest else 0}

    async def transcript(self, conversation: dict[str, Any]) -> str:
        lines = [f"Chat {conversation['id']} ({conversation['queue']})", ""]
        after = 0
        while True:
            items = await self.store.messages_after(conversation["interaction_id"], after, 500)
            if not items:
                break
            for item in items:
                lines.append(_transcript_line(item))
            after = items[-1]["seq"]
        return "\n".join(lines) + "\n"

    async def email_transcript(self, conversation: dict[str, Any], address: str | None) -> None:
        """Queue the transcript for the email channel (it sends; docs/chat.md)."""
        to: str | None = (
            self.profiles.identity(IdentityKind.EMAIL, address).value
            if address
            else await self._customer_email(conversation)
        )
        if to is None:
            raise InvalidInput(
                "give the address to send the transcript to", details={"field": "email"}
            )
        await self.store.queue_email(
            {
                "kind": "chat-transcript",
                "interaction_id": conversation["interaction_id"],
                "to_address": to,
                "subject": "Your chat transcript",
                "body": await self.transcript(conversation),
                "status": "queued",
                "created_at": self.clock(),
            }
        )

    async def _customer_email(self, conversation: dict[str, Any]) -> str | None:
        profile = await self.profiles.get_profile(int(conversation["customer_id"]), viewer=SYSTEM)
        for identity in profile["identities"]:
            if identity["kind"] == "email":
                return str(identity["value"])
        return None

    # -- attachments --------------------------------------------------------------------

    async def attach(
        self,
        conversation: dict[str, Any],
        *,
        origin: Origin,
        client_id: str,
        name: str,
        data: bytes,
        sender_name: str | None,
        agent_id: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        if not CLIENT_ID.match(client_id):
            raise InvalidInput("client_id: 1-64 letters, digits, '_' or '-'")
        if conversation["status"] == Status.ENDED.value:
            raise ChatEnded("this chat has ended")
        existing = await self.store.by_client_id(conversation["interaction_id"], origin, client_id)
        if existing is not None:
            return existing, False
        site = self.site(conversation["site"])
        content_type = self.files.check(
            data, allowed=site.attachment_types, max_bytes=site.attachment_max_bytes
        )
        stored = await self.files.save(data)
        attachment_id = "a_" + secrets.token_urlsafe(12)
        label = clean_name(name)
        await self.store.add_attachment(
            {
                "id": attachment_id,
                "conversation_id": conversation["id"],
                "stored_name": stored,
                "name": label,
                "content_type": content_type,
                "size": len(data),
                "uploaded_by": origin.value,
                "created_at": self.clock(),
            }
        )
        view = {
            "id": attachment_id,
            "name": label,
            "content_type": content_type,
            "size": len(data),
            "preview": is_previewable(content_type),
        }
        return await self._post(
            conversation,
            origin,
            label,
            client_id=client_id,
            sender_name=sender_name,
            attachment=view,
            agent_id=agent_id,
        )

    async def attachment_file(
        self, conversation: dict[str, Any], attachment_id: str
    ) -> tuple[dict[str, Any], Any]:
        found = await self.store.attachment(conversation["id"], attachment_id)
        if found is None:
            raise AttachmentNotFound("no such attachment")
        return found, self.files.path(found["stored_name"])

    # -- the agent's side ---------------------------------------------------------------

    async def agent_conversation(
        self, user: User, contact_id: str, *, write: bool = False
    ) -> dict[str, Any]:
        """The chat ``contact_id`` if ``user`` may see it (an agent holding it; a
        supervisor or admin reading), else chat-not-found."""
        conversation = await self.store.by_contact(contact_id)
        if conversation is None:
            raise ChatNotFound("no such chat")
        supervising = user.role.value in ("supervisor", "admin")
        if supervising and not write:
            return conversation
        holder = await self._holder(conversation)
        if holder != str(user.id):
            if not write and conversation["agent_id"] == str(user.id):
                return conversation  # the last agent who had it may read it back
            raise ChatNotFound("no such chat")
        conversation["agent_id"] = holder
        return conversation

    async def agent_send(
        self, user: User, contact_id: str, client_id: str, text: str
    ) -> tuple[dict[str, Any], bool]:
        conversation = await self.agent_conversation(user, contact_id, write=True)
        await self._require_connected(conversation)
        return await self._post(
            conversation,
            Origin.AGENT,
            self._text(text),
            client_id=client_id,
            sender_name=user.display_name,
            agent_id=str(user.id),
        )

    async def _require_connected(self, conversation: dict[str, Any]) -> None:
        assert self.routing is not None
        contact = await self.routing.describe_contact(conversation["contact_id"])
        if contact["state"] != ContactState.CONNECTED:
            if conversation["status"] == Status.ENDED.value:
                raise ChatEnded("this chat has ended")
            raise NotConnected(
                "accept the chat first"
                if contact["state"] == ContactState.OFFERED
                else "this chat is not with you any more",
                details={"state": str(contact["state"])},
            )

    async def agent_typing(self, user: User, contact_id: str, on: bool) -> None:
        conversation = await self.agent_conversation(user, contact_id, write=True)
        now = self.clock()
        if on:
            self.agent_typing_until[conversation["id"]] = (
                now + self.settings.typing_timeout_seconds,
                str(user.id),
                conversation["contact_id"],
            )
        else:
            self.agent_typing_until.pop(conversation["id"], None)
        await self._agent_typing_event(
            conversation["id"], conversation["contact_id"], str(user.id), on
        )

    async def _agent_typing_event(
        self, conversation_id: str, contact_id: str, agent_id: str | None, on: bool
    ) -> None:
        await self.publish(
            ChatTyping(
                at=self.clock(),
                conversation_id=conversation_id,
                contact_id=contact_id,
                agent_id=agent_id,
                origin=Origin.AGENT.value,
                on=on,
            )
        )

    async def expire_agent_typing(self) -> None:
        now = self.clock()
        for conversation_id, (deadline, agent_id, contact_id) in list(
            self.agent_typing_until.items()
        ):
            if deadline <= now:
                del self.agent_typing_until[conversation_id]
                await self._agent_typing_event(conversation_id, contact_id, agent_id, False)

    async def agent_transfer(
        self, user: User, contact_id: str, *, queue: str | None, agent_id: str | None
    ) -> dict[str, Any]:
        conversation = await self.agent_conversation(user, contact_id, write=True)
        assert self.routing is not None
        if queue is not None:
            self.chat_queue(queue)
            await self.routing.transfer_to_queue(contact_id, queue)
        elif agent_id is not None:
            await self.routing.transfer_to_agent(contact_id, agent_id)
        else:
            raise InvalidInput("give a queue or an agent_id")
        log.info("chat: conversation %s transferred by agent %s", conversation["id"], user.id)
        described: dict[str, Any] = await self.routing.describe_contact(contact_id)
        return {k: described[k] for k in ("contact_id", "channel", "queue", "state", "agent_id")}

    async def agent_end(self, user: User, contact_id: str) -> dict[str, Any]:
        conversation = await self.agent_conversation(user, contact_id, write=True)
        return await self.end(conversation, Origin.AGENT)

    def conversation_view(self, conversation: dict[str, Any]) -> dict[str, Any]:
        return {
            "conversation_id": conversation["id"],
            "contact_id": conversation["contact_id"],
            "status": conversation["status"],
            "queue": conversation["queue"],
            "site": conversation["site"],
            "customer_id": conversation["customer_id"],
            "visitor_name": conversation["visitor_name"],
            "agent_name": conversation["agent_name"],
            "seq": conversation["last_seq"],
            "visitor_read_seq": conversation["visitor_read_seq"],
            "agent_read_seq": conversation["agent_read_seq"],
            "rating": conversation["rating"],
            "rating_comment": conversation["rating_comment"],
            "created_at": conversation["created_at"],
            "ended_at": conversation["ended_at"],
        }


def _transcript_line(item: dict[str, Any]) -> str:
    import datetime

    when = datetime.datetime.fromtimestamp(item["at"], datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
    if item["notice"] is not None:
        who = f" ({item['sender_name']})" if item["sender_name"] else ""
        return f"[{when}] -- {item['notice'].replace('_', ' ')}{who}"
    name = item["sender_name"] or item["from"]
    text = item["text"]
    if item["attachment"] is not None:
        text = f"[file: {item['attachment']['name']}]"
    return f"[{when}] {name}: {text}"
