"""Web chat: conversations, numbered messages, attachments, canned responses, ratings

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08

``messages`` gains the columns of a conversation's numbered stream (seq, client_id,
origin, notice) with two unique indexes (a seq is used once per interaction; a
sender's client id once per interaction and side); ``interactions`` gains the
customer's rating and comment. New tables: ``chat_conversations``,
``chat_attachments``, ``canned_responses`` and ``outbound_emails`` (mail other channels
ask the email channel to send). Existing rows are untouched (the new columns are NULL).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("interactions") as batch_op:
        batch_op.add_column(sa.Column("rating", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rating_comment", sa.Text(), nullable=True))
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("client_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("origin", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("notice", sa.String(length=32), nullable=True))
        batch_op.create_index("uq_messages_interaction_id_seq", ["interaction_id", "seq"], unique=True)
        batch_op.create_index(
            "uq_messages_interaction_id_origin_client_id",
            ["interaction_id", "origin", "client_id"],
            unique=True,
        )
    op.create_table(
        "chat_conversations",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=64), nullable=False),
        sa.Column("interaction_id", Id, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("visitor_name", sa.String(length=200), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("agent_name", sa.String(length=200), nullable=True),
        sa.Column("last_seq", sa.Integer(), server_default="0", nullable=False),
        sa.Column("visitor_read_seq", sa.Integer(), server_default="0", nullable=False),
        sa.Column("agent_read_seq", sa.Integer(), server_default="0", nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("ended_by", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_chat_conversations_interaction_id_interactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_conversations")),
        sa.UniqueConstraint("contact_id", name=op.f("uq_chat_conversations_contact_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_chat_conversations_token_hash")),
    )
    with op.batch_alter_table("chat_conversations") as batch_op:
        batch_op.create_index(
            "ix_chat_conversations_interaction_id", ["interaction_id"], unique=False
        )
    op.create_table(
        "chat_attachments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("stored_name", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["chat_conversations.id"],
            name=op.f("fk_chat_attachments_conversation_id_chat_conversations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_attachments")),
    )
    with op.batch_alter_table("chat_attachments") as batch_op:
        batch_op.create_index(
            "ix_chat_attachments_conversation_id", ["conversation_id"], unique=False
        )
    op.create_table(
        "canned_responses",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("shortcut", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("updated_by", Id, nullable=True),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["users.id"],
            name=op.f("fk_canned_responses_updated_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_responses")),
    )
    with op.batch_alter_table("canned_responses") as batch_op:
        batch_op.create_index(
            "ix_canned_responses_queue_shortcut", ["queue", "shortcut"], unique=False
        )
    op.create_table(
        "outbound_emails",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("interaction_id", Id, nullable=True),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_outbound_emails_interaction_id_interactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_emails")),
    )
    with op.batch_alter_table("outbound_emails") as batch_op:
        batch_op.create_index(
            "ix_outbound_emails_status_created", ["status", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbound_emails") as batch_op:
        batch_op.drop_index("ix_outbound_emails_status_created")
    op.drop_table("outbound_emails")
    with op.batch_alter_table("canned_responses") as batch_op:
        batch_op.drop_index("ix_canned_responses_queue_shortcut")
    op.drop_table("canned_responses")
    with op.batch_alter_table("chat_attachments") as batch_op:
        batch_op.drop_index("ix_chat_attachments_conversation_id")
    op.drop_table("chat_attachments")
    with op.batch_alter_table("chat_conversations") as batch_op:
        batch_op.drop_index("ix_chat_conversations_interaction_id")
    op.drop_table("chat_conversations")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index("uq_messages_interaction_id_origin_client_id")
        batch_op.drop_index("uq_messages_interaction_id_seq")
        batch_op.drop_column("notice")
        batch_op.drop_column("origin")
        batch_op.drop_column("client_id")
        batch_op.drop_column("seq")
    with op.batch_alter_table("interactions") as batch_op:
        batch_op.drop_column("rating_comment")
        batch_op.drop_column("rating")
