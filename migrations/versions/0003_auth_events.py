#!/usr/bin/env python3
"""Security events of users (account-security §6.4).

One row per event, read newest first per user: the index on
(`user_id`, `seq`) serves the listing, the one on `created_at` the
amortised purge after `AUTH_EVENTS_DAYS`.

Revision ID: 0003_auth_events
Revises: 0005_passkeys
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_auth_events"
down_revision = "0005_passkeys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `auth_events` with its indexes on user and time."""
    op.create_table(
        "auth_events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(255), nullable=False, unique=True),
        sa.Column("user_id", sa.Text),
        sa.Column("type", sa.Text),
        sa.Column("ip", sa.Text),
        sa.Column("user_agent", sa.Text),
        sa.Column("created_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime),
        sa.Column("extra", sa.Text),
    )
    op.create_index("ix_auth_events_user_id_seq", "auth_events",
                    ["user_id", "seq"])
    op.create_index("ix_auth_events_created_at", "auth_events",
                    ["created_at"])


def downgrade() -> None:
    """Drop the `auth_events` table."""
    op.drop_table("auth_events")
