"""Performance harness (issue 7): the production topology under a realistic mixed workload.

    uv run --group bench python bench/harness.py [--quick] [--backend sqlite|postgresql|both]
        [--bookings 20000] [--users 1,10,50] [--think-ms 500] [--capacity-users 10]
        [--scaling 1000,10000,100000] [--no-scaling]

Per backend (SQLite; PostgreSQL in a private cluster with deploy/postgres/postgresql.conf):
generate the data (bench/generate.py), start the app pinned to core 0, the shipped nginx
configuration (TLS) in front, all of it in one 512 MiB memory cgroup; log the workload's
accounts in (directly at the app: nginx limits logins per address), then run
bench/workload/mixed.lua with wrk at each number of users (one connection per user, each user
pausing about --think-ms between requests, as people do) through nginx, then once more with
--capacity-users connections that never pause: the most the one core serves. Records per scenario requests/s, p50/p95/p99 and errors, PSS of each component idle and
at peak, the app's RSS, cold start, database size.

Scaling (SQLite, app alone): latency of the list and calendar pages (member and admin) and of
the availability API at 1 user on data sets of growing history.

Writes bench/results/bench-<date>-<HHMM>[-quick].json and .md with PNG charts (bench/report.py);
``make bench-check`` compares the newest JSON with bench/budgets.toml (bench/check.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import quantiles
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import generate  # noqa: E402 - bench/ scripts import each other
import report  # noqa: E402
import stack  # noqa: E402
from api_bench import booking_cli, machine_info  # noqa: E402
from pages_bench import git_info, load_average  # noqa: E402
from pages_bench import login as web_login  # noqa: E402

from booking.lib.memory import TRIM_EVERY_SECONDS  # noqa: E402

ROOT = stack.ROOT
RESULTS = ROOT / "bench" / "results"
LUA = ROOT / "bench" / "workload" / "mixed.lua"
PAGES = ("page_list", "page_calendar", "admin_list", "admin_calendar")


# --- data and accounts ------------------------------------------------------------------------
def prepare_database(env: dict[str, str], bookings: int) -> dict[str, Any]:
    booking_cli(env, "migrate")
    return generate.generate(env["BOOKING_DATABASE_URL"], bookings)


def database_size_mib(database_url: str, data_dir: Path) -> float:
    if database_url.startswith("sqlite"):
        path = Path(database_url.split("///", 1)[1])
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        return sum(f.stat().st_size for f in files if f.exists()) / 2**20
    from sqlalchemy import text

    from booking.db import make_engine

    engine = make_engine(database_url)
    with engine.connect() as connection:
        size = connection.scalar(text("SELECT pg_database_size(current_database())"))
    engine.dispose()
    return int(size or 0) / 2**20


def accounts(app: stack.App) -> dict[str, str]:
    """Sessions (web) and tokens (API) of the workload's accounts, and the place ids."""
    members = [f"member{n}@bench.example" for n in range(1, generate.WORKLOAD_MEMBERS + 1)]
    cookies, tokens = [], []
    with httpx.Client(base_url=app.base_url, timeout=60) as client:

        def token(email: str) -> str:
            response = client.post(
                "/api/auth/login", json={"email": email, "password": generate.PASSWORD}
            )
            response.raise_for_status()
            return str(response.json()["token"])

        for email in members:
            browser = web_login(app.port, (email, generate.PASSWORD))
            cookies.append(browser.cookies["booking_session"])
            browser.close()
            tokens.append(token(email))
        admin_token = token(generate.ADMIN)
        admin = web_login(app.port, (generate.ADMIN, generate.PASSWORD))
        admin_cookie = admin.cookies["booking_session"]
        admin.close()
        places = client.get(
            "/api/sleeping-accommodations", headers={"Authorization": f"Bearer {admin_token}"}
        ).json()
    return {
        "BENCH_COOKIES": ",".join(cookies),
        "BENCH_TOKENS": ",".join(tokens),
        "BENCH_ADMIN_TOKEN": admin_token,
        "BENCH_ADMIN_COOKIE": admin_cookie,
        "BENCH_PLACES": ",".join(p["id"] for p in places),
        "BENCH_FIRST_FREE_DAY": str(generate.DAYS_AHEAD + 10),
    }


