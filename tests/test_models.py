"""Base, User and UserSession through their public methods, on every store.

Each test runs on the JSON files, SQLite and PostgreSQL (the `database`
fixture). What only the JSON files do is in `test_json_store.py`.
"""
import hashlib
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from models import base
from models.base import DATA, TIMESTAMP_FORMAT
from models.store import (DuplicateRecordError, RecordConflictError,
                          RecordMissingError)
from models.user import User
from models.user_session import UserSession
from conftest import REPO, create_user, reset_state, server_env

pytestmark = [pytest.mark.usefixtures("database"),
              pytest.mark.quick_hashing]


def other_process(code: str, database, cwd) -> None:
    """Run `code` in another Python process on the same store."""
    env = server_env({"DATABASE_URL": database} if database else {})
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_to_json_public_and_serialized():
    user = User(email="a@b.c", first_name="A")
    user.password = "secret"
    public = user.to_json()
    assert set(public) == {"id", "email", "first_name", "last_name",
                           "created_at", "updated_at"}
    assert "_password" in user.to_json(True)
    datetime.strptime(public["created_at"], TIMESTAMP_FORMAT)
    assert "T" in public["created_at"]


def test_equality_by_type_and_id():
    user = User(id="1")
    assert user == User(id="1")
    assert user != User(id="2")
    assert user != UserSession(id="1")


def test_timestamps_parse_and_reject():
    user = User(created_at="2017-09-25T01:55:17")
    assert user.created_at == datetime(2017, 9, 25, 1, 55, 17)
    for bad in ("2017-09-25 01:55:17", "2017-09-25T01:55", "yesterday"):
        with pytest.raises(ValueError):
            User(created_at=bad)


def test_never_loaded_class_does_not_raise():
    assert User.count() == 0
    assert User.get("nope") is None
    assert User.search({"email": "x"}) == []
    assert User.all() == []
    assert UserSession.search({"session_id": "x"}) == []


def test_save_load_and_remove():
    user = create_user("a@b.c", "pw", first_name="Ann")
    reset_state()
    User.load_from_file()
    again = User.get(user.id)
    assert again.to_json() == user.to_json()
    assert again.is_valid_password("pw")
    again.remove()
    assert User.get(user.id) is None and User.count() == 0


def test_explicit_load_resets_data():
    user = create_user("a@b.c", "pw")
    DATA["User"]["ghost"] = User(id="ghost")
    User.load_from_file()
    assert [u.id for u in User.all()] == [user.id]
    assert "ghost" not in DATA["User"]


def test_store_order_is_insertion_order():
    ids = [create_user("u{}@b.c".format(i), "pw").id for i in range(4)]
    assert [u.id for u in User.all()] == ids
    reset_state()
    assert [u.id for u in User.all()] == ids


def test_search_by_index_and_by_scan():
    a = create_user("a@b.c", "pw", first_name="Ann")
    b = create_user("b@b.c", "pw", first_name="Ann")
    assert User.search({"email": "a@b.c"}) == [a]
    assert User.search({"first_name": "Ann"}) == [a, b]
    assert User.search({"email": "a@b.c", "first_name": "Bob"}) == []
    assert User.search({"no_such_attribute": 1}) == []
    assert User.search({"email": ["unhashable"]}) == []
    assert User.search({"email": 5}) == []
    assert User.search({"last_name": None}) == [a, b]
    a.email = "new@b.c"
    a.save()
    assert User.search({"email": "a@b.c"}) == []
    assert User.search({"email": "new@b.c"}) == [a]
    assert User.get(["unhashable"]) is None


def test_remove_many_deletes_in_one_call():
    sessions = [UserSession(user_id="u", session_id=str(i)) for i in range(3)]
    for session in sessions:
        session.save()
    assert UserSession.remove_many([sessions[0].id, sessions[2].id,
                                    "unknown"]) == 2
    assert [s.id for s in UserSession.all()] == [sessions[1].id]
    assert UserSession.remove_many(["unknown"]) == 0


@pytest.mark.real_hashing
def test_password_is_argon2id_and_verifies():
    user = User()
    user.password = "H0lberton"
    assert user.password.startswith("$argon2id$")
    assert "m=19456,t=2,p=1" in user.password
    assert user.is_valid_password("H0lberton")
    assert not user.is_valid_password("h0lberton")
    assert not user.is_valid_password(None)
    assert not user.is_valid_password(89)
    other = User()
    other.password = "H0lberton"
    assert other.password != user.password     # salted
    user.password = 89
    assert user.password is None
    assert not user.is_valid_password("H0lberton")


def test_legacy_sha256_hash_verifies_and_is_upgraded():
    legacy = hashlib.sha256(b"old pwd").hexdigest().lower()
    user = User(email="old@b.c", _password=legacy)
    user.save()
    reset_state()
    stored = User.get(user.id)
    assert not stored.is_valid_password("wrong")
    assert stored.password == legacy
    assert stored.is_valid_password("old pwd")
    assert stored.password.startswith("$argon2id$")
    reset_state()
    again = User.get(user.id)
    assert again.password.startswith("$argon2id$")
    assert again.is_valid_password("old pwd")
    assert again.auth_epoch == user.auth_epoch   # a rehash revokes nothing


def test_display_name():
    assert User().display_name() == ""
    assert User(email="e@x").display_name() == "e@x"
    assert User(email="e", first_name="F").display_name() == "F"
    assert User(email="e", last_name="L").display_name() == "L"
    assert User(first_name="F", last_name="L").display_name() == "F L"


