"""calendar feeds (iCalendar tokens, house feed)

Revision ID: 20261126_0009
Revises: 20261126_0008
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "20261126_0009"
down_revision = "20261126_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
