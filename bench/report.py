"""The Markdown report of bench/harness.py, its PNG charts (matplotlib, the `bench` dependency
group) and the comparison with the previous report's JSON.

    uv run --group bench python bench/report.py bench/results/bench-2026-11-26.json  # re-render
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path
from typing import Any

import check

SCENARIO_ORDER = (
    "page_list", "page_calendar", "admin_list", "admin_calendar", "availability",
    "create", "edit", "accept", "cancel",
)  # fmt: skip
COMPONENTS = ("app", "nginx", "postgresql", "total")


def _stem(result: dict[str, Any]) -> str:
    """bench-2026-11-26-2148[-quick]: one file per run, so each compares with the one before."""
    day, clock = result["date"][:10], result["date"][11:16].replace(":", "")
    return f"bench-{day}-{clock}" + ("-quick" if result.get("quick") else "")


def previous_result(directory: Path, stem: str) -> tuple[Path, dict[str, Any]] | None:
    """The newest earlier report (not a re-rendering of this one)."""
    candidates = sorted(
        (p for p in directory.glob("bench-*.json") if p.stem != stem),
        key=lambda p: p.stat().st_mtime,
    )
    if not candidates:
        return None
    return candidates[-1], json.loads(candidates[-1].read_text())


def write(result: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stem = _stem(result)
    previous = previous_result(directory, stem)
    (directory / f"{stem}.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    charts = draw_charts(result, directory, stem)
    path = directory / f"{stem}.md"
    path.write_text(markdown(result, charts, previous))
    return path


# --- charts --------------------------------------------------------------------------------------
def draw_charts(result: dict[str, Any], directory: Path, stem: str) -> list[tuple[str, str]]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing (uv sync --group bench): no charts")  # noqa: T201
        return []
    charts: list[tuple[str, str]] = []
    backends = result["backends"]

    if backends:
        charts += _backend_charts(plt, backends, directory, stem)
    scaling = result.get("scaling")
    if scaling:
        charts.append(_scaling_chart(plt, scaling, directory, stem))
    return charts


def _backend_charts(
    plt: Any, backends: dict[str, Any], directory: Path, stem: str
) -> list[tuple[str, str]]:
    charts = []
    fig, axes = plt.subplots(1, len(backends), figsize=(6 * len(backends), 4), squeeze=False)
    for ax, (backend, figures) in zip(axes[0], backends.items(), strict=True):
        runs = figures["runs"]
        users = sorted(int(u) for u in runs)
        for scenario in SCENARIO_ORDER:
            values = [runs[str(u)]["scenarios"].get(scenario, {}).get("p95_ms") for u in users]
            if any(v is not None for v in values):
                ax.plot(users, values, marker="o", label=scenario)
        ax.set(title=f"p95 latency ({backend})", xlabel="concurrent users", ylabel="ms")
        ax.set_xscale("log")
        ax.set_xticks(users, [str(u) for u in users])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    charts.append(("p95 latency per scenario", _save(fig, directory, f"{stem}-latency.png")))

    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for backend, figures in backends.items():
        runs = figures["runs"]
        users = sorted(int(u) for u in runs)
        axes[0].plot(users, [runs[str(u)]["rps"] for u in users], marker="o", label=backend)
        axes[1].bar(
            [f"{backend}\nidle", f"{backend}\npeak 50"],
            [figures["idle_pss_mib"]["total"], runs[str(users[-1])]["peak_pss_mib"]["total"]],
        )
    axes[0].set(title="throughput (mixed workload)", xlabel="concurrent users", ylabel="req/s")
    axes[0].legend()
    axes[0].grid(alpha=0.3)
    axes[1].axhline(200, color="red", linestyle="--", label="budget 200 MiB")
    axes[1].set(title="stack PSS (app + nginx + PostgreSQL)", ylabel="MiB")
    axes[1].legend()
    charts.append(("throughput and memory", _save(fig, directory, f"{stem}-throughput-memory.png")))
    return charts


def _scaling_chart(
    plt: Any, scaling: dict[str, Any], directory: Path, stem: str
) -> tuple[str, str]:
    fig, ax = plt.subplots(figsize=(7, 4))
    sizes = sorted(int(s) for s in scaling)
    for scenario in _scaling_names(scaling):
        values = [scaling[str(s)][scenario]["p95_ms"] for s in sizes]
        ax.plot(sizes, values, marker="o", label=scenario)
    ax.set(title="p95 at 1 user vs. bookings in the database (SQLite)", ylabel="ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("bookings (history grows, the future stays the same)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return ("scaling with history", _save(fig, directory, f"{stem}-scaling.png"))


def _save(fig: Any, directory: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(directory / name, dpi=80)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return name


# --- markdown --------------------------------------------------------------------------------------
def _f(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(
    result: dict[str, Any], charts: list[tuple[str, str]], previous: tuple[Path, dict] | None
) -> str:
    machine, git = result["machine"], result["git"]
    lines = [
        f"# Performance report {result['date']}" + (" (quick)" if result.get("quick") else ""),
        "",
        "`make bench` (bench/harness.py): the production topology natively — nginx with the "
        "shipped configuration (TLS; its per-address rate limits removed, the load generator is "
        "one address), `booking serve` pinned to core 0, PostgreSQL 15 with "
        "deploy/postgres/postgresql.conf or SQLite — all in one 512 MiB memory cgroup; wrk "
        "(bench/workload/mixed.lua, one connection per user) on core 1 with nginx and "
        "PostgreSQL. Data: bench/generate.py. "
        + (
            f"Each user pauses {result['think_ms'] // 2}–{result['think_ms'] * 3 // 2} ms "
            f"between requests; {result['seconds_per_user_run']} s per user run, "
            if result.get("think_ms")
            else "Users do not pause between requests; "
        )
        + f"{result['seconds_per_run']} s for the capacity run, each after a 2 s warm-up.",
        "",
        f"Machine: {machine['cpu_model']}, {machine['cpus_online']} CPUs, kernel "
        f"{machine['kernel']}, Python {machine['python']}, {machine.get('wrk', 'wrk')}. "
        f"Commit {git['commit'][:12]}{' (dirty)' if git.get('dirty') else ''}. "
        f"Load average before {result['load_before']}, after {result.get('load_after')}"
        + (
            " — **the machine was busy: latency and throughput are not comparable**."
            if max(result["load_before"][0], (result.get("load_after") or [0])[0]) > 1.0
            else "."
        ),
        "",
    ]
    budgets = tomllib.loads(check.BUDGETS.read_text())
    verdicts = check.evaluate(result, budgets)
    lines += ["## Budgets (bench/budgets.toml)", "", "| backend | budget | measured | limit | |",
              "|---|---|---|---|---|"]  # fmt: skip
    for v in verdicts:
        lines.append(
            f"| {v.backend} | {v.name} | {_f(v.measured, 0 if v.unit == '' else 1)} {v.unit} | ≤ {v.budget:g} {v.unit} | "
            f"{'ok' if v.ok else '**FAIL**'} |"
        )
    lines.append("")
    for backend, figures in result["backends"].items():
        data = figures["data"]
        lines += [
            f"## {backend}",
            "",
            f"Data: {data['bookings']} bookings ({data['booking_items']} items, "
            f"{data['history']} history rows) since {data['first_day']}, {data['users']} users, "
            f"{data['places']} places; database {_f(figures['database_mib'])} MiB after the "
            f"runs. Cold start (exec to the first `/health` answer): "
            f"{_f(figures['cold_start_s'], 2)} s. Memory cgroup: "
            f"{'yes' if figures['cgroup'] else 'no (not available here)'}.",
            "",
            "| users | req/s | p50 ms | p95 ms | p99 ms | errors | app RSS MiB | stack PSS peak MiB |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for users, run in sorted(figures["runs"].items(), key=lambda kv: int(kv[0])):
            lat = run["latency_ms"]
            lines.append(
                f"| {users} | {run['rps']:.0f} | {_f(lat['p50'])} | {_f(lat['p95'])} | "
                f"{_f(lat['p99'])} | {run['errors']} | {_f(run['app_rss_mib'])} | "
                f"{_f(run['peak_pss_mib']['total'])} |"
            )
        lines += ["", "| users | scenario | requests | req/s | p50 ms | p95 ms | p99 ms | errors |",
                  "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for users, run in sorted(figures["runs"].items(), key=lambda kv: int(kv[0])):
            for name in SCENARIO_ORDER:
                s = run["scenarios"].get(name)
                if s:
                    lines.append(
                        f"| {users} | {name} | {s['requests']} | {s['rps']:.1f} | "
                        f"{_f(s['p50_ms'])} | {_f(s['p95_ms'])} | {_f(s['p99_ms'])} | "
                        f"{s['errors']} {'' if not s['errors'] else s['statuses']} |"
                    )
        capacity = figures.get("capacity")
        if capacity:
            lat = capacity["latency_ms"]
            lines += [
                "",
                f"Capacity ({capacity['users']} connections that never pause, "
                f"{_f(capacity['seconds'], 0)} s): **{capacity['rps']:.0f} req/s**, p50 "
                f"{_f(lat['p50'])} ms, p95 {_f(lat['p95'])} ms, p99 {_f(lat['p99'])} ms, "
                f"{capacity['errors']} errors. Requests queue for the one core here: this is "
                "the most the board serves, not what a user waits.",
                "",
                "| scenario | requests | p50 ms | p95 ms |",
                "|---|---|---|---|",
            ]
            for name in SCENARIO_ORDER:
                c = capacity["scenarios"].get(name)
                if c:
                    lines.append(
                        f"| {name} | {c['requests']} | {_f(c['p50_ms'])} | {_f(c['p95_ms'])} |"
                    )
        runs_and_capacity = [*figures["runs"].values(), *([capacity] if capacity else [])]
        failures = [f for run in runs_and_capacity for f in run.get("failures", [])]
        if failures:
            lines += ["", "First failed requests:", "", "```", *failures[:10], "```"]
        peak = figures["runs"][max(figures["runs"], key=int)]["peak_pss_mib"]
        lines += ["", "| PSS MiB | idle | peak (largest run) | after |", "|---|---|---|---|"]
        for component in COMPONENTS:
            if component in figures["idle_pss_mib"]:
                lines.append(
                    f"| {component} | {_f(figures['idle_pss_mib'][component])} | "
                    f"{_f(peak[component])} | {_f(figures['after_pss_mib'][component])} |"
                )
        lines += [
            "",
            f"App RSS: idle {_f(figures['app_rss_idle_mib'])} MiB, after the workload's logins "
            f"{_f(figures['app_rss_after_login_mib'])} MiB, peak (VmHWM) "
            f"{_f(figures['app_rss_peak_mib'])} MiB.",
        ]
        stat = figures.get("cgroup_stat")
        if stat:
            lines.append(
                f"cgroup: max_usage {stat['max_usage'] / 2**20:.0f} MiB (incl. page cache), "
                f"failcnt {stat['failcnt']}, oom_kill {stat['oom_kill']}."
            )
        if figures.get("app_errors"):
            lines += ["", "App log errors:", "", "```", *figures["app_errors"], "```"]
        lines.append("")
    scaling = result.get("scaling")
    if scaling:
        lines += [
            "## Scaling with history (SQLite, app alone, 1 user)",
            "",
            "The future (next 6 months) is the same in every data set; only the past grows.",
            "",
            "Cells: p50 / p95 in ms (p50 is the steadier figure on a busy machine).",
            "",
            "| bookings | since | "
            + " | ".join(f"{s} ms" for s in _scaling_names(scaling))
            + " | app RSS MiB |",
            "|---|---|" + "---|" * len(_scaling_names(scaling)) + "---|",
        ]
        for size, row in sorted(scaling.items(), key=lambda kv: int(kv[0])):
            lines.append(
                f"| {size} | {row['data']['first_day']} | "
                + " | ".join(
                    f"{_f(row[s]['p50_ms'])} / {_f(row[s]['p95_ms'])}"
                    for s in _scaling_names(scaling)
                )
                + f" | {_f(row['app_rss_mib'])} |"
            )
        lines.append("")
    if charts:
        lines += ["## Charts", ""]
        lines += [f"![{title}]({name})" for title, name in charts]
        lines.append("")
    lines += comparison(result, previous)
    return "\n".join(lines)


def _scaling_names(scaling: dict[str, Any]) -> list[str]:
    first = next(iter(scaling.values()))
    return [key for key in SCENARIO_ORDER if key in first]


def _key_figures(result: dict[str, Any]) -> dict[str, float]:
    figures: dict[str, float] = {}
    for backend, data in result.get("backends", {}).items():
        figures[f"{backend}: app RSS idle MiB"] = data.get("app_rss_idle_mib")
        figures[f"{backend}: app RSS peak MiB"] = data.get("app_rss_peak_mib")
        for users, run in data.get("runs", {}).items():
            figures[f"{backend}: {users} users req/s"] = run.get("rps")
            figures[f"{backend}: {users} users stack PSS peak MiB"] = run["peak_pss_mib"]["total"]
            for name in ("page_list", "page_calendar", "availability"):
                p95 = run["scenarios"].get(name, {}).get("p95_ms")
                figures[f"{backend}: {users} users {name} p95 ms"] = p95
    return {k: v for k, v in figures.items() if v is not None}


def comparison(result: dict[str, Any], previous: tuple[Path, dict] | None) -> list[str]:
    if previous is None:
        return ["## Compared with the previous report", "", "No previous report.", ""]
    path, old = previous
    now_figures, old_figures = _key_figures(result), _key_figures(old)
    lines = [
        "## Compared with the previous report",
        "",
        f"Previous: {path.name} ({old['date']}, load before {old.get('load_before')}).",
        "",
        "| figure | previous | now | change |",
        "|---|---|---|---|",
    ]
    for key, value in now_figures.items():
        before = old_figures.get(key)
        change = "" if not before else f"{100 * (value - before) / before:+.0f} %"
        lines.append(f"| {key} | {_f(before)} | {_f(value)} | {change} |")
    lines.append("")
    return lines


def main(argv: list[str]) -> int:
    path = Path(argv[0])
    result = json.loads(path.read_text())
    print(write(result, path.parent))  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main(sys.argv[1:]))
