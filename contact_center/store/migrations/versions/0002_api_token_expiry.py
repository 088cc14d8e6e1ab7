"""API tokens expire

Revision ID: 0002
Revises: 0001
Create Date: 2027-01-15

Existing tokens never expired. Rather than cut every integration off at the upgrade,
every existing token gets the default lifetime (90 days) counted from the upgrade.
"""

import time
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRACE_SECONDS = 90 * 86_400.0


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.Float(), nullable=True))
    api_tokens = sa.table("api_tokens", sa.column("expires_at", sa.Float()))
    op.execute(api_tokens.update().values(expires_at=time.time() + GRACE_SECONDS))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
