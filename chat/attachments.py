"""Chat attachments on disk: type read from the content, size bounded, random names.

Files live in ``[chat] attachments_dir``, a directory no route serves; a stored name is
random (never the visitor's file name, so no path tricks), the original name is kept
only as a label, cleaned of path parts and control characters.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from pathlib import Path

import puremagic

from chat.errors import AttachmentTooLarge, AttachmentTypeRefused
from chat.settings import IMAGE_TYPES

# What puremagic reports for text: it finds no signature, so plain text is recognised
# here: valid UTF-8 without NUL bytes.
_TEXT = "text/plain"
_NAME_JUNK = re.compile(r"[\x00-\x1f\x7f/\\]+")


def detect_type(data: bytes) -> str | None:
    """The MIME type the content shows (its magic bytes), None if unrecognised."""
    if not data:
        return None
    try:
        matches = puremagic.magic_string(data[:8192])
    except (puremagic.PureError, ValueError):
        matches = []
    for match in matches:
        mime = (match.mime_type or "").lower()
        if mime:
            return "image/jpeg" if mime == "image/jpg" else mime
    if b"\x00" not in data[:8192]:
        try:
            data[:8192].decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the sample's end is still text.
            if exc.start < 8192 - 4:
                return None
        return _TEXT
    return None


def clean_name(name: str) -> str:
    base = _NAME_JUNK.sub("_", os.path.basename(name.replace("\\", "/"))).strip(" .")
    return (base or "file")[:200]


def is_previewable(content_type: str) -> bool:
    return content_type in IMAGE_TYPES


class AttachmentFiles:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def check(self, data: bytes, *, allowed: tuple[str, ...], max_bytes: int) -> str:
        """The content's type if allowed, else a refusal (size first: cheap)."""
        if len(data) > max_bytes:
            raise AttachmentTooLarge(
                f"files are limited to {max_bytes} bytes", details={"max_bytes": max_bytes}
            )
        found = detect_type(data)
        if found is None or found not in allowed:
            raise AttachmentTypeRefused(
                "this kind of file cannot be sent here",
                details={"detected": found, "allowed": list(allowed)},
            )
        return found

    async def save(self, data: bytes) -> str:
        stored = secrets.token_hex(16)
        await asyncio.to_thread(self._write, stored, data)
        return stored

    def _write(self, stored: str, data: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.directory / stored
        # O_EXCL: never overwrite; 0600: readable by the server only.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)

    def path(self, stored: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{32}", stored):
            raise ValueError("not a stored attachment name")
        return self.directory / stored
