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

from tests.deploy.helpers import in_cgroup, memory_cgroup
from tests.live import ROOT, _process_env, booking_env, fresh_postgres_database, live_server
from tests.observability.helpers import load_yaml

PG_ADMIN_URL = os.environ.get("BOOKING_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_ADMIN_URL else [])
CLIENTS = 6  # each alternates a login (one Argon2id hash) with API reads
SECONDS = 20.0
PRODUCTION = {"PYTHONOPTIMIZE": "2"}  # as the image runs it

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
def _database(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'booking.sqlite3'}"
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
    with (
        _database(backend, tmp_path) as url,
        memory_cgroup("booking-app-limit", limit) as group,
    ):
        env = _process_env(booking_env(url, tmp_path / "live-data", PRODUCTION))
        for command in ("migrate", "demo"):
            subprocess.run(
                [sys.executable, "-m", "booking", command],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
                timeout=120,
            )
        with live_server(url, tmp_path, PRODUCTION, wrap=lambda cmd: in_cgroup(group, cmd)) as app:
            statuses: Counter[int] = Counter()
            stop = time.monotonic() + SECONDS
            emails = ["member@booking.com", "oma.erika@example.com", "jonas@example.com"]
            clients = [
                threading.Thread(target=_client, args=(app.base_url, emails[i % 3], stop, statuses))
                for i in range(CLIENTS)
            ]
            for client in clients:
                client.start()
            for client in clients:
                client.join(SECONDS + 60)
            alive = app.process.poll() is None
            status = Path(f"/proc/{app.process.pid}/status").read_text() if alive else ""
            hwm = next((line.split()[1] for line in status.splitlines() if "VmHWM" in line), "?")
        peak = int((group / "memory.max_usage_in_bytes").read_text()) >> 20
        oom = (group / "memory.oom_control").read_text()
        assert alive, app.log()[-2000:]
    print(  # noqa: T201 - the figures belong in the test output
        f"{backend}: peak charge {peak} MiB of {limit >> 20} MiB (page cache included), "
        f"app VmHWM {hwm} kB, {statuses[200]} answers 200 of {sum(statuses.values())}"
    )
    assert "oom_kill 0" in oom or "oom_kill" not in oom
    assert set(statuses) == {200} and statuses[200] > CLIENTS * 4
