"""Tests of Base, User and UserSession through their public methods."""
import hashlib
import json
import os
from datetime import datetime

import pytest

from models import base
from models.base import DATA, TIMESTAMP_FORMAT
from models.store import CorruptStoreError
from models.user import User
from models.user_session import UserSession
from conftest import create_user, reset_state


def read_db(name="User"):
    with open(".db_{}.json".format(name)) as handle:
        return json.load(handle)


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
    with pytest.raises(ValueError):
        User(created_at="2017-09-25 01:55:17")


def test_never_loaded_class_does_not_raise():
    assert User.count() == 0
    assert User.get("nope") is None
    assert User.search({"email": "x"}) == []
    assert User.all() == []
    assert UserSession.search({"session_id": "x"}) == []


def test_save_load_and_remove():
    user = create_user("a@b.c", "pw")
    stored = read_db()
    assert list(stored) == [user.id]
    assert os.stat(".db_User.json").st_mode & 0o777 == 0o600
    assert stored[user.id]["email"] == "a@b.c"
    reset_state()
    User.load_from_file()
    again = User.get(user.id)
    assert again.email == "a@b.c" and again.is_valid_password("pw")
    again.remove()
    assert read_db() == {} and User.count() == 0


def test_fresh_process_save_adds_to_the_file():
    first = create_user("first@b.c", "pw")
    reset_state()                       # a new process, file not loaded
    second = User(email="second@b.c")   # __init__ creates DATA["User"]
    second.save()
    assert set(read_db()) == {first.id, second.id}


def test_explicit_load_resets_to_the_file():
    user = create_user("a@b.c", "pw")
    DATA["User"]["ghost"] = User(id="ghost")
    User.load_from_file()
    assert [u.id for u in User.all()] == [user.id]


def test_another_writer_is_seen_without_reload():
    user = create_user("a@b.c", "pw")
    records = read_db()
    records["other"] = dict(records[user.id], id="other", email="o@b.c")
    with open(".db_User.json.new", "w") as handle:
        json.dump(records, handle)
    os.replace(".db_User.json.new", ".db_User.json")
    assert User.count() == 2
    assert User.search({"email": "o@b.c"})[0].id == "other"


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
    a.email = "new@b.c"
    a.save()
    assert User.search({"email": "a@b.c"}) == []
    assert User.search({"email": "new@b.c"}) == [a]
    assert User.get(["unhashable"]) is None


@pytest.mark.parametrize("content", [
    "{not json", "[1, 2]", '{"x": 5}', '{"x": {"created_at": "bad"}}',
    b"\xff\xfe\x00garbage",
])
def test_corrupt_file_raises_and_is_left_untouched(content):
    mode = "wb" if isinstance(content, bytes) else "w"
    with open(".db_User.json", mode) as handle:
        handle.write(content)
    before = open(".db_User.json", "rb").read()
    with pytest.raises(CorruptStoreError) as info:
        User.load_from_file()
    assert ".db_User.json" in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(CorruptStoreError):
        User(email="x@y.z").save()
    assert open(".db_User.json", "rb").read() == before


def test_failed_write_keeps_file_and_memory(monkeypatch):
    user = create_user("a@b.c", "pw")
    before = open(".db_User.json", "rb").read()

    def broken_replace(src, dst):
        raise OSError("disk full")
    other = User(email="other@b.c")
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", broken_replace)
        with pytest.raises(OSError):
            other.save()
    assert open(".db_User.json", "rb").read() == before
    assert [u.id for u in User.all()] == [user.id]
    assert [n for n in os.listdir(".") if n.endswith(".tmp")] == []


def test_remove_many_writes_once():
    sessions = [UserSession(user_id="u", session_id=str(i)) for i in range(3)]
    for session in sessions:
        session.save()
    assert UserSession.remove_many([sessions[0].id, sessions[2].id,
                                    "unknown"]) == 2
    assert list(read_db("UserSession")) == [sessions[1].id]
    assert UserSession.remove_many(["unknown"]) == 0


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
    with open(".db_User.json", "w") as handle:
        json.dump({"u1": {"id": "u1", "email": "old@b.c",
                          "_password": legacy,
                          "created_at": "2017-09-25T01:55:17",
                          "updated_at": "2017-09-25T01:55:17"}}, handle)
    user = User.get("u1")
    assert not user.is_valid_password("wrong")
    assert user.password == legacy
    assert user.is_valid_password("old pwd")
    assert user.password.startswith("$argon2id$")
    assert read_db()["u1"]["_password"].startswith("$argon2id$")
    reset_state()
    assert User.get("u1").is_valid_password("old pwd")


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


def test_set_store_swaps_the_record_store():
    from models.store import JsonFileStore
    create_user("a@b.c", "pw")
    base.set_store(JsonFileStore())
    assert User.count() == 1
