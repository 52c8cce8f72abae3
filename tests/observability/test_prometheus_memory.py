"""Prometheus of the `monitoring` profile (deploy/compose.prod.yml) in a memory cgroup of exactly
its Compose limit: Debian's binary (2.42; the image is 2.55), copied cold so the cgroup pays for
its page cache as a fresh container does, with the Compose flags and GOMEMLIMIT/GOGC, the shipped
prometheus.yml and rules. It scrapes a live app and the node exporter; the other targets
(postgres and nginx exporters, blackbox, Alertmanager) are unreachable, as they are when those
containers are down. After RUN_SECONDS it must still be up, ready for most of the run, with no
OOM kill and every rule group evaluated; prints the peak charge and the PSS for the docs.

Measured (2026-11-27, 90 s, 5 s interval): 40 and 48 MB are never or barely ready: the kernel
reclaims the binary's own pages over and over (millions of failcnt hits) instead of OOM-killing
it, so it stalls without dying; 56 MB holds at PSS 49 MiB, 64 MB at 48.6 MiB.
BOOKING_TEST_PROMETHEUS_LIMIT_MB runs it at another limit."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.deploy.helpers import in_cgroup, memory_cgroup, wait_for_port
from tests.live import free_port, live_server
from tests.observability.helpers import PROMETHEUS_YML, RULES, dump_yaml, load_yaml
from tests.observability.test_exporters_live import _binary, _go_env, _limit_bytes, _service

pytestmark = pytest.mark.slow

RUN_SECONDS = float(os.environ.get("BOOKING_TEST_PROMETHEUS_SECONDS", "90"))
# The shipped 30 s would give 3 scrapes and 3 rule evaluations in 90 s; 5 s gives 18 of each.
# The head's size follows the number of series, not the interval, so this only adds churn.
INTERVAL = os.environ.get("BOOKING_TEST_PROMETHEUS_INTERVAL", "5s")


def _config(directory: Path, own: int, app: int, node: int) -> Path:
    """The shipped prometheus.yml with its targets pointed at this host: Compose names become
    127.0.0.1 and the app's DNS lookup a static target; unreachable ports for the rest."""
    config = load_yaml(PROMETHEUS_YML)
    shipped_timeout = int(config["global"]["scrape_timeout"].removesuffix("s"))
    timeout = f"{min(int(INTERVAL.removesuffix('s')), shipped_timeout)}s"
    config["global"].update(
        scrape_interval=INTERVAL, evaluation_interval=INTERVAL, scrape_timeout=timeout
    )
    config["rule_files"] = [str(path) for path in RULES]
    down = {"monitoring-host:9093": free_port(), "monitoring-host:9115": free_port()}
    targets = {"127.0.0.1:9090": own, "node-exporter:9100": node, **down}
    targets |= {"postgres-exporter:9187": free_port(), "nginx-exporter:9113": free_port()}
    for job in config["scrape_configs"]:
        if job["job_name"] == "booking":
            assert job.pop("dns_sd_configs")[0]["names"] == ["app", "app-green"]
            job["static_configs"] = [{"targets": [f"127.0.0.1:{app}"]}]
        for static in job.get("static_configs", []):
            static["targets"] = [
                f"127.0.0.1:{targets[t]}" if t in targets else t for t in static["targets"]
            ]
        for relabel in job.get("relabel_configs", []):
            if relabel.get("replacement") in targets:
                relabel["replacement"] = f"127.0.0.1:{targets[relabel['replacement']]}"
    for manager in config["alerting"]["alertmanagers"]:
        for static in manager["static_configs"]:
            static["targets"] = [f"127.0.0.1:{targets[t]}" for t in static["targets"]]
    path = directory / "prometheus.yml"
    dump_yaml(config, path)
    return path


def _flags(config: Path, data: Path, port: int) -> list[str]:
    """The Compose command with this test's paths and a loopback port."""
    own = {
        "--config.file": str(config),
        "--storage.tsdb.path": str(data),
        "--web.listen-address": f"127.0.0.1:{port}",
    }
    flags = []
    for flag in _service("prometheus")["command"]:
        name, _, value = flag.partition("=")
        flags.append(f"{name}={own.get(name, value)}")
    assert set(own) <= {flag.partition("=")[0] for flag in flags}
    return flags


