"""indexes for large data sets

Drops ix_bookings_start_date. Without statistics (SQLite has none unless someone runs ANALYZE)
the planner picked it for the overlap condition ``start_date < :end`` of availability and
calendar queries, which reads every stay since the first booking, instead of
ix_bookings_end_start with ``end_date > :start``, which reads only the stays that end after the
period starts (the future, whatever the history). Queries with a lower bound on start_date state
the implied ``end_date > :since`` and use ix_bookings_end_start too.

Adds ix_bookings_user_end (user_id, end_date): a member's list of future bookings read all of the
member's stays through ix_bookings_user_id. Measured by bench/harness.py (scaling section).

Revision ID: 20261126_0008
Revises: 20261126_0007
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op

revision = "20261126_0008"
down_revision = "20261126_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_index("ix_bookings_start_date")
        batch_op.create_index("ix_bookings_user_end", ["user_id", "end_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_index("ix_bookings_user_end")
        batch_op.create_index("ix_bookings_start_date", ["start_date"], unique=False)
