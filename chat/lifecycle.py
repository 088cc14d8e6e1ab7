"""The chat side of a contact's life in the router, and the chats of agents who left.

:class:`RouterChatEvents` is an event sink on the node whose router produced the
events (like the history recorder), so each step's notice is stored once: the agent
joined (connected), the chat was transferred, or it ended in the router (abandoned,
closed). :meth:`ChatLifecycle.agent_gone` is called by the hub's presence when an
agent has had no console for the grace: every chat they held goes back to the queue,
ahead of later arrivals, and the visitor is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from chat.model import CONTACT_PREFIX, Notice, Origin, Status
from contact_center.domain.events import DomainEvent
from routing.errors import NoSuchAgent, NoSuchContact
from routing.events import (
    ContactAbandoned,
    ContactClosed,
    ContactConnected,
    ContactEvent,
    ContactOffered,
    ContactQueued,
    ContactTransferred,
)
from routing.model import ContactState

if TYPE_CHECKING:
    from chat.service import ChatService
    from contact_center.accounts import AccountStore

log = logging.getLogger(__name__)

_FOLLOWED = (ContactQueued, ContactOffered, ContactConnected, ContactTransferred,
             ContactAbandoned, ContactClosed)  # fmt: skip


class ChatLifecycle:
    def __init__(self, service: ChatService, accounts: Callable[[], AccountStore]) -> None:
        self.service = service
        # The services' account store, read when needed (tests may replace it).
        self.accounts = accounts
        self._queue: asyncio.Queue[ContactEvent] = asyncio.Queue(100_000)
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.failed = 0
        # Chats this node is putting back in the queue: their transfer is not a
        # "transferred" notice (the visitor is told "requeued").
        self._requeuing: set[str] = set()

    # -- the event sink ----------------------------------------------------------------

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if isinstance(event, _FOLLOWED) and event.contact_id.startswith(CONTACT_PREFIX):
                try:
                    self._queue.put_nowait(event)
                    self._idle.clear()
                except asyncio.QueueFull:
                    self.failed += 1
                    log.error("chat: backlog full, %s not followed", event.name)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="chat-lifecycle")

    async def stop(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), 10)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_idle(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            await self._idle.wait()

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self.apply(event)
            except Exception:
                self.failed += 1
                log.exception("chat: %s of %s not followed", event.name, event.contact_id)
            finally:
                if self._queue.empty():
                    self._idle.set()

    async def apply(self, event: ContactEvent) -> None:
        service = self.service
        conversation = await service.store.by_contact(event.contact_id)
        if conversation is None:
            return
        cid = conversation["id"]
        if conversation["status"] == Status.ENDED.value:
            return
        if isinstance(event, ContactQueued):
            await service.store.update(cid, status=Status.QUEUED.value, agent_id=None)
            await service.publish(service._status(conversation, Status.QUEUED, None))
        elif isinstance(event, ContactOffered):
            await service.store.update(cid, status=Status.OFFERED.value, agent_id=event.agent_id)
            await service.publish(service._status(conversation, Status.OFFERED, event.agent_id))
        elif isinstance(event, ContactConnected):
            name = await self._agent_name(event.agent_id)
            await service.store.update(
                cid, status=Status.ACTIVE.value, agent_id=event.agent_id, agent_name=name
            )
            await service.notice(conversation, Notice.AGENT_JOINED, agent_name=name,
                                 agent_id=event.agent_id)  # fmt: skip
            await service.publish(service._status(conversation, Status.ACTIVE, event.agent_id))
        elif isinstance(event, ContactTransferred):
            if event.contact_id in self._requeuing:
                self._requeuing.discard(event.contact_id)
            elif event.from_agent_id is not None:
                await service.notice(conversation, Notice.TRANSFERRED,
                                     agent_name=conversation["agent_name"],
                                     agent_id=event.from_agent_id)  # fmt: skip
        elif isinstance(event, ContactAbandoned | ContactClosed):
            now = service.clock()
            await service.store.update(
                cid, status=Status.ENDED.value, ended_at=now, ended_by=Origin.SYSTEM.value
            )
            holder = getattr(event, "agent_id", None)
            await service.notice(conversation, Notice.ENDED, agent_id=holder)
            await service.publish(service._status(conversation, Status.ENDED, holder))

    async def _agent_name(self, agent_id: str) -> str | None:
        if not agent_id.isdigit():
            return None
        try:
            user = await self.accounts().get_user(int(agent_id))
        except Exception:
            return None
        return user.display_name

    # -- agents who left -------------------------------------------------------------------

    async def agent_gone(self, user_id: int) -> None:
        """Every chat the agent held goes back to the queue at its place (ringing ones
        by the router's return, connected ones by a transfer to their queue with the
        priority their wait had earned), and the visitor is told."""
        routing = self.service.routing
        if routing is None:
            return
        agent_id = str(user_id)
        try:
            described = await routing.describe_agent(agent_id)
        except NoSuchAgent:
            return
        for contact_id in list(described["active"]):
            if not contact_id.startswith(CONTACT_PREFIX):
                continue
            try:
                await self._requeue(agent_id, contact_id)
            except Exception:
                log.exception("chat: could not requeue %s", contact_id)

    async def _requeue(self, agent_id: str, contact_id: str) -> None:
        routing = self.service.routing
        assert routing is not None
        try:
            contact = await routing.describe_contact(contact_id)
        except NoSuchContact:
            return
        if contact["agent_id"] != agent_id:
            return
        conversation = await self.service.store.by_contact(contact_id)
        if conversation is None or conversation["status"] == Status.ENDED.value:
            return
        if contact["state"] == ContactState.OFFERED:
            await routing.return_offer(contact_id, agent_id, reason="agent-disconnected")
        elif contact["state"] == ContactState.CONNECTED:
            queue = contact["queue"]
            self._requeuing.add(contact_id)
            try:
                await routing.transfer_to_queue(contact_id, queue)
            except Exception:
                self._requeuing.discard(contact_id)
                raise
            await routing.change_priority(contact_id, self._earned_priority(queue, conversation))
        else:
            return  # wrap-up: the conversation is over for the visitor
        await self.service.store.update(conversation["id"], status=Status.QUEUED.value)
        # The visitor reads "<agent> left", then "you are back in the queue".
        await self.service.notice(
            conversation,
            Notice.AGENT_LEFT,
            agent_name=conversation["agent_name"],
            agent_id=agent_id,
        )
        await self.service.notice(conversation, Notice.REQUEUED, agent_id=agent_id)
        log.info("chat: %s back in queue %s (agent %s gone)", conversation["id"],
                 contact["queue"], agent_id)  # fmt: skip

    def _earned_priority(self, queue: str, conversation: dict[str, Any]) -> int:
        """The queue's base priority plus the ageing points of the time already waited
        and talked since the chat arrived: it goes in ahead of chats that came later."""
        config = self.service.routing_queues.get(queue, {})
        base = int(config.get("base_priority", 0))
        per_minute = float(config.get("ageing_points_per_minute", 1.0))
        waited = max(0.0, self.service.clock() - float(conversation["created_at"]))
        return min(1000, base + math.ceil(per_minute * waited / 60.0) + 1)
