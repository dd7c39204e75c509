"""Security events (account-security §6.4): stored, listed, purged, CLI."""
import json
import re
from pathlib import Path

import pytest

from api.v1.auth.events import EVENTS, STORED_TYPES, log_event
from models.auth_event import AuthEvent
from tests.conftest import REPO, create_user, login

pytestmark = pytest.mark.quick_hashing

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\Z")
SPEC_TYPES = ("login_succeeded", "login_failed", "logout",
              "password_changed", "sessions_revoked", "totp_enabled",
              "totp_disabled", "recovery_code_used",
              "recovery_codes_renewed", "passkey_added", "passkey_removed",
              "limited")


def events_of(client, query=""):
    """GET the caller's events; return (status, body)."""
    response = client.get("/api/v1/auth_session/events" + query)
    return response.status_code, response.get_json()


def test_table_holds_exactly_the_spec_types():
    assert STORED_TYPES[:len(SPEC_TYPES)] == SPEC_TYPES
    assert set(STORED_TYPES) - set(SPEC_TYPES) == {
        "recovery_requested", "password_reset"}
    stored = {kind.stored for kind in EVENTS.values()} - {None}
    assert stored == set(STORED_TYPES)


def test_every_logged_name_is_in_the_table():
    """A name the code logs but the table misses would be lost."""
    names = set()
    for path in (REPO / "api").rglob("*.py"):
        names |= set(re.findall(r'log_event\(\s*"([a-z_]+)"',
                                path.read_text()))
    assert names and names <= set(EVENTS), names - set(EVENTS)


def test_walkthrough_newest_first_with_client(make_app, database):
    app = make_app("session_db_auth", database_url=database)
    client = app.test_client()
    create_user()
    other = create_user("eve@hbtn.io", "Ev3-secret")
    agent = {"User-Agent": "Browser/1.0 " + "x" * 400}
    assert client.post("/api/v1/auth_session/login", headers=agent,
                       data={"email": "bob@hbtn.io",
                             "password": "nope"}).status_code == 401
    assert client.post("/api/v1/auth_session/login", headers=agent,
                       data={"email": "bob@hbtn.io",
                             "password": "H0lberton!"}).status_code == 200
    assert login(client, "nobody@hbtn.io").status_code == 404
    assert login(app.test_client(), "eve@hbtn.io",
                 "Ev3-secret").status_code == 200
    second = app.test_client()
    assert login(second).status_code == 200
    assert client.delete("/api/v1/auth_session/sessions").get_json() == {
        "revoked": 1}
    status, listed = events_of(client)
    assert status == 200
    assert [e["type"] for e in listed] == [
        "sessions_revoked", "login_succeeded", "login_succeeded",
        "login_failed"]
    assert all(STAMP.match(e["at"]) for e in listed)
    assert listed[-1]["ip"] == "127.0.0.1"
    assert listed[-1]["user_agent"] == ("Browser/1.0 " + "x" * 400)[:256]
    assert listed[1]["user_agent"].startswith("Werkzeug")
    assert [e["type"] for e in events_of(client, "?limit=2")[1]] == [
        "sessions_revoked", "login_succeeded"]
    assert client.delete("/api/v1/auth_session/logout").status_code == 200
    assert [e.type for e in AuthEvent.of_user(other.id, 50)] == [
        "login_succeeded"]


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", "+3", " 2",
                                   "", "٣"])
def test_invalid_limit(make_app, value):
    client = make_app("session_auth").test_client()
    create_user()
    login(client)
    assert events_of(client, "?limit=" + value) == (
        400, {"error": "invalid limit"})


def test_limit_capped_at_200(make_app):
    app = make_app("session_auth")
    client = app.test_client()
    user = create_user()
    login(client)
    with app.test_request_context():
        for _ in range(205):
            log_event("passkey_added", user=user.id)
    status, listed = events_of(client, "?limit=100000")
    assert status == 200 and len(listed) == 200
    assert len(events_of(client)[1]) == 50


def test_events_route_needs_session_auth(make_app):
    create_user()
    assert make_app("basic_auth").test_client().get(
        "/api/v1/auth_session/events").status_code == 401
    assert make_app(None).test_client().get(
        "/api/v1/auth_session/events").get_json() == {"error": "Not found"}
    assert make_app("session_auth").test_client().get(
        "/api/v1/auth_session/events").status_code == 401


