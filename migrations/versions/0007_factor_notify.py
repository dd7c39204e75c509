#!/usr/bin/env python3
"""Notify listeners of every change to a second factor, inserts included.

Triggers on `authenticators` send `NOTIFY session_api_rows` with the
payload `authenticators <id>` for each row inserted, updated or deleted,
and `authenticators *` after a TRUNCATE. Inserts notify here (unlike on
`users` and `user_sessions`) because the row caches of `models.row_cache`
also remember that a user has no TOTP factor: enabling one, on any host or
by hand in `psql`, must evict that. The notifying function of
`0006_change_notify` learns to name the new row of an INSERT. PostgreSQL
only; SQLite is not cached and gets nothing.

Revision ID: 0007_factor_notify
Revises: 0006_change_notify
"""
from alembic import op

revision = "0007_factor_notify"
down_revision = "0006_change_notify"
branch_labels = None
depends_on = None

FUNCTION = """
CREATE OR REPLACE FUNCTION session_api_notify_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    PERFORM pg_notify('session_api_rows', TG_TABLE_NAME || ' *');
    RETURN NULL;
  END IF;
  IF TG_OP = 'INSERT' THEN
    PERFORM pg_notify('session_api_rows', TG_TABLE_NAME || ' ' || NEW.id);
    RETURN NULL;
  END IF;
  PERFORM pg_notify('session_api_rows', TG_TABLE_NAME || ' ' || OLD.id);
  IF TG_OP = 'UPDATE' AND NEW.id IS DISTINCT FROM OLD.id THEN
    PERFORM pg_notify('session_api_rows', TG_TABLE_NAME || ' ' || NEW.id);
  END IF;
  RETURN NULL;
END
$$
"""
TABLE = "authenticators"


def upgrade() -> None:
    """Teach the function inserts; add the triggers (PostgreSQL)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    op.execute(
        "CREATE TRIGGER {0}_notify_change "
        "AFTER INSERT OR UPDATE OR DELETE ON {0} "
        "FOR EACH ROW EXECUTE FUNCTION session_api_notify_change()"
        .format(TABLE))
    op.execute(
        "CREATE TRIGGER {0}_notify_truncate AFTER TRUNCATE ON {0} "
        "FOR EACH STATEMENT EXECUTE FUNCTION session_api_notify_change()"
        .format(TABLE))


def downgrade() -> None:
    """Remove the triggers; the function keeps its INSERT branch, unused
    by the triggers of `0006_change_notify` (PostgreSQL)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS {0}_notify_change ON {0}"
               .format(TABLE))
    op.execute("DROP TRIGGER IF EXISTS {0}_notify_truncate ON {0}"
               .format(TABLE))
