"""Browser tests: the real product in a subprocess, driven by Debian's Chromium.

``product`` starts ``contact-center demo`` (the simulated PBX, the demo accounts and a
small seeded customer base) on a free port with its own SQLite file, once per run of
this package; ``browser`` launches ``/usr/bin/chromium`` headless through
Playwright. Each test gets a fresh browser context (cookies, storage) through ``page``.
The fixtures are package-scoped, not session-scoped: Playwright's sync API keeps an
event loop running in the main thread while it is open, and the asyncio tests that run
after this package need it closed.

Screenshots go to ``test-artifacts/screenshots/`` (git-ignored): ``shot(page, name)``.

Every test here is marked ``browser``. Without Chromium (or Playwright) they skip with
the reason, except under ``CC_REQUIRE_SERVICES=1`` (CI), where they fail.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import REQUIRE_SERVICES

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page, Playwright

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CC_CHROMIUM", "/usr/bin/chromium")
STARTUP_SECONDS = 90.0
DEMO_CUSTOMERS = 60
# The demo's accounts (contact_center/cli.py DEMO_USERS).
AGENT = ("agent1", "demo-agent-2026")
SUPERVISOR = ("supervisor", "demo-super-2026")
ADMIN = ("admin", "demo-admin-2026")
AGENT_CN = ("agent3", "demo-agent-2026")
TIMELINE_PAGE = 5
VIEWPORT = {"width": 1366, "height": 768}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (CC_REQUIRE_SERVICES=1: browser tests must run)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclasses.dataclass(frozen=True)
class Product:
    base_url: str
    log: Path

    def url(self, path: str) -> str:
        return self.base_url + path


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll /status until the server answers (any status), the process dies, or time runs out."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"the demo exited ({process.returncode}):\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(url + "/status", timeout=2):  # noqa: S310
                return
        except urllib.error.HTTPError:
            return  # 503 from /status still means it serves
        except OSError:
            # Not listening yet: wait on the process (returns early if it dies).
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.2)
    raise RuntimeError(
        f"the demo did not serve within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}"
    )


@pytest.fixture(scope="package")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    """``contact-center demo`` on a free port with a fresh SQLite database."""
    folder = tmp_path_factory.mktemp("product")
    port = _free_port()
    log = folder / "demo.log"
    env = {
        **os.environ,
        "CC_DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'demo.db'}",
        "CC_SERVER_HOST": "127.0.0.1",
        "CC_SERVER_PORT": str(port),
        # Short timeline pages, so the seeded histories span several.
        "CC_VALUE_SCREEN_POP_INTERACTIONS": str(TIMELINE_PAGE),
        "PYTHONUNBUFFERED": "1",
    }
    command = [sys.executable, "-m", "contact_center.cli", "demo", "--no-calls",
               "--customers", str(DEMO_CUSTOMERS)]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(base_url, process, log)
        yield Product(base_url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="package")
def playwright_instance() -> Iterator[Playwright]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed (make install-test)")
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        _unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="package")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def new_context(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Make browser contexts (English, 1366x768 unless told otherwise); closed afterwards."""
    made: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        options.setdefault("viewport", VIEWPORT)
        options.setdefault("locale", "en-GB")
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()


@pytest.fixture
def page(new_context: Callable[..., BrowserContext]) -> Page:
    """A page whose console errors (a CSP violation, an uncaught exception) fail the test."""
    page = new_context().new_page()
    watch_errors(page)
    return page


def watch_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda message: errors.append(message.text) if message.type == "error" else None,
    )
    page.__dict__["errors"] = errors
    return errors


def page_errors(page: Page) -> list[str]:
    """Console errors and uncaught exceptions seen on ``page`` (expected 4xx API
    answers logged by the browser as failed resources are left out)."""
    return [e for e in page.__dict__.get("errors", []) if "Failed to load resource" not in e]


def log_in(page: Page, product: Product, account: tuple[str, str], next_path: str = "") -> None:
    """Log in through the login form, then wait until the browser left /login."""
    suffix = f"?next={next_path}" if next_path else ""
    page.goto(product.url(f"/login{suffix}"))
    page.fill("#username", account[0])
    page.fill("#password", account[1])
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def shot(page: Page, name: str) -> Path:
    """A full-page screenshot in test-artifacts/screenshots/NAME.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    # From the top: a full-page shot of a scrolled page draws the sticky header mid-page.
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path), full_page=True)
    return path


def api_call(page: Page, method: str, path: str, body: Any = None) -> Any:
    """Call the REST API with the page's session (cookie and CSRF token from page-data)."""
    result = page.evaluate(
        """async ([method, path, body]) => {
            const data = JSON.parse(document.getElementById("page-data").textContent);
            const options = {method, headers: {"X-CSRF-Token": data.csrf_token || ""}};
            if (body !== null) {
                options.headers["Content-Type"] = "application/json";
                options.body = JSON.stringify(body);
            }
            const response = await fetch(path, options);
            const text = await response.text();
            return {status: response.status, body: text ? JSON.parse(text) : null};
        }""",
        [method, path, body],
    )
    assert result["status"] < 400, f"{method} {path}: {result}"
    return result["body"]
