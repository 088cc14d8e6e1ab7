"""Contact metrics: hold time, end of wrap-up, CSAT, next contact on interactions; queue-time index

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

Five new nullable or defaulted columns on ``interactions`` (existing rows keep working:
no hold, wrap-up end unknown, no CSAT; ``held_since`` while a call is on hold),
``next_contact_at`` filled in for the existing rows (when the same customer's next contact started: first-contact resolution without a
look-up per row in reports), and an index on ``queued_at`` for the contact reports and
the wallboard, which read contacts by the time they were queued (docs/metrics.md).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("interactions") as batch_op:
        batch_op.add_column(sa.Column("wrap_up_ended_at", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("hold_seconds", sa.Float(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("csat", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("next_contact_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("held_since", sa.Float(), nullable=True))
        batch_op.create_index("ix_interactions_queued_at", ["queued_at"], unique=False)
    # Once, for the rows recorded before: each one's customer's next contact.
    op.execute(
        "UPDATE interactions SET next_contact_at = (SELECT MIN(later.started_at)"
        " FROM interactions AS later WHERE later.customer_id = interactions.customer_id"
        " AND later.started_at > interactions.started_at)"
    )


def downgrade() -> None:
    with op.batch_alter_table("interactions") as batch_op:
        batch_op.drop_index("ix_interactions_queued_at")
        batch_op.drop_column("held_since")
        batch_op.drop_column("next_contact_at")
        batch_op.drop_column("csat")
        batch_op.drop_column("hold_seconds")
        batch_op.drop_column("wrap_up_ended_at")
