#!/usr/bin/env python3
"""SQL record store: users and sessions in PostgreSQL or SQLite.

Chosen by `DATABASE_URL` (a SQLAlchemy 2 URL). Each model has a table
whose columns are its contract fields; fields a script adds on its own
live in a JSON `extra` column. The schema is made and upgraded by the
Alembic migrations of `migrations/`, applied once per process before the
first query (under a lock, so that two processes starting on an empty
database do not race) and by `flask --app api.v1.app db-upgrade`.

Writes are single statements or one transaction: an update is
`UPDATE ... WHERE id = :id AND <each changed field> IS NOT DISTINCT FROM
<the value read>`, so it can neither bring a deleted row back nor write
over a newer value; emails are unique through a unique index on their
normalised form, so a duplicate is refused by the database itself.
"""
import os
import threading
import weakref
from dataclasses import dataclass, field
from datetime import datetime
from typing import (Any, Callable, ContextManager, Dict, Iterator, List,
                    Optional, Sequence, Tuple)

import orjson
from sqlalchemy import (BigInteger, Boolean, Column, DateTime, Integer,
                        MetaData, String, Table, Text, bindparam,
                        create_engine, event, func, or_, select)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import (DBAPIError, IntegrityError, InterfaceError,
                            OperationalError)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.sql.elements import ColumnElement

from models.emails import normalize_email
from models.row_cache import TABLES as CACHED_KINDS
from models.row_cache import IDENTITY_SQL, RowCache, find_key
from models.store import (Delete, DuplicateRecordError, Insert, Operation,
                          Record, RecordConflictError, RecordMissingError,
                          RecordStore, StoreConfigError, StoreError,
                          StoreUnavailableError, Update)
from models.store_health import FAIL, TRIP, breaker, describe

MIGRATIONS_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "migrations")
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"
_MIGRATION_LOCK_ID = 7_245_001
PRIVATE_MODE = 0o600

metadata = MetaData()

users = Table(
    "users", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(255), nullable=False, unique=True),
    Column("email", Text),
    Column("email_key", Text),
    Column("password_hash", Text),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("created_at", DateTime),
    Column("updated_at", DateTime),
    Column("auth_epoch", Integer),
    Column("is_admin", Boolean),
    Column("extra", Text),
)

user_sessions = Table(
    "user_sessions", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(255), nullable=False, unique=True),
    Column("session_id", Text),
    Column("user_id", Text),
    Column("created_at", DateTime),
    Column("updated_at", DateTime),
    Column("auth_epoch", Integer),
    Column("extra", Text),
)

flow_state = Table(
    "flow_state", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(255), nullable=False, unique=True),
    Column("kind", Text),
    Column("user_id", Text),
    Column("value", Text),
    Column("expires_at", DateTime),
    Column("created_at", DateTime),
    Column("updated_at", DateTime),
    Column("extra", Text),
)

auth_events = Table(
    "auth_events", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(255), nullable=False, unique=True),
    Column("user_id", Text),
    Column("type", Text),
    Column("ip", Text),
    Column("user_agent", Text),
    Column("created_at", DateTime),
    Column("updated_at", DateTime),
    Column("extra", Text),
)

authenticators = Table(
    "authenticators", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(255), nullable=False, unique=True),
    Column("user_id", Text),
    Column("kind", Text),
    Column("secret", Text),
    Column("confirmed", Boolean),
    Column("last_step", Integer),
    Column("created_at", DateTime),
    Column("updated_at", DateTime),
    Column("extra", Text),
)

# A WebAuthn signature counter is an unsigned 32-bit number: BigInteger.
passkeys = Table(
    "passkeys", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(255), nullable=False, unique=True),
    Column("user_id", Text),
    Column("credential_id", Text),
    Column("public_key", Text),
    Column("sign_count", BigInteger),
    Column("name", Text),
    Column("last_used_at", DateTime),
    Column("created_at", DateTime),
    Column("updated_at", DateTime),
    Column("extra", Text),
)


