"""deploy/bluegreen.sh, live: real nginx, real app processes, continuous load during the deploy.

The script's start/stop commands are replaced (BG_START_CMD, BG_STOP_CMD) by a small shell script
that runs ``python -m booking serve`` as a background process instead of a systemd unit; the
health check, the upstream switch, ``nginx -t``, the reload, the drain and the rollback are the
script's own. Both colours share one migrated SQLite database, as both would share PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.stack import BLUEGREEN, LoadGenerator, Nginx, require_tools, start_nginx
from tests.live import ROOT, _process_env, booking_env, free_port, migrate

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bluegreen")]

MAX_LOAD_SECONDS = 30  # the load generator stops by itself after this, whatever happens
PATHS = ["/health/ready", "/health", "/api/openapi.json"]

# start.sh COLOUR PORT VERSION: a "release" per version name.
#   good-*   the real app: python -m booking serve
#   unready  a server on the right port whose /health/ready answers 503 (e.g. no database)
#   crash    exits at once (e.g. a broken release)
START_SH = """\
#!/usr/bin/env bash
set -euo pipefail
colour="$1" port="$2" version="$3"
log="$BG_TEST_DIR/$colour-$version.log"
case "$version" in
    good-*) setsid "$BG_TEST_PYTHON" -m booking serve --host 127.0.0.1 --port "$port" \\
                >"$log" 2>&1 </dev/null & ;;
    unready) setsid "$BG_TEST_PYTHON" -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(503); self.end_headers(); self.wfile.write(b"database unreachable")
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()' "$port" \\
                >"$log" 2>&1 </dev/null & ;;
    crash) setsid "$BG_TEST_PYTHON" -c 'raise SystemExit(3)' >"$log" 2>&1 </dev/null & ;;
    *) echo "unknown version $version" >&2; exit 1 ;;
esac
echo $! >"$BG_TEST_DIR/pid-$colour"
"""

# stop.sh COLOUR: SIGTERM (uvicorn finishes in-flight requests), then wait; SIGKILL after 15 s.
STOP_SH = """\
#!/usr/bin/env bash
set -euo pipefail
pidfile="$BG_TEST_DIR/pid-$1"
[[ -f "$pidfile" ]] || exit 0
pid="$(cat "$pidfile")"
kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; exit 0; }
    sleep 0.1
