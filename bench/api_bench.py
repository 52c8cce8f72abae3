"""API benchmark: memory of ``booking serve`` and throughput/latency of two hot read endpoints.

Run from the repository root::

    uv run python bench/api_bench.py [--quick] [--postgres-url postgresql://postgres@127.0.0.1:5432/postgres]

What it does, per backend (SQLite always; PostgreSQL if ``--postgres-url`` is given):

1. Fresh database (SQLite file in a temp data dir, or a scratch PostgreSQL database that is
   dropped afterwards), ``booking migrate`` and ``booking demo`` (5 accounts, 4 places, a year of
   bookings).
2. ``booking serve`` pinned to core 0 (``taskset -c 0``), default settings (log level ``info``,
   i.e. uvicorn's access log is on and goes to a log file). Idle RSS/PSS is read from
   ``/proc/PID/status`` and ``/proc/PID/smaps_rollup`` after start-up and one ``/health`` request.
3. A bounded, deterministic mix of 10,000 API requests from a Python client (keep-alive
   ``http.client`` connections in 4 threads, pinned to core 1): logins, booking lists with
   filters, single bookings, availability, validate, create + accept + cancel. Every response
   status is checked against the status the contract promises; deviations are reported.
   RSS/PSS is read again afterwards.
4. ``wrk`` (pinned to core 1, closed loop, 1 thread) against
   ``GET /api/bookings/availability`` and ``GET /api/bookings?timeRange=1`` (as admin: all
   bookings) at 1 and 10 connections for a fixed duration (10 s; ``--quick``: 3 s), each after a
   1 s warm-up that is not recorded. Percentiles come from wrk's ``done()`` hook.
5. The server log is scanned for errors and tracebacks.

Results: a Markdown table on stdout and ``bench/results/api-<date>-<backend>.md`` + ``.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import quantiles
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
HOST = "127.0.0.1"
SERVER_CORE = 0
CLIENT_CORE = 1
MIXED_THREADS = 4
ADMIN = ("admin@booking.com", "admin123")
MEMBER = ("member@booking.com", "member123")
TARGET_IDLE_RSS_MIB = 70.0
TARGET_P95_MS_AT_10 = 25.0
MIB = 1024 * 1024

WRK_LUA = r"""
local token = os.getenv("BENCH_TOKEN")
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Accept"] = "application/json"

function done(summary, latency, requests)
  local e = summary.errors
  io.write("BENCH_JSON ")
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"min": %d, "mean": %.1f, "stdev": %.1f, "max": %d, ' ..
    '"p50": %d, "p90": %d, "p95": %d, "p99": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99)))
end
"""


# --- machine and process info --------------------------------------------------------------


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def git_commit() -> str:
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", "booking")
    if not dirty:
        return commit
    import hashlib

    diff = subprocess.run(
        ["git", "diff", "HEAD", "--", "booking"], cwd=ROOT, capture_output=True, check=False
    ).stdout
    digest = hashlib.sha256(diff).hexdigest()[:12]
    return f"{commit} + uncommitted changes in booking/ (diff sha256 {digest})"


def machine_info() -> dict[str, Any]:
    wrk = shutil.which("wrk")
    wrk_version = ""
    if wrk:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
        wrk_version = (out.stdout + out.stderr).strip().splitlines()[0]
    return {
        "cpu_model": cpu_model(),
        "cpus_online": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "git_commit": git_commit(),
        "wrk": wrk_version,
        "server_core": SERVER_CORE,
        "client_core": CLIENT_CORE,
    }


def memory(pid: int) -> dict[str, float]:
    """RSS/peak RSS from /proc/PID/status and PSS from smaps_rollup, in MiB."""
    result: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        names = {
            "VmRSS": "rss_mib", "VmHWM": "peak_rss_mib", "RssAnon": "rss_anon_mib",
            "RssFile": "rss_file_mib", "RssShmem": "rss_shmem_mib",
        }  # fmt: skip
        if key in names:
            result[names[key]] = int(value.split()[0]) / 1024
        elif key == "Threads":
            result["threads"] = int(value)
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                result["pss_mib"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --- HTTP client ---------------------------------------------------------------------------


class Client:
    """One keep-alive connection; returns (status, parsed JSON or None, seconds)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)

    def request(
        self, method: str, path: str, token: str | None = None, body: Any = None
    ) -> tuple[int, Any, float]:
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
            raise
        elapsed = time.perf_counter() - started
        parsed = None
        if raw:
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = raw[:200].decode(errors="replace")
        return response.status, parsed, elapsed

    def close(self) -> None:
        self.conn.close()