@dataclass(frozen=True)
class _Mapping:
    """How the records of one kind map to the columns of its table.

    `fields` maps record keys to column names; `derived` maps a column to
    the record key it is computed from and the function computing it (the
    normalised email).
    """

    table: Table
    fields: Dict[str, str]
    derived: Dict[str, Tuple[str, Callable[[Any], Any]]] = field(
        default_factory=dict)


KINDS = {
    "User": _Mapping(users, {
        "id": "id", "email": "email", "_password": "password_hash",
        "first_name": "first_name", "last_name": "last_name",
        "created_at": "created_at", "updated_at": "updated_at",
        "_auth_epoch": "auth_epoch", "_is_admin": "is_admin",
    }, {"email_key": ("email", normalize_email)}),
    "UserSession": _Mapping(user_sessions, {
        "id": "id", "session_id": "session_id", "user_id": "user_id",
        "created_at": "created_at", "updated_at": "updated_at",
        "_auth_epoch": "auth_epoch",
    }),
    "FlowState": _Mapping(flow_state, {
        "id": "id", "kind": "kind", "user_id": "user_id", "value": "value",
        "expires_at": "expires_at", "created_at": "created_at",
        "updated_at": "updated_at",
    }),
    "AuthEvent": _Mapping(auth_events, {
        "id": "id", "user_id": "user_id", "type": "type", "ip": "ip",
        "user_agent": "user_agent", "created_at": "created_at",
        "updated_at": "updated_at",
    }),
    "Authenticator": _Mapping(authenticators, {
        "id": "id", "user_id": "user_id", "kind": "kind",
        "_secret": "secret", "_confirmed": "confirmed",
        "_last_step": "last_step", "created_at": "created_at",
        "updated_at": "updated_at",
    }),
    "Passkey": _Mapping(passkeys, {
        "id": "id", "user_id": "user_id", "credential_id": "credential_id",
        "public_key": "public_key", "sign_count": "sign_count",
        "name": "name", "last_used_at": "last_used_at",
        "created_at": "created_at", "updated_at": "updated_at",
    }),
}
_PYTHON_TYPES = {Text: str, String: str, Integer: int, BigInteger: int,
                 Boolean: bool}
_stores: "weakref.WeakSet[SqlRecordStore]" = weakref.WeakSet()


def engine_url(database_url: str) -> str:
    """Return the SQLAlchemy URL to connect with for `database_url`.

    `postgres://` (as 12-factor hosts pass it) and `postgresql://` use the
    pinned psycopg 3 driver (`postgresql+psycopg://`; SQLAlchemy's own
    default would be psycopg2); an explicit driver and `sqlite:///` URLs
    are kept. Raises `ValueError` for any other database.
    """
    for plain in ("postgres://", "postgresql://"):
        if database_url.startswith(plain):
            return "postgresql+psycopg://" + database_url[len(plain):]
    backend = database_url.split(":", 1)[0].split("+", 1)[0]
    if backend not in ("postgresql", "sqlite"):
        raise ValueError(
            "DATABASE_URL must be a postgresql:// or sqlite:/// URL, not "
            "{!r}".format(backend))
    return database_url


def _is_pg(engine: Engine) -> bool:
    """Return True if `engine` talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    """Set WAL, a busy timeout and foreign keys on a new SQLite link."""
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL",
                   "busy_timeout=5000", "foreign_keys=ON"):
        cursor.execute("PRAGMA " + pragma)
    cursor.close()


def _private_file(database: Optional[str]) -> None:
    """Make the SQLite file `database` readable by its owner only (0600).

    It holds password hashes and live session ids. The file is created
    empty with mode 0600 when missing (SQLite then keeps it), and an
    existing one is narrowed to 0600; SQLite gives its `-wal` and `-shm`
    files the mode of the database file. In-memory databases are left
    alone. Raises `OSError` when the folder cannot be written.
    """
    if not database or database == ":memory:" or \
            database.startswith("file:"):
        return
    path = os.path.abspath(database)
    descriptor = os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_MODE)
    try:
        os.fchmod(descriptor, PRIVATE_MODE)
    finally:
        os.close(descriptor)


_CONFIG_STATES = {"3D000": "create it (createdb) or fix its name",
                  "28P01": "fix the password", "28000":
                  "fix the user name or pg_hba.conf"}
"""SQLSTATEs of a refused configuration, and their fix."""


def _sqlstate(exc: BaseException) -> Optional[str]:
    """Return the SQLSTATE of a driver error wrapped in `exc`, or None."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None)


