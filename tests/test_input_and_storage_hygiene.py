"""Bad input that reaches no store, and storage that says little.

account-security §1.3 under every policy: an over-long or NUL-holding
email or password at login or in Basic credentials is an unknown email,
before any normalisation or hashing; a NUL in the session cookie names no
session; no answer shows a file system path. Issue 14's storage hygiene:
SQLite files 0600, a cap on sessions per user, and "log out everywhere"
deleting the Redis keys it ends.
"""
import os
import stat
import subprocess
import time

import pytest
import redis as redis_lib

from conftest import (REPO, SESSION_TYPES, basic_header, create_user, login,
                      server_env, session_id_of)
from models.user import User

pytestmark = pytest.mark.quick_hashing

LOGIN = "/api/v1/auth_session/login"
UNKNOWN = {"error": "no user found for this email"}


@pytest.mark.parametrize("email, password", [
    ("bob\x00@hbtn.io", "H0lberton!"),
    ("bob@hbtn.io", "H0l\x00berton!"),
    ("b" * 250 + "@hbtn.io", "H0lberton!"),
    ("x" * 490000, "H0lberton!"),
])
def test_implausible_login_credentials_are_unknown_emails(
        make_app, database, email, password, verifications):
    create_user()
    client = make_app("session_db_auth").test_client()
    started = time.monotonic()
    response = client.post(LOGIN, data={"email": email,
                                        "password": password})
    assert (response.status_code, response.get_json()) == (404, UNKNOWN)
    assert time.monotonic() - started < 0.2
    assert verifications == []
    assert login(client).status_code == 200


@pytest.mark.parametrize("email, password", [
    ("bob\x00@hbtn.io", "H0lberton!"),
    ("bob@hbtn.io", "H0l\x00berton!"),
    ("b" * 250 + "@hbtn.io", "H0lberton!"),
])
def test_implausible_basic_credentials_are_forbidden(make_app, database,
                                                     email, password,
                                                     verifications):
    create_user()
    client = make_app("basic_auth").test_client()
    response = client.get("/api/v1/users/me",
                          headers=basic_header(email, password))
    assert (response.status_code, response.get_json()) == (
        403, {"error": "Forbidden"})
    assert verifications == []


@pytest.mark.parametrize("auth_type", SESSION_TYPES)
@pytest.mark.parametrize("cookie", ["abc\x00def", "x" * 300])
def test_a_cookie_that_cannot_be_a_session_is_forbidden(
        make_app, database, auth_type, cookie):
    create_user()
    app = make_app(auth_type)
    client = app.test_client()
    client.set_cookie("_my_session_id", cookie)
    response = client.get("/api/v1/users/me")
    assert (response.status_code, response.get_json()) == (
        403, {"error": "Forbidden"})
    assert client.delete("/api/v1/auth_session/logout").status_code == 403


def test_no_path_in_a_store_write_error(make_app, workdir):
    client = make_app(None).test_client()
    os.mkdir(workdir / ".db_User.json.lock")       # cannot be locked
    response = client.post("/api/v1/users", json={"email": "a@b.io",
                                                  "password": "pw"})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error.startswith("Can't create User: ")
    assert str(workdir) not in error and "/" not in error


@pytest.mark.parametrize("auth_type", SESSION_TYPES)
def test_a_login_past_the_cap_ends_the_oldest_sessions(
        make_app, database, auth_type, frozen_clock):
    create_user()
    app = make_app(auth_type, sessions_per_user=3)
    ids = []
    for _ in range(5):
        ids.append(session_id_of(login(app.test_client())))
        frozen_clock.advance(1)
    for session_id, expected in zip(ids, [403, 403, 200, 200, 200]):
        client = app.test_client()
        client.set_cookie("_my_session_id", session_id)
        assert client.get("/api/v1/users/me").status_code == expected
    listed = client.get("/api/v1/auth_session/sessions").get_json()
    assert len(listed) == 3


@pytest.mark.real_hashing
def test_sqlite_files_are_private(workdir):
    url = "sqlite:///" + str(workdir / "private.db")
    result = subprocess.run(
        [str(REPO / ".venv" / "bin" / "flask"), "--app", "api.v1.app",
         "create-user", "ann@hbtn.io", "--password-stdin"],
        cwd=workdir, env=server_env({"DATABASE_URL": url,
                                     "AUTH_TYPE": "session_db_auth"}),
        input="pw\n", capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    files = [name for name in os.listdir(workdir)
             if name.startswith("private.db")]
    assert "private.db" in files
    for name in files:
        mode = stat.S_IMODE(os.stat(workdir / name).st_mode)
        assert mode == 0o600, (name, oct(mode))


def test_json_store_lock_files_are_private(workdir):
    create_user()
    mode = stat.S_IMODE(os.stat(workdir / ".db_User.json.lock").st_mode)
    assert mode == 0o600


@pytest.mark.real_hashing
def test_revoke_sessions_deletes_the_redis_keys(workdir, redis_url):
    epoch = create_user().auth_epoch
    env = {"AUTH_TYPE": "session_auth", "SESSION_STORE_URL": redis_url}
    from conftest import api_server
    import requests
    with api_server(workdir, **env) as server:
        for _ in range(3):
            requests.post(server.url + LOGIN, data={
                "email": "bob@hbtn.io", "password": "H0lberton!"})
    client = redis_lib.Redis.from_url(redis_url)
    assert len(client.keys("sa:s:*")) == 3
    for environment in ({"SESSION_STORE_URL": redis_url}, env):
        result = subprocess.run(
            [str(REPO / ".venv" / "bin" / "flask"), "--app", "api.v1.app",
             "revoke-sessions", "bob@hbtn.io"], cwd=workdir,
            env=server_env(environment), capture_output=True, text=True,
            timeout=60)
        assert result.returncode == 0, result.stderr
        assert client.keys("sa:s:*") == []
        assert client.keys("sa:u:*") == []
    # Each of the two revocations moved the credential epoch once.
    assert User.search_by_email("bob@hbtn.io")[0].auth_epoch == epoch + 2
