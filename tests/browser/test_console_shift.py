"""An agent's shift in the console, in Debian's Chromium, against the whole product
with a simulated PBX: state, an offered call with the screen-pop while the phone rings,
answer, hold, resume, blind transfer to a colleague whose console pops, hang up,
wrap-up, the timeline, not ready; a missed offer; a reload during an offer; the Chinese
UI; a stored XSS payload shown as text.

The product runs in this process, on its own event loop in a thread, so the tests
drive the simulated PBX directly (place a call, pick up a phone, let it ring out) as
the other CTI tests do. Phones are in MANUAL mode: they ring until the test answers.
Screenshots of each step: test-artifacts/screenshots/console-*.png.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from aiohttp import web

from agent_ui.hub.errors import CloseCode
from agent_ui.hub.wiring import HUB
from contact_center.app import SERVICES, build_app, build_services
from contact_center.services import SYSTEM
from contact_center.settings import AsteriskServer, Settings
from contact_center.store.migrate import upgrade
from cti.simulator.pbx import PhoneMode, SimulatedPbx
from tests.browser.conftest import log_in, page_errors, shot, watch_errors

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

T = TypeVar("T")
PASSWORD = "console-shift-2026"
ALICE = ("alice", PASSWORD)
BOB = ("bob", PASSWORD)
WANG = ("wang", PASSWORD)
EXTENSIONS = {"alice": "1001", "bob": "1002", "wang": "1003"}
ANN_PHONE = "+442079460018"
XSS_PHONE = "+442079460099"
UNKNOWN_PHONE = "+442079460077"
XSS_NAME = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
EARLIER_NOTE = "Router replaced; customer wants a follow-up call"
ROUTING: dict[str, Any] = {
    "not_ready_reasons": ["break", "lunch", "meeting", "training"],
    "queues": {
        "support": {
            "channels": ["voice", "chat", "email"],
            # The phone's ring-out (the PBX's dial timeout) decides a missed call.
            "offer_timeout_seconds": {"voice": 120},
            "wrap_up_seconds": "manual",
            "dispositions": [
                {"id": "solved", "label": "Solved", "resolved": True},
                {"id": "callback", "label": "Call back later"},
            ],
            "disposition_required": True,
        }
    },
}
RING_SECONDS = 90.0  # long enough for a test to look at the ringing console
LONG = 15_000  # ms: waits on the product across the PBX, the router and the hub


@dataclasses.dataclass
class ConsoleProduct:
    base_url: str
    loop: asyncio.AbstractEventLoop
    pbx: SimulatedPbx
    app: web.Application

    def url(self, path: str) -> str:
        return self.base_url + path

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 20.0) -> T:
        """Run ``work`` on the product's event loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def call(self, number: str) -> str:
        return self.run(self.pbx.place_call(number, queue="support"))

    def wait_call(self, call_id: str, states: tuple[str, ...]) -> str:
        return self.run(self.pbx.wait_call_state(call_id, states, timeout=15), timeout=20)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _seed(settings: Settings) -> None:
    setup = build_services(settings)
    try:
        await _seed_with(setup)
    finally:
        await setup.engine.dispose()


async def _seed_with(setup: Any) -> None:
    await upgrade(setup.engine)
    users = {}
    for username, extension in EXTENSIONS.items():
        users[username] = await setup.accounts.add_user(
            username,
            password=PASSWORD,
            role="agent",
            display_name={"alice": "Alice Agent", "bob": "Bob Agent", "wang": "王芳"}[username],
            extension=extension,
            **({"language": "zh-CN"} if username == "wang" else {}),
        )
    profiles = setup.profiles
    ann = await profiles.create_customer(
        {"display_name": "Ann Lee", "tags": ["broadband"]},
        [profiles.identity("phone", ANN_PHONE), profiles.identity("email", "ann@example.com")],
        actor=SYSTEM,
    )
    started = setup.clock() - 3 * 86_400
    earlier = await profiles.start_interaction(
        ann["id"], channel="voice", queue="support", started_at=started
    )
    await profiles.update_interaction(
        earlier["id"],
        {"agent_id": users["bob"].id, "answered_at": started + 20, "ended_at": started + 260,
         "status": "closed", "disposition": "callback", "notes": EARLIER_NOTE},
    )  # fmt: skip
    hostile = await profiles.create_customer(
        {"display_name": XSS_NAME}, [profiles.identity("phone", XSS_PHONE)], actor=SYSTEM
    )
    await profiles.add_note(hostile["id"], "<script>window.__xss=3</script>", actor=SYSTEM)


