"""User accounts and API tokens: who may use the contact center, and how they prove it.

:class:`AccountStore` keeps users (agents, supervisors, admins) and their API tokens in
the ``users`` and ``api_tokens`` tables. Passwords are hashed with argon2 in a worker
thread (one hash costs ~100 ms of CPU, which must not stall the event loop). API tokens
are random secrets shown once; only their SHA-256 is stored. The CLI, the HTTP edge and
the CTI (agent <-> extension) all go through this class.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from contact_center.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from contact_center.services import Actor
from contact_center.store.driver_reads import DriverStatement, fetch
from contact_center.store.schema import api_tokens, users

log = logging.getLogger(__name__)

USERNAME_PATTERN = re.compile(r"^[a-z0-9._-]{3,64}$")
EXTENSION_PATTERN = re.compile(r"^[0-9]{1,32}$")
MIN_PASSWORD_LENGTH = 10
# Bounded so nobody can make the server hash megabytes of "password".
MAX_PASSWORD_LENGTH = 1024
MAX_DISPLAY_NAME_LENGTH = 200
MAX_TOKEN_NAME_LENGTH = 100
TOKEN_PREFIX = "cc_"  # noqa: S105 - a public marker, not a secret
# Writing last_used_at on every request would turn each API call into a write.
TOKEN_USE_RESOLUTION_SECONDS = 60.0
DEFAULT_TOKEN_DAYS = 90
DAY_SECONDS = 86_400.0

# Called with a user id when that user's access is withdrawn (disabled, password set):
# ends their sessions and returns how many. The HTTP edge registers its session store.
AccessRevokedListener = Callable[[int], Awaitable[int]]


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Language(StrEnum):
    EN = "en"
    ZH_CN = "zh-CN"


class InvalidAccount(InvalidInput):
    error_id = "invalid-account"


class UserExists(Conflict):
    error_id = "user-exists"


class ExtensionInUse(Conflict):
    error_id = "extension-in-use"


class LastAdmin(Conflict):
    error_id = "last-admin"


class UserNotFound(NotFound):
    error_id = "user-not-found"


class WeakPassword(InvalidInput):
    error_id = "weak-password"


class InvalidCredentials(Unauthenticated):
    error_id = "invalid-credentials"


class AccountDisabled(Forbidden):
    error_id = "account-disabled"


class InvalidToken(Unauthenticated):
    error_id = "invalid-token"


class TokenExpired(InvalidToken):
    error_id = "token-expired"


class TokenNotFound(NotFound):
    error_id = "token-not-found"


@dataclasses.dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    display_name: str
    role: Role
    extension: str | None
    language: Language
    disabled: bool
    created_at: float
    password_changed_at: float

    @property
    def actor(self) -> Actor:
        return Actor(self.id, self.username, self.role.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role.value,
            "extension": self.extension,
            "language": self.language.value,
            "disabled": self.disabled,
            "created_at": self.created_at,
            "password_changed_at": self.password_changed_at,
        }


@dataclasses.dataclass(frozen=True, slots=True)
class ApiToken:
    id: int
    user_id: int
    name: str
    created_at: float
    last_used_at: float | None
    revoked_at: float | None
    expires_at: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def live(self, now: float) -> bool:
        return self.revoked_at is None and now < self.expires_at


@dataclasses.dataclass(frozen=True, slots=True)
class AccessRevoked:
    """What withdrawing a user's access ended."""

    tokens_revoked: int
    sessions_ended: int


