#!/usr/bin/env python3
"""Notify listeners of every change to a user or session row.

Triggers on `users` and `user_sessions` send `NOTIFY session_api_rows`
with the payload `<table> <id>` for each row updated or deleted, and
`<table> *` after a TRUNCATE, so that the per-process row caches of
`models.row_cache` drop what changed, whoever changed it: the API, the
CLI, a script or a hand-written `UPDATE` in `psql`. Inserts notify
nothing: only rows that exist are cached. PostgreSQL only; SQLite is not
cached and gets nothing.

Revision ID: 0006_change_notify
Revises: 0004_authenticators
"""
from alembic import op

revision = "0006_change_notify"
down_revision = "0004_authenticators"
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
  PERFORM pg_notify('session_api_rows', TG_TABLE_NAME || ' ' || OLD.id);
  IF TG_OP = 'UPDATE' AND NEW.id IS DISTINCT FROM OLD.id THEN
    PERFORM pg_notify('session_api_rows', TG_TABLE_NAME || ' ' || NEW.id);
  END IF;
  RETURN NULL;
END
$$
"""
TABLES = ("users", "user_sessions")


def upgrade() -> None:
    """Install the notifying function and its triggers (PostgreSQL)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(FUNCTION)
    for table in TABLES:
        op.execute(
            "CREATE TRIGGER {0}_notify_change AFTER UPDATE OR DELETE ON {0} "
            "FOR EACH ROW EXECUTE FUNCTION session_api_notify_change()"
            .format(table))
        op.execute(
            "CREATE TRIGGER {0}_notify_truncate AFTER TRUNCATE ON {0} "
            "FOR EACH STATEMENT EXECUTE FUNCTION session_api_notify_change()"
            .format(table))


def downgrade() -> None:
    """Remove the triggers and the function (PostgreSQL)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute("DROP TRIGGER IF EXISTS {0}_notify_change ON {0}"
                   .format(table))
        op.execute("DROP TRIGGER IF EXISTS {0}_notify_truncate ON {0}"
                   .format(table))
    op.execute("DROP FUNCTION IF EXISTS session_api_notify_change()")
