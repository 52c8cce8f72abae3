"""Helpers for the deployment tests: tools, the rendered nginx configuration, a private
PostgreSQL cluster started with the shipped ``deploy/postgres/postgresql.conf``, and memory
figures (PSS) of a process tree."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent
PG_BIN = Path(os.environ.get("BOOKING_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PG_PASSWORD = "deploy-test-password"  # noqa: S105 (a throw-away cluster on 127.0.0.1)
IS_ROOT = os.geteuid() == 0


def tool(name: str) -> str:
    """The path of a tool from the venv (ops group) or PATH; skip the test when it is missing."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"`{name}` is not installed (see .ci/run)")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def as_user(user: str) -> list[str]:
    """Prefix that runs a command as ``user`` when we are root (nothing otherwise)."""
    return ["runuser", "-u", user, "--"] if IS_ROOT else []


def chown_tree(path: Path, user: str) -> None:
    if IS_ROOT:
        subprocess.run(["chown", "-R", user, str(path)], check=True)


@contextmanager
def shared_tmp(prefix: str = "booking-deploy-") -> Iterator[Path]:
    """A temporary directory that `nobody` and `postgres` can reach (pytest's tmp_path lives
    under a 0700 directory of the current user); removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---- nginx ----------------------------------------------------------------------------------
@dataclass
class NginxLayout:
    prefix: Path  # nginx -p; pid, temp files and logs live here
    conf_dir: Path  # rendered nginx.conf and includes
    tls_dir: Path
    static_root: Path
    http_port: int
    https_port: int

    @property
    def conf(self) -> Path:
        return self.conf_dir / "nginx.conf"

    def command(self, *args: str) -> list[str]:
        return [
            *as_user("nobody"),
            tool("nginx"),
            "-p",
            f"{self.prefix}/",
            "-c",
            str(self.conf),
            *args,
        ]


def render_nginx(base: Path, upstream: str, *, access_log: str | None = None) -> NginxLayout:
    """deploy/nginx/render.sh into ``base`` for 127.0.0.1 on free ports; a self-signed
    certificate made by deploy/scripts/self-signed-cert.sh."""
    layout = NginxLayout(
        prefix=base / "nginx",
        conf_dir=base / "nginx" / "conf",
        tls_dir=base / "nginx" / "tls",
        static_root=base / "static",
        http_port=free_port(),
        https_port=free_port(),
    )
    (layout.prefix / "logs").mkdir(parents=True)
    layout.static_root.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "NGINX_HTTP_LISTEN": f"127.0.0.1:{layout.http_port}",
        "NGINX_HTTPS_LISTEN": f"127.0.0.1:{layout.https_port}",
        "NGINX_REDIRECT_PORT": str(layout.https_port),
        "NGINX_CONF_DIR": str(layout.conf_dir),
        "NGINX_RUN_DIR": str(layout.prefix),
        "NGINX_STATIC_ROOT": str(layout.static_root),
        "NGINX_ACME_ROOT": str(base / "acme"),
        "NGINX_TLS_DIR": str(layout.tls_dir),
        "NGINX_ACCESS_LOG": access_log or str(layout.prefix / "logs" / "access.log"),
        "NGINX_UPSTREAM": upstream,
    }
    subprocess.run(
        ["bash", str(DEPLOY / "nginx" / "render.sh"), str(layout.conf_dir)],
        env=env,
        check=True,
        capture_output=True,
    )
    make_certificate(layout.tls_dir)
    chown_tree(layout.prefix, "nobody")
    chown_tree(layout.static_root, "nobody")
    return layout


def make_certificate(tls_dir: Path) -> subprocess.CompletedProcess[str]:
    tool("openssl")
    return subprocess.run(
        ["bash", str(DEPLOY / "scripts" / "self-signed-cert.sh"), str(tls_dir), "localhost"],
        env={**os.environ, "NGINX_UID": "65534" if IS_ROOT else str(os.getuid())},
        check=True,
        capture_output=True,
        text=True,
    )


@contextmanager
def running_nginx(layout: NginxLayout) -> Iterator[subprocess.Popen[bytes]]:
    log = (layout.prefix / "logs" / "stderr.log").open("wb")
    process = subprocess.Popen(
        layout.command("-g", "daemon off;"), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port(layout.https_port)
        wait_for_port(layout.http_port)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


# ---- PostgreSQL with the shipped configuration ------------------------------------------------
@dataclass
class PrivatePostgres:
    port: int
    data: Path
    pid: int

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:{PG_PASSWORD}@127.0.0.1:{self.port}/{database}"


@contextmanager
def private_postgres(base: Path) -> Iterator[PrivatePostgres]:
    """initdb + pg_ctl (as `postgres` when root) in ``base``, on a free port of 127.0.0.1, with
    deploy/postgres/postgresql.conf and pg_hba.conf (SCRAM passwords only)."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL server binaries not found in {PG_BIN}")
    if IS_ROOT and shutil.which("runuser") is None:
        pytest.skip("runuser is needed to run PostgreSQL as `postgres`")
    base.mkdir(parents=True, exist_ok=True)
    for name in ("postgresql.conf", "pg_hba.conf"):
        shutil.copyfile(DEPLOY / "postgres" / name, base / name)
    (base / "pwfile").write_text(PG_PASSWORD + "\n")
    chown_tree(base, "postgres")
    user = as_user("postgres")
    data = base / "data"
    subprocess.run(
        [
            *user,
            str(PG_BIN / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=scram-sha-256",
            f"--pwfile={base / 'pwfile'}",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    options = (
        f"-c config_file={base / 'postgresql.conf'} -c hba_file={base / 'pg_hba.conf'} "
        f"-c listen_addresses=127.0.0.1 -c unix_socket_directories={base} -p {port}"
    )
    ctl = [*user, str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "postgres.log")]
    result = subprocess.run(
        [*ctl, "-w", "-t", "30", "-o", options, "start"], capture_output=True, text=True
    )
    if result.returncode != 0:
        log = (base / "postgres.log").read_text(errors="replace")
        raise RuntimeError(f"PostgreSQL did not start with the shipped config:\n{log}")
    pid = int((data / "postmaster.pid").read_text().split()[0])
    try:
        yield PrivatePostgres(port=port, data=data, pid=pid)
    finally:
        subprocess.run([*ctl, "-w", "-m", "fast", "stop"], capture_output=True)


# ---- memory -----------------------------------------------------------------------------------
def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc)."""
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
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def pss_mib(pid: int) -> float:
    """Sum of Pss over a process tree, in MiB (PSS: shared pages divided among their users)."""
    total_kib = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kib += int(line.split()[1])
        except OSError:
            continue
    return total_kib / 1024


# ---- memory cgroups (cgroup v1, as root; see the toolbox) --------------------------------------
def memory_cgroup_root() -> Path | None:
    """This process's cgroup v1 memory directory, or None (cgroup v2 hosts, no controller)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            root = Path("/sys/fs/cgroup/memory") / path.lstrip("/")
            return root if (root / "memory.limit_in_bytes").exists() else None
    return None


def remove_cgroup(group: Path) -> None:
    """rmdir once its processes are gone (the kernel refuses while any is left)."""
    for _ in range(50):
        try:
            group.rmdir()
            return
        except OSError:
            time.sleep(0.1)


@contextmanager
def memory_cgroup(name: str, limit_bytes: int) -> Iterator[Path]:
    """A child of this process's memory cgroup with a hard limit; skips the test where cgroup v1
    is missing or not writable. Put a process in with ``in_cgroup``."""
    parent = memory_cgroup_root()
    if parent is None:
        pytest.skip("no cgroup v1 memory controller here")
    if not os.access(parent, os.W_OK):
        pytest.skip(f"cannot create a memory cgroup under {parent} (needs root)")
    group = parent / f"{name}-{os.getpid()}-{time.monotonic_ns() % 1_000_000}"
    group.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(str(limit_bytes))
        yield group
    finally:
        remove_cgroup(group)


def in_cgroup(group: Path, command: list[str]) -> list[str]:
    """``command`` started inside ``group`` (the shell joins it, then execs)."""
    return ["sh", "-c", f'echo $$ > "{group}/cgroup.procs" && exec "$@"', "in-cgroup", *command]
