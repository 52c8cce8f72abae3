"""Web page benchmark: weight (HTML, CSS + JS) and server render time of every main page.

Run from the repository root::

    uv run python bench/pages_bench.py [--quick]

What it does:

1. Fresh data dir (SQLite), ``booking migrate`` and ``booking demo`` (5 accounts, 4 places,
   ~150 bookings).
2. ``booking serve`` pinned to core 0 (``taskset -c 0``), default settings (log level ``info``,
   access log on); waits for ``/health``.
3. Logs in through the real login form (``GET /login``, CSRF token from the form,
   ``POST /login``, keeps the ``booking_session`` cookie) as member and as admin.
4. For every main page (public, member, admin, the 404 page): the HTML size, the stylesheets
   (``<link rel=stylesheet href>``) and scripts (``<script src>``) it references, fetched and
   summed uncompressed and gzip-compressed (level 6, what a typical reverse proxy uses; the app
   itself does not compress), checked against the page budget (CSS + JS <= 60 KB = 60,000 bytes
   uncompressed), and the server render time: 100 sequential requests (``--quick``: 20) on one
   keep-alive ``http.client`` connection from this process pinned to core 1, each timed from
   send to the full response body, after 5 warm-up requests. Median, p95, min and max.
5. The server log is scanned for errors and tracebacks.

Results: a Markdown table on stdout and ``bench/results/pages-<date>.md`` + ``.json``
(``pages-<date>-quick.*`` for ``--quick``) with machine info, load average before and after,
Python version and git commit (+ dirty flag). Numbers are only comparable on an idle machine:
the output warns when the 1-minute load average is above 1.0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import http.client
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from statistics import median, quantiles
from typing import Any
from urllib.parse import urlencode, urlsplit

from api_bench import booking_cli, cpu_model, free_port, stop_server  # same folder

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"
SERVER_CORE = 0
CLIENT_CORE = 1
ADMIN = ("admin@booking.com", "admin123")
MEMBER = ("member@booking.com", "member123")
SESSION_COOKIE = "booking_session"
BUDGET_BYTES = 60_000  # CSS + JS per page, uncompressed
WARMUP = 5
LOAD_WARNING = 1.0
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


# --- machine info ----------------------------------------------------------------------------


def git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
    return out.stdout.strip()


def git_info() -> dict[str, Any]:
    dirty_app = git("status", "--porcelain", "--untracked-files=no", "--", "booking")
    info: dict[str, Any] = {
        "commit": git("rev-parse", "HEAD") or "unknown",
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "dirty_app": bool(dirty_app),
    }
    if dirty_app:
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--", "booking"], cwd=ROOT, capture_output=True, check=False
        ).stdout
        info["app_diff_sha256"] = hashlib.sha256(diff).hexdigest()[:12]
    return info


def machine_info() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(),
        "cpus_online": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "server_core": SERVER_CORE,
        "client_core": CLIENT_CORE,
    }


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- HTTP client with cookies ------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float


class Browser:
    """One keep-alive connection and a tiny cookie jar (name -> value, path / only)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Response:
        headers = {"Accept": "text/html,*/*", "User-Agent": "pages-bench"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if form is not None:
            data = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: retry a GET once.
                self.reconnect()
                if method != "GET" or attempt == 2:
                    raise
                continue
            except (http.client.HTTPException, OSError):
                self.reconnect()
                raise
            break
        seconds = time.perf_counter() - started
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                self._store(value)
        return Response(response.status, dict(response.getheaders()), body, seconds)

    def reconnect(self) -> None:
        self.conn.close()
        self.conn = http.client.HTTPConnection(HOST, self.port, timeout=60)

    def _store(self, header: str) -> None:
        pair, *attrs = header.split(";")
        name, _, value = pair.strip().partition("=")
        expired = any(
            a.strip().lower() in ("max-age=0",)
            or a.strip().lower().startswith("expires=thu, 01 jan 1970")
            for a in attrs
        )
        if expired or value in ("", '""'):
            self.cookies.pop(name, None)
        else:
            self.cookies[name] = value

    def close(self) -> None:
        self.conn.close()


CSRF_INPUT = re.compile(r'name="csrf_token"\s+value="([^"]+)"')


def login(port: int, account: tuple[str, str]) -> Browser:
    browser = Browser(port)
    page = browser.request("GET", "/login")
    if page.status != 200:
        raise RuntimeError(f"GET /login: {page.status}")
    match = CSRF_INPUT.search(page.body.decode())
    if not match:
        raise RuntimeError("no csrf_token in the login form")
    form = {
        "csrf_token": match[1],
        "next": "/bookings",
        "email": account[0],
        "password": account[1],
    }
    done = browser.request("POST", "/login", form)
    if done.status != 303 or SESSION_COOKIE not in browser.cookies:
        raise RuntimeError(f"login {account[0]} failed: {done.status} {done.body[:300]!r}")
    return browser


# --- page assets -------------------------------------------------------------------------------


class AssetParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.css: list[str] = []
        self.js: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "link" and "stylesheet" in a.get("rel", "").lower().split() and a.get("href"):
            self.css.append(a["href"])
        elif tag == "script" and a.get("src"):
            self.js.append(a["src"])


def assets_of(html: bytes) -> tuple[list[str], list[str]]:
    parser = AssetParser()
    parser.feed(html.decode(errors="replace"))
    return parser.css, parser.js


def gzip_size(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6, mtime=0))


