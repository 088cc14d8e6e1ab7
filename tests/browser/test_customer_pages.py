"""The login page and the customer pages in a real browser (Chromium via Playwright)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import (
    AGENT,
    AGENT_CN,
    SUPERVISOR,
    TIMELINE_PAGE,
    Product,
    api_call,
    log_in,
    page_errors,
    shot,
    watch_errors,
)


def test_given_a_wrong_password_then_the_login_page_says_so_and_a_right_one_gets_in(
    page: Page, product: Product
) -> None:
    page.goto(product.url("/customers"))
    expect(page).to_have_url(re.compile(r"/login\?next=(%2F|/)customers$"))
    page.fill("#username", AGENT[0])
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("Wrong username or password.")
    expect(page.locator("#username")).to_have_value(AGENT[0])
    shot(page, "login-wrong-password")
    page.fill("#password", AGENT[1])
    page.click("button[type=submit]")
    expect(page).to_have_url(product.url("/customers"))
    expect(page.locator(".who-name")).to_have_text("Alice Agent")
    assert page_errors(page) == []


def test_given_the_keyboard_only_then_the_login_form_can_be_filled_and_sent(
    page: Page, product: Product
) -> None:
    page.goto(product.url("/login?next=/customers"))
    # The username field has the focus on arrival; Tab moves to the password, Enter sends.
    expect(page.locator("#username")).to_be_focused()
    page.keyboard.type(SUPERVISOR[0])
    page.keyboard.press("Tab")
    expect(page.locator("#password")).to_be_focused()
    page.keyboard.type(SUPERVISOR[1])
    page.keyboard.press("Enter")
    expect(page).to_have_url(product.url("/customers"))
    expect(page.locator(".who-role")).to_have_text("Supervisor")


def test_given_a_page_then_its_csp_allows_no_inline_script(page: Page, product: Product) -> None:
    response = page.goto(product.url("/login"))
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp


def test_given_an_agent_when_searching_then_opening_a_profile_shows_card_and_timeline(
    page: Page, product: Product
) -> None:
    log_in(page, product, AGENT, "/customers")
    page.fill("#search-text", "a")
    page.select_option("#search-field", "name")
    page.press("#search-text", "Enter")
    rows = page.locator("#results tbody tr")
    expect(rows.first).to_be_visible()
    shot(page, "customer-search")
    rows.first.locator("a.row-link").click()
    expect(page).to_have_url(re.compile(r"/customers/\d+$"))
    expect(page.locator(".customer-card .card-name")).to_be_visible()
    expect(page.locator("#timeline .timeline-item").first).to_be_visible()
    shot(page, "customer-profile")
    assert page_errors(page) == []


def _customer_with_history(page: Page, product: Product) -> dict[str, Any]:
    """A seeded customer with more interactions than one timeline page shows."""
    found = api_call(page, "GET", "/api/v1/customers?name=a&limit=100")
    for customer in found["items"]:
        history = api_call(page, "GET", f"/api/v1/customers/{customer['id']}/history?limit=200")
        if (
            len(history["items"]) > 2 * TIMELINE_PAGE + 1
            and len({i["channel"] for i in history["items"]}) > 1
        ):
            customer["history"] = history["items"]
            return dict(customer)
    raise AssertionError("the demo data has no customer with a long, mixed history")


def test_given_a_long_history_then_the_timeline_pages_and_filters_by_channel_in_place(
    page: Page, product: Product
) -> None:
    log_in(page, product, SUPERVISOR, "/customers")
    customer = _customer_with_history(page, product)
    page.goto(product.url(f"/customers/{customer['id']}"))
    items = page.locator("#timeline .timeline-item")
    expect(items.first).to_be_visible()
    first_count = items.count()
    # Paging appends without a reload: a marker set on the window survives.
    page.evaluate("window.__stay = 1")
    page.click("#timeline [data-action=more]")
    expect(items).not_to_have_count(first_count)
    assert items.count() > first_count
    assert page.evaluate("window.__stay") == 1
    channel = next(i["channel"] for i in customer["history"] if i["channel"] != "voice")
    page.click(f"#timeline .segmented [data-channel={channel}]")
    expect(page.locator(f"#timeline .segmented [data-channel={channel}]")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.locator("#timeline .timeline-item[data-channel=voice]")).to_have_count(0)
    expect(items.first).to_have_attribute("data-channel", channel)
    assert page.evaluate("window.__stay") == 1
    shot(page, "customer-timeline-filtered")


def test_given_an_agent_when_editing_and_adding_a_note_then_the_profile_shows_both(
    page: Page, product: Product
) -> None:
    log_in(page, product, AGENT, "/customers")
    edith = {"display_name": "Edith Editable", "identities": []}
    created = api_call(page, "POST", "/api/v1/customers", edith)
    page.goto(product.url(f"/customers/{created['id']}"))
    page.click("#edit-button")
    page.fill("#edit-name", "Edith Edited")
    page.fill("#edit-tags", "vip, callback")
    page.select_option("#edit-stage", "advocate")
    page.check("input[name=consent-marketing]")
    page.click("#edit-save")
    card = page.locator(".customer-card")
    expect(card.locator(".card-name")).to_have_text("Edith Edited")
    expect(card.locator(".tag")).to_have_text(["callback", "vip"])
    expect(card.locator("[data-consent=marketing]")).to_have_attribute("data-given", "true")
    page.fill("#note-body", "Promised a refund by Friday.")
    page.click("#note-form button[type=submit]")
    expect(page.locator("#customer-notes .timeline-note").first).to_contain_text(
        "Promised a refund by Friday."
    )
    page.reload()
    expect(page.locator("#customer-notes .timeline-note").first).to_contain_text(
        "Promised a refund by Friday."
    )
    expect(page.locator(".customer-card .card-name")).to_have_text("Edith Edited")
    assert page_errors(page) == []


def test_given_a_stored_script_payload_then_every_page_shows_it_as_text(
    page: Page, product: Product
) -> None:
    payload = "<script>window.__xss=1</script><img src=x onerror=window.__xss=2>"
    log_in(page, product, AGENT, "/customers")
    created = api_call(
        page, "POST", "/api/v1/customers",
        {"display_name": payload, "tags": ["<b>bold</b>"],
         "identities": [{"kind": "email", "value": "xss@example.com"}]},
    )  # fmt: skip
    api_call(page, "POST", f"/api/v1/customers/{created['id']}/notes", {"body": payload})
    page.goto(product.url(f"/customers/{created['id']}"))
    expect(page.locator(".customer-card .card-name")).to_have_text(payload)
    expect(page.locator("#customer-notes .timeline-note").first).to_contain_text(payload)
    expect(page.locator("h1#customer-title")).to_contain_text(payload)
    page.goto(product.url("/customers?field=email&q=xss@example.com"))
    expect(page.locator("#results a.row-link")).to_have_text(payload)
    assert page.evaluate("window.__xss") is None
    assert page.locator("#results img, .customer-card img, b").count() == 0


def test_given_a_chinese_user_then_the_ui_is_chinese(
    new_context: Callable[..., BrowserContext], product: Product
) -> None:
    page = new_context(locale="zh-CN").new_page()
    watch_errors(page)
    page.goto(product.url("/login"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("登录")
    log_in(page, product, SUPERVISOR, "/customers")
    # The supervisor's own preference is English: switch it in the header.
    page.select_option("#language-switch", "zh-CN")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("h1")).to_have_text("客户")
    page.fill("#search-text", "a")
    page.select_option("#search-field", "name")
    page.press("#search-text", "Enter")
    expect(page.locator("#results thead")).to_contain_text("等级与标记")
    page.locator("#results a.row-link").first.click()
    expect(page.locator("#timeline-title")).to_have_text("历史记录")
    expect(page.locator(".customer-card")).to_contain_text("近 12 个月消费")
    shot(page, "customer-profile-zh")
    # Back to English for the other tests.
    page.select_option("#language-switch", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert page_errors(page) == []


def test_given_an_agent_whose_language_is_chinese_then_pages_are_chinese_at_once(
    page: Page, product: Product
) -> None:
    page.goto(product.url("/login?next=/customers"))
    page.click("a[hreflang=zh-CN]")
    expect(page.locator("h1")).to_have_text("登录")
    expect(page.locator("input[name=next]")).to_have_value("/customers")
    log_in(page, product, AGENT_CN, "/customers")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator(".who-role")).to_have_text("坐席")
    expect(page.locator("#search-text")).to_have_attribute("placeholder", "姓名、电话、邮箱或账号")
    shot(page, "customers-zh")


def test_given_a_supervisor_then_they_merge_and_undo_and_see_the_audit_trail(
    page: Page, product: Product
) -> None:
    log_in(page, product, SUPERVISOR, "/customers")
    survivor = api_call(page, "POST", "/api/v1/customers", {"display_name": "Mia Survivor"})
    merged = api_call(page, "POST", "/api/v1/customers", {"display_name": "Mia Duplicate"})
    page.goto(product.url(f"/customers/{survivor['id']}"))
    page.on("dialog", lambda dialog: dialog.accept())
    page.fill("#merge-id", str(merged["id"]))
    page.fill("#merge-reason", "same person, two emails")
    page.click("#merge-form button[type=submit]")
    merge_row = page.locator("#merges li[data-merge-id]")
    expect(merge_row).to_contain_text(f"#{merged['id']} into #{survivor['id']}")
    expect(page.locator("#audit tbody")).to_contain_text("Merged")
    page.set_viewport_size({"width": 1920, "height": 1080})
    shot(page, "customer-profile-supervisor-1920")
    merge_row.get_by_role("button", name="Undo").click()
    expect(page.locator("#merges .badge")).to_have_text("Undone")
    expect(page.locator("#audit tbody")).to_contain_text("Undid a merge")
    assert page_errors(page) == []


def test_given_an_agent_then_identities_can_be_added_and_removed_but_not_merges(
    page: Page, product: Product
) -> None:
    log_in(page, product, AGENT, "/customers")
    created = api_call(page, "POST", "/api/v1/customers", {"display_name": "Ivy Identity"})
    page.goto(product.url(f"/customers/{created['id']}"))
    expect(page.locator("#merge-form")).to_have_count(0)
    expect(page.locator("#audit")).to_have_count(0)
    page.select_option("#identity-kind", "email")
    page.fill("#identity-value", "Ivy@Example.com")
    page.click("#identity-form button[type=submit]")
    identity = page.locator("#identities li[data-kind=email]")
    expect(identity.locator(".identity-value")).to_have_text("ivy@example.com")
    page.on("dialog", lambda dialog: dialog.accept())
    identity.get_by_role("button").click()
    expect(page.locator("#identities li[data-kind=email]")).to_have_count(0)
    assert page_errors(page) == []
