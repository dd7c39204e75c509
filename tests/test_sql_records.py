"""The record stores' guarantees that issue 23 found untested.

Each test names, in its docstring, the defect it was seen to catch (planted
in the code, run, restored). Tests taking `database` run on the JSON files,
SQLite and PostgreSQL.
"""
import subprocess
import sys

import psycopg
import pytest

from api.v1.auth.session_db_auth import SessionDBAuth
from api.v1.config import Settings
from models import base
from models.store import (Insert, RecordConflictError, StoreUnavailableError)
from models.user import User
from models.user_session import UserSession
from conftest import (POSTGRES_ADMIN_URL, basic_header, create_user, login,
                      server_env)

ME = "/api/v1/users/me"


SQL_ONLY = pytest.mark.parametrize("database", ["sqlite", "postgresql"],
                                   indirect=True)
POSTGRES_ONLY = pytest.mark.parametrize("database", ["postgresql"],
                                        indirect=True)


def stored_record(user_id):
    """Return the record the store holds for `user_id`, read afresh.

    `User(**record)` keeps only the contract's fields, so the attributes
    a script added are checked in the record the store returns.
    """
    base.DATA.clear()
    base._TABLES.clear()
    return User.get(user_id)._snapshot()


def terminate_connections(database_url):
    """End every connection to the database of `database_url` but ours."""
    name = database_url.rsplit("/", 1)[1]
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        return admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,)).fetchall()


@POSTGRES_ONLY
def test_a_request_after_the_database_dropped_its_connections(
        make_app, database):
    """PostgreSQL ended every pooled connection: the next request works.

    Defect caught: `SqlRecordStore._run` without its one retry on an
    invalidated connection (the request then answers 503).
    """
    create_user()
    app = make_app("session_db_auth")
    client = app.test_client()
    assert login(client).status_code == 200
    assert client.get(ME).status_code == 200      # the pools hold links
    assert terminate_connections(database)
    try:
        response = client.get(ME)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["email"] == "bob@hbtn.io"
        assert login(client).status_code == 200   # a write works too
    finally:
        base.get_store().close()                  # no dead link is kept


def test_two_writers_of_different_extra_attributes_lose_nothing(database):
    """Two copies of one user change two attributes outside the columns.

    The later write is refused as stale or keeps both changes; it never
    silently drops the first. Defect caught: the SQL update writing its
    own `extra` over the stored one (`extra = dict(extra_changes)`).
    """
    user = create_user()
    first, second = User.get(user.id), User.get(user.id)
    if first is second:                           # the JSON cache
        second = User._from_record(first._snapshot())
    first.nickname = "Bobby"
    first.save()
    second.colour = "blue"
    try:
        second.save()
    except RecordConflictError:
        assert stored_record(user.id)["nickname"] == "Bobby"
        return
    stored = stored_record(user.id)
    assert (stored["nickname"], stored["colour"]) == ("Bobby", "blue")


def test_a_new_record_keeps_its_extra_attributes(database):
    """An attribute outside the contract's columns survives a reload.

    Defect caught: `_to_row` leaving out the `extra` column of an insert.
    """
    user = User(email="x@hbtn.io")
    user.password = "pwd"
    user.nickname = "X"
    user.tags = ["a", "b"]
    user.save()
    base.DATA.clear()
    base._TABLES.clear()
    stored = stored_record(user.id)
    assert (stored["nickname"], stored["tags"]) == ("X", ["a", "b"])
    assert stored["email"] == "x@hbtn.io"
    assert base.get_store().find("User", {"nickname": "X"})[0]["id"] \
        == user.id


def test_after_an_email_change_only_the_new_email_finds_the_user(
        make_app, database):
    """Lookups and logins follow the new email, never the old one.

    Defect caught: an update not recomputing the normalised `email_key`
    column (the old email then still finds and logs in the user).
    """
    user = create_user("Old@hbtn.io")
    user.email = "New@hbtn.io"
    user.save()
    assert User.search_by_email("new@HBTN.io") == [user]
    assert User.search_by_email("old@hbtn.io") == []
    assert User.search_by_email("Old@hbtn.io") == []
    client = make_app("session_auth").test_client()
    response = login(client, "new@hbtn.io")
    assert response.status_code == 200
    assert response.get_json()["email"] == "New@hbtn.io"
    stale = login(client, "old@hbtn.io")
    assert stale.status_code == 404
    assert stale.get_json() == {"error": "no user found for this email"}


@SQL_ONLY
def test_the_purge_removes_session_rows_without_a_creation_time(database):
    """A session row with NULL created_at and updated_at is purged.

    Defect caught: `SqlRecordStore.ids_older` without its `IS NULL`
    clause (such rows then live for ever).
    """
    auth = SessionDBAuth(Settings(session_duration=60))
    keep = auth.create_session("u2")
    base.get_store().apply("UserSession", [Insert({
        "id": "no-time", "session_id": "sid-no-time", "user_id": "u1",
        "created_at": None, "updated_at": None})])
    assert auth.purge_expired() == 1
    assert UserSession.get("no-time") is None
    assert auth.user_id_for_session_id(keep) == "u2"


def test_after_a_failed_write_the_next_read_shows_the_store(
        database, monkeypatch):
    """A save the store refused leaves no trace in later reads.

    Defect caught: `Base._persist` keeping its cached table after a
    failed write (JSON files: the unsaved change is then read back).
    """
    user = create_user(first_name="Bob")
    store = base.get_store()
    cached = User.get(user.id)

    def down(*args, **kwargs):
        raise StoreUnavailableError("down for the test")
    cached.first_name = "Unsaved"
    with monkeypatch.context() as patch:
        patch.setattr(store, "apply", down)
        with pytest.raises(StoreUnavailableError):
            cached.save()
    assert User.get(user.id).first_name == "Bob"
    assert [u.first_name for u in User.search({"email": "bob@hbtn.io"})] \
        == ["Bob"]


def test_after_a_stale_write_the_next_read_shows_the_store(
        database, workdir):
    """A save refused as stale: the process reads what the store holds.

    Another process changes the user between this process's read and its
    save. The JSON store re-reads its file before it writes, so even
    without the defect above this one holds; it is kept as the guard of
    the stale case.
    """
    user = create_user(first_name="Bob")
    mine = User.get(user.id)
    env = {"DATABASE_URL": database} if database else {}
    script = ("from models.user import User; u = User.get({!r}); "
              "u.first_name = 'Theirs'; u.save()".format(user.id))
    done = subprocess.run([sys.executable, "-c", script], cwd=workdir,
                          env=server_env(env), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    mine.first_name = "Mine"
    with pytest.raises(RecordConflictError):
        mine.save()
    assert User.get(user.id).first_name == "Theirs"


@POSTGRES_ONLY
def test_basic_auth_works_after_the_database_dropped_its_connections(
        make_app, database):
    """As the first test, through Basic authentication (reads only)."""
    create_user()
    client = make_app("basic_auth").test_client()
    header = basic_header("bob@hbtn.io", "H0lberton!")
    assert client.get(ME, headers=header).status_code == 200
    assert terminate_connections(database)
    try:
        assert client.get(ME, headers=header).status_code == 200
    finally:
        base.get_store().close()                  # no dead link is kept
