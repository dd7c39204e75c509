#!/usr/bin/env python3
"""The one place that knows every record store and picks one by URL.

`models.store` defines the contract and the JSON files; `models.sql_store`
the databases. Neither imports the other's module for this choice: it
lives here, where both are known.
"""
from typing import Optional

from models.store import JsonFileStore, RecordStore


def make_record_store(database_url: Optional[str],
                      pool_size: int = 5) -> RecordStore:
    """Return the record store for `database_url` (`DATABASE_URL`).

    None or empty gives the JSON files of the working directory (the
    contract's default); a SQLAlchemy URL gives a `SqlRecordStore` with
    `pool_size` pooled connections, whose module (and SQLAlchemy) is
    imported only then. Raises `ValueError` for a URL of an unsupported
    database.
    """
    if not database_url:
        return JsonFileStore()
    from models.sql_store import SqlRecordStore
    return SqlRecordStore(database_url, pool_size)
