"""`booking serve` inside a memory cgroup of exactly its Compose limit (deploy/compose.prod.yml),
under concurrent Argon2id logins and reads: it must not be OOM-killed. Prints the peak for the
limit's comment. cgroup v1 charges the page cache too, as a container's limit does."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.deploy.helpers import free_port, in_cgroup, memory_cgroup
from tests.live import fresh_postgres_database
from tests.observability.helpers import load_yaml

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN_URL = os.environ.get("BOOKING_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_ADMIN_URL else [])
CLIENTS = 6  # each alternates a login (one Argon2id hash) with API reads
SECONDS = 20.0

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("memory-cgroup")]


def _app_limit_bytes() -> int:
    """The Compose limit; BOOKING_TEST_APP_LIMIT_MB tries another one."""
    if os.environ.get("BOOKING_TEST_APP_LIMIT_MB"):
        return int(os.environ["BOOKING_TEST_APP_LIMIT_MB"]) << 20
    text = load_yaml(ROOT / "deploy" / "compose.prod.yml")["services"]["app"]["deploy"]
    memory = text["resources"]["limits"]["memory"]
    assert memory.endswith("M")
    return int(memory[:-1]) << 20


@contextlib.contextmanager
def _database(backend: str, data: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{data / 'booking.sqlite3'}"
    else:
        with fresh_postgres_database(PG_ADMIN_URL) as url:
            yield url


def _client(base: str, email: str, stop: float, statuses: Counter[int]) -> None:
    today = datetime.now(UTC).date()
    query = {"startDate": str(today + timedelta(days=30)), "endDate": str(today + timedelta(37))}
    with httpx.Client(base_url=base, timeout=30) as client:
        while time.monotonic() < stop:
            login = client.post("/api/auth/login", json={"email": email, "password": "member123"})
            statuses[login.status_code] += 1
            if login.status_code != 200:
                continue
            auth = {"Authorization": f"Bearer {login.json()['token']}"}
            for path, params in (
                ("/api/bookings", {}),
                ("/api/bookings/availability", query),
                ("/api/sleeping-accommodations", {}),
            ):
                statuses[client.get(path, params=params, headers=auth).status_code] += 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_app_stays_within_its_compose_memory_limit(backend: str, tmp_path: Path) -> None:
    limit = _app_limit_bytes()
    data = tmp_path / "data"
    data.mkdir()
    with _database(backend, data) as url:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "BOOKING_DATA_DIR": str(data),
            "BOOKING_DATABASE_URL": url,
            "BOOKING_LOG_LEVEL": "warning",
            "PYTHONOPTIMIZE": "2",  # as the image runs it
        }
        for command in ("migrate", "demo"):
            subprocess.run(
                [sys.executable, "-m", "booking", command],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
                timeout=120,
            )
        port = free_port()
        with memory_cgroup("booking-app-limit", limit) as group:
            log = (tmp_path / "app.log").open("wb")
            app = subprocess.Popen(
                in_cgroup(group, [sys.executable, "-m", "booking", "serve", "--port", str(port)]),
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                for _ in range(150):
                    with contextlib.suppress(httpx.HTTPError):
                        if httpx.get(f"{base}/health/ready", timeout=2).status_code == 200:
                            break
                    assert app.poll() is None, (tmp_path / "app.log").read_text()
                    time.sleep(0.2)
                statuses: Counter[int] = Counter()
                stop = time.monotonic() + SECONDS
                emails = ["member@booking.com", "oma.erika@example.com", "jonas@example.com"]
                clients = [
                    threading.Thread(target=_client, args=(base, emails[i % 3], stop, statuses))
                    for i in range(CLIENTS)
                ]
                for client in clients:
                    client.start()
                for client in clients:
                    client.join(SECONDS + 60)
                alive = app.poll() is None
                hwm = (
                    next(
                        int(line.split()[1]) >> 10
                        for line in Path(f"/proc/{app.pid}/status").read_text().splitlines()
                        if line.startswith("VmHWM")
                    )
                    if alive
                    else -1
                )
            finally:
                app.terminate()
                app.wait(10)
            peak = int((group / "memory.max_usage_in_bytes").read_text()) >> 20
            oom = (group / "memory.oom_control").read_text()
    print(  # noqa: T201 - the figures belong in the test output
        f"{backend}: peak charge {peak} MiB of {limit >> 20} MiB (page cache included), "
        f"app VmHWM {hwm} MiB, {statuses[200]} answers 200 of {sum(statuses.values())}"
    )
    assert alive, (tmp_path / "app.log").read_text()[-2000:]
    assert "oom_kill 0" in oom or "oom_kill" not in oom
    assert set(statuses) == {200} and statuses[200] > CLIENTS * 4