@pytest.fixture(scope="module")
def shift(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleProduct]:
    folder: Path = tmp_path_factory.mktemp("console")
    settings = Settings().with_overrides(
        database={"url": f"sqlite+aiosqlite:///{folder / 'console.db'}"}
    )
    settings = settings.model_copy(update={"routing": ROUTING})
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="console-product", daemon=True)
    thread.start()
    port = _free_port()

    async def start() -> tuple[SimulatedPbx, web.AppRunner, web.Application]:
        await _seed(settings)
        pbx = SimulatedPbx(ring_timeout=RING_SECONDS)
        for name, extension in EXTENSIONS.items():
            pbx.set_phone(extension, PhoneMode.MANUAL, name=name)
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


def open_console(
    new_context: Callable[..., BrowserContext],
    shift: ConsoleProduct,
    account: tuple[str, str],
    **options: Any,
) -> Page:
    page = new_context(**options).new_page()
    watch_errors(page)
    log_in(page, shift, account)  # type: ignore[arg-type]
    page.wait_for_url(re.compile(r"/console"))
    page.wait_for_selector("#hub-status[data-status=live]", timeout=LONG)
    return page


def go_ready(page: Page) -> None:
    page.click("#state-ready")
    page.wait_for_selector("#state-bar[data-state=ready]", timeout=LONG)


def go_not_ready(page: Page, reason: str = "break") -> None:
    page.select_option("#not-ready-reason", reason)
    page.click("#state-not-ready")
    page.wait_for_selector("#state-bar[data-state=not_ready]", timeout=LONG)


def wait_offer(page: Page, customer: str) -> None:
    page.wait_for_selector(".offer-card", timeout=LONG)
    page.wait_for_function(
        "name => (document.querySelector('.card-name') || {}).textContent === name",
        arg=customer,
        timeout=LONG,
    )


