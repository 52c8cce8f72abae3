"""Where ``booking backup`` records its last good run, so monitoring can read it without
touching the database: ``<backup dir>/last-success.json``."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

STATUS_FILE = "last-success.json"


def record_success(backup_dir: Path, archive: Path, sha256: str, size: int) -> None:
    """Write atomically (rename), so a reader never sees half a file."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    status = {
        "finishedAt": datetime.now(UTC).isoformat(),
        "archive": archive.name,
        "sha256": sha256,
        "size": size,
    }
    tmp = backup_dir / f".{STATUS_FILE}.tmp"
    tmp.write_text(json.dumps(status), encoding="utf-8")
    os.replace(tmp, backup_dir / STATUS_FILE)


def last_success(backup_dir: Path) -> datetime | None:
    """Time of the last good backup, or None when there is none (or the file is unreadable)."""
    try:
        status = json.loads((backup_dir / STATUS_FILE).read_text(encoding="utf-8"))
        return datetime.fromisoformat(status["finishedAt"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
