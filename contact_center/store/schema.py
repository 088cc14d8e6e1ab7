"""Table definitions (SQLAlchemy Core). Alembic migrations are written to match these."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

# BIGINT on PostgreSQL, INTEGER on SQLite (so it stays the rowid alias and autoincrements).
Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# Money is stored as integer cents (exact on both databases).
# Times are stored as Unix seconds (float): one representation on both databases,
# cheap to compare, and the domain passes time in as floats anyway.

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=False),
    Column("extension", String(32), nullable=True, unique=True),
    Column("language", String(16), nullable=False, server_default="en"),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
    Column("password_changed_at", Float, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    # SHA-256 of the token: a database leak does not leak usable tokens.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
    # Set at issue (security.token_days); nullable only for rows older than the column.
    Column("expires_at", Float, nullable=True),
)

customers = Table(
    "customers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("display_name", String(200), nullable=False),
    # Lower-cased, accent-folded display name for prefix search.
    Column("search_name", String(200), nullable=False),
    Column("language", String(16), nullable=True),
    Column("timezone", String(64), nullable=True),
    Column("tier", String(40), nullable=False),
    Column("previous_tier", String(40), nullable=True),
    Column("churn_risk", Boolean, nullable=False, server_default="0"),
    Column("lifecycle_stage", String(16), nullable=False),
    Column("owner_agent_id", Id, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("tags", JSON, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("consent", JSON, nullable=False),
    # Created from an unknown identity; an agent may later complete, link or merge it.
    Column("provisional", Boolean, nullable=False, server_default="0"),
    Column("merged_into_id", Id, ForeignKey("customers.id"), nullable=True),
    Column("erased_at", Float, nullable=True),
    # Value figures, maintained incrementally from customer_value_months.
    Column("spend_window_cents", Id, nullable=False, server_default="0"),
    Column("margin_window_cents", Id, nullable=False, server_default="0"),
    Column("orders_window", Integer, nullable=False, server_default="0"),
    Column("lifetime_spend_cents", Id, nullable=False, server_default="0"),
    Column("lifetime_orders", Integer, nullable=False, server_default="0"),
    Column("last_order_at", Float, nullable=True),
    Column("last_contact_at", Float, nullable=True),
    Column("repeat_contact", Boolean, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index(
        "ix_customers_search_name",
        "search_name",
        postgresql_ops={"search_name": "varchar_pattern_ops"},
    ),
    Index("ix_customers_owner_agent_id", "owner_agent_id"),
)

identities = Table(
    "identities",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("value", String(320), nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("kind", "value"),
    Index("ix_identities_customer_id", "customer_id"),
)

interactions = Table(
    "interactions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    # The router's contact id (one interaction per contact).
    Column("contact_id", String(64), nullable=True, unique=True),
    Column("channel", String(16), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("queue", String(64), nullable=True),
    Column("agent_id", Id, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("started_at", Float, nullable=False),
    Column("queued_at", Float, nullable=True),
    Column("offered_at", Float, nullable=True),
    Column("answered_at", Float, nullable=True),
    Column("ended_at", Float, nullable=True),
    Column("disposition", String(64), nullable=True),
    Column("resolved", Boolean, nullable=False, server_default="0"),
    Column("repeat_contact", Boolean, nullable=False, server_default="0"),
    Column("subject", String(300), nullable=True),
    Column("notes", Text, nullable=True),
    Column("summary", Text, nullable=True),
    # e.g. {"asterisk_linkedid": "1700000000.12", "email_message_id": "<...>"}
    Column("external_ids", JSON, nullable=False),
    Column("external_ref", String(255), nullable=True),
    # The customer's satisfaction rating (1-5) and comment, e.g. at the end of a chat.
    Column("rating", Integer, nullable=True),
    Column("rating_comment", Text, nullable=True),
    Index("ix_interactions_customer_started", "customer_id", "started_at"),
    Index("ix_interactions_external_ref", "external_ref"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("interaction_id", Id, ForeignKey("interactions.id"), nullable=False),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("sender", String(320), nullable=True),
    Column("subject", String(300), nullable=True),
    Column("body", Text, nullable=False),
    Column("attachments", JSON, nullable=False),
    Column("external_id", String(255), nullable=True),
    Column("created_at", Float, nullable=False),
    # Conversation messages (chat): their number in the conversation's stream, the
    # sender's own id for the message (a retried send is stored once), who wrote it
    # (visitor, agent, system) and, for system notices, which one.
    Column("seq", Integer, nullable=True),
    Column("client_id", String(64), nullable=True),
    Column("origin", String(16), nullable=True),
    Column("notice", String(32), nullable=True),
    Index("ix_messages_interaction_created", "interaction_id", "created_at"),
    Index("uq_messages_interaction_id_seq", "interaction_id", "seq", unique=True),
    Index(
        "uq_messages_interaction_id_origin_client_id",
        "interaction_id",
        "origin",
        "client_id",
        unique=True,
    ),
    Index("ix_messages_customer_id", "customer_id"),
    Index("ix_messages_external_id", "external_id"),
)

notes = Table(
    "notes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("interaction_id", Id, ForeignKey("interactions.id"), nullable=True),
    Column("author_id", Id, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("body", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_notes_customer_created", "customer_id", "created_at"),
    Index("ix_notes_interaction_id", "interaction_id"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("source", String(64), nullable=False),
    Column("external_id", String(128), nullable=False),
    Column("amount_cents", Id, nullable=False),
    Column("margin_cents", Id, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("items", JSON, nullable=False),
    Column("status", String(32), nullable=False),
    Column("ordered_at", Float, nullable=False),
    UniqueConstraint("source", "external_id"),
    Index("ix_orders_customer_ordered", "customer_id", "ordered_at"),
)

# Per-customer monthly order totals: value figures are recomputed from a customer's
# few buckets when an order arrives, never by scanning all orders.
customer_value_months = Table(
    "customer_value_months",
    metadata,
    Column("customer_id", Id, ForeignKey("customers.id"), primary_key=True),
    Column("month", Integer, primary_key=True),  # months since year 0: year * 12 + month - 1
    Column("spend_cents", Id, nullable=False),
    Column("margin_cents", Id, nullable=False),
    Column("orders", Integer, nullable=False),
)

merges = Table(
    "merges",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("survivor_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("merged_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("merged_by", Id, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("reason", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    # Ids of every row moved, per table, and the survivor's fields before the merge:
    # what unmerge needs to put everything back.
    Column("moved", JSON, nullable=False),
    Column("survivor_before", JSON, nullable=False),
    Column("undone_at", Float, nullable=True),
    Column("undone_by", Id, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Index("ix_merges_survivor_id", "survivor_id"),
    Index("ix_merges_merged_id", "merged_id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("actor_id", Id, nullable=True),
    Column("actor", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("customer_id", Id, nullable=True),
    Column("contact_id", String(64), nullable=True),
    Column("details", JSON, nullable=False),
    Index("ix_audit_events_customer_at", "customer_id", "at"),
    Index("ix_audit_events_actor_at", "actor_id", "at"),
    Index("ix_audit_events_at", "at"),
)

# Contacts waiting in a router queue, so a restarted single node recovers them.
waiting_contacts = Table(
    "waiting_contacts",
    metadata,
    Column("contact_id", String(64), primary_key=True),
    Column("data", JSON, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# Every change of an agent's state in the router (agent.state_changed), for the daily
# time-in-state report. Ids only (the router's agent id, the user id as text): nothing
# here is a customer's personal data.
agent_state_changes = Table(
    "agent_state_changes",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("agent_id", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("state", String(16), nullable=False),
    Column("reason", String(64), nullable=True),
    # "agent", "supervisor" or "system"
    Column("changed_by", String(16), nullable=False),
    Index("ix_agent_state_changes_agent_at", "agent_id", "at"),
    Index("ix_agent_state_changes_at", "at"),
)

# An agent's routing definition set by an administrator (API): it replaces the
# [routing.agents.<username>] entry and survives restarts. NULL queues: every queue;
# NULL auto_accept: the [routing] auto_accept default.
agent_routing = Table(
    "agent_routing",
    metadata,
    Column("user_id", Id, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("queues", JSON, nullable=True),
    Column("skills", JSON, nullable=False),
    Column("profile", String(64), nullable=True),
    Column("auto_accept", JSON, nullable=True),
    Column("updated_at", Float, nullable=False),
    Column("updated_by", Id, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
)


# -- web chat (chat/) ------------------------------------------------------------------

# One visitor's conversation: its router contact and interaction, the hash of the
# visitor's token (the token itself is never stored), its numbered stream's last seq
# and how far each side has read.
chat_conversations = Table(
    "chat_conversations",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("site", String(64), nullable=False),
    Column("queue", String(64), nullable=False),
    Column("contact_id", String(64), nullable=False, unique=True),
    Column("interaction_id", Id, ForeignKey("interactions.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    # queued | offered | active | ended
    Column("status", String(16), nullable=False),
    Column("visitor_name", String(200), nullable=False),
    Column("agent_id", String(64), nullable=True),
    Column("agent_name", String(200), nullable=True),
    Column("last_seq", Integer, nullable=False, server_default="0"),
    Column("visitor_read_seq", Integer, nullable=False, server_default="0"),
    Column("agent_read_seq", Integer, nullable=False, server_default="0"),
    Column("language", String(16), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("ended_at", Float, nullable=True),
    # visitor | agent | system
    Column("ended_by", String(16), nullable=True),
    Index("ix_chat_conversations_interaction_id", "interaction_id"),
)

# Files sent in a chat: kept under a random name outside any served directory.
chat_attachments = Table(
    "chat_attachments",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("conversation_id", String(40), ForeignKey("chat_conversations.id"), nullable=False),
    Column("stored_name", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    # visitor | agent
    Column("uploaded_by", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_chat_attachments_conversation_id", "conversation_id"),
)

# Canned responses per queue (NULL: every queue), with placeholders.
canned_responses = Table(
    "canned_responses",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("queue", String(64), nullable=True),
    Column("shortcut", String(32), nullable=False),
    Column("title", String(100), nullable=False),
    Column("text", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("updated_by", Id, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Index("ix_canned_responses_queue_shortcut", "queue", "shortcut"),
)

# Mail other channels ask the email channel to send (a chat transcript): the email
# channel delivers rows in status "queued" and records the outcome (docs/chat.md).
outbound_emails = Table(
    "outbound_emails",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("interaction_id", Id, ForeignKey("interactions.id"), nullable=True),
    Column("to_address", String(320), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    # queued | sent | failed
    Column("status", String(16), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("sent_at", Float, nullable=True),
    Column("error", String(300), nullable=True),
    Index("ix_outbound_emails_status_created", "status", "created_at"),
)

# -- email channel (email_channel/, docs/email.md) ------------------------------------
# Every message as received, stored before it is parsed: nothing is lost to a parser
# failure. IMAP messages are unique by (mailbox, uidvalidity, uid): taken once.
email_inbound = Table(
    "email_inbound",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("received_at", Float, nullable=False),
    # "smtp" or "imap"
    Column("source", String(16), nullable=False),
    Column("mailbox", String(64), nullable=True),
    Column("uidvalidity", BigInteger, nullable=True),
    Column("uid", BigInteger, nullable=True),
    Column("envelope_from", String(320), nullable=True),
    Column("envelope_to", JSON, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    # received -> processing -> processed | automatic | quarantined
    Column("status", String(16), nullable=False),
    Column("reason", String(32), nullable=True),
    Column("error", Text, nullable=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_at", Float, nullable=True),
    Column("processed_at", Float, nullable=True),
    Column("thread_id", Id, nullable=True),
    UniqueConstraint("mailbox", "uidvalidity", "uid"),
    Index("ix_email_inbound_status_received", "status", "received_at"),
)

# One conversation with a customer; each time it is opened (new, or the customer wrote
# again) it is routed as a router contact and recorded as an interaction.
email_threads = Table(
    "email_threads",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("queue", String(64), nullable=False),
    # Our address the customer wrote to (replies go out from it).
    Column("address", String(320), nullable=False),
    Column("subject", String(300), nullable=False),
    # Lower-cased subject without Re:/Fwd: prefixes (the subject fallback).
    Column("subject_key", String(300), nullable=False),
    # open, pending (waiting on the customer) or closed
    Column("status", String(16), nullable=False),
    Column("contact_id", String(64), nullable=True, unique=True),
    Column("openings", Integer, nullable=False, server_default="0"),
    Column("agent_id", Id, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("related_thread_id", Id, nullable=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Index("ix_email_threads_customer_subject", "customer_id", "subject_key", "updated_at"),
)

email_messages = Table(
    "email_messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("thread_id", Id, ForeignKey("email_threads.id"), nullable=False),
    Column("interaction_id", Id, ForeignKey("interactions.id"), nullable=True),
    Column("inbound_id", Id, ForeignKey("email_inbound.id"), nullable=True),
    # inbound or outbound
    Column("direction", String(16), nullable=False),
    # customer, agent-reply or acknowledgement
    Column("kind", String(16), nullable=False),
    Column("message_id", String(255), nullable=True),
    Column("in_reply_to", JSON, nullable=False),
    Column("references", JSON, nullable=False),
    Column("from_address", String(320), nullable=True),
    Column("from_name", String(200), nullable=True),
    Column("to", JSON, nullable=False),
    Column("cc", JSON, nullable=False),
    Column("subject", String(300), nullable=False),
    Column("text", Text, nullable=False),
    # Sanitised (nh3) when stored; remote images are blocked again when shown.
    Column("html", Text, nullable=True),
    Column("quoted_at", Integer, nullable=True),
    Column("automatic", String(32), nullable=True),
    Column("defects", JSON, nullable=False),
    # received; outbound: sending, sent, failed or refused (the loop rule)
    Column("status", String(16), nullable=False),
    Column("error", Text, nullable=True),
    Column("client_id", String(64), nullable=True),
    Column("author_id", Id, ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("sent_at", Float, nullable=True),
    UniqueConstraint("thread_id", "client_id"),
    Index("ix_email_messages_message_id", "message_id"),
    Index("ix_email_messages_thread_created", "thread_id", "created_at"),
    Index("ix_email_messages_kind_created", "kind", "created_at"),
)

email_attachments = Table(
    "email_attachments",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", Id, ForeignKey("email_messages.id"), nullable=False),
    Column("filename", String(200), nullable=False),
    Column("declared_type", String(100), nullable=False),
    Column("detected_type", String(100), nullable=True),
    Column("size", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("inline", Boolean, nullable=False, server_default="0"),
    Column("content_id", String(255), nullable=True),
    Index("ix_email_attachments_message_id", "message_id"),
)

# IMAP mailboxes: where polling got to, and which node polls (a lease).
email_mailboxes = Table(
    "email_mailboxes",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("uidvalidity", BigInteger, nullable=True),
    Column("last_uid", BigInteger, nullable=False, server_default="0"),
    Column("lease_holder", String(64), nullable=True),
    Column("lease_until", Float, nullable=True),
    Column("updated_at", Float, nullable=False),
)