def test_given_a_known_caller_when_agents_work_the_call_then_the_console_follows_every_step(
    new_context: Callable[..., BrowserContext], shift: ConsoleProduct
) -> None:
    alice = open_console(new_context, shift, ALICE)
    shot(alice, "console-01-logged-in")
    go_ready(alice)
    shot(alice, "console-02-ready")

    call_id = shift.call(ANN_PHONE)
    wait_offer(alice, "Ann Lee")
    # The phone rings, nobody answered: the screen-pop is already there, with history.
    assert shift.wait_call(call_id, ("ringing",)) == "ringing"
    timeline = alice.locator("#customer-area .timeline")
    assert EARLIER_NOTE in timeline.inner_text()
    assert "Queue support" in alice.locator(".why-list").inner_text()
    assert alice.locator("#offer-countdown").is_visible()
    shot(alice, "console-03-offer-screen-pop")

    shift.run(shift.pbx.answer(EXTENSIONS["alice"]))
    alice.wait_for_selector("#work-panel[data-phase=connected]", timeout=LONG)
    alice.wait_for_selector(".call-controls[data-call-state=talking]", timeout=LONG)
    shot(alice, "console-04-talking")

    alice.click("[data-action=hold]")
    alice.wait_for_selector(".call-controls[data-held=true]", timeout=LONG)
    assert alice.locator("#call-state").inner_text() == "On hold"
    shot(alice, "console-05-on-hold")
    alice.keyboard.press("h")  # the shortcut resumes
    alice.wait_for_selector(".call-controls[data-held=false]", timeout=LONG)
    assert alice.locator("#call-state").inner_text() == "Talking"

    # Asterisk refuses to record: the console says so and shows no recording.
    shift.pbx.denied_actions.add("mixmonitor")
    try:
        alice.click("[data-action='recording/start']")
        alice.wait_for_selector(".toast-error", timeout=LONG)
        assert "Could not start recording" in alice.locator(".toast-error").last.inner_text()
        assert alice.locator("[data-recording=true]").count() == 0
        shot(alice, "console-05-refused-recording")
    finally:
        shift.pbx.denied_actions.discard("mixmonitor")
    alice.click("[data-action='recording/start']")
    alice.wait_for_selector("[data-recording=true]", timeout=LONG)
    alice.click("[data-action='recording/stop']")
    alice.wait_for_selector("[data-action='recording/start']", timeout=LONG)
    assert alice.locator("[data-recording=true]").count() == 0

    bob = open_console(new_context, shift, BOB)
    go_ready(bob)
    alice.click("[data-action=transfer-open]")
    alice.select_option("#transfer-kind", "agent")
    alice.select_option("#transfer-target", label="Bob Agent (1002)")
    shot(alice, "console-06-transfer-form")
    alice.click("[data-action=transfer]")
    wait_offer(bob, "Ann Lee")
    shot(bob, "console-07-transfer-pops-for-bob")
    alice.wait_for_selector("#work-panel[data-phase=idle]", timeout=LONG)

    shift.run(shift.pbx.answer(EXTENSIONS["bob"]))
    bob.wait_for_selector(".call-controls[data-call-state=talking]", timeout=LONG)
    bob.click("[data-action=hangup]")
    bob.wait_for_selector("#work-panel[data-phase=wrap_up]", timeout=LONG)
    shot(bob, "console-08-wrap-up")
    # The queue needs an outcome: finishing without one is refused on the page.
    bob.click("[data-action=wrap-finish]")
    assert "Choose an outcome" in bob.locator(".wrap-up-form .alert").inner_text()
    bob.select_option("#wrap-disposition", "solved")
    bob.fill("#wrap-notes", "Reset the router together; line stable again.")
    bob.click("[data-action=wrap-finish]")
    bob.wait_for_selector("#work-panel[data-phase=idle]", timeout=LONG)
    bob.wait_for_selector("#state-bar[data-state=ready]", timeout=LONG)
    bob.wait_for_function(
        "() => [...document.querySelectorAll('#customer-area .timeline-item')]"
        ".some(li => li.textContent.includes('line stable again'))",
        timeout=LONG,
    )
    newest = bob.locator("#customer-area .timeline-item").first
    assert "line stable again" in newest.inner_text()
    assert newest.locator("[data-field=disposition]").inner_text() in ("solved", "Solved")
    shot(bob, "console-09-timeline-after-wrap-up")

    go_not_ready(bob, "lunch")
    assert bob.locator("#state-reason").inner_text() == "Lunch"
    shot(bob, "console-10-not-ready-lunch")
    go_not_ready(alice)
    assert page_errors(alice) == [] and page_errors(bob) == []


def test_given_two_ready_agents_when_the_phone_rings_out_then_not_ready_and_the_call_moves_on(
    new_context: Callable[..., BrowserContext], shift: ConsoleProduct
) -> None:
    alice = open_console(new_context, shift, ALICE)
    bob = open_console(new_context, shift, BOB)
    go_ready(alice)
    go_ready(bob)
    shift.pbx.ring_timeout = 4.0
    try:
        call_id = shift.call(ANN_PHONE)
        assert shift.wait_call(call_id, ("ringing",)) == "ringing"
        ringing = shift.pbx.calls[call_id].agent_ext
        first, second = (alice, bob) if ringing == EXTENSIONS["alice"] else (bob, alice)
        wait_offer(first, "Ann Lee")
        shot(first, "console-11-offer-ringing-out")
        first.wait_for_selector("#state-bar[data-state=not_ready]", timeout=LONG)
        assert first.locator("#state-reason").inner_text() == "Missed offer"
        first.wait_for_selector("#work-panel[data-phase=idle]", timeout=LONG)
        shot(first, "console-12-missed-offer-not-ready")
        wait_offer(second, "Ann Lee")
        shot(second, "console-13-call-goes-to-the-next-agent")
    finally:
        shift.pbx.ring_timeout = RING_SECONDS
    shift.run(shift.pbx.caller_hangs_up(call_id))
    second.wait_for_selector("#work-panel[data-phase=idle]", timeout=LONG)
    go_not_ready(second)
    assert page_errors(alice) == [] and page_errors(bob) == []


