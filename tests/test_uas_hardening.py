"""The user authentication service where input, databases and races bite.

* A database error keeps the SQL parameters (a live reset token, a bcrypt
  hash) out of the log.
* An email no database can store (over `users.email`'s 250 characters, or
  holding NUL) answers 400 on every database, never 500 nor "already
  registered".
* Two processes sharing a kept database cannot register one email twice
  (a unique index beside task 0's columns).
* A login whose bcrypt check overlaps a password reset gets no session
  (401): under `ACCOUNT_POLICY=strict` the reset must end every session.
* A mistyped `RATELIMIT_STORAGE_URI` is reported without its password.
"""
import sqlite3
import threading

import bcrypt
import pytest

from conftest import scratch_database
from uas import service_module

pytestmark = pytest.mark.quick_hashing


@pytest.fixture
def service(workdir, monkeypatch):
    app_module = service_module("app")
    monkeypatch.setattr(app_module, "AUTH", service_module("auth").Auth())
    return app_module


def use_auth(service, monkeypatch, **values):
    """Give the app an `Auth` made with `Settings(**values)`."""
    auth = service.Auth(service.Settings(**values))
    monkeypatch.setattr(service, "AUTH", auth)
    return auth


def test_db_errors_keep_secrets_out_of_logs(service, monkeypatch, workdir,
                                            caplog):
    """A reset that fails on a locked database logs no token nor hash."""
    path = workdir / "kept.db"
    use_auth(service, monkeypatch, database_url="sqlite:///" + str(path))
    client = service.app.test_client()
    client.post("/users", data={"email": "bob@me.com", "password": "old"})
    token = client.post("/reset_password",
                        data={"email": "bob@me.com"}).get_json()[
                            "reset_token"]
    # Another process holds the write lock: the UPDATE fails (after
    # SQLite's 5 s busy timeout) and the app answers 500.
    other = sqlite3.connect(str(path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        response = client.put("/reset_password", data={
            "email": "bob@me.com", "reset_token": token,
            "new_password": "new"})
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert response.status_code in (500, 503)
    assert "reset_password" in caplog.text or caplog.records
    assert token not in caplog.text      # still a live token afterwards
    assert "$2b$" not in caplog.text


@pytest.fixture
def uas_database():
    """Yield the URL of a PostgreSQL database of this test's own."""
    with scratch_database("uas_hardening") as url:
        yield url


@pytest.mark.parametrize("kept", ["postgresql", "sqlite"])
@pytest.mark.parametrize("email, message", [
    ("x" * 251 + "@me.com", "email too long"),
    ("b\x00b@me.com", "invalid email")], ids=["long", "nul"])
def test_an_email_no_database_can_store_is_400(
        service, monkeypatch, request, workdir, kept, email, message):
    """The same 400 on PostgreSQL (which refuses both) and SQLite (which
    takes both); 250 characters still register."""
    url = request.getfixturevalue("uas_database") if kept == "postgresql" \
        else "sqlite:///" + str(workdir / "kept.db")
    use_auth(service, monkeypatch, database_url=url)
    monkeypatch.setitem(service.app.config, "PROPAGATE_EXCEPTIONS", False)
    client = service.app.test_client()
    response = client.post("/users", data={"email": email,
                                           "password": "pw"})
    assert (response.status_code, response.get_json()) == (
        400, {"message": message})
    fits = "y" * 243 + "@me.com"
    assert client.post("/users", data={"email": fits, "password": "pw"}
                       ).status_code == 200


def test_two_processes_cannot_register_one_email_twice(
        workdir, monkeypatch):
    """Both look the email up before either stores it: the second insert
    is refused with the contract's `ValueError`, one row remains."""
    url = "sqlite:///" + str(workdir / "kept.db")
    auth_module = service_module("auth")
    settings = service_module("settings").Settings(database_url=url)
    first, second = auth_module.Auth(settings), auth_module.Auth(settings)
    # Both registrations have looked the email up before either stores it
    # (as two processes can); a fix that serialises them may break this
    # rendezvous, which is then skipped.
    both_looked = threading.Barrier(2)
    real_hash = auth_module._hash_password

    def hash_after_both_looked(password):
        try:
            both_looked.wait(timeout=2)
        except threading.BrokenBarrierError:
            pass
        return real_hash(password)
    monkeypatch.setattr(auth_module, "_hash_password", hash_after_both_looked)
    outcomes = []

    def register(auth, password):
        try:
            outcomes.append(auth.register_user("bob@me.com", password).id)
        except ValueError as exc:
            outcomes.append(str(exc))
    threads = [threading.Thread(target=register, args=pair)
               for pair in ((first, "owner"), (second, "other"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(str, outcomes))[1] == \
        "User bob@me.com already exists", outcomes
    rows = sqlite3.connect(str(workdir / "kept.db")).execute(
        "SELECT count(*) FROM users WHERE email = 'bob@me.com'").fetchone()
    assert rows == (1,)


def test_login_racing_a_strict_reset_gets_no_session(service, monkeypatch):
    """The owner's reset lands during the attacker's bcrypt check of the
    old password: the login answers 401 and sets no session."""
    auth = use_auth(service, monkeypatch, account_policy="strict")
    attacker = service.app.test_client()
    attacker.post("/users", data={"email": "bob@me.com", "password": "old"})
    real_checkpw = bcrypt.checkpw

    def owner_resets_during_the_check(password, hashed):
        # The owner's reset lands while the attacker's bcrypt check of
        # the old password runs (~0.3 s at cost 12).
        monkeypatch.setattr(bcrypt, "checkpw", real_checkpw)
        auth.update_password(auth.get_reset_password_token("bob@me.com"),
                             "new")
        return real_checkpw(password, hashed)
    monkeypatch.setattr(bcrypt, "checkpw", owner_resets_during_the_check)
    assert attacker.post("/sessions", data={
        "email": "bob@me.com", "password": "old"}).status_code == 401
    assert not auth.valid_login("bob@me.com", "old")   # the reset is done
    # Strict policy: whoever held the old password holds no session now.
    assert attacker.get("/profile").status_code == 403


def test_a_bad_counter_uri_is_reported_without_its_password():
    """Only the scheme is named; the password appears nowhere."""
    throttle = service_module("throttle")
    with pytest.raises(ValueError) as raised:
        throttle.Throttle("redis+bogus://:hunter2@127.0.0.1:6379/0")
    assert "hunter2" not in str(raised.value)
    assert "redis+bogus" in str(raised.value)