def _holds_nul(value: Any) -> bool:
    """Return True if `value` is a str holding a NUL character."""
    return isinstance(value, str) and "\x00" in value


def _config_problem(exc: BaseException) -> bool:
    """Return True if `exc` says the database refuses the configuration.

    psycopg gives no SQLSTATE to some errors raised while connecting, so
    the message (`database "x" does not exist`, `role "x" does not
    exist`, `no pg_hba.conf entry`) is read too.
    """
    if _sqlstate(exc) in _CONFIG_STATES:
        return True
    text = str(getattr(exc, "orig", exc))
    return ("database" in text and "does not exist" in text) or \
        "password authentication failed" in text or _user_refused(text)


def _user_refused(text: str) -> bool:
    """Return True if a connection error's `text` refuses the user."""
    return ("role" in text and "does not exist" in text) or \
        "no pg_hba.conf entry" in text


def _config_fix(exc: BaseException) -> str:
    """Return how to fix the configuration problem `exc`, in words."""
    state = _sqlstate(exc)
    if state in _CONFIG_STATES:
        return _CONFIG_STATES[state]
    text = str(getattr(exc, "orig", exc))
    if _user_refused(text):
        return _CONFIG_STATES["28000"]
    if "password" in text:
        return _CONFIG_STATES["28P01"]
    return _CONFIG_STATES["3D000"]


def _after_fork() -> None:
    """In a forked child, drop connections inherited from the parent."""
    for store in list(_stores):
        store.forget_connections()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def _column_value(column: Column, value: Any, key: str) -> Any:
    """Return `value` converted for `column`; raise `StoreError` if odd."""
    if value is None:
        return None
    if isinstance(column.type, DateTime):
        if isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                pass
    else:
        wanted = _PYTHON_TYPES.get(type(column.type), str)
        if isinstance(value, wanted) and not (
                wanted is int and isinstance(value, bool)):
            return value
    raise StoreError("{} cannot be stored in column {}.{}: {!r}".format(
        key, column.table.name, column.name, value))


def _record_value(value: Any) -> Any:
    """Return a column value as a record holds it (timestamps as text)."""
    if isinstance(value, datetime):
        return value.strftime(TIMESTAMP_FORMAT)
    return value


LINKED: Dict[str, Tuple[str, str]] = {"UserSession": ("user_id", "User")}
"""A cached lookup of a session that misses reads its user in the same
query: `(field naming the other row, its kind)`. The request that needs
the session needs its user next (issue 18: one query on a miss)."""


