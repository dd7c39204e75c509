"""Reads from process memory that the stores keep true (issue 18).

User and session rows of PostgreSQL are cached per process and dropped by
the NOTIFY of the triggers of migration `0006_change_notify`; Redis
session hashes are cached under client-side tracking. Every test changes
the data from outside this process's store objects (`psql`,
`redis-cli`, another connection) and checks that the very next request
sees it, and that a lost invalidation channel flushes the cache.
"""
import subprocess
import time

import psycopg
import pytest
import redis

from api.v1.auth.stores.base import session_handle
from api.v1.auth.stores.redis_store import RedisSessionStore
from api.v1.config import AUTH_EXTENSION
from conftest import create_user, login, session_id_of
from models import base

pytestmark = pytest.mark.quick_hashing

ME = "/api/v1/users/me"
FORBIDDEN = (403, {"error": "Forbidden"})


def psql(url: str, sql: str) -> None:
    """Run `sql` with the `psql` program: another process, plain SQL."""
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", sql],
                   check=True, capture_output=True, timeout=30)


def answer(client, path: str = ME):
    """Return (status, JSON body) of a GET of `path`."""
    response = client.get(path)
    return response.status_code, response.get_json()


def wait_for(condition, timeout: float = 5.0) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


pg = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


@pytest.fixture
def pg_app(make_app, database):
    """An app with users and sessions in PostgreSQL; yield (app, cache)."""
    app = make_app("session_db_auth", session_duration=3600)
    cache = base.get_store().row_cache
    assert cache is not None
    yield app, cache


def logged_in(app):
    """Create bob, log him in; return (client, user)."""
    user = create_user(first_name="Bob")
    client = app.test_client()
    response = login(client)
    assert response.status_code == 200
    client.session_key = "sa:s:" + session_handle(session_id_of(response))
    return client, user


@pg
def test_rows_are_served_from_memory_after_the_first_request(pg_app):
    app, cache = pg_app
    client, user = logged_in(app)
    assert answer(client)[0] == 200
    hits = cache.hits
    for _ in range(3):
        assert answer(client) == (200, user.to_json())
    assert cache.hits >= hits + 6  # the session row and the user row


@pg
@pytest.mark.parametrize("sql", [
    "UPDATE users SET auth_epoch = COALESCE(auth_epoch, 0) + 1",
    "DELETE FROM users",
    "DELETE FROM user_sessions",
    "UPDATE user_sessions SET created_at = '2000-01-01'",
    "TRUNCATE user_sessions",
])
def test_a_psql_change_refuses_the_session_at_the_next_request(
        pg_app, database, sql):
    app, cache = pg_app
    client, _ = logged_in(app)
    assert answer(client)[0] == 200
    assert answer(client)[0] == 200
    psql(database, sql)
    assert answer(client) == FORBIDDEN


@pg
def test_a_psql_update_of_a_name_shows_at_the_next_request(
        pg_app, database):
    app, cache = pg_app
    client, user = logged_in(app)
    for step in range(3):
        assert answer(client)[1]["first_name"] == ("Bob" if step == 0
                                                   else str(step - 1))
        psql(database, "UPDATE users SET first_name = '{}'".format(step))
        assert answer(client)[1]["first_name"] == str(step)


@pg
def test_an_insert_by_another_process_is_found(pg_app, database):
    """A cache of present rows only: a new user logs in at once."""
    app, cache = pg_app
    client, _ = logged_in(app)
    other = app.test_client()
    assert login(other, "alice@hbtn.io").status_code == 404
    bob = base.get_store().find("User", {"email": "bob@hbtn.io"})[0]
    psql(database, "INSERT INTO users (id, email, email_key, "
         "password_hash, auth_epoch) VALUES ('alice-id', 'alice@hbtn.io', "
         "'alice@hbtn.io', '{}', 0)".format(bob["_password"]))
    assert login(other, "alice@hbtn.io").status_code == 200
    assert answer(other)[1]["id"] == "alice-id"


@pg
def test_logout_in_one_app_is_seen_by_another_app_of_the_process(
        pg_app, make_app):
    """Two apps, one store: a write evicts its rows without waiting."""
    app, cache = pg_app
    client, _ = logged_in(app)
    twin = make_app("session_db_auth", session_duration=3600).test_client()
    cookie = session_id_of(login(client))
    twin.set_cookie("_my_session_id", cookie)
    assert answer(twin)[0] == 200
    client.set_cookie("_my_session_id", cookie)
    assert client.delete("/api/v1/auth_session/logout").status_code == 200
    assert answer(twin) == FORBIDDEN


