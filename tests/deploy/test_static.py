"""Static checks of the deployment files: Compose (validated by the real Compose v5 binary),
the Dockerfile (hadolint), shell scripts (shellcheck), nginx (`nginx -t` on the rendered
configuration), PostgreSQL (a private cluster started with the shipped configuration), the
memory budget and the hardening every service must have."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helpers import (
    DEPLOY,
    IS_ROOT,
    ROOT,
    chown_tree,
    make_certificate,
    private_postgres,
    render_nginx,
    shared_tmp,
    tool,
)

COMPOSE_PROD = DEPLOY / "compose.prod.yml"
BUDGET_MIB = 380
MIB = 1024 * 1024
# The one-shot jobs: they exit, so they neither restart nor have a health check.
ONE_SHOT = {"backup"}
SECRET_FILES = (
    "postgres_password",
    "database_url",
    "secret_key",
    "smtp_password",
    "postgres_monitor_password",
)


# ---- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def shared_dir() -> Iterator[Path]:
    with shared_tmp() as path:
        yield path


@pytest.fixture(scope="module")
def secrets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The secret files compose.prod.yml refers to, made by deploy/scripts/make-secrets.sh."""
    directory = tmp_path_factory.mktemp("compose") / "secrets"
    subprocess.run(
        ["bash", str(DEPLOY / "scripts" / "make-secrets.sh"), str(directory)],
        check=True,
        capture_output=True,
    )
    return directory