class SqlRecordStore(RecordStore):
    """Records of `User` and `UserSession` in a SQL database.

    Two engines per process, one for writes (each a transaction) and one
    for reads in autocommit mode (one round trip, no BEGIN/COMMIT), each
    with a pool of `pool_size` connections plus as many again on demand:
    a gunicorn sync worker serves one request at a time, so a handful per
    worker is plenty and several workers stay far below PostgreSQL's
    connection limit. A pooled connection found dead is dropped and the
    call retried once on a fresh one (SQLAlchemy's "optimistic" disconnect
    handling, which saves the ping per checkout of `pool_pre_ping`), so
    the store recovers by itself after the database comes back; while it
    is away every call raises `StoreUnavailableError`.
    """

    cached = False
    row_cache: Optional[RowCache] = None
    """Set by `models.row_cache.attach` on PostgreSQL (`READ_CACHE_SIZE`)."""

    def __init__(self, database_url: str, pool_size: int = 5) -> None:
        """Create the engine for `database_url`; nothing connects yet.

        Raises `ValueError` for an unsupported URL.
        """
        self.database_url = database_url
        url = make_url(engine_url(database_url))
        options: Dict[str, Any] = {}
        if url.get_backend_name() == "postgresql":
            options.update(pool_size=max(1, pool_size),
                           max_overflow=max(1, pool_size), pool_timeout=5,
                           pool_recycle=1800,
                           connect_args={"connect_timeout": 2})
        self.url = url
        # Statement parameters hold password hashes and session ids: keep
        # them out of exception texts, which end up in logs.
        options["hide_parameters"] = True
        self.engine = create_engine(url, **options)
        self._reader = create_engine(url, isolation_level="AUTOCOMMIT",
                                     **options)
        if url.get_backend_name() == "sqlite":
            _private_file(url.database)
            for engine in (self.engine, self._reader):
                event.listen(engine, "connect", _sqlite_pragmas)
        self._prepared = False
        self._prepare_lock = threading.Lock()
        _stores.add(self)

    def location(self, kind: str) -> str:
        """Return the table of `kind` and the database (no password)."""
        table = KINDS[kind].table.name if kind in KINDS else kind
        return "{} in {}".format(table, self.url.render_as_string(
            hide_password=True))

    def forget_connections(self) -> None:
        """Drop pooled connections without closing them (after a fork)."""
        self.engine.dispose(close=False)
        self._reader.dispose(close=False)

    def close(self) -> None:
        """Close every pooled connection (and the row cache's listener)."""
        if self.row_cache is not None:
            self.row_cache.close()
        self.engine.dispose()
        self._reader.dispose()

    def lock(self, kind: str) -> ContextManager[None]:
        """Return a no-op: the database's own constraints serialise."""
        return _NoLock()

    def version(self, kind: str) -> None:
        """Return None: a database is asked on every call."""
        return None

    def prepare(self) -> None:
        """Create or upgrade the schema with the Alembic migrations.

        Runs once per process, under a lock that excludes other processes
        (PostgreSQL advisory lock; a lock file beside a SQLite database).
        Raises `StoreUnavailableError` when the database is unreachable.
        """
        if self._prepared:
            return
        with self._prepare_lock:
            if self._prepared:
                return
            self._run(self._upgrade)
            self._prepared = True

    def _upgrade(self, connection: Connection) -> None:
        """Apply the migrations on `connection` (inside a transaction)."""
        from alembic import command

        if _is_pg(self.engine):
            connection.exec_driver_sql(
                "SELECT pg_advisory_xact_lock({})".format(
                    _MIGRATION_LOCK_ID))
            command.upgrade(migration_config(connection), "head")
            return
        database = self.url.database
        if not database or database == ":memory:":
            command.upgrade(migration_config(connection), "head")
            return
        from filelock import FileLock
        with FileLock(os.path.abspath(database) + ".migrate.lock",
                      mode=PRIVATE_MODE):
            command.upgrade(migration_config(connection), "head")

    def _run(self, work: Callable[[Connection], Any],
             write: bool = True) -> Any:
        """Run `work` in one transaction, or in autocommit for a read.

        A connection that turns out dead (the database restarted) is
        replaced and `work` run once more. Calls go through the `records`
        breaker of `models.store_health`. Raises `StoreUnavailableError`
        when the database cannot serve (a lost connection, a refused one,
        a timeout, a shutdown, a locked SQLite) or while the breaker is
        open, `StoreConfigError` when it refuses the configuration (no
        such database, a wrong password), `DuplicateRecordError` for a
        unique constraint.
        """
        try:
            return breaker("records").call(
                lambda: self._retrying(work, write), self._outage)
        except IntegrityError as exc:
            raise DuplicateRecordError(
                "a record with this unique value already exists") from exc
        except DBAPIError as exc:
            if _config_problem(exc):
                raise StoreConfigError("DATABASE_URL: {}; fix: {}".format(
                    describe(exc), _config_fix(exc))) from exc
            raise StoreError("database error: {}".format(
                str(exc.orig).splitlines()[0] if exc.orig else exc)) \
                from exc

    def _retrying(self, work: Callable[[Connection], Any],
                  write: bool) -> Any:
        """Run `work` once, and once more if its connection was dead."""
        try:
            return self._once(work, write)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            return self._once(work, write)

    def _outage(self, exc: BaseException) -> Optional[str]:
        """Return what `exc` means for the breaker (`store_health`).

        `TRIP` when PostgreSQL cannot be reached (no connection, a lost
        one, a shutdown: SQLSTATE class 08 and 57P01-57P03), `FAIL` for
        other errors of a database that cannot serve now (a locked
        SQLite, a full pool, a read-only standby: 25006), None otherwise
        (a refused configuration becomes a `StoreConfigError` in `_run`).
        """
        if isinstance(exc, IntegrityError):
            return None
        if _sqlstate(exc) == "25006":
            # A read-only transaction: a standby after a failover.
            return FAIL
        invalidated = isinstance(exc, DBAPIError) and \
            exc.connection_invalidated
        if not isinstance(exc, (OperationalError, InterfaceError,
                                PoolTimeout)) and not invalidated:
            return None
        if _config_problem(exc):
            return None
        if not _is_pg(self.engine) or isinstance(exc, PoolTimeout):
            return FAIL
        state = _sqlstate(exc)
        if invalidated or state is None or state.startswith("08") \
                or state in ("57P01", "57P02", "57P03"):
            return TRIP
        return FAIL

    def _once(self, work: Callable[[Connection], Any], write: bool) -> Any:
        """Run `work` once on a pooled connection."""
        if write:
            with self.engine.begin() as connection:
                return work(connection)
        with self._reader.connect() as connection:
            return work(connection)

    def ping(self) -> bool:
        """Return True if the database answers `SELECT 1` now.

        Raises `StoreUnavailableError` when it cannot serve.
        """
        return self._run(lambda connection: connection.exec_driver_sql(
            "SELECT 1").scalar() == 1, write=False)

    def identity(self) -> Tuple[Any, ...]:
        """Return the database's name and its server's start time.

        What `models.row_cache` compares with its listener's answer
        (`IDENTITY_SQL`, PostgreSQL only). Raises `StoreUnavailableError`
        when the database cannot serve.
        """
        return self._run(lambda connection: tuple(connection.exec_driver_sql(
            IDENTITY_SQL).one()), write=False)

    def _ready(self, kind: str) -> _Mapping:
        """Prepare the schema if needed; return the mapping of `kind`."""
        mapping = KINDS.get(kind)
        if mapping is None:
            raise StoreError("no table stores {} records".format(kind))
        self.prepare()
        return mapping

    def get(self, kind: str, record_id: str) -> Optional[Record]:
        """Return the record `record_id`, or None (maybe from the cache)."""
        cache = self.row_cache
        if cache is not None and kind in CACHED_KINDS:
            found = cache.lookup(kind, ("id", record_id), lambda: [
                record for record in (self._get(kind, record_id),)
                if record is not None])
            return found[0] if found else None
        return self._get(kind, record_id)

    def _get(self, kind: str, record_id: str) -> Optional[Record]:
        """Return the record `record_id` read from the database, or None.

        An id holding NUL names no row (no text column can hold one, and
        PostgreSQL refuses it in a query) and is not sent.
        """
        if _holds_nul(record_id):
            return None
        mapping = self._ready(kind)
        statement = _statement(mapping, ("id",), (False,))

        def work(connection: Connection) -> Optional[Record]:
            """Select the row by its id."""
            row = connection.execute(statement, {"p0": record_id}).first()
            return None if row is None else _to_record(mapping, row)
        return self._run(work, write=False)

    def find(self, kind: str, attributes: Record) -> List[Record]:
        """Return the records whose fields equal `attributes`, in order.

        Fields that are columns are matched by the database (with its
        indexes); any other field makes it a scan. A lookup on a unique
        value may be answered by the row cache; when it is not, and the
        kind names a row of another (`LINKED`: a session's user), that row
        is read in the same query and cached too.
        """
        cache = self.row_cache
        key = None if cache is None else find_key(kind, attributes)
        if key is None:
            return self._find(kind, attributes)
        link = LINKED.get(kind)
        if link is None or len(attributes) != 1:
            return cache.lookup(kind, key,
                                lambda: self._find(kind, attributes))
        extra: List[Tuple[str, Any, List[Record]]] = []
        return cache.lookup(kind, key, lambda: self._find_linked(
            kind, attributes, link, extra), extra)

    def _find_linked(self, kind: str, attributes: Record,
                     link: Tuple[str, str],
                     extra: List[Tuple[str, Any, List[Record]]]
                     ) -> List[Record]:
        """Return the records matching `attributes` (one field), read from
        the database with the row each names through `link`.

        `link` is `(field, other kind)`: the record's `field` holds the id
        of a row of the other kind, read by the same query (a LEFT JOIN).
        Each row found is appended to `extra` as `(kind, ("id", id),
        [record])`, for the row cache to keep beside the answer.
        """
        mapping = self._ready(kind)
        field_name, other_kind = link
        other = self._ready(other_kind)
        (name, value), = attributes.items()
        column = mapping.fields.get(name) or (
            name if name in mapping.derived else None)
        try:
            converted = None if column is None else _column_value(
                mapping.table.c[column], value, name)
        except StoreError:
            converted = None
        if converted is None:
            return self._find(kind, attributes)
        statement = _linked_statement(mapping, column,
                                      mapping.fields[field_name], other)

        def work(connection: Connection) -> List[Record]:
            """Select the matching rows and their linked rows."""
            found = []
            for row in connection.execute(statement, {"p0": converted}):
                values = row._mapping
                found.append(_to_record(mapping, _Prefixed(values, "a_")))
                if values["b_id"] is not None:
                    linked = _to_record(other, _Prefixed(values, "b_"))
                    extra.append((other_kind, ("id", linked["id"]),
                                  [linked]))
            return found
        return self._run(work, write=False)

    def _find(self, kind: str, attributes: Record) -> List[Record]:
        """Return the records matching `attributes`, read from the database.

        A value holding NUL matches nothing, as in `_get`.
        """
        if any(_holds_nul(value) for value in attributes.values()):
            return []
        mapping = self._ready(kind)
        query = _query(mapping, attributes)
        if query is None:
            return [record for record in self.iterate(kind) if all(
                record.get(key) == value
                for key, value in attributes.items())]
        statement, parameters = query

        def work(connection: Connection) -> List[Record]:
            """Select the matching rows in insertion order."""
            rows = connection.execute(statement, parameters)
            return [_to_record(mapping, row) for row in rows]
        return self._run(work, write=False)

    def count(self, kind: str) -> int:
        """Return the number of rows of `kind`."""
        table = self._ready(kind).table
        return self._run(lambda connection: connection.execute(
            select(func.count()).select_from(table)).scalar_one(),
            write=False)

    def iterate(self, kind: str) -> Iterator[Record]:
        """Yield every record of `kind` in insertion order."""
        mapping = self._ready(kind)
        table = mapping.table
        rows = self._run(lambda connection: connection.execute(
            select(table).order_by(table.c.seq)).all(), write=False)
        for row in rows:
            yield _to_record(mapping, row)

    def ids_older(self, kind: str, cutoffs: Dict[str, datetime],
                  limit: Optional[int] = None) -> List[str]:
        """Return ids of rows with a cutoff column missing or older."""
        mapping = self._ready(kind)
        table = mapping.table
        clauses = []
        for key, cutoff in cutoffs.items():
            column = table.c[mapping.fields[key]]
            clauses += [column < cutoff, column.is_(None)]
        query = select(table.c.id).where(or_(*clauses)).order_by(
            table.c.seq)
        if limit is not None:
            query = query.limit(limit)
        return self._run(lambda connection: list(
            connection.execute(query).scalars()), write=False)

    def apply(self, kind: str, operations: Sequence[Operation]) -> List[int]:
        """Apply `operations` in one transaction (all or nothing)."""
        mapping = self._ready(kind)

        def work(connection: Connection) -> List[int]:
            """Run each operation on `connection`."""
            return [self._apply_one(connection, mapping, op)
                    for op in operations]
        try:
            return self._run(work)
        finally:
            if self.row_cache is not None:
                self.row_cache.evict(kind, _written_ids(operations))

    def _apply_one(self, connection: Connection, mapping: _Mapping,
                   op: Operation) -> int:
        """Run one operation; return the number of rows it touched."""
        table = mapping.table
        if isinstance(op, Delete):
            total = 0
            ids = list(op.ids)
            for start in range(0, len(ids), 500):
                total += connection.execute(table.delete().where(
                    table.c.id.in_(ids[start:start + 500]))).rowcount
            return total
        if isinstance(op, Insert):
            values = _to_row(mapping, op.record)
            dialect = _dialect_insert(self.engine)
            statement = dialect(table).values(**values)
            if op.replace:
                statement = statement.on_conflict_do_update(
                    index_elements=[table.c.id],
                    set_={k: v for k, v in values.items() if k != "id"})
            connection.execute(statement)
            return 1
        return self._update(connection, mapping, op)

    @staticmethod
    def _update(connection: Connection, mapping: _Mapping,
                op: Update) -> int:
        """Run a conditional UPDATE; raise if the row is gone or changed."""
        table = mapping.table
        conditions: List[ColumnElement] = [table.c.id == op.id]
        values: Dict[str, Any] = {}
        extra_changes, extra_expected = {}, {}
        for key, value in op.changes.items():
            if key in mapping.fields:
                column = table.c[mapping.fields[key]]
                values[column.name] = _column_value(column, value, key)
            else:
                extra_changes[key] = value
        for key, value in op.expected.items():
            if key in mapping.fields:
                column = table.c[mapping.fields[key]]
                conditions.append(column.is_not_distinct_from(
                    _column_value(column, value, key)))
            else:
                extra_expected[key] = value
        for name, (source, derive) in mapping.derived.items():
            if source in op.changes:
                values[name] = derive(op.changes[source])
        if extra_changes or extra_expected:
            old = connection.execute(select(table.c.extra).where(
                table.c.id == op.id)).first()
            if old is None:
                raise RecordMissingError(
                    "record {} no longer exists".format(op.id))
            extra = orjson.loads(old.extra) if old.extra else {}
            for key, value in extra_expected.items():
                if extra.get(key) != value:
                    raise RecordConflictError(
                        "record {}: {} changed since it was read".format(
                            op.id, key))
            extra.update(extra_changes)
            values["extra"] = orjson.dumps(extra).decode() if extra else None
            conditions.append(table.c.extra.is_not_distinct_from(old.extra))
        result = connection.execute(
            table.update().where(*conditions).values(**values))
        if result.rowcount == 1:
            return 1
        exists = connection.execute(
            select(table.c.id).where(table.c.id == op.id)).first()
        if exists is None:
            raise RecordMissingError(
                "record {} no longer exists".format(op.id))
        raise RecordConflictError(
            "record {} changed since it was read".format(op.id))


