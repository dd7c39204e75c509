#!/usr/bin/env python3
"""Short-lived state: second-step tokens, challenges, device tokens.

The flow store keeps them here when `DATABASE_URL` is set and there is no
Redis (`SESSION_STORE_URL`). Keys are SHA-256 digests; rows expire at
`expires_at` (UTC) and are purged as sessions are.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `flow_state` with indexes on its user and its expiry."""
    op.create_table(
        "flow_state",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(255), nullable=False, unique=True),
        sa.Column("kind", sa.Text),
        sa.Column("user_id", sa.Text),
        sa.Column("value", sa.Text),
        sa.Column("expires_at", sa.DateTime),
        sa.Column("created_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime),
        sa.Column("extra", sa.Text),
    )
    op.create_index("ix_flow_state_user_id", "flow_state", ["user_id"])
    op.create_index("ix_flow_state_expires_at", "flow_state",
                    ["expires_at"])


def downgrade() -> None:
    """Drop the `flow_state` table."""
    op.drop_table("flow_state")
