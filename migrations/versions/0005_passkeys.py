#!/usr/bin/env python3
"""Passkeys: one row per WebAuthn credential (account-security §5).

`credential_id` is unique (an authenticator's credential is one user's),
and indexed as `user_id` is, since a login looks a credential up by its
id and the listing by its user.

Revision ID: 0005_passkeys
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0005_passkeys"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `passkeys` with its unique credential id and user index."""
    op.create_table(
        "passkeys",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(255), nullable=False, unique=True),
        sa.Column("user_id", sa.Text),
        sa.Column("credential_id", sa.Text),
        sa.Column("public_key", sa.Text),
        sa.Column("sign_count", sa.BigInteger),
        sa.Column("name", sa.Text),
        sa.Column("last_used_at", sa.DateTime),
        sa.Column("created_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime),
        sa.Column("extra", sa.Text),
    )
    op.create_index("ix_passkeys_credential_id", "passkeys",
                    ["credential_id"], unique=True)
    op.create_index("ix_passkeys_user_id", "passkeys", ["user_id"])


def downgrade() -> None:
    """Drop the `passkeys` table."""
    op.drop_table("passkeys")
