"""email change, session hardening

Revision ID: 20261126_0006
Revises: 20261126_0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261126_0006"
down_revision = "20261126_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Session hardening needs no schema change: web_sessions.created_at already records the
    # login that the absolute timeout counts from.
    op.create_table(
        "email_change_requests",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("new_email", sa.String(length=256), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_email_change_requests_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_email_change_requests")),
    )
    with op.batch_alter_table("email_change_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_email_change_requests_user_id"), ["user_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("email_change_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_change_requests_user_id"))
    op.drop_table("email_change_requests")
