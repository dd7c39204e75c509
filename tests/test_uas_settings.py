"""The user authentication service's settings (spec §9), one by one.

Each default keeps the contract; each setting changes what its row says.
Lifetimes are tested twice: in-process with a moved clock, and against a
real `python3 app.py` with a lifetime of a few seconds, polled.
"""
import os
import sqlite3
import subprocess
import sys
import time

import pytest
import requests

from conftest import free_port, live_server, scratch_database, server_env
from uas import SERVICE, service_module

PASSWORD = "mySuperPwd"


class Clock:
    """The service's one clock (`auth._now`), moved by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(service_module("auth"), "_now", fake)
    return fake


def make_auth(**values):
    """Return an `Auth` made with `Settings(**values)`."""
    settings = service_module("settings").Settings(**values)
    return service_module("auth").Auth(settings)


def start(workdir, **env):
    """Start `python3 app.py` in `workdir` with `env`; a context manager."""
    return live_server([str(SERVICE / "app.py")], workdir, env, probe="/")


def poll(call, done, timeout=15.0):
    """Call `call()` until `done(result)`; return the results seen.

    Fails when `timeout` seconds pass first.
    """
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        seen.append(call())
        if done(seen[-1]):
            return seen
        assert time.monotonic() < deadline, seen[-5:]
        time.sleep(0.1)


# Settings parsing ---------------------------------------------------------

def test_defaults_are_the_contract():
    settings = service_module("settings").Settings.from_environ({})
    assert (settings.database_url, settings.account_policy,
            settings.reset_token_seconds, settings.session_seconds,
            settings.ratelimit_storage_uri) == (
        None, "contract", 900, 0, "memory://")
    assert (settings.api_host, settings.api_port) == ("0.0.0.0", "5000")
    assert not settings.strict


def test_settings_from_the_environment():
    settings = service_module("settings").Settings.from_environ({
        "UAS_DATABASE_URL": " sqlite:////tmp/u.db ",
        "ACCOUNT_POLICY": " Strict", "RESET_TOKEN_SECONDS": "60",
        "UAS_SESSION_SECONDS": " 3600", "RATELIMIT_STORAGE_URI":
        "redis://127.0.0.1:6379/3", "API_HOST": "127.0.0.1",
        "API_PORT": "8080"})
    assert (settings.database_url, settings.account_policy,
            settings.reset_token_seconds, settings.session_seconds,
            settings.ratelimit_storage_uri) == (
        "sqlite:////tmp/u.db", "strict", 60, 3600,
        "redis://127.0.0.1:6379/3")
    assert settings.strict
    empty = service_module("settings").Settings.from_environ({
        "ACCOUNT_POLICY": "", "RESET_TOKEN_SECONDS": " ",
        "UAS_DATABASE_URL": "", "RATELIMIT_STORAGE_URI": ""})
    assert empty == service_module("settings").Settings()


@pytest.mark.parametrize("name, value", [
    ("ACCOUNT_POLICY", "lenient"), ("RESET_TOKEN_SECONDS", "abc"),
    ("RESET_TOKEN_SECONDS", "0"), ("RESET_TOKEN_SECONDS", "1.5"),
    ("UAS_SESSION_SECONDS", "-1"), ("UAS_SESSION_SECONDS", "1h")])
def test_bad_settings_are_refused(name, value):
    with pytest.raises(ValueError) as info:
        service_module("settings").Settings.from_environ({name: value})
    assert name in str(info.value)


@pytest.mark.parametrize("env, message", [
    ({"RESET_TOKEN_SECONDS": "soon"}, "RESET_TOKEN_SECONDS must be"),
    ({"ACCOUNT_POLICY": "lenient"}, "ACCOUNT_POLICY must be"),
    ({"UAS_DATABASE_URL": "sqlite:///relative.db"}, "absolute path"),
    ({"UAS_DATABASE_URL": "mysql://u:secret@db/x"}, "postgresql://"),
    ({"UAS_DATABASE_URL": "postgresql://u:secret@127.0.0.1:9/x"},
     "cannot be opened"),
    ({"RATELIMIT_STORAGE_URI": "nosuch://x"}, "RATELIMIT_STORAGE_URI"),
])
def test_app_refuses_to_start_with_one_line(workdir, env, message):
    env = dict(env, API_HOST="127.0.0.1", API_PORT=str(free_port()))
    result = subprocess.run([sys.executable, str(SERVICE / "app.py")],
                            cwd=workdir, env=server_env(env),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert message in lines[0]
    assert "secret" not in result.stderr                # no password shown
    assert not (workdir / "relative.db").exists()


# A reset and the session ---------------------------------------------------

COURSE_CLIENT = '''
import requests, sys
url = sys.argv[1]
data = {"email": "bob@me.com", "password": "b4l0u"}
assert requests.post(url + "/users", data=data).status_code == 200
cookie = requests.post(url + "/sessions", data=data).cookies["session_id"]
token = requests.post(url + "/reset_password",
                      data={"email": "bob@me.com"}).json()["reset_token"]
assert requests.put(url + "/reset_password", data={
    "email": "bob@me.com", "reset_token": token,
    "new_password": "t4rt1fl3tt3"}).status_code == 200
response = requests.delete(url + "/sessions", allow_redirects=False,
                           cookies={"session_id": cookie})
print(response.status_code)
'''


@pytest.mark.parametrize("policy, status", [
    (None, "302"), ("contract", "302"), ("strict", "403")])
def test_course_client_logs_out_after_a_reset(workdir, policy, status):
    env = {"ACCOUNT_POLICY": policy} if policy else {}
    with start(workdir, **env) as server:
        result = subprocess.run(
            [sys.executable, "-c", COURSE_CLIENT, server.url],
            capture_output=True, text=True, timeout=60, env=server_env())
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.strip() == status


# Persistence ---------------------------------------------------------------

@pytest.fixture(scope="module")
def uas_postgres():
    """Create a PostgreSQL database of the service's own; drop it after.

    Yields a function that empties it (drops the service's tables), so
    each test starts with no table at all.
    """
    with scratch_database("uas_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, workdir):
    """Yield a `UAS_DATABASE_URL` with no table in it yet."""
    if request.param == "sqlite":
        (workdir / "data").mkdir()
        yield "sqlite:///" + str(workdir / "data" / "users.db")
        return
    url = request.getfixturevalue("uas_postgres")
    yield url
    import psycopg
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS users, issue_times")


def users_columns(database_url):
    """Return the column names of the table `users`, in order."""
    from sqlalchemy import create_engine, inspect
    db = service_module("db")
    engine = create_engine(db.engine_url(database_url))
    try:
        return [c["name"] for c in inspect(engine).get_columns("users")]
    finally:
        engine.dispose()


def test_users_survive_a_restart(workdir, database_url):
    env = {"UAS_DATABASE_URL": database_url}
    data = {"email": "bob@me.com", "password": PASSWORD}
    with start(workdir, **env) as server:
        assert requests.post(server.url + "/users", data=data) \
            .status_code == 200
        cookie = requests.post(server.url + "/sessions", data=data) \
            .cookies["session_id"]
        token = requests.post(server.url + "/reset_password", data={
            "email": "bob@me.com"}).json()["reset_token"]
    with start(workdir, **env) as server:
        url = server.url
        response = requests.post(url + "/users", data=data)
        assert (response.status_code, response.json()) == (
            400, {"message": "email already registered"})
        assert requests.get(url + "/profile", cookies={
            "session_id": cookie}).json() == {"email": "bob@me.com"}
        assert requests.put(url + "/reset_password", data={
            "email": "bob@me.com", "reset_token": token,
            "new_password": "n3w"}).status_code == 200
        assert requests.post(url + "/sessions", data=data).status_code == 401
        response = requests.post(url + "/sessions", data={
            "email": "bob@me.com", "password": "n3w"})
        assert (response.status_code, response.json()) == (
            200, {"email": "bob@me.com", "message": "logged in"})
        # Input that PostgreSQL cannot store is an answer, never a 500.
        nul = {"email": "a\x00b@me.com", "password": "x"}
        assert requests.post(url + "/users", data=nul).status_code in (
            200, 400)
        assert requests.post(url + "/sessions", data=dict(
            nul, email="bob\x00@me.com")).status_code == 401
        assert requests.post(url + "/reset_password", data={
            "email": "bob\x00@me.com"}).status_code == 403
    assert "Traceback" not in server.output()
    assert not (workdir / "a.db").exists()
    assert users_columns(database_url) == [
        "id", "email", "hashed_password", "session_id", "reset_token"]
    if database_url.startswith("sqlite"):
        path = database_url[len("sqlite:///"):]
        assert os.stat(path).st_mode & 0o777 == 0o600


def test_kept_database_is_never_dropped(workdir, database_url):
    db_module = service_module("db")
    first = db_module.DB(database_url)
    first.add_user("bob@me.com", b"$2b$04$hash")
    first.update_user(1, session_id="s")
    again = db_module.DB(database_url)             # a restart
    user = again.find_user_by(email="bob@me.com")
    assert (user.id, user.session_id) == (1, "s")
    hashed = user.hashed_password
    assert (hashed if isinstance(hashed, bytes) else hashed.encode()) == \
        b"$2b$04$hash"
    assert again.add_user("al@me.com", "x").id == 2


def test_a_foreign_users_table_is_refused(workdir):
    path = workdir / "other.db"
    with sqlite3.connect(str(path)) as connection:
        connection.execute("CREATE TABLE users (id TEXT, name TEXT)")
        connection.execute("INSERT INTO users VALUES ('1', 'kept')")
    with pytest.raises(ValueError) as info:
        service_module("db").DB("sqlite:///" + str(path))
    assert "database of its own" in str(info.value)
    with sqlite3.connect(str(path)) as connection:
        assert connection.execute("SELECT * FROM users").fetchall() == [
            ("1", "kept")]


def test_default_database_is_still_wiped(workdir):
    db_module = service_module("db")
    db_module.DB().add_user("bob@me.com", "x")
    with pytest.raises(service_module("auth").NoResultFound):
        db_module.DB().find_user_by(email="bob@me.com")


def test_change_by_another_process_is_seen(workdir, database_url):
    # Two processes share a kept database; one's memoized session must
    # not serve the other's stale password hash or session id.
    mine = make_auth(database_url=database_url)
    bob = mine.register_user("bob@me.com", "old")      # held, as a view may
    assert mine.valid_login("bob@me.com", "old")
    other = make_auth(database_url=database_url)
    other.update_password(other.get_reset_password_token("bob@me.com"),
                          "new")
    session_id = other.create_session("bob@me.com")
    assert not mine.valid_login("bob@me.com", "old")
    assert mine.valid_login("bob@me.com", "new")
    assert mine.get_user_from_session_id(session_id) is bob
    assert bob.session_id == session_id


# Reset token lifetime -------------------------------------------------------

def test_reset_token_lives_900_seconds_by_default(workdir, clock):
    auth = make_auth()
    auth.register_user("bob@me.com", "old")
    token = auth.get_reset_password_token("bob@me.com")
    clock.advance(900)
    assert auth.get_email_from_reset_token(token) == "bob@me.com"
    clock.advance(1)
    assert auth.get_email_from_reset_token(token) is None
    with pytest.raises(ValueError):
        auth.update_password(token, "new")
    assert auth.valid_login("bob@me.com", "old")
    fresh = auth.get_reset_password_token("bob@me.com")   # a new clock
    clock.advance(899)
    auth.update_password(fresh, "new")
    assert auth.valid_login("bob@me.com", "new")


def test_reset_token_lifetime_setting(workdir, clock):
    auth = make_auth(reset_token_seconds=60)
    auth.register_user("bob@me.com", "old")
    token = auth.get_reset_password_token("bob@me.com")
    clock.advance(60)
    assert auth.get_email_from_reset_token(token) == "bob@me.com"
    clock.advance(1)
    assert auth.get_email_from_reset_token(token) is None


def test_a_token_without_issue_time_has_expired(workdir, tmp_path):
    # Set by hand (as an old script might), its age is unknown: refused.
    url = "sqlite:///" + str(tmp_path / "kept.db")
    db = service_module("db").DB(url)
    db.add_user("bob@me.com", b"x")
    db.update_user(1, reset_token="hand-made", session_id="by-hand")
    auth = make_auth(database_url=url)
    assert auth.get_email_from_reset_token("hand-made") is None
    assert auth.get_user_from_session_id("by-hand").email == "bob@me.com"
    assert make_auth(database_url=url, session_seconds=60) \
        .get_user_from_session_id("by-hand") is None


def test_expired_reset_token_over_http(workdir):
    with start(workdir, RESET_TOKEN_SECONDS="3") as server:
        url = server.url
        assert requests.post(url + "/users", data={
            "email": "bob@me.com", "password": PASSWORD}).status_code == 200
        token = requests.post(url + "/reset_password", data={
            "email": "bob@me.com"}).json()["reset_token"]
        form = {"email": "bob@me.com", "reset_token": token,
                "new_password": ""}
        # An empty new_password is checked after the token and changes
        # nothing: 400 while the token lives, then 403.
        seen = poll(lambda: requests.put(url + "/reset_password",
                                         data=form).status_code,
                    lambda status: status == 403)
        assert seen[0] == 400 and set(seen) == {400, 403}
        assert requests.put(url + "/reset_password", data=dict(
            form, new_password="n3w")).status_code == 403
        assert requests.post(url + "/sessions", data={
            "email": "bob@me.com", "password": PASSWORD}).status_code == 200


# Session lifetime ------------------------------------------------------------

def test_session_lasts_until_logout_by_default(workdir, clock):
    auth = make_auth()
    auth.register_user("bob@me.com", "pwd")
    session_id = auth.create_session("bob@me.com")
    clock.advance(10 * 365 * 86400)
    assert auth.get_user_from_session_id(session_id).email == "bob@me.com"


def test_session_lifetime_setting(workdir, clock):
    auth = make_auth(session_seconds=60)
    auth.register_user("bob@me.com", "pwd")
    session_id = auth.create_session("bob@me.com")
    clock.advance(60)
    assert auth.get_user_from_session_id(session_id).email == "bob@me.com"
    clock.advance(1)
    assert auth.get_user_from_session_id(session_id) is None
    renewed = auth.create_session("bob@me.com")
    assert auth.get_user_from_session_id(renewed).email == "bob@me.com"


def test_expired_session_over_http(workdir):
    with start(workdir, UAS_SESSION_SECONDS="2") as server:
        url = server.url
        data = {"email": "bob@me.com", "password": PASSWORD}
        assert requests.post(url + "/users", data=data).status_code == 200
        response = requests.post(url + "/sessions", data=data)
        assert "Max-Age=2" in response.headers["Set-Cookie"]
        cookie = {"session_id": response.cookies["session_id"]}
        seen = poll(lambda: requests.get(url + "/profile",
                                         cookies=cookie).status_code,
                    lambda status: status == 403)
        assert seen[0] == 200 and set(seen) == {200, 403}
        assert requests.delete(url + "/sessions", cookies=cookie,
                               allow_redirects=False).status_code == 403
        response = requests.post(url + "/sessions", data=data)
        assert requests.get(url + "/profile", cookies={
            "session_id": response.cookies["session_id"]}).status_code == 200