@dataclass
class AssetCache:
    port: int
    sizes: dict[str, dict[str, int]] = field(default_factory=dict)

    def size(self, url: str) -> dict[str, int]:
        if url not in self.sizes:
            parts = urlsplit(url)
            if parts.netloc and parts.netloc != f"{HOST}:{self.port}":
                raise RuntimeError(f"external asset {url}")
            browser = Browser(self.port)
            got = browser.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
            browser.close()
            if got.status != 200:
                raise RuntimeError(f"asset {url}: {got.status}")
            self.sizes[url] = {"bytes": len(got.body), "gzip": gzip_size(got.body)}
        return self.sizes[url]


# --- the pages ---------------------------------------------------------------------------------


@dataclass
class Page:
    name: str
    who: str  # anonymous | member | admin
    path: str
    expected: int = 200


def find_booking(member: Browser) -> tuple[str, list[str]]:
    """A member booking that can be edited (its detail page links to /edit), preferring one
    with several history entries. Returns (id, notes)."""
    notes: list[str] = []
    ids: list[str] = []
    for query in ("", "?timeRange=1"):
        page = member.request("GET", f"/bookings{query}")
        for found in re.findall(rf'href="/bookings/({UUID})"', page.body.decode()):
            if found not in ids:
                ids.append(found)
    if not ids:
        raise RuntimeError("the member has no bookings in the list")
    best: tuple[int, str] | None = None
    for booking_id in ids[:40]:
        detail = member.request("GET", f"/bookings/{booking_id}")
        if detail.status != 200 or f"/bookings/{booking_id}/edit" not in detail.body.decode():
            continue
        history = member.request("GET", f"/bookings/{booking_id}?tab=history")
        entries = history.body.decode().count("<li")
        if best is None or entries > best[0]:
            best = (entries, booking_id)
    if best is None:
        notes.append("no editable member booking found; the edit page uses the first booking")
        return ids[0], notes
    return best[1], notes


def pages_for(booking_id: str) -> list[Page]:
    return [
        Page("Login", "anonymous", "/login"),
        Page("Register", "anonymous", "/register"),
        Page("Forgot password", "anonymous", "/forgot-password"),
        Page("Bookings (list)", "member", "/bookings"),
        Page("Bookings (calendar)", "member", "/bookings?view=calendar"),
        Page("Bookings (compact)", "member", "/bookings?view=compact"),
        Page("New booking", "member", "/bookings/new"),
        Page("Booking detail", "member", f"/bookings/{booking_id}"),
        Page("Booking history", "member", f"/bookings/{booking_id}?tab=history"),
        Page("Edit booking", "member", f"/bookings/{booking_id}/edit"),
        Page("Profile", "member", "/profile"),
        Page("Admin dashboard", "admin", "/admin"),
        Page("Admin users", "admin", "/admin/users"),
        Page("Admin places", "admin", "/admin/places"),
        Page("Admin new place", "admin", "/admin/places/new"),
        Page("Admin email", "admin", "/admin/email"),
        Page("404 page", "member", "/no-such-page", 404),
    ]


