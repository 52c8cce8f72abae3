"""What each layer of `booking serve` adds to RSS when imported, in fresh processes.

    uv run --frozen python bench/import_costs.py

Each row imports the previous row's modules plus its own, in a new interpreter with
PYTHONOPTIMIZE=2 (as production runs), then trims the heap (as the app does) and reads VmRSS.
The last rows add libraries the app no longer loads, for comparison; they are skipped when not
installed (pydantic and prometheus-client are dev dependencies; for FastAPI run
`uv run --frozen --with fastapi==0.165.0 python bench/import_costs.py`).
"""

from __future__ import annotations

import os
import subprocess
import sys

LAYERS = [
    ("Python", []),
    ("asyncio (ssl, concurrent.futures)", ["asyncio"]),
    ("uvicorn + httptools", ["uvicorn", "uvicorn.protocols.http.httptools_impl"]),
    ("Starlette", ["starlette.applications", "starlette.routing", "starlette.responses"]),
    ("SQLAlchemy Core + SQLite dialect", ["sqlalchemy", "sqlalchemy.dialects.sqlite"]),
    ("SQLAlchemy ORM", ["sqlalchemy.orm"]),
    ("Jinja2", ["jinja2"]),
    ("booking.app (all of the app's modules)", ["booking.app"]),
    ("+ PostgreSQL dialect and psycopg", ["sqlalchemy.dialects.postgresql.psycopg", "psycopg"]),
]
FORMER = [
    ("+ FastAPI (before 2026-11-27)", ["fastapi"]),
    ("+ pydantic (before 2026-11-27)", ["pydantic"]),
    ("+ prometheus_client (before 2026-11-27)", ["prometheus_client"]),
]
PROBE = """
import ctypes, importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
ctypes.CDLL("libc.so.6").malloc_trim(0)
status = open("/proc/self/status").read()
print(int(status.split("VmRSS:")[1].split()[0]) / 1024)
"""


def rss_after(modules: list[str]) -> float | None:
    env = {**os.environ, "PYTHONOPTIMIZE": "2"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *modules], env=env, capture_output=True, text=True
    )
    return float(done.stdout) if done.returncode == 0 else None


def main() -> None:
    print("| layer | RSS MiB | added MiB |\n|---|---:|---:|")  # noqa: T201
    modules: list[str] = []
    previous = None
    for name, layer in LAYERS:
        modules += layer
        rss = rss_after(modules)
        assert rss is not None, f"{name}: import failed"
        added = "" if previous is None else f"{rss - previous:+.1f}"
        print(f"| {name} | {rss:.1f} | {added} |")  # noqa: T201
        previous = rss
    app_only = modules[: -len(LAYERS[-1][1])]
    base = rss_after(app_only)
    assert base is not None
    for name, layer in FORMER:
        rss = rss_after(app_only + layer)
        if rss is not None:
            print(f"| {name} (on booking.app) | {rss:.1f} | {rss - base:+.1f} |")  # noqa: T201


if __name__ == "__main__":
    main()
