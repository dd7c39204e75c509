#!/usr/bin/env python3
"""Session hashes read from process memory, kept true by Redis itself.

Server-assisted client-side caching (Redis `CLIENT TRACKING`, RESP3):
one dedicated connection per process reads session hashes with tracking
on, so Redis remembers which keys this connection holds and sends it an
`invalidate` push message as soon as any client, on any host (the API,
the CLI, `redis-cli`), changes, deletes or expires one of them.

redis-py's own `cache_config` needs Redis 7.4 or later (it refuses 7.0,
which this project runs), so this module drives the push messages itself
through redis-py's RESP3 connection and parser:

* a cached hash is used only on the connection whose invalidations have
  been read, and the pending ones are read (a non-blocking poll of its
  socket) before every hit is trusted;
* replies and pushes arrive in order on that one connection, so a push
  that overtakes a read is applied before the read's answer is cached;
* a lost connection, or one redis-py reopened (tracking is per
  connection), flushes the cache; reads then go through the ordinary pool
  until tracking is set up again (tried at most every `RETRY_SECONDS`);
* only existing sessions are cached, at most `size` of them (LRU); this
  process's own writes evict their keys at once.
"""
import os
import threading
import time
import weakref
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import redis
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

RETRY_SECONDS = 2.0
"""How long a lost tracking connection waits before the next attempt."""

_readers: "weakref.WeakSet[TrackedReads]" = weakref.WeakSet()
_orphans: List[Any] = []


def _after_fork() -> None:
    """In a forked child, drop the parent's connection without closing it."""
    for reader in list(_readers):
        reader.forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class TrackedReads:
    """`HMGET` answers of one Redis, cached under client-side tracking.

    `url` names the Redis (`redis://host:port/db`), `size` the most keys
    kept (least recently used dropped first). Thread-safe: one lock covers
    the connection and the cache.
    """

    def __init__(self, url: str, size: int,
                 retry_seconds: float = RETRY_SECONDS,
                 timeout: float = 2) -> None:
        """Prepare the cache; nothing connects until the first read.

        `timeout` (seconds, `STORE_TIMEOUT_SECONDS`) bounds each connect
        and command of the tracking connection.
        """
        self.size = size
        self.retry_seconds = retry_seconds
        self._pool = redis.ConnectionPool.from_url(
            url, protocol=3, decode_responses=True, socket_timeout=timeout,
            socket_connect_timeout=timeout)
        self._entries: "OrderedDict[str, List[Optional[str]]]" = \
            OrderedDict()
        self._lock = threading.RLock()
        self._conn: Any = None
        self._retry_at = 0.0
        self._pid = os.getpid()
        self.client_id: Optional[int] = None
        self.hits = 0
        self.misses = 0
        self.flushes = 0
        _readers.add(self)

    @property
    def tracking(self) -> bool:
        """Return True while the tracking connection is up."""
        return self._conn is not None

    def forget(self) -> None:
        """Drop a connection inherited across a fork, and every entry."""
        with self._lock:
            if self._conn is not None:
                _orphans.append(self._conn)
            self._conn = None
            self._flush()
            self._retry_at = 0.0
            self._pid = os.getpid()

    def close(self) -> None:
        """Flush and close the tracking connection (reopened on use)."""
        with self._lock:
            conn, self._conn = self._conn, None
            self._flush()
        if conn is not None:
            conn.disconnect()

    def _flush(self) -> None:
        """Drop every cached entry."""
        self._entries.clear()
        self.flushes += 1

    def _on_connect(self, conn: Any) -> None:
        """Turn tracking on for a (re)opened connection; flush the cache.

        redis-py calls this on every connect, including one it makes by
        itself after a disconnect: whatever was cached came from the old
        connection, whose invalidations are lost.
        """
        self._flush()
        conn.send_command("CLIENT", "TRACKING", "ON")
        if conn.read_response() != "OK":
            raise RedisError("CLIENT TRACKING was refused")
        conn.send_command("CLIENT", "ID")
        self.client_id = int(conn.read_response())

    def _on_invalidate(self, message: Sequence[Any]) -> None:
        """Apply an `invalidate` push: its keys, or None for everything."""
        keys = message[1] if len(message) > 1 else None
        if keys is None:
            self._flush()
            return
        for key in keys:
            if isinstance(key, bytes):
                key = key.decode("utf-8", "replace")
            self._entries.pop(key, None)

    def _lost(self) -> None:
        """Flush, close, and wait `retry_seconds` before tracking again."""
        conn, self._conn = self._conn, None
        self._flush()
        self._retry_at = time.monotonic() + self.retry_seconds
        if conn is not None:
            try:
                conn.disconnect()
            except (RedisError, OSError):
                pass

    def _ready(self) -> Any:
        """Return the tracking connection with its pushes read, or None.

        None when it cannot be had now (lost, refused, or waiting for the
        next attempt); the cache is empty then.
        """
        if self._pid != os.getpid():
            self.forget()
        conn = self._conn
        if conn is None:
            now = time.monotonic()
            if now < self._retry_at:
                return None
            self._retry_at = now + self.retry_seconds
            conn = self._pool.make_connection()
            conn._parser.set_invalidation_push_handler(self._on_invalidate)
            conn.register_connect_callback(self._on_connect)
            try:
                conn.connect()
            except (RedisError, OSError):
                self._flush()
                return None
            self._conn = conn
            return conn
        try:
            if getattr(conn, "_sock", None) is None:
                raise RedisError("tracking connection closed")
            while conn.can_read(timeout=0):
                try:
                    conn.read_response(push_request=True, timeout=0,
                                       disconnect_on_error=False)
                except RedisTimeoutError:
                    break
        except (RedisError, OSError):
            self._lost()
            return None
        return conn

    def hmget(self, key: str, fields: Sequence[str]
              ) -> Optional[List[Optional[str]]]:
        """Return `HMGET key *fields`, from the cache when it is true.

        Returns None when the tracking connection is unavailable: the
        caller then reads through its own client. An answer whose first
        field is missing (no such key) is returned but not cached.
        """
        with self._lock:
            conn = self._ready()
            if conn is None:
                return None
            cached = self._entries.get(key)
            if cached is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return list(cached)
            try:
                conn.send_command("HMGET", key, *fields)
                values = conn.read_response()
            except (RedisError, OSError):
                self._lost()
                return None
            self.misses += 1
            if values and values[0] is not None and self.size > 0:
                self._entries[key] = list(values)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
            return list(values)

    def evict(self, keys: Sequence[str]) -> None:
        """Drop `keys` now (this process changed them)."""
        with self._lock:
            for key in keys:
                self._entries.pop(key, None)

    def stats(self) -> Dict[str, int]:
        """Return the counters: entries, hits, misses, flushes."""
        return {"entries": len(self._entries), "hits": self.hits,
                "misses": self.misses, "flushes": self.flushes}
