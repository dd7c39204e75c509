#!/usr/bin/env python3
"""A per-process cache of user and session rows, kept true by PostgreSQL.

The triggers that migration `0006_change_notify` installs on `users` and
`user_sessions` (and `0007_factor_notify` on `authenticators`) send
`NOTIFY session_api_rows, '<table> <id>'` for every row updated or
deleted (and `'<table> *'` for a TRUNCATE), whoever
changes it: this API on any host, the CLI, a script or `psql`. Each
process keeps one dedicated connection that `LISTEN`s on that channel
(`DATABASE_LISTEN_URL`, default `DATABASE_URL`: a transaction-pooling
proxy such as PgBouncer cannot hold a `LISTEN`).

Rules, in the order they protect correctness:

* before any cached row is used, an empty query makes a round trip on the
  listening connection, and the notifications that come back ahead of its
  answer (those of every transaction committed before) are applied, once
  per request. A request that carries credentials sends that query as it
  arrives (`SyncMiddleware`) and reads the answer only when its first
  lookup needs it, so the round trip overlaps Flask's own work instead of
  adding to it;
* only rows that exist are cached, keyed by their id or by a unique value
  (an email, a session id): an INSERT can therefore make no cached answer
  wrong, and the triggers need not fire on it. Second factors are the
  exception (`ABSENCE_CACHED`): their triggers fire on inserts too, so the
  absence of an id is cached as well;
* an answer read while an invalidation arrived is not cached (a
  generation counter), so a slow read cannot store a row older than a
  change this process already knows of;
* this process's own writes evict their rows at once, without waiting for
  their notification;
* a lost listening connection flushes the cache and turns it off: reads
  go to the database until a new connection is listening again (tried at
  most every `RETRY_SECONDS`).

The cache is a bounded LRU (`READ_CACHE_SIZE` entries, 0 turns it off).
SQLite is not cached: its reads are local and already cheap.
"""
import logging
import os
import select
import threading
import time
import weakref
from collections import OrderedDict
from typing import (Any, Callable, Dict, FrozenSet, List, Optional, Set,
                    Tuple)

logger = logging.getLogger(__name__)

CHANNEL = "session_api_rows"
"""The NOTIFY channel of migration `0006_change_notify`."""
TABLES = {"User": "users", "UserSession": "user_sessions",
          "Authenticator": "authenticators"}
"""The record kinds cached, and the table whose triggers keep each true."""
ABSENCE_CACHED = frozenset({"Authenticator"})
"""Kinds whose triggers notify inserts too (migration `0007_factor_notify`),
so that "no such id" can be cached as well: the insert of that id evicts
it. A user without a second factor is then known without a query."""
UNIQUE_LOOKUPS: Dict[str, FrozenSet[FrozenSet[str]]] = {
    "User": frozenset({frozenset({"email"}), frozenset({"email_key"})}),
    "UserSession": frozenset({frozenset({"session_id"})}),
}
"""The `find` lookups whose answer is cached: those on a unique value."""
RETRY_SECONDS = 2.0
"""How long a lost listener waits before the next attempt to reconnect."""
SYNC_TIMEOUT_SECONDS = 5.0
"""The longest wait for the answer of a sync; past it the listener is
counted as lost (the cache flushed, reads go to the database)."""
IDLE_READ_SECONDS = 0.5
"""How often a listener's reader thread applies what has arrived, so that
a process without requests still reads its notifications: PostgreSQL
cannot trim its NOTIFY queue (shared by the whole server) past a listener
that stopped reading."""
MISMATCH_RETRY_SECONDS = 60.0
"""How long a listener found on another database waits before the next
attempt (the error is logged at each)."""
IDLE_READ_BUDGET_SECONDS = 0.05
"""The longest a reader thread holds the cache for one pass."""

IDENTITY_SQL = "SELECT current_database(), pg_postmaster_start_time()"
"""What the listener and the store must agree on: the same database of the
same running server (its start time tells two servers apart)."""