def test_given_an_offer_ringing_when_the_agent_reloads_then_the_offer_is_still_there(
    new_context: Callable[..., BrowserContext], shift: ConsoleProduct
) -> None:
    alice = open_console(new_context, shift, ALICE, viewport={"width": 1920, "height": 1080})
    go_ready(alice)
    call_id = shift.call(ANN_PHONE)
    wait_offer(alice, "Ann Lee")
    contact_id = alice.locator(".offer-card").get_attribute("data-contact-id")
    alice.reload()
    alice.wait_for_selector("#hub-status[data-status=live]", timeout=LONG)
    wait_offer(alice, "Ann Lee")
    assert alice.locator(".offer-card").get_attribute("data-contact-id") == contact_id
    assert alice.locator("#state-bar").get_attribute("data-state") == "ready"
    assert EARLIER_NOTE in alice.locator("#customer-area .timeline").inner_text()
    shot(alice, "console-14-offer-after-reload-1920")
    shift.run(shift.pbx.caller_hangs_up(call_id))
    alice.wait_for_selector("#work-panel[data-phase=idle]", timeout=LONG)
    go_not_ready(alice)


def test_given_the_hub_drops_when_an_offer_comes_meanwhile_then_the_console_resumes_and_shows_it(
    new_context: Callable[..., BrowserContext], shift: ConsoleProduct
) -> None:
    alice = open_console(new_context, shift, ALICE)
    go_ready(alice)
    hub = shift.app[HUB]

    async def drop_alice() -> None:
        hub.accepting = False  # reconnects are refused until the test lets them in
        for connection in list(hub.connections):
            if connection.user.username == "alice":
                connection.close(CloseCode.GOING_AWAY, "server-stopping", "test drop")

    shift.run(drop_alice())
    alice.wait_for_selector("#hub-status[data-status=disconnected]", timeout=LONG)
    alice.wait_for_selector("#connection-notice:not([hidden])", timeout=LONG)
    assert "reconnecting" in alice.locator("#connection-notice").inner_text()
    shot(alice, "console-15-disconnected-notice")

    call_id = shift.call(ANN_PHONE)
    assert shift.wait_call(call_id, ("ringing",)) == "ringing"
    assert alice.locator(".offer-card").count() == 0
    hub.accepting = True
    alice.wait_for_selector("#hub-status[data-status=live][data-resumed=true]", timeout=LONG)
    wait_offer(alice, "Ann Lee")
    assert alice.locator("#connection-notice").is_hidden()
    assert alice.locator("#state-bar").get_attribute("data-state") == "ready"
    shift.run(shift.pbx.caller_hangs_up(call_id))
    alice.wait_for_selector("#work-panel[data-phase=idle]", timeout=LONG)
    go_not_ready(alice)


def test_given_a_chinese_speaking_agent_when_the_console_opens_then_it_speaks_chinese(
    new_context: Callable[..., BrowserContext], shift: ConsoleProduct
) -> None:
    wang = open_console(new_context, shift, WANG, locale="zh-CN")
    assert wang.locator("html").get_attribute("lang") == "zh-CN"
    assert wang.locator("#state-ready").inner_text().startswith("就绪")
    assert "拨号盘" in wang.locator("#dial-title").inner_text()
    go_ready(wang)
    assert wang.locator("#state-label").inner_text() == "就绪"
    wang.keyboard.press("?")
    assert wang.locator("#help-dialog").is_visible()
    assert "键盘快捷键" in wang.locator("#help-title").inner_text()
    shot(wang, "console-16-chinese-help")
    wang.keyboard.press("Escape")
    go_not_ready(wang)
    assert wang.locator("#state-label").inner_text() == "未就绪"
    shot(wang, "console-17-chinese-not-ready")
    assert page_errors(wang) == []


