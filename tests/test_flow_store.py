"""The flow store: put/get/take/incr on JSON, SQLite, PostgreSQL and Redis.

Tokens of a second step, challenges and device tokens must work on every
process that shares the stores, be usable once, expire, and never be
stored as given.
"""
import json
import threading
import time

import pytest
import redis as redis_lib

from api.v1.auth.stores.flow import (RecordFlowStore, RedisFlowStore,
                                     flow_key, make_flow_store)
from api.v1.auth.stores.redis_store import RedisSessionStore
from api.v1.config import Settings
from models import base


@pytest.fixture(params=["record", "redis"])
def flows(request, database):
    """Yield a flow store: over the record store, or over Redis."""
    if request.param == "record":
        yield RecordFlowStore()
        return
    if database is not None:
        pytest.skip("Redis needs no second record store")
    url = request.getfixturevalue("redis_url")
    store = RedisSessionStore(url)
    yield RedisFlowStore(store.client, store._call)


def test_put_get_take_once(flows):
    flows.put("mfa", "token-1", {"user_id": "u1", "wrong": 0}, 60)
    assert flows.get("mfa", "token-1") == {"user_id": "u1", "wrong": 0}
    assert flows.get("mfa", "token-2") is None
    assert flows.get("other", "token-1") is None
    assert flows.take("mfa", "token-1") == {"user_id": "u1", "wrong": 0}
    assert flows.take("mfa", "token-1") is None
    assert flows.get("mfa", "token-1") is None


def test_put_replaces_and_delete_removes(flows):
    flows.put("device", "abc", {"user_id": "u1"}, 60)
    flows.put("device", "abc", {"user_id": "u2"}, 60)
    assert flows.get("device", "abc") == {"user_id": "u2"}
    assert flows.delete("device", "abc") is True
    assert flows.delete("device", "abc") is False
    assert flows.get("device", "abc") is None


def test_counters_count_from_their_first_increment(flows):
    assert flows.incr("wrong", "u1", 60) == 1
    assert flows.incr("wrong", "u1", 60) == 2
    assert flows.incr("wrong", "u1", 60, amount=-1) == 1
    assert flows.incr("wrong", "u2", 60) == 1


def test_one_of_many_concurrent_takes_wins(flows):
    flows.put("recovery", "shared-token", {"user_id": "u1"}, 60)
    results = []
    barrier = threading.Barrier(8)

    def take():
        barrier.wait()
        results.append(flows.take("recovery", "shared-token"))
    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r for r in results if r is not None] == [{"user_id": "u1"}]


def test_concurrent_increments_are_all_counted(flows):
    barrier = threading.Barrier(6)

    def bump():
        barrier.wait()
        for _ in range(5):
            flows.incr("aw", "account", 60)
    threads = [threading.Thread(target=bump) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert flows.incr("aw", "account", 60, amount=0) == 30


def test_record_state_expires_and_is_purged(database, frozen_clock):
    flows = RecordFlowStore()
    flows.put("mfa", "old", {"n": 1}, 30)
    assert flows.incr("wrong", "old", 30) == 1
    frozen_clock.advance(31)
    assert flows.get("mfa", "old") is None
    assert flows.take("mfa", "old") is None
    assert flows.incr("wrong", "old", 30) == 1
    flows.put("mfa", "new", {"n": 2}, 30)
    ids = [r["id"] for r in base.get_store().iterate("FlowState")]
    assert flow_key("mfa", "old") not in ids
    assert flow_key("mfa", "new") in ids


def test_redis_state_carries_a_ttl_and_expires(redis_url):
    store = RedisSessionStore(redis_url)
    flows = RedisFlowStore(store.client, store._call)
    flows.put("mfa", "short", {"n": 1}, 1)
    flows.incr("wrong", "short", 1)
    client = redis_lib.Redis.from_url(redis_url)
    keys = client.keys("sa:f:*")
    assert len(keys) == 2
    assert all(0 < client.pttl(key) <= 1000 for key in keys)
    deadline = time.monotonic() + 5
    while flows.get("mfa", "short") is not None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert flows.incr("wrong", "short", 60) == 1


def test_keys_are_stored_hashed(database, redis_url, workdir):
    secret = "raw-device-token-Zq81"
    RecordFlowStore().put("device", secret, {"user_id": "u1"}, 60)
    store = RedisSessionStore(redis_url)
    RedisFlowStore(store.client, store._call).put(
        "device", secret, {"user_id": "u1"}, 60)
    dumped = json.dumps(list(base.get_store().iterate("FlowState")))
    assert secret not in dumped
    client = redis_lib.Redis.from_url(redis_url)
    assert not any(secret.encode() in key for key in client.keys("*"))
    if database is None:
        assert secret not in (workdir / ".db_FlowState.json").read_text()


def test_the_factory_picks_redis_only_with_a_session_store(redis_url):
    assert isinstance(make_flow_store(Settings()), RecordFlowStore)
    assert isinstance(make_flow_store(Settings(session_store_url=redis_url)),
                      RedisFlowStore)
