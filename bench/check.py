"""Check the newest benchmark result against bench/budgets.toml (``make bench-check``).

    uv run python bench/check.py [RESULT.json]

Prints one line per budget and backend (measured figure, budget, ok/FAIL); exit status 1 when
any budget is violated or a figure is missing. It does not run the benchmark: ``make bench``.
"""

from __future__ import annotations

import json
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUDGETS = ROOT / "bench" / "budgets.toml"
RESULTS = ROOT / "bench" / "results"


@dataclass
class Verdict:
    backend: str
    name: str
    measured: float | None
    budget: float
    unit: str

    @property
    def ok(self) -> bool:
        return self.measured is not None and self.measured <= self.budget

    def line(self) -> str:
        figure = "missing" if self.measured is None else f"{self.measured:g} {self.unit}"
        state = "ok  " if self.ok else "FAIL"
        return f"{state} {self.backend:<10} {self.name:<44} {figure:>12}  (budget <= {self.budget:g} {self.unit})"


def newest_result(directory: Path = RESULTS) -> Path | None:
    found = sorted(directory.glob("bench-*.json"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def evaluate(result: dict[str, Any], budgets: dict[str, Any]) -> list[Verdict]:
    verdicts: list[Verdict] = []
    latency, stack_budget = budgets["latency"], budgets["stack"]
    for backend, figures in result["backends"].items():
        runs = figures.get("runs", {})

        def add(name: str, measured: float | None, budget: float, unit: str) -> None:
            verdicts.append(Verdict(backend, name, measured, budget, unit))  # noqa: B023

        add("app RSS idle", figures.get("app_rss_idle_mib"), budgets["app"]["idle_rss_mib"], "MiB")
        add(
            "app RSS under load (peak)",
            figures.get("app_rss_peak_mib"),
            budgets["app"]["load_rss_mib"],
            "MiB",
        )
        heavy = runs.get(str(stack_budget["users"]), {})
        add(
            f"stack PSS at {stack_budget['users']} users (peak)",
            heavy.get("peak_pss_mib", {}).get("total"),
            stack_budget["peak_pss_mib"],
            "MiB",
        )
        scenarios = runs.get(str(latency["users"]), {}).get("scenarios", {})
        pages = [name for name in scenarios if name.startswith("page_")] or ["page_list"]
        for name in pages:
            add(
                f"{name} p95 at {latency['users']} users",
                scenarios.get(name, {}).get("p95_ms"),
                latency["pages_p95_ms"],
                "ms",
            )
        add(
            f"availability p95 at {latency['users']} users",
            scenarios.get("availability", {}).get("p95_ms"),
            latency["availability_p95_ms"],
            "ms",
        )
        errors = sum(run.get("errors", 0) for run in runs.values()) if runs else None
        add("errors (all runs)", errors, budgets["errors"]["max"], "")
    return verdicts


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else newest_result()
    if path is None or not path.exists():
        print("no bench/results/bench-*.json: run `make bench` first")  # noqa: T201
        return 1
    result = json.loads(path.read_text())
    budgets = tomllib.loads(BUDGETS.read_text())
    verdicts = evaluate(result, budgets)
    print(f"{path.name} ({result['date']}, load before/after {result.get('load_before')} / "  # noqa: T201
          f"{result.get('load_after')}):")  # fmt: skip
    for verdict in verdicts:
        print(verdict.line())  # noqa: T201
    failed = [v for v in verdicts if not v.ok]
    print(f"{len(verdicts) - len(failed)} of {len(verdicts)} budgets met")  # noqa: T201
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