def test_given_a_stored_script_in_a_profile_when_it_pops_then_it_shows_as_text(
    new_context: Callable[..., BrowserContext], shift: ConsoleProduct
) -> None:
    alice = open_console(new_context, shift, ALICE)
    go_ready(alice)
    call_id = shift.call(XSS_PHONE)
    wait_offer(alice, XSS_NAME)
    assert alice.evaluate("window.__xss") is None
    assert alice.locator("#customer-area img").count() == 0
    assert alice.locator("#customer-area script").count() == 0
    assert "<script>window.__xss=3</script>" in alice.locator(".customer-notes").inner_text()
    shot(alice, "console-18-xss-as-text")
    shift.run(shift.pbx.caller_hangs_up(call_id))
    alice.wait_for_selector("#work-panel[data-phase=idle]", timeout=LONG)
    go_not_ready(alice)
    assert page_errors(alice) == []


def test_given_a_call_when_the_agent_consults_a_colleague_then_cancel_and_complete_follow_asterisk(
    new_context: Callable[..., BrowserContext], shift: ConsoleProduct
) -> None:
    alice = open_console(new_context, shift, ALICE)
    bob = open_console(new_context, shift, BOB)
    go_ready(alice)
    call_id = shift.call(ANN_PHONE)
    wait_offer(alice, "Ann Lee")
    shift.run(shift.pbx.answer(EXTENSIONS["alice"]))
    alice.wait_for_selector(".call-controls[data-call-state=talking]", timeout=LONG)
    go_ready(bob)  # after the call is Alice's: the router would have offered it to Bob

    def consult_bob() -> None:
        alice.keyboard.press("t")  # the shortcut opens the transfer form
        alice.select_option("#transfer-kind", "agent")
        alice.select_option("#transfer-target", label="Bob Agent (1002)")
        alice.check("#transfer-attended")
        alice.click("[data-action=transfer]")
        alice.wait_for_selector(".transfer-status[data-transfer-state=consulting]", timeout=LONG)
        assert "Consulting agent" in alice.locator(".transfer-status").inner_text()
        assert alice.locator(".call-controls").get_attribute("data-held") == "true"
        assert alice.locator("[data-action='transfer/complete']").is_visible()
        assert alice.locator("[data-action='transfer/cancel']").is_visible()
        _bob_answers_the_consultation(shift, call_id)

    # While consulting, the customer is on hold (Asterisk says so) and Alice may
    # complete or cancel the transfer.
    consult_bob()
    shot(alice, "console-19-consulting")
    # Cancel: the customer is back with Alice, talking, no transfer shown.
    alice.click("[data-action='transfer/cancel']")
    alice.wait_for_selector(".call-controls[data-call-state=talking]", timeout=LONG)
    alice.wait_for_selector(".transfer-status", state="detached", timeout=LONG)
    assert alice.locator("#work-panel").get_attribute("data-phase") == "connected"
    assert alice.locator("[data-action=transfer-open]").is_enabled()
    shot(alice, "console-20-consultation-cancelled")

    # Complete: the call is on Bob's phone; his console pops it, Alice's lets it go (a
    # transfer hands the contact over: no wrap-up for Alice).
    consult_bob()
    alice.click("[data-action='transfer/complete']")
    bob.wait_for_selector("#work-panel[data-phase=connected]", timeout=LONG)
    bob.wait_for_selector(".call-controls[data-call-state=talking]", timeout=LONG)
    assert bob.locator(".card-name").inner_text() == "Ann Lee"
    alice.wait_for_selector("#work-panel[data-phase=idle]", timeout=LONG)
    assert alice.locator(".call-controls").count() == 0
    alice.wait_for_selector("#state-bar[data-state=ready]", timeout=LONG)
    shot(bob, "console-21-attended-transfer-completed-bob")
    shot(alice, "console-22-attended-transfer-completed-alice")
    bob.click("[data-action=hangup]")
    bob.wait_for_selector("#work-panel[data-phase=wrap_up]", timeout=LONG)
    bob.select_option("#wrap-disposition", "solved")
    bob.click("[data-action=wrap-finish]")
    bob.wait_for_selector("#work-panel[data-phase=idle]", timeout=LONG)
    go_not_ready(alice)
    go_not_ready(bob)
    assert page_errors(alice) == [] and page_errors(bob) == []