Record = Dict[str, Any]
_Key = Tuple[str, Any]
_caches: "weakref.WeakSet[RowCache]" = weakref.WeakSet()
_orphans: List[Any] = []
_MISMATCH = object()
"""What `RowCache._open_listener` returns for a listener on the wrong
database."""
_request = threading.local()
"""Per thread: `synced`, the caches that made their round trip in the
current request (None outside a request: then every lookup makes one)."""


def begin_request() -> None:
    """Start a request on this thread: its first lookup will sync.

    Called by `SyncMiddleware` as a request arrives, ahead of Flask.
    Returns None.
    """
    _request.synced = set()
    _request.started = []


def end_request(exc: Optional[BaseException] = None) -> None:
    """End the request of this thread; read any sync it left unread.

    A sync sent by `RowCache.start_sync` whose answer no lookup needed
    (a public path, credentials refused early) is read here, so the
    listening connection is idle again for the next request.
    """
    for cache in getattr(_request, "started", None) or ():
        cache.settle()
    _request.synced = None
    _request.started = None


class SyncMiddleware:
    """WSGI middleware that starts the row cache's sync as a request arrives.

    `wsgi_app` is the Flask app's WSGI callable; `cache_of()` returns the
    `RowCache` of the current store, or None. Only requests that carry
    credentials (a `Cookie` or an `Authorization` header) send the sync
    early: they are the ones whose guard reads cached rows. Every request
    is wrapped in `begin_request` / `end_request`.
    """

    def __init__(self, wsgi_app: Callable[..., Any],
                 cache_of: Callable[[], Optional["RowCache"]]) -> None:
        """Wrap `wsgi_app`; `cache_of` is asked once per request."""
        self.wsgi_app = wsgi_app
        self.cache_of = cache_of

    def __call__(self, environ: Dict[str, Any],
                 start_response: Callable[..., Any]) -> Any:
        """Serve one WSGI request between `begin_request` and `end_request`.
        """
        begin_request()
        try:
            if "HTTP_COOKIE" in environ or "HTTP_AUTHORIZATION" in environ:
                cache = self.cache_of()
                if cache is not None:
                    cache.start_sync()
            return self.wsgi_app(environ, start_response)
        finally:
            end_request()


def _after_fork() -> None:
    """In a forked child, drop the parent's listener without closing it.

    Closing would send PostgreSQL a Terminate over the socket the parent
    still uses, so the parent's objects are kept (never finalised).
    """
    for cache in list(_caches):
        cache.forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def libpq_url(database_url: str) -> str:
    """Return `database_url` (a SQLAlchemy URL) as a libpq connection URI.

    `postgresql+psycopg://` and `postgres://` become `postgresql://`; the
    password and query options are kept. Raises `ValueError` for a URL
    that is not PostgreSQL's.
    """
    from sqlalchemy.engine import make_url

    from models.sql_store import engine_url

    url = make_url(engine_url(database_url))
    if url.get_backend_name() != "postgresql":
        raise ValueError("only PostgreSQL can LISTEN")
    return url.set(drivername="postgresql").render_as_string(
        hide_password=False)