def login(client: Client, account: tuple[str, str]) -> str:
    status, body, _ = client.request(
        "POST", "/api/auth/login", body={"email": account[0], "password": account[1]}
    )
    if status != 200:
        raise RuntimeError(f"login {account[0]} failed: {status} {body}")
    return str(body["token"])


# --- the mixed workload --------------------------------------------------------------------


@dataclass
class Fixture:
    admin_token: str
    member_token: str
    today: dt.date
    places: list[dict[str, Any]]
    all_booking_ids: list[str]
    member_booking_ids: list[str]


@dataclass
class MixedStats:
    counts: dict[str, int] = field(default_factory=dict)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    unexpected: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, status: int, expected: int, seconds: float, body: Any) -> None:
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.latencies.setdefault(kind, []).append(seconds)
            if status != expected:
                self.unexpected.append(
                    {"kind": kind, "status": status, "expected": expected, "body": str(body)[:300]}
                )


LIST_QUERIES = [
    {},
    {"timeRange": "0"},
    {"timeRange": "1"},
    {"timeRange": "2"},
    {"timeRange": "3"},
    {"timeRange": "4"},
    {"timeRange": "All", "status": "Accepted"},
    {"timeRange": "Future", "status": "Pending"},
    {"timeRange": "Past", "status": "Cancelled"},
    {"timeRange": "All", "status": "1"},
]
# (weight, operation). Each write flow is several requests; reads dominate.
OPERATIONS = [
    (28, "list"),
    (20, "get"),
    (24, "availability"),
    (10, "validate"),
    (6, "places"),
    (5, "me"),
    (4, "create_accept_cancel"),
    (3, "create_cancel"),
]
FLOW_SIZES = {"create_accept_cancel": 3, "create_cancel": 2}


def plan_mixed(total: int, seed: int) -> list[list[str]]:
    """A deterministic list of operations per thread whose request count sums to ``total``.
    A handful of logins (member and admin alternately) are spread through the run."""
    rng = random.Random(seed)
    logins = 10
    kinds, weights = zip(*[(k, w) for w, k in OPERATIONS], strict=True)
    ops: list[str] = []
    budget = total - logins
    while budget > 0:
        kind = rng.choices(kinds, weights)[0]
        size = FLOW_SIZES.get(kind, 1)
        if size > budget:
            kind, size = "availability", 1
        ops.append(kind)
        budget -= size
    for i in range(logins):
        ops.insert(rng.randrange(len(ops) + 1), "login_member" if i % 2 else "login_admin")
    return [ops[i::MIXED_THREADS] for i in range(MIXED_THREADS)]


