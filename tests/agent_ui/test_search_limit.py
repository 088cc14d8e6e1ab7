"""Customer search is rate-limited per user (searches and the profiles they show), so
nobody can walk the customer base by name prefix; each search is audited without its
text."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_ui.wiring import setup
from contact_center.services import Actor, Services
from tests.agent_ui.conftest import Caller, FakeClock

Client = TestClient[Any, Any]
SEARCHES = 3
RESULTS = 25
WINDOW = 60


@pytest.fixture
async def limited(services: Services, aiohttp_client: Any) -> Client:
    settings = services.settings.with_overrides(
        security={"search_max_per_window": SEARCHES, "search_max_results_per_window": RESULTS,
                  "search_window_seconds": WINDOW}
    )  # fmt: skip
    application = web.Application()
    setup(application, dataclasses.replace(services, settings=settings))
    client: Client = await aiohttp_client(application)
    return client


async def customers(services: Services, agent: Caller, count: int) -> None:
    actor = Actor(agent.user_id, agent.username, agent.role)
    for i in range(count):
        name = f"{chr(ord('a') + i % 26)}name Pat"
        await services.profiles.create_customer({"display_name": name}, [], actor=actor)


async def test_given_searches_over_the_limit_then_429_with_retry_after_until_window_passes(
    limited: Client, agent: Caller, supervisor: Caller, clock: FakeClock
) -> None:
    for i in range(SEARCHES):
        response = await limited.get(f"/api/v1/customers?name=a{i}", headers=agent.bearer)
        assert response.status == 200
    clock.advance(20)
    refused = await limited.get("/api/v1/customers?name=b", headers=agent.bearer)
    assert refused.status == 429
    assert refused.headers["Retry-After"] == str(WINDOW - 20)
    body = await refused.json()
    assert body["error"] == "search-rate-limited"
    assert body["details"]["scope"] == "searches" and body["details"]["limit"] == SEARCHES
    # Per user: someone else searches on.
    other = await limited.get("/api/v1/customers?name=b", headers=supervisor.bearer)
    assert other.status == 200
    clock.advance(WINDOW - 20)
    again = await limited.get("/api/v1/customers?name=b", headers=agent.bearer)
    assert again.status == 200


async def test_given_large_pages_then_the_profiles_shown_are_limited_too(
    limited: Client, agent: Caller, services: Services, clock: FakeClock
) -> None:
    await customers(services, agent, 40)
    first = await limited.get("/api/v1/customers?q=pat&limit=20", headers=agent.bearer)
    assert len((await first.json())["items"]) == 20
    clock.advance(10)
    second = await limited.get("/api/v1/customers?q=pat&limit=5", headers=agent.bearer)
    assert len((await second.json())["items"]) == 5
    # 25 profiles shown: the allowance is used up although one search is left.
    refused = await limited.get("/api/v1/customers?q=pat&limit=1", headers=agent.bearer)
    assert refused.status == 429
    assert (await refused.json())["details"]["scope"] == "results"
    assert refused.headers["Retry-After"] == str(WINDOW - 10)


async def test_given_enumeration_by_name_prefix_then_it_stops_at_the_allowance(
    limited: Client, agent: Caller, services: Services
) -> None:
    await customers(services, agent, 60)
    seen: set[int] = set()
    statuses = []
    started = time.perf_counter()
    for letter in "abcdefghijklmnopqrstuvwxyz":
        cursor: str | None = ""
        while cursor is not None:
            response = await limited.get(
                f"/api/v1/customers?name={letter}&limit=100&cursor={cursor}",
                headers=agent.bearer,
            )
            statuses.append(response.status)
            if response.status != 200:
                break
            page = await response.json()
            seen.update(c["id"] for c in page["items"])
            cursor = page["next_cursor"]
    elapsed = time.perf_counter() - started
    assert statuses.count(200) == SEARCHES
    assert len(seen) <= RESULTS < 60
    print(f"enumeration: {len(seen)} of 60 profiles in {elapsed:.2f} s, then 429")
