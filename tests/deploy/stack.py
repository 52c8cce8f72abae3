"""Helpers for the live deployment tests: a private nginx, a load generator, PSS sampling.

The nginx configuration here is deliberately minimal and self-contained (all paths relative to a
prefix in the test's tmp dir); it ``include``s the upstream file that ``deploy/bluegreen.sh``
writes, which is the interface under test. The production nginx configuration has its own tests.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.live import free_port

ROOT = Path(__file__).resolve().parents[2]
BLUEGREEN = ROOT / "deploy" / "bluegreen.sh"


def require_tools(*names: str) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian packages; .ci/run installs them)")


NGINX_CONF = """\
daemon off;
worker_processes 1;
{user}
pid nginx.pid;
error_log logs/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log logs/access.log;
    client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
    include {upstream};
    server {{
        listen 127.0.0.1:{port};
        server_tokens off;
        location / {{
            proxy_pass http://booking_app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


@dataclass
class Nginx:
    prefix: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, *args: str) -> list[str]:
        return ["nginx", "-p", f"{self.prefix}/", "-c", "nginx.conf", *args]

    def log(self) -> str:
        path = self.prefix / "logs" / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            subprocess.run(self.command("-s", "quit"), capture_output=True, check=False)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_nginx(prefix: Path, upstream_file: Path) -> Nginx:
    """nginx in the foreground on a free port, proxying to the ``booking_app`` upstream."""
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    # As root, nginx would switch its workers to `nobody`, who cannot enter pytest's 0700 tmp dirs.
    user = "user root;" if os.geteuid() == 0 else ""
    for _attempt in range(3):
        port = free_port()
        (prefix / "nginx.conf").write_text(
            NGINX_CONF.format(user=user, upstream=upstream_file, port=port)
        )
        check = subprocess.run(
            ["nginx", "-t", "-q", "-p", f"{prefix}/", "-c", "nginx.conf"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stderr
        process = subprocess.Popen(
            ["nginx", "-p", f"{prefix}/", "-c", "nginx.conf"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        nginx = Nginx(prefix=prefix, port=port, process=process)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            if (prefix / "nginx.pid").exists():
                try:
                    httpx.get(nginx.base_url + "/", timeout=1)
                    return nginx
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        nginx.stop()
        if "Address already in use" not in nginx.log():
            raise RuntimeError(f"nginx did not start:\n{nginx.log()}")
    raise RuntimeError("nginx found no free port")


@dataclass
class LoadResult:
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    upstreams: Counter[str] = field(default_factory=Counter)
    last_upstream: dict[int, str] = field(default_factory=dict)  # per thread
    statuses: Counter[int] = field(default_factory=Counter)


class LoadGenerator:
    """Threads that send GET requests through nginx until stopped (or ``max_seconds``).

    Every response that is not 200, and every transport error, counts as a failed request.
    Each thread keeps its keep-alive connection, like a browser would.
    """

    def __init__(
        self, base_url: str, paths: list[str], threads: int = 3, pause: float = 0.01
    ) -> None:
        self.base_url = base_url
        self.paths = paths
        self.threads = threads
        self.pause = pause
        self.result = LoadResult()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers: list[threading.Thread] = []

    def _run(self, index: int, deadline: float) -> None:
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            n = 0
            while not self._stop.is_set() and time.monotonic() < deadline:
                path = self.paths[n % len(self.paths)]
                n += 1
                try:
                    response = client.get(path)
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.result.failures.append(f"{path}: {exc!r}")
                    continue
                upstream = response.headers.get("x-upstream", "")
                with self._lock:
                    self.result.statuses[response.status_code] += 1
                    if response.status_code == 200:
                        self.result.ok += 1
                        self.result.upstreams[upstream] += 1
                        self.result.last_upstream[index] = upstream
                    else:
                        self.result.failures.append(
                            f"{path}: HTTP {response.status_code} via {upstream}: {response.text[:200]}"
                        )
                time.sleep(self.pause)

    def start(self, max_seconds: float) -> LoadGenerator:
        deadline = time.monotonic() + max_seconds
        for index in range(self.threads):
            worker = threading.Thread(target=self._run, args=(index, deadline), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> LoadResult:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)
        return self.result


def pss_kib(pid: int) -> int:
    """Proportional set size of one process in KiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return 0
    return 0


def descendants(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    result, todo = [], [pid]
    while todo:
        current = todo.pop()
        result.append(current)
        todo.extend(children.get(current, []))
    return result
