"""Paths and tools of the observability tests (Debian `prometheus`, `prometheus-alertmanager`)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PROMETHEUS_YML = DEPLOY / "prometheus" / "prometheus.yml"
RULES = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
RULES_TEST = DEPLOY / "prometheus" / "tests" / "rules_test.yml"
ALERTMANAGER_YML = DEPLOY / "alertmanager" / "alertmanager.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "booking.json"
GRAFANA_SCHEMA_VERSION = "13.2.3"  # npm @grafana/schema the committed schema was derived from
DASHBOARD_SCHEMA = (
    DEPLOY / "grafana" / "schema" / f"dashboard-grafana-schema-{GRAFANA_SCHEMA_VERSION}.json"
)


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is not installed (Debian prometheus / prometheus-alertmanager; .ci/run)"
    return found


def dashboard_expressions(dashboard: dict[str, Any] | None = None) -> list[str]:
    """Every PromQL expression of the dashboard's panels (rows included)."""
    board = dashboard or json.loads(DASHBOARD.read_text())
    found: list[str] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            found.extend(t["expr"] for t in panel.get("targets", []) if t.get("expr"))
            walk(panel.get("panels", []))

    walk(board["panels"])
    return found


def as_promql(expr: str) -> str:
    """Grafana's variables replaced by what they become at query time."""
    return re.sub(r"\$__rate_interval|\$__interval|\$__range", "2m", expr)


def load_yaml(path: Path) -> Any:
    """YAML through ruamel.yaml (a dependency of check-jsonschema, a dev dependency)."""
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(path.read_text())


def dump_yaml(data: Any, path: Path) -> None:
    from ruamel.yaml import YAML

    with path.open("w") as handle:
        YAML(typ="safe").dump(data, handle)
