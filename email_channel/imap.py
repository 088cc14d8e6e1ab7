"""The IMAP intake: one poller per configured mailbox, one node at a time (a lease).

Each poller loops: hold (or renew) the mailbox's lease in the database; connect,
log in and SELECT the folder; compare UIDVALIDITY with the stored one (a new value
means every UID is new: start again from the first); fetch each message with a UID
above the stored position, oldest first, and store it together with the new position
in one transaction (``EmailStore.store_imap_message``, which also checks the lease and
is unique on (mailbox, uidvalidity, uid)). So a restart or a fail-over in the middle of
a poll fetches again only what was not stored: nothing lost, nothing twice. Then it
waits: with IDLE where the server has it (woken by new mail), else ``poll_seconds``.

Messages are read with BODY.PEEK (the mailbox is not changed: no flags set, nothing
deleted). A message over ``max_message_bytes`` is stored as its header only and
quarantined ("too-large"), so an administrator sees it and the poll goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import aioimaplib

from contact_center.outside_text import one_line
from email_channel.service import EmailService
from email_channel.settings import EmailSettings, ImapMailbox
from email_channel.store import EmailStore

log = logging.getLogger(__name__)

_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_FETCH_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
# At most this many messages per fetch round, so the lease is renewed between rounds.
_BATCH = 50


class ImapError(Exception):
    pass


class MailboxPoller:
    def __init__(
        self,
        box: ImapMailbox,
        settings: EmailSettings,
        service: EmailService,
        store: EmailStore,
        *,
        node_id: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.box = box
        self.settings = settings
        self.service = service
        self.store = store
        self.node_id = node_id
        self.clock = clock
        self.holding = False
        self.polls = 0
        self.taken = 0
        self.last_error: str | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: aioimaplib.IMAP4 | None = None

    async def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=f"imap-{self.box.name}")

    async def stop(self, *, release: bool = True) -> None:
        """Stop polling; ``release=False`` keeps the lease until it expires (as a node
        that died would: tests of fail-over)."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._disconnect()
        if release and self.holding:
            await self.store.release_lease(self.box.name, self.node_id)
        self.holding = False

    def health(self) -> dict[str, Any]:
        return {
            "ok": self.last_error is None,
            "mailbox": self.box.name,
            "holding": self.holding,
            "polls": self.polls,
            "taken": self.taken,
            "last_error": self.last_error,
        }

    async def _run(self) -> None:
        while not self._stop.is_set():
            wait = self.box.poll_seconds
            try:
                self.holding = await self.store.acquire_lease(
                    self.box.name, self.node_id, self.clock(), self.settings.lease_seconds
                )
                if self.holding:
                    await self.poll_once()
                    self.last_error = None
                    wait = await self._idle_or_poll_wait()
                else:
                    await self._disconnect()
                    # Not ours: look again before the holder's lease could expire.
                    wait = min(self.box.poll_seconds, self.settings.lease_seconds / 2)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.last_error = one_line(f"{type(exc).__name__}: {exc}", 300)
                log.warning("email: IMAP %s: %s", self.box.name, self.last_error)
                await self._disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), max(wait, 0.0))

    async def _connect(self) -> aioimaplib.IMAP4:
        if self._client is not None and self._client.get_state() == "SELECTED":
            return self._client
        await self._disconnect()
        box = self.box
        client: aioimaplib.IMAP4
        if box.ssl:
            client = aioimaplib.IMAP4_SSL(host=box.host, port=box.port, timeout=30)
        else:
            client = aioimaplib.IMAP4(host=box.host, port=box.port, timeout=30)
        self._client = client
        await client.wait_hello_from_server()
        response = await client.login(box.username, box.password)
        if response.result != "OK":
            raise ImapError("login refused")
        return client

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        with contextlib.suppress(Exception):
            if client.has_pending_idle():
                client.idle_done()
            await asyncio.wait_for(client.logout(), 5)

    async def poll_once(self) -> int:
        """Fetch and store every message above the stored position; how many were taken."""
        self.polls += 1
        client = await self._connect()
        selected = await client.select(self.box.folder)
        if selected.result != "OK":
            raise ImapError(f"SELECT {self.box.folder} refused")
        uidvalidity = _uidvalidity(selected.lines)
        state = await self.store.mailbox(self.box.name)
        if state is None:
            raise ImapError("mailbox state missing")
        if state["uidvalidity"] != uidvalidity:
            if state["uidvalidity"] is not None:
                log.warning(
                    "email: IMAP %s: UIDVALIDITY changed (%s -> %s): reading all again",
                    self.box.name,
                    state["uidvalidity"],
                    uidvalidity,
                )
            if not await self.store.reset_mailbox(
                self.box.name, self.node_id, uidvalidity, self.clock()
            ):
                return 0
            last_uid = 0
        else:
            last_uid = int(state["last_uid"])
        found = await client.uid_search(f"UID {last_uid + 1}:*", charset=None)
        if found.result != "OK":
            raise ImapError("UID SEARCH refused")
        uids = sorted(
            int(u)
            for line in found.lines[:1]
            for u in line.split()
            if u.isdigit() and int(u) > last_uid
        )
        taken = 0
        for start in range(0, len(uids), _BATCH):
            if not await self.store.acquire_lease(
                self.box.name, self.node_id, self.clock(), self.settings.lease_seconds
            ):
                self.holding = False
                return taken
            for uid in uids[start : start + _BATCH]:
                stored = await self._take(client, uidvalidity, uid)
                if stored is None:
                    continue
                taken += 1
        self.taken += taken
        return taken

    async def _take(self, client: aioimaplib.IMAP4, uidvalidity: int, uid: int) -> int | None:
        sized = await client.uid("fetch", str(uid), "(RFC822.SIZE)")
        size_match = _FETCH_SIZE.search(b" ".join(bytes(x) for x in sized.lines))
        size = int(size_match.group(1)) if size_match else 0
        too_large = size > self.settings.max_message_bytes
        part = "BODY.PEEK[HEADER]" if too_large else "BODY.PEEK[]"
        fetched = await client.uid("fetch", str(uid), f"({part})")
        if fetched.result != "OK":
            raise ImapError(f"UID FETCH {uid} refused")
        raw = _literal(fetched.lines)
        if raw is None:
            return None  # expunged in between
        inbound_id = await self.store.store_imap_message(
            raw,
            mailbox=self.box.name,
            uidvalidity=uidvalidity,
            uid=uid,
            received_at=self.clock(),
            holder=self.node_id,
        )
        if inbound_id is None:
            return None
        if too_large:
            await self.service.quarantine_now(
                inbound_id,
                "too-large",
                f"message of {size} bytes is over the limit of {self.settings.max_message_bytes}"
                " (header kept; the message stays in the mailbox)",
            )
        else:
            self.service.submit(inbound_id)
        return inbound_id

    async def _idle_or_poll_wait(self) -> float:
        """Wait for new mail with IDLE when the server has it (returns 0: poll now), else
        the time to wait before the next poll."""
        client = self._client
        if not self.box.idle or client is None or not client.has_capability("IDLE"):
            return self.box.poll_seconds
        # Wake before the lease could lapse, to renew it.
        timeout = min(self.box.poll_seconds, self.settings.lease_seconds / 2)
        idle = await client.idle_start(timeout=timeout)
        try:
            while client.has_pending_idle() and not self._stop.is_set():
                pushed = await client.wait_server_push(timeout=timeout + 5)
                if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                if any(b"EXISTS" in bytes(line) for line in _lines(pushed)):
                    break
        finally:
            if client.has_pending_idle():
                client.idle_done()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(idle, 10)
        return 0.0


def _lines(pushed: Any) -> list[Any]:
    return pushed if isinstance(pushed, list) else [pushed]


def _uidvalidity(lines: list[Any]) -> int:
    for line in lines:
        match = _UIDVALIDITY.search(bytes(line))
        if match:
            return int(match.group(1))
    raise ImapError("the server sent no UIDVALIDITY")


def _literal(lines: list[Any]) -> bytes | None:
    """The message literal of a FETCH response (aioimaplib gives it as a bytearray)."""
    for line in lines:
        if isinstance(line, bytearray):
            return bytes(line)
    return None
