"""Profile store: customers, identities, interactions, messages, notes, orders, accounts, audit.

SQLAlchemy Core (not the ORM) on SQLite (default) or PostgreSQL; Alembic migrations.
"""
