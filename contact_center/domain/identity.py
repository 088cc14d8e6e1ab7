"""Customer identities and how raw input is normalised into them.

A phone number becomes E.164 (read with a configured default region when written
without a country code), an email is lower-cased, a chat visitor id and an
account number are kept as given (trimmed). Anything else is an
:class:`InvalidIdentity` with a message a user can act on.
"""

from __future__ import annotations

import dataclasses
import re
from enum import StrEnum

import phonenumbers

from contact_center.errors import InvalidInput


class IdentityKind(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    CHAT = "chat"
    ACCOUNT = "account"


class InvalidIdentity(InvalidInput):
    error_id = "invalid-identity"


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    kind: IdentityKind
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


# Deliberately strict: one @, a dotted domain, no spaces or control characters.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_OPAQUE = re.compile(r"^[\w.:@/+-]{1,128}$")


def normalize_phone(raw: str, default_region: str) -> str:
    text = raw.strip()
    if not text or len(text) > 40:
        raise InvalidIdentity(f"phone number {raw[:40]!r} is empty or too long")
    if text.startswith("00"):
        # International prefix written as 00: read it as +, whatever the default region.
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidIdentity(f"phone number {raw!r} cannot be read: {exc}") from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidIdentity(f"phone number {raw!r} is not a possible number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    text = raw.strip().lower()
    if len(text) > 320 or not _EMAIL.match(text):
        raise InvalidIdentity(f"email address {raw[:80]!r} is not valid")
    return text


def normalize_identity(kind: str, raw: str, *, default_region: str) -> Identity:
    try:
        identity_kind = IdentityKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in IdentityKind)
        raise InvalidIdentity(f"identity kind {kind!r} is not one of {allowed}") from None
    if not isinstance(raw, str):
        raise InvalidIdentity(f"{identity_kind} identity must be a string")
    if identity_kind is IdentityKind.PHONE:
        return Identity(identity_kind, normalize_phone(raw, default_region))
    if identity_kind is IdentityKind.EMAIL:
        return Identity(identity_kind, normalize_email(raw))
    text = raw.strip()
    if not _OPAQUE.match(text):
        raise InvalidIdentity(
            f"{identity_kind} identity {raw[:80]!r} must be 1-128 letters, digits or . _ : @ / + -"
        )
    return Identity(identity_kind, text)


def parse_identity(text: str, *, default_region: str) -> Identity:
    """Read ``kind:value`` (``phone:+442079460018``, ``email:a@b.example``)."""
    kind, sep, value = text.partition(":")
    if not sep:
        raise InvalidIdentity(f"identity {text[:80]!r} must be written kind:value")
    return normalize_identity(kind, value, default_region=default_region)
