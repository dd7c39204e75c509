#!/usr/bin/env python3
"""Alembic environment: run the migrations of the Session API's database.

The application runs them itself (`models.sql_store.SqlRecordStore`
passes its own connection in `config.attributes["connection"]`). The
`alembic` command line (`alembic upgrade head` from the repository root,
with `DATABASE_URL` set) connects here instead.
"""
from alembic import context
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

    Raises `RuntimeError` when neither a connection nor `DATABASE_URL` is
    given.
    """
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    database_url = load_settings().database_url
    if not database_url:
        raise RuntimeError("set DATABASE_URL to the database to migrate")
    engine = create_engine(engine_url(database_url))
    try:
        with engine.begin() as own:
            run_on(own)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported")
run_online()