class RowCache:
    """Records by id and by unique value, invalidated by NOTIFY.

    `listen_url` is the libpq URI of the listening connection; `size` the
    most entries kept (least recently used dropped first). Thread-safe:
    every method holds one lock, and reading the socket is part of it.
    """

    def __init__(self, listen_url: str, size: int, strict: bool = True,
                 retry_seconds: float = RETRY_SECONDS,
                 identity: Optional[Callable[[], Optional[Tuple[Any, ...]]]]
                 = None) -> None:
        """Create an empty cache; nothing connects until the first lookup.

        `strict` False skips the round trip of `drain` (only what has
        reached the socket is applied: `READ_CACHE_STRICT=0`). `identity`
        returns the store's answer to `IDENTITY_SQL` (None if unknown);
        a listener whose answer differs is not used.
        """
        self.listen_url = listen_url
        self.identity = identity
        self.size = size
        self.strict = strict
        self.retry_seconds = retry_seconds
        self._entries: "OrderedDict[_Key, List[Record]]" = OrderedDict()
        self._by_row: Dict[Tuple[str, str], Set[_Key]] = {}
        self._lock = threading.RLock()
        self._listener: Any = None
        self._pending: Optional[Set[Any]] = None
        self._retry_at = 0.0
        self._connecting = False
        self.generation = 0
        self.hits = 0
        self.misses = 0
        self.flushes = 0
        _caches.add(self)

    @property
    def listening(self) -> bool:
        """Return True while the listening connection is up."""
        return self._listener is not None

    def forget(self) -> None:
        """Drop the listener and entries inherited across a fork."""
        with self._lock:
            if self._listener is not None:
                _orphans.append(self._listener)
            self._listener = None
            self._pending = None
            self._connecting = False
            self._clear()
            self._retry_at = 0.0

    def close(self) -> None:
        """Flush, and close the listening connection (reopened on use)."""
        with self._lock:
            listener, self._listener = self._listener, None
            self._pending = None
            self._clear()
            self._retry_at = 0.0
        if listener is not None:
            _close_quietly(listener)

    def _clear(self) -> None:
        """Drop every entry and move the generation on."""
        self._entries.clear()
        self._by_row.clear()
        self.generation += 1
        self.flushes += 1

    def _connect(self) -> bool:
        """Open the listening connection; return True once it listens.

        Called with the lock held; the connection is made without it, so
        that other threads keep reading the database meanwhile (they find
        no listener and do not cache). A failure, or a listener that
        reaches another database than the store's, leaves the cache off
        until `retry_seconds` have passed.
        """
        now = time.monotonic()
        if now < self._retry_at or self._connecting:
            return False
        self._retry_at = now + self.retry_seconds
        self._connecting = True
        self._lock.release()
        try:
            listener = self._open_listener()
        finally:
            self._lock.acquire()
            self._connecting = False
        if listener is _MISMATCH:
            self._retry_at = time.monotonic() + MISMATCH_RETRY_SECONDS
            return False
        if listener is None:
            return False
        if self._listener is not None:
            _close_quietly(listener)
            return True
        self._clear()
        self._listener = listener
        reader = threading.Thread(target=_read_while_idle,
                                  args=(weakref.ref(self), listener),
                                  name="row-cache-reader", daemon=True)
        reader.start()
        return True

    def _open_listener(self) -> Any:
        """Return a new connection that listens on `CHANNEL`, or None.

        None when PostgreSQL cannot be reached; `_MISMATCH` when the
        connection reaches another database, or another server, than the
        store's (`identity`): NOTIFY does not cross databases, so such a
        listener would never hear a change (logged as an error).
        """
        import psycopg
        listener = None
        try:
            listener = psycopg.connect(
                self.listen_url, autocommit=True, connect_timeout=3,
                keepalives=1, keepalives_idle=10, keepalives_interval=5,
                keepalives_count=3,
                tcp_user_timeout=int(SYNC_TIMEOUT_SECONDS * 1000))
            listener.execute("LISTEN " + CHANNEL)
            if self.identity is not None:
                here = tuple(listener.execute(IDENTITY_SQL).fetchone())
                there = self.identity()
                if there is not None and here != tuple(there):
                    logger.error(
                        "read cache off: DATABASE_LISTEN_URL reaches "
                        "database %s, DATABASE_URL reaches %s; NOTIFY "
                        "does not cross databases", here[0], there[0])
                    _close_quietly(listener)
                    return _MISMATCH
            return listener
        except Exception:  # unreachable, refused, or the store failed
            if listener is not None:
                _close_quietly(listener)
            return None

    def _lost(self) -> None:
        """Flush and stop caching: the listener is gone."""
        listener, self._listener = self._listener, None
        self._pending = None
        self._clear()
        self._retry_at = time.monotonic() + self.retry_seconds
        if listener is not None:
            _close_quietly(listener)

    def start_sync(self) -> None:
        """Send this request's sync now; `drain` reads its answer later.

        Only in strict mode, inside a request (`begin_request`), while
        listening, and when no other sync is in flight on the connection;
        otherwise nothing is sent and `drain` makes the round trip itself.
        The query is sent after the request arrived, so its answer still
        covers every change committed before the request. Returns None; a
        failure to send counts as a lost listener.
        """
        synced = getattr(_request, "synced", None)
        if not self.strict or synced is None or self in synced:
            return
        if not self._lock.acquire(blocking=False):
            return
        try:
            listener = self._listener
            if listener is None or self._pending is not None:
                return
            try:
                _send_sync(listener.pgconn)
            except Exception:  # any failure of the socket means: lost
                self._lost()
                return
            self._pending = synced
            _request.started.append(self)
        finally:
            self._lock.release()

    def settle(self) -> None:
        """Read the answer of a sync still in flight, if there is one."""
        with self._lock:
            if self._pending is None or self._listener is None:
                return
            try:
                self._finish_sync()
                self._apply_arrived()
            except Exception:  # any failure of the socket means: lost
                self._lost()

    def _finish_sync(self) -> None:
        """Wait for the sync in flight; mark its request synced.

        Raises `ConnectionError` when the answer is not the empty query's
        or does not come within `SYNC_TIMEOUT_SECONDS`.
        """
        from psycopg import pq
        pgconn = self._listener.pgconn
        deadline = time.monotonic() + SYNC_TIMEOUT_SECONDS
        statuses = []
        while True:
            pgconn.consume_input()
            while pgconn.is_busy():
                if not _wait(pgconn.socket, deadline=deadline):
                    raise ConnectionError("listener does not answer")
                pgconn.consume_input()
            result = pgconn.get_result()
            if result is None:
                break
            statuses.append(result.status)
        if statuses != [pq.ExecStatus.EMPTY_QUERY]:
            raise ConnectionError("listener lost")
        owner, self._pending = self._pending, None
        owner.add(self)

    def _apply_arrived(self) -> None:
        """Apply every notification that has reached the connection."""
        from psycopg import pq
        pgconn = self._listener.pgconn
        if pgconn.status != pq.ConnStatus.OK:
            raise ConnectionError("listener lost")
        while True:
            notice = pgconn.notifies()
            if notice is None:
                break
            self._apply(notice.extra.decode("utf-8", "replace"))

    def drain(self) -> bool:
        """Apply every change committed so far; return True if live.

        One round trip on the listening connection (an empty query):
        PostgreSQL sends a listener the notifications of every transaction
        committed before a query arrives ahead of that query's answer, so
        when it returns, every change committed before this call (or
        before `start_sync`, which sent it as the request arrived) has
        been applied. Only reading what the socket already holds is not
        enough: the listening backend must first be scheduled, which took
        tens of milliseconds on a loaded machine. Within one request (see
        `begin_request`) the round trip is made once; later lookups only
        read what has arrived since, and so do all lookups when `strict`
        is False. Returns False, with the cache flushed, when there is no
        listening connection (lost, or not yet back), or when the answer
        does not come within `SYNC_TIMEOUT_SECONDS`. Must be called
        without the lock held (a reconnection releases it).
        """
        with self._lock:
            listener = self._listener
            if listener is None:
                return self._connect()
            pgconn = listener.pgconn
            synced = getattr(_request, "synced", None)
            try:
                if self._pending is not None:
                    self._finish_sync()
                if not self.strict or (
                        synced is not None and self in synced):
                    pgconn.consume_input()
                else:
                    _send_sync(pgconn)
                    self._pending = synced if synced is not None else set()
                    self._finish_sync()
                self._apply_arrived()
            except Exception:  # any failure of the socket means: lost
                self._lost()
                return False
            return True

    def _apply(self, payload: str) -> None:
        """Evict what the notification `payload` (`<table> <id>`) names."""
        table, _, row_id = payload.partition(" ")
        kind = next((k for k, t in TABLES.items() if t == table), None)
        if kind is None:
            return
        if row_id == "*":
            self._clear()
            return
        self._evict(kind, row_id)

    def _evict(self, kind: str, row_id: str) -> None:
        """Drop every entry holding row `row_id` of `kind`."""
        keys = self._by_row.pop((kind, row_id), None)
        self.generation += 1
        if not keys:
            return
        for key in keys:
            records = self._entries.pop(key, None)
            for record in records or ():
                other = record.get("id")
                if other != row_id:
                    self._unindex(kind, other, key)

    def evict(self, kind: str, row_ids: List[str]) -> None:
        """Drop the rows `row_ids` of `kind` (this process wrote them)."""
        if kind not in TABLES:
            return
        with self._lock:
            for row_id in row_ids:
                if isinstance(row_id, str):
                    self._evict(kind, row_id)

    def lookup(self, kind: str, key: Any,
               read: Callable[[], List[Record]],
               extra: Optional[List[Tuple[str, Any, List[Record]]]] = None
               ) -> List[Record]:
        """Return the records for `key`, from the cache or from `read()`.

        `key` is `("id", <id>)` or the frozen attributes of a unique
        lookup. `read` asks the database and returns the records found;
        a non-empty answer is cached when no invalidation arrived while
        it was read, and so is every `(kind, key, records)` that `read`
        appended to `extra` (rows the same query read). Copies are
        returned, so callers may change them.
        """
        cache_key = (kind, key)
        live = self.drain()
        with self._lock:
            if live and self._listener is not None:
                records = self._entries.get(cache_key)
                if records is not None:
                    self._entries.move_to_end(cache_key)
                    self.hits += 1
                    return [dict(record) for record in records]
            generation = self.generation
        records = read()
        self.misses += 1
        if live and (records or _absence_cacheable(cache_key) or extra):
            with self._lock:
                if self._listener is not None \
                        and generation == self.generation:
                    if records or _absence_cacheable(cache_key):
                        self._put(cache_key, kind, records)
                    for other_kind, other_key, rows in extra or ():
                        self._put((other_kind, other_key), other_kind, rows)
        return [dict(record) for record in records]

    def _put(self, cache_key: _Key, kind: str,
             records: List[Record]) -> None:
        """Store `records` under `cache_key`, dropping the oldest entries.

        An entry already under `cache_key` is replaced, index included.
        """
        old = self._entries.pop(cache_key, None)
        if old is not None:
            for row_id in _row_ids(cache_key, old):
                self._unindex(kind, row_id, cache_key)
        self._entries[cache_key] = [dict(record) for record in records]
        for row_id in _row_ids(cache_key, records):
            self._by_row.setdefault((kind, row_id), set()).add(cache_key)
        while len(self._entries) > self.size:
            old_key, old = self._entries.popitem(last=False)
            for row_id in _row_ids(old_key, old):
                self._unindex(old_key[0], row_id, old_key)

    def _unindex(self, kind: str, row_id: Any, cache_key: _Key) -> None:
        """Forget that `cache_key` holds row `row_id` of `kind`."""
        held = self._by_row.get((kind, row_id))
        if held is not None:
            held.discard(cache_key)
            if not held:
                del self._by_row[(kind, row_id)]

    def read_idle(self, listener: Any) -> Optional[bool]:
        """Apply what has arrived on `listener`; True if more is waiting.

        Run by the listener's reader thread every `IDLE_READ_SECONDS`, so
        that PostgreSQL can trim its NOTIFY queue while this process has
        no request; it reads until the socket is empty, for at most
        `IDLE_READ_BUDGET_SECONDS` per pass (then True: call again soon).
        None once `listener` is replaced, lost or closed. Reading here
        never takes a sync's answer from the request waiting for it
        (libpq keeps results until asked for).
        """
        with self._lock:
            if self._listener is not listener:
                return None
            pgconn = listener.pgconn
            until = time.monotonic() + IDLE_READ_BUDGET_SECONDS
            try:
                while True:
                    pgconn.consume_input()
                    self._apply_arrived()
                    if not _wait(pgconn.socket, deadline=0.0):
                        return False
                    if time.monotonic() > until:
                        return True
            except Exception:  # any failure of the socket means: lost
                self._lost()
                return None

    def __len__(self) -> int:
        """Return the number of cached entries."""
        return len(self._entries)


