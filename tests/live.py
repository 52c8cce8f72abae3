"""Start a real server process for tests and benchmarks.

``live_server(database_url, tmp_path)`` migrates the database with ``python -m booking migrate``,
starts ``python -m booking serve`` (or a runner module, e.g. ``tests.live_runner``) on a free port
of 127.0.0.1, waits until ``GET /health`` answers and stops the process on exit::

    with live_server(url, tmp_path) as server:
        httpx.get(server.base_url + "/health", timeout=10)

``fresh_postgres_database(admin_url)`` creates an empty PostgreSQL database for one test and drops
it afterwards (a live server must not share the test session's database).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
SECRET_KEY = "live-test-secret-key-0123456789-abcdefghijklmnop"
START_TIMEOUT = 40.0  # generous: importing the app takes seconds on a loaded 2-CPU machine
STOP_TIMEOUT = 10.0
MIGRATE_TIMEOUT = 120.0
HOST = "127.0.0.1"
# The default way to start the server; a runner replaces these arguments (host and port follow).
SERVE = ("-m", "booking", "serve")


@dataclass
class LiveServer:
    base_url: str
    process: subprocess.Popen[bytes]
    port: int
    database_url: str
    booking_env: dict[str, str]  # the BOOKING_* settings the server runs with
    log_path: Path
    command: list[str] = field(default_factory=list)

    def log(self) -> str:
        """What the server wrote to stdout and stderr so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""


def booking_env(
    database_url: str, data_dir: Path, extra_env: dict[str, str] | None = None
) -> dict[str, str]:
    env = {
        "BOOKING_DATABASE_URL": database_url,
        "BOOKING_SECRET_KEY": SECRET_KEY,
        "BOOKING_DATA_DIR": str(data_dir),
        "BOOKING_LOG_LEVEL": "warning",
    }
    env.update(extra_env or {})
    return env


def _process_env(settings: dict[str, str]) -> dict[str, str]:
    """The caller's environment without its BOOKING_* settings, plus ``settings``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BOOKING_")}
    env.update(settings)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def migrate(database_url: str, data_dir: Path, extra_env: dict[str, str] | None = None) -> None:
    """``python -m booking migrate`` in a subprocess; raise with its output if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "booking", "migrate"],
        cwd=ROOT,
        env=_process_env(booking_env(database_url, data_dir, extra_env)),
        capture_output=True,
        text=True,
        timeout=MIGRATE_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"`booking migrate` failed with exit code {result.returncode}:\n"
            f"{result.stdout}\n{result.stderr}"
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def _wait_until_healthy(server: LiveServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last_error = ""
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            code = server.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"the server exited with code {code} before it answered /health "
                    f"({' '.join(server.command)}):\n{server.log()}"
                )
            try:
                response = client.get(server.base_url + "/health")
                if response.status_code == 200:
                    return
                last_error = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.HTTPError as exc:
                last_error = repr(exc)
            time.sleep(0.05)
    raise RuntimeError(
        f"the server did not answer /health within {timeout:.0f} s (last: {last_error}) "
        f"({' '.join(server.command)}):\n{server.log()}"
    )


def _address_in_use(log: str) -> bool:
    return "address already in use" in log.lower() or "errno 98" in log.lower()


@contextmanager
def live_server(
    database_url: str,
    tmp_path: Path,
    extra_env: dict[str, str] | None = None,
    runner: Sequence[str] | None = None,
    *,
    start_timeout: float = START_TIMEOUT,
    wrap: Callable[[list[str]], list[str]] | None = None,
) -> Iterator[LiveServer]:
    """Migrate ``database_url`` and run a server process on it until the block ends.

    ``runner``: the arguments after ``python`` that start the server instead of
    ``-m booking serve``, e.g. ``["-m", "tests.live_runner", "--unsafe-no-lock"]``; ``--host`` and
    ``--port`` are appended. ``extra_env``: more BOOKING_* settings (they win over the defaults).
    ``wrap``: turns the command into the one to run, e.g. inside a memory cgroup.
    """
    data_dir = tmp_path / "live-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = booking_env(database_url, data_dir, extra_env)
    migrate(database_url, data_dir, extra_env)
    arguments = list(runner) if runner is not None else list(SERVE)
    for attempt in range(3):  # the free port can be taken between probing and binding
        port = free_port()
        log_path = tmp_path / f"live-server-{port}.log"
        command = [sys.executable, *arguments, "--host", HOST, "--port", str(port)]
        if wrap is not None:
            command = wrap(command)
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=_process_env(settings),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        server = LiveServer(
            base_url=f"http://{HOST}:{port}",
            process=process,
            port=port,
            database_url=database_url,
            booking_env=settings,
            log_path=log_path,
            command=command,
        )
        try:
            _wait_until_healthy(server, start_timeout)
        except RuntimeError:
            _stop(process)
            if attempt < 2 and _address_in_use(server.log()):
                continue
            raise
        break
    try:
        yield server
    finally:
        _stop(server.process)


@contextmanager
def fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """Create an empty database on the server of ``admin_url``; drop it (FORCE) afterwards."""
    from sqlalchemy import text

    from booking.db import Database, normalise_url

    name = f"booking_live_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = Database(admin_url)
    try:
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        base = normalise_url(admin_url).rsplit("/", 1)[0]
        try:
            yield f"{base}/{name}"
        finally:
            with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
