"""Signed reply tokens: how a reply names its thread without trusting the sender.

Every message we send carries the thread in two places a reply brings back: the
Reply-To address (``support+<token>@example.com``, plus-addressing) and our own
Message-ID (``<cc.<token>.<random>@hostname>``, quoted by In-Reply-To/References).
The token is the thread id and an HMAC-SHA256 of it under ``[email] secret``, so a
sender cannot make up a token for someone else's thread; it is lower-case base32 because
some mail systems lower-case local parts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

_MAC_CHARS = 20  # 100 bits of the HMAC
_TOKEN = re.compile(r"^([0-9]{1,18})-([a-z2-7]{20})$")
_OWN_MESSAGE_ID = re.compile(r"^<?cc\.([0-9]{1,18}-[a-z2-7]{20})\.[a-z0-9]{8,40}@", re.IGNORECASE)


class ReplyTokens:
    def __init__(self, secret: str, hostname: str) -> None:
        self._key = secret.encode()
        self.hostname = hostname

    def _mac(self, thread_id: int) -> str:
        digest = hmac.new(self._key, f"email-thread:{thread_id}".encode(), hashlib.sha256)
        return base64.b32encode(digest.digest()).decode().lower()[:_MAC_CHARS]

    def token(self, thread_id: int) -> str:
        return f"{thread_id}-{self._mac(thread_id)}"

    def thread_of_token(self, token: str) -> int | None:
        """The thread a token names, or None when it is malformed or its HMAC is wrong."""
        match = _TOKEN.match(token.strip().lower())
        if match is None:
            return None
        thread_id = int(match.group(1))
        if not hmac.compare_digest(match.group(2), self._mac(thread_id)):
            return None
        return thread_id

    def reply_address(self, address: str, thread_id: int) -> str:
        """``local+token@domain`` for our ``address``."""
        local, _, domain = address.partition("@")
        return f"{local}+{self.token(thread_id)}@{domain}"

    def thread_of_address(
        self, address: str, own_addresses: set[str] | frozenset[str]
    ) -> int | None:
        """The thread named by a plus-address of one of our addresses, if signed right."""
        local, at, domain = address.strip().lower().rpartition("@")
        if not at:
            return None
        base, plus, token = local.partition("+")
        if not plus or f"{base}@{domain}" not in own_addresses:
            return None
        return self.thread_of_token(token)

    def message_id(self, thread_id: int) -> str:
        return f"<cc.{self.token(thread_id)}.{secrets.token_hex(8)}@{self.hostname}>"

    def thread_of_message_id(self, message_id: str) -> int | None:
        match = _OWN_MESSAGE_ID.match(message_id.strip())
        return self.thread_of_token(match.group(1)) if match else None