def _absence_cacheable(cache_key: _Key) -> bool:
    """Return True if an empty answer under `cache_key` may be cached.

    Only a lookup by id of a kind in `ABSENCE_CACHED`: the notification of
    an insert names the id, which finds the entry to evict.
    """
    kind, key = cache_key
    return kind in ABSENCE_CACHED and key[0] == "id"


def _row_ids(cache_key: _Key, records: List[Record]) -> List[Any]:
    """Return the row ids whose change must evict `cache_key`."""
    ids = [record.get("id") for record in records]
    if not ids and _absence_cacheable(cache_key):
        ids = [cache_key[1][1]]
    return ids


def _send_sync(pgconn: Any) -> None:
    """Send the empty query of a sync on `pgconn` (a psycopg `PGconn`).

    Raises what the socket raises; its answer is read by `_finish_sync`.
    """
    pgconn.send_query(b"")
    deadline = time.monotonic() + SYNC_TIMEOUT_SECONDS
    while pgconn.flush() == 1:
        if not _wait(pgconn.socket, write=True, deadline=deadline):
            raise ConnectionError("listener does not take the sync")


def _close_quietly(connection: Any) -> None:
    """Close a psycopg connection; a dead socket may fail, it is gone."""
    try:
        connection.close()
    except Exception:  # closing is best effort
        pass


