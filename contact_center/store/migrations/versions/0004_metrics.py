"""Contact metrics: hold time, end of wrap-up and CSAT on interactions; index by queue time

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

Three new nullable or defaulted columns on ``interactions`` (existing rows keep working:
no hold, wrap-up end unknown, no CSAT) and an index on ``queued_at`` for the contact
reports and the wallboard, which read contacts by the time they were queued
(docs/metrics.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interactions") as batch_op:
        batch_op.add_column(sa.Column("wrap_up_ended_at", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("hold_seconds", sa.Float(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("csat", sa.SmallInteger(), nullable=True))
        batch_op.create_index("ix_interactions_queued_at", ["queued_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("interactions") as batch_op:
        batch_op.drop_index("ix_interactions_queued_at")
        batch_op.drop_column("csat")
        batch_op.drop_column("hold_seconds")
        batch_op.drop_column("wrap_up_ended_at")
