#!/usr/bin/env python3
"""The flow store: short-lived, single-use state shared by every process.

Second-step tokens, WebAuthn challenges, device tokens, recovery tokens
and counters that must agree across workers and hosts live here, never in
one process (`account-security.md`, common rules). The contract is small:

* `put(kind, key, value, ttl)` stores a JSON object for `ttl` seconds;
* `get(kind, key)` reads it (None once it expired);
* `take(kind, key)` reads and deletes it atomically: of several
  processes taking one key, exactly one gets the value (a token is used
  once, even on two hosts at the same moment);
* `incr(kind, key, ttl)` adds to a counter that starts its `ttl` window
  at its first increment, and returns the new count;
* `delete(kind, key)`.

Keys are never stored as given: each is kept as the SHA-256 of its kind
and key, so a dump of the store holds no token, email or challenge that
could be replayed. Two stores exist: Redis (`SESSION_STORE_URL`; `SET
PX`, `GETDEL`, a Lua `INCR` with `PEXPIRE`), and the record store
(`DATABASE_URL`'s `flow_state` table, else `.db_FlowState.json`), whose
expired rows are purged a few at each write, as sessions are.
"""
import hashlib
import random
import time
from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import Any, Dict, Optional

import orjson

from models import base, clock
from models.store import (Delete, DuplicateRecordError, Insert,
                          RecordConflictError, RecordMissingError, Update)

KIND = "FlowState"
PURGE_SWEEP = 32
_CAS_TRIES = 60
FlowValue = Dict[str, Any]


def flow_key(kind: str, key: str) -> str:
    """Return the stored name of `key` of `kind`: a SHA-256 hex digest."""
    text = "{}:{}".format(kind, key)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class FlowStore(ABC):
    """Short-lived state by kind and key; see the module's contract.

    Every method raises `models.store.StoreUnavailableError` when a
    networked store cannot be reached. `ttl` is in whole seconds (at
    least 1).
    """

    @abstractmethod
    def put(self, kind: str, key: str, value: FlowValue, ttl: int,
            user_id: Optional[str] = None) -> None:
        """Store `value` (a JSON object) under `kind`/`key` for `ttl` s.

        A value already there is replaced. `user_id` names the principal
        the state belongs to, where the store can index it.
        """

    @abstractmethod
    def get(self, kind: str, key: str) -> Optional[FlowValue]:
        """Return the live value of `kind`/`key`, or None."""

    @abstractmethod
    def take(self, kind: str, key: str) -> Optional[FlowValue]:
        """Delete `kind`/`key` and return its live value, or None.

        Atomic: of concurrent takes of one key, one gets the value.
        """

    @abstractmethod
    def incr(self, kind: str, key: str, ttl: int, amount: int = 1) -> int:
        """Add `amount` to the counter `kind`/`key`; return the new count.

        A counter that does not exist (or expired) starts at 0 and lives
        `ttl` seconds from this call; later calls keep its expiry.
        """

    @abstractmethod
    def delete(self, kind: str, key: str) -> bool:
        """Delete `kind`/`key`; return False if it was not there."""

    @abstractmethod
    def clear(self, kind: str) -> int:
        """Delete every key of `kind`; return how many were deleted."""


class RedisFlowStore(FlowStore):
    """Flow state in Redis under `sa:f:<kind>:<sha256>`, each with a TTL.

    The kind is part of the name (it is no secret) so that `clear` can
    find every key of one kind with `SCAN`.
    """

    _INCR = """
local n = redis.call('INCRBY', KEYS[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
"""

    def __init__(self, client: Any, call: Any, prefix: str = "sa:f:"
                 ) -> None:
        """Use the redis-py `client`; `call(work)` maps its failures."""
        self.client = client
        self._call = call
        self.prefix = prefix
        self._incr = client.register_script(self._INCR)

    def _key(self, kind: str, key: str) -> str:
        """Return the Redis key of `kind`/`key`."""
        return "{}{}:{}".format(self.prefix, kind, flow_key(kind, key))

    def put(self, kind: str, key: str, value: FlowValue, ttl: int,
            user_id: Optional[str] = None) -> None:
        """Store `value` with `SET ... PX`."""
        data = orjson.dumps(value)
        name = self._key(kind, key)
        self._call(lambda: self.client.set(name, data,
                                           px=max(1, ttl) * 1000))

    def get(self, kind: str, key: str) -> Optional[FlowValue]:
        """Read the value with `GET`."""
        name = self._key(kind, key)
        return _loads(self._call(lambda: self.client.get(name)))

    def take(self, kind: str, key: str) -> Optional[FlowValue]:
        """Read and delete the value with `GETDEL` (Redis 6.2 or later)."""
        name = self._key(kind, key)
        return _loads(self._call(lambda: self.client.getdel(name)))

    def incr(self, kind: str, key: str, ttl: int, amount: int = 1) -> int:
        """Increment with one script, arming the TTL on a new counter."""
        name = self._key(kind, key)
        return int(self._call(lambda: self._incr(
            keys=[name], args=[max(1, ttl) * 1000, amount])))

    def delete(self, kind: str, key: str) -> bool:
        """Delete with `DEL`."""
        name = self._key(kind, key)
        return bool(self._call(lambda: self.client.delete(name)))

    def clear(self, kind: str) -> int:
        """Delete every key of `kind`, found by `SCAN`."""
        pattern = "{}{}:*".format(self.prefix, kind)

        def work() -> int:
            """Scan and delete in batches."""
            deleted = 0
            batch = []
            for name in self.client.scan_iter(match=pattern, count=500):
                batch.append(name)
                if len(batch) >= 500:
                    deleted += self.client.delete(*batch)
                    batch = []
            if batch:
                deleted += self.client.delete(*batch)
            return deleted
        return int(self._call(work))