def test_user_session_json_keys():
    session = UserSession(user_id="u", session_id="s")
    assert set(session.to_json()) == {"id", "created_at", "updated_at",
                                      "user_id", "session_id"}


def test_save_of_a_new_object_inserts_and_replaces_by_id():
    user = create_user("a@b.c", "pw", first_name="Ann")
    copy = User(id=user.id, email="a@b.c", first_name="Copy")
    copy.save()                          # new object: the contract's save
    assert User.count() == 1
    assert User.get(user.id).first_name == "Copy"


def test_a_stale_object_never_brings_a_deleted_record_back():
    user = create_user("a@b.c", "pw")
    stale = User.get(user.id)
    User.get(user.id).remove()
    stale.first_name = "Back"
    with pytest.raises(RecordMissingError):
        stale.save()
    assert User.get(user.id) is None and User.count() == 0


@pytest.mark.real_hashing
def test_an_update_writes_only_the_fields_it_changed(database, workdir):
    user = create_user("a@b.c", "old password")
    stale = User.get(user.id)
    other_process(
        "from models.user import User\n"
        "u = User.get({!r})\n"
        "u.password = 'new password'\n"
        "u.save()\n".format(user.id), database, workdir)
    stale.first_name = "Renamed"
    stale.save()                         # changes only first_name
    fresh = User.get(user.id)
    assert fresh.first_name == "Renamed"
    assert fresh.is_valid_password("new password")
    assert not fresh.is_valid_password("old password")


@pytest.mark.real_hashing
def test_a_field_changed_meanwhile_is_a_conflict(database, workdir):
    user = create_user("a@b.c", "pw", first_name="Ann")
    stale = User.get(user.id)
    other_process(
        "from models.user import User\n"
        "u = User.get({!r})\n"
        "u.first_name = 'Other'\n"
        "u.save()\n".format(user.id), database, workdir)
    stale.first_name = "Mine"
    with pytest.raises(RecordConflictError):
        stale.save()
    assert User.get(user.id).first_name == "Other"


@pytest.mark.real_hashing
def test_a_rehash_never_brings_back_a_password_changed_meanwhile(
        database, workdir):
    legacy = hashlib.sha256(b"old pwd").hexdigest()
    user = User(email="old@b.c", _password=legacy)
    user.save()
    stale = User.get(user.id)
    other_process(
        "from models.user import User\n"
        "u = User.get({!r})\n"
        "u.password = 'new pwd'\n"
        "u.save()\n".format(user.id), database, workdir)
    assert stale.is_valid_password("old pwd")   # checked what it read
    fresh = User.get(user.id)
    assert fresh.is_valid_password("new pwd")
    assert not fresh.is_valid_password("old pwd")


def test_a_password_change_moves_the_epoch_on():
    user = create_user("a@b.c", "pw")
    first = user.auth_epoch
    user.first_name = "Ann"
    user.save()
    assert User.get(user.id).auth_epoch == first
    user.password = "new"
    user.save()
    assert User.get(user.id).auth_epoch == first + 1
    user.revoke_sessions()
    assert User.get(user.id).auth_epoch == first + 2


def test_emails_normalise_for_search_by_email():
    user = create_user("Bob@HBTN.io", "pw")
    for variant in ("Bob@HBTN.io", "bob@hbtn.io", " bob@hbtn.io ",
                    "bob\u200b@hbtn.io", "\uff42\uff4f\uff42@hbtn.io"):
        assert User.search_by_email(variant) == [user], variant
    assert User.search({"email": "bob@hbtn.io"}) == []    # contract: exact
    assert User.search_by_email("ann@hbtn.io") == []
    assert User.search_by_email(None) == []


def test_ids_older_than_finds_expired_records():
    old = UserSession(user_id="u", session_id="old",
                      created_at=datetime(2020, 1, 1))
    old.save()
    new = UserSession(user_id="u", session_id="new")
    new.save()
    cutoff = {"created_at": datetime.utcnow() - timedelta(days=1)}
    assert UserSession.ids_older_than(cutoff) == [old.id]


def test_save_many_writes_every_object():
    users = [User(email="u{}@b.c".format(i)) for i in range(3)]
    User.save_many(users)
    assert sorted(u.id for u in User.all()) == sorted(u.id for u in users)


def test_set_store_swaps_the_record_store(tmp_path):
    from models.sql_store import SqlRecordStore
    create_user("a@b.c", "pw")
    other = SqlRecordStore("sqlite:///" + str(tmp_path / "other.db"))
    base.set_store(other)
    assert base.get_store() is other
    assert User.count() == 0
    create_user("b@b.c", "pw")
    assert [u.email for u in User.all()] == ["b@b.c"]


def test_sql_store_refuses_a_second_user_with_the_same_email(database):
    create_user("bob@hbtn.io", "pw")
    twin = User(email=" BOB@hbtn.io")
    if database is None:
        twin.save()                      # the contract: save() allows it
        assert User.count() == 2
        return
    with pytest.raises(DuplicateRecordError):
        twin.save()
    assert User.count() == 1


@pytest.mark.real_hashing
def test_a_checker_process_on_an_empty_database(database, workdir):
    other_process(
        "from models.user import User\n"
        "User.load_from_file()\n"
        "u = User(email='x@y.z')\n"
        "u.save()\n"
        "print(User.count())\n", database, workdir)
    assert [u.email for u in User.all()] == ["x@y.z"]


def test_repo_is_importable_from_a_scratch_folder(workdir):
    assert (REPO / "models" / "base.py").exists()
