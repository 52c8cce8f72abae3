"""uvloop against asyncio's own loop for `booking serve`: RSS and wrk figures on one core.

    uv run --frozen --with uvloop==0.23.0 python bench/event_loop.py

The app runs on SQLite with a fresh schema, pinned to core 0 (wrk on core 1), with the loop
forced through uvicorn's ``loop`` option; each loop is started twice, alternately. Printed per
run: RSS after 12 s of quiet, then req/s and p99 of wrk (10 connections, 8 s, no pauses) on
``/health/ready`` (a database round trip) and ``/login`` (a rendered page).
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import stack  # noqa: E402

LAUNCH = """
import sys, uvicorn
port, loop = sys.argv[1], sys.argv[2]
real = uvicorn.run
uvicorn.run = lambda app, **kw: real(app, **{**kw, "loop": loop})
sys.argv = ["booking", "serve", "--host", "127.0.0.1", "--port", port]
from booking.__main__ import main
sys.exit(main())
"""


def wrk(url: str) -> str:
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", "-c10", "-d8s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99%\s+([\d.]+\w+)", out)
    return f"{rate.group(1) if rate else '?'} req/s, p99 {p99.group(1) if p99 else '?'}"


def run(loop: str, base: Path) -> None:
    env = stack.app_env(f"sqlite:///{base / f'{loop}.db'}", base)
    subprocess.run(
        [sys.executable, "-m", "booking", "migrate"], env=env, check=True, capture_output=True
    )
    port = stack.free_port()
    command = ["taskset", "-c", "0", sys.executable, "-c", LAUNCH, str(port), loop]
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{url}/health/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        if server.poll() is not None:
            raise SystemExit(f"booking serve with loop={loop} did not start")
        time.sleep(12)
        idle = stack.rss(server.pid)["VmRSS"]
        print(f"{loop:8} idle RSS {idle:.1f} MiB", flush=True)  # noqa: T201
        for path in ("/health/ready", "/login"):
            wrk(url + path)  # warm-up
            print(f"{loop:8} {path:14} {wrk(url + path)}", flush=True)  # noqa: T201
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for loop in ("asyncio", "uvloop", "asyncio", "uvloop"):
            run(loop, Path(tmp))


if __name__ == "__main__":
    main()