def _loads(data: Any) -> Optional[FlowValue]:
    """Return a stored JSON object, or None for no (or a broken) value."""
    if data is None:
        return None
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


class RecordFlowStore(FlowStore):
    """Flow state as records of kind `FlowState` in the record store.

    A record is `{"id": <sha256>, "kind", "user_id", "value": <JSON
    text>, "expires_at", "created_at", "updated_at"}` (times in the
    contract's format, UTC). `take` is a `Delete` whose count says who
    won; `incr` is a compare-and-set update, retried on conflict.
    """

    def put(self, kind: str, key: str, value: FlowValue, ttl: int,
            user_id: Optional[str] = None) -> None:
        """Insert (or replace) the record, purging a few expired ones."""
        now = clock.utcnow()
        record = _record(flow_key(kind, key), kind, user_id,
                         orjson.dumps(value).decode(), now, ttl)
        store = base.get_store()
        expired = [i for i in store.ids_older(
            KIND, {"expires_at": now}, PURGE_SWEEP) if i != record["id"]]
        operations = [Insert(record)]
        if expired:
            operations.append(Delete(tuple(expired)))
        store.apply(KIND, operations)

    def _live(self, record_id: str) -> Optional[Dict[str, Any]]:
        """Return the stored record `record_id` if it has not expired."""
        record = base.get_store().get(KIND, record_id)
        if record is None or _expired(record, clock.utcnow()):
            return None
        return record

    def get(self, kind: str, key: str) -> Optional[FlowValue]:
        """Return the value of the live record, or None."""
        record = self._live(flow_key(kind, key))
        return None if record is None else _loads(record.get("value"))

    def take(self, kind: str, key: str) -> Optional[FlowValue]:
        """Delete the record; return its value only if this call did."""
        record_id = flow_key(kind, key)
        record = self._live(record_id)
        if record is None:
            return None
        deleted = base.get_store().apply(KIND, [Delete((record_id,))])
        return _loads(record.get("value")) if deleted[0] == 1 else None

    def incr(self, kind: str, key: str, ttl: int, amount: int = 1) -> int:
        """Create the counter or compare-and-set it; retry on a race.

        A lost race waits a few random milliseconds (growing with each
        try) so that contenders spread out. Raises `RecordConflictError`
        after 60 lost races in a row.
        """
        record_id = flow_key(kind, key)
        store = base.get_store()
        for tries in range(_CAS_TRIES):
            if tries:
                time.sleep(random.uniform(0, 0.001 * min(tries, 10)))
            now = clock.utcnow()
            record = store.get(KIND, record_id)
            if record is None or _expired(record, now):
                fresh = _record(record_id, kind, None, str(amount), now, ttl)
                operations = [Insert(fresh, replace=False)]
                if record is not None:
                    operations.insert(0, Delete((record_id,)))
                try:
                    store.apply(KIND, operations)
                    return amount
                except DuplicateRecordError:
                    continue
            count = _count(record.get("value")) + amount
            try:
                store.apply(KIND, [Update(
                    record_id, {"value": str(count)},
                    {"value": record.get("value")})])
                return count
            except (RecordConflictError, RecordMissingError):
                continue
        raise RecordConflictError("counter {} is too busy".format(kind))

    def delete(self, kind: str, key: str) -> bool:
        """Delete the record; False if there was none."""
        deleted = base.get_store().apply(
            KIND, [Delete((flow_key(kind, key),))])
        return deleted[0] == 1

    def clear(self, kind: str) -> int:
        """Delete every record of `kind` in one write."""
        store = base.get_store()
        ids = tuple(record["id"] for record in store.find(KIND,
                                                          {"kind": kind}))
        return store.apply(KIND, [Delete(ids)])[0] if ids else 0


def _record(record_id: str, kind: str, user_id: Optional[str], value: str,
            now: datetime, ttl: int) -> Dict[str, Any]:
    """Return a `FlowState` record expiring `ttl` seconds after `now`."""
    stamp = base.format_timestamp(now)
    return {"id": record_id, "kind": kind, "user_id": user_id,
            "value": value,
            "expires_at": base.format_timestamp(
                now + timedelta(seconds=max(1, ttl))),
            "created_at": stamp, "updated_at": stamp}


def _expired(record: Dict[str, Any], now: datetime) -> bool:
    """Return True if `record` expired at `now` (or has no expiry)."""
    value = record.get("expires_at")
    try:
        moment = (value if isinstance(value, datetime)
                  else datetime.fromisoformat(value))
    except (TypeError, ValueError):
        return True
    return moment <= now


def _count(value: Any) -> int:
    """Return the integer a counter record holds (0 if unreadable)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def make_flow_store(settings: Any, session_store: Any = None) -> FlowStore:
    """Return the flow store the settings name.

    Redis when `SESSION_STORE_URL` is set (the session store's client is
    reused when it is that Redis), else the record store.
    """
    url = settings.session_store_url
    if url:
        from api.v1.auth.stores.redis_store import RedisSessionStore
        redis_store = (session_store
                       if isinstance(session_store, RedisSessionStore)
                       else RedisSessionStore(
                           url, timeout=settings.store_timeout_seconds))
        return RedisFlowStore(redis_store.client, redis_store._call)
    return RecordFlowStore()
