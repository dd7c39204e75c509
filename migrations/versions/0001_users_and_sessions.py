#!/usr/bin/env python3
"""Users and sessions: the first schema of the Session API's database.

Revision ID: 0001
Revises: none
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `users` and `user_sessions` with their indexes.

    The unique index on `users.email_key` (the normalised email) makes the
    database refuse a second account for one email.
    """
    op.create_table(
        "users",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(255), nullable=False, unique=True),
        sa.Column("email", sa.Text),
        sa.Column("email_key", sa.Text),
        sa.Column("password_hash", sa.Text),
        sa.Column("first_name", sa.Text),
        sa.Column("last_name", sa.Text),
        sa.Column("created_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime),
        sa.Column("auth_epoch", sa.Integer),
        sa.Column("is_admin", sa.Boolean),
        sa.Column("extra", sa.Text),
    )
    op.create_index("ux_users_email_key", "users", ["email_key"],
                    unique=True)
    op.create_index("ix_users_email", "users", ["email"])
    op.create_table(
        "user_sessions",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(255), nullable=False, unique=True),
        sa.Column("session_id", sa.Text),
        sa.Column("user_id", sa.Text),
        sa.Column("created_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime),
        sa.Column("auth_epoch", sa.Integer),
        sa.Column("extra", sa.Text),
    )
    op.create_index("ix_user_sessions_session_id", "user_sessions",
                    ["session_id"])
    op.create_index("ix_user_sessions_user_id", "user_sessions",
                    ["user_id"])
    op.create_index("ix_user_sessions_created_at", "user_sessions",
                    ["created_at"])
    op.create_index("ix_user_sessions_updated_at", "user_sessions",
                    ["updated_at"])


def downgrade() -> None:
    """Drop both tables (and with them every user and session)."""
    op.drop_table("user_sessions")
    op.drop_table("users")
