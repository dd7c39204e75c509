#!/usr/bin/env python3
"""Redis session store: sessions shared by every worker and every host.

Chosen by `SESSION_STORE_URL=redis://host:port/db` (the db number is
honoured). Layout, with prefix `sa:` and `h` the SHA-256 hex digest of the
session id (the id itself is never stored, so a dump of Redis holds no
usable cookie):

* `sa:s:<h>`, a hash `uid`, `epoch`, `created`, `seen`, `auth` (times in
  milliseconds since 1970, UTC), `amr` (method names joined by commas),
  `ip` and `ua` (the user agent), expiring by itself when the session
  does (`PEXPIRE`), so no purge is needed;
* `sa:u:<uid>`, a sorted set of the user's handles scored by expiry, for
  listing and revoking; it prunes itself at each login and expires after
  the user's last session.

Every change is one Lua script, so it is atomic; a touch only updates a
session that still exists and never brings a deleted one back. Nothing
relies on keyspace notifications. The scripts name keys they build (the
per-user index), so they fit a single Redis or Sentinel, not Cluster.

With `cache_size` > 0 (`READ_CACHE_SIZE`), session lookups are served
from process memory under Redis client-side tracking (`redis_tracking`),
which Redis keeps true by invalidation push messages.
"""
import logging
from datetime import datetime, timedelta
from typing import Any, Callable, List, Optional, Tuple

from api.v1.auth.stores.base import (Cutoffs, SessionRecord, SessionStore,
                                     session_handle)
from api.v1.auth.stores.redis_client import classify, make_redis
from api.v1.auth.stores.redis_tracking import TrackedReads
from models import clock
from models.store_health import breaker

logger = logging.getLogger(__name__)

PREFIX = "sa:"
_EPOCH = datetime(1970, 1, 1)
_MARGIN_MS = 1000
"""Redis keeps a session this long past its expiry, so that the Python
rule, which is exact, always decides first."""

_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'uid', ARGV[2], 'epoch', ARGV[3],
           'created', ARGV[4], 'seen', ARGV[5], 'amr', ARGV[9],
           'auth', ARGV[10], 'ip', ARGV[11], 'ua', ARGV[12])
local ttl = tonumber(ARGV[6])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[8])
local top = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
if top[2] == nil or top[2] == 'inf' then
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl + 1000)
  else redis.call('PERSIST', KEYS[2]) end
else
  redis.call('PEXPIRE', KEYS[2],
             math.max(1, tonumber(top[2]) - tonumber(ARGV[8]) + 1000))
end
return 1
"""

_TOUCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'seen', ARGV[2])
local ttl = tonumber(ARGV[3])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
redis.call('ZADD', KEYS[2], 'XX', ARGV[4], ARGV[1])
local left = redis.call('PTTL', KEYS[2])
if left > 0 and ttl > left then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
"""

_AUTH_TIME = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'auth', ARGV[1])
return 1
"""

_DELETE = """
local uid = redis.call('HGET', KEYS[1], 'uid')
if not uid then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[1] .. 'u:' .. uid, ARGV[2])
return 1
"""

_DELETE_HANDLES = """
local deleted = 0
for i = 1, #ARGV - 1 do
  local handle = ARGV[i + 1]
  if redis.call('ZREM', KEYS[1], handle) == 1 then
    deleted = deleted + redis.call('DEL', ARGV[1] .. 's:' .. handle)
  end
