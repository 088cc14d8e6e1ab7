"""The HTML login form, logging out, and pages sending the logged-out to /login."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent_ui.pages.login import safe_next
from tests.agent_ui.conftest import PASSWORD, Caller

Client = TestClient[Any, Any]
TOKEN = re.compile(r'name="login_token" value="([^"]+)"')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


async def login_form_token(client: Client) -> str:
    response = await client.get("/login")
    assert response.status == 200
    found = TOKEN.search(await response.text())
    assert found is not None
    return found.group(1)


async def submit(client: Client, token: str, username: str, password: str, **extra: str) -> Any:
    return await client.post(
        "/login",
        data={"login_token": token, "username": username, "password": password, **extra},
        allow_redirects=False,
        headers={"Origin": f"http://{client.host}:{client.port}"},
    )


async def test_given_the_login_form_when_the_password_is_right_then_a_session_starts(
    client: Client, agent: Caller
) -> None:
    token = await login_form_token(client)
    response = await submit(client, token, agent.username, PASSWORD, next="/customers")
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == "/customers"
    assert response.cookies["cc_session"]["httponly"]
    page = await client.get("/customers")
    assert page.status == 200
    assert "agent1" in await page.text()


async def test_given_an_agent_without_next_then_they_land_on_the_console(
    client: Client, agent: Caller, supervisor: Caller
) -> None:
    response = await submit(client, await login_form_token(client), agent.username, PASSWORD)
    assert response.headers["Location"] == "/console"
    client.session.cookie_jar.clear()
    response = await submit(client, await login_form_token(client), supervisor.username, PASSWORD)
    assert response.headers["Location"] == "/customers"


async def test_given_a_wrong_password_then_the_form_comes_back_with_the_message(
    client: Client, agent: Caller
) -> None:
    response = await submit(client, await login_form_token(client), agent.username, "nope")
    assert response.status == 401
    page = await response.text()
    assert "Wrong username or password." in page
    assert 'value="agent1"' in page
    assert "cc_session" not in response.cookies


async def test_given_no_login_token_or_a_foreign_origin_then_the_login_is_refused(
    client: Client, agent: Caller
) -> None:
    token = await login_form_token(client)
    forged = await submit(client, "another-token", agent.username, PASSWORD)
    assert forged.status == 403 and "cc_session" not in forged.cookies
    cross_site = await client.post(
        "/login",
        data={"login_token": token, "username": agent.username, "password": PASSWORD},
        allow_redirects=False,
        headers={"Origin": "https://evil.example"},
    )
    assert cross_site.status == 403 and "cc_session" not in cross_site.cookies
    client.session.cookie_jar.clear()
    no_cookie = await submit(client, token, agent.username, PASSWORD)
    assert no_cookie.status == 403


async def test_given_repeated_failures_then_the_form_says_to_wait(
    client: Client, agent: Caller
) -> None:
    for _ in range(3):
        await submit(client, await login_form_token(client), agent.username, "wrong")
    response = await submit(client, await login_form_token(client), agent.username, PASSWORD)
    assert response.status == 429
    assert "Too many failed logins" in await response.text()


async def test_given_no_session_then_a_page_redirects_to_login_and_the_api_answers_401(
    client: Client,
) -> None:
    page = await client.get("/customers/12?x=1", allow_redirects=False)
    assert page.status == 302
    assert page.headers["Location"] == "/login?next=/customers/12?x%3D1"
    api = await client.get("/api/v1/customers")
    assert api.status == 401


async def test_given_a_session_when_logging_out_with_the_page_token_then_it_ends(
    client: Client, agent: Caller
) -> None:
    await submit(client, await login_form_token(client), agent.username, PASSWORD)
    page = await (await client.get("/customers")).text()
    found = CSRF.search(page)
    assert found is not None
    refused = await client.post("/logout", data={"csrf_token": "wrong"}, allow_redirects=False)
    assert refused.status == 403
    assert (await client.get("/customers", allow_redirects=False)).status == 200
    response = await client.post(
        "/logout", data={"csrf_token": found.group(1)}, allow_redirects=False
    )
    assert response.status == 303 and response.headers["Location"] == "/login"
    assert (await client.get("/customers", allow_redirects=False)).status == 302


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/customers/5", "/customers/5"), ("//evil.example", None), ("/\\evil.example", None),
     ("https://evil.example", None), ("/login", None), ("/api/v1/customers", None), ("", None)],
)  # fmt: skip
def test_given_a_next_target_then_only_local_pages_are_followed(
    target: str, expected: str | None
) -> None:
    assert safe_next(target) == expected


async def test_given_a_missing_customer_then_the_profile_page_is_a_404_page(
    client: Client, agent: Caller
) -> None:
    await submit(client, await login_form_token(client), agent.username, PASSWORD)
    response = await client.get("/customers/999999")
    assert response.status == 404
    assert "There is no customer 999999." in await response.text()


async def test_given_a_customer_then_the_profile_page_carries_its_screen_pop(
    client: Client, agent: Caller
) -> None:
    created = await client.post(
        "/api/v1/customers",
        json={"display_name": "Ann </script> Lee", "identities": []},
        headers=agent.bearer,
    )
    customer = await created.json()
    await submit(client, await login_form_token(client), agent.username, PASSWORD)
    response = await client.get(f"/customers/{customer['id']}")
    assert response.status == 200, await response.text()
    page = await response.text()
    data = re.search(r'<script type="application/json" id="page-data">(.*?)</script>', page)
    assert data is not None
    import json

    parsed = json.loads(data.group(1))
    assert parsed["screen_pop"]["customer"]["display_name"] == "Ann </script> Lee"
    assert parsed["customer_id"] == customer["id"] and parsed["can_merge"] is False
    assert "Ann &lt;/script&gt; Lee" in page
