"""calendar feeds (iCalendar tokens, house feed)

Revision ID: 20261126_0009
Revises: 20261126_0008
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261126_0009"
down_revision = "20261126_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_feeds",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("feed_key", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_calendar_feeds_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("feed_key", name=op.f("uq_calendar_feeds_feed_key")),
    )
    op.create_table(
        "house_feed_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("include_pending", sa.Boolean(), nullable=False),
        sa.Column("feed_key", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_house_feed_settings_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_house_feed_settings")),
    )


def downgrade() -> None:
    op.drop_table("house_feed_settings")
    op.drop_table("calendar_feeds")
