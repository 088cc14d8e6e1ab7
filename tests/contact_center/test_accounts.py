"""AccountStore: users, passwords, API tokens and extensions, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.ext.asyncio import AsyncEngine

from contact_center.accounts import (
    AccountDisabled,
    AccountStore,
    ExtensionInUse,
    InvalidAccount,
    InvalidCredentials,
    InvalidToken,
    Language,
    Role,
    TokenExpired,
    TokenNotFound,
    UserExists,
    UserNotFound,
    WeakPassword,
    token_digest,
)
from contact_center.store.engine import create_engine
from contact_center.store.migrate import upgrade
from contact_center.store.schema import api_tokens, users

# Cheap parameters keep the suite fast; production uses argon2's defaults.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def database_url(request: pytest.FixtureRequest) -> str:
    # Synchronous on purpose: the postgres_url fixture creates its database with asyncio.run.
    if request.param == "sqlite":
        return "sqlite+aiosqlite:///:memory:"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=2)
    await upgrade(engine)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(sa.text("TRUNCATE users, api_tokens RESTART IDENTITY CASCADE"))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def accounts(engine: AsyncEngine, clock: FakeClock) -> AccountStore:
    return AccountStore(engine, clock, hasher=FAST_HASHER)


async def test_given_new_user_when_added_then_it_can_be_read_back(accounts: AccountStore) -> None:
    user = await accounts.add_user(
        "alice",
        password=PASSWORD,
        role="supervisor",
        display_name="  Alice   Smith ",
        extension="1001",
        language="zh-CN",
    )
    assert user.username == "alice"
    assert user.role is Role.SUPERVISOR
    assert user.display_name == "Alice Smith"
    assert user.language is Language.ZH_CN
    assert user.extension == "1001"
    assert not user.disabled
    assert await accounts.get_user("alice") == user
    assert await accounts.get_user(user.id) == user
    assert "password_hash" not in user.to_dict()
    assert user.actor.user_id == user.id and user.actor.role == "supervisor"


async def test_given_users_when_listed_then_sorted_and_disabled_filterable(
    accounts: AccountStore,
) -> None:
    await accounts.add_user("zed", password=PASSWORD)
    await accounts.add_user("bob", password=PASSWORD)
    await accounts.disable_user("zed")
    assert [u.username for u in await accounts.list_users()] == ["bob", "zed"]
    assert [u.username for u in await accounts.list_users(include_disabled=False)] == ["bob"]


@pytest.mark.parametrize(
    ("username", "kwargs"),
    [
        ("Al", {}),
        ("UPPER", {}),
        ("has space", {}),
        ("x" * 65, {}),
        ("robert'); DROP TABLE users;--", {}),
        ("carol", {"role": "root"}),
        ("carol", {"language": "fr"}),
        ("carol", {"extension": "12a"}),
        ("carol", {"display_name": "x" * 201}),
        ("carol", {"display_name": "   "}),
    ],
)
async def test_given_invalid_account_fields_when_adding_then_refused_and_nothing_stored(
    accounts: AccountStore, username: str, kwargs: dict[str, str]
) -> None:
    with pytest.raises(InvalidAccount) as caught:
        await accounts.add_user(username, password=PASSWORD, **kwargs)
    assert caught.value.error_id == "invalid-account"
    assert await accounts.list_users() == []


@pytest.mark.parametrize(
    "password",
    ["short", "aaaaaaaaaaaaaaaa", "x" * 1025, "dave-2026-!!", "Dave.Dave.Dave", "ababababababab"],
)
async def test_given_weak_password_when_adding_then_weak_password(
    accounts: AccountStore, password: str
) -> None:
    with pytest.raises(WeakPassword):
        await accounts.add_user("dave", password=password)
    assert await accounts.list_users() == []


async def test_given_existing_username_or_extension_when_adding_then_conflict(
    accounts: AccountStore,
) -> None:
    await accounts.add_user("alice", password=PASSWORD, extension="1001")
    with pytest.raises(UserExists) as exists:
        await accounts.add_user("alice", password=PASSWORD)
    assert exists.value.status == 409
    with pytest.raises(ExtensionInUse):
        await accounts.add_user("bob", password=PASSWORD, extension="1001")
    assert [u.username for u in await accounts.list_users()] == ["alice"]


async def test_given_unknown_user_when_read_or_changed_then_user_not_found(
    accounts: AccountStore,
) -> None:
    for call in (
        accounts.get_user("ghost"),
        accounts.get_user(999),
        accounts.disable_user("ghost"),
        accounts.set_password("ghost", PASSWORD),
        accounts.set_role(42, "admin"),
        accounts.issue_token("ghost", "ci"),
    ):
        with pytest.raises(UserNotFound):
            await call


async def test_given_right_password_when_verified_then_user_returned(
    accounts: AccountStore,
) -> None:
    added = await accounts.add_user("alice", password=PASSWORD)
    assert await accounts.verify_password("alice", PASSWORD) == added
    assert await accounts.verify_password(" Alice", PASSWORD) == added


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("alice", "wrong password!"),
        ("nobody", PASSWORD),
        ("NOT VALID NAME", PASSWORD),
        ("alice", "x" * 5000),
    ],
)
async def test_given_wrong_credentials_when_verified_then_same_error_for_all(
    accounts: AccountStore, username: str, password: str
) -> None:
    await accounts.add_user("alice", password=PASSWORD)
    with pytest.raises(InvalidCredentials) as caught:
        await accounts.verify_password(username, password)
    # One message whatever was wrong: no hint that a username exists.
    assert caught.value.message == "wrong username or password"
    assert caught.value.status == 401


async def test_given_unknown_user_when_verified_then_argon2_work_is_still_done(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    calls: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> bool:
            calls.append("verify")
            return super().verify(hash, password)

    accounts = AccountStore(engine, clock, hasher=CountingHasher(time_cost=1, memory_cost=1024))
    with pytest.raises(InvalidCredentials):
        await accounts.verify_password("nobody", PASSWORD)
    assert calls == ["verify"]


async def test_given_disabled_user_when_verified_then_refused_until_enabled(
    accounts: AccountStore,
) -> None:
    await accounts.add_user("alice", password=PASSWORD)
    assert (await accounts.disable_user("alice")).disabled
    with pytest.raises(AccountDisabled) as caught:
        await accounts.verify_password("alice", PASSWORD)
    assert caught.value.status == 403
    assert not (await accounts.enable_user("alice")).disabled
    assert (await accounts.verify_password("alice", PASSWORD)).username == "alice"


async def test_given_new_password_when_set_then_old_one_stops_working(
    accounts: AccountStore, clock: FakeClock
) -> None:
    await accounts.add_user("alice", password=PASSWORD)
    clock.now += 100
    await accounts.set_password("alice", "another long secret")
    with pytest.raises(InvalidCredentials):
        await accounts.verify_password("alice", PASSWORD)
    user = await accounts.verify_password("alice", "another long secret")
    assert user.password_changed_at == clock.now
    with pytest.raises(WeakPassword):
        await accounts.set_password("alice", "tiny")


async def test_given_hash_with_old_parameters_when_verified_then_rehashed(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    old = AccountStore(engine, clock, hasher=FAST_HASHER)
    await old.add_user("alice", password=PASSWORD)
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    new = AccountStore(engine, clock, hasher=stronger)
    await new.verify_password("alice", PASSWORD)
    async with engine.connect() as conn:
        stored = await conn.scalar(sa.select(users.c.password_hash))
    assert not stronger.check_needs_rehash(stored)
    assert await new.verify_password("alice", PASSWORD)


async def test_given_role_change_when_set_then_role_updated(accounts: AccountStore) -> None:
    user = await accounts.add_user("alice", password=PASSWORD)
    assert (await accounts.set_role(user.id, "admin")).role is Role.ADMIN
    with pytest.raises(InvalidAccount):
        await accounts.set_role(user.id, "owner")
    assert (await accounts.get_user(user.id)).role is Role.ADMIN


async def test_given_extensions_when_looked_up_then_both_directions_work(
    accounts: AccountStore,
) -> None:
    alice = await accounts.add_user("alice", password=PASSWORD, extension="1001")
    bob = await accounts.add_user("bob", password=PASSWORD, extension="1002")
    await accounts.add_user("carol", password=PASSWORD)
    assert await accounts.user_for_extension("1001") == alice
    assert await accounts.user_for_extension("9999") is None
    assert await accounts.user_for_extension("1' OR '1'='1") is None
    assert await accounts.extension_for_user(bob.id) == "1002"
    assert await accounts.extension_for_user("carol") is None
    await accounts.disable_user("bob")
    assert await accounts.extensions() == {alice.id: "1001"}


async def test_given_profile_changes_when_updated_then_extension_uniqueness_holds(
    accounts: AccountStore,
) -> None:
    await accounts.add_user("alice", password=PASSWORD, extension="1001")
    bob = await accounts.add_user("bob", password=PASSWORD)
    updated = await accounts.update_user("bob", display_name="Bob B", language="zh-CN")
    assert (updated.display_name, updated.language) == ("Bob B", Language.ZH_CN)
    with pytest.raises(ExtensionInUse):
        await accounts.update_user(bob.id, extension="1001")
    assert (await accounts.update_user(bob.id, extension="1002")).extension == "1002"
    assert (await accounts.update_user(bob.id, extension="")).extension is None
    both = await accounts.update_user(bob.id, role="supervisor", disabled=True)
    assert (both.role, both.disabled) == (Role.SUPERVISOR, True)
    with pytest.raises(InvalidAccount):
        await accounts.update_user(bob.id, display_name="Changed", role="owner")
    assert (await accounts.get_user(bob.id)).display_name == "Bob B"


async def test_given_issued_token_when_authenticated_then_owner_returned_and_use_recorded(
    accounts: AccountStore, clock: FakeClock, engine: AsyncEngine
) -> None:
    alice = await accounts.add_user("alice", password=PASSWORD)
    issued = await accounts.issue_token("alice", "crm sync")
    assert issued.secret.startswith("cc_") and len(issued.secret) > 40
    async with engine.connect() as conn:
        stored = await conn.scalar(sa.select(api_tokens.c.token_hash))
    # Only the digest is stored: the secret itself is nowhere in the database.
    assert stored == token_digest(issued.secret) and issued.secret not in stored
    clock.now += 5
    user, token = await accounts.authenticate_token(issued.secret)
    assert user == alice
    assert token.last_used_at == clock.now
    assert [t.name for t in await accounts.list_tokens("alice")] == ["crm sync"]


@pytest.mark.parametrize("secret", ["", "cc_nope", "Bearer x", "cc_" + "a" * 300, "no-prefix"])
async def test_given_bad_token_when_authenticated_then_invalid_token(
    accounts: AccountStore, secret: str
) -> None:
    await accounts.add_user("alice", password=PASSWORD)
    await accounts.issue_token("alice", "ci")
    with pytest.raises(InvalidToken):
        await accounts.authenticate_token(secret)


async def test_given_revoked_token_when_authenticated_then_refused(accounts: AccountStore) -> None:
    alice = await accounts.add_user("alice", password=PASSWORD)
    issued = await accounts.issue_token(alice.id, "ci")
    revoked = await accounts.revoke_token(issued.token.id, user_id=alice.id)
    assert revoked.revoked_at is not None
    with pytest.raises(InvalidToken):
        await accounts.authenticate_token(issued.secret)
    assert await accounts.list_tokens(alice.id) == []
    assert [t.id for t in await accounts.list_tokens(alice.id, include_revoked=True)] == [
        issued.token.id
    ]


async def test_given_someone_elses_token_when_revoking_as_owner_then_not_found(
    accounts: AccountStore,
) -> None:
    await accounts.add_user("alice", password=PASSWORD)
    bob = await accounts.add_user("bob", password=PASSWORD)
    issued = await accounts.issue_token("alice", "ci")
    with pytest.raises(TokenNotFound):
        await accounts.revoke_token(issued.token.id, user_id=bob.id)
    user, _ = await accounts.authenticate_token(issued.secret)
    assert user.username == "alice"


async def test_given_disabled_owner_when_token_used_then_refused_and_not_revived(
    accounts: AccountStore,
) -> None:
    await accounts.add_user("alice", password=PASSWORD)
    issued = await accounts.issue_token("alice", "ci")
    await accounts.disable_user("alice")
    with pytest.raises(InvalidToken):
        await accounts.authenticate_token(issued.secret)
    await accounts.enable_user("alice")
    with pytest.raises(InvalidToken):
        await accounts.authenticate_token(issued.secret)
    assert await accounts.list_tokens("alice") == []


async def test_given_owner_disabled_behind_the_stores_back_when_token_used_then_refused(
    accounts: AccountStore, engine: AsyncEngine
) -> None:
    await accounts.add_user("alice", password=PASSWORD)
    issued = await accounts.issue_token("alice", "ci")
    async with engine.begin() as conn:
        await conn.execute(users.update().values(disabled=True))
    with pytest.raises(AccountDisabled):
        await accounts.authenticate_token(issued.secret)


async def test_given_bad_token_name_when_issuing_then_refused(accounts: AccountStore) -> None:
    await accounts.add_user("alice", password=PASSWORD)
    for name in ("", "   ", "n" * 101):
        with pytest.raises(InvalidAccount):
            await accounts.issue_token("alice", name)
    assert await accounts.list_tokens("alice") == []


DAY = 86_400.0


async def test_given_token_when_its_lifetime_passes_then_expired_and_not_listed(
    accounts: AccountStore, clock: FakeClock
) -> None:
    await accounts.add_user("alice", password=PASSWORD)
    issued = await accounts.issue_token("alice", "ci")
    assert issued.token.expires_at == clock.now + 90 * DAY
    clock.now += 90 * DAY - 1
    await accounts.authenticate_token(issued.secret)
    clock.now += 1
    with pytest.raises(TokenExpired):
        await accounts.authenticate_token(issued.secret)
    assert await accounts.list_tokens("alice") == []
    assert [t.id for t in await accounts.list_tokens("alice", include_revoked=True)] == [
        issued.token.id
    ]


async def test_given_token_lifetime_asked_then_shorter_allowed_longer_capped(
    engine: AsyncEngine, clock: FakeClock
) -> None:
    accounts = AccountStore(engine, clock, hasher=FAST_HASHER, token_days=30)
    await accounts.add_user("alice", password=PASSWORD)
    assert (await accounts.issue_token("alice", "a")).token.expires_at == clock.now + 30 * DAY
    short = await accounts.issue_token("alice", "b", days=1)
    assert short.token.expires_at == clock.now + DAY
    capped = await accounts.issue_token("alice", "c", days=365)
    assert capped.token.expires_at == clock.now + 30 * DAY
    with pytest.raises(InvalidAccount):
        await accounts.issue_token("alice", "d", days=0)


async def test_given_token_row_without_expiry_then_it_expires_by_the_configured_lifetime(
    accounts: AccountStore, clock: FakeClock, engine: AsyncEngine
) -> None:
    # A row the expiry column was added under (migration 0002 fills it; this is the
    # fallback should one be left empty): never eternal.
    await accounts.add_user("alice", password=PASSWORD)
    issued = await accounts.issue_token("alice", "legacy")
    async with engine.begin() as conn:
        await conn.execute(api_tokens.update().values(expires_at=None))
    clock.now += 90 * DAY
    with pytest.raises(TokenExpired):
        await accounts.authenticate_token(issued.secret)


async def test_given_admin_sets_password_then_tokens_revoked_and_sessions_ended(
    accounts: AccountStore,
) -> None:
    await accounts.add_user("alice", password=PASSWORD)
    issued = await accounts.issue_token("alice", "ci")
    ended: list[int] = []

    async def end_sessions(user_id: int) -> int:
        ended.append(user_id)
        return 2

    accounts.on_access_revoked(end_sessions)
    revoked = await accounts.set_password("alice", "a brand new passphrase")
    assert (revoked.tokens_revoked, revoked.sessions_ended) == (1, 2)
    assert ended == [(await accounts.get_user("alice")).id]
    with pytest.raises(InvalidToken):
        await accounts.authenticate_token(issued.secret)


async def test_given_own_password_change_then_sessions_end_but_tokens_kept(
    accounts: AccountStore,
) -> None:
    alice = await accounts.add_user("alice", password=PASSWORD)
    issued = await accounts.issue_token("alice", "ci")
    ended: list[int] = []

    async def end_sessions(user_id: int) -> int:
        ended.append(user_id)
        return 1

    accounts.on_access_revoked(end_sessions)
    revoked = await accounts.set_password("alice", "a brand new passphrase", revoke_tokens=False)
    assert (revoked.tokens_revoked, revoked.sessions_ended) == (0, 1)
    assert ended == [alice.id]
    user, _token = await accounts.authenticate_token(issued.secret)
    assert user.id == alice.id


async def test_given_listener_removed_then_no_longer_called(accounts: AccountStore) -> None:
    await accounts.add_user("alice", password=PASSWORD)
    calls: list[int] = []

    async def end_sessions(user_id: int) -> int:
        calls.append(user_id)
        return 0

    remove = accounts.on_access_revoked(end_sessions)
    await accounts.disable_user("alice")
    remove()
    await accounts.enable_user("alice")
    await accounts.disable_user("alice")
    assert len(calls) == 1


async def test_given_many_requests_with_one_token_then_last_used_written_once_a_minute(
    accounts: AccountStore, clock: FakeClock, engine: AsyncEngine
) -> None:
    await accounts.add_user("alice", password=PASSWORD)
    issued = await accounts.issue_token("alice", "ci")
    writes: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKENS"):
            writes.append(statement)

    sa.event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        # Concurrent requests with a token: one write between them, not one each.
        await asyncio.gather(*(accounts.authenticate_token(issued.secret) for _ in range(20)))
        assert len(writes) == 1
        clock.now += 59
        for _ in range(5):
            await accounts.authenticate_token(issued.secret)
        assert len(writes) == 1
        clock.now += 1
        _user, token = await accounts.authenticate_token(issued.secret)
        assert len(writes) == 2 and token.last_used_at == clock.now
    finally:
        sa.event.remove(engine.sync_engine, "before_cursor_execute", count)
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(api_tokens.c.last_used_at)) == clock.now
