"""Redis faults injected into a private redis-server (account-security §8).

Each test starts its own Redis on a free port and stops it by PID; the
shared server is never touched. Faults: stopped, restarted, hung
(SIGSTOP), read-only (`REPLICAOF`), full (`maxmemory` + `noeviction`).
The assertions: never a 500, 503 with `Retry-After: 5`, no 429 after an
outage, the cause logged once, store-free routes fast, TTLs everywhere.
"""
import hashlib
import logging
import shutil
import time

import pytest

from api.v1.auth.stores.base import SessionRecord
from conftest import create_user, login, session_id_of
from faultlib import RedisServer, wait_until
from models import store_health
from models.store import StoreUnavailableError

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server is not installed")
ME = "/api/v1/users/me"
UNAVAILABLE = {"error": "Service unavailable"}


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(str(tmp_path / "redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def fresh_breakers():
    store_health.reset()
    yield
    store_health.reset()


def store_lines(caplog, role, level):
    return [r.getMessage() for r in caplog.records
            if r.name == "api.stores" and r.levelno == level
            and r.getMessage().startswith("store {} ".format(role))]


def assert_503(response):
    assert (response.status_code, response.get_json()) == (503, UNAVAILABLE)
    assert response.headers["Retry-After"] == "5"


def session_app(make_app, server, auth_type="session_auth", **values):
    values.setdefault("store_retry_seconds", 0.2)
    values.setdefault("store_timeout_seconds", 0.3)
    return make_app(auth_type, session_store_url=server.url, **values)


def test_stopped_redis_answers_503_logs_once_and_recovers(
        make_app, redis_server, caplog):
    caplog.set_level(logging.INFO, logger="api.stores")
    create_user()
    app = session_app(make_app, redis_server)
    client = app.test_client()
    assert login(client).status_code == 200
    redis_server.stop()
    for _ in range(6):
        assert_503(client.get(ME))
        assert_503(login(app.test_client()))
        assert_503(client.delete("/api/v1/auth_session/logout"))
    warnings = store_lines(caplog, "sessions", logging.WARNING)
    assert len(warnings) == 1 and "ConnectionError" in warnings[0]
    redis_server.start()                      # empty: sessions are lost
    assert wait_until(lambda: login(client).status_code == 200, 5)
    assert client.get(ME).status_code == 200
    assert len(store_lines(caplog, "sessions", logging.INFO)) == 1
    assert len(store_lines(caplog, "sessions", logging.WARNING)) == 1


def test_no_429_after_an_outage(make_app, redis_server):
    """Logins that ended in 503 during the outage count for nothing."""
    create_user()
    app = session_app(make_app, redis_server)
    redis_server.stop()
    statuses = [login(app.test_client()).status_code for _ in range(30)]
    assert set(statuses) == {503}
    redis_server.start()
    assert wait_until(lambda: login(app.test_client()).status_code != 503,
                      5)
    statuses = [login(app.test_client()).status_code for _ in range(4)]
    assert statuses == [200] * 4


def test_a_503_after_the_count_gives_the_attempt_back(
        make_app, redis_server):
    """The session store fails after the limits counted the attempt.

    The limits live in process memory here (5 per minute per account):
    8 logins ending in 503 must leave the next one free.
    """
    create_user()
    app = session_app(make_app, redis_server,
                      ratelimit_storage_uri="memory://")
    auth = app.extensions["session_api.auth"]

    def lost(*args, **kwargs):
        raise StoreUnavailableError("the session store cannot serve")
    auth.store.create = lost
    client = app.test_client()
    for _ in range(8):
        assert_503(login(client))
    del auth.store.create
    assert login(client).status_code == 200


def test_a_basic_credential_ending_in_503_is_not_counted(
        make_app, redis_server):
    from conftest import basic_header
    from models.user import User
    create_user()
    app = make_app("basic_auth", session_store_url=redis_server.url,
                   ratelimit_storage_uri="memory://",
                   basic_cache_seconds=0)
    real = User.search_by_email.__func__
    calls = []

    def second_lookup_fails(cls, email):
        calls.append(email)
        if len(calls) % 2 == 0:
            raise StoreUnavailableError("the records store cannot serve")
        return real(cls, email)
    User.search_by_email = classmethod(second_lookup_fails)
    try:
        client = app.test_client()
        header = basic_header("bob@hbtn.io", "H0lberton!")
        for _ in range(8):
            assert_503(client.get(ME, headers=header))
    finally:
        User.search_by_email = classmethod(real)
    assert client.get(ME, headers=header).status_code == 200


def test_read_only_redis_answers_503_not_500(make_app, redis_server,
                                             caplog):
    caplog.set_level(logging.INFO, logger="api.stores")
    create_user()
    app = session_app(make_app, redis_server)
    client = app.test_client()
    assert login(client).status_code == 200
    admin = redis_server.client()
    admin.execute_command("REPLICAOF", "127.0.0.1", "1")  # a dead master
    assert client.get(ME).status_code == 200    # reads still served
    assert_503(client.delete("/api/v1/auth_session/logout"))
    assert_503(login(app.test_client()))
    warnings = store_lines(caplog, "sessions", logging.WARNING) + \
        store_lines(caplog, "limits", logging.WARNING)
    assert warnings and all("ReadOnlyError" in w for w in warnings)
    assert len(store_lines(caplog, "sessions", logging.WARNING)) <= 1
    admin.execute_command("REPLICAOF", "NO", "ONE")
    assert client.delete("/api/v1/auth_session/logout").status_code == 200
    assert login(app.test_client()).status_code == 200


def test_full_redis_answers_503_not_500(make_app, redis_server, caplog):
    caplog.set_level(logging.INFO, logger="api.stores")
    create_user()
    app = session_app(make_app, redis_server)
    admin = redis_server.client()
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", "1")
    for _ in range(3):
        assert_503(login(app.test_client()))
    warnings = store_lines(caplog, "limits", logging.WARNING) + \
        store_lines(caplog, "sessions", logging.WARNING)
    assert len(warnings) == 1 and "OutOfMemoryError" in warnings[0]
    admin.config_set("maxmemory", "0")
    assert login(app.test_client()).status_code == 200


def test_hung_redis_costs_one_timeout_and_status_stays_fast(
        make_app, redis_server):
    create_user()
    app = make_app("session_auth", session_store_url=redis_server.url,
                   store_timeout_seconds=0.3, store_retry_seconds=30)
    client = app.test_client()
    assert login(client).status_code == 200
    redis_server.pause()
    try:
        began = time.monotonic()
        assert_503(client.get(ME))
        first = time.monotonic() - began
        began = time.monotonic()
        for _ in range(10):
            assert_503(client.get(ME))
            assert_503(login(app.test_client()))
        rest = time.monotonic() - began
        began = time.monotonic()
        assert client.get("/api/v1/status").status_code == 200
        assert client.get("/api/v1/health/live").status_code == 200
        status = time.monotonic() - began
    finally:
        redis_server.resume()
    assert first < 1.5            # one timeout (connect and read bounded)
    assert rest < 1.0             # the breaker answers at once
    assert status < 0.2


def test_every_redis_key_has_a_ttl(make_app, redis_server):
    create_user()
    app = session_app(make_app, redis_server, session_store_ttl=600)
    client = app.test_client()
    session_id = session_id_of(login(client))
    assert login(app.test_client(), password="wrong").status_code == 401
    assert client.get(ME).status_code == 200
    admin = redis_server.client()
    keys = admin.keys("*")
    assert any(key.startswith("sa:s:") for key in keys)
    assert any(key.startswith("sa:u:") for key in keys)
    assert any(key.startswith("sa:f:") for key in keys)   # device token
    assert any(key.startswith("LIMITS") for key in keys)
    ttls = {key: admin.ttl(key) for key in keys}
    assert all(ttl > 0 for ttl in ttls.values()), ttls
    key = "sa:s:" + hashlib.sha256(session_id.encode()).hexdigest()
    assert 590 <= admin.ttl(key) <= 601


def test_session_auth_ttl_is_renewed_by_use(make_app, redis_server,
                                            frozen_clock):
    create_user()
    app = session_app(make_app, redis_server, session_store_ttl=600)
    client = app.test_client()
    session_id = session_id_of(login(client))
    key = "sa:s:" + hashlib.sha256(session_id.encode()).hexdigest()
    admin = redis_server.client()
    seen = admin.hget(key, "seen")
    frozen_clock.advance(30)              # within max(60 s, TTL / 10)
    assert client.get(ME).status_code == 200
    assert admin.hget(key, "seen") == seen
    frozen_clock.advance(40)
    assert client.get(ME).status_code == 200
    assert int(admin.hget(key, "seen")) > int(seen)
    assert admin.pttl(key) > 0


def test_sql_sessions_without_expiry_are_purged(make_app, workdir,
                                                frozen_clock):
    url = "sqlite:///" + str(workdir / "purge.db")
    app = make_app("session_db_auth", database_url=url,
                   session_store_ttl=600)
    create_user()
    auth = app.extensions["session_api.auth"]
    client = app.test_client()
    old = session_id_of(login(client))
    frozen_clock.advance(700)
    fresh = auth.create_session(create_user("ann@hbtn.io").id)
    assert auth.user_id_for_session_id(old) is None      # purged
    assert auth.user_id_for_session_id(fresh) is not None
    assert isinstance(auth.store.get(fresh), SessionRecord)


def test_under_gunicorn_a_hung_redis_leaves_status_fast(workdir,
                                                        redis_server):
    """Two workers, four clients logging in while Redis is stopped by
    SIGSTOP: every login answers 503 quickly and `/api/v1/status` stays
    fast (the issue measured 2 to 3.5 s before the breaker)."""
    import subprocess
    import threading

    import requests
    from conftest import REPO, free_port, server_env
    create_user()
    port = free_port()
    env = server_env({"AUTH_TYPE": "session_auth",
                      "SESSION_STORE_URL": redis_server.url,
                      "STORE_TIMEOUT_SECONDS": "0.5",
                      "STORE_RETRY_SECONDS": "2"})
    log = open(workdir.parent / "hung-gunicorn.log", "w")
    proc = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "gunicorn"), "--config",
         str(REPO / "gunicorn.conf.py"), "-w", "2", "-b",
         "127.0.0.1:{}".format(port), "api.v1.app:app"],
        cwd=workdir, env=env, stdout=log, stderr=log)
    url = "http://127.0.0.1:{}".format(port)
    statuses, status_times = [], []
    try:
        assert wait_until(lambda: requests.get(
            url + "/api/v1/status", timeout=5).status_code == 200, 30)
        redis_server.pause()
        stop = time.monotonic() + 3

        def hammer():
            while time.monotonic() < stop:
                statuses.append(requests.post(
                    url + "/api/v1/auth_session/login", timeout=10,
                    data={"email": "bob@hbtn.io",
                          "password": "H0lberton!"}).status_code)
        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        while time.monotonic() < stop:
            began = time.monotonic()
            assert requests.get(url + "/api/v1/status",
                                timeout=10).status_code == 200
            status_times.append(time.monotonic() - began)
            time.sleep(0.1)
        for thread in threads:
            thread.join()
    finally:
        redis_server.resume()
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    output = (workdir.parent / "hung-gunicorn.log").read_text()
    assert set(statuses) == {503} and len(statuses) > 20
    status_times.sort()
    assert status_times[len(status_times) // 2] < 0.2, status_times
    assert status_times[-1] < 1.0, status_times
    assert "Traceback" not in output
    assert output.count("store sessions unavailable") <= 2   # per worker


def test_purge_gives_old_keys_without_ttl_one(make_app, redis_server):
    create_user()
    app = session_app(make_app, redis_server, session_store_ttl=600)
    admin = redis_server.client()
    admin.hset("sa:s:old", mapping={"uid": "u1", "created": "0"})
    admin.zadd("sa:u:u1", {"old": float("inf")})
    assert app.extensions["session_api.auth"].purge_expired() == 0
    assert 590 <= admin.ttl("sa:s:old") <= 600
    assert 590 <= admin.ttl("sa:u:u1") <= 600
