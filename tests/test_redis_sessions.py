"""Sessions in Redis (`SESSION_STORE_URL`), against a real Redis server."""
import hashlib
import logging
import os
import shutil
import subprocess
import time

import pytest
import redis
import requests

from api.v1.auth.session_auth import SessionAuth
from api.v1.auth.session_exp_auth import SessionExpAuth
from api.v1.auth.stores.redis_store import RedisSessionStore
from api.v1.config import Settings
from conftest import (SESSION_TYPES, api_server, create_user, free_port,
                      login, session_id_of, wait_until)

ME = "/api/v1/users/me"


def keys_and_values(client):
    """Return every key of the db and every value of its hashes/sets."""
    found = []
    for key in client.scan_iter():
        found.append(key)
        kind = client.type(key)
        if kind == b"hash":
            found += list(client.hgetall(key).values())
        elif kind == b"zset":
            found += client.zrange(key, 0, -1)
    return b" ".join(found)


@pytest.mark.parametrize("auth_type", SESSION_TYPES)
def test_every_session_type_keeps_its_sessions_in_redis(
        make_app, auth_type, redis_url, workdir):
    user = create_user()
    app = make_app(auth_type, session_store_url=redis_url,
                   session_duration=600)
    client = app.test_client()
    session_id = session_id_of(login(client))
    me = client.get(ME)
    assert (me.status_code, me.get_json()) == (200, user.to_json())
    db = redis.Redis.from_url(redis_url)
    handle = hashlib.sha256(session_id.encode()).hexdigest()
    assert db.hget("sa:s:" + handle, "uid") == user.id.encode()
    assert db.zscore("sa:u:" + user.id, handle) is not None
    assert session_id.encode() not in keys_and_values(db)   # only hashes
    assert SessionAuth.user_id_by_session_id == {}
    assert not (workdir / ".db_UserSession.json").exists()
    assert client.delete("/api/v1/auth_session/logout").status_code == 200
    assert not db.exists("sa:s:" + handle)
    assert db.zscore("sa:u:" + user.id, handle) is None


def test_the_db_number_of_the_url_is_honoured(make_app, redis_url):
    user = create_user()
    app = make_app("session_auth", session_store_url=redis_url)
    session_id = session_id_of(login(app.test_client()))
    handle = hashlib.sha256(session_id.encode()).hexdigest()
    base_url, db = redis_url.rsplit("/", 1)
    assert redis.Redis.from_url(redis_url).exists("sa:s:" + handle)
    other = redis.Redis.from_url("{}/{}".format(base_url,
                                                (int(db) + 1) % 16))
    assert not other.exists("sa:s:" + handle)
    assert user.id


def test_redis_expires_sessions_by_itself(make_app, redis_url):
    create_user()
    app = make_app("session_exp_auth", session_store_url=redis_url,
                   session_duration=600, session_idle_timeout=120)
    session_id = session_id_of(login(app.test_client()))
    db = redis.Redis.from_url(redis_url)
    key = "sa:s:" + hashlib.sha256(session_id.encode()).hexdigest()
    ttl = db.pttl(key)
    assert 119_000 < ttl <= 121_000             # the idle timeout, in ms
    longer = make_app("session_exp_auth", session_store_url=redis_url,
                      session_duration=60)
    key2 = "sa:s:" + hashlib.sha256(session_id_of(login(
        longer.test_client())).encode()).hexdigest()
    assert 59_000 < db.pttl(key2) <= 61_000      # the lifetime
    forever = make_app("session_auth", session_store_url=redis_url)
    key3 = "sa:s:" + hashlib.sha256(session_id_of(login(
        forever.test_client())).encode()).hexdigest()
    # No expiry by rule, as contracted, but the store drops a session
    # unused for SESSION_STORE_TTL (30 days; account-security §8.3).
    assert 2_591_000_000 < db.pttl(key3) <= 2_592_001_000


def test_a_touch_rearms_the_idle_expiry(make_app, redis_url, frozen_clock):
    create_user()
    app = make_app("session_exp_auth", session_store_url=redis_url,
                   session_duration=3600, session_idle_timeout=100)
    client = app.test_client()
    session_id = session_id_of(login(client))
    key = "sa:s:" + hashlib.sha256(session_id.encode()).hexdigest()
    db = redis.Redis.from_url(redis_url)
    frozen_clock.advance(60)
    assert client.get(ME).status_code == 200      # touched: 100 s again
    assert db.pttl(key) > 90_000
    assert int(db.hget(key, "seen")) > int(db.hget(key, "created"))
    frozen_clock.advance(101)
    assert client.get(ME).status_code == 403


