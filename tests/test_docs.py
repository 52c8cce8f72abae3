"""The README is the front door: its commands and configuration table must stay true."""

from __future__ import annotations

import re
from pathlib import Path

from booking.config import Settings, settings_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _between(text: str, start: str, end: str) -> str:
    return text.split(start, 1)[1].split(end, 1)[0]


def test_it_keeps_the_configuration_table_in_sync_with_settings():
    block = _between(README, "-->\n", "<!-- settings-table:end")
    assert block.strip() == settings_table(), "regenerate with: uv run python -c " + (
        "'from booking.config import settings_table; print(settings_table())'"
    )


def test_it_documents_every_setting():
    documented = set(re.findall(r"`BOOKING_([A-Z0-9_]+)`", README))
    for name in Settings.model_fields:
        assert name.upper() in documented


def test_it_names_one_command_to_run_and_one_to_test():
    assert "```sh\nmake run\n```" in README
    assert "```sh\nmake test\n```" in README
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^run: ", makefile, re.M) and re.search(r"^test: ", makefile, re.M)
    assert "booking serve --host 127.0.0.1 --port 8000" in makefile


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, re.M)
    assert "BOOKING_TEST_POSTGRES_URL" in ci


def test_it_lists_every_cli_command():
    from booking.__main__ import parser

    commands = parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    for command in commands:
        assert f"`booking {command}" in README