@dataclasses.dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token with its secret: the only moment the secret exists outside the client."""

    token: ApiToken
    secret: str


def validate_username(username: str) -> str:
    if not isinstance(username, str) or not USERNAME_PATTERN.match(username):
        raise InvalidAccount(
            f"username {str(username)[:80]!r} must be 3-64 characters of a-z, 0-9, '.', '_', '-'",
            details={"field": "username"},
        )
    return username


def validate_role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidAccount(
            f"role {str(role)[:40]!r} is not one of {allowed}", details={"field": "role"}
        ) from None


def validate_language(language: str) -> Language:
    try:
        return Language(language)
    except ValueError:
        allowed = ", ".join(lang.value for lang in Language)
        raise InvalidAccount(
            f"language {str(language)[:40]!r} is not one of {allowed}",
            details={"field": "language"},
        ) from None


def validate_extension(extension: str | None) -> str | None:
    if extension is None:
        return None
    if not isinstance(extension, str) or not EXTENSION_PATTERN.match(extension):
        raise InvalidAccount(
            f"extension {str(extension)[:40]!r} must be 1-32 digits", details={"field": "extension"}
        )
    return extension


def validate_display_name(display_name: str) -> str:
    text = " ".join(str(display_name).split())
    if not text or len(text) > MAX_DISPLAY_NAME_LENGTH:
        raise InvalidAccount(
            f"display name must be 1-{MAX_DISPLAY_NAME_LENGTH} characters",
            details={"field": "display_name"},
        )
    return text


def check_password_strength(password: str, *, username: str | None = None) -> None:
    if not isinstance(password, str):
        raise WeakPassword("password must be a string")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"password must be at most {MAX_PASSWORD_LENGTH} characters")
    if len(set(password)) < 4:
        raise WeakPassword("password must use at least 4 different characters")
    if username is not None:
        # The username padded with digits or symbols ("alice2026!") is the first guess.
        rest = password.casefold().replace(username.casefold(), "")
        if len(rest) < 6 or not any(c.isalpha() for c in rest):
            raise WeakPassword("password must be more than the username with digits or symbols")


def token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _user_from_row(row: Mapping[Any, Any]) -> User:
    return User(
        id=int(row["id"]),
        username=row["username"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        extension=row["extension"],
        language=Language(row["language"]),
        disabled=bool(row["disabled"]),
        created_at=float(row["created_at"]),
        password_changed_at=float(row["password_changed_at"]),
    )


def _token_from_row(row: Mapping[Any, Any], default_days: int) -> ApiToken:
    created_at = float(row["created_at"])
    expires_at = row["expires_at"]
    return ApiToken(
        id=int(row["id"]),
        user_id=int(row["user_id"]),
        name=row["name"],
        created_at=created_at,
        last_used_at=None if row["last_used_at"] is None else float(row["last_used_at"]),
        revoked_at=None if row["revoked_at"] is None else float(row["revoked_at"]),
        # Every token is issued with an expiry (the migration gave older ones one too);
        # a row without one is treated as issued under today's lifetime, never as eternal.
        expires_at=(
            created_at + default_days * DAY_SECONDS if expires_at is None else float(expires_at)
        ),
    )


_USER_COLUMNS = [c for c in users.c if c.name != "password_hash"]
# The token check of every API request, built once (SQLAlchemy finds its compiled form
# without rebuilding the construct) and, on PostgreSQL, sent straight to the driver.
_TOKEN_WITH_OWNER = DriverStatement(
    sa.select(api_tokens, *[c.label(f"owner__{c.name}") for c in _USER_COLUMNS])
    .join(users, users.c.id == api_tokens.c.user_id)
    .where(api_tokens.c.token_hash == sa.bindparam("digest", type_=api_tokens.c.token_hash.type))
)


class AccountStore:
    """Users and API tokens over SQLAlchemy Core.

    Methods that name a user accept its id (``int``) or its username (``str``), so the
    CLI can say ``disable_user("alice")`` and the HTTP edge ``disable_user(7)``.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        clock: Callable[[], float] = time.time,
        *,
        hasher: PasswordHasher | None = None,
        token_days: int = DEFAULT_TOKEN_DAYS,
    ) -> None:
        self._engine = engine
        # The same pool; a lone SELECT needs no BEGIN and ROLLBACK around it.
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None
        self.token_days = token_days
        self._revoked_listeners: list[AccessRevokedListener] = []
        # Token id -> when this process last wrote its last_used_at (see _note_use).
        self._use_written: dict[int, float] = {}

    def on_access_revoked(self, listener: AccessRevokedListener) -> Callable[[], None]:
        """Call ``listener(user_id)`` whenever a user is disabled or their password set,
        after the change is committed. Returns a function that unregisters it.

        The one place access is withdrawn: the HTTP edge and the CLI both disable users
        and set passwords through this class, so both end the user's sessions."""
        self._revoked_listeners.append(listener)

        def remove() -> None:
            if listener in self._revoked_listeners:
                self._revoked_listeners.remove(listener)

        return remove

    # -- users -----------------------------------------------------------------------

    async def add_user(
        self,
        username: str,
        *,
        password: str,
        role: str = Role.AGENT,
        display_name: str | None = None,
        extension: str | None = None,
        language: str = Language.EN,
    ) -> User:
        username = validate_username(username)
        checked_role = validate_role(role)
        checked_language = validate_language(language)
        checked_extension = validate_extension(extension)
        name = validate_display_name(display_name if display_name is not None else username)
        check_password_strength(password, username=username)
        password_hash = await self._hash(password)
        now = self._clock()
        async with self._engine.begin() as conn:
            await self._ensure_free(conn, username=username, extension=checked_extension)
            try:
                result = await conn.execute(
                    users.insert()
                    .values(
                        username=username,
                        display_name=name,
                        role=checked_role.value,
                        password_hash=password_hash,
                        extension=checked_extension,
                        language=checked_language.value,
                        disabled=False,
                        created_at=now,
                        password_changed_at=now,
                    )
                    .returning(users.c.id)
                )
            except IntegrityError:
                # Lost a race with a concurrent insert of the same name or extension.
                raise UserExists(
                    f"user {username!r} or extension {checked_extension!r} already exists"
                ) from None
            user_id = int(result.scalar_one())
        return await self.get_user(user_id)

    async def list_users(self, *, include_disabled: bool = True) -> list[User]:
        query = sa.select(*_USER_COLUMNS).order_by(users.c.username)
        if not include_disabled:
            query = query.where(users.c.disabled.is_(False))
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_user_from_row(row) for row in rows]

    async def get_user(self, user: int | str) -> User:
        async with self._engine.connect() as conn:
            row = (
                (await conn.execute(sa.select(*_USER_COLUMNS).where(self._match(user))))
                .mappings()
                .first()
            )
        if row is None:
            raise UserNotFound(f"user {user!r} does not exist", details={"user": user})
        return _user_from_row(row)

    async def disable_user(self, user: int | str) -> User:
        """Disable a user: their API tokens are revoked (enabling them again does not
        bring the tokens back) and their sessions end."""
        return await self._update(user, disabled=True)

    async def enable_user(self, user: int | str) -> User:
        return await self._update(user, disabled=False)

    async def set_role(self, user: int | str, role: str) -> User:
        return await self._update(user, role=validate_role(role).value)

    async def update_user(
        self,
        user: int | str,
        *,
        display_name: str | None = None,
        extension: str | None = None,
        language: str | None = None,
        role: str | None = None,
        disabled: bool | None = None,
    ) -> User:
        """Change several fields in one transaction; ``None`` leaves a field as it is,
        ``extension=""`` clears the extension."""
        values: dict[str, Any] = {}
        if display_name is not None:
            values["display_name"] = validate_display_name(display_name)
        if language is not None:
            values["language"] = validate_language(language).value
        if extension is not None:
            values["extension"] = validate_extension(extension) if extension else None
        if role is not None:
            values["role"] = validate_role(role).value
        if disabled is not None:
            values["disabled"] = bool(disabled)
        if not values:
            return await self.get_user(user)
        return await self._update(user, **values)

    async def set_password(
        self, user: int | str, password: str, *, revoke_tokens: bool = True
    ) -> AccessRevoked:
        """Set a user's password. Every session of the user ends; their API tokens are
        revoked too, unless ``revoke_tokens`` is false (the user changing their own
        password, having proved the current one: their integrations keep working)."""
        current = await self.get_user(user)
        check_password_strength(password, username=current.username)
        password_hash = await self._hash(password)
        _user, revoked = await self._update_revoking(
            current.id,
            {"password_hash": password_hash, "password_changed_at": self._clock()},
            revoke_tokens=revoke_tokens,
        )
        assert revoked is not None
        return revoked

    async def verify_password(self, username: str, password: str) -> User:
        """The user if ``password`` is right and the account enabled.

        Unknown usernames cost the same argon2 work as known ones, so response time
        does not tell an attacker which usernames exist. Usernames are lower-case, so
        "Alice" logs in as "alice".
        """
        if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
            raise InvalidCredentials("wrong username or password")
        if isinstance(username, str):
            username = username.strip().lower()
        row: Mapping[Any, Any] | None = None
        if isinstance(username, str) and USERNAME_PATTERN.match(username):
            async with self._engine.connect() as conn:
                row = (
                    (await conn.execute(sa.select(users).where(users.c.username == username)))
                    .mappings()
                    .first()
                )
        if row is None:
            await self._verify(await self._dummy(), password)
            raise InvalidCredentials("wrong username or password")
        stored_hash: str = row["password_hash"]
        if not await self._verify(stored_hash, password):
            raise InvalidCredentials("wrong username or password")
        user = _user_from_row(row)
        if user.disabled:
            raise AccountDisabled(f"account {username!r} is disabled")
        if self._hasher.check_needs_rehash(stored_hash):
            # Parameters were raised since this hash was made: upgrade it while we
            # have the clear password. Guarded by the old hash so a concurrent
            # password change wins.
            new_hash = await self._hash(password)
            async with self._engine.begin() as conn:
                await conn.execute(
                    users.update()
                    .where(users.c.id == user.id, users.c.password_hash == stored_hash)
                    .values(password_hash=new_hash)
                )
        return user

    async def user_for_extension(self, extension: str) -> User | None:
        if not isinstance(extension, str) or not EXTENSION_PATTERN.match(extension):
            return None
        async with self._engine.connect() as conn:
            row = (
                (
                    await conn.execute(
                        sa.select(*_USER_COLUMNS).where(users.c.extension == extension)
                    )
                )
                .mappings()
                .first()
            )
        return None if row is None else _user_from_row(row)

    async def extension_for_user(self, user: int | str) -> str | None:
        return (await self.get_user(user)).extension

    async def extensions(self) -> dict[int, str]:
        """Every enabled user's extension by user id (what the CTI loads at start-up)."""
        query = sa.select(users.c.id, users.c.extension).where(
            users.c.extension.is_not(None), users.c.disabled.is_(False)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {int(user_id): str(extension) for user_id, extension in rows}

    # -- API tokens ------------------------------------------------------------------

    async def issue_token(
        self, user: int | str, name: str, *, days: int | None = None
    ) -> IssuedToken:
        """A new token for ``user``, expiring after ``days`` (at most, and by default,
        the configured token lifetime)."""
        lifetime = self.token_days if days is None else min(int(days), self.token_days)
        if lifetime < 1:
            raise InvalidAccount("a token must live at least one day", details={"field": "days"})
        owner = await self.get_user(user)
        if owner.disabled:
            raise AccountDisabled(
                f"account {owner.username!r} is disabled: enable it before issuing a token",
                details={"user_id": owner.id},
            )
        label = " ".join(str(name).split())
        if not label or len(label) > MAX_TOKEN_NAME_LENGTH:
            raise InvalidAccount(
                f"token name must be 1-{MAX_TOKEN_NAME_LENGTH} characters",
                details={"field": "name"},
            )
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        expires_at = now + lifetime * DAY_SECONDS
        async with self._engine.begin() as conn:
            result = await conn.execute(
                api_tokens.insert()
                .values(
                    user_id=owner.id,
                    name=label,
                    token_hash=token_digest(secret),
                    created_at=now,
                    expires_at=expires_at,
                )
                .returning(api_tokens.c.id)
            )
            token_id = int(result.scalar_one())
        token = ApiToken(token_id, owner.id, label, now, None, None, expires_at)
        return IssuedToken(token=token, secret=secret)

    async def list_tokens(
        self, user: int | str, *, include_revoked: bool = False
    ) -> list[ApiToken]:
        """The user's tokens; without ``include_revoked``, only those that still work
        (neither revoked nor expired)."""
        owner = await self.get_user(user)
        query = (
            sa.select(api_tokens)
            .where(api_tokens.c.user_id == owner.id)
            .order_by(api_tokens.c.created_at, api_tokens.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        tokens = [_token_from_row(row, self.token_days) for row in rows]
        if include_revoked:
            return tokens
        now = self._clock()
        return [t for t in tokens if t.live(now)]

    async def revoke_token(self, token_id: int, *, user_id: int | None = None) -> ApiToken:
        """Revoke a token; with ``user_id``, only if that user owns it (else not found)."""
        condition = api_tokens.c.id == token_id
        if user_id is not None:
            condition = condition & (api_tokens.c.user_id == user_id)
        async with self._engine.begin() as conn:
            row = (await conn.execute(sa.select(api_tokens).where(condition))).mappings().first()
            if row is None:
                raise TokenNotFound(
                    f"token {token_id} does not exist", details={"token_id": token_id}
                )
            if row["revoked_at"] is None:
                await conn.execute(
                    api_tokens.update().where(condition).values(revoked_at=self._clock())
                )
            row = (await conn.execute(sa.select(api_tokens).where(condition))).mappings().one()
        return _token_from_row(row, self.token_days)

    async def authenticate_token(self, secret: str) -> tuple[User, ApiToken]:
        """The owner of a live token; revoked or expired tokens and disabled owners are
        refused."""
        if not isinstance(secret, str) or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
            raise InvalidToken("API token is not valid")
        digest = token_digest(secret)
        async with self._autocommit.connect() as conn:
            rows = await fetch(conn, _TOKEN_WITH_OWNER, {"digest": digest})
        row = rows[0] if rows else None
        # Compared again in constant time: the index lookup is by digest, and the
        # digest of a guessed token reveals nothing, but this keeps the intent explicit.
        if row is None or not secrets.compare_digest(row["token_hash"], digest):
            raise InvalidToken("API token is not valid")
        token = _token_from_row(row, self.token_days)
        if token.revoked_at is not None:
            raise InvalidToken("API token has been revoked")
        now = self._clock()
        if now >= token.expires_at:
            raise TokenExpired(
                "API token has expired; create a new one", details={"token_id": token.id}
            )
        user = _user_from_row({c.name: row[f"owner__{c.name}"] for c in _USER_COLUMNS})
        if user.disabled:
            raise AccountDisabled(f"account {user.username!r} is disabled")
        if await self._note_use(token, now):
            token = dataclasses.replace(token, last_used_at=now)
        return user, token

    async def _note_use(self, token: ApiToken, now: float) -> bool:
        """Record ``last_used_at`` at most once a minute per token: concurrent requests
        with one token must not each become a database write (on SQLite, a write takes
        the database's only write lock). The in-process note is claimed before the
        write, so requests arriving meanwhile skip it."""
        seen = max(token.last_used_at or float("-inf"), self._use_written.get(token.id, -1e18))
        if now - seen < TOKEN_USE_RESOLUTION_SECONDS:
            return False
        if len(self._use_written) > 10_000:
            # Notes older than the resolution decide nothing: forget them.
            horizon = now - TOKEN_USE_RESOLUTION_SECONDS
            self._use_written = {k: v for k, v in self._use_written.items() if v > horizon}
        self._use_written[token.id] = now
        async with self._engine.begin() as conn:
            await conn.execute(
                api_tokens.update()
                .where(
                    api_tokens.c.id == token.id,
                    # Another node may have written it meanwhile.
                    sa.or_(
                        api_tokens.c.last_used_at.is_(None),
                        api_tokens.c.last_used_at <= now - TOKEN_USE_RESOLUTION_SECONDS,
                    ),
                )
                .values(last_used_at=now)
            )
        return True

    # -- internals -------------------------------------------------------------------

    @staticmethod
    def _match(user: int | str) -> sa.ColumnElement[bool]:
        if isinstance(user, bool) or not isinstance(user, int | str):
            raise InvalidAccount(f"user must be an id or a username, got {user!r}")
        return users.c.id == user if isinstance(user, int) else users.c.username == user

    async def _ensure_free(self, conn: Any, *, username: str, extension: str | None) -> None:
        taken = await conn.scalar(sa.select(users.c.id).where(users.c.username == username))
        if taken is not None:
            raise UserExists(f"user {username!r} already exists", details={"username": username})
        if extension is not None:
            owner = await conn.scalar(
                sa.select(users.c.username).where(users.c.extension == extension)
            )
            if owner is not None:
                raise ExtensionInUse(
                    f"extension {extension} already belongs to {owner!r}",
                    details={"extension": extension},
                )

    async def _update(self, user: int | str, **values: Any) -> User:
        updated, _revoked = await self._update_revoking(user, values, revoke_tokens=True)
        return updated

    async def _update_revoking(
        self, user: int | str, values: dict[str, Any], *, revoke_tokens: bool
    ) -> tuple[User, AccessRevoked | None]:
        """Apply ``values`` to a user. Disabling them or setting their password also
        withdraws their access: tokens revoked in the same transaction (unless
        ``revoke_tokens`` is false, for a password change only), then the registered
        listeners end their sessions. Returns what was withdrawn (None if nothing was)."""
        withdraw = values.get("disabled") is True or "password_hash" in values
        tokens_revoked = 0
        async with self._engine.begin() as conn:
            row = (
                (
                    await conn.execute(
                        sa.select(users.c.id, users.c.username, users.c.role, users.c.disabled)
                        .where(self._match(user))
                        .with_for_update()
                    )
                )
                .mappings()
                .first()
            )
            if row is None:
                raise UserNotFound(f"user {user!r} does not exist", details={"user": user})
            demoted = values.get("role", Role.ADMIN.value) != Role.ADMIN.value
            if (
                row["role"] == Role.ADMIN.value
                and not row["disabled"]
                and (demoted or values.get("disabled") is True)
            ):
                await self._refuse_if_last_admin(conn, int(row["id"]), str(row["username"]))
            extension = values.get("extension")
            if extension is not None:
                owner = await conn.scalar(
                    sa.select(users.c.username).where(
                        users.c.extension == extension, users.c.id != row["id"]
                    )
                )
                if owner is not None:
                    raise ExtensionInUse(
                        f"extension {extension} already belongs to {owner!r}",
                        details={"extension": extension},
                    )
            await conn.execute(users.update().where(users.c.id == row["id"]).values(**values))
            user_id = int(row["id"])
            if withdraw and (revoke_tokens or values.get("disabled") is True):
                result = await conn.execute(
                    api_tokens.update()
                    .where(api_tokens.c.user_id == user_id, api_tokens.c.revoked_at.is_(None))
                    .values(revoked_at=self._clock())
                )
                tokens_revoked = int(result.rowcount or 0)
        revoked = None
        if withdraw:
            revoked = AccessRevoked(tokens_revoked, await self._end_sessions(user_id))
        return await self.get_user(user_id), revoked

    async def _end_sessions(self, user_id: int) -> int:
        ended = 0
        for listener in list(self._revoked_listeners):
            try:
                ended += await listener(user_id)
            except Exception:
                # The change is committed and every request re-reads the user, so a
                # session that could not be deleted now is still refused at its next
                # use; the withdrawal must not fail on a session store outage.
                log.warning(
                    "could not end the sessions of user %s now; they are refused at their "
                    "next request",
                    user_id,
                    exc_info=True,
                )
        return ended

    @staticmethod
    async def _refuse_if_last_admin(conn: AsyncConnection, user_id: int, username: str) -> None:
        """Someone must always be able to log in and administer the system."""
        others = await conn.scalar(
            sa.select(sa.func.count())
            .select_from(users)
            .where(
                users.c.role == Role.ADMIN.value,
                users.c.disabled.is_(False),
                users.c.id != user_id,
            )
        )
        if not others:
            raise LastAdmin(
                f"{username!r} is the last enabled admin; make another admin first",
                details={"user_id": user_id},
            )

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _verify(self, stored_hash: str, password: str) -> bool:
        def verify() -> bool:
            try:
                return self._hasher.verify(stored_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(verify)

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hash(secrets.token_urlsafe(16))
        return self._dummy_hash