def run_mixed_thread(
    port: int, fixture: Fixture, ops: list[str], seed: int, stats: MixedStats
) -> None:
    rng = random.Random(seed)
    client = Client(port)
    admin, member = fixture.admin_token, fixture.member_token
    tent = next(p for p in fixture.places if p["maxCapacity"] >= 6)  # Zeltwiese
    today = fixture.today

    def call(kind: str, method: str, path: str, token: str, expected: int, body: Any = None) -> Any:
        try:
            status, parsed, seconds = client.request(method, path, token, body)
        except (http.client.HTTPException, OSError) as exc:
            with stats.lock:
                stats.exceptions.append(f"{kind} {method} {path}: {exc!r}")
            return None
        stats.record(kind, status, expected, seconds, parsed)
        return parsed if status == expected else None

    def future_request(offset_from: int, offset_to: int) -> dict[str, Any]:
        # Beyond the demo data (which ends ~182 days ahead): always within capacity.
        start = today + dt.timedelta(days=rng.randint(offset_from, offset_to))
        end = start + dt.timedelta(days=rng.randint(1, 14))
        return {
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "notes": rng.choice([None, "Benchmark"]),
            "bookingItems": [{"sleepingAccommodationId": tent["id"], "personCount": 1}],
        }

    for op in ops:
        if op in ("login_admin", "login_member"):
            account = ADMIN if op == "login_admin" else MEMBER
            body = {"email": account[0], "password": account[1]}
            call("login", "POST", "/api/auth/login", "", 200, body)
        elif op == "list":
            query = rng.choice(LIST_QUERIES)
            token = admin if rng.random() < 0.5 else member
            path = "/api/bookings" + ("?" + urlencode(query) if query else "")
            call("list", "GET", path, token, 200)
        elif op == "get":
            if rng.random() < 0.6:
                booking_id, token = rng.choice(fixture.all_booking_ids), admin
            else:
                booking_id, token = rng.choice(fixture.member_booking_ids), member
            call("get", "GET", f"/api/bookings/{booking_id}", token, 200)
        elif op == "availability":
            start = today + dt.timedelta(days=rng.randint(0, 200))
            end = start + dt.timedelta(days=rng.randint(1, 30))
            query = urlencode({"startDate": start.isoformat(), "endDate": end.isoformat()})
            token = admin if rng.random() < 0.3 else member
            call("availability", "GET", f"/api/bookings/availability?{query}", token, 200)
        elif op == "validate":
            body = future_request(200, 330)
            call("validate", "POST", "/api/bookings/validate", member, 200, body)
        elif op == "places":
            call("places", "GET", "/api/sleeping-accommodations", member, 200)
        elif op == "me":
            call("me", "GET", "/api/auth/me", rng.choice([admin, member]), 200)
        elif op in ("create_accept_cancel", "create_cancel"):
            created = call("create", "POST", "/api/bookings", member, 201, future_request(200, 330))
            booking_id = created["id"] if isinstance(created, dict) else None
            if op == "create_accept_cancel":
                if booking_id:
                    call("accept", "POST", f"/api/bookings/{booking_id}/accept", admin, 204)
                else:  # keep the request count bounded and equal
                    call("places", "GET", "/api/sleeping-accommodations", member, 200)
            if booking_id:
                call("cancel", "POST", f"/api/bookings/{booking_id}/cancel", member, 204)
            else:
                call("places", "GET", "/api/sleeping-accommodations", member, 200)
    client.close()


def prepare_fixture(port: int) -> Fixture:
    client = Client(port)
    admin = login(client, ADMIN)
    member = login(client, MEMBER)
    status, places, _ = client.request("GET", "/api/sleeping-accommodations", member)
    assert status == 200, (status, places)
    status, all_bookings, _ = client.request("GET", "/api/bookings?timeRange=1", admin)
    assert status == 200, (status, all_bookings)
    status, own, _ = client.request("GET", "/api/bookings?timeRange=1", member)
    assert status == 200, (status, own)
    client.close()
    # The house's "today" (Europe/Berlin by default), as the app computes it.
    from zoneinfo import ZoneInfo

    today = dt.datetime.now(ZoneInfo("Europe/Berlin")).date()
    return Fixture(
        admin_token=admin,
        member_token=member,
        today=today,
        places=places,
        all_booking_ids=[b["id"] for b in all_bookings],
        member_booking_ids=[b["id"] for b in own] or [b["id"] for b in all_bookings],
    )