done
kill -KILL "$pid" 2>/dev/null || true
rm -f "$pidfile"
"""


@dataclass
class Stack:
    dir: Path
    nginx: Nginx
    env: dict[str, str]
    ports: dict[str, int]

    def bluegreen(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(BLUEGREEN), *args],
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def active(self) -> str:
        state = self.dir / "state" / "active"
        return state.read_text().split()[0] if state.exists() else ""

    def serving_port(self) -> int:
        response = httpx.get(self.nginx.base_url + "/health/ready", timeout=5)
        assert response.status_code == 200, response.text
        return int(response.headers["x-upstream"].rsplit(":", 1)[1])


def _kill_pidfiles(directory: Path) -> None:
    for pidfile in directory.glob("pid-*"):
        with contextlib.suppress(OSError, ValueError):
            os.killpg(int(pidfile.read_text()), signal.SIGKILL)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    require_tools("nginx", "curl", "flock", "setsid")
    directory = tmp_path_factory.mktemp("bluegreen")
    data = directory / "data"
    data.mkdir()
    database_url = f"sqlite:///{data / 'booking.sqlite3'}"
    migrate(database_url, data)
    (directory / "start.sh").write_text(START_SH)
    (directory / "stop.sh").write_text(STOP_SH)
    for script in ("start.sh", "stop.sh"):
        (directory / script).chmod(0o755)
    nginx_dir = directory / "nginx"
    nginx_dir.mkdir()
    upstream = nginx_dir / "upstream.conf"
    blue, green = free_port(), free_port()
    while green == blue:
        green = free_port()
    env = _process_env(booking_env(database_url, data))
    env.update(
        {
            "BG_CONFIG": "/nonexistent",
            "BG_TEST_DIR": str(directory),
            "BG_TEST_PYTHON": sys.executable,
            "BG_STATE_DIR": str(directory / "state"),
            "BG_UPSTREAM_FILE": str(upstream),
            "BG_BLUE_PORT": str(blue),
            "BG_GREEN_PORT": str(green),
            "BG_START_CMD": '"$BG_TEST_DIR/start.sh" "$1" "$2" "$3"',
            "BG_STOP_CMD": '"$BG_TEST_DIR/stop.sh" "$1"',
            "BG_INSTALL_CMD": "true",
            "BG_BACKUP_CMD": 'echo "backup before deploying $3" >>"$BG_TEST_DIR/backups.log"',
            "BG_ACTIVATE_CMD": "true",
            "BG_NGINX_TEST_CMD": f'nginx -t -q -p "{nginx_dir}/" -c nginx.conf',
            "BG_NGINX_RELOAD_CMD": f'nginx -p "{nginx_dir}/" -c nginx.conf -s reload',
            "BG_HEALTH_TIMEOUT": "40",
            "BG_DRAIN_SECONDS": "3",
            "BG_MIN_FREE_MEM_MB": "50",
            "BG_MIN_FREE_DISK_MB": "50",
            "BG_DISK_PATHS": str(directory),
            "PYTHONPATH": str(ROOT),
        }
    )
    # Bootstrap like an installed host: blue runs version good-1 and nginx points at it.
    first = subprocess.run(
        ["bash", str(BLUEGREEN), "upstream", "blue"], env=env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    upstream.write_text(first.stdout)
    nginx: Nginx | None = None
    try:
        subprocess.run(
            [str(directory / "start.sh"), "blue", str(blue), "good-1"], env=env, check=True
        )
        nginx = start_nginx(nginx_dir, upstream)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            try:
                if httpx.get(nginx.base_url + "/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("blue (good-1) did not get ready behind nginx")
        yield Stack(dir=directory, nginx=nginx, env=env, ports={"blue": blue, "green": green})
    finally:
        _kill_pidfiles(directory)
        if nginx is not None:
            nginx.stop()


def _deploy_under_load(stack: Stack, version: str, **extra: str):
    load = LoadGenerator(stack.nginx.base_url, PATHS).start(MAX_LOAD_SECONDS)
    try:
        time.sleep(0.5)  # traffic is flowing before the deploy starts
        result = stack.bluegreen("deploy", version, **extra)
        time.sleep(0.5)  # and keeps flowing after it ends
    finally:
        outcome = load.stop()
    return result, outcome


def test_it_switches_blue_to_green_under_load_without_a_failed_request(stack: Stack) -> None:
    assert stack.serving_port() == stack.ports["blue"]

    result, load = _deploy_under_load(stack, "good-2")

    assert result.returncode == 0, result.stderr
    assert "done: good-2 is live as green" in result.stderr
    assert load.failures == [], f"{len(load.failures)} failed requests: {load.failures[:5]}"
    assert load.ok > 100, load  # the load really ran across the deploy
    blue, green = (f"127.0.0.1:{stack.ports[c]}" for c in ("blue", "green"))
    assert load.upstreams[blue] > 0 and load.upstreams[green] > 0, load.upstreams
    assert set(load.last_upstream.values()) == {green}, "green serves after the switch"
    assert stack.serving_port() == stack.ports["green"]
    assert stack.active() == "green"
    assert (stack.dir / "nginx" / "upstream.conf").resolve().name == "upstream-green.conf"
    assert "backup before deploying good-2" in (stack.dir / "backups.log").read_text()
    # the old colour was drained and stopped
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{stack.ports['blue']}/health", timeout=2)


@pytest.mark.parametrize(
    ("version", "why"),
    [("unready", "did not pass its health check"), ("crash", "did not pass its health check")],
)
def test_it_rolls_back_a_version_that_fails_its_health_check(
    stack: Stack, version: str, why: str
) -> None:
    before = stack.active() or "blue"
    before_port = stack.serving_port()
    upstream_before = (stack.dir / "nginx" / "upstream.conf").read_text()

    result, load = _deploy_under_load(stack, version, BG_HEALTH_TIMEOUT="6")

    assert result.returncode == 1, result.stderr
    assert why in result.stderr and "rolled back" in result.stderr, result.stderr
    assert f"{before} keeps serving" in result.stderr
    assert load.failures == [], f"{len(load.failures)} failed requests: {load.failures[:5]}"
    assert load.ok > 50
    assert set(load.upstreams) == {f"127.0.0.1:{before_port}"}, "nginx never left the old colour"
    assert stack.serving_port() == before_port
    assert (stack.dir / "nginx" / "upstream.conf").read_text() == upstream_before
    assert (stack.active() or "blue") == before
    # the failed colour was stopped: nothing answers on its port any more
    idle = "green" if before == "blue" else "blue"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{stack.ports[idle]}/health", timeout=2)


def test_it_reports_status_and_refuses_a_second_concurrent_deploy(stack: Stack) -> None:
    status = stack.bluegreen("status")
    assert status.returncode == 0, status.stderr
    assert f"active: {stack.active() or 'none'}" in status.stdout
    lock = stack.dir / "state" / "lock"
    lock.parent.mkdir(exist_ok=True)
    holder = subprocess.Popen(["flock", str(lock), "sleep", "20"])
    try:
        time.sleep(0.3)
        result = stack.bluegreen("deploy", "good-3")
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1
    assert "another deploy is running" in result.stderr