@pytest.fixture(scope="module")
def compose_env(secrets_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BOOKING_")}
    env.update(
        SECRETS_DIR=str(secrets_dir),
        BOOKING_SITE_URL="https://booking.example.org",
        COMPOSE_PROJECT_NAME="booking-test",
    )
    return env


def compose(env: dict[str, str], *files: Path, args: tuple[str, ...]) -> str:
    command = [tool("docker-compose")]
    for file in files:
        command += ["-f", str(file)]
    result = subprocess.run(
        [*command, *args], cwd=DEPLOY, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"{' '.join(command + list(args))}:\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def model(compose_env: dict[str, str]) -> dict[str, Any]:
    """The normalised Compose model with every profile (memory in bytes, secrets expanded)."""
    out = compose(compose_env, COMPOSE_PROD, args=("--profile", "*", "config", "--format", "json"))
    return dict(json.loads(out))


def service_items(model: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return sorted(model["services"].items())


# ---- Compose ------------------------------------------------------------------------------------
def test_it_validates_every_compose_file(compose_env: dict[str, str]) -> None:
    compose(compose_env, COMPOSE_PROD, args=("config", "-q"))
    compose(compose_env, COMPOSE_PROD, args=("--profile", "*", "config", "-q"))
    # Other Compose files in deploy/ are overlays of the production file (e.g. blue-green).
    for overlay in sorted(DEPLOY.glob("compose*.y*ml")):
        if overlay != COMPOSE_PROD:
            compose(compose_env, COMPOSE_PROD, overlay, args=("--profile", "*", "config", "-q"))


def test_it_requires_the_site_url(compose_env: dict[str, str]) -> None:
    """The validation above can fail: without BOOKING_SITE_URL, compose refuses the file."""
    env = {key: value for key, value in compose_env.items() if key != "BOOKING_SITE_URL"}
    result = subprocess.run(
        [tool("docker-compose"), "-f", str(COMPOSE_PROD), "config", "-q"],
        cwd=DEPLOY,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "BOOKING_SITE_URL" in result.stderr


def test_it_keeps_the_memory_limits_within_the_budget(model: dict[str, Any]) -> None:
    total = 0
    figures = []
    for name, service in service_items(model):
        resources = service.get("deploy", {}).get("resources", {})
        limits, reservations = resources.get("limits", {}), resources.get("reservations", {})
        assert "memory" in limits and "cpus" in limits, f"{name}: memory and cpus limits"
        assert "memory" in reservations and "cpus" in reservations, f"{name}: reservations"
        limit, reserved = int(limits["memory"]), int(reservations["memory"])
        assert 0 < reserved <= limit, f"{name}: reservation above the limit"
        assert 0 < float(reservations["cpus"]) <= float(limits["cpus"]) <= 4
        total += limit
        figures.append(f"{name} {limit // MIB}")
    print(f"memory limits (MiB): {', '.join(figures)}; sum {total // MIB} of {BUDGET_MIB}")  # noqa: T201
    assert total <= BUDGET_MIB * MIB, f"limits sum to {total // MIB} MiB"
    always_on = sum(
        int(s["deploy"]["resources"]["limits"]["memory"])
        for s in model["services"].values()
        if not s.get("profiles")
    )
    assert always_on <= 300 * MIB, "the always-on stack should stay far below the budget"


def test_it_hardens_every_service(model: dict[str, Any]) -> None:
    for name, service in service_items(model):
        assert service.get("read_only") is True, f"{name}: read_only"
        assert service.get("cap_drop") == ["ALL"], f"{name}: cap_drop ALL"
        assert not service.get("cap_add"), f"{name}: no capability added back"
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert service.get("privileged") in (None, False), name
        logging = service.get("logging", {})
        assert logging.get("driver") == "json-file", f"{name}: json-file logs"
        assert {"max-size", "max-file"} <= set(logging.get("options", {})), f"{name}: rotation"
        assert service["deploy"]["resources"]["limits"].get("pids"), f"{name}: pids limit"
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition["condition"] == "service_healthy", f"{name} -> {dependency}"
        if name in ONE_SHOT:
            assert service.get("restart") == "no", f"{name}: a job must not restart"
            assert service.get("profiles"), f"{name}: one-shot jobs live in a profile"
            assert service["healthcheck"].get("disable") is True, name
        else:
            assert service.get("restart") == "unless-stopped", f"{name}: restart"
            check = service.get("healthcheck", {})
            assert check.get("test") and not check.get("disable"), f"{name}: healthcheck"
        user = service.get("user")
        if user is not None:
            assert not user.startswith(("0", "root")), f"{name}: runs as root"


def test_it_runs_every_core_service_behind_health_checks(model: dict[str, Any]) -> None:
    services = model["services"]
    assert {"nginx", "app", "db", "backup", "prometheus"} <= set(services)
    assert services["nginx"]["depends_on"]["app"]["condition"] == "service_healthy"
    assert services["app"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "/app/healthcheck.py" in services["app"]["healthcheck"]["test"]
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["backup"]["profiles"] == ["backup"]
    assert services["backup"]["command"] == ["booking", "backup"]
    assert services["backup"]["environment"]["BOOKING_BACKUP_DIR"] == "/backups"


def test_it_keeps_the_database_on_an_internal_network(model: dict[str, Any]) -> None:
    networks = model["networks"]
    db_networks = set(model["services"]["db"]["networks"])
    assert db_networks, "db must be attached to a network"
    for network in db_networks:
        assert networks[network].get("internal") is True, f"db network {network} is internal"
    assert "ports" not in model["services"]["db"], "the database is never published"
    # nginx (the only public service) does not reach the database.
    assert not db_networks & set(model["services"]["nginx"]["networks"])


def test_it_passes_secrets_only_as_files(model: dict[str, Any]) -> None:
    secret_like = re.compile(r"(PASSWORD|SECRET|TOKEN|_KEY|DATABASE_URL)$")
    for name, service in service_items(model):
        for key, value in (service.get("environment") or {}).items():
            if secret_like.search(key):
                raise AssertionError(f"{name}: {key} must be a *_FILE variable ({value!r})")
            if key.endswith("_FILE"):
                targets = {s["target"] for s in service.get("secrets", [])}
                assert value in targets, f"{name}: {key}={value} is not a mounted secret"
    for name, secret in model["secrets"].items():
        assert "file" in secret, f"secret {name} comes from a file"
    text = COMPOSE_PROD.read_text()
    assert "postgresql://" not in text, "no connection URL with credentials in the file"


def test_it_documents_every_variable_in_the_env_example() -> None:
    compose_text = COMPOSE_PROD.read_text() + (DEPLOY / "compose.bluegreen.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", compose_text))
    documented = set(
        re.findall(r"^([A-Z][A-Z0-9_]*)=", (DEPLOY / ".env.example").read_text(), re.M)
    )
    assert used - documented == set(), "documented in deploy/.env.example"
    assert documented - used == set(), "stale entries in deploy/.env.example"
    # Every BOOKING_* variable that .env.example documents is a real setting of the app.
    from booking.config import SECRET_FIELDS, Settings

    settings = {f"BOOKING_{name.upper()}" for name in Settings.model_fields}
    settings |= {f"BOOKING_{name.upper()}_FILE" for name in SECRET_FIELDS}
    assert {v for v in documented if v.startswith("BOOKING_")} <= settings


# ---- secrets and certificate scripts ------------------------------------------------------------
def test_it_makes_private_secrets_and_never_overwrites_them(tmp_path: Path) -> None:
    directory = tmp_path / "secrets"
    script = ["bash", str(DEPLOY / "scripts" / "make-secrets.sh"), str(directory)]
    env = {**os.environ, "POSTGRES_USER": "booking", "POSTGRES_DB": "booking"}
    subprocess.run(script, check=True, capture_output=True, env=env)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    for name in SECRET_FILES:
        mode = stat.S_IMODE((directory / name).stat().st_mode)
        shared = name == "postgres_monitor_password"  # db owns it, the exporter's group reads
        assert mode == ((0o440 if shared else 0o400) if IS_ROOT else 0o600), f"{name}: {oct(mode)}"
    if IS_ROOT:
        assert (directory / "postgres_password").stat().st_uid == 70
        assert (directory / "database_url").stat().st_uid == 1001
        monitor = (directory / "postgres_monitor_password").stat()
        assert (monitor.st_uid, monitor.st_gid) == (70, 65534)
    password = (directory / "postgres_password").read_text()
    assert len(password) >= 40 and re.fullmatch(r"[A-Za-z0-9_-]+", password)
    assert (directory / "database_url").read_text() == (
        f"postgresql://booking:{password}@db:5432/booking"
    )
    key = (directory / "secret_key").read_text()
    assert len(key) >= 64
    from booking.config import load_settings

    load_settings({"BOOKING_ENV": "production", "BOOKING_SECRET_KEY": key})  # strong enough

    before = {name: (directory / name).read_bytes() for name in SECRET_FILES}
    (directory / "secret_key").unlink()  # one missing, the others present: still refuses
    again = subprocess.run(script, capture_output=True, text=True, env=env)
    assert again.returncode == 1 and "refusing" in again.stderr
    assert not (directory / "secret_key").exists()
    for name in SECRET_FILES[:2]:
        assert (directory / name).read_bytes() == before[name]


def test_it_makes_a_self_signed_certificate_once(tmp_path: Path) -> None:
    tls = tmp_path / "tls"
    made = make_certificate(tls)
    assert "localhost" in made.stdout
    text = subprocess.run(
        ["openssl", "x509", "-in", str(tls / "fullchain.pem"), "-noout", "-text"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "DNS:localhost" in text and "IP Address:127.0.0.1" in text
    assert "prime256v1" in text or "P-256" in text
    assert stat.S_IMODE((tls / "privkey.pem").stat().st_mode) == 0o400
    again = subprocess.run(
        ["bash", str(DEPLOY / "scripts" / "self-signed-cert.sh"), str(tls), "localhost"],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 1 and "refusing" in again.stderr


# ---- Dockerfile ---------------------------------------------------------------------------------
def test_it_passes_hadolint() -> None:
    result = subprocess.run(
        [tool("hadolint"), "--no-color", str(DEPLOY / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_builds_a_lean_non_root_runtime_image() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    assert len(stages) == 2, "builder + runtime"
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in text
    runtime = stages[-1]
    assert runtime.startswith("${PYTHON_IMAGE} AS runtime")
    for compiler in ("gcc", "build-essential", "clang", "make ", "-dev "):
        assert compiler not in runtime, f"no {compiler.strip()} in the runtime stage"
    assert "USER 1001:1001" in runtime
    assert "HEALTHCHECK" in runtime and "/app/healthcheck.py" in runtime
    assert "/health/ready" in (DEPLOY / "healthcheck.py").read_text()
    assert 'ENTRYPOINT ["/app/entrypoint.sh"]' in runtime
    for setting in (
        "PYTHONDONTWRITEBYTECODE=1",
        "PYTHONUNBUFFERED=1",
        "PYTHONOPTIMIZE=2",
        "MALLOC_ARENA_MAX=2",
    ):
        assert setting in runtime
    # No architecture-specific steps: buildx builds linux/amd64 and linux/arm64 from this file.
    instructions = "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")
    )
    for arch in ("amd64", "arm64", "x86_64", "aarch64", "TARGETARCH", "--platform"):
        assert arch not in instructions, arch
    ignored = (ROOT / ".dockerignore").read_text()
    assert ignored.splitlines()[3] == "*" or "\n*\n" in ignored, "deny by default"


def test_it_migrates_then_execs_the_server(tmp_path: Path) -> None:
    """deploy/entrypoint.sh with a stand-in `booking` that records its calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    fake = bin_dir / "booking"
    fake.write_text(f'#!/usr/bin/env bash\necho "$$ $*" >> {calls}\n')
    fake.chmod(0o755)
    static = tmp_path / "static"
    static.mkdir()
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "FORWARDED_ALLOW_IPS": "172.30.80.10",
        "STATIC_EXPORT_DIR": str(static),
    }
    result = subprocess.run(
        ["bash", str(DEPLOY / "entrypoint.sh")], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    lines = calls.read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "migrate",
        "serve --host 0.0.0.0 --port 8000 --forwarded-allow-ips 172.30.80.10",
    ]
    web_static = ROOT / "booking" / "web" / "static"
    if web_static.is_dir():
        shipped = {p.relative_to(web_static) for p in web_static.rglob("*") if p.is_file()}
        exported = {p.relative_to(static) for p in static.rglob("*") if p.is_file()}
        assert shipped <= exported
    # With a command, it runs that instead (a backup does not migrate or serve).
    calls.unlink()
    subprocess.run(
        ["bash", str(DEPLOY / "entrypoint.sh"), "booking", "backup"], env=env, check=True
    )
    assert [line.split(" ", 1)[1] for line in calls.read_text().splitlines()] == ["backup"]
    # Without the proxy address it refuses to start (it would trust nobody's or everybody's).
    del env["FORWARDED_ALLOW_IPS"]
    calls.unlink()
    refused = subprocess.run(
        ["bash", str(DEPLOY / "entrypoint.sh")], env=env, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "FORWARDED_ALLOW_IPS" in refused.stderr


# ---- shell scripts ------------------------------------------------------------------------------
def test_it_passes_shellcheck_on_every_script() -> None:
    scripts = sorted(DEPLOY.rglob("*.sh"))
    assert scripts
    for script in scripts:
        assert script.read_text().startswith("#!/usr/bin/env bash\n"), script
        assert "set -euo pipefail" in script.read_text(), script
    result = subprocess.run(
        [tool("shellcheck"), "-f", "gcc", *map(str, scripts)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---- nginx --------------------------------------------------------------------------------------
def test_it_accepts_the_rendered_nginx_configuration(shared_dir: Path) -> None:
    layout = render_nginx(shared_dir, "127.0.0.1:9")
    result = subprocess.run(layout.command("-t"), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_it_rejects_a_broken_nginx_configuration(shared_dir: Path) -> None:
    """The check above can fail: a typo in an include is caught."""
    layout = render_nginx(shared_dir, "127.0.0.1:9")
    proxy = layout.conf_dir / "proxy.conf"
    proxy.write_text(proxy.read_text().replace("proxy_read_timeout", "proxy_read_timout"))
    chown_tree(layout.prefix, "nobody")
    result = subprocess.run(layout.command("-t"), capture_output=True, text=True)
    assert result.returncode != 0
    assert "proxy_read_timout" in result.stderr


def test_it_renders_the_compose_values_unchanged(tmp_path: Path) -> None:
    """render.sh only replaces addresses and paths; with no settings it is the identity."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NGINX_")}
    subprocess.run(
        ["bash", str(DEPLOY / "nginx" / "render.sh"), str(tmp_path)], env=env, check=True
    )
    for source in sorted((DEPLOY / "nginx").glob("*.conf")):
        assert (tmp_path / source.name).read_text() == source.read_text(), source.name


def test_it_defines_the_upstream_only_in_upstream_conf() -> None:
    """deploy/bluegreen.sh swaps upstream.conf; nothing else may define `booking_app`."""
    nginx_dir = DEPLOY / "nginx"
    assert re.search(
        r"upstream booking_app \{\s*server app:8000;\s*keepalive 8;\s*\}",
        (nginx_dir / "upstream.conf").read_text(),
    )
    for conf in nginx_dir.glob("*.conf"):
        if conf.name != "upstream.conf":
            assert "upstream booking_app" not in conf.read_text(), conf.name
    main = (nginx_dir / "nginx.conf").read_text()
    assert "include /etc/nginx/booking/upstream.conf;" in main
    assert main.count("proxy_pass http://booking_app;") >= 4


def test_it_sets_the_required_nginx_policies() -> None:
    main = (DEPLOY / "nginx" / "nginx.conf").read_text()
    headers = (DEPLOY / "nginx" / "security-headers.conf").read_text()
    for directive in (
        "server_tokens off;",
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "client_max_body_size 256k;",
        "limit_req_status 429;",
        "gzip on;",
        "expires 365d;",
        'add_header Cache-Control "public, immutable" always;',
        "return 301 https://$host$request_uri;",
        "location = /health {",
        "worker_processes 1;",
    ):
        assert directive in main, directive
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'; "
        "object-src 'none'"
    )
    assert f'default "{csp}";' in main
    for header in (
        "Strict-Transport-Security",
        "Content-Security-Policy",
        "X-Content-Type-Options",
        "Referrer-Policy",
        "Permissions-Policy",
    ):
        assert f"add_header {header} " in headers, header
    # The app's own limit is the same 256 KiB.
    from booking.app import MAX_BODY_BYTES

    assert MAX_BODY_BYTES == 256 * 1024


# ---- PostgreSQL ---------------------------------------------------------------------------------
def test_it_starts_postgresql_with_the_shipped_configuration(shared_dir: Path) -> None:
    import psycopg

    expected = {
        "shared_buffers": "32MB",
        "work_mem": "2MB",
        "maintenance_work_mem": "16MB",
        "max_connections": "25",
        "password_encryption": "scram-sha-256",
        "log_min_duration_statement": "250ms",
        "max_wal_size": "128MB",
        "autovacuum_max_workers": "1",
        "jit": "off",
        "max_parallel_workers_per_gather": "0",
    }
    with private_postgres(shared_dir / "pg") as server:
        with psycopg.connect(server.url(), connect_timeout=10) as conn:
            for name, value in expected.items():
                shown = conn.execute(f"SHOW {name}").fetchone()  # noqa: S608 (fixed names)
                assert shown is not None and shown[0] == value, (name, shown)
            config_file = conn.execute("SHOW config_file").fetchone()
            assert config_file and config_file[0].endswith("pg/postgresql.conf")
            errors = conn.execute(
                "SELECT name, error FROM pg_file_settings WHERE error IS NOT NULL"
            ).fetchall()
            assert errors == []
            rules = conn.execute(
                "SELECT DISTINCT auth_method, error FROM pg_hba_file_rules"
            ).fetchall()
            assert rules == [("scram-sha-256", None)]
            # Budget arithmetic: shared memory + per-backend work memory stays below 128 MB.
            buffers = conn.execute(
                "SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'"
            ).fetchone()
            assert buffers and buffers[0] <= 48 * MIB
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(
                server.url().replace("deploy-test-password", "wrong"), connect_timeout=10
            ).close()


def test_it_runs_postgresql_as_an_unprivileged_user_in_compose(model: dict[str, Any]) -> None:
    db = model["services"]["db"]
    assert db["user"] == "70:70"
    command = " ".join(db["command"])
    assert "config_file=/etc/postgresql/postgresql.conf" in command
    assert "hba_file=/etc/postgresql/pg_hba.conf" in command
    assert db["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    mounted = {v["target"]: v["source"] for v in db["volumes"]}
    assert Path(mounted["/etc/postgresql/postgresql.conf"]) == DEPLOY / "postgres/postgresql.conf"