def run_mixed(port: int, fixture: Fixture, total: int) -> dict[str, Any]:
    plans = plan_mixed(total, seed=20260101)
    stats = MixedStats()
    threads = [
        threading.Thread(
            target=run_mixed_thread, args=(port, fixture, plan, 1000 + i, stats), daemon=True
        )
        for i, plan in enumerate(plans)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    done = sum(stats.counts.values())
    per_kind = {}
    for kind, values in sorted(stats.latencies.items()):
        values_ms = sorted(v * 1000 for v in values)
        cuts = (
            quantiles(values_ms, n=100, method="inclusive")
            if len(values_ms) > 1
            else values_ms * 99
        )
        per_kind[kind] = {
            "count": len(values_ms),
            "p50_ms": round(cuts[49], 2),
            "p95_ms": round(cuts[94], 2),
            "max_ms": round(values_ms[-1], 2),
        }
    return {
        "requests": done,
        "planned": total,
        "threads": MIXED_THREADS,
        "seconds": round(elapsed, 2),
        "requests_per_s": round(done / elapsed, 1),
        "per_kind": per_kind,
        "unexpected_status": stats.unexpected,
        "unexpected_status_count": len(stats.unexpected),
        "client_exceptions": stats.exceptions,
    }


# --- wrk -----------------------------------------------------------------------------------


def run_wrk(url: str, token: str, connections: int, seconds: float, lua: Path) -> dict[str, Any]:
    command = [
        "taskset", "-c", str(CLIENT_CORE), "wrk", "-t1", f"-c{connections}",
        f"-d{seconds}s", "--timeout", "10s", "-s", str(lua), url,
    ]  # fmt: skip
    env = {**os.environ, "BENCH_TOKEN": token}
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            raw = json.loads(line[len("BENCH_JSON ") :])
            lat = raw["latency_us"]
            seconds_run = raw["duration_us"] / 1e6
            return {
                "connections": connections,
                "seconds": round(seconds_run, 2),
                "requests": raw["requests"],
                "requests_per_s": round(raw["requests"] / seconds_run, 1),
                "p50_ms": lat["p50"] / 1000,
                "p90_ms": lat["p90"] / 1000,
                "p95_ms": lat["p95"] / 1000,
                "p99_ms": lat["p99"] / 1000,
                "max_ms": lat["max"] / 1000,
                "mean_ms": round(lat["mean"] / 1000, 3),
                "errors": raw["errors"],
                "bytes": raw["bytes"],
            }
    raise RuntimeError(f"wrk produced no result:\n{out.stdout}\n{out.stderr}")


# --- server lifecycle ----------------------------------------------------------------------


def clean_env(data_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKING_")}
    env["BOOKING_DATA_DIR"] = str(data_dir)
    if database_url:
        env["BOOKING_DATABASE_URL"] = database_url
    return env


def booking_cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "booking", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"booking {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout.strip()


def start_server(env: dict[str, str], port: int, log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    command = ["taskset", "-c", str(SERVER_CORE), sys.executable, "-m", "booking", "serve"]
    process = subprocess.Popen(
        [*command, "--host", HOST, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited at start-up:\n{log_path.read_text()}")
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("server did not start listening within 60 s")


def stop_server(process: subprocess.Popen[bytes]) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d{3})')


def scan_log(log_path: Path) -> dict[str, Any]:
    text = log_path.read_text(errors="replace")
    statuses: dict[str, int] = {}
    non_2xx: dict[str, int] = {}
    problems = []
    for line in text.splitlines():
        match = ACCESS_LINE.search(line)
        if match:
            status = match["status"]
            statuses[status] = statuses.get(status, 0) + 1
            if not status.startswith("2"):
                key = f"{status} {match['method']} {match['path'].split('?')[0]}"
                non_2xx[key] = non_2xx.get(key, 0) + 1
        elif re.search(r"^(ERROR|CRITICAL)|Traceback|Exception|WARNING", line):
            problems.append(line[:300])
    return {
        "access_log_statuses": statuses,
        "non_2xx": non_2xx,
        "error_lines": problems[:50],
        "error_line_count": len(problems),
        "log_bytes": len(text.encode()),
    }


# --- PostgreSQL scratch database -----------------------------------------------------------


def pg_scratch(admin_url: str) -> tuple[str, Any]:
    """Create a scratch database; return its URL and a function that drops it."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(admin_url)
    name = f"booking_bench_{uuid.uuid4().hex[:10]}"
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)

    def execute(sql: str) -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(sql)

    execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url.set(database=name).render_as_string(hide_password=False), drop


# --- one backend ---------------------------------------------------------------------------


@contextmanager
def fresh_server(
    database_url: str | None, tmp_path: Path, result: dict[str, Any], tag: str
) -> Iterator[tuple[int, int]]:
    """A fresh database with demo data and a running server on it: yields (port, server pid).
    Stops the server, scans its log into ``result[f"server_log_{tag}"]``, drops the database."""
    drop = None
    if database_url:
        database_url, drop = pg_scratch(database_url)
    try:
        env = clean_env(tmp_path / f"data-{tag}", database_url)
        booking_cli(env, "migrate")
        result["demo"] = booking_cli(env, "demo")
        log_path = tmp_path / f"server-{tag}.log"
        port = free_port()
        server = start_server(env, port, log_path)
        try:
            client = Client(port)
            status, body, _ = client.request("GET", "/health")
            client.close()
            assert status == 200, (status, body)
            yield port, server.pid
        finally:
            result[f"server_exit_code_{tag}"] = stop_server(server)
            result[f"server_log_{tag}"] = scan_log(log_path)
    finally:
        if drop:
            drop()


def wrk_endpoint(
    result: dict[str, Any], key: str, name: str, path: str, port: int, token: str, lua: Path,
    duration: int, label: str,
) -> None:  # fmt: skip
    url = f"http://{HOST}:{port}{path}"
    entry = result.setdefault(key, {}).setdefault(name, {"path": path, "runs": []})
    for connections in (1, 10):
        run_wrk(url, token, connections, 1, lua)  # warm-up, not recorded
        run = run_wrk(url, token, connections, duration, lua)
        entry["runs"].append(run)
        print(
            f"  [{label}] {name} c={connections}: "
            f"{run['requests_per_s']} req/s, p95 {run['p95_ms']:.2f} ms",
            file=sys.stderr,
        )


def bench_backend(
    backend: str, database_url: str | None, args: argparse.Namespace
) -> dict[str, Any]:
    duration = 3 if args.quick else args.duration
    result: dict[str, Any] = {"backend": backend, "duration_s": duration}
    result["loadavg_before"] = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="booking-bench-") as tmp:
        tmp_path = Path(tmp)
        lua = tmp_path / "bench.lua"
        lua.write_text(WRK_LUA)

        # Phase 1: memory idle -> after the mixed workload (nothing else runs on this server).
        with fresh_server(database_url, tmp_path, result, "mixed") as (port, pid):
            time.sleep(1.0)
            result["idle"] = memory(pid)
            result["server_comm"] = Path(f"/proc/{pid}/comm").read_text().strip()
            result["server_affinity"] = sorted(os.sched_getaffinity(pid))
            fixture = prepare_fixture(port)
            result["demo_bookings_visible_to_admin"] = len(fixture.all_booking_ids)
            time.sleep(1.0)
            result["after_login"] = memory(pid)  # 2 logins (Argon2id) + 3 reads
            result["mixed"] = run_mixed(port, fixture, args.requests)
            time.sleep(1.0)
            result["after_mixed"] = memory(pid)
            # Secondary: the all-bookings list once the mixed run has added its (cancelled)
            # bookings, to show how the list scales with the number of stored bookings.
            client = Client(port)
            _, grown, _ = client.request("GET", "/api/bookings?timeRange=1", fixture.admin_token)
            client.close()
            result["bookings_after_mixed"] = len(grown)
            wrk_endpoint(
                result, "wrk_after_mixed", "bookings_all", "/api/bookings?timeRange=1", port,
                fixture.admin_token, lua, duration, f"{backend} after mixed",
            )  # fmt: skip

        # Phase 2: the wrk measurements on a fresh server and fresh demo data.
        with fresh_server(database_url, tmp_path, result, "wrk") as (port, pid):
            fixture = prepare_fixture(port)
            start = fixture.today + dt.timedelta(days=7)
            end = start + dt.timedelta(days=14)
            query = urlencode({"startDate": start.isoformat(), "endDate": end.isoformat()})
            endpoints = {
                "availability": f"/api/bookings/availability?{query}",
                "bookings_all": "/api/bookings?timeRange=1",
            }
            for name, path in endpoints.items():
                wrk_endpoint(
                    result, "wrk", name, path, port, fixture.admin_token, lua, duration, backend
                )
            time.sleep(1.0)
            result["after_wrk"] = memory(pid)
    result["loadavg_after"] = os.getloadavg()
    return result


# --- reporting -----------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def memory_row(label: str, mem: dict[str, float], target: str = "") -> str:
    return (
        f"| {label} | {mem['rss_mib']:.1f} | {mem.get('pss_mib', float('nan')):.1f} | "
        f"{mem['peak_rss_mib']:.1f} | {mem.get('rss_anon_mib', float('nan')):.1f} | "
        f"{mem.get('rss_file_mib', float('nan')):.1f} | {mem.get('threads', 0)} | {target} |"
    )


def wrk_rows(runs_by_endpoint: dict[str, Any], with_target: bool) -> list[str]:
    lines = []
    for data in runs_by_endpoint.values():
        for run in data["runs"]:
            errors = sum(run["errors"].values())
            target = ""
            if with_target and run["connections"] == 10:
                target = f"**{verdict(run['p95_ms'] <= TARGET_P95_MS_AT_10)}**"
            lines.append(
                f"| `GET {data['path']}` | {run['connections']} | {run['requests_per_s']:,.1f} | "
                f"{run['p50_ms']:.2f} | {run['p95_ms']:.2f} | {run['p99_ms']:.2f} | "
                f"{run['max_ms']:.2f} | {run['requests']:,} | {errors} | {target} |"
            )
    return lines


WRK_HEADER = [
    "| Endpoint | Conns | Req/s | p50 ms | p95 ms | p99 ms | max ms | Requests | Errors | "
    f"Target p95 <= {TARGET_P95_MS_AT_10:.0f} ms @10 |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
]


def markdown(result: dict[str, Any], machine: dict[str, Any], quick: bool) -> str:
    idle = result["idle"]
    mixed = result["mixed"]
    rss_ok = idle["rss_mib"] <= TARGET_IDLE_RSS_MIB
    lines = [
        f"# API benchmark — {result['backend']} — {result['date']}",
        "",
        f"- CPU: {machine['cpu_model']} ({machine['cpus_online']} CPUs online); kernel "
        f"{machine['kernel']}",
        f"- Python {machine['python']}; {machine['wrk']}",
        f"- Commit: {machine['git_commit']}",
        f"- Server `booking serve` pinned to core {machine['server_core']} (default settings, "
        f"log level info, access log on); load generators pinned to core "
        f"{machine['client_core']}."
        + (
            " PostgreSQL itself runs unpinned on the same machine."
            if result["backend"] == "postgresql"
            else ""
        ),
        f"- Data: `booking demo` — {result['demo']}",
        f"- Mode: {'quick' if quick else 'full'}; wrk runs {result['duration_s']} s each after a "
        "1 s warm-up, 1 wrk thread, closed loop, as the admin.",
        f"- Load average (1/5/15 min) before: {result['loadavg_before']}, after: "
        f"{result['loadavg_after']} (other processes on the machine skew the numbers).",
        "- Two server runs, each on a fresh database with demo data: (1) idle memory, then the "
        "mixed workload; (2) the wrk measurements.",
        "",
        "## Memory (server process; MiB = 2^20 bytes)",
        "",
        "| Point | RSS | PSS | Peak RSS | RSS anon | RSS file | Threads | Target |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
        memory_row(
            "Idle (start-up + 1 health request)",
            idle,
            f"RSS <= {TARGET_IDLE_RSS_MIB:.0f}: **{verdict(rss_ok)}**",
        ),  # fmt: skip
        memory_row("After 2 logins + 3 reads", result["after_login"]),
        memory_row(f"After {mixed['requests']:,} mixed requests", result["after_mixed"]),
        memory_row("Run 2: after the wrk runs", result["after_wrk"]),
        "",
        "## Throughput and latency (wrk, fresh demo data)",
        "",
        *WRK_HEADER,
        *wrk_rows(result["wrk"], with_target=True),
        "",
        f"Secondary: the same list in run 1 after the mixed workload, with "
        f"{result['bookings_after_mixed']} bookings stored (demo + the mixed run's cancelled "
        "ones):",
        "",
        *WRK_HEADER,
        *wrk_rows(result["wrk_after_mixed"], with_target=False),
        "",
        f"## Mixed workload ({mixed['requests']:,} requests, {mixed['threads']} keep-alive "
        "client threads, closed loop)",
        "",
        f"{mixed['seconds']} s, {mixed['requests_per_s']} req/s overall; "
        f"unexpected statuses: {mixed['unexpected_status_count']}; "
        f"client exceptions: {len(mixed['client_exceptions'])}.",
        "",
        "| Request kind | Count | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind, data in mixed["per_kind"].items():
        lines.append(
            f"| {kind} | {data['count']} | {data['p50_ms']:.2f} | {data['p95_ms']:.2f} | "
            f"{data['max_ms']:.2f} |"
        )
    lines += ["", "## Server logs", ""]
    for tag in ("mixed", "wrk"):
        log = result[f"server_log_{tag}"]
        lines += [
            f"- Run `{tag}`: access-log statuses "
            f"{json.dumps(log['access_log_statuses'], sort_keys=True)}; non-2xx "
            f"{json.dumps(log['non_2xx'], sort_keys=True)}; error/warning/traceback lines: "
            f"{log['error_line_count']}; exit code {result[f'server_exit_code_{tag}']}",
        ]
        lines += [f"  - `{line}`" for line in log["error_lines"][:10]]
    for item in mixed["unexpected_status"][:10]:
        lines.append(
            f"- Unexpected: {item['kind']} got {item['status']} (expected {item['expected']}): "
            f"`{item['body'][:200]}`"
        )
    for text in mixed["client_exceptions"][:10]:
        lines.append(f"- Client exception: `{text[:200]}`")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s wrk runs instead of --duration")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--requests", type=int, default=10_000, help="mixed requests (10000)")
    parser.add_argument("--postgres-url", help="also bench on PostgreSQL (scratch database)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results")
    args = parser.parse_args()

    if not shutil.which("wrk"):
        print(
            "api_bench: `wrk` is not installed. Install it with `apt-get install -y wrk` "
            "(Debian/Ubuntu package `wrk`) and run again.",
            file=sys.stderr,
        )
        return 2
    if not shutil.which("taskset"):
        print("api_bench: `taskset` (util-linux) is required.", file=sys.stderr)
        return 2
    available = os.sched_getaffinity(0)
    if not {SERVER_CORE, CLIENT_CORE} <= available:
        print(f"api_bench: needs cores {SERVER_CORE} and {CLIENT_CORE}; have {sorted(available)}")
        return 2
    # This process (the mixed-load client threads) runs on the client core.
    os.sched_setaffinity(0, {CLIENT_CORE})

    machine = machine_info()
    backends: list[tuple[str, str | None]] = []
    if not args.no_sqlite:
        backends.append(("sqlite", None))
    if args.postgres_url:
        backends.append(("postgresql", args.postgres_url))
    today = dt.datetime.now(dt.UTC).astimezone().date().isoformat()
    for backend, url in backends:
        print(f"api_bench: {backend} ...", file=sys.stderr)
        result = bench_backend(backend, url, args)
        result["date"] = today
        result["quick"] = args.quick
        result["machine"] = machine
        report = markdown(result, machine, args.quick)
        print(report)
        if not args.no_write:
            RESULTS.mkdir(parents=True, exist_ok=True)
            suffix = "-quick" if args.quick else ""
            stem = RESULTS / f"api-{today}-{backend}{suffix}"
            stem.with_suffix(".md").write_text(report)
            stem.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str) + "\n")
            print(f"api_bench: wrote {stem}.md and .json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
