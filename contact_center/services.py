"""The container of long-lived services the assembly builds and the edges use.

``contact_center.app.build_app`` fills it; HTTP handlers in ``agent_ui`` receive it.
Nothing here opens a connection: it only names what exists.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from chat.wiring import Chat
    from contact_center.accounts import AccountStore
    from contact_center.agent_reports import AgentStateLog
    from contact_center.bus import EventBus
    from contact_center.history import InteractionRecorder
    from contact_center.settings import Settings
    from contact_center.store.profiles import ProfileStore
    from cti.console_calls import ConsoleCalls
    from cti.ports import StaticAgentDirectory
    from cti.service import TelephonyService
    from routing.service import RoutingService

# A health probe returns a JSON-able dict with at least {"ok": bool}.
HealthProbe = Callable[[], Awaitable[dict[str, Any]]]


@dataclasses.dataclass(frozen=True, slots=True)
class Actor:
    """Who does something: a user (agent/supervisor/admin), or the system/CLI (user_id None)."""

    user_id: int | None
    name: str
    role: str = "system"


SYSTEM = Actor(None, "system")


@dataclasses.dataclass(slots=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    profiles: ProfileStore
    accounts: AccountStore
    bus: EventBus
    clock: Callable[[], float] = time.time
    # Named health probes shown by /status (database, redis, each Asterisk server, ...).
    health: dict[str, HealthProbe] = dataclasses.field(default_factory=dict)
    routing: RoutingService | None = None
    telephony: TelephonyService | None = None
    directory: StaticAgentDirectory | None = None
    recorder: InteractionRecorder | None = None
    # Call control as the consoles use it (views, actions, call.changed events).
    calls: ConsoleCalls | None = None
    # Keeps every agent.state_changed for the time-in-state report.
    agent_states: AgentStateLog | None = None
    # Per-agent routing settings by username or user id ([routing.agents.NAME]).
    agent_settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    extras: dict[str, Any] = dataclasses.field(default_factory=dict)
    # The web chat edge (chat/): its service, router-event sink and visitor sockets.
    chat: Chat | None = None