def _written_ids(operations: Sequence[Operation]) -> List[str]:
    """Return the ids of the rows `operations` insert, change or delete."""
    ids: List[str] = []
    for op in operations:
        if isinstance(op, Delete):
            ids.extend(op.ids)
        elif isinstance(op, Insert):
            ids.append(op.record.get("id"))
        else:
            ids.append(op.id)
    return ids


class _NoLock:
    """A context manager that holds nothing."""

    def __enter__(self) -> None:
        """Enter; nothing is locked."""

    def __exit__(self, *exc_info: Any) -> None:
        """Leave; nothing to release."""


def _dialect_insert(engine: Engine) -> Callable[[Table], Any]:
    """Return the INSERT construct with ON CONFLICT of the engine."""
    if _is_pg(engine):
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _to_row(mapping: _Mapping, record: Record) -> Dict[str, Any]:
    """Return the column values that store `record`."""
    table = mapping.table
    values: Dict[str, Any] = {}
    extra = {}
    for key, value in record.items():
        if key in mapping.fields:
            column = table.c[mapping.fields[key]]
            values[column.name] = _column_value(column, value, key)
        else:
            extra[key] = value
    for name, (source, derive) in mapping.derived.items():
        values[name] = derive(record.get(source))
    values["extra"] = orjson.dumps(extra).decode() if extra else None
    return values


