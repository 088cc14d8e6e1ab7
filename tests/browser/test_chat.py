"""A web chat in two browsers: a customer on the sample page (/chat/demo) with the
widget, an agent in the console. Both ways, with typing indicators and read receipts,
a network drop on each side while both keep writing (nothing lost, nothing doubled,
in order), a canned response, an attachment, a hostile message shown as text on both
sides, the end, the rating and the transcript on the customer's timeline; the widget in
Chinese on a phone-sized screen; the supervisors' canned responses page.

The product runs in this process on its own event loop (as in test_console_shift.py),
with the chat channel on the queue ``support`` and the widget's own origin allowed.
Screenshots: test-artifacts/screenshots/chat-*.png.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import re
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from aiohttp import web

from contact_center.app import build_app, build_services
from contact_center.services import SYSTEM
from contact_center.settings import Settings
from contact_center.store.migrate import upgrade
from tests.browser.conftest import log_in, page_errors, shot, watch_errors

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

T = TypeVar("T")
PASSWORD = "chat-browser-2026"
ALICE = ("alice", PASSWORD)
WANG = ("wang", PASSWORD)
SAM = ("sam", PASSWORD)
ANN_EMAIL = "ann@example.com"
EARLIER_NOTE = "Asked about the fibre upgrade; call back next week"
HOSTILE = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
LONG = 15_000
ROUTING: dict[str, Any] = {
    "not_ready_reasons": ["break", "lunch"],
    "profiles": {"default": {"capacity": {"voice": 1, "chat": 3, "email": 3}}},
    "queues": {
        "support": {
            "channels": ["voice", "chat", "email"],
            "wrap_up_seconds": "manual",
            "dispositions": [{"id": "solved", "label": "Solved", "resolved": True}],
        },
        "billing": {"channels": ["chat"], "wrap_up_seconds": "manual"},
    },
}
# A 1x1 PNG: the attachment's type is read from its content.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
WIDGET = "[data-contact-center-chat]"


@dataclasses.dataclass
class ChatProduct:
    base_url: str
    loop: asyncio.AbstractEventLoop
    app: web.Application
    customer_id: int

    def url(self, path: str) -> str:
        return self.base_url + path

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _seed(settings: Settings) -> int:
    setup = build_services(settings)
    try:
        await upgrade(setup.engine)
        for username, role, name, language in (
            ("alice", "agent", "Alice Agent", None),
            ("wang", "agent", "王芳", "zh-CN"),
            ("sam", "supervisor", "Sam Supervisor", None),
        ):
            await setup.accounts.add_user(
                username, password=PASSWORD, role=role, display_name=name,
                **({"language": language} if language else {}),
            )  # fmt: skip
        profiles = setup.profiles
        ann = await profiles.create_customer(
            {"display_name": "Ann Lee"}, [profiles.identity("email", ANN_EMAIL)], actor=SYSTEM
        )
        started = setup.clock() - 5 * 86_400
        earlier = await profiles.start_interaction(
            ann["id"], channel="voice", queue="support", started_at=started
        )
        await profiles.update_interaction(
            earlier["id"],
            {"answered_at": started + 10, "ended_at": started + 200, "status": "closed",
             "notes": EARLIER_NOTE},
        )  # fmt: skip
        assert setup.chat is not None
        now = setup.clock()
        await setup.chat.service.store.add_canned(
            {"queue": "support", "shortcut": "greet", "title": "Greeting",
             "text": "Hello {customer.first_name}, I am {agent.first_name}. How can I help?",
             "created_at": now, "updated_at": now, "updated_by": None},
        )  # fmt: skip
        return int(ann["id"])
    finally:
        await setup.engine.dispose()


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatProduct]:
    folder: Path = tmp_path_factory.mktemp("chat")
    settings = Settings().with_overrides(
        database={"url": f"sqlite+aiosqlite:///{folder / 'chat.db'}"}
    )
    chat = {
        "attachments_dir": str(folder / "files"),
        "typing_timeout_seconds": 4,
        "queues": {
            "support": {
                "email": "optional",
                "phone": "optional",
                "topics": [
                    {"id": "internet", "label": "Internet", "queue": "support"},
                    {"id": "bills", "label": "Bills", "queue": "billing"},
                ],
            }
        },
    }
    settings = settings.model_copy(update={"routing": ROUTING, "chat": chat})
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="chat-product", daemon=True)
    thread.start()
    port = _free_port()

    async def start() -> tuple[web.AppRunner, web.Application, int]:
        customer_id = await _seed(settings)
        app = build_app(settings)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner, app, customer_id

    try:
        runner, app, customer_id = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    except BaseException:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        raise
    try:
        yield ChatProduct(f"http://127.0.0.1:{port}", loop, app, customer_id)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def open_console(
    new_context: Callable[..., BrowserContext], product: ChatProduct, account: tuple[str, str]
) -> Page:
    page = new_context().new_page()
    watch_errors(page)
    log_in(page, product, account)  # type: ignore[arg-type]
    page.wait_for_url(re.compile(r"/console"))
    page.wait_for_selector("#hub-status[data-status=live]", timeout=LONG)
    page.click("#state-ready")
    page.wait_for_selector("#state-bar[data-state=ready]", timeout=LONG)
    return page


def open_widget(
    new_context: Callable[..., BrowserContext], product: ChatProduct, path: str, **options: Any
) -> tuple[BrowserContext, Page]:
    context = new_context(**options)
    page = context.new_page()
    watch_errors(page)
    page.goto(product.url(path))
    page.click(f"{WIDGET} .launcher")
    page.wait_for_selector(f"{WIDGET}[data-view=form]", state="attached", timeout=LONG)
    return context, page


def widget_texts(page: Page) -> list[str]:
    return page.locator(f"{WIDGET} .messages .item[data-seq] .text").all_inner_texts()


def console_texts(page: Page) -> list[str]:
    return page.locator(
        ".chat-card .chat-messages .chat-item[data-seq] .chat-text"
    ).all_inner_texts()


def wait_text(page: Page, selector: str, text: str) -> None:
    page.locator(selector, has_text=text).first.wait_for(timeout=LONG)


def widget_send(page: Page, text: str) -> None:
    page.fill(f"{WIDGET} .input", text)
    page.press(f"{WIDGET} .input", "Enter")


def console_send(page: Page, text: str) -> None:
    page.fill(".chat-card .chat-input", text)
    page.press(".chat-card .chat-input", "Enter")


def test_given_a_customer_and_an_agent_when_chatting_across_drops_then_nothing_is_lost_or_doubled(
    new_context: Callable[..., BrowserContext], product: ChatProduct
) -> None:
    alice = open_console(new_context, product, ALICE)
    customer_context, ann = open_widget(new_context, product, "/chat/demo")
    # The host page's loud CSS does not reach into the widget.
    launcher_font = ann.locator(f"{WIDGET} .form button[type=submit]").evaluate(
        "b => getComputedStyle(b).fontFamily"
    )
    assert "Courier" not in launcher_font
    shot(ann, "chat-01-widget-form")
    ann.fill(f"{WIDGET} input[name=name]", "Ann Lee")
    ann.fill(f"{WIDGET} input[name=email]", ANN_EMAIL)
    ann.select_option(f"{WIDGET} select[name=topic]", "internet")
    ann.click(f"{WIDGET} .form button[type=submit]")
    ann.wait_for_selector(
        f"{WIDGET}[data-view=chat][data-connection=live]", state="attached", timeout=LONG
    )

    # The offer pops with the returning customer's history, before accepting.
    alice.wait_for_selector(".offer-card", timeout=LONG)
    alice.wait_for_function(
        "() => (document.querySelector('.card-name') || {}).textContent === 'Ann Lee'",
        timeout=LONG,
    )
    assert EARLIER_NOTE in alice.locator("#customer-area .timeline").inner_text()
    shot(alice, "chat-02-console-offer-screen-pop")
    alice.click("[data-action=accept]")
    alice.wait_for_selector(".chat-card .chat-input", timeout=LONG)
    wait_text(ann, f"{WIDGET} .notice", "Alice Agent joined the chat.")
    assert ann.locator(f"{WIDGET} .status").inner_text() == "Alice Agent"

    # Typing both ways, then messages both ways.
    ann.locator(f"{WIDGET} .input").press_sequentially("Hello, my", delay=20)
    alice.wait_for_selector(".chat-typing:not([hidden])", timeout=LONG)
    assert "Ann Lee is typing" in alice.locator(".chat-typing").inner_text()
    shot(alice, "chat-03-console-customer-typing")
    widget_send(ann, "Hello, my internet is down since this morning.")
    wait_text(alice, ".chat-item.from-visitor .chat-text", "my internet is down")
    alice.wait_for_selector(".chat-typing[hidden]", state="attached", timeout=LONG)
    # A canned response, filled in for this chat: "/" opens the menu in the reply box.
    alice.locator(".chat-card .chat-input").press_sequentially("/gre", delay=30)
    alice.wait_for_selector(".canned-menu:not([hidden]) .canned-option[data-shortcut=greet]")
    shot(alice, "chat-04-console-canned-menu")
    alice.press(".chat-card .chat-input", "Enter")
    assert alice.locator(".chat-card .chat-input").input_value() == (
        "Hello Ann, I am Alice. How can I help?"
    )
    ann.wait_for_selector(f"{WIDGET} .typing:not([hidden])", timeout=LONG)
    assert "Alice Agent is typing" in ann.locator(f"{WIDGET} .typing").inner_text()
    shot(ann, "chat-05-widget-agent-typing")
    alice.press(".chat-card .chat-input", "Enter")
    wait_text(ann, f"{WIDGET} .from-agent .text", "Hello Ann, I am Alice")
    # Read receipts: each side sees that the other has read its message.
    alice.wait_for_selector(".chat-item.from-agent .receipt[data-state=read]", timeout=LONG)
    ann.wait_for_selector(f"{WIDGET} .from-visitor .receipt[data-state=read]", timeout=LONG)
    shot(alice, "chat-06-console-conversation")

    # The customer's network drops; both keep writing; it comes back.
    customer_context.set_offline(True)
    ann.wait_for_selector(f"{WIDGET}[data-connection=reconnecting]", state="attached", timeout=LONG)
    widget_send(ann, "Still there? (sent offline 1)")
    widget_send(ann, "Sent offline 2")
    assert ann.locator(f"{WIDGET} .item.pending").count() == 2
    console_send(alice, "Agent during the drop 1")
    console_send(alice, "Agent during the drop 2")
    wait_text(alice, ".chat-item.from-agent[data-seq] .chat-text", "Agent during the drop 2")
    shot(ann, "chat-07-widget-offline-pending")
    customer_context.set_offline(False)
    ann.wait_for_selector(f"{WIDGET}[data-connection=live]", state="attached", timeout=LONG)
    wait_text(ann, f"{WIDGET} .from-agent .text", "Agent during the drop 2")
    wait_text(alice, ".chat-item.from-visitor .chat-text", "Sent offline 2")
    ann.wait_for_selector(f"{WIDGET} .item.pending", state="detached", timeout=LONG)

    # The agent's network drops; the replies wait and go when it is back.
    alice_context = alice.context
    alice_context.set_offline(True)
    console_send(alice, "Agent offline 3")
    alice.wait_for_selector(".chat-item.pending", timeout=LONG)
    widget_send(ann, "Customer while the agent is away")
    alice_context.set_offline(False)
    wait_text(ann, f"{WIDGET} .from-agent .text", "Agent offline 3")
    wait_text(alice, ".chat-item.from-visitor .chat-text", "Customer while the agent is away")
    alice.wait_for_selector(".chat-item.pending", state="detached", timeout=LONG)

    # A reload of the customer's page resumes the same conversation.
    ann.reload()
    ann.wait_for_selector(
        f"{WIDGET}[data-view=chat][data-connection=live]", state="attached", timeout=LONG
    )
    widget_send(ann, HOSTILE)
    wait_text(alice, ".chat-item.from-visitor .chat-text", "<script>")
    wait_text(ann, f"{WIDGET} .from-visitor .text", "<script>")

    # An image from the customer, previewed on both sides.
    ann.set_input_files(
        f"{WIDGET} input.file",
        files=[{"name": "router.png", "mimeType": "image/png", "buffer": PNG}],
    )
    alice.wait_for_function(
        "() => [...document.querySelectorAll('.chat-image img')]"
        ".some(i => i.complete && i.naturalWidth > 0)",
        timeout=LONG,
    )
    ann.wait_for_function(
        """sel => [...document.querySelector(sel).shadowRoot.querySelectorAll('img.preview')]
               .some(i => i.complete && i.naturalWidth > 0)""",
        arg=WIDGET,
        timeout=LONG,
    )
    shot(ann, "chat-08-widget-conversation")
    shot(alice, "chat-09-console-attachment")

    expected = [
        "Hello, my internet is down since this morning.",
        "Hello Ann, I am Alice. How can I help?",
        "Still there? (sent offline 1)",
        "Sent offline 2",
        "Agent during the drop 1",
        "Agent during the drop 2",
        "Agent offline 3",
        "Customer while the agent is away",
        HOSTILE,
    ]
    for texts in (widget_texts(ann), console_texts(alice)):
        kept = [text for text in texts if text in expected]
        assert len(kept) == len(set(kept)) == len(expected), texts  # none lost, none doubled
        # Each side's own messages keep their order; the drop may interleave the two sides.
        for mine in (expected[2:4], expected[4:7]):
            assert [t for t in kept if t in mine] == mine
    assert widget_texts(ann) == console_texts(alice)  # one numbered stream, same order
    for page in (ann, alice):
        assert page.evaluate("window.__xss") is None

    # The customer ends the chat and rates it; the agent wraps up.
    ann.click(f"{WIDGET} .end")
    ann.click(f"{WIDGET} .confirm-end")
    ann.wait_for_selector(f"{WIDGET} .rating", timeout=LONG)
    wait_text(ann, f"{WIDGET} .notice", "The chat has ended.")
    ann.click(f'{WIDGET} .star[data-value="4"]')
    ann.fill(f"{WIDGET} textarea[name=comment]", "Quick and kind, thanks")
    shot(ann, "chat-10-widget-rating")
    ann.click(f"{WIDGET} .rating button[type=submit]")
    ann.wait_for_selector(f"{WIDGET} .thanks", timeout=LONG)
    with ann.expect_download() as download:
        ann.click(f"{WIDGET} .download-transcript")
    transcript = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Agent offline 3" in transcript and "Ann" in transcript
    shot(ann, "chat-11-widget-ended")

    alice.wait_for_selector("#work-panel[data-phase=wrap_up]", timeout=LONG)
    assert "The chat has ended" in alice.locator(".chat-card").inner_text()
    alice.select_option("#wrap-disposition", "solved")
    alice.fill("#wrap-notes", "Line reset remotely.")
    shot(alice, "chat-12-console-wrap-up")
    alice.click("[data-action=wrap-finish]")
    alice.wait_for_selector("#work-panel[data-phase=idle]", timeout=LONG)

    # The chat, its transcript and rating are on the customer's timeline.
    alice.goto(product.url(f"/customers/{product.customer_id}"))
    chat_item = alice.locator(".timeline-item[data-channel=chat]").first
    chat_item.wait_for(timeout=LONG)
    text = chat_item.inner_text()
    assert "Line reset remotely." in text
    assert "4/5" in text and "Quick and kind, thanks" in text
    assert "router.png" in text and HOSTILE in text  # the transcript's latest messages
    shot(alice, "chat-13-timeline-with-chat")
    assert alice.evaluate("window.__xss") is None
    assert page_errors(ann) == [] and page_errors(alice) == []
    # Out of routing, so the next test's chat goes to its own agent.
    alice.goto(product.url("/console"))
    alice.wait_for_selector("#hub-status[data-status=live]", timeout=LONG)
    alice.click("#state-offline")
    alice.wait_for_selector("#state-bar[data-state=offline]", timeout=LONG)


def test_given_a_chinese_page_on_a_phone_when_chatting_then_the_widget_speaks_chinese(
    new_context: Callable[..., BrowserContext], product: ChatProduct
) -> None:
    wang = open_console(new_context, product, WANG)
    _, visitor = open_widget(
        new_context, product, "/chat/demo?lang=zh-CN",
        viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True, has_touch=True,
    )  # fmt: skip
    form = visitor.locator(f"{WIDGET} .form").inner_text()
    assert "您的姓名" in form and "开始聊天" in form
    # Full screen on a phone.
    box = visitor.locator(f"{WIDGET} .panel").bounding_box()
    assert box is not None and box["width"] >= 380
    shot(visitor, "chat-14-widget-chinese-phone-form")
    visitor.fill(f"{WIDGET} input[name=name]", "李雷")
    visitor.click(f"{WIDGET} .form button[type=submit]")
    wang.wait_for_selector(".offer-card", timeout=LONG)
    wang.click("[data-action=accept]")
    wait_text(visitor, f"{WIDGET} .notice", "王芳 已加入聊天。")
    widget_send(visitor, "你好。我的账单有问题")
    wait_text(wang, ".chat-item.from-visitor .chat-text", "你好")
    console_send(wang, "您好。请稍等")
    wait_text(visitor, f"{WIDGET} .from-agent .text", "您好")
    assert "结束聊天" in visitor.locator(f"{WIDGET} .end").inner_text()
    assert "发送" in wang.locator("[data-action=chat-send]").inner_text()
    shot(visitor, "chat-15-widget-chinese-phone-chat")

    # A second chat at once: two tabs, each reply reaches only its own customer.
    _, second = open_widget(new_context, product, "/chat/demo?lang=zh-CN")
    second.fill(f"{WIDGET} input[name=name]", "韩梅梅")
    second.click(f"{WIDGET} .form button[type=submit]")
    # The new offer rings in its own tab; the chat in hand stays on screen until chosen.
    wang.click("#work-list .work-tab.phase-offered", timeout=LONG)
    wang.wait_for_selector(".offer-card", timeout=LONG)
    wang.click("[data-action=accept]")
    wang.wait_for_selector("#work-list:not([hidden]) .work-tab >> nth=1", timeout=LONG)
    assert wang.locator("#work-list .work-tab").count() == 2
    console_send(wang, "给韩梅梅的回复")
    wait_text(second, f"{WIDGET} .from-agent .text", "给韩梅梅的回复")
    wang.locator("#work-list .work-tab", has_text="李雷").click()
    wang.wait_for_selector(".chat-card h2:has-text('李雷')", timeout=LONG)
    console_send(wang, "给李雷的回复")
    wait_text(visitor, f"{WIDGET} .from-agent .text", "给李雷的回复")
    assert "给韩梅梅的回复" not in " ".join(widget_texts(visitor))
    assert "给李雷的回复" not in " ".join(widget_texts(second))
    shot(wang, "chat-16-console-chinese-two-chats")
    wang.click("[data-action=chat-end]")
    wang.click("[data-action=chat-end-confirm]")
    wait_text(visitor, f"{WIDGET} .notice", "聊天已结束。")
    visitor.wait_for_selector(f"{WIDGET} .rating", timeout=LONG)
    assert "请评价本次服务" in visitor.locator(f"{WIDGET} .rating").inner_text()
    shot(visitor, "chat-17-widget-chinese-rating")
    assert page_errors(visitor) == [] and page_errors(wang) == []


def test_given_a_supervisor_when_managing_canned_responses_then_agents_find_them(
    new_context: Callable[..., BrowserContext], product: ChatProduct
) -> None:
    page = new_context().new_page()
    watch_errors(page)
    log_in(page, product, SAM, "/canned-responses")  # type: ignore[arg-type]
    page.wait_for_selector("#canned-rows tr[data-id]", timeout=LONG)
    assert "/greet" in page.locator("#canned-rows").inner_text()
    page.fill("#canned-form input[name=shortcut]", "refund")
    page.fill("#canned-form input[name=title]", "Refund <b>policy</b>")
    page.fill("#canned-form textarea[name=text]", "Refunds take 5 days, {customer.first_name}.")
    page.click("#canned-save")
    wait_text(page, "#canned-rows tr", "/refund")
    assert page.locator("#canned-rows b").count() == 0  # shown as text
    shot(page, "chat-18-canned-responses-page")
    page.locator("#canned-rows tr", has_text="/refund").locator("[data-action=edit]").click()
    page.fill("#canned-form input[name=title]", "Refunds")
    page.click("#canned-save")
    wait_text(page, "#canned-rows tr", "Refunds")
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#canned-rows tr", has_text="/refund").locator("[data-action=delete]").click()
    page.wait_for_selector("#canned-rows tr:has-text('/refund')", state="detached", timeout=LONG)
    assert page_errors(page) == []
