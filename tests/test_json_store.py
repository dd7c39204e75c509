"""What only the JSON-file store does: the contract's files on disk."""
import json
import os

import orjson
import pytest

from models import store as store_module
from models.base import DATA
from models.store import CorruptStoreError, JsonFileStore
from models.user import User
from models.user_session import UserSession
from conftest import create_user, reset_state


def read_db(name="User"):
    with open(".db_{}.json".format(name)) as handle:
        return json.load(handle)


def test_file_holds_the_records_with_mode_0600():
    user = create_user("a@b.c", "pw")
    stored = read_db()
    assert list(stored) == [user.id]
    assert os.stat(".db_User.json").st_mode & 0o777 == 0o600
    assert stored[user.id]["email"] == "a@b.c"
    assert stored[user.id]["_password"].startswith("$argon2id$")


def test_fresh_process_save_adds_to_the_file():
    first = create_user("first@b.c", "pw")
    reset_state()                       # a new process, file not loaded
    second = User(email="second@b.c")   # __init__ creates DATA["User"]
    second.save()
    assert set(read_db()) == {first.id, second.id}


def test_another_writer_is_seen_without_reload():
    user = create_user("a@b.c", "pw")
    records = read_db()
    records["other"] = dict(records[user.id], id="other", email="o@b.c")
    with open(".db_User.json.new", "w") as handle:
        json.dump(records, handle)
    os.replace(".db_User.json.new", ".db_User.json")
    assert User.count() == 2
    assert User.search({"email": "o@b.c"})[0].id == "other"


def test_a_change_of_same_size_and_time_is_seen_by_its_inode():
    user = create_user("a@b.c", "pw", first_name="Ann")
    User.count()
    before = os.stat(".db_User.json")
    text = open(".db_User.json").read().replace('"Ann"', '"Bob"')
    with open(".db_User.json.new", "w") as handle:
        handle.write(text)
    times = (before.st_atime_ns, before.st_mtime_ns)
    os.utime(".db_User.json.new", ns=times)
    os.replace(".db_User.json.new", ".db_User.json")
    after = os.stat(".db_User.json")
    assert (after.st_size, after.st_mtime_ns) == (before.st_size,
                                                  before.st_mtime_ns)
    assert User.get(user.id).first_name == "Bob"


def test_fields_the_model_does_not_know_survive_an_update():
    user = create_user("a@b.c", "pw")
    records = read_db()
    records[user.id]["legacy_field"] = {"kept": True}
    with open(".db_User.json", "w") as handle:
        json.dump(records, handle)
    stale = User.get(user.id)
    stale.first_name = "Ann"
    stale.save()
    assert read_db()[user.id]["legacy_field"] == {"kept": True}
    assert read_db()[user.id]["first_name"] == "Ann"


def test_unsaved_changes_of_other_objects_are_not_written():
    a = create_user("a@b.c", "pw")
    b = create_user("b@b.c", "pw")
    a.first_name = "Unsaved"
    b.first_name = "Saved"
    b.save()
    assert read_db()[a.id]["first_name"] is None
    assert read_db()[b.id]["first_name"] == "Saved"


def test_only_the_changed_record_is_serialised_again(monkeypatch):
    users = [create_user("u{}@b.c".format(i), "pw") for i in range(5)]
    dumped = []
    real = orjson.dumps

    def counting(value, *args, **kwargs):
        if isinstance(value, dict) and "email" in value:
            dumped.append(value["id"])
        return real(value, *args, **kwargs)
    monkeypatch.setattr(store_module.orjson, "dumps", counting)
    users[2].first_name = "Changed"
    users[2].save()
    assert dumped == [users[2].id]


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


def test_a_write_is_fsynced_in_the_target_folder_before_the_rename(
        monkeypatch, workdir):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        calls.append(("fsync", os.readlink("/proc/self/fd/{}".format(fd))))
        return real_fsync(fd)

    def replace(src, dst):
        calls.append(("replace", src, dst))
        return real_replace(src, dst)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    create_user("a@b.c", "pw")
    kinds = [call[0] for call in calls]
    assert kinds == ["fsync", "replace", "fsync"]
    temporary = calls[1][1]
    assert calls[0][1] == temporary                 # the data, first
    assert os.path.dirname(temporary) == str(workdir)
    assert calls[1][2] == str(workdir / ".db_User.json")
    assert calls[2][1] == str(workdir)              # then the folder


def test_remove_many_writes_once(monkeypatch):
    sessions = [UserSession(user_id="u", session_id=str(i)) for i in range(3)]
    for session in sessions:
        session.save()
    writes = []
    real = store_module.write_atomically
    monkeypatch.setattr(store_module, "write_atomically",
                        lambda path, data: (writes.append(path),
                                            real(path, data)))
    assert UserSession.remove_many([sessions[0].id, sessions[2].id,
                                    "unknown"]) == 2
    assert len(writes) == 1
    assert list(read_db("UserSession")) == [sessions[1].id]
    assert UserSession.remove_many(["unknown"]) == 0
    assert len(writes) == 1


def test_explicit_load_resets_to_the_file():
    user = create_user("a@b.c", "pw")
    DATA["User"]["ghost"] = User(id="ghost")
    User.load_from_file()
    assert [u.id for u in User.all()] == [user.id]


def test_store_version_changes_with_the_inode(workdir):
    store = JsonFileStore()
    create_user("a@b.c", "pw")
    first = store.version("User")
    stat = os.stat(".db_User.json")
    assert first == (stat.st_dev, stat.st_ino, stat.st_mtime_ns,
                     stat.st_size)