class _Prefixed:
    """The columns of one table in a joined row, by their own names.

    `values` is the row's mapping, whose keys are the column names with
    `prefix` in front (`a_id`, `b_id`); `_mapping[name]` gives the value
    of column `name` of that table.
    """

    def __init__(self, values: Any, prefix: str) -> None:
        """Wrap the row mapping `values` for the columns under `prefix`."""
        self._values = values
        self._prefix = prefix

    @property
    def _mapping(self) -> "_Prefixed":
        """Return self: `_to_record` reads `row._mapping[column]`."""
        return self

    def __getitem__(self, column: str) -> Any:
        """Return the value of `column` of this table."""
        return self._values[self._prefix + column]


def _linked_statement(mapping: _Mapping, column: str, link_column: str,
                      other: _Mapping) -> Any:
    """Return a SELECT of the rows of `mapping` whose `column` is `:p0`,
    each with the row of `other` whose id its `link_column` holds.

    Columns are labelled `a_<name>` and `b_<name>`; a missing linked row
    gives NULLs (LEFT JOIN). Built once per pair and kept.
    """
    key = ("linked", mapping.table.name, (column, link_column),
           (other.table.name,))
    statement = _STATEMENTS.get(key)
    if statement is None:
        table, linked = mapping.table, other.table
        statement = select(
            *[c.label("a_" + c.name) for c in table.c],
            *[c.label("b_" + c.name) for c in linked.c],
        ).select_from(table.outerjoin(
            linked, linked.c.id == table.c[link_column])).where(
            table.c[column] == bindparam("p0")).order_by(table.c.seq)
        _STATEMENTS[key] = statement
    return statement