@pg
def test_a_killed_listener_flushes_and_reads_go_to_the_database(
        pg_app, database):
    app, cache = pg_app
    cache.retry_seconds = 0.2
    client, _ = logged_in(app)
    assert answer(client)[0] == 200
    assert len(cache) > 0 and cache.listening
    pid = cache._listener.info.backend_pid
    psql(database, "SELECT pg_terminate_backend({})".format(pid))
    # The listener is gone: the change below sends it nothing.
    psql(database, "UPDATE users SET first_name = 'Robert'")
    assert answer(client)[1]["first_name"] == "Robert"
    assert not cache.listening and len(cache) == 0
    assert answer(client)[1]["first_name"] == "Robert"
    assert len(cache) == 0  # still off: nothing cached until it is back
    wait_for(lambda: cache.drain())
    assert cache.listening
    assert answer(client)[1]["first_name"] == "Robert"
    psql(database, "UPDATE users SET first_name = 'Rob'")
    assert answer(client)[1]["first_name"] == "Rob"


@pg
def test_the_cache_is_bounded(make_app, database):
    app = make_app("session_db_auth", session_duration=3600,
                   read_cache_size=3)
    cache = base.get_store().row_cache
    store = base.get_store()
    ids = [create_user("u{}@hbtn.io".format(n)).id for n in range(6)]
    for user_id in ids:
        assert store.get("User", user_id)["id"] == user_id
    assert len(cache) == 3
    assert app is not None


@pg
def test_read_cache_size_zero_turns_it_off(make_app, database):
    make_app("session_db_auth", read_cache_size=0)
    assert base.get_store().row_cache is None


# Redis: client-side tracking of session hashes.


@pytest.fixture
def redis_app(make_app, redis_url):
    """An app with sessions in Redis (JSON users); yield (app, tracked)."""
    app = make_app("session_auth", session_store_url=redis_url)
    tracked = app.extensions[AUTH_EXTENSION].store.tracked
    assert tracked is not None
    yield app, tracked
    tracked.close()


def redis_cli(url: str, *args: str) -> str:
    """Run `redis-cli` on the db of `url`: another process."""
    host_port, db = url.split("//", 1)[1].rsplit("/", 1)
    host, port = host_port.split(":")
    return subprocess.run(
        ["redis-cli", "-h", host, "-p", port, "-n", db] + list(args),
        check=True, capture_output=True, text=True, timeout=30).stdout


def test_redis_sessions_are_served_from_memory(redis_app):
    app, tracked = redis_app
    client, user = logged_in(app)
    assert answer(client)[0] == 200
    hits = tracked.hits
    for _ in range(3):
        assert answer(client) == (200, user.to_json())
    assert tracked.hits >= hits + 3


@pytest.mark.parametrize("command", [
    ["DEL"], ["HSET", None, "uid", "someone-else"], ["FLUSHDB"]])
def test_a_redis_cli_change_is_seen_at_the_next_request(
        redis_app, redis_url, command):
    app, tracked = redis_app
    client, _ = logged_in(app)
    assert answer(client)[0] == 200
    assert answer(client)[0] == 200
    key = client.session_key
    args = [command[0]] + ([] if command[0] == "FLUSHDB" else [key]) + [
        part for part in command[2:]]
    redis_cli(redis_url, *args)
    assert answer(client) == FORBIDDEN


def test_a_killed_tracking_connection_flushes(redis_app, redis_url):
    app, tracked = redis_app
    tracked.retry_seconds = 0.2
    client, _ = logged_in(app)
    assert answer(client)[0] == 200
    assert tracked.stats()["entries"] == 1
    redis_cli(redis_url, "CLIENT", "KILL", "ID", str(tracked.client_id))
    # The tracking connection is gone: the change below reaches nobody.
    key = client.session_key
    redis_cli(redis_url, "DEL", key)
    assert answer(client) == FORBIDDEN
    assert not tracked.tracking and tracked.stats()["entries"] == 0
    assert login(client).status_code == 200
    wait_for(lambda: answer(client)[0] == 200 and tracked.tracking)
    assert answer(client)[0] == 200
    assert tracked.stats()["entries"] == 1


def test_a_write_through_the_pool_evicts_at_once(redis_url):
    store = RedisSessionStore(redis_url, cache_size=10)
    other = redis.Redis.from_url(redis_url)
    from api.v1.auth.stores.base import SessionRecord
    from models import clock
    now = clock.utcnow()
    assert store.create("sid", SessionRecord("u1", now, now, 0))
    assert store.get("sid").user_id == "u1"
    assert store.get("sid").user_id == "u1"
    assert store.tracked.hits == 1
    other.hset("sa:s:" + session_handle("sid"), "uid", "u2")
    assert store.get("sid").user_id == "u2"
    assert store.delete("sid")
    assert store.get("sid") is None
    store.tracked.close()


@pg
def test_loose_mode_applies_what_has_reached_the_socket(make_app, database):
    """READ_CACHE_STRICT=0: no round trip; delivered changes still count."""
    import select
    app = make_app("session_db_auth", session_duration=3600,
                   read_cache_strict=False)
    cache = base.get_store().row_cache
    assert cache is not None and not cache.strict
    client, _ = logged_in(app)
    assert answer(client)[0] == 200
    assert answer(client)[0] == 200
    psql(database, "UPDATE users SET first_name = 'Robert'")
    assert select.select([cache._listener.pgconn.socket], [], [], 5)[0]
    assert answer(client)[1]["first_name"] == "Robert"