# --- wrk -----------------------------------------------------------------------------------------
def percentile(values: list[float], pct: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return quantiles(values, n=100, method="inclusive")[pct - 1]


_runs = 0  # wrk runs so far: each creates its bookings in dates of its own (mixed.lua)


def run_wrk(
    url: str,
    users: int,
    seconds: float,
    env: dict[str, str],
    sequence: str = "",
    think_ms: int = 0,
) -> dict[str, Any]:
    """wrk with one connection per user; per-scenario figures from the Lua samples."""
    with tempfile.NamedTemporaryFile(prefix="bench-", suffix=".txt", delete=False) as out:
        out_path = Path(out.name)
    command = stack.pin(
        [stack.which("wrk"), f"-t{users}", f"-c{users}", f"-d{seconds}s", "--timeout", "10s"],
        stack.OTHER_CORES,
    ) + ["-s", str(LUA), url]
    global _runs
    _runs += 1
    run_env = {
        **os.environ,
        **env,
        "BENCH_OUT": str(out_path),
        "BENCH_SEQUENCE": sequence,
        "BENCH_RUN": str(_runs),
        "BENCH_THINK_MS": str(think_ms),
    }
    result = subprocess.run(command, env=run_env, capture_output=True, text=True, check=False)
    summary: dict[str, Any] = {}
    for line in result.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            summary = json.loads(line[len("BENCH_JSON ") :])
    if not summary:
        raise RuntimeError(f"wrk failed:\n{result.stdout}\n{result.stderr}")
    by_scenario: dict[str, list[tuple[int, float]]] = {}
    failures: list[str] = []
    for line in out_path.read_text().splitlines():
        if line.startswith("! "):
            failures.append(line[2:])
            continue
        name, status, micros = line.split()
        by_scenario.setdefault(name, []).append((int(status), int(micros) / 1000))
    out_path.unlink()
    duration = summary["duration_us"] / 1e6
    scenarios = {}
    for name, samples in sorted(by_scenario.items()):
        latencies = [ms for _, ms in samples]
        errors = sum(1 for status, _ in samples if status >= 400)
        scenarios[name] = {
            "requests": len(samples),
            "rps": round(len(samples) / duration, 1),
            "p50_ms": round(percentile(latencies, 50), 2),
            "p95_ms": round(percentile(latencies, 95), 2),
            "p99_ms": round(percentile(latencies, 99), 2),
            "errors": errors,
            "statuses": _count(status for status, _ in samples),
        }
    socket_errors = {k: v for k, v in summary["errors"].items() if k != "status"}
    return {
        "users": users,
        "think_ms": think_ms,
        "seconds": round(duration, 2),
        "requests": summary["requests"],
        "rps": round(summary["requests"] / duration, 1),
        "errors": sum(s["errors"] for s in scenarios.values()) + sum(socket_errors.values()),
        "socket_errors": socket_errors,
        "latency_ms": {k: v / 1000 for k, v in summary["latency_us"].items()},
        "scenarios": scenarios,
        "failures": failures[:10],
    }


def _count(values: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[str(value)] = counts.get(str(value), 0) + 1
    return counts


# --- one backend -----------------------------------------------------------------------------
def bench_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with stack.shared_tmp("booking-bench-") as base, stack.memory_cgroup() as cgroup:
        data_dir = base / "data"
        data_dir.mkdir()
        if backend == "postgresql":
            with stack.private_postgres(base / "pg") as postgres:
                stack.pin_tree(postgres.pid, stack.OTHER_CORES)
                _create_database(postgres)
                url = postgres.url("booking")
                return _bench_stack(base, data_dir, url, args, cgroup, postgres.pid)
        url = f"sqlite:///{data_dir / 'booking.db'}"
        return _bench_stack(base, data_dir, url, args, cgroup, None)


def _create_database(postgres: stack.PrivatePostgres) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(
        postgres.url().replace("postgresql://", "postgresql+psycopg://"),
        isolation_level="AUTOCOMMIT",
    )
    with engine.connect() as connection:
        connection.execute(text("CREATE DATABASE booking"))
    engine.dispose()


def _bench_stack(
    base: Path,
    data_dir: Path,
    url: str,
    args: argparse.Namespace,
    cgroup: stack.MemoryCgroup | None,
    postgres_pid: int | None,
) -> dict[str, Any]:
    env = stack.app_env(url, data_dir)
    data = prepare_database(env, args.bookings)
    if cgroup is not None and postgres_pid is not None:
        cgroup.adopt(postgres_pid)  # after the bulk load: its page cache is not the app's
    result: dict[str, Any] = {"data": data, "cgroup": cgroup is not None}
    with stack.running_app(env, base / "app.log", cgroup) as app:
        result["cold_start_s"] = round(app.cold_start_s, 2)
        with stack.running_proxy(base, app.port, cgroup) as (layout, nginx):
            components = {"app": lambda: app.process.pid, "nginx": lambda: nginx.pid}
            if postgres_pid is not None:
                components["postgresql"] = lambda: postgres_pid
            sampler = stack.Sampler(components)
            url_https = f"https://127.0.0.1:{layout.https_port}"
            httpx.get(f"{app.base_url}/health/ready", timeout=10)
            # Idle: one request, then quiet for longer than the app's malloc trim period, as a
            # production process between visits (booking/lib/memory.py).
            time.sleep(TRIM_EVERY_SECONDS + 2)
            result["idle_pss_mib"] = _rounded(sampler.sample())
            result["app_rss_idle_mib"] = round(stack.rss(app.process.pid)["VmRSS"], 1)
            workload = accounts(app)  # logs in: Argon2 raises the app's RSS
            result["app_rss_after_login_mib"] = round(stack.rss(app.process.pid)["VmRSS"], 1)
            result["runs"] = {}
            for users in args.users:
                run_wrk(url_https, users, 2, workload)  # warm-up, not recorded
                with sampler:
                    run = run_wrk(url_https, users, args.user_seconds, workload, "", args.think_ms)
                run["peak_pss_mib"] = _rounded(sampler.peak())
                run["app_rss_mib"] = round(stack.rss(app.process.pid)["VmRSS"], 1)
                result["runs"][str(users)] = run
                print(  # noqa: T201
                    f"  {users:>2} users: {run['rps']:.0f} req/s, p95 {run['latency_ms']['p95']:.1f} ms, "
                    f"{run['errors']} errors, stack PSS {run['peak_pss_mib']['total']:.0f} MiB"
                )
            # Capacity: the same users without a pause, so the one core is saturated; what
            # the board can serve at most, and how long requests queue then (no budget).
            with sampler:
                run = run_wrk(url_https, args.capacity_users, args.seconds, workload)
            run["peak_pss_mib"] = _rounded(sampler.peak())
            result["capacity"] = run
            print(  # noqa: T201
                f"  capacity ({args.capacity_users} connections, no pause): {run['rps']:.0f} req/s, "
                f"p95 {run['latency_ms']['p95']:.1f} ms, {run['errors']} errors"
            )
            result["app_rss_peak_mib"] = round(stack.rss(app.process.pid)["VmHWM"], 1)
            result["after_pss_mib"] = _rounded(sampler.sample())
            if cgroup is not None:
                result["cgroup_stat"] = cgroup.stat()
            result["app_errors"] = app.errors()
    result["database_mib"] = round(database_size_mib(url, data_dir), 1)
    return result


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {key: round(value, 1) for key, value in values.items()}


# --- scaling -----------------------------------------------------------------------------------
SCALING_SCENARIOS = ("page_list", "page_calendar", "admin_list", "admin_calendar", "availability")


def bench_scaling(sizes: list[int], seconds: float) -> dict[str, Any]:
    """SQLite, the app alone (no cgroup, no nginx): what history costs, not the topology."""
    results: dict[str, Any] = {}
    for size in sizes:
        with stack.shared_tmp("booking-scale-") as base:
            data_dir = base / "data"
            data_dir.mkdir()
            url = f"sqlite:///{data_dir / 'booking.db'}"
            env = stack.app_env(url, data_dir)
            data = prepare_database(env, size)
            with stack.running_app(env, base / "app.log", None) as app:
                workload = accounts(app)
                row: dict[str, Any] = {"data": data}
                for scenario in SCALING_SCENARIOS:
                    run_wrk(app.base_url, 1, 1, workload, scenario)
                    run = run_wrk(app.base_url, 1, seconds, workload, scenario)
                    # No answer within the run (slower than its duration): no figures.
                    missing = {"requests": 0, "p50_ms": None, "p95_ms": None, "p99_ms": None}
                    row[scenario] = run["scenarios"].get(scenario, missing)
                row["app_rss_mib"] = round(stack.rss(app.process.pid)["VmRSS"], 1)
            results[str(size)] = row
            print(  # noqa: T201
                f"  {size:>6} bookings: "
                + ", ".join(f"{s} p95 {row[s]['p95_ms']} ms" for s in SCALING_SCENARIOS)
            )
    return results


# --- main ----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 s per run instead of 15 s")
    parser.add_argument(
        "--backend", choices=("sqlite", "postgresql", "both", "none"), default="both"
    )
    parser.add_argument("--bookings", type=int, default=20_000)
    parser.add_argument("--users", default="1,10,50")
    parser.add_argument(
        "--think-ms",
        type=int,
        default=500,
        help="a user's mean pause between requests (default 500 ms: a fast clicker; people "
        "on a booking page pause seconds); 0 fires at once",
    )
    parser.add_argument(
        "--capacity-users", type=int, default=10, help="connections of the no-pause run"
    )
    parser.add_argument("--scaling", default="1000,10000,100000")
    parser.add_argument("--no-scaling", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    args.users = [int(n) for n in args.users.split(",")]
    args.seconds = 5 if args.quick else 15
    # With pauses a user sends about 2 requests a second: longer runs for enough samples.
    args.user_seconds = args.seconds * 2 if args.think_ms else args.seconds
    stack.which("wrk")
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("needs at least 2 cores (app on core 0, the rest on core 1)")

    started = time.monotonic()
    result: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "seconds_per_run": args.seconds,
        "seconds_per_user_run": args.user_seconds,
        "think_ms": args.think_ms,
        "machine": machine_info(),
        "git": git_info(),
        "load_before": load_average(),
        "backends": {},
    }
    backends = {"both": ["sqlite", "postgresql"], "none": []}.get(args.backend, [args.backend])
    for backend in backends:
        print(f"{backend}: {args.bookings} bookings, users {args.users}")  # noqa: T201
        result["backends"][backend] = bench_backend(backend, args)
    if not args.no_scaling:
        print("scaling (SQLite):")  # noqa: T201
        sizes = [int(n) for n in args.scaling.split(",")]
        result["scaling"] = bench_scaling(sizes, 3 if args.quick else 5)
    result["load_after"] = load_average()
    result["total_seconds"] = round(time.monotonic() - started)
    path = report.write(result, args.output)
    print(f"report: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