def _bob_answers_the_consultation(shift: ConsoleProduct, call_id: str) -> None:
    """Bob's phone rings for Alice's consultation: he picks up, and the CTI sees it."""
    services = shift.app[SERVICES]
    pbx = shift.pbx

    async def answer() -> None:
        telephony = services.telephony
        assert telephony is not None
        tracker = telephony.sessions["simulated"].tracker
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        # Polling the PBX and the tracker, with a deadline: neither has an event for it.
        while pbx.calls[call_id].target is None:
            assert loop.time() < deadline, "the consultation never rang"
            await asyncio.sleep(0.01)
        await pbx.answer(EXTENSIONS["bob"])
        while not any(
            ch.linkedid == call_id and ch.name.startswith("Local/")
            for ch in tracker.channels.values()
        ):
            assert loop.time() < deadline, "the CTI never saw the consultation"
            await asyncio.sleep(0.01)

    shift.run(answer())


def test_given_a_ringing_call_when_the_agent_declines_it_then_not_ready_and_it_goes_to_the_other(
    new_context: Callable[..., BrowserContext], shift: ConsoleProduct
) -> None:
    alice = open_console(new_context, shift, ALICE)
    bob = open_console(new_context, shift, BOB)
    go_ready(alice)
    go_ready(bob)
    call_id = shift.call(ANN_PHONE)
    assert shift.wait_call(call_id, ("ringing",)) == "ringing"
    ringing = shift.pbx.calls[call_id].agent_ext
    first, second = (alice, bob) if ringing == EXTENSIONS["alice"] else (bob, alice)
    wait_offer(first, "Ann Lee")
    assert first.locator("[data-action=decline]").is_visible()
    assert "Pick up your phone" in first.locator(".offer-phone").inner_text()
    shot(first, "console-23-call-offer-with-decline")
    first.keyboard.press("d")  # the shortcut declines
    first.wait_for_selector("#state-bar[data-state=not_ready]", timeout=LONG)
    assert first.locator("#state-reason").inner_text() == "Missed offer"
    first.wait_for_selector("#work-panel[data-phase=idle]", timeout=LONG)
    wait_offer(second, "Ann Lee")
    assert shift.pbx.calls[call_id].agent_ext != ringing
    shot(second, "console-24-declined-call-goes-to-the-next-agent")
    shift.run(shift.pbx.caller_hangs_up(call_id))
    second.wait_for_selector("#work-panel[data-phase=idle]", timeout=LONG)
    go_not_ready(second)
    assert page_errors(alice) == [] and page_errors(bob) == []


def test_given_an_unknown_caller_when_the_agent_links_them_then_card_and_history_switch(
    new_context: Callable[..., BrowserContext], shift: ConsoleProduct
) -> None:
    alice = open_console(new_context, shift, ALICE)
    go_ready(alice)
    call_id = shift.call(UNKNOWN_PHONE)
    alice.wait_for_selector(".offer-card", timeout=LONG)
    alice.wait_for_selector(".link-panel", timeout=LONG)
    shot(alice, "console-25-unknown-caller")
    alice.fill("#link-search", "Ann Lee")
    alice.click(".link-panel button[type=submit]")
    alice.wait_for_selector("[data-action=link]", timeout=LONG)
    alice.click("[data-action=link]")
    alice.wait_for_function(
        "name => (document.querySelector('.card-name') || {}).textContent === name",
        arg="Ann Lee",
        timeout=LONG,
    )
    alice.wait_for_function(
        "note => [...document.querySelectorAll('#customer-area .timeline-item')]"
        ".some(li => li.textContent.includes(note))",
        arg=EARLIER_NOTE,
        timeout=LONG,
    )
    assert alice.locator(".link-panel").count() == 0
    assert alice.locator("[data-action=undo-link]").is_visible()
    shot(alice, "console-26-linked-to-existing-customer")
    shift.run(shift.pbx.caller_hangs_up(call_id))
    alice.wait_for_selector("#work-panel[data-phase=idle]", timeout=LONG)
    go_not_ready(alice)
    assert page_errors(alice) == []
