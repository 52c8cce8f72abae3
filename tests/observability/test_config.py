"""Static checks of the monitoring configuration with the real tools: promtool (config, rules,
rule unit tests, the dashboard's PromQL), amtool, and the dashboard against a JSON Schema
derived from Grafana's own TypeScript types (npm @grafana/schema, committed; see
docs/observability.md for how it was generated)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.observability.helpers import (
    ALERTMANAGER_YML,
    DASHBOARD,
    DASHBOARD_SCHEMA,
    DEPLOY,
    PROMETHEUS_YML,
    ROOT,
    RULES,
    RULES_TEST,
    as_promql,
    dashboard_expressions,
    dump_yaml,
    load_yaml,
    tool,
)


def run(*command: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd)


def test_promtool_accepts_the_prometheus_configuration() -> None:
    result = run(tool("promtool"), "check", "config", str(PROMETHEUS_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULES)} rule files found" in result.stdout + result.stderr


def test_promtool_accepts_the_rules() -> None:
    result = run(tool("promtool"), "check", "rules", *map(str, RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    """The check above can fail."""
    host = next(path for path in RULES if path.name == "host.yml")
    broken = tmp_path / "broken.yml"
    text = host.read_text().replace("> 0.90", "> (0.90", 1)
    assert text != host.read_text()
    broken.write_text(text)
    result = run(tool("promtool"), "check", "rules", str(broken))
    assert result.returncode != 0 and "parse error" in result.stdout + result.stderr


def test_every_alert_has_unit_tests_that_pass() -> None:
    alerts = {
        rule["alert"]
        for path in RULES
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    tests = load_yaml(RULES_TEST)["tests"]
    fired: set[str] = set()
    silent: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    assert alerts - fired == set(), "alerts without a test that makes them fire"
    assert alerts - silent == set(), "alerts without a test that keeps them silent"
    required = {
        "HostMemoryHigh", "HostCpuHigh", "HostDiskLow", "BookingDown", "BookingHighErrorRate",
        "BookingSlowRequests", "BookingBackupTooOld", "BookingMailFailing",
        "BookingLoginAttack", "TlsCertificateExpiring",
    }  # fmt: skip
    assert required <= alerts
    result = run(tool("promtool"), "test", "rules", str(RULES_TEST))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_rule_tests_can_fail(tmp_path: Path) -> None:
    """A wrong expectation (the memory alert at 80 % instead of 90 %) is caught."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for path in RULES:
        (rules_dir / path.name).write_text(path.read_text().replace("> 0.90", "> 0.97"))
    tests_dir = tmp_path / "tests"
    tests_dir.mkdir()
    (tests_dir / "rules_test.yml").write_text(RULES_TEST.read_text())
    result = run(tool("promtool"), "test", "rules", str(tests_dir / "rules_test.yml"))
    assert result.returncode != 0 and "HostMemoryHigh" in result.stdout + result.stderr


def test_amtool_accepts_the_alertmanager_configuration() -> None:
    result = run(tool("amtool"), "check-config", str(ALERTMANAGER_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    config = load_yaml(ALERTMANAGER_YML)
    receivers = {r["name"]: r for r in config["receivers"]}
    assert receivers[config["route"]["receiver"]]["email_configs"], "mails the administrators"
    assert "smtp_auth_password" not in config["global"], "the password comes from a file"
    assert config["global"]["smtp_auth_password_file"].startswith("/run/secrets/")


def test_amtool_rejects_an_undefined_receiver(tmp_path: Path) -> None:
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(ALERTMANAGER_YML.read_text().replace("receiver: admins", "receiver: nope"))
    result = run(tool("amtool"), "check-config", str(broken))
    assert result.returncode != 0 and "nope" in result.stdout + result.stderr


def check_jsonschema(document: Path) -> subprocess.CompletedProcess[str]:
    return run(
        str(Path(ROOT / ".venv" / "bin" / "check-jsonschema"))
        if (ROOT / ".venv" / "bin" / "check-jsonschema").exists()
        else tool("check-jsonschema"),
        "--schemafile",
        str(DASHBOARD_SCHEMA),
        str(document),
    )


def test_the_dashboard_matches_grafanas_schema() -> None:
    result = check_jsonschema(DASHBOARD)
    assert result.returncode == 0, result.stdout + result.stderr
    schema = json.loads(DASHBOARD_SCHEMA.read_text())
    assert schema["definitions"]["Dashboard"]["additionalProperties"] is False


def test_the_schema_rejects_a_broken_dashboard(tmp_path: Path) -> None:
    board = json.loads(DASHBOARD.read_text())
    board["graphTooltip"] = 7
    board["refersh"] = "1m"
    board["panels"][1]["gridPos"]["w"] = "wide"
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(board))
    result = check_jsonschema(broken)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "graphTooltip" in out and "refersh" in out and "wide" in out


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    board = json.loads(DASHBOARD.read_text())
    text = " ".join(dashboard_expressions(board))
    for metric in (
        "booking_http_requests_total",  # traffic, errors
        "booking_http_request_duration_seconds_bucket",  # latency
        "process_resident_memory_bytes",  # memory per service
        "process_cpu_seconds_total",  # CPU per service
        "node_memory_MemAvailable_bytes",
        "booking_bookings",
        "booking_login_failures_total",
    ):
        assert metric in text, metric
    uids = {t["datasource"]["uid"] for t in _targets(board)}
    assert uids == {"${datasource}"}


def _targets(board: dict) -> list[dict]:  # type: ignore[type-arg]
    return [t for p in board["panels"] for t in p.get("targets", [])]


def test_promtool_accepts_every_dashboard_expression(tmp_path: Path) -> None:
    """Each panel query wrapped as a recording rule: promtool parses all of them."""
    expressions = dashboard_expressions()
    assert len(expressions) >= 20
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:expr_{i}", "expr": as_promql(expr)}
                    for i, expr in enumerate(expressions)
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_rules.yml"
    dump_yaml(rules, path)
    result = run(tool("promtool"), "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(expressions)} rules found" in result.stdout + result.stderr


def test_the_monitoring_host_stack_is_valid_compose(tmp_path: Path) -> None:
    compose = ROOT / ".venv" / "bin" / "docker-compose"
    env = {
        "PATH": "/usr/bin:/bin",
        "PI_ADDRESS": "192.0.2.1",
        "PROMETHEUS_URL": "http://192.0.2.1:9090",
        "HOME": str(tmp_path),
    }
    result = subprocess.run(
        [str(compose), "-f", str(DEPLOY / "monitoring-host" / "compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_prometheus_scrapes_what_the_rules_need() -> None:
    config = load_yaml(PROMETHEUS_YML)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert {"booking", "node", "blackbox", "nginx", "prometheus"} <= set(jobs)
    assert jobs["booking"]["dns_sd_configs"][0]["names"] == ["app", "app-green"]
    assert config["rule_files"] == ["rules/*.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
