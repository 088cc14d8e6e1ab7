"""The hub's upkeep: long-lived tabs are authenticated again (a logout, a revoked token,
a disabled account or a new role reaches an open socket), and streams of users gone
longer than the resume window are let go."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from agent_ui.hub.hub import Hub
from agent_ui.hub.messages import Snapshot
from contact_center.services import Services
from tests.agent_ui.conftest import Caller, FakeClock
from tests.agent_ui.hub.conftest import Connect, gone

Client = TestClient[Any, Any]


async def test_given_a_logout_elsewhere_then_the_sessions_open_tab_is_closed_at_the_next_check(
    client: Client,
    connect: Connect,
    agent: Caller,
    hub: Hub,
    clock: FakeClock,
    login: Callable[..., Awaitable[str]],
) -> None:
    csrf = await login(agent.username)
    console = await connect(headers={"Origin": str(client.make_url("/")).rstrip("/")})
    await console.hello()
    response = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert response.status == 204

    clock.advance(30)
    assert (await hub.tick())["closed"] == 0  # not due yet
    clock.advance(31)
    assert (await hub.tick())["closed"] == 1
    closed = await console.closed()
    assert (closed.code, closed.error) == (4401, "session-expired")


async def test_given_a_revoked_token_or_a_disabled_account_then_the_tab_is_closed(
    connect: Connect,
    agent: Caller,
    make_user: Callable[..., Awaitable[Caller]],
    routed: Services,
    hub: Hub,
    clock: FakeClock,
) -> None:
    other = await make_user("agent2", "agent")
    revoked, disabled = await connect(agent), await connect(other)
    await revoked.hello()
    await disabled.hello()
    tokens = await routed.accounts.list_tokens(agent.user_id)
    await routed.accounts.revoke_token(tokens[0].id)
    await routed.accounts.disable_user(other.user_id)

    clock.advance(61)
    assert (await hub.tick())["closed"] == 2
    first, second = await revoked.closed(), await disabled.closed()
    assert (first.code, first.error) == (4401, "invalid-token")
    # Disabling an account revokes its tokens: its token is refused like a revoked one.
    assert (second.code, second.error) == (4401, "invalid-token")
    assert hub.connections == set()


async def test_given_a_new_role_then_the_tab_must_reconnect_to_be_authorised_again(
    connect: Connect, agent: Caller, routed: Services, hub: Hub, clock: FakeClock
) -> None:
    console = await connect(agent)
    await console.hello()
    await routed.accounts.update_user(agent.user_id, role="supervisor")
    clock.advance(61)
    await hub.tick()
    closed = await console.closed()
    assert (closed.code, closed.error) == (4403, "role-changed")
    again = await connect(agent)
    welcome, _ = await again.hello(topics=["agents"])
    assert welcome.role == "supervisor" and welcome.topics == ["agents"]


async def test_given_a_user_gone_past_the_resume_window_then_their_stream_is_let_go(
    connect: Connect, supervisor: Caller, hub: Hub, clock: FakeClock
) -> None:
    console = await connect(supervisor)
    welcome, _ = await console.hello(topics=["queue:support"])
    await console.close()
    await gone(hub, supervisor)
    clock.advance(hub.retention_seconds - 1)
    assert (await hub.tick())["expired_streams"] == 0
    assert "queue:support" in hub.watchers
    clock.advance(2)
    assert (await hub.tick())["expired_streams"] == 1
    assert supervisor.user_id not in hub.streams and hub.watchers == {}
    again = await connect(supervisor)
    fresh, after = await again.hello(resume_from={"stream": welcome.stream, "seq": welcome.seq})
    assert fresh.resumed is False and fresh.stream != welcome.stream
    assert isinstance(after[-1], Snapshot)
