#!/usr/bin/env python3
"""Second factors: TOTP secrets (sealed) and recovery code digests.

One row per factor of a user (`kind` = `totp` or `recovery`); the TOTP
secret is sealed with AES-GCM under a key derived from `SECRET_KEY` and
a recovery code is kept as its HMAC-SHA256, so this table alone gives no
working code. `last_step` is the RFC 6238 time step of the last accepted
code (a replay is refused by a conditional update of it).

Revision ID: 0004_authenticators
Revises: 0003_auth_events (branched from 0002 beside the passkeys and
the events; chained after both so that there is one head)
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_authenticators"
down_revision = "0003_auth_events"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create `authenticators` with an index on its user and kind."""
    op.create_table(
        "authenticators",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(255), nullable=False, unique=True),
        sa.Column("user_id", sa.Text),
        sa.Column("kind", sa.Text),
        sa.Column("secret", sa.Text),
        sa.Column("confirmed", sa.Boolean),
        sa.Column("last_step", sa.Integer),
        sa.Column("created_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime),
        sa.Column("extra", sa.Text),
    )
    op.create_index("ix_authenticators_user_id_kind", "authenticators",
                    ["user_id", "kind"])


def downgrade() -> None:
    """Drop the `authenticators` table."""
    op.drop_table("authenticators")