end
return deleted
"""


FIELDS = ("uid", "epoch", "created", "seen", "amr", "auth", "ip", "ua")
"""The fields of a session hash, in the order `_from_hash` reads them."""


def _from_hash(values: List[Optional[str]]) -> Optional[SessionRecord]:
    """Return the record of a session hash read as `FIELDS`, or None.

    None also for a hash whose numbers do not parse (changed by hand):
    that session is refused, fails closed, and the user's other sessions
    and logins go on (one warning is logged, without the key).
    """
    uid, epoch, created, seen, amr, auth, ip, agent = values
    if uid is None:
        return None
    try:
        return SessionRecord(uid, _moment(created), _moment(seen),
                             int(epoch) if epoch else None,
                             tuple(amr.split(",")) if amr else None,
                             _moment(auth), ip or None, agent or None)
    except (ValueError, TypeError, OverflowError, AttributeError):
        logger.warning("an unreadable session hash was taken as no session")
        return None


def _ms(moment: Optional[datetime]) -> Optional[int]:
    """Return a naive UTC datetime as milliseconds since 1970, or None."""
    if moment is None:
        return None
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _moment(value: Optional[str]) -> Optional[datetime]:
    """Return milliseconds since 1970 (text) as a naive UTC datetime."""
    if not value:
        return None
    return _EPOCH + timedelta(milliseconds=int(value))


class RedisSessionStore(SessionStore):
    """Session records in Redis, keyed by the SHA-256 of the session id.

    Connections come from redis-py's pool (it reconnects by itself, and
    after a fork); a call that cannot reach Redis within `timeout`
    seconds, or that Redis refuses for now (`READONLY`, `OOM`), raises
    `StoreUnavailableError`, which the API answers with 503. Calls go
    through the `sessions` breaker of `models.store_health`.
    """

    def __init__(self, url: str, prefix: str = PREFIX,
                 timeout: float = 0.5, stale_ttl: int = 2592000,
                 cache_size: int = 0) -> None:
        """Connect lazily to the Redis of `url`.

        `url` is `redis://host:port/db` or `redis+sentinel://host:port/
        <service>` (see `redis_client`); `timeout` (seconds,
        `STORE_TIMEOUT_SECONDS`) bounds each connect and command;
        `stale_ttl` (seconds, `SESSION_STORE_TTL`) is the lifetime that
        `purge` gives keys written without one; `cache_size` > 0 caches
        up to that many sessions in this process under client-side
        tracking (0 reads Redis at every lookup). Raises `ValueError` for
        a malformed URL.
        """
        self.url = url
        self.tracked: Optional[TrackedReads] = None
        if cache_size > 0 and url.startswith(("redis://", "rediss://")):
            # Behind Sentinel the master moves; lookups read it directly.
            self.tracked = TrackedReads(url, cache_size, timeout=timeout)
        self.prefix = prefix
        self.stale_ttl = stale_ttl
        self.client = make_redis(url, timeout)
        self._create = self.client.register_script(_CREATE)
        self._touch = self.client.register_script(_TOUCH)
        self._delete = self.client.register_script(_DELETE)
        self._auth_time = self.client.register_script(_AUTH_TIME)
        self._delete_handles = self.client.register_script(_DELETE_HANDLES)

    def _session_key(self, handle: str) -> str:
        """Return the key of the session whose handle is `handle`."""
        return self.prefix + "s:" + handle

    def _index_key(self, user_id: str) -> str:
        """Return the key of the per-user index of `user_id`."""
        return self.prefix + "u:" + user_id

    @staticmethod
    def _call(work: Callable[[], Any]) -> Any:
        """Run `work` through the `sessions` breaker; return its result.

        Raises `StoreUnavailableError` when Redis cannot serve (see
        `redis_client.classify`) or while the breaker is open.
        """
        return breaker("sessions").call(work, classify)

    @staticmethod
    def _ttl_ms(expires_at: Optional[datetime], now: datetime) -> int:
        """Return the key lifetime for `expires_at` (0: no expiry)."""
        if expires_at is None:
            return 0
        return max(1, _ms(expires_at) - _ms(now) + _MARGIN_MS)

    def get(self, session_id: str) -> Optional[SessionRecord]:
        """Return the record of `session_id` (one HMGET), or None."""
        key = self._session_key(session_handle(session_id))
        if self.tracked is not None:
            values = self.tracked.hmget(key, FIELDS)
            if values is not None:
                return _from_hash(values)
        return _from_hash(self._call(
            lambda: self.client.hmget(key, *FIELDS)))

    def _evict(self, handles: List[str]) -> None:
        """Drop the cached sessions `handles`, which this process changes."""
        if self.tracked is not None:
            self.tracked.evict([self._session_key(h) for h in handles])

    def create(self, session_id: str, record: SessionRecord,
               expires_at: Optional[datetime] = None,
               cutoffs: Optional[Cutoffs] = None) -> bool:
        """Store a new session and index it under its user (one script)."""
        handle = session_handle(session_id)
        now = clock.utcnow()
        score = "inf" if expires_at is None else str(_ms(expires_at))
        args = [handle, record.user_id,
                "" if record.epoch is None else str(record.epoch),
                str(_ms(record.created_at or now)),
                str(_ms(record.last_seen or now)),
                str(self._ttl_ms(expires_at, now)), score, str(_ms(now)),
                ",".join(record.amr or ()),
                "" if record.auth_time is None
                else str(_ms(record.auth_time)),
                record.ip or "", record.user_agent or ""]
        keys = [self._session_key(handle), self._index_key(record.user_id)]
        return bool(self._call(lambda: self._create(keys=keys, args=args)))

    def touch(self, session_id: str, last_seen: datetime,
              expires_at: Optional[datetime] = None) -> bool:
        """Record a use and re-arm the expiry, if the session exists."""
        handle = session_handle(session_id)
        record = self.get(session_id)
        if record is None:
            return False
        score = "inf" if expires_at is None else str(_ms(expires_at))
        keys = [self._session_key(handle), self._index_key(record.user_id)]
        args = [handle, str(_ms(last_seen)),
                str(self._ttl_ms(expires_at, clock.utcnow())), score]
        self._evict([handle])
        return bool(self._call(lambda: self._touch(keys=keys, args=args)))

    def set_auth_time(self, session_id: str, auth_time: datetime) -> bool:
        """Move the session's `auth` field, if it exists (one script)."""
        handle = session_handle(session_id)
        key = self._session_key(handle)
        self._evict([handle])
        return bool(self._call(lambda: self._auth_time(
            keys=[key], args=[str(_ms(auth_time))])))

    def delete(self, session_id: str) -> bool:
        """Delete the session and its index entry (one script)."""
        handle = session_handle(session_id)
        self._evict([handle])
        return bool(self._call(lambda: self._delete(
            keys=[self._session_key(handle)], args=[self.prefix, handle])))

    def sessions_of(self, user_id: str) -> List[Tuple[str, SessionRecord]]:
        """Return the user's sessions; drop index entries that are gone."""
        index = self._index_key(user_id)

        def work() -> List[Tuple[str, SessionRecord]]:
            """Read the index, then every session hash in one pipeline."""
            handles = self.client.zrange(index, 0, -1)
            pipe = self.client.pipeline(transaction=False)
            for handle in handles:
                pipe.hmget(self._session_key(handle), *FIELDS)
            found, stale = [], []
            for handle, values in zip(handles, pipe.execute()):
                record = _from_hash(values)
                if record is None:
                    stale.append(handle)
                    continue
                found.append((handle, record))
            if stale:
                self.client.zrem(index, *stale)
            return found
        return self._call(work)

    def delete_by_handles(self, user_id: str, handles: List[str]) -> int:
        """Delete the user's sessions named by `handles` (one script)."""
        if not handles:
            return 0
        self._evict(list(handles))
        return int(self._call(lambda: self._delete_handles(
            keys=[self._index_key(user_id)],
            args=[self.prefix] + list(handles))))

    def purge(self, cutoffs: Cutoffs) -> int:
        """Give a TTL to session keys written without one; return 0.

        Redis drops expired sessions by itself; keys of an older version
        that never expire (`TTL` -1) get `stale_ttl` seconds, so that no
        session key lives forever (account-security §8.3). Found with
        `SCAN`, so Redis is never blocked.
        """
        def work() -> int:
            """Scan the session and index keys; arm the ones with no TTL.
            """
            fixed = 0
            for pattern in (self.prefix + "s:*", self.prefix + "u:*"):
                for name in self.client.scan_iter(match=pattern,
                                                  count=500):
                    if self.client.ttl(name) == -1:
                        fixed += self.client.expire(name, self.stale_ttl,
                                                    nx=True)
            return fixed
        self._call(work)
        return 0

    def ping(self) -> bool:
        """Return True if Redis answers now."""
        return bool(self._call(self.client.ping))
