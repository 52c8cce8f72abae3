"""Browser tests: Playwright for Python driving Debian's Chromium against a real server process.

One live server per test package (``tests.live.live_server`` on a fresh SQLite database) with a
real SMTP server (aiosmtpd) on 127.0.0.1, so journeys read verification mails. Every journey runs
on a desktop and a phone viewport (the ``ui`` fixture is parametrized). Each page a journey
visits goes through ``Tab.check(name)``: axe-core (no serious or critical violation), no console
error, no failed request, the page's CSS + JS weight (at most 60 KB uncompressed) and a full-page
screenshot under ``test-artifacts/screenshots/<viewport>/<name>.png``. The weights of all pages
are written to ``test-artifacts/page-weights.md`` at the end of the session.

Needs ``/usr/bin/chromium`` and ``tests/e2e/node_modules/axe-core`` (``tests/e2e/install.sh``
installs both); without Chromium every test here is skipped with that reason.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "browser tests need Debian's Chromium at /usr/bin/chromium (run tests/e2e/install.sh)",
        allow_module_level=True,
    )

from playwright.sync_api import (  # noqa: E402 - only after the skip above
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    expect,
    sync_playwright,
)

from booking.config import Settings  # noqa: E402
from booking.db import Database  # noqa: E402
from booking.db.models import User  # noqa: E402
from booking.domain.context import Context  # noqa: E402
from tests import factories  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.live import free_port, live_server  # noqa: E402

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
WEIGHTS_DIR = ARTIFACTS / "page-weights"
WEIGHTS_MD = ARTIFACTS / "page-weights.md"
MAX_ASSET_BYTES = 60 * 1024
# The workers of one pytest-xdist run share this id; their weight files are merged by it.
_LOADED_AT = time.time()
RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"single-{os.getpid()}"
# The axe script is served under the app's own origin by a Playwright route (never by the app):
# the app's CSP (`script-src 'self'`) blocks inline scripts, which `add_script_tag(path=...)` would
# create, and `bypass_csp=True` would also hide the app's own CSP violations, which we want to see.
AXE_PATH = "/__e2e__/axe.min.js"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORTS: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True},
}
TIMEZONE = "Europe/Berlin"
# Generous: the machine running the suite may be busy (CI shares it with other test suites).
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)
ADMIN_EMAIL = "admin@e2e.example.com"
PASSWORD = factories.PASSWORD


def pytest_configure(config: pytest.Config) -> None:
    # `xdist_group` is registered by pytest-xdist, which `-p no:xdist` leaves out.
    config.addinivalue_line("markers", "xdist_group(name): run the group on one xdist worker")
    config.addinivalue_line("markers", "e2e: browser tests in tests/e2e (Chromium + Playwright)")


def house_today() -> date:
    """Today in the house's time zone (what the server calls today)."""
    return datetime.now(ZoneInfo(TIMEZONE)).date()


# --- SMTP -----------------------------------------------------------------------------------


class Mailbox:
    """What the app sent; filled by the aiosmtpd handler thread."""

    def __init__(self) -> None:
        self.port = 0
        self.messages: list[Message] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def wait_for(self, to: str, subject_part: str, timeout: float = 10.0) -> Message:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for message in reversed(self.messages):
                    if to.lower() in str(message["To"]).lower() and subject_part in str(
                        message["Subject"]
                    ):
                        return message
            time.sleep(0.05)
        with self._lock:
            seen = [(str(m["To"]), str(m["Subject"])) for m in self.messages]
        raise AssertionError(f"no mail to {to} with {subject_part!r} within {timeout}s; got {seen}")

    @staticmethod
    def body(message: Message) -> str:
        part = message.get_body(("plain",)) if hasattr(message, "get_body") else message
        payload = (part or message).get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else str(payload)


@pytest.fixture(scope="package")
def mailbox() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    box = Mailbox()
    box.port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


# --- the server -----------------------------------------------------------------------------


@dataclass
class App:
    base_url: str
    ctx: Context
    mailbox: Mailbox
    admin: User
    log: Any = None

    def url(self, path: str) -> str:
        return self.base_url + path


@pytest.fixture(scope="package")
def app(tmp_path_factory: pytest.TempPathFactory, mailbox: Mailbox) -> Iterator[App]:
    tmp = tmp_path_factory.mktemp("e2e")
    database_url = f"sqlite:///{tmp / 'booking.sqlite3'}"
    env = {
        "BOOKING_SMTP_HOST": "127.0.0.1",
        "BOOKING_SMTP_PORT": str(mailbox.port),
        "BOOKING_SMTP_SECURITY": "none",
        "BOOKING_MAIL_FROM": "haus@e2e.example.com",
        "BOOKING_TIMEZONE": TIMEZONE,
    }
    with live_server(database_url, tmp, extra_env=env) as server:
        settings: Settings = make_settings(tmp, database_url=database_url)
        ctx = Context(db=Database(database_url), settings=settings)
        admin = factories.make_user(
            ctx, ADMIN_EMAIL, admin=True, first_name="Ada", last_name="Admin"
        )
        try:
            yield App(
                base_url=server.base_url, ctx=ctx, mailbox=mailbox, admin=admin, log=server.log
            )
        finally:
            ctx.db.dispose()