def _pss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no Pss line")


@pytest.fixture
def targets(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """A live app (SQLite) and the node exporter with the Compose collectors."""
    node = free_port()
    collectors = [a for a in _service("node-exporter")["command"] if a.startswith("--collector.")]
    exporter = subprocess.Popen(
        ["/usr/bin/prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{node}",
         *(arg.replace("$$", "$") for arg in collectors)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port(node, timeout=20)
        with live_server(f"sqlite:///{tmp_path}/live.sqlite3", tmp_path) as app:
            yield app.port, node
    finally:
        exporter.terminate()
        exporter.wait(timeout=10)


def _cgroup_figures(group: Path) -> dict[str, int]:
    oom = dict(line.split() for line in (group / "memory.oom_control").read_text().splitlines())
    return {
        "peak": int((group / "memory.max_usage_in_bytes").read_text()),
        "failcnt": int((group / "memory.failcnt").read_text()),
        "oom_kill": int(oom.get("oom_kill", "0")),
    }


def _query(url: str, expr: str) -> list[dict[str, Any]]:
    body = httpx.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", (expr, body)
    return list(body["data"]["result"])


def _limit(service: dict[str, Any]) -> int:
    """The Compose limit; BOOKING_TEST_PROMETHEUS_LIMIT_MB tries another (to search for one)."""
    override = os.environ.get("BOOKING_TEST_PROMETHEUS_LIMIT_MB")
    return int(override) << 20 if override else _limit_bytes(service)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:  # thrashing in its cgroup: it may not get to exit
        process.kill()
        process.wait(timeout=20)


def test_prometheus_fits_its_limit(tmp_path: Path, targets: tuple[int, int]) -> None:
    app, node = targets
    service = _service("prometheus")
    limit = _limit(service)
    port = free_port()
    config = _config(tmp_path, port, app, node)
    command = [_binary("prometheus", tmp_path), *_flags(config, tmp_path / "tsdb", port)]
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "prometheus.log"
    up: dict[str, str] = {}
    rules: list[dict[str, Any]] = []
    pss: list[float] = []
    with memory_cgroup("booking-prometheus", limit) as group, log.open("wb") as out:
        process = subprocess.Popen(
            in_cgroup(group, command),
            env={"PATH": "/usr/bin:/bin", **_go_env(service)},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            started = time.monotonic()
            while time.monotonic() - started < RUN_SECONDS and process.poll() is None:
                try:
                    httpx.get(f"{url}/-/ready", timeout=5).raise_for_status()
                    pss.append(_pss_mib(process.pid))
                except httpx.HTTPError:
                    pass  # not ready yet (replaying the WAL, loading the rules), or stalled
                time.sleep(2)
            elapsed = time.monotonic() - started
            try:
                up = {r["metric"]["job"]: r["value"][1] for r in _query(url, "up")}
                rules = httpx.get(f"{url}/api/v1/rules", timeout=10).json()["data"]["groups"]
            except httpx.HTTPError:
                pass  # reported below: it stopped answering
            alive = process.poll() is None
            figures = _cgroup_figures(group)
        finally:
            _stop(process)
    print(  # noqa: T201
        f"\nprometheus: peak {figures['peak'] / 2**20:.1f} MiB of {limit >> 20} MiB "
        f"(cgroup v1, page cache of the cold binary included), failcnt {figures['failcnt']}, "
        f"oom_kill {figures['oom_kill']}; PSS max {max(pss, default=0):.1f} MiB, "
        f"last {pss[-1] if pss else 0:.1f} MiB over {len(pss)} ready checks; {elapsed:.0f} s, "
        f"scrape/evaluation every {INTERVAL}; up {up}"
    )
    assert alive, log.read_text()[-3000:]
    assert figures["oom_kill"] == 0
    assert len(pss) >= RUN_SECONDS / 4, "ready for less than half of the run (stalled?)"
    assert up.get("booking") == "1" and up.get("node") == "1" and up.get("prometheus") == "1"
    assert up.get("postgres") == "0" and up.get("nginx") == "0"
    assert sum(len(g["rules"]) for g in rules) >= 15
    assert all(g["lastEvaluation"] > "2000" for g in rules), "a rule group was never evaluated"
