"""The exporters of the `monitoring` profile (deploy/compose.prod.yml), run natively from Debian's
packages, each inside a memory cgroup of exactly its Compose limit and with its Compose
environment (GOMEMLIMIT, GOGC): they answer 200 scrapes with real values (`pg_up 1` as the
shipped pg_monitor role, `nginxexporter_build_info` plus `nginx_up 1` from the shipped nginx
configuration's /nginx-status), and are never OOM-killed. Prints the peak for the docs."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.deploy.helpers import (
    DEPLOY,
    in_cgroup,
    memory_cgroup,
    render_nginx,
    running_nginx,
    shared_tmp,
    wait_for_port,
)
from tests.live import free_port
from tests.observability.helpers import load_yaml

pytestmark = pytest.mark.slow

COMPOSE = load_yaml(DEPLOY / "compose.prod.yml")
SCRAPES = int(os.environ.get("BOOKING_TEST_SCRAPES", "200"))


def _service(name: str) -> dict:
    service = COMPOSE["services"][name]
    assert service["profiles"] == ["monitoring"]
    return service


def _limit_bytes(service: dict) -> int:
    text = service["deploy"]["resources"]["limits"]["memory"]
    assert text.endswith("M")
    return int(text[:-1]) << 20


def _go_env(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    return {key: str(env[key]) for key in ("GOMEMLIMIT", "GOGC") if key in env}


def _binary(name: str, directory: Path) -> str:
    """A cold copy of the exporter: its pages are not in the page cache yet, so the cgroup is
    charged for them as a fresh container would be (a warm binary's pages stay charged to
    whoever read them first, which flatters the figure)."""
    path = Path("/usr/bin") / name
    if not path.exists():
        pytest.skip(f"{name} is not installed (.ci/run installs it from Debian)")
    copy = directory / name
    copy.write_bytes(path.read_bytes())
    copy.chmod(0o755)
    fd = os.open(copy, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    return str(copy)


def _scrape_in_cgroup(name: str, command: list[str], env: dict[str, str], port: int) -> str:
    """Runs ``command`` in a cgroup with the service's limit, scrapes it SCRAPES times and
    returns the last page; asserts no OOM kill."""
    service = _service(name)
    limit = _limit_bytes(service)
    with memory_cgroup(f"booking-{name}", limit) as group:
        process = subprocess.Popen(
            in_cgroup(group, command),
            env={"PATH": "/usr/bin:/bin", **_go_env(service), **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_for_port(port, timeout=20)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                for _ in range(SCRAPES):
                    response = client.get("/metrics")
                    assert response.status_code == 200
            peak = int((group / "memory.max_usage_in_bytes").read_text())
            oom = (group / "memory.oom_control").read_text()
            print(  # noqa: T201
                f"{name}: peak {peak / 2**20:.1f} MiB of {limit >> 20} MiB after {SCRAPES} "
                "scrapes (cgroup v1, page cache included)"
            )
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert "oom_kill 0" in oom or "oom_kill" not in oom
            return response.text
        finally:
            process.terminate()
            process.wait(timeout=10)


def _cluster() -> tuple[str, int]:
    url = os.environ.get("BOOKING_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("BOOKING_TEST_POSTGRES_URL is not set")
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 5432


def _psql(*args: str) -> list[str]:
    host, port = _cluster()
    return ["psql", "-h", host, "-p", str(port), *args]


@pytest.fixture
def monitor_role(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The role deploy/postgres/initdb/10-monitor-role.sh makes, on the test cluster."""
    host, port = _cluster()
    role = f"booking_monitor_{uuid.uuid4().hex[:8]}"
    password = tmp_path / "postgres_monitor_password"
    password.write_text(uuid.uuid4().hex)
    env = {
        **os.environ,
        "PGHOST": host,
        "PGPORT": str(port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_DB": "postgres",
        "MONITOR_USER": role,
        "MONITOR_PASSWORD_FILE": str(password),
    }
    script = DEPLOY / "postgres" / "initdb" / "10-monitor-role.sh"
    made = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    try:
        yield role, password
    finally:
        subprocess.run(
            _psql("-U", "postgres", "-c", f"DROP ROLE IF EXISTS {role}"),
            capture_output=True,
            check=False,
        )


@pytest.mark.postgres
def test_the_monitor_role_reads_statistics_but_no_data(monitor_role: tuple[str, Path]) -> None:
    role, _ = monitor_role

    def as_role(sql: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            _psql("-U", role, "-d", "postgres", "-Atc", sql),
            capture_output=True,
            text=True,
        )

    assert as_role("SELECT pg_has_role(current_user, 'pg_monitor', 'member')").stdout == "t\n"
    assert as_role("SELECT count(*) >= 0 FROM pg_stat_activity").returncode == 0
    refused = as_role("CREATE TABLE monitor_may_not_write (id int)")
    assert refused.returncode != 0


@pytest.mark.postgres
def test_the_postgres_exporter_fits_its_limit(
    monitor_role: tuple[str, Path], tmp_path: Path
) -> None:
    role, password = monitor_role
    port = free_port()
    env = _service("postgres-exporter")["environment"]
    assert env["DATA_SOURCE_USER"] == "booking_monitor"
    page = _scrape_in_cgroup(
        "postgres-exporter",
        [
            _binary("prometheus-postgres-exporter", tmp_path),
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        {
            # The Compose variables, pointed at the test cluster and the role made above.
            "DATA_SOURCE_URI": "{}:{}/postgres?sslmode=disable".format(*_cluster()),
            "DATA_SOURCE_USER": role,
            "DATA_SOURCE_PASS_FILE": str(password),
        },
        port,
    )
    assert "\npg_up 1" in page
    assert "pg_stat_database_xact_commit" in page


def test_the_nginx_exporter_fits_its_limit() -> None:
    scrape_uri = next(
        arg for arg in _service("nginx-exporter")["command"] if "scrape-uri" in arg
    ).split("=", 1)[1]
    assert scrape_uri == "http://nginx:8080/nginx-status"
    port = free_port()
    with shared_tmp() as base:  # nginx runs as nobody: not under pytest's private tmp
        layout = render_nginx(base, "127.0.0.1:9")  # the upstream is never asked
        with running_nginx(layout):
            # Debian's 0.11 exporter takes single-dash flags, the image (1.x) double-dash ones.
            page = _scrape_in_cgroup(
                "nginx-exporter",
                [
                    _binary("prometheus-nginx-exporter", base),
                    f"-nginx.scrape-uri=http://127.0.0.1:{layout.http_port}/nginx-status",
                    f"-web.listen-address=127.0.0.1:{port}",
                ],
                {},
                port,
            )
    assert "\nnginx_up 1" in page
    assert "nginx_connections_accepted" in page


def test_the_node_exporter_fits_its_limit(tmp_path: Path) -> None:
    service = _service("node-exporter")
    port = free_port()
    collectors = [arg for arg in service["command"] if arg.startswith("--collector.")]
    page = _scrape_in_cgroup(
        "node-exporter",
        [
            _binary("prometheus-node-exporter", tmp_path),
            f"--web.listen-address=127.0.0.1:{port}",
            *(arg.replace("$$", "$") for arg in collectors),
        ],
        {},
        port,
    )
    assert "node_memory_MemAvailable_bytes" in page
    assert "node_cpu_seconds_total" in page
