"""The read cache's sync sent as a request arrives, and cached absences.

Issue 18: in strict mode every request that reads cached rows first makes
a round trip on the listening connection. `SyncMiddleware` sends it as the
request arrives and the first lookup reads its answer; a request that
never looks anything up leaves the connection idle for the next one.
Second factors are cached too, their absence included: migration
`0007_factor_notify` notifies inserts into `authenticators`, so a TOTP
factor enabled by hand (`psql`) refuses Basic credentials at the very
next request, and removing it lets them in again.
"""
import subprocess

import pytest

from conftest import basic_header, create_user, login
from models import base
from models.authenticator import Authenticator

ME = "/api/v1/users/me"
FORBIDDEN = (403, {"error": "Forbidden"})
KEY = "k" * 32


pytestmark = pytest.mark.parametrize("database", ["postgresql"],
                                     indirect=True)


def psql(url: str, sql: str) -> None:
    """Run `sql` with the `psql` program: another process, plain SQL."""
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-qc", sql],
                   check=True, capture_output=True, timeout=30)


def answer(client, **kwargs):
    """Return (status, JSON body) of `GET /api/v1/users/me`."""
    response = client.get(ME, **kwargs)
    return response.status_code, response.get_json()


def logged_in(make_app):
    """Return (app, its row cache, a client logged in and seen once)."""
    app = make_app("session_db_auth", session_duration=3600)
    cache = base.get_store().row_cache
    create_user()
    client = app.test_client()
    assert login(client).status_code == 200
    assert answer(client)[0] == 200
    return app, cache, client


def test_a_sync_no_lookup_read_leaves_the_listener_ready(make_app,
                                                         database):
    """A cookie on a public path sends a sync that nothing reads."""
    make_app("session_db_auth", session_duration=3600)
    app = make_app("session_db_auth", session_duration=3600)
    cache = base.get_store().row_cache
    create_user(first_name="Bob")
    client = app.test_client()
    assert login(client).status_code == 200
    assert answer(client)[0] == 200
    for _ in range(3):
        assert client.get("/api/v1/status").status_code == 200
        assert cache._pending is None  # read by the end of the request
    hits = cache.hits
    assert answer(client)[1]["first_name"] == "Bob"
    assert cache.hits == hits + 2 and cache.listening
    psql(database, "UPDATE users SET first_name = 'Robert'")
    assert answer(client)[1]["first_name"] == "Robert"


def test_only_requests_with_credentials_send_a_sync(
        make_app, database, monkeypatch):

    """`/status` without a cookie or Basic header costs the cache nothing.
    """
    app, cache, client = logged_in(make_app)
    started = []
    real = cache.start_sync
    monkeypatch.setattr(cache, "start_sync",
                        lambda: started.append(1) or real())
    assert app.test_client().get("/api/v1/status").status_code == 200
    assert started == []
    assert answer(client)[0] == 200
    assert started == [1]
    assert app.test_client().get(ME, headers=basic_header(
        "bob@hbtn.io", "wrong")).status_code == 403
    assert started == [1, 1]


def test_basic_users_without_a_second_factor_make_no_query(
        make_app, database):
    """The absence of a TOTP factor is cached like a row."""
    app = make_app("basic_auth", secret_key=KEY)
    cache = base.get_store().row_cache
    user = create_user()
    client = app.test_client()
    headers = basic_header("bob@hbtn.io", "H0lberton!")
    assert answer(client, headers=headers) == (200, user.to_json())
    misses = cache.misses
    for _ in range(3):
        assert answer(client, headers=headers) == (200, user.to_json())
    assert cache.misses == misses
    key = ("Authenticator", ("id", Authenticator.totp_id(user.id)))
    assert cache._entries[key] == []


@pytest.mark.parametrize("confirmed, refused", [(True, True),
                                                (False, False)])
def test_a_factor_added_by_hand_refuses_basic_at_the_next_request(
        make_app, database, confirmed, refused):
    app = make_app("basic_auth", secret_key=KEY)
    user = create_user()
    client = app.test_client()
    headers = basic_header("bob@hbtn.io", "H0lberton!")
    assert answer(client, headers=headers)[0] == 200
    assert answer(client, headers=headers)[0] == 200
    psql(database, "INSERT INTO authenticators (id, user_id, kind, secret, "
         "confirmed) VALUES ('{}', '{}', 'totp', 'sealed', {})".format(
             Authenticator.totp_id(user.id), user.id,
             "true" if confirmed else "false"))
    expected = FORBIDDEN if refused else (200, user.to_json())
    assert answer(client, headers=headers) == expected
    psql(database, "UPDATE authenticators SET confirmed = true")
    assert answer(client, headers=headers) == FORBIDDEN
    psql(database, "DELETE FROM authenticators")
    assert answer(client, headers=headers) == (200, user.to_json())
    psql(database, "INSERT INTO authenticators (id, user_id, kind, secret, "
         "confirmed) VALUES ('{}', '{}', 'totp', 'sealed', true)".format(
             Authenticator.totp_id(user.id), user.id))
    assert answer(client, headers=headers) == FORBIDDEN
    psql(database, "TRUNCATE authenticators")
    assert answer(client, headers=headers) == (200, user.to_json())


def test_a_session_missing_from_the_cache_costs_one_query(make_app,
                                                          database):
    """Issue 18: the session and its user are read together on a miss."""
    from sqlalchemy import event

    app = make_app("session_db_auth", session_duration=3600)
    store = base.get_store()
    cache = store.row_cache
    user = create_user(first_name="Bob")
    client = app.test_client()
    assert login(client).status_code == 200
    assert answer(client) == (200, user.to_json())
    queries = []

    def count(conn, cursor, statement, parameters, context, many):
        """Count each SELECT sent to the database."""
        if statement.lstrip().upper().startswith("SELECT"):
            queries.append(statement)
    for engine in {store.engine, store._reader}:
        event.listen(engine, "before_cursor_execute", count)
    try:
        sessions = [key for key in cache._entries
                    if key[0] == "UserSession"]
        assert sessions
        session_row = cache._entries[sessions[0]][0]["id"]
        cache.evict("UserSession", [session_row])
        cache.evict("User", [user.id])
        assert answer(client) == (200, user.to_json())
        assert len(queries) == 1 and "JOIN" in queries[0].upper()
        assert answer(client) == (200, user.to_json())
        assert len(queries) == 1
        psql(database, "DELETE FROM users")
        cache.evict("UserSession", [session_row])
        assert answer(client) == FORBIDDEN
    finally:
        for engine in {store.engine, store._reader}:
            event.remove(engine, "before_cursor_execute", count)
