"""The supervisors' wallboard and reports in Debian's Chromium, against the whole product
with a simulated PBX: a queue's waiting count follows calls arriving and agents taking
them; forcing an agent not ready reaches the agent's console; moving a waiting contact to
another queue; listening to a live call (the supervisor's phone rings); the kiosk view
is read-only and fits one 1920x1080 screen; Chinese; an agent is refused.

The product runs in this process on its own event loop (as in test_console_shift.py),
so the tests place calls and pick up phones on the simulated PBX directly. Agents'
phones are MANUAL (they ring until the test answers); the supervisor's answers by
itself. Screenshots: test-artifacts/screenshots/wallboard-*.png.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from contact_center.app import SERVICES, build_app, build_services
from contact_center.settings import AsteriskServer, Settings
from contact_center.store.migrate import upgrade
from cti.simulator.pbx import PhoneMode, SimulatedPbx
from routing.errors import NoSuchAgent
from tests.browser.conftest import log_in, page_errors, shot, watch_errors
from tests.browser.test_console_shift import (
    LONG,
    ConsoleProduct,
    go_not_ready,
    go_ready,
    open_console,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

PASSWORD = "wallboard-2026"
ALICE = ("alice", PASSWORD)
BOB = ("bob", PASSWORD)
SAM = ("sam", PASSWORD)  # supervisor, English, with a phone
LI = ("lili", PASSWORD)  # supervisor, Chinese
USERS = {
    # username: (role, display name, extension, language)
    "alice": ("agent", "Alice Agent", "1001", "en"),
    "bob": ("agent", "Bob Agent", "1002", "en"),
    "sam": ("supervisor", "Sam Supervisor", "1901", "en"),
    "lili": ("supervisor", "李主管", "1902", "zh-CN"),
}
AGENT_PHONES = {"alice": "1001", "bob": "1002"}
TEAMS = {"Blue": ["alice"], "Red": ["bob"]}
CALLERS = ["+442079460101", "+442079460102", "+442079460103"]
ROUTING: dict[str, Any] = {
    "not_ready_reasons": ["break", "lunch", "meeting", "training"],
    "queues": {
        "support": {"channels": ["voice", "chat"], "offer_timeout_seconds": {"voice": 120}},
        "sales": {"channels": ["voice"], "offer_timeout_seconds": {"voice": 120}},
    },
}
RING_SECONDS = 90.0
KIOSK = {"width": 1920, "height": 1080}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _seed(settings: Settings) -> None:
    setup = build_services(settings)
    try:
        await upgrade(setup.engine)
        for username, (role, name, extension, language) in USERS.items():
            await setup.accounts.add_user(
                username,
                password=PASSWORD,
                role=role,
                display_name=name,
                extension=extension,
                language=language,
            )
    finally:
        await setup.engine.dispose()


@pytest.fixture(scope="module")
def floor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleProduct]:
    """The product with two queues, two agents, two supervisors and a simulated PBX."""
    folder: Path = tmp_path_factory.mktemp("wallboard")
    settings = Settings().with_overrides(
        database={"url": f"sqlite+aiosqlite:///{folder / 'wallboard.db'}"},
        wallboard={"teams": TEAMS},
    )
    settings = settings.model_copy(update={"routing": ROUTING})
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="wallboard-product", daemon=True)
    thread.start()
    port = _free_port()

    async def start() -> tuple[SimulatedPbx, web.AppRunner, web.Application]:
        await _seed(settings)
        pbx = SimulatedPbx(ring_timeout=RING_SECONDS)
        for name, extension in AGENT_PHONES.items():
            pbx.set_phone(extension, PhoneMode.MANUAL, name=name)
        pbx.set_phone(USERS["sam"][2], PhoneMode.ANSWER, name="sam")
        bound = await pbx.start()
        server = AsteriskServer(
            name="simulated", port=bound, username=pbx.username, secret=pbx.secret
        )
        asterisk = settings.asterisk.model_copy(update={"servers": (server,)})
        app = build_app(settings.model_copy(update={"asterisk": asterisk}))
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        telephony = app[SERVICES].telephony
        assert telephony is not None
        await telephony.wait_resyncs("simulated", 1, timeout=15)
        return pbx, runner, app

    try:
        pbx, runner, app = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    except BaseException:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        raise
    try:
        yield ConsoleProduct(f"http://127.0.0.1:{port}", loop, pbx, app)
    finally:

        async def stop() -> None:
            await runner.cleanup()
            await pbx.stop()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# -- helpers ----------------------------------------------------------------------------


def open_wallboard(
    new_context: Callable[..., BrowserContext],
    floor: ConsoleProduct,
    account: tuple[str, str] = SAM,
    path: str = "/wallboard",
    **options: Any,
) -> Page:
    page = new_context(**options).new_page()
    watch_errors(page)
    log_in(page, floor, account, path)  # type: ignore[arg-type]
    page.wait_for_url(re.compile(r"/wallboard"))
    page.wait_for_selector("#hub-status[data-status=live]", timeout=LONG)
    page.wait_for_selector(".queue-table", timeout=LONG)
    return page


def queue_cell(page: Page, queue: str, css: str, channel: str = "voice") -> str:
    return f".queue-table tr[data-queue='{queue}'][data-channel='{channel}'] {css}"


def wait_waiting(page: Page, queue: str, count: int) -> None:
    """Until the board shows ``count`` contacts waiting in ``queue`` (voice)."""
    page.wait_for_function(
        "([selector, count]) => {"
        " const cell = document.querySelector(selector);"
        " return cell !== null && cell.textContent.trim().startsWith(String(count)); }",
        arg=[queue_cell(page, queue, ".figure-waiting"), count],
        timeout=LONG,
    )


def agent_row(agent: str) -> str:
    return f".agent-table tr:has(th:text-is('{agent}'))"


def finish_calls(floor: ConsoleProduct, *call_ids: str) -> None:
    """Callers hang up (a call already gone is fine)."""
    for call_id in call_ids:
        if call_id in floor.pbx.calls:
            floor.run(floor.pbx.caller_hangs_up(call_id))


def everyone_not_ready(floor: ConsoleProduct) -> None:
    async def rest() -> None:
        router = floor.app[SERVICES].routing
        assert router is not None
        for user_id in await _agent_ids(floor):
            try:
                state = (await router.describe_agent(user_id))["state"]
            except NoSuchAgent:
                continue  # never logged in to routing
            if state != "offline":
                await router.log_out(user_id)

    floor.run(rest())


async def _agent_ids(floor: ConsoleProduct) -> list[str]:
    users = await floor.app[SERVICES].accounts.list_users(include_disabled=False)
    return [str(u.id) for u in users if u.username in AGENT_PHONES]


# -- tests ------------------------------------------------------------------------------


def test_given_calls_arriving_when_agents_take_them_then_the_waiting_count_rises_and_falls(
    new_context: Callable[..., BrowserContext], floor: ConsoleProduct
) -> None:
    board = open_wallboard(new_context, floor)
    wait_waiting(board, "support", 0)
    calls = [floor.call(number) for number in CALLERS[:2]]
    wait_waiting(board, "support", 2)
    board.wait_for_selector(".waiting-table tbody tr:nth-child(2)", timeout=LONG)
    assert board.locator(".waiting-table tbody tr").count() == 2
    shot(board, "wallboard-01-two-waiting")

    alice = open_console(new_context, floor, ALICE)
    go_ready(alice)
    # Alice's phone rings with the first call: it no longer waits.
    wait_waiting(board, "support", 1)
    floor.run(floor.pbx.answer(AGENT_PHONES["alice"]))
    board.wait_for_selector(f"{agent_row('Alice Agent')}[data-activity=busy]", timeout=LONG)
    assert board.locator(f"{agent_row('Alice Agent')} .contact-line").count() == 1

    bob = open_console(new_context, floor, BOB)
    go_ready(bob)
    wait_waiting(board, "support", 0)
    assert board.locator(".waiting-table tbody tr").count() == 0
    floor.run(floor.pbx.answer(AGENT_PHONES["bob"]))
    board.wait_for_selector(f"{agent_row('Bob Agent')}[data-activity=busy]", timeout=LONG)
    # The team filter shows one team's agents.
    board.select_option("#filter-team", "Red")
    board.wait_for_selector(f"{agent_row('Alice Agent')}", state="detached")
    assert board.locator(".agent-table tbody tr").count() == 1
    board.select_option("#filter-team", "")
    board.wait_for_selector(agent_row("Alice Agent"))
    # The chart and the staffing panel are there for the voice queues.
    assert board.locator(".chart-figure[data-queue='support'] svg[role=img] title").count() == 1
    assert board.locator(".staffing-queue[data-queue='support']").count() == 1
    # The staffing what-if answers at once for figures the supervisor types in.
    board.fill("#staffing-arrival-support", "120")
    board.fill("#staffing-aht-support", "240")
    board.wait_for_selector(
        ".staffing-queue[data-queue='support'] .staffing-options tr.is-needed", timeout=LONG
    )
    needed = board.locator(".staffing-queue[data-queue='support'] .staffing-needed").inner_text()
    assert needed.isdigit() and int(needed) >= 9  # 8 erlangs at 80% in 20 s
    assert (
        "What-if"
        in board.locator(".staffing-queue[data-queue='support'] .staffing-note").inner_text()
    )
    shot(board, "wallboard-02-agents-busy")
    board.click(".staffing-queue[data-queue='support'] [data-action=staffing-reset]")
    board.set_viewport_size(KIOSK)
    shot(board, "wallboard-03-agents-busy-1920")

    finish_calls(floor, *calls)
    board.wait_for_selector(f"{agent_row('Alice Agent')}:not([data-activity=busy])", timeout=LONG)
    go_not_ready(alice)
    go_not_ready(bob)
    assert page_errors(board) == [] and page_errors(alice) == [] and page_errors(bob) == []


def test_given_a_ready_agent_when_the_supervisor_forces_not_ready_then_the_console_shows_it(
    new_context: Callable[..., BrowserContext], floor: ConsoleProduct
) -> None:
    alice = open_console(new_context, floor, ALICE)
    go_ready(alice)
    board = open_wallboard(new_context, floor)
    row = agent_row("Alice Agent")
    board.wait_for_selector(f"{row}[data-activity=ready]", timeout=LONG)
    board.click(f"{row} [data-action=agent-actions]")
    board.wait_for_selector("#action-dialog[open]")
    board.select_option("#force-reason", "lunch")
    shot(board, "wallboard-04-force-state-dialog")
    board.click("[data-action=force-not-ready]")
    board.wait_for_selector("#action-dialog:not([open])", state="attached", timeout=LONG)
    # The agent's console says so, with the reason; the board too.
    alice.wait_for_selector("#state-bar[data-state=not_ready]", timeout=LONG)
    assert alice.locator("#state-reason").inner_text() == "Lunch"
    board.wait_for_selector(f"{row}[data-activity=not_ready]", timeout=LONG)
    assert "Lunch" in board.locator(f"{row} .agent-reason").inner_text()
    # The keyboard reaches the same action: focus stays on the row's button across
    # board updates, Enter opens the dialog, Escape closes it.
    board.focus(f"{row} [data-action=agent-actions]")
    board.keyboard.press("Enter")
    board.wait_for_selector("#action-dialog[open]")
    board.keyboard.press("Escape")
    board.wait_for_selector("#action-dialog:not([open])", state="attached")
    assert page_errors(board) == [] and page_errors(alice) == []


def test_given_a_waiting_call_when_the_supervisor_moves_it_then_it_waits_in_the_other_queue(
    new_context: Callable[..., BrowserContext], floor: ConsoleProduct
) -> None:
    everyone_not_ready(floor)
    board = open_wallboard(new_context, floor)
    call_id = floor.call(CALLERS[2])
    wait_waiting(board, "support", 1)
    row = board.locator(".waiting-table tbody tr").first
    row.wait_for(timeout=LONG)
    assert row.get_attribute("data-queue") == "support"
    # Its priority first, then why it is where it is (no agent was free to choose).
    row.locator("[data-action=priority]").click()
    board.fill("#priority-value", "7")
    board.click("[data-action=priority-submit]")
    board.wait_for_selector("#action-dialog:not([open])", state="attached", timeout=LONG)
    board.wait_for_function(
        "() => (document.querySelector('.waiting-table tbody tr td:nth-child(5)') || {})"
        ".textContent === '7'",
        timeout=LONG,
    )
    row.locator("[data-action=explain]").click()
    board.wait_for_selector("#action-dialog[open] .empty, #action-dialog[open] .explanation")
    board.keyboard.press("Escape")
    row.locator("[data-action=move]").click()
    board.wait_for_selector("#action-dialog[open]")
    # Bob is not ready: the router refuses, the dialog says why and nothing moves.
    board.select_option("#move-kind", "agent")
    board.select_option("#move-agent", label="Bob Agent")
    board.click("[data-action=move-submit]")
    board.wait_for_selector("#action-error:not([hidden])", timeout=LONG)
    assert "Could not move the contact" in board.locator("#action-error").inner_text()
    assert board.locator("#action-dialog[open]").count() == 1
    shot(board, "wallboard-05-move-refused")
    board.select_option("#move-kind", "queue")
    board.select_option("#move-queue", "sales")
    shot(board, "wallboard-05-move-dialog")
    board.click("[data-action=move-submit]")
    board.wait_for_selector("#action-dialog:not([open])", state="attached", timeout=LONG)
    wait_waiting(board, "sales", 1)
    wait_waiting(board, "support", 0)
    board.wait_for_selector(".waiting-table tbody tr[data-queue='sales']", timeout=LONG)
    shot(board, "wallboard-06-moved-to-sales")
    finish_calls(floor, call_id)
    wait_waiting(board, "sales", 0)
    assert page_errors(board) == []


def test_given_a_live_call_when_the_supervisor_listens_then_their_phone_joins_it(
    new_context: Callable[..., BrowserContext], floor: ConsoleProduct
) -> None:
    everyone_not_ready(floor)
    alice = open_console(new_context, floor, ALICE)
    go_ready(alice)
    board = open_wallboard(new_context, floor)
    call_id = floor.call(CALLERS[0])
    assert floor.wait_call(call_id, ("ringing",)) == "ringing"
    floor.run(floor.pbx.answer(AGENT_PHONES["alice"]))
    row = agent_row("Alice Agent")
    board.wait_for_selector(f"{row}[data-activity=busy] .contact-line", timeout=LONG)
    board.click(f"{row} [data-action=agent-actions]")
    board.wait_for_selector("#action-dialog[open] [data-action=monitor-listen]")
    board.click("[data-action=monitor-listen]")
    board.wait_for_selector(".toast:has-text('your phone is ringing')", timeout=LONG)
    assert board.locator("#action-error").is_hidden()
    shot(board, "wallboard-07-listening")
    # The supervisor's phone is on the call (ChanSpy), and the call still talks.
    call = floor.pbx.calls[call_id]
    assert len(call.spies) == 1
    board.click("[data-action=monitor-stop]")
    board.wait_for_selector(".toast:has-text('Monitoring stopped')", timeout=LONG)
    finish_calls(floor, call_id)
    go_not_ready(alice)
    assert page_errors(board) == [] and page_errors(alice) == []


def test_given_the_kiosk_view_then_it_is_read_only_and_fits_a_1920x1080_screen(
    new_context: Callable[..., BrowserContext], floor: ConsoleProduct
) -> None:
    kiosk = open_wallboard(new_context, floor, path="/wallboard?kiosk=1", viewport=KIOSK)
    kiosk.wait_for_selector(".agent-table", timeout=LONG)
    assert kiosk.locator("body.kiosk").count() == 1
    assert kiosk.locator("button[data-action]").count() == 0
    assert kiosk.locator("#action-dialog").count() == 0
    assert kiosk.locator(".staffing-field input:not([readonly])").count() == 0
    assert kiosk.locator(".topbar").is_hidden()
    # Large type, and no scrolling on the screen it is made for.
    size = kiosk.evaluate("parseFloat(getComputedStyle(document.body).fontSize)")
    assert size >= 19
    assert kiosk.evaluate("document.documentElement.scrollHeight") <= KIOSK["height"]
    shot(kiosk, "wallboard-08-kiosk-1920")
    assert page_errors(kiosk) == []


def test_given_a_chinese_speaking_supervisor_then_the_wallboard_speaks_chinese(
    new_context: Callable[..., BrowserContext], floor: ConsoleProduct
) -> None:
    board = open_wallboard(new_context, floor, LI, locale="zh-CN")
    assert board.locator("html").get_attribute("lang") == "zh-CN"
    assert board.locator("h1").inner_text() == "监控大屏"
    assert board.locator("#hub-status").inner_text() == "在线"
    assert "等待中" in board.locator(".queue-table thead").inner_text()
    assert board.locator("#agents-title").inner_text() == "坐席"
    assert board.locator("#staffing-title").inner_text() == "人力配置"
    shot(board, "wallboard-09-chinese")
    assert page_errors(board) == []


def test_given_an_agent_then_the_wallboard_and_reports_are_refused(
    new_context: Callable[..., BrowserContext], floor: ConsoleProduct
) -> None:
    page = new_context().new_page()
    log_in(page, floor, ALICE)  # type: ignore[arg-type]
    for path in ("/wallboard", "/wallboard?kiosk=1", "/reports"):
        response = page.goto(floor.url(path))
        assert response is not None and response.status == 403, path
    assert page.locator("#wallboard").count() == 0
    assert page.locator("nav.topnav a[href='/wallboard']").count() == 0


def test_given_the_day_s_contacts_when_the_supervisor_asks_a_report_then_table_chart_and_csv(
    new_context: Callable[..., BrowserContext], floor: ConsoleProduct
) -> None:
    page = new_context().new_page()
    watch_errors(page)
    log_in(page, floor, SAM, "/reports")  # type: ignore[arg-type]
    page.wait_for_url(re.compile(r"/reports"))
    page.select_option("#report-group", "queue")
    page.select_option("#report-interval", "hour")
    page.click("#report-form button[type=submit]")
    page.wait_for_selector(".report-table tbody tr", timeout=LONG)
    assert "interval=hour" in page.url
    assert page.locator("#report-chart svg[role=img] rect.chart-bar").count() > 0
    href = page.locator("#report-csv").get_attribute("href")
    assert href is not None and "format=csv" in href
    csv = page.evaluate("async (url) => (await fetch(url)).text()", href)
    assert csv.splitlines()[0].startswith("period")
    shot(page, "wallboard-10-report")
    assert page_errors(page) == []
