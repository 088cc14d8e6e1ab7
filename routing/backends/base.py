"""The interface every router state backend implements."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from contact_center.domain.events import DomainEvent
from routing.commands import Command


class CommandResult(msgspec.Struct, frozen=True, kw_only=True):
    """Events a command produced (already published by the backend) and its value."""

    events: tuple[DomainEvent, ...]
    value: Any = None


class RouterBackend(Protocol):
    """Applies commands to the router state, runs its timers and publishes its events.

    ``execute`` raises the command's :class:`~contact_center.errors.AppError` when it
    is refused; nothing changed in that case.
    """

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def execute(self, command: Command) -> CommandResult: ...

    async def health(self) -> dict[str, Any]:
        """For /status: ``ok`` plus what an administrator needs to see."""
        ...
