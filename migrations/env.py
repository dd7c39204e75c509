#!/usr/bin/env python3
"""Alembic environment: run the migrations of the Session API's database.

The application runs them itself (`models.sql_store.SqlRecordStore`
passes its own connection in `config.attributes["connection"]`). The
`alembic` command line (`alembic upgrade head` from the repository root,
with `DATABASE_URL` set) connects here instead.
"""
from alembic import context
from alembic.util import CommandError
from sqlalchemy import create_engine

from models.settings import load_settings
from models.sql_store import engine_url


def run_on(connection: object) -> None:
    """Run the pending migrations on `connection`."""
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Connect (or use the given connection) and run the migrations.

    Raises alembic's `CommandError` when neither a connection nor
    `DATABASE_URL` is given: the `alembic` command prints its one line
    (`FAILED: ...`) instead of a traceback.
    """
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    database_url = load_settings().database_url
    if not database_url:
        raise CommandError(
            "DATABASE_URL is not set: set it to the database to migrate, "
            "for example DATABASE_URL=postgresql://user@host:5432/db "
            "alembic upgrade head")
    engine = create_engine(engine_url(database_url))
    try:
        with engine.begin() as own:
            run_on(own)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported")
run_online()
