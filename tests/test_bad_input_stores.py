"""Bad input that a store cannot hold, and store files damaged by hand.

The house standard: bad input gets a clear error and loses nothing,
never a 500 with a traceback, and no secret (a password hash) in a log
line. NUL cannot be stored in PostgreSQL's text, so it is refused at the
API on every store; a record whose id is not its key, or whose fields
have the wrong type, makes the store corrupt at load instead of failing
later or being duplicated by a save.
"""
import json
import logging

import pytest

from conftest import create_user, login, session_id_of
from models.store import CorruptStoreError
from models.user import User

pytestmark = pytest.mark.quick_hashing


@pytest.mark.parametrize("field, body", [
    ("first_name", {"email": "nul@x.io", "password": "S3cret!pw",
                    "first_name": "a\x00"}),
    ("email", {"email": "n\x00l@x.io", "password": "S3cret!pw"}),
    ("password", {"email": "nul@x.io", "password": "S3c\x00ret"}),
])
def test_nul_in_a_new_user_is_a_clear_400_on_every_store(
        make_app, database, caplog, field, body):
    """`Can't create User: <field> holds a NUL character`, nothing stored,
    no hash or traceback logged."""
    client = make_app(None).test_client()
    with caplog.at_level(logging.DEBUG):
        answer = client.post("/api/v1/users", json=body)
    assert (answer.status_code, answer.get_json()) == (400, {
        "error": "Can't create User: {} holds a NUL character".format(
            field)})
    assert User.count() == 0
    assert "$argon2" not in caplog.text
    assert "Traceback" not in caplog.text


def test_nul_in_a_name_update_is_a_clear_400_on_every_store(
        make_app, database, caplog):
    """The names stay as they were."""
    client = make_app(None).test_client()
    user = create_user(first_name="Bob")
    with caplog.at_level(logging.DEBUG):
        answer = client.put("/api/v1/users/" + user.id,
                            json={"first_name": "a\x00b"})
    assert (answer.status_code, answer.get_json()) == (
        400, {"error": "first_name holds a NUL character"})
    assert User.get(user.id).first_name == "Bob"
    assert "$argon2" not in caplog.text


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_nul_in_a_user_id_is_404_on_every_store(make_app, database, method):
    """An id holding NUL names nobody; the user that exists is kept."""
    client = make_app(None).test_client()
    user = create_user()
    answer = client.open("/api/v1/users/a%00b", method=method,
                         json={"first_name": "x"})
    assert (answer.status_code, answer.get_json()) == (
        404, {"error": "Not found"})
    assert User.get(user.id) is not None


@pytest.mark.parametrize("text", ["\u4e00" * 1500, "\U0001F600" * 1000],
                         ids=["cjk", "emoji"])
def test_a_qr_uri_too_big_to_draw_is_400(make_app, text):
    """Under the 2,048-character limit, but too many bytes for a QR code:
    `Wrong format`, as for any other unusable text."""
    client = make_app("session_db_auth").test_client()
    answer = client.post("/account/totp-qr",
                         json={"otpauth_uri": "otpauth://" + text})
    assert (answer.status_code, answer.get_json()) == (
        400, {"error": "Wrong format"})


@pytest.mark.parametrize("digits", [10, 5000])
def test_a_limit_with_many_digits_gives_at_most_200(make_app, digits):
    """Over 200 gives 200 (§6.4), also with 5,000 digits (past Python's
    int conversion limit); zeros alone stay invalid."""
    client = make_app("session_auth").test_client()
    create_user()
    login(client)
    answer = client.get("/api/v1/auth_session/events?limit=" + "9" * digits)
    assert answer.status_code == 200
    assert isinstance(answer.get_json(), list)
    answer = client.get("/api/v1/auth_session/events?limit=" + "0" * digits)
    assert (answer.status_code, answer.get_json()) == (
        400, {"error": "invalid limit"})


_ABSENT = object()


def _stored(**changes: object) -> dict:
    """Return a valid stored user record with `changes` applied."""
    record = {"id": "u1", "email": "bob@hbtn.io", "_password": None,
              "created_at": "2017-09-25T01:55:17",
              "updated_at": "2017-09-25T01:55:17"}
    record.update(changes)
    return {key: value for key, value in record.items()
            if value is not _ABSENT}


@pytest.mark.parametrize("record", [
    _stored(id=None), _stored(id=5), _stored(id=_ABSENT),
    _stored(id="u2"), _stored(_auth_epoch="x"), _stored(_auth_epoch=True),
], ids=["null id", "int id", "no id", "id not its key", "text epoch",
        "bool epoch"])
def test_a_damaged_record_makes_the_store_corrupt_and_is_kept(
        workdir, record):
    """Loading raises `CorruptStoreError` naming the file and the record;
    the file is left as it was."""
    path = workdir / ".db_User.json"
    path.write_text(json.dumps({"u1": record}))
    before = path.read_bytes()
    with pytest.raises(CorruptStoreError, match=r"\.db_User\.json|users"):
        User.load_from_file()
    assert path.read_bytes() == before


def test_a_sound_record_still_loads(workdir):
    """The same record, undamaged, loads, and a save keeps one record."""
    path = workdir / ".db_User.json"
    path.write_text(json.dumps({"u1": _stored(_auth_epoch=2)}))
    User.load_from_file()
    user = User.get("u1")
    assert user.auth_epoch == 2
    user.first_name = "Bob"
    user.save()
    assert list(json.loads(path.read_text())) == ["u1"]


@pytest.mark.parametrize("field, value", [
    ("created", "abc"), ("epoch", "x"), ("seen", "9" * 5000)],
    ids=["created", "epoch", "seen"])
def test_a_session_hash_changed_by_hand_is_no_session(
        make_app, redis_url, field, value):
    """Redis sessions: a hash whose numbers do not parse refuses its
    session (403, fails closed), and the user's other session and a new
    login go on; before, both answered 500."""
    import redis

    from api.v1.auth.stores.base import session_handle

    app = make_app("session_auth", session_store_url=redis_url)
    create_user()
    broken, other = app.test_client(), app.test_client()
    response = login(broken)
    assert login(other).status_code == 200
    key = "sa:s:" + session_handle(session_id_of(response))
    writer = redis.Redis.from_url(redis_url)
    try:
        assert writer.hset(key, field, value) == 0
    finally:
        writer.close()
    answer = broken.get("/api/v1/users/me")
    assert (answer.status_code, answer.get_json()) == (
        403, {"error": "Forbidden"})
    assert other.get("/api/v1/users/me").status_code == 200
    assert login(app.test_client()).status_code == 200


@pytest.mark.parametrize("cost", ["t=4294967295,", "m=4294967295,",
                                  "p=255$"], ids=["time", "memory", "lanes"])
def test_a_stored_hash_of_absurd_cost_is_refused_unrun(make_app, cost):
    """A hash changed by hand or imported from a hostile file, whose
    argon2 costs would hold a worker for ever, is a wrong password: the
    login answers 401 `wrong password` and the model says False."""
    app = make_app("session_auth")
    user = create_user()
    field = cost.split("=")[0] + "="
    stored = user._password
    start = stored.index(field)
    end = stored.index("," if not cost.endswith("$") else "$", start)
    user._password = stored[:start] + cost.rstrip(",$") + stored[end:]
    user.save()
    assert not User.get(user.id).is_valid_password("H0lberton!")
    answer = login(app.test_client())
    assert (answer.status_code, answer.get_json()) == (
        401, {"error": "wrong password"})