# --- the browser ----------------------------------------------------------------------------


@pytest.fixture(scope="package")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="package")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not AXE_JS.exists():
        pytest.fail(f"axe-core is missing at {AXE_JS}: run tests/e2e/install.sh")
    browser = playwright_instance.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
    )
    try:
        yield browser
    finally:
        browser.close()


# --- page weights ---------------------------------------------------------------------------


@dataclass
class Weights:
    rows: dict[tuple[str, str], tuple[int, int, list[str]]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)

    def record(self, viewport: str, name: str, css: int, js: int, files: list[str]) -> None:
        self.rows[(name, viewport)] = (css, js, files)


@pytest.fixture(scope="session")
def page_weights() -> Iterator[Weights]:
    weights = Weights()
    yield weights
    if not weights.rows:
        return
    WEIGHTS_DIR.mkdir(parents=True, exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    rows = [
        [name, viewport, css, js, files]
        for (name, viewport), (css, js, files) in weights.rows.items()
    ]
    data = {"run": RUN_ID, "rows": rows}
    (WEIGHTS_DIR / f"{worker}.json").write_text(json.dumps(data), encoding="utf-8")
    write_weights_table()


def write_weights_table() -> None:
    """Merge the workers' JSON files into one Markdown table (the last worker writes it whole)."""
    rows: dict[tuple[str, str], tuple[int, int, list[str]]] = {}
    for path in sorted(WEIGHTS_DIR.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("run") != RUN_ID:
                continue  # left over from an earlier run
            for name, viewport, css, js, files in data["rows"]:
                rows[(name, viewport)] = (css, js, files)
        except (OSError, ValueError):
            continue
    lines = [
        "# Page weights (CSS + JS, uncompressed, per page)",
        "",
        f"Budget: {MAX_ASSET_BYTES} bytes. Written by tests/e2e at {datetime.now().isoformat(timespec='seconds')}.",  # noqa: DTZ005
        "",
        "| page | viewport | CSS bytes | JS bytes | total bytes | total KB | files |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for (name, viewport), (css, js, files) in sorted(rows.items()):
        total = css + js
        lines.append(
            f"| {name} | {viewport} | {css} | {js} | {total} | {total / 1024:.1f} | {', '.join(files)} |"
        )
    WEIGHTS_MD.write_text("\n".join(lines) + "\n", encoding="utf-8")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Show the table when this run wrote it (also in the xdist controller)."""
    if WEIGHTS_MD.exists() and WEIGHTS_MD.stat().st_mtime >= _LOADED_AT:
        terminalreporter.write_sep("-", "page weights (test-artifacts/page-weights.md)")
        for line in WEIGHTS_MD.read_text(encoding="utf-8").splitlines()[4:]:
            terminalreporter.write_line(line)


# --- one tab ----------------------------------------------------------------------------------

IGNORED_FAILURES = ("net::ERR_ABORTED",)  # a navigation cancels a running fetch: not a bug


class Tab:
    """A page of one browser context, watched for console errors and failed requests."""

    def __init__(self, ui: UI, context: BrowserContext, page: Page, js: bool) -> None:
        self.ui, self.context, self.page, self.js = ui, context, page, js
        self.problems: list[str] = []
        self.allowed_statuses: set[int] = set()  # for pages: expected 4xx (a form with errors)
        self.judged_documents: set[str] = set()
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"uncaught JS error: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.set_default_timeout(TIMEOUT_MS)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            location = message.location.get("url", "") if message.location else ""
            if message.text.startswith("Failed to load resource") and (
                location in self.judged_documents
            ):
                return  # a page's own status: judged in _response
            if location.endswith("/favicon.ico"):
                # Chromium asks for /favicon.ico on its own; the app has none (reported to the
                # lead: base.html could declare an icon). Not a failure of the page.
                return
            self.problems.append(f"console error on {self.page.url}: {message.text} ({location})")

    def _failed(self, request: Request) -> None:
        failure = request.failure or ""
        if any(ignored in failure for ignored in IGNORED_FAILURES):
            return
        self.problems.append(f"request failed: {request.method} {request.url}: {failure}")

    def _response(self, response: Response) -> None:
        status = response.status
        if response.request.resource_type == "document":
            self.judged_documents.add(response.url)
            if status in self.allowed_statuses:
                return
        if status >= 400:
            self.problems.append(
                f"HTTP {status} for {response.request.method} {response.url} "
                f"({response.request.resource_type})"
            )

    def allow_status(self, *statuses: int) -> None:
        """The next pages may answer with these statuses (a form re-rendered with errors)."""
        self.allowed_statuses = set(statuses)

    # -- navigation helpers --

    def goto(self, path: str) -> Response | None:
        return self.page.goto(self.ui.app.url(path))

    @property
    def path(self) -> str:
        return re.sub(r"^https?://[^/]+", "", self.page.url)

    def press(self, locator: Any) -> None:
        """Tap on the phone, click on the desktop — once the page's deferred scripts have run,
        as a person would: a click before ``load`` would follow the no-JS link instead of
        opening the dialog the script attaches."""
        self.page.wait_for_load_state("load")
        if self.ui.viewport == "phone":
            locator.tap()
        else:
            locator.click()

    def login(self, email: str, password: str = PASSWORD) -> None:
        self.goto("/login")
        self.page.get_by_label("E-Mail-Adresse").fill(email)
        self.page.get_by_label(re.compile(r"^Passwort( \*)?$")).fill(password)
        self.press(self.page.get_by_role("button", name="Anmelden"))
        self.page.wait_for_url(re.compile(r"/bookings"))

    # -- the checks every page gets --

    def assert_clean(self) -> None:
        problems, self.problems = self.problems, []
        assert not problems, "problems in the browser:\n  " + "\n  ".join(problems)

    def check(self, name: str, *, screenshot: bool = True) -> None:
        """axe, weight, screenshot and no console errors / failed requests for the current page."""
        page = self.page
        page.wait_for_load_state("load")
        if self.js:
            self.axe(name)
            self.weigh(name)
        if screenshot:
            folder = SCREENSHOTS / self.ui.viewport
            folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
        self.assert_clean()

    def axe(self, name: str) -> None:
        page = self.page
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.add_script_tag(url=self.ui.app.url(AXE_PATH))
        result = page.evaluate(
            """async () => {
                const r = await axe.run(document, {resultTypes: ['violations']});
                return r.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                    nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html.slice(0, 200),
                                              summary: n.failureSummary}))
                }));
            }"""
        )
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        if bad:
            lines = [f"axe: {len(bad)} serious/critical violation(s) on '{name}' ({page.url}):"]
            for violation in bad:
                lines.append(f"- [{violation['impact']}] {violation['id']}: {violation['help']}")
                lines.append(f"  {violation['helpUrl']}")
                for node in violation["nodes"][:5]:
                    lines.append(f"    at {node['target']}: {node['html']}")
                    lines.append("      " + (node["summary"] or "").replace("\n", "\n      "))
            pytest.fail("\n".join(lines), pytrace=False)

    def weigh(self, name: str) -> None:
        entries = self.page.evaluate(
            """() => performance.getEntriesByType('resource').map(e => ({
                url: e.name, size: e.decodedBodySize, type: e.initiatorType}))"""
        )
        css = js = 0
        files: list[str] = []
        for entry in entries:
            url = entry["url"].split("?")[0].split("#")[0]
            if AXE_PATH in url or not url.endswith((".css", ".js")):
                continue
            size = int(entry["size"] or 0) or self.ui.asset_size(url)
            files.append(url.rsplit("/", 1)[-1])
            if url.endswith(".css"):
                css += size
            else:
                js += size
        self.ui.weights.record(self.ui.viewport, name, css, js, sorted(set(files)))
        assert css + js <= MAX_ASSET_BYTES, (
            f"page '{name}' loads {css + js} bytes of CSS + JS (budget {MAX_ASSET_BYTES}): {files}"
        )


class UI:
    """Browser contexts (one per person) for one journey on one viewport."""

    def __init__(self, browser: Browser, app: App, viewport: str, weights: Weights) -> None:
        self.browser, self.app, self.viewport, self.weights = browser, app, viewport, weights
        self.tabs: list[Tab] = []

    def tab(self, *, js: bool = True) -> Tab:
        context = self.browser.new_context(
            **VIEWPORTS[self.viewport],
            locale="de-DE",
            timezone_id=TIMEZONE,
            java_script_enabled=js,
            service_workers="block",
        )
        context.route(f"**{AXE_PATH}", lambda route: route.fulfill(path=str(AXE_JS)))
        page = context.new_page()
        tab = Tab(self, context, page, js)
        self.tabs.append(tab)
        return tab

    def asset_size(self, url: str) -> int:
        if url not in self.weights.sizes:
            self.weights.sizes[url] = len(httpx.get(url, timeout=10).content)
        return self.weights.sizes[url]

    def close(self) -> None:
        for tab in self.tabs:
            tab.context.close()


@pytest.fixture(params=list(VIEWPORTS))
def ui(
    request: pytest.FixtureRequest, browser: Browser, app: App, page_weights: Weights
) -> Iterator[UI]:
    handle = UI(browser, app, request.param, page_weights)
    try:
        yield handle
        for tab in handle.tabs:
            tab.assert_clean()
    finally:
        handle.close()
