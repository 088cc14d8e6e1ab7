"""Agent state changes (daily time-in-state report) and agents' routing set by admins

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

Two new tables, nothing existing changes: ``agent_state_changes`` keeps every
agent.state_changed from now on (earlier days have no report), ``agent_routing`` holds
the queues, skills, routing profile and auto-accept channels an administrator set for
an agent (agents without a row keep their [routing.agents] entry).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "agent_state_changes",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("changed_by", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_state_changes")),
    )
    with op.batch_alter_table("agent_state_changes") as batch_op:
        batch_op.create_index("ix_agent_state_changes_agent_at", ["agent_id", "at"], unique=False)
        batch_op.create_index("ix_agent_state_changes_at", ["at"], unique=False)
    op.create_table(
        "agent_routing",
        sa.Column("user_id", Id, nullable=False),
        sa.Column("queues", sa.JSON(), nullable=True),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=True),
        sa.Column("auto_accept", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("updated_by", Id, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_agent_routing_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name=op.f("fk_agent_routing_updated_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_agent_routing")),
    )


def downgrade() -> None:
    op.drop_table("agent_routing")
    with op.batch_alter_table("agent_state_changes") as batch_op:
        batch_op.drop_index("ix_agent_state_changes_at")
        batch_op.drop_index("ix_agent_state_changes_agent_at")
    op.drop_table("agent_state_changes")
