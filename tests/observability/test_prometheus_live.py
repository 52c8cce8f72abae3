"""A real Prometheus (Debian `prometheus`) on 127.0.0.1 scrapes a running app (`booking serve`)
every second with the shipped rules; after a few requests the test reads the series back
through Prometheus' HTTP API, evaluates every dashboard query against it and prints the PSS of
Prometheus idle and while scraping."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from booking.config import load_settings
from booking.db import Database
from booking.domain.context import Context
from tests import factories
from tests.live import free_port, live_server
from tests.observability.helpers import (
    PROMETHEUS_YML,
    RULES,
    as_promql,
    dashboard_expressions,
    dump_yaml,
    load_yaml,
    tool,
)


def pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise AssertionError("no Pss line")


class Prometheus:
    def __init__(self, process: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.process, self.url, self.log = process, url, log

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert body["status"] == "success", (expr, body)
        return list(body["data"]["result"])

    def wait_for(self, expr: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.query(expr)
            if result:
                return result
            time.sleep(0.5)
        raise AssertionError(
            f"no result for {expr} within {timeout}s:\n{self.log.read_text()[-3000:]}"
        )


@pytest.fixture
def app_server(tmp_path: Path) -> Iterator[Any]:
    with live_server(
        f"sqlite:///{tmp_path}/live.sqlite3", tmp_path, extra_env={"BOOKING_LOG_FORMAT": "json"}
    ) as server:
        yield server


@pytest.fixture
def prometheus(tmp_path: Path, app_server: Any) -> Iterator[Prometheus]:
    """The shipped configuration with the rules, scraping the live app instead of Compose names."""
    config = load_yaml(PROMETHEUS_YML)
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(path) for path in RULES]
    config.pop("alerting")
    port = free_port()
    config["scrape_configs"] = [
        {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]},
        {"job_name": "booking", "metrics_path": "/metrics",
         "static_configs": [{"targets": [f"127.0.0.1:{app_server.port}"]}]},
    ]  # fmt: skip
    path = tmp_path / "prometheus.yml"
    dump_yaml(config, path)
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [tool("prometheus"), f"--config.file={path}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=1h"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, log.read_text()
            time.sleep(0.2)
        else:
            raise AssertionError(log.read_text())
        yield Prometheus(process, url, log)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_prometheus_scrapes_the_app_and_reads_the_series_back(app_server, prometheus) -> None:
    idle = pss_kib(prometheus.process.pid)
    settings = load_settings(app_server.booking_env)
    ctx = Context(db=Database(settings.effective_database_url), settings=settings)
    try:
        bob = factories.make_user(ctx, "bob@example.com")
        room = factories.make_place(ctx, "Zimmer 1", capacity=4)
        booking = factories.make_booking(ctx, bob, [(room, 1)])
        headers = factories.auth_headers(ctx, bob)
    finally:
        ctx.db.dispose()
    with httpx.Client(base_url=app_server.base_url, timeout=10) as client:
        for _ in range(5):
            assert client.get(f"/api/bookings/{booking.id}", headers=headers).status_code == 200
        assert client.get("/api/bookings/not-a-uuid", headers=headers).status_code == 404
        assert client.post(
            "/api/auth/login", json={"email": "bob@example.com", "password": "wrong"}
        ).status_code in (400, 401)
    route = "/api/bookings/{booking_id:uuid}"
    result = prometheus.wait_for(
        f'booking_http_requests_total{{job="booking",route="{route}",status="200"}} >= 5'
    )
    assert result[0]["metric"]["method"] == "GET"
    assert prometheus.wait_for('up{job="booking"} == 1')
    assert prometheus.wait_for('booking_login_failures_total{job="booking"} >= 1')
    assert prometheus.wait_for('booking_database_up{job="booking"} == 1')
    assert prometheus.wait_for('booking_bookings{status="pending"} == 1')
    assert prometheus.wait_for('process_resident_memory_bytes{job="booking"} > 0')
    info = prometheus.wait_for("booking_build_info")[0]["metric"]
    assert info["commit"] == "unknown" and info["version"]
    assert prometheus.wait_for(
        f'booking_http_request_duration_seconds_count{{route="{route}"}} >= 5'
    )
    # Raw ids never become labels.
    series = httpx.get(f"{prometheus.url}/api/v1/label/route/values", timeout=10).json()["data"]
    assert route in series and not any(str(booking.id) in value for value in series)
    # The recording rule of the shipped rules is evaluated.
    assert prometheus.wait_for("booking:http_requests:rate5m")
    # The alert rules loaded; nothing fires for a healthy app except the missing backup.
    rules = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
    assert sum(len(group["rules"]) for group in rules) >= 15
    # Every dashboard query runs against this Prometheus (names of app metrics exist).
    for expr in dashboard_expressions():
        prometheus.query(as_promql(expr))
    app_metrics = [e for e in dashboard_expressions() if "booking_" in e and "node_" not in e]
    answered = [e for e in app_metrics if prometheus.query(as_promql(e))]
    assert len(answered) >= len(app_metrics) - 3, set(app_metrics) - set(answered)
    with httpx.Client(base_url=app_server.base_url, timeout=10) as client:
        for _ in range(100):
            client.get("/health")
    scraping = pss_kib(prometheus.process.pid)
    print(f"prometheus PSS: idle {idle} KiB, scraping every 1 s {scraping} KiB")  # noqa: T201