def percentile(samples: list[float], pct: int) -> float:
    return quantiles(samples, n=100, method="inclusive")[pct - 1]


def measure(browser: Browser, page: Page, assets: AssetCache, runs: int) -> dict[str, Any]:
    # A fresh connection per page: uvicorn closes keep-alive connections idle for 5 s.
    browser.reconnect()
    first = browser.request("GET", page.path)
    result: dict[str, Any] = {
        "name": page.name,
        "who": page.who,
        "path": page.path,
        "status": first.status,
        "errors": [],
    }
    if first.status != page.expected:
        result["errors"].append(
            f"status {first.status}, expected {page.expected}: {first.body[:200]!r}"
        )
        return result
    css, js = assets_of(first.body)
    css_sizes = [assets.size(u) for u in css]
    js_sizes = [assets.size(u) for u in js]
    result.update(
        html_bytes=len(first.body),
        html_gzip=gzip_size(first.body),
        css=css,
        js=js,
        css_bytes=sum(s["bytes"] for s in css_sizes),
        js_bytes=sum(s["bytes"] for s in js_sizes),
        assets_gzip=sum(s["gzip"] for s in css_sizes + js_sizes),
    )
    result["assets_bytes"] = result["css_bytes"] + result["js_bytes"]
    result["within_budget"] = result["assets_bytes"] <= BUDGET_BYTES
    for _ in range(WARMUP):
        browser.request("GET", page.path)
    times: list[float] = []
    sizes: set[int] = set()
    for _ in range(runs):
        got = browser.request("GET", page.path)
        if got.status != page.expected:
            result["errors"].append(f"status {got.status} during the timed run")
            break
        times.append(got.seconds * 1000)
        sizes.add(len(got.body))
    if len(times) >= 2:
        result.update(
            runs=len(times),
            median_ms=round(median(times), 2),
            p95_ms=round(percentile(times, 95), 2),
            min_ms=round(min(times), 2),
            max_ms=round(max(times), 2),
        )
    if len(sizes) > 1:
        result["html_bytes_varied"] = sorted(sizes)
    return result


# --- server lifecycle --------------------------------------------------------------------------


