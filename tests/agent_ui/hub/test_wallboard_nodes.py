"""Two app nodes on one PostgreSQL and one real Redis (a shared router): supervisors on
either node see the very same board, computed once by the node holding the lease."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from agent_ui.hub.messages import Board
from agent_ui.hub.wiring import HUB, HUB_PATH
from contact_center.app import SERVICES, build_app, build_services
from contact_center.settings import Settings
from contact_center.store.migrate import upgrade
from contact_center.store.schema import metadata
from tests.agent_ui.hub.conftest import ROUTING, Console

pytestmark = [pytest.mark.integration, pytest.mark.slow]
Client = TestClient[Any, Any]
WAIT = 10.0


@pytest.fixture
async def nodes(
    postgres_url: str,
    redis_url: str,
    redis_namespace: str,
    aiohttp_client: Callable[..., Awaitable[Client]],
) -> AsyncIterator[tuple[Client, Client, list[str]]]:
    settings = Settings().with_overrides(
        database={"url": postgres_url},
        redis={"url": redis_url, "namespace": redis_namespace},
        phone={"default_region": "GB"},
    )
    settings = settings.model_copy(update={"routing": ROUTING})
    setup = build_services(settings)
    await upgrade(setup.engine)
    async with setup.engine.begin() as conn:
        tables = ", ".join(t.name for t in metadata.sorted_tables)
        await conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    tokens = []
    for name in ("sam", "sue"):
        user = await setup.accounts.add_user(
            name, password="correct horse battery", role="supervisor"
        )
        tokens.append((await setup.accounts.issue_token(user.id, "wall")).secret)
    await setup.engine.dispose()

    def node(name: str) -> Any:
        return build_app(settings.with_overrides(server={"node_id": name}))

    node_a = await aiohttp_client(node("a"))
    node_b = await aiohttp_client(node("b"))
    yield node_a, node_b, tokens


async def _wall(client: Client, token: str) -> Console:
    ws = await client.ws_connect(HUB_PATH, headers={"Authorization": f"Bearer {token}"})
    console = Console(ws)
    await console.hello(topics=["wallboard"])
    return console


async def _board_with(console: Console, waiting: int) -> Board:
    while True:
        board = await console.until(Board, timeout=WAIT)
        row = next(r for r in board.board.queues if (r.queue, r.channel) == ("support", "voice"))
        if row.waiting == waiting:
            return board


async def test_given_supervisors_on_two_nodes_then_they_see_the_same_board(
    nodes: tuple[Client, Client, list[str]],
) -> None:
    node_a, node_b, (sam, sue) = nodes
    on_a = await _wall(node_a, sam)
    on_b = await _wall(node_b, sue)
    routing_b = node_b.app[SERVICES].routing
    assert routing_b is not None
    await routing_b.enqueue("call-1", "voice", "support", None)
    await routing_b.enqueue("call-2", "voice", "support", None)

    seen_a = await _board_with(on_a, 2)
    seen_b = await _board_with(on_b, 2)
    while seen_b.board.version < seen_a.board.version:
        seen_b = await on_b.until(Board, timeout=WAIT)
    while seen_a.board.version < seen_b.board.version:
        seen_a = await on_a.until(Board, timeout=WAIT)
    assert seen_a.board == seen_b.board
    # One node computed every board; the other only relayed them.
    computed = sorted(c.app[HUB].wallboard.computed for c in (node_a, node_b))
    assert computed[0] == 0 and computed[1] >= 1
    # The REST answer on either node is that board or a later one (the last one heard).
    answers = []
    for client, token in ((node_a, sam), (node_b, sue)):
        found = await client.get("/api/v1/wallboard", headers={"Authorization": f"Bearer {token}"})
        answers.append((await found.json())["version"])
    assert min(answers) >= seen_a.board.version