def test_the_user_index_cleans_itself(redis_url, frozen_clock):
    store = RedisSessionStore(redis_url)
    auth = SessionExpAuth(Settings(session_duration=60), store)
    old = [auth.create_session("u1") for _ in range(3)]
    db = redis.Redis.from_url(redis_url)
    assert db.zcard("sa:u:u1") == 3
    frozen_clock.advance(120)                     # all three expired
    for session_id in old:                        # as Redis would
        db.delete("sa:s:" + hashlib.sha256(session_id.encode()).hexdigest())
    auth.create_session("u1")                     # prunes on create
    assert db.zcard("sa:u:u1") == 1
    db.zadd("sa:u:u1", {"f" * 64: 1e18})          # an index entry gone bad
    assert len(store.sessions_of("u1")) == 1      # repaired on read
    assert db.zcard("sa:u:u1") == 1
    assert db.pttl("sa:u:u1") > 0                 # the index expires too


def test_a_touch_never_brings_back_a_deleted_session(redis_url,
                                                     frozen_clock):
    from api.v1.auth.stores.base import SessionRecord
    store = RedisSessionStore(redis_url)
    now = frozen_clock()
    assert store.create("sid", SessionRecord("u1", now, now, 1))
    assert store.delete("sid")
    assert store.touch("sid", now) is False
    assert store.get("sid") is None
    assert store.create("sid", SessionRecord("u1", now, now, 1))
    assert not store.create("sid", SessionRecord("u2", now, now, 1))


def test_list_and_revoke_sessions_over_redis(make_app, redis_url):
    create_user()
    app = make_app("session_db_auth", session_store_url=redis_url,
                   session_duration=600)
    clients = [app.test_client() for _ in range(3)]
    ids = [session_id_of(login(c)) for c in clients]
    listed = clients[0].get("/api/v1/auth_session/sessions").get_json()
    assert sorted(s["id"] for s in listed) == sorted(
        hashlib.sha256(i.encode()).hexdigest() for i in ids)
    response = clients[0].delete("/api/v1/auth_session/sessions")
    assert (response.status_code, response.get_json()) == (
        200, {"revoked": 2})
    assert [c.get(ME).status_code for c in clients] == [200, 403, 403]


def test_each_refused_session_logs_one_line(make_app, redis_url, caplog,
                                            frozen_clock):
    create_user()
    app = make_app("session_exp_auth", session_store_url=redis_url,
                   session_duration=60)
    expiring = session_id_of(login(app.test_client()))
    frozen_clock.advance(61)
    checker = app.test_client()
    events = []
    for cookie in (expiring, expiring, "dropped-by-redis"):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="api.auth"):
            checker.set_cookie("_my_session_id", cookie)
            assert checker.get(ME).status_code == 403
        lines = [r.getMessage() for r in caplog.records
                 if r.name == "api.auth"]
        assert len(lines) == 1, lines
        events.append(lines[0].split()[1])
    assert events == ["event=session_expired", "event=session_expired",
                      "event=session_refused"]


@pytest.mark.skipif(shutil.which("redis-server") is None,
                    reason="redis-server is not installed")
def test_redis_down_answers_503_then_recovers(workdir):
    port = free_port()
    url = "redis://127.0.0.1:{}/0".format(port)

    def start_redis():
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(url)

        def pongs():
            try:
                return client.ping()
            except redis.ConnectionError:
                return False
        try:
            wait_until(pongs, 30, "redis-server to start")
        except AssertionError:
            proc.terminate()
            proc.wait()
            raise
        return proc

    def stop(proc):
        proc.terminate()
        proc.wait(timeout=10)

    create_user("bob@hbtn.io", "H0lberton!")
    redis_proc = start_redis()
    try:
        with api_server(workdir, AUTH_TYPE="session_exp_auth",
                        SESSION_STORE_URL=url,
                        SESSION_DURATION="600",
                        STORE_RETRY_SECONDS="0.1") as server:
            base = server.url + "/api/v1"
            answer = requests.post(base + "/auth_session/login", data={
                "email": "bob@hbtn.io", "password": "H0lberton!"})
            jar = {"_my_session_id": answer.cookies["_my_session_id"]}
            stop(redis_proc)                       # Redis goes away
            down = requests.get(base + "/users/me", cookies=jar)
            assert (down.status_code, down.json()) == (
                503, {"error": "Service unavailable"})
            assert "Traceback" not in down.text
            redis_proc = start_redis()             # empty: sessions lost
            for _ in range(100):     # the breaker retries after 0.1 s
                login = requests.post(base + "/auth_session/login", data={
                    "email": "bob@hbtn.io", "password": "H0lberton!"})
                if login.status_code != 503:
                    break
                time.sleep(0.02)
            assert login.status_code == 200
            jar = {"_my_session_id": login.cookies["_my_session_id"]}
            assert requests.get(base + "/users/me",
                                cookies=jar).status_code == 200
            assert "Traceback" not in server.output()
    finally:
        if redis_proc.poll() is None:
            stop(redis_proc)
    assert os.path.exists(workdir / ".db_User.json")
