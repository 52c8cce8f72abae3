"""The production topology on this machine, for benchmarks: a private PostgreSQL with the shipped
configuration, ``booking serve`` pinned to one core, the shipped nginx configuration (TLS) in
front, all three inside one 512 MiB memory cgroup (cgroup v1, needs root).

The pieces the deployment tests already have are imported from tests/deploy/helpers.py
(rendering nginx, the private PostgreSQL cluster, process trees and PSS); this module adds the
cgroup, the app with its cold-start time, and the memory sampler.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.deploy.helpers import (  # noqa: E402 - needs ROOT on sys.path
    NginxLayout,
    PrivatePostgres,
    free_port,
    in_cgroup,
    memory_cgroup_root,
    private_postgres,
    process_tree,
    pss_mib,
    remove_cgroup,
    render_nginx,
    running_nginx,
    shared_tmp,
)

__all__ = ["PrivatePostgres", "private_postgres", "shared_tmp"]

LIMIT = 512 * 1024 * 1024
APP_CORE = 0
OTHER_CORES = "1"  # nginx, PostgreSQL and the load generator share the other core
SECRET_KEY = "bench-secret-key-0123456789-abcdefghijklmnopqrstuv"  # noqa: S105


# --- memory cgroup ---------------------------------------------------------------------------
class MemoryCgroup:
    """A cgroup v1 memory group under our own; processes join with ``adopt`` (their pages move
    with them: move_charge_at_immigrate) or start inside it with ``wrap``."""

    def __init__(self, limit: int = LIMIT) -> None:
        parent = memory_cgroup_root()
        if parent is None or not os.access(parent, os.W_OK):
            raise RuntimeError("needs root and a cgroup v1 memory controller")
        self.path = parent / f"booking-bench-{os.getpid()}"
        self.path.mkdir()
        (self.path / "memory.limit_in_bytes").write_text(str(limit))
        with contextlib.suppress(OSError):
            (self.path / "memory.move_charge_at_immigrate").write_text("3")
        self.limit = limit

    def wrap(self, command: list[str]) -> list[str]:
        return in_cgroup(self.path, command)

    def adopt(self, pid: int) -> None:
        for member in process_tree(pid):
            with contextlib.suppress(OSError):
                (self.path / "cgroup.procs").write_text(str(member))

    def members(self) -> set[int]:
        return {int(p) for p in (self.path / "cgroup.procs").read_text().split()}

    def stat(self) -> dict[str, int]:
        oom = dict(
            line.split()
            for line in (self.path / "memory.oom_control").read_text().splitlines()
            if line
        )
        return {
            "max_usage": int((self.path / "memory.max_usage_in_bytes").read_text()),
            "usage": int((self.path / "memory.usage_in_bytes").read_text()),
            "failcnt": int((self.path / "memory.failcnt").read_text()),
            "oom_kill": int(oom.get("oom_kill", "0")),
        }

    def remove(self) -> None:
        remove_cgroup(self.path)


@contextmanager
def memory_cgroup() -> Iterator[MemoryCgroup | None]:
    """The cgroup, or None where there is none (the report says so)."""
    try:
        group = MemoryCgroup()
    except (RuntimeError, OSError) as exc:
        print(f"warning: no memory cgroup ({exc}); measuring without the 512 MiB limit")  # noqa: T201
        yield None
        return
    try:
        yield group
    finally:
        group.remove()


def pin(command: list[str], cores: str) -> list[str]:
    return ["taskset", "-c", cores, *command]


def pin_tree(pid: int, cores: str) -> None:
    for member in process_tree(pid):
        subprocess.run(["taskset", "-acp", cores, str(member)], capture_output=True, check=False)


# --- the app -----------------------------------------------------------------------------------
def app_env(database_url: str, data_dir: Path) -> dict[str, str]:
    """Production defaults: only the settings a deployment must give."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOOKING_")}
    env.update(
        BOOKING_DATABASE_URL=database_url,
        BOOKING_DATA_DIR=str(data_dir),
        BOOKING_SECRET_KEY=SECRET_KEY,
        PYTHONUNBUFFERED="1",
        PYTHONOPTIMIZE="2",  # as the image runs it (deploy/Dockerfile)
    )
    return env


@dataclass
class App:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    cold_start_s: float  # from exec to the first answer of GET /health

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def errors(self) -> list[str]:
        text = self.log_path.read_text(errors="replace")
        lines = [line for line in text.splitlines() if "Traceback" in line or "ERROR" in line]
        return list(dict.fromkeys(lines))[:20]


@contextmanager
def running_app(env: dict[str, str], log_path: Path, cgroup: MemoryCgroup | None) -> Iterator[App]:
    port = free_port()
    command = pin(
        [sys.executable, "-m", "booking", "serve", "--host", "127.0.0.1", "--port", str(port)],
        str(APP_CORE),
    )
    if cgroup is not None:
        command = cgroup.wrap(command)
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(timeout=2) as client:
            while True:
                try:
                    if client.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"app did not start:\n{log_path.read_text()}")
                time.sleep(0.02)
        yield App(process, port, log_path, time.perf_counter() - started)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- nginx ---------------------------------------------------------------------------------------
LIMIT_REQ = re.compile(r"^\s*limit_req\s+zone=.*$", re.MULTILINE)


@contextmanager
def running_proxy(
    base: Path, app_port: int, cgroup: MemoryCgroup | None
) -> Iterator[tuple[NginxLayout, subprocess.Popen[bytes]]]:
    """The shipped nginx configuration (deploy/nginx/render.sh), without its per-address rate
    limits: the load generator is one address that stands for many users."""
    layout = render_nginx(base, f"127.0.0.1:{app_port}")
    for conf in layout.conf_dir.rglob("*.conf"):
        conf.write_text(LIMIT_REQ.sub("", conf.read_text()))
    with running_nginx(layout) as process:
        pin_tree(process.pid, OTHER_CORES)
        if cgroup is not None:
            cgroup.adopt(process.pid)
        yield layout, process


# --- memory figures ----------------------------------------------------------------------------
def rss(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of one process, MiB."""
    values: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(value.split()[0]) / 1024
    return values


@dataclass
class Sampler:
    """PSS of each component's process tree every ``interval`` seconds, in a thread."""

    components: dict[str, Callable[[], int]]  # name -> root pid
    interval: float = 0.5
    samples: list[dict[str, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> dict[str, float]:
        values = {name: pss_mib(pid()) for name, pid in self.components.items()}
        values["total"] = sum(values.values())
        return values

    def __enter__(self) -> Sampler:
        self.samples.clear()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(self.sample())

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def peak(self) -> dict[str, float]:
        if not self.samples:
            return self.sample()
        return {key: max(s[key] for s in self.samples) for key in self.samples[0]}


def which(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise SystemExit(f"`{name}` is missing (Debian: apt-get install -y {name})")
    return found
