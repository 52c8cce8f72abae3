"""house rules, closed periods, fair-use quota

Revision ID: 20261126_0007
Revises: 20261126_0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261126_0007"
down_revision = "20261126_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "house_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("booking_window_months", sa.Integer(), nullable=False),
        sa.Column("minimum_notice_days", sa.Integer(), nullable=False),
        sa.Column("min_nights", sa.Integer(), nullable=False),
        sa.Column("max_nights", sa.Integer(), nullable=False),
        sa.Column("yearly_quota_nights", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("changed_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_house_rules_single_row")),
        sa.CheckConstraint(
            "min_nights >= 1 AND max_nights >= min_nights", name=op.f("ck_house_rules_nights")
        ),
        sa.ForeignKeyConstraint(
            ["changed_by_id"],
            ["users.id"],
            name=op.f("fk_house_rules_changed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_house_rules")),
    )
    op.create_table(
        "closed_periods",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("first_night", sa.Date(), nullable=False),
        sa.Column("last_night", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("last_night >= first_night", name=op.f("ck_closed_periods_nights")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_closed_periods_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_closed_periods")),
    )
    with op.batch_alter_table("closed_periods", schema=None) as batch_op:
        batch_op.create_index(
            "ix_closed_periods_last_first", ["last_night", "first_night"], unique=False
        )
    op.create_table(
        "quota_exceptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("extra_nights", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "extra_nights BETWEEN 1 AND 366", name=op.f("ck_quota_exceptions_extra_nights")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_quota_exceptions_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_quota_exceptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota_exceptions")),
    )
    with op.batch_alter_table("quota_exceptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quota_exceptions_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quota_exceptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quota_exceptions_user_id"))
    op.drop_table("quota_exceptions")
    with op.batch_alter_table("closed_periods", schema=None) as batch_op:
        batch_op.drop_index("ix_closed_periods_last_first")
    op.drop_table("closed_periods")
    op.drop_table("house_rules")