def _read_while_idle(cache_ref: "weakref.ref[RowCache]",
                     listener: Any) -> None:
    """Body of a listener's reader thread (see `RowCache.read_idle`).

    Ends when the listener is replaced, lost or closed, or when the cache
    is gone (`cache_ref` is a weak reference, so that the thread keeps
    nothing alive).
    """
    more = False
    while True:
        time.sleep(0 if more else IDLE_READ_SECONDS)
        cache = cache_ref()
        if cache is None:
            return
        more = cache.read_idle(listener)
        del cache
        if more is None:
            return


def _wait(fileno: int, write: bool = False,
          deadline: Optional[float] = None) -> bool:
    """Wait until socket `fileno` is readable (or writable); True if so.

    `deadline` is a `time.monotonic()` value; False when it passes first.
    """
    left = None if deadline is None else max(0.0, deadline - time.monotonic())
    if write:
        return bool(select.select([], [fileno], [], left)[1])
    return bool(select.select([fileno], [], [], left)[0])


def find_key(kind: str, attributes: Record) -> Optional[Any]:
    """Return the cache key of a `find` on a unique value, or None.

    None when the lookup is not one of `UNIQUE_LOOKUPS` (its answer could
    change by an INSERT, which sends no notification) or a value is not a
    non-empty str.
    """
    lookups = UNIQUE_LOOKUPS.get(kind)
    if not lookups or frozenset(attributes) not in lookups:
        return None
    if not all(isinstance(v, str) and v for v in attributes.values()):
        return None
    return tuple(sorted(attributes.items()))


def attach(store: Any, listen_url: Optional[str], size: int,
           strict: bool = True) -> None:
    """Give a PostgreSQL `store` a row cache (or take it away).

    `listen_url` is `Settings.listen_url`; `size` is `READ_CACHE_SIZE`
    (0 turns caching off); `strict` is `READ_CACHE_STRICT`. Other stores
    (SQLite, the JSON files) are left alone. A cache already attached with
    the same settings is kept.
    """
    engine = getattr(store, "engine", None)
    if engine is None or engine.dialect.name != "postgresql":
        return
    current = getattr(store, "row_cache", None)
    if size <= 0 or not listen_url:
        if current is not None:
            current.close()
        store.row_cache = None
        return
    url = libpq_url(listen_url)
    if current is not None and current.listen_url == url \
            and current.size == size and current.strict == strict:
        return
    if current is not None:
        current.close()
    store.row_cache = RowCache(url, size, strict,
                               identity=getattr(store, "identity", None))