def _to_record(mapping: _Mapping, row: Any) -> Record:
    """Return the record a row stores (extra fields after the columns)."""
    values = row._mapping
    record = {key: _record_value(values[column])
              for key, column in mapping.fields.items()}
    if values["extra"]:
        record.update(orjson.loads(values["extra"]))
    return record


def _query(mapping: _Mapping, attributes: Record
           ) -> Optional[Tuple[Any, Dict[str, Any]]]:
    """Return a SELECT for `attributes` and its parameters, or None.

    None when a field is not a column or a value is not of the column's
    type (no stored value could equal it then, but a scan says so
    without asking the database to compare mismatched types).
    """
    names, nulls, parameters = [], [], {}
    for key, value in attributes.items():
        name = mapping.fields.get(key) or (
            key if key in mapping.derived else None)
        if name is None:
            return None
        try:
            converted = _column_value(mapping.table.c[name], value, key)
        except StoreError:
            return None
        if converted is not None:
            parameters["p{}".format(len(names))] = converted
        names.append(name)
        nulls.append(converted is None)
    return _statement(mapping, tuple(names), tuple(nulls)), parameters


_STATEMENTS: Dict[Tuple[str, Tuple[str, ...], Tuple[bool, ...]], Any] = {}


def _statement(mapping: _Mapping, names: Tuple[str, ...],
               nulls: Tuple[bool, ...]) -> Any:
    """Return the SELECT matching columns `names`, built once and kept.

    A column whose flag in `nulls` is True matches NULL; the others match
    the bound parameters `p0`, `p1`... in order. Reusing one statement
    object spares SQLAlchemy building it at every request.
    """
    key = (mapping.table.name, names, nulls)
    statement = _STATEMENTS.get(key)
    if statement is None:
        table = mapping.table
        conditions = [table.c[name].is_(None) if null else
                      table.c[name] == bindparam("p{}".format(position))
                      for position, (name, null)
                      in enumerate(zip(names, nulls))]
        statement = select(table).where(*conditions).order_by(table.c.seq)
        _STATEMENTS[key] = statement
    return statement


def migration_config(connection: Optional[Connection] = None) -> Any:
    """Return the Alembic configuration of `migrations/`.

    With `connection`, the migrations run on it (inside its transaction);
    without, `migrations/env.py` connects to `DATABASE_URL`.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def schema_revision(store: SqlRecordStore) -> Tuple[Optional[str], str]:
    """Return (the database's revision or None, the newest revision)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(migration_config()).get_current_head()

    def work(connection: Connection) -> Optional[str]:
        """Read the revision recorded in the database."""
        return MigrationContext.configure(connection).get_current_revision()
    return store._run(work), head
