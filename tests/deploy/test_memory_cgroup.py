"""The whole native stack inside one 512 MB memory cgroup survives a load test without an OOM kill.

Stack (all on 127.0.0.1, all in one cgroup v1 memory group limited to 512 MiB, the RAM of a
Raspberry Pi Zero 2 W):
- PostgreSQL 15, a private cluster started by this test with the shipped configuration
  (deploy/postgres/postgresql.conf and pg_hba.conf: scram-sha-256, password logins);
- the app, ``python -m booking serve``, on that PostgreSQL database (seeded by ``booking demo``);
- nginx (the minimal proxy configuration of tests/deploy/stack.py; the production nginx
  configuration has its own tests, and its memory is the same order: one worker).

The load (from this process, outside the cgroup, through nginx) mixes reads and writes: booking
lists, availability, places, readiness, booking creation + cancellation, and a login (an Argon2
hash of 19 MiB, the largest allocation of the app) every 25th round. Duration:
BOOKING_TEST_MEMORY_SECONDS (default 120 s, the CI value).

Recorded: the idle and peak PSS of each component (sampled from /proc/PID/smaps_rollup every
0.5 s; PostgreSQL is the sum over the postmaster and its backends), the cgroup's
memory.max_usage_in_bytes (includes page cache) and failcnt/oom_kill. Printed; written to
bench/results/memory-cgroup-<date>.md only with BOOKING_TEST_MEMORY_REPORT=1 (a full 120 s run on
a quiet machine): in the test suite other processes share the app's libraries, which lowers its
PSS by several MB, and a test run must not change committed files.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.deploy.helpers import in_cgroup, memory_cgroup
from tests.deploy.stack import descendants, pss_kib, require_tools, start_nginx
from tests.live import ROOT, _process_env, free_port

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("memory-cgroup")]

LIMIT = 512 * 1024 * 1024
DURATION = float(os.environ.get("BOOKING_TEST_MEMORY_SECONDS", "120"))
PGBIN = Path(os.environ.get("BOOKING_TEST_PGBIN", "/usr/lib/postgresql/15/bin"))
SECRET_KEY = "memory-test-secret-key-0123456789-abcdefghijklmnopq"
RESULTS = ROOT / "bench" / "results"
THREADS = 4


@pytest.fixture
def cgroup() -> Iterator[Path]:
    with memory_cgroup("booking-stack", LIMIT) as group:
        yield group


@dataclass
class Postgres:
    dir: Path
    port: int
    password: str
    process: subprocess.Popen[bytes]

    def postmaster_pid(self) -> int:
        return int((self.dir / "data" / "postmaster.pid").read_text().split()[0])

    def url(self, database: str) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{database}"


def _as_postgres(command: list[str]) -> list[str]:
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", *command]


@pytest.fixture
def postgres(cgroup: Path) -> Iterator[Postgres]:
    require_tools("setpriv")
    if not (PGBIN / "initdb").exists():
        pytest.skip(f"PostgreSQL server binaries not found in {PGBIN} (Debian postgresql-15)")
    base = Path(tempfile.mkdtemp(prefix="booking-memtest-"))
    base.chmod(0o755)
    shutil.chown(base, "postgres", "postgres")
    password = "memtest-" + os.urandom(12).hex()
    (base / "pw").write_text(password)
    shutil.chown(base / "pw", "postgres", "postgres")
    process = None
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(PGBIN / "initdb"),
                    "-D",
                    str(base / "data"),
                    "-U",
                    "postgres",
                    "--auth=scram-sha-256",
                    f"--pwfile={base / 'pw'}",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            capture_output=True,
        )
        data = base / "data"
        shutil.copyfile(ROOT / "deploy/postgres/postgresql.conf", data / "booking.conf")
        shutil.copyfile(ROOT / "deploy/postgres/pg_hba.conf", data / "pg_hba.conf")
        port = free_port()
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\ninclude 'booking.conf'\n"
                f"listen_addresses = '127.0.0.1'\nport = {port}\n"
                f"unix_socket_directories = '{base}'\n"
            )
        for path in (data / "booking.conf", data / "pg_hba.conf"):
            shutil.chown(path, "postgres", "postgres")
        with (base / "postgres.log").open("wb") as log:
            process = subprocess.Popen(
                in_cgroup(cgroup, _as_postgres([str(PGBIN / "postgres"), "-D", str(data)])),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = Postgres(dir=base, port=port, password=password, process=process)
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run(
                [str(PGBIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port), "-q"], check=False
            )
            if ready.returncode == 0:
                break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("PostgreSQL did not start:\n" + (base / "postgres.log").read_text())
            time.sleep(0.2)
        env = dict(os.environ, PGPASSWORD=password)
        subprocess.run(
            [
                str(PGBIN / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "-qc",
                "CREATE DATABASE booking",
            ],
            env=env,
            check=True,
        )
        yield server
    finally:
        if process is not None and process.poll() is None:
            process.terminate()  # SIGTERM: smart shutdown of the postmaster
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class Load:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    created: int = 0
    logins: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, what: str, response: httpx.Response | None, error: str = "") -> None:
        with self.lock:
            self.requests += 1
            if response is None:
                self.failures.append(f"{what}: {error}")
                return
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500 or response.status_code in (401, 403, 404, 429):
                self.failures.append(f"{what}: HTTP {response.status_code} {response.text[:200]}")


def _client_loop(base_url: str, index: int, deadline: float, load: Load) -> None:
    rng = random.Random(index)
    email, password = (
        ("admin@booking.com", "admin123") if index % 2 == 0 else ("member@booking.com", "member123")
    )

    def call(what: str, method: str, path: str, **kwargs) -> httpx.Response | None:
        try:
            response = client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            load.record(what, None, repr(exc))
            return None
        load.record(what, response)
        return response

    with httpx.Client(base_url=base_url, timeout=30) as client:

        def login() -> dict[str, str]:
            response = call(
                "login", "POST", "/api/auth/login", json={"email": email, "password": password}
            )
            with load.lock:
                load.logins += 1
            assert response is not None and response.status_code == 200, response
            return {"Authorization": f"Bearer {response.json()['token']}"}

        headers = login()
        places = call("places", "GET", "/api/sleeping-accommodations", headers=headers)
        place_ids = [p["id"] for p in places.json()] if places is not None else []
        round_ = 0
        while time.monotonic() < deadline:
            round_ += 1
            if round_ % 25 == 0:
                headers = login()
            start = dt.date(2031, 1, 1) + dt.timedelta(days=rng.randrange(0, 700))
            end = start + dt.timedelta(days=rng.randrange(1, 5))
            call("list", "GET", "/api/bookings", params={"timeRange": 1}, headers=headers)
            call(
                "availability",
                "GET",
                "/api/bookings/availability",
                params={"startDate": start.isoformat(), "endDate": end.isoformat()},
                headers=headers,
            )
            call("places", "GET", "/api/sleeping-accommodations", headers=headers)
            call("ready", "GET", "/health/ready")
            if place_ids:
                body = {
                    "startDate": start.isoformat(),
                    "endDate": end.isoformat(),
                    "bookingItems": [
                        {"sleepingAccommodationId": rng.choice(place_ids), "personCount": 1}
                    ],
                    "notes": "memory test",
                }
                created = call("create", "POST", "/api/bookings", json=body, headers=headers)
                if created is not None and created.status_code == 201:
                    with load.lock:
                        load.created += 1
                    booking_id = created.json()["id"]
                    call("get", "GET", f"/api/bookings/{booking_id}", headers=headers)
                    call("cancel", "POST", f"/api/bookings/{booking_id}/cancel", headers=headers)


@dataclass
class Sampler:
    pids: dict[str, Callable[[], list[int]]]  # component -> its pids
    cgroup: Path
    samples: list[dict[str, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> dict[str, int]:
        values = {name: sum(pss_kib(pid) for pid in get()) for name, get in self.pids.items()}
        values["total"] = sum(values.values())
        self.samples.append(values)
        return values

    def run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def peak(self) -> dict[str, int]:
        return {key: max(s[key] for s in self.samples) for key in self.samples[0]}


def _cgroup_stat(group: Path) -> dict[str, int]:
    oom = dict(
        line.split() for line in (group / "memory.oom_control").read_text().splitlines() if line
    )
    stat = dict(line.split() for line in (group / "memory.stat").read_text().splitlines())
    return {
        "max_usage": int((group / "memory.max_usage_in_bytes").read_text()),
        "usage": int((group / "memory.usage_in_bytes").read_text()),
        "failcnt": int((group / "memory.failcnt").read_text()),
        "oom_kill": int(oom.get("oom_kill", "0")),
        "rss": int(stat.get("total_rss", stat.get("rss", "0"))),
        "cache": int(stat.get("total_cache", stat.get("cache", "0"))),
    }


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def _errors(log: str) -> str:
    """The distinct error lines of a server log (the first 20)."""
    lines = [line for line in log.splitlines() if "Error" in line or line.startswith("ERROR")]
    return "\n".join(list(dict.fromkeys(lines))[:20])


def _mb(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def test_it_runs_the_whole_stack_in_512_mb_under_load_without_an_oom_kill(
    cgroup: Path, postgres: Postgres, tmp_path: Path
) -> None:
    require_tools("nginx")
    data = tmp_path / "data"
    data.mkdir()
    settings = {
        "BOOKING_DATABASE_URL": postgres.url("booking"),
        "BOOKING_SECRET_KEY": SECRET_KEY,
        "BOOKING_DATA_DIR": str(data),
        "BOOKING_LOG_LEVEL": "warning",
    }
    env = _process_env(settings)
    for command in (["migrate"], ["demo"]):
        subprocess.run(
            [sys.executable, "-m", "booking", *command],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
    app_port = free_port()
    app_log = (tmp_path / "app.log").open("wb")
    app = subprocess.Popen(
        in_cgroup(
            cgroup,
            [
                sys.executable,
                "-m",
                "booking",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(app_port),
            ],
        ),
        cwd=ROOT,
        env=env,
        stdout=app_log,
        stderr=subprocess.STDOUT,
    )
    nginx = None
    sampler = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{app_port}/health/ready", timeout=2).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            assert app.poll() is None, (tmp_path / "app.log").read_text()
            time.sleep(0.2)
        upstream = tmp_path / "upstream.conf"
        upstream.write_text(
            f"upstream booking_app {{ server 127.0.0.1:{app_port} max_fails=0; keepalive 8; }}\n"
        )
        # nginx joins the cgroup through its wrapper shell (the master forks the worker inside it)
        real_nginx = shutil.which("nginx")
        wrapper = tmp_path / "bin" / "nginx"
        wrapper.parent.mkdir()
        wrapper.write_text(
            f'#!/bin/sh\necho $$ > "{cgroup}/cgroup.procs"\nexec {real_nginx} "$@"\n'
        )
        wrapper.chmod(0o755)
        old_path = os.environ["PATH"]
        os.environ["PATH"] = f"{wrapper.parent}{os.pathsep}{old_path}"
        try:
            nginx = start_nginx(tmp_path / "nginx", upstream)
        finally:
            os.environ["PATH"] = old_path
        members = set((cgroup / "cgroup.procs").read_text().split())
        assert str(nginx.process.pid) in members and str(app.pid) in members

        sampler = Sampler(
            pids={
                "postgresql": lambda: descendants(postgres.postmaster_pid()),
                "app": lambda: descendants(app.pid),
                "nginx": lambda: descendants(nginx.process.pid),
            },
            cgroup=cgroup,
        )
        httpx.get(nginx.base_url + "/health/ready", timeout=5)
        time.sleep(1)
        idle = sampler.sample()
        idle_cgroup = _cgroup_stat(cgroup)
        sampler.samples.clear()
        thread = threading.Thread(target=sampler.run, daemon=True)
        thread.start()

        load = Load()
        started = time.monotonic()
        deadline = started + DURATION
        clients = [
            threading.Thread(target=_client_loop, args=(nginx.base_url, i, deadline, load))
            for i in range(THREADS)
        ]
        for client in clients:
            client.start()
        for client in clients:
            client.join(timeout=DURATION + 120)
        elapsed = time.monotonic() - started
        sampler._stop.set()
        thread.join(timeout=5)
        after = sampler.sample()
        stat = _cgroup_stat(cgroup)
        peak = sampler.peak()

        alive = {
            "postgresql": postgres.process.poll() is None,
            "app": app.poll() is None,
            "nginx": nginx.process.poll() is None,
        }
        report = _report(idle, peak, after, idle_cgroup, stat, load, elapsed)
        print(report)  # noqa: T201 - the figures belong in the test output
        recording = os.environ.get("BOOKING_TEST_MEMORY_REPORT") == "1" and DURATION >= 120
        results = RESULTS if recording else tmp_path
        results.mkdir(parents=True, exist_ok=True)
        (results / f"memory-cgroup-{_today().isoformat()}.md").write_text(report)

        assert stat["oom_kill"] == 0, report
        assert all(alive.values()), (alive, report)
        assert load.failures == [], (
            f"{len(load.failures)} failed: {load.failures[:5]}\napp log:\n"
            + _errors((tmp_path / "app.log").read_text(errors="replace"))
        )
        assert load.requests > DURATION * 10, report  # the load really ran
        assert load.logins >= THREADS and load.created > 0, report
        assert stat["max_usage"] < LIMIT
    finally:
        if sampler is not None:
            sampler._stop.set()
        if nginx is not None:
            nginx.stop()
        if app.poll() is None:
            app.terminate()
            try:
                app.wait(timeout=15)
            except subprocess.TimeoutExpired:
                app.kill()
                app.wait()
        app_log.close()


def _report(idle, peak, after, idle_cgroup, stat, load: Load, elapsed: float) -> str:
    mib = 1024 * 1024
    lines = [
        f"# Whole native stack in a 512 MB memory cgroup ({_today().isoformat()})",
        "",
        "Measured by `tests/deploy/test_memory_cgroup.py` "
        "(`BOOKING_TEST_MEMORY_REPORT=1 uv run pytest tests/deploy/test_memory_cgroup.py -s`; duration "
        "`BOOKING_TEST_MEMORY_SECONDS`, default 120 s). cgroup v1 memory limit 512 MiB around "
        "PostgreSQL 15 (shipped deploy/postgres configuration), the app (`booking serve`, "
        "PostgreSQL) and nginx (1 worker). PSS from /proc/PID/smaps_rollup every 0.5 s; "
        "PostgreSQL = postmaster + all backends.",
        "",
        f"Host: {os.uname().machine}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs. Load: {THREADS} client threads through nginx for "
        f"{elapsed:.0f} s: {load.requests} requests ({load.requests / elapsed:.0f}/s), "
        f"{load.created} bookings created and cancelled, {load.logins} logins (Argon2id), "
        f"statuses {dict(sorted(load.statuses.items()))}, failures {len(load.failures)}.",
        "",
        "| component | idle PSS (MB) | peak PSS under load (MB) | after load (MB) |",
        "|---|---|---|---|",
    ]
    for key in ("postgresql", "app", "nginx", "total"):
        lines.append(f"| {key} | {_mb(idle[key])} | {_mb(peak[key])} | {_mb(after[key])} |")
    lines += [
        "",
        "| cgroup | value |",
        "|---|---|",
        f"| limit | {LIMIT // mib} MiB |",
        f"| usage idle (incl. page cache) | {idle_cgroup['usage'] / mib:.1f} MiB |",
        f"| max_usage_in_bytes (incl. page cache) | {stat['max_usage'] / mib:.1f} MiB "
        f"({100 * stat['max_usage'] / LIMIT:.0f} % of the limit) |",
        f"| rss / cache at the end | {stat['rss'] / mib:.1f} / {stat['cache'] / mib:.1f} MiB |",
        f"| failcnt | {stat['failcnt']} |",
        f"| oom_kill | {stat['oom_kill']} |",
        "",
        f"Peak PSS of the stack: {_mb(peak['total'])} MB = "
        f"{100 * peak['total'] / 1024 / 512:.0f} % of 512 MB.",
        "",
    ]
    return "\n".join(lines)
