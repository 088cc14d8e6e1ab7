"""Property: whatever JSON a caller sends, the API answers with success or a 4xx with a
stable error id, never a 500, and a refused request changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contact_center.services import Services
from contact_center.store.schema import customers
from tests.agent_ui.conftest import Caller

Client = TestClient[Any, Any]

CUSTOMER_KEYS = [
    "display_name", "language", "timezone", "lifecycle_stage", "owner_agent_id", "tags",
    "attributes", "consent", "provisional", "identities", "id", "tier", "__proto__",
]  # fmt: skip
SEARCH_KEYS = ["q", "name", "phone", "email", "number", "limit", "cursor", "sort"]

texts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300
) | st.sampled_from(["' OR 1=1 --", "%", "_", "+44 20 7946 0018", "a@b.example", "0", "-1"])
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | texts
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
customer_bodies = st.dictionaries(
    st.sampled_from(CUSTOMER_KEYS) | texts, json_values, max_size=6
) | st.dictionaries(
    st.just("identities"),
    st.lists(
        st.fixed_dictionaries(
            {"kind": st.sampled_from(["phone", "email", "chat", "account", "fax"]), "value": texts}
        ),
        max_size=3,
    ),
)
search_params = st.dictionaries(st.sampled_from(SEARCH_KEYS), texts, min_size=0, max_size=3)

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def count_customers(services: Services) -> int:
    async with services.engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(customers)) or 0)


@pytest.mark.slow
@FUZZ
@given(body=customer_bodies)
async def test_any_customer_body_gets_201_or_a_clear_4xx(
    client: Client, agent: Caller, services: Services, body: dict[str, Any]
) -> None:
    before = await count_customers(services)
    response = await client.post("/api/v1/customers", json=body, headers=agent.bearer)
    assert response.status == 201 or 400 <= response.status < 500, (body, await response.text())
    payload = await response.json()
    if response.status != 201:
        assert isinstance(payload["error"], str) and payload["message"]
        assert await count_customers(services) == before


@pytest.mark.slow
@FUZZ
@given(params=search_params)
async def test_any_search_query_gets_200_or_a_clear_4xx(
    client: Client, agent: Caller, params: dict[str, str]
) -> None:
    response = await client.get("/api/v1/customers", params=params, headers=agent.bearer)
    assert response.status == 200 or 400 <= response.status < 500, (params, await response.text())
    payload = await response.json()
    if response.status != 200:
        assert isinstance(payload["error"], str) and payload["message"]