def test_every_type_is_stored(make_app):
    app = make_app("session_auth")
    user = create_user()
    with app.test_request_context(headers={"User-Agent": "t"}):
        for name in STORED_TYPES:
            log_event(name, user=user.id)
        log_event("login_failed", reason="unknown_email")
        log_event("limited", user="-", limit="per_address")
    stored = [e.type for e in AuthEvent.of_user(user.id, 200)]
    assert stored == list(reversed(STORED_TYPES))
    assert len(AuthEvent.of_user(user.id, 500)) == len(STORED_TYPES)


def test_limited_stores_one_event_and_no_failure(make_app):
    app = make_app("session_auth", login_limit_per_account="2 per minute")
    user = create_user()
    client = app.test_client()
    for _ in range(2):
        assert login(client, password="bad").status_code == 401
    for _ in range(3):
        assert login(client, password="bad").status_code == 429
    assert [e.type for e in AuthEvent.of_user(user.id, 50)] == [
        "limited"] * 3 + ["login_failed"] * 2


def test_retention_purges_old_events(make_app, frozen_clock, database):
    app = make_app("session_auth", auth_events_days=2,
                   database_url=database)
    user = create_user()
    with app.test_request_context():
        log_event("password_changed", user=user.id)
        frozen_clock.advance(86400)
        log_event("logout", user=user.id)
        frozen_clock.advance(86400 + 1)
    assert [e.type for e in AuthEvent.of_user(user.id, 50, 2)] == [
        "logout"]
    with app.test_request_context():
        log_event("totp_enabled", user=user.id)
    assert len(AuthEvent.search({"user_id": user.id})) == 2
    assert [e.type for e in AuthEvent.of_user(user.id, 50)] == [
        "totp_enabled", "logout"]


def test_store_failure_does_not_break_the_action(make_app, monkeypatch,
                                                 caplog):
    from models.store import StoreUnavailableError

    def down(*args, **kwargs):
        raise StoreUnavailableError("the database cannot be reached")
    monkeypatch.setattr(AuthEvent, "record", down)
    client = make_app("session_auth").test_client()
    create_user()
    assert login(client).status_code == 200
    assert "was not stored" in caplog.text


def _flask(cwd: Path, *args, env=None):
    import subprocess
    import sys

    from tests.conftest import server_env
    return subprocess.run(
        [str(Path(sys.executable).parent / "flask"), "--app", "api.v1.app"]
        + list(args), cwd=cwd, env=server_env(dict(
            env or {}, AUTH_TYPE="session_auth")),
        capture_output=True, text=True, timeout=60)


@pytest.mark.real_hashing
def test_cli_events(make_app, workdir):
    app = make_app("session_auth")
    user = create_user()
    with app.test_request_context(headers={"User-Agent": "cli-test"}):
        for name in ("login_succeeded", "password_changed", "logout"):
            log_event(name, user=user.id)
    done = _flask(workdir, "events", "bob@hbtn.io", "--limit", "2")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["type"] for line in lines] == ["logout", "password_changed"]
    assert set(lines[0]) == {"type", "at", "ip", "user_agent"}
    assert lines[0]["user_agent"] == "cli-test"
    missing = _flask(workdir, "events", "nobody@hbtn.io")
    assert missing.returncode == 3
    assert _flask(workdir, "events", "bob@hbtn.io", "--limit",
                  "0").returncode == 2


def test_event_from_one_host_seen_on_another(make_app, postgres_url):
    """Two apps on one database, each with its own store object (its
    own connections, as another host has): an event written by one is
    listed by the other."""
    from models import base
    from models.sql_store import (SqlRecordStore, auth_events,
                                  user_sessions, users)
    first = make_app("session_db_auth", database_url=postgres_url)
    user = create_user("two-hosts@hbtn.io")
    try:
        with first.test_request_context():
            log_event("passkey_added", user=user.id)
        other_host = SqlRecordStore(postgres_url)
        base.set_store(other_host)
        second = make_app("session_db_auth", database_url=postgres_url)
        client = second.test_client()
        assert login(client, "two-hosts@hbtn.io").status_code == 200
        assert [e["type"] for e in events_of(client)[1]] == [
            "login_succeeded", "passkey_added"]
    finally:
        # The shared test database outlives this test: leave no user.
        with base.get_store().engine.begin() as connection:
            for table in (users, user_sessions):
                connection.execute(table.delete().where(
                    table.c.id == user.id if table is users
                    else table.c.user_id == user.id))
            connection.execute(auth_events.delete().where(
                auth_events.c.user_id == user.id))