def start_server(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["taskset", "-c", str(SERVER_CORE), sys.executable, "-m", "booking", "serve",
             "--host", HOST, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited at start-up:\n{log_path.read_text()}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/health")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not answer /health within 60 s")


def scan_log(log_path: Path) -> dict[str, Any]:
    lines = log_path.read_text(errors="replace").splitlines()
    problems = [
        line[:300]
        for line in lines
        if re.search(r"^(ERROR|CRITICAL)|Traceback|Exception", line)
        or (line.startswith("WARNING") and "404" not in line)
    ]
    return {"error_lines": problems[:50], "error_line_count": len(problems)}


# --- report ------------------------------------------------------------------------------------


def kb(n: int | None) -> str:
    return "–" if n is None else f"{n / 1000:.1f}"


def ms(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}"


def markdown(report: dict[str, Any]) -> str:
    m, g = report["machine"], report["git"]
    load_before, load_after = report["load_before"], report["load_after"]
    commit = g["commit"][:12] + (" (dirty)" if g["dirty"] else "")
    if g.get("dirty_app"):
        commit += f", uncommitted changes in booking/ (diff sha256 {g['app_diff_sha256']})"
    lines = [
        f"# Page weight and render time — {report['date']}",
        "",
        f"- Machine: {m['cpu_model']}, {m['cpus_online']} CPUs, Linux {m['kernel']}, "
        f"Python {m['python']}",
        f"- Commit: {commit}",
        f"- Load average (1/5/15 min): before {load_before}, after {load_after}",
        f"- Server `booking serve` (SQLite, demo data, log level info) on core {m['server_core']}; "
        f"client on core {m['client_core']}, one keep-alive connection, "
        f"{report['runs']} sequential requests per page after {WARMUP} warm-up requests, "
        "timed from send to the full response.",
        f"- Weights in KB (1,000 bytes). Budget: CSS + JS <= {BUDGET_BYTES / 1000:.0f} KB "
        "uncompressed per page. gzip: level 6, computed by the benchmark (the app sends "
        "uncompressed; a reverse proxy may compress).",
        "",
    ]
    if report["warnings"]:
        lines += [f"> **Warning:** {w}" for w in report["warnings"]] + [""]
    lines += [
        "| Page | As | Path | Status | HTML KB | HTML gz KB | CSS KB | JS KB | CSS+JS KB "
        "| CSS+JS gz KB | Budget | Median ms | p95 ms | Min ms |",
        "|---|---|---|---|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|",
    ]
    for r in report["pages"]:
        budget = "–" if "within_budget" not in r else ("ok" if r["within_budget"] else "OVER")
        lines.append(
            f"| {r['name']} | {r['who']} | `{r['path']}` | {r['status']} "
            f"| {kb(r.get('html_bytes'))} | {kb(r.get('html_gzip'))} | {kb(r.get('css_bytes'))} "
            f"| {kb(r.get('js_bytes'))} | {kb(r.get('assets_bytes'))} "
            f"| {kb(r.get('assets_gzip'))} | {budget} | {ms(r.get('median_ms'))} "
            f"| {ms(r.get('p95_ms'))} | {ms(r.get('min_ms'))} |"
        )
    lines += ["", "Assets:", ""]
    for url, size in sorted(report["assets"].items()):
        lines.append(f"- `{url}`: {size['bytes']:,} bytes ({size['gzip']:,} gzip)")
    problems = [f"{r['name']}: {e}" for r in report["pages"] for e in r["errors"]]
    problems += [f"server log: {line}" for line in report["server_log"]["error_lines"]]
    problems += [
        f"{r['name']}: HTML size varied between requests {r['html_bytes_varied']}"
        for r in report["pages"]
        if "html_bytes_varied" in r
    ]
    problems += report["notes"]
    lines += ["", "Problems and notes:", ""]
    lines += [f"- {p}" for p in problems] or ["- none"]
    return "\n".join(lines) + "\n"


# --- main --------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 requests per page instead of 100")
    args = parser.parse_args()
    runs = 20 if args.quick else 100
    if (os.cpu_count() or 1) < 2:
        print("pages_bench: needs at least 2 CPU cores", file=sys.stderr)
        return 2

    report: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).date().isoformat(),
        "quick": args.quick,
        "runs": runs,
        "budget_bytes": BUDGET_BYTES,
        "machine": machine_info(),
        "git": git_info(),
        "load_before": load_average(),
        "warnings": [],
        "notes": [],
    }
    with tempfile.TemporaryDirectory(prefix="pages-bench-") as tmp:
        tmp_path = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKING_")}
        env["BOOKING_DATA_DIR"] = str(tmp_path / "data")
        booking_cli(env, "migrate")
        report["demo"] = booking_cli(env, "demo")
        port = free_port()
        log_path = tmp_path / "server.log"
        server = start_server(env, port, log_path)
        try:
            os.sched_setaffinity(0, {CLIENT_CORE})
            browsers = {
                "anonymous": Browser(port),
                "member": login(port, MEMBER),
                "admin": login(port, ADMIN),
            }
            booking_id, notes = find_booking(browsers["member"])
            report["notes"] += notes
            report["booking_id"] = booking_id
            assets = AssetCache(port)
            report["pages"] = []
            for page in pages_for(booking_id):
                print(f"  {page.name} ({page.path}) ...", file=sys.stderr, flush=True)
                report["pages"].append(measure(browsers[page.who], page, assets, runs))
            for browser in browsers.values():
                browser.close()
            report["assets"] = assets.sizes
        finally:
            report["server_exit_code"] = stop_server(server)
            report["server_log"] = scan_log(log_path)
    report["load_after"] = load_average()
    worst = max(report["load_before"][0], report["load_after"][0])
    if worst > LOAD_WARNING:
        report["warnings"].append(
            f"1-minute load average was {worst} (> {LOAD_WARNING}): the machine was busy, "
            "render times are not comparable with a run on an idle machine."
        )
    over = [r["name"] for r in report["pages"] if r.get("within_budget") is False]
    if over:
        report["warnings"].append(f"over the CSS + JS budget: {', '.join(over)}")

    text = markdown(report)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = f"pages-{report['date']}" + ("-quick" if args.quick else "")
    (RESULTS / f"{stem}.md").write_text(text)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: bench/results/{stem}.md and .json", file=sys.stderr)
    failed = any(r["errors"] for r in report["pages"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
