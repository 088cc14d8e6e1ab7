"""In-process AMI link to the simulated PBX: the in-memory twin of :class:`cti.connection.AmiLink`.

Same port (:class:`cti.connection.AmiLinkPort`), same bytes (actions are encoded,
the simulator's replies and events are framed by :class:`cti.protocol.AmiFramer`),
no socket. Used by fast tests and by a demo that wants no TCP port; both
implementations pass ``tests/cti/test_link_contract.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Iterable

from cti.connection import LinkHealth, LinkState, LinkUp
from cti.errors import AsteriskRejected, AsteriskTimeout, AsteriskUnavailable
from cti.protocol import (
    AmiFramer,
    AmiMessage,
    Banner,
    MessageKind,
    encode_action,
    parse_message,
)
from cti.simulator.pbx import SimulatedPbx, _Client


class _MemoryWriter:
    """Stands in for the client's StreamWriter inside the simulator."""

    def __init__(self, link: SimulatedAmiLink) -> None:
        self._link = link
        self._closed = False

    def write(self, data: bytes) -> None:
        if not self._closed:
            self._link._receive(data)

    def is_closing(self) -> bool:
        return self._closed

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._link._closed_by_peer()

    async def wait_closed(self) -> None:
        return None


class SimulatedAmiLink:
    def __init__(
        self,
        pbx: SimulatedPbx,
        *,
        name: str = "sim",
        queue_size: int = 10_000,
        action_timeout: float = 5.0,
    ) -> None:
        self.pbx = pbx
        self.name = name
        self.events: asyncio.Queue[AmiMessage | LinkUp] = asyncio.Queue(maxsize=queue_size)
        self._timeout = action_timeout
        self._health = LinkHealth(server=name, host="in-process", port=0)
        self._framer = AmiFramer()
        self._ids = itertools.count(1)
        self._pending: dict[
            str,
            tuple[
                asyncio.Future[tuple[AmiMessage, list[AmiMessage]]],
                bool,
                list[AmiMessage],
                list[AmiMessage],
            ],
        ] = {}
        self._client: _Client | None = None
        self._generation = 0
        self._stopped = True

    def start(self) -> None:
        """Attach to the simulator and log in (synchronously: no network)."""
        self._stopped = False
        if not self.pbx.accepting:
            self._health.last_error = "simulated PBX not accepting connections"
            self._health.reconnect_attempts += 1
            asyncio.get_running_loop().call_later(0.01, self._retry)
            return
        writer = _MemoryWriter(self)
        client = _Client(writer)  # type: ignore[arg-type]
        self._framer = AmiFramer()
        self._client = client
        self.pbx._clients.add(client)
        self.pbx.connections += 1
        self._health.connections += 1
        self._health.connected = True
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        client.logged_in = True
        self._health.logged_in = True
        self._health.state = LinkState.UP
        self._health.connected_since = time.time()
        self._generation += 1
        self.events.put_nowait(LinkUp(self._generation, time.time()))

    def _retry(self) -> None:
        if not self._stopped and self._client is None:
            self.start()

    async def stop(self) -> None:
        self._stopped = True
        client, self._client = self._client, None
        if client is not None:
            self.pbx._clients.discard(client)
            client.writer.close()
        self._health.state = LinkState.STOPPED

    def health(self) -> LinkHealth:
        self._health.queue_depth = self.events.qsize()
        return dataclasses.replace(self._health)

    async def send_action(
        self, action: str, headers: Iterable[tuple[str, str]] = (), *, timeout: float | None = None
    ) -> AmiMessage:
        response, _ = await self._send(action, headers, False, timeout)
        return response

    async def send_list_action(
        self, action: str, headers: Iterable[tuple[str, str]] = (), *, timeout: float | None = None
    ) -> tuple[AmiMessage, list[AmiMessage]]:
        return await self._send(action, headers, True, timeout)

    async def _send(
        self,
        action: str,
        headers: Iterable[tuple[str, str]],
        is_list: bool,
        timeout: float | None,
    ) -> tuple[AmiMessage, list[AmiMessage]]:
        client = self._client
        if client is None:
            raise AsteriskUnavailable(f"Asterisk server {self.name!r} is not connected")
        action_id = f"mem-{next(self._ids)}"
        future: asyncio.Future[tuple[AmiMessage, list[AmiMessage]]] = (
            asyncio.get_running_loop().create_future()
        )
        self._pending[action_id] = (future, is_list, [], [])
        try:
            await self.pbx._on_action(
                client, parse_message(encode_action(action, action_id, headers)[:-4])
            )
            response, items = await asyncio.wait_for(future, timeout or self._timeout)
        except TimeoutError:
            raise AsteriskTimeout(f"no reply to {action}") from None
        finally:
            self._pending.pop(action_id, None)
        if response.get("Response") == "Error":
            raise AsteriskRejected(
                response.get("Message") or f"{action} failed",
                details={"server": self.name, "action": action},
            )
        return response, items

    def _receive(self, data: bytes) -> None:
        for frame in self._framer.feed(data):
            if isinstance(frame, Banner):
                self._health.asterisk_version = frame.text
            if not isinstance(frame, AmiMessage):
                continue
            pending = self._pending.get(frame.action_id) if frame.action_id else None
            if frame.kind is MessageKind.RESPONSE:
                if pending is None:
                    continue
                future, is_list, responses, items = pending
                if is_list and frame.get("EventList").lower() == "start":
                    responses.append(frame)
                elif not future.done():
                    future.set_result((frame, []))
                continue
            if frame.kind is not MessageKind.EVENT:
                continue
            self._health.events_received += 1
            self._health.last_event_at = time.time()
            if pending is not None and pending[1] and pending[2]:
                future, _, responses, items = pending
                if frame.get("EventList").lower() == "complete":
                    if not future.done():
                        future.set_result((responses[0], items))
                else:
                    items.append(frame)
                continue
            try:
                self.events.put_nowait(frame)
            except asyncio.QueueFull:
                self._health.last_error = "event queue overflow: consumer too slow"
                self._closed_by_peer()

    def _closed_by_peer(self) -> None:
        self._health.connected = False
        self._health.logged_in = False
        self._health.state = LinkState.WAITING_TO_RETRY
        for action_id, (future, *_rest) in list(self._pending.items()):
            if not future.done():
                future.set_exception(
                    AsteriskUnavailable(
                        f"link to {self.name!r} closed before the reply to {action_id}"
                    )
                )
        self._pending.clear()
        if self._client is not None:
            self.pbx._clients.discard(self._client)
            self._client = None
        if not self._stopped:
            # Like the TCP link: come back and resynchronise.
            self._health.reconnect_attempts += 1
            asyncio.get_running_loop().call_later(0.01, self._retry)
