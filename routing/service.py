"""Routing use cases: the channel-agnostic API the CTI adapter, chat, email and the
HTTP edge call. Each method builds one command and runs it on the state backend,
which applies it, runs its timers and publishes the resulting events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from routing import commands as cmd
from routing.backends.base import CommandResult, RouterBackend
from routing.model import AgentState, Channel, CustomerContext


class RoutingService:
    def __init__(self, backend: RouterBackend) -> None:
        self.backend = backend

    async def start(self) -> None:
        await self.backend.start()

    async def close(self) -> None:
        await self.backend.close()

    async def health(self) -> dict[str, Any]:
        return await self.backend.health()

    async def run(self, command: cmd.Command) -> CommandResult:
        return await self.backend.execute(command)

    # -- contacts -------------------------------------------------------------

    async def enqueue(
        self,
        contact_id: str,
        channel: Channel | str,
        queue: str,
        customer: CustomerContext | None = None,
        *,
        priority: int | None = None,
        attributes: Mapping[str, str] | None = None,
        due_at: float | None = None,
    ) -> CommandResult:
        """A new contact needs an agent (``customer`` comes from the profile store);
        ``due_at``: answer by then (the earliest due goes first among equal priorities)."""
        customer = customer or CustomerContext()
        return await self.run(
            cmd.EnqueueContact(
                contact_id=contact_id,
                channel=str(channel),
                queue=queue,
                customer_id=customer.customer_id,
                tier=customer.tier,
                owner_agent_id=customer.owner_agent_id,
                last_agent_id=customer.last_agent_id,
                last_served_at=customer.last_served_at,
                priority=priority,
                attributes=tuple(sorted((attributes or {}).items())),
                due_at=due_at,
            )
        )

    async def accept(self, contact_id: str, agent_id: str) -> CommandResult:
        return await self.run(cmd.AcceptOffer(contact_id=contact_id, agent_id=agent_id))

    async def decline(self, contact_id: str, agent_id: str) -> CommandResult:
        return await self.run(cmd.DeclineOffer(contact_id=contact_id, agent_id=agent_id))

    async def not_answered(self, contact_id: str, agent_id: str) -> CommandResult:
        """Ring-no-answer reported by the channel (e.g. the dialplan's CCAgentNoAnswer)."""
        return await self.run(cmd.OfferNotAnswered(contact_id=contact_id, agent_id=agent_id))

    async def return_offer(
        self, contact_id: str, agent_id: str, reason: str = "returned", retry_seconds: float = 0.0
    ) -> CommandResult:
        """The channel could not carry out the offer: back to its place in the queue, the
        agent as they were, the pair kept apart for ``retry_seconds``."""
        return await self.run(
            cmd.ReturnOffer(
                contact_id=contact_id,
                agent_id=agent_id,
                reason=reason,
                retry_seconds=retry_seconds,
            )
        )

    async def attach(
        self,
        contact_id: str,
        agent_id: str,
        state: str,
        *,
        channel: Channel | str = Channel.VOICE,
        queue: str = "",
        customer: CustomerContext | None = None,
        waiting_since: float | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """The channel has the contact with ``agent_id`` ("offered": their phone rings,
        "connected": they talk); the router follows, creating the contact if it has none
        (``queue``, ``customer``... are used only then)."""
        customer = customer or CustomerContext()
        return await self.run(
            cmd.AttachToAgent(
                contact_id=contact_id,
                agent_id=agent_id,
                state=state,
                channel=str(channel),
                queue=queue,
                customer_id=customer.customer_id,
                tier=customer.tier,
                owner_agent_id=customer.owner_agent_id,
                last_agent_id=customer.last_agent_id,
                last_served_at=customer.last_served_at,
                waiting_since=waiting_since,
                attributes=tuple(sorted((attributes or {}).items())),
            )
        )

    async def hang_up(self, contact_id: str, reason: str = "customer-left") -> CommandResult:
        return await self.run(cmd.HangUp(contact_id=contact_id, reason=reason))

    async def end_wrap_up(self, contact_id: str, agent_id: str) -> CommandResult:
        return await self.run(cmd.EndWrapUp(contact_id=contact_id, agent_id=agent_id))

    async def transfer_to_queue(self, contact_id: str, queue: str) -> CommandResult:
        return await self.run(cmd.TransferToQueue(contact_id=contact_id, queue=queue))

    async def transfer_to_agent(self, contact_id: str, agent_id: str) -> CommandResult:
        return await self.run(cmd.TransferToAgent(contact_id=contact_id, agent_id=agent_id))

    async def set_awaiting_customer(self, contact_id: str, awaiting: bool) -> CommandResult:
        return await self.run(cmd.SetAwaitingCustomer(contact_id=contact_id, awaiting=awaiting))

    async def identify_customer(self, contact_id: str, customer_id: str) -> CommandResult:
        return await self.run(cmd.IdentifyCustomer(contact_id=contact_id, customer_id=customer_id))

    # -- agents ---------------------------------------------------------------

    async def upsert_agent(
        self,
        agent_id: str,
        *,
        name: str = "",
        skills: Mapping[str, int] | None = None,
        queues: tuple[str, ...] | list[str] = (),
        profile: str | None = None,
        auto_accept: tuple[str, ...] | list[str] | None = None,
    ) -> CommandResult:
        """Create or update an agent (in force from the next decision); ``auto_accept``:
        the channels whose offers they accept without a click (None: the default)."""
        return await self.run(
            cmd.UpsertAgent(
                agent_id=agent_id,
                name=name,
                skills=tuple(sorted((skills or {}).items())),
                queues=tuple(queues),
                profile=profile,
                auto_accept=None if auto_accept is None else tuple(auto_accept),
            )
        )

    async def set_agent_state(
        self, agent_id: str, state: AgentState | str, reason: str | None = None
    ) -> CommandResult:
        return await self.run(cmd.SetAgentState(agent_id=agent_id, state=str(state), reason=reason))

    async def ready(self, agent_id: str) -> CommandResult:
        return await self.set_agent_state(agent_id, AgentState.READY)

    async def not_ready(self, agent_id: str, reason: str) -> CommandResult:
        return await self.set_agent_state(agent_id, AgentState.NOT_READY, reason)

    async def log_out(self, agent_id: str) -> CommandResult:
        return await self.set_agent_state(agent_id, AgentState.OFFLINE)

    # -- supervisor -----------------------------------------------------------

    async def force_agent_state(
        self, agent_id: str, state: AgentState | str, reason: str | None = None
    ) -> CommandResult:
        return await self.run(
            cmd.SetAgentState(
                agent_id=agent_id, state=str(state), reason=reason, forced=True, by="supervisor"
            )
        )

    async def move(self, contact_id: str, queue: str) -> CommandResult:
        return await self.run(cmd.MoveContact(contact_id=contact_id, queue=queue))

    async def offer_to_agent(self, contact_id: str, agent_id: str) -> CommandResult:
        return await self.run(cmd.OfferToAgent(contact_id=contact_id, agent_id=agent_id))

    async def change_priority(self, contact_id: str, priority: int) -> CommandResult:
        return await self.run(cmd.ChangePriority(contact_id=contact_id, priority=priority))

    async def withdraw(self, contact_id: str, reason: str = "withdrawn") -> CommandResult:
        return await self.run(cmd.WithdrawContact(contact_id=contact_id, reason=reason))

    # -- timers and queries ---------------------------------------------------

    async def fire_timers(self) -> CommandResult:
        return await self.run(cmd.FireTimers())

    async def explain(self, contact_id: str) -> dict[str, Any]:
        """Every recorded decision for a contact: candidates, exclusions, scores, winner."""
        result = await self.run(cmd.ExplainContact(contact_id=contact_id))
        value: dict[str, Any] = result.value
        return value

    async def describe_contact(self, contact_id: str) -> dict[str, Any]:
        """State and, while waiting, position in queue and estimated wait."""
        result = await self.run(cmd.DescribeContact(contact_id=contact_id))
        value: dict[str, Any] = result.value
        return value

    async def describe_agent(self, agent_id: str) -> dict[str, Any]:
        result = await self.run(cmd.DescribeAgent(agent_id=agent_id))
        value: dict[str, Any] = result.value
        return value

    async def statistics(self) -> dict[str, Any]:
        """Live statistics per queue and channel, and agents by state per queue."""
        result = await self.run(cmd.QueueStatistics())
        value: dict[str, Any] = result.value
        return value
