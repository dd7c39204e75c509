"""Unit tests of the service's User, DB and Auth, as scripts use them."""
import os
import stat
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import bcrypt
import pytest
from sqlalchemy.exc import InvalidRequestError
from sqlalchemy.orm.exc import NoResultFound

from uas import SERVICE, service_module

pytestmark = pytest.mark.quick_hashing


@pytest.fixture
def db(workdir):
    return service_module("db").DB()


@pytest.fixture
def auth(workdir):
    return service_module("auth").Auth()


@pytest.fixture
def checkpw_calls(monkeypatch):
    """Count the calls of `bcrypt.checkpw` (auth.py calls it through the
    bcrypt module, so patching the module attribute sees them)."""
    calls = []
    real = bcrypt.checkpw

    def spy(password, hashed):
        calls.append(password)
        return real(password, hashed)
    monkeypatch.setattr(bcrypt, "checkpw", spy)
    return calls


def test_user_table_printout(workdir):
    script = ("from user import User\nprint(User.__tablename__)\n"
              "for column in User.__table__.columns:\n"
              "    print('{}: {}'.format(column, column.type))\n")
    result = subprocess.run([sys.executable, "-W", "error", "-c", script],
                            cwd=SERVICE, capture_output=True, text=True)
    assert result.stdout.splitlines() == [
        "users", "users.id: INTEGER", "users.email: VARCHAR(250)",
        "users.hashed_password: VARCHAR(250)",
        "users.session_id: VARCHAR(250)", "users.reset_token: VARCHAR(250)"]
    user = service_module("user").User
    assert not user.__table__.columns["email"].nullable
    assert not user.__table__.columns["hashed_password"].nullable
    assert user.__table__.columns["session_id"].nullable


def test_db_lands_in_the_working_directory(db, workdir):
    db.add_user("a@b.c", "x")
    assert (workdir / "a.db").exists()


@pytest.fixture
def usual_umask():
    """Run with the common umask 022, under which new files get 0644."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode_of(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_db_file_is_private_to_its_owner(workdir, usual_umask):
    db = service_module("db").DB()
    db.add_user("a@b.c", "x")
    db.update_user(1, session_id="s", reset_token="t")
    assert mode_of(workdir / "a.db") == 0o600


def test_db_tightens_an_existing_file(workdir, usual_umask):
    (workdir / "a.db").write_bytes(b"")
    os.chmod(workdir / "a.db", 0o644)
    service_module("db").DB().add_user("a@b.c", "x")
    assert mode_of(workdir / "a.db") == 0o600


def test_add_user_ids(db):
    assert db.add_user("test@test.com", "SuperHashedPwd").id == 1
    assert db.add_user("test1@test.com", "SuperHashedPwd1").id == 2


def test_find_user_by(db):
    user = db.add_user("test@test.com", "PwdHashed")
    assert db.find_user_by(email="test@test.com").id == user.id
    assert db.find_user_by(id=user.id, email="test@test.com").id == 1
    with pytest.raises(NoResultFound):
        db.find_user_by(email="test2@test.com")
    with pytest.raises(InvalidRequestError) as info:
        db.find_user_by(no_email="test@test.com")
    assert not isinstance(info.value, NoResultFound)


def test_find_user_by_first_row_and_null(db):
    db.add_user("a@b.c", "x")
    db.add_user("b@b.c", "y")
    assert db.find_user_by(session_id=None).id == 1     # .first(), no error


def test_update_user(db):
    user = db.add_user("test@test.com", "PwdHashed")
    db.update_user(user.id, hashed_password="NewPwd")
    assert db.find_user_by(id=user.id).hashed_password == "NewPwd"
    with pytest.raises(ValueError):
        db.update_user(user.id, session_id="s", metadata="x")
    assert db.find_user_by(id=user.id).session_id is None   # nothing changed
    with pytest.raises(ValueError):
        db.update_user(user.id, __table__="x")


def test_every_db_starts_empty(db, workdir):
    db.add_user("a@b.c", "x")
    fresh = service_module("db").DB()
    with pytest.raises(NoResultFound):
        fresh.find_user_by(email="a@b.c")


@pytest.mark.real_hashing
def test_hash_password_and_uuid():
    auth_module = service_module("auth")
    hashed = auth_module._hash_password("Hello Holberton")
    assert isinstance(hashed, bytes) and hashed.startswith(b"$2b$12$")
    assert hashed != auth_module._hash_password("Hello Holberton")
    assert bcrypt.checkpw(b"Hello Holberton", hashed)
    ids = {auth_module._generate_uuid() for _ in range(3)}
    assert len(ids) == 3 and all(len(i) == 36 for i in ids)


def test_register_user(auth):
    user = auth.register_user("me@me.com", "mySecuredPwd")
    assert user.email == "me@me.com"
    with pytest.raises(ValueError) as info:
        auth.register_user("me@me.com", "mySecuredPwd")
    assert str(info.value) == "User me@me.com already exists"


def test_valid_login(auth):
    auth.register_user("bob@bob.com", "MyPwdOfBob")
    assert auth.valid_login("bob@bob.com", "MyPwdOfBob") is True
    assert auth.valid_login("bob@bob.com", "WrongPwd") is False
    assert auth.valid_login("unknown@email", "MyPwdOfBob") is False
    assert auth.valid_login(None, "x") is False
    assert auth.valid_login("bob@bob.com", None) is False
    assert auth.valid_login("bob@bob.com", "x" * 100) is False


@pytest.mark.real_hashing
def test_unknown_email_never_logs_in_even_with_the_dummy_password(auth):
    auth.register_user("bob@bob.com", "MyPwdOfBob")
    assert auth.valid_login("nobody@bob.com",
                            "dummy password for timing") is False
    assert auth.valid_login("nobody@bob.com", "MyPwdOfBob") is False


@pytest.mark.real_hashing
def test_unknown_email_costs_one_bcrypt_check(auth, checkpw_calls):
    auth.register_user("bob@bob.com", "MyPwdOfBob")
    assert auth.valid_login("bob@bob.com", "wrong") is False
    assert len(checkpw_calls) == 1
    assert auth.valid_login("nobody@bob.com", "wrong") is False
    assert len(checkpw_calls) == 2                  # same cost: no timing leak


def test_ids_and_tokens_are_random_uuid4(auth):
    auth.register_user("bob@bob.com", "pwd")
    generate = service_module("auth")._generate_uuid
    groups = {
        "_generate_uuid": [generate() for _ in range(50)],
        "session ids": [auth.create_session("bob@bob.com")
                        for _ in range(50)],
        "reset tokens": [auth.get_reset_password_token("bob@bob.com")
                         for _ in range(50)]}
    for name, values in groups.items():
        parsed = [uuid.UUID(value) for value in values]
        assert [str(u) for u in parsed] == values, name
        assert all(u.version == 4 and u.variant == uuid.RFC_4122
                   for u in parsed), name
        assert len(set(values)) == 50, name
        # uuid1 repeats the node (MAC) and the clock sequence; uuid4
        # draws those bits at random like the rest.
        assert len({u.node for u in parsed}) == 50, name
        assert len({u.clock_seq for u in parsed}) > 25, name


def test_sessions(auth):
    auth.register_user("bob@bob.com", "pwd")
    first = auth.create_session("bob@bob.com")
    assert len(first) == 36
    assert auth.create_session("unknown@email.com") is None
    second = auth.create_session("bob@bob.com")
    assert auth.get_user_from_session_id(first) is None      # replaced
    user = auth.get_user_from_session_id(second)
    assert user.email == "bob@bob.com"
    assert auth.get_user_from_session_id(None) is None
    assert auth.get_user_from_session_id("") is None
    auth.destroy_session(user.id)
    assert auth.get_user_from_session_id(second) is None
    assert auth.get_user_from_session_id(None) is None       # A7
    assert auth.destroy_session(999) is None


def test_reset_password(auth):
    auth.register_user("bob@bob.com", "old")
    with pytest.raises(ValueError):
        auth.get_reset_password_token("nobody@bob.com")
    token = auth.get_reset_password_token("bob@bob.com")
    assert auth.get_email_from_reset_token(token) == "bob@bob.com"
    for bad in (None, "", "unknown"):
        with pytest.raises(ValueError):
            auth.update_password(bad, "new")
    assert auth.valid_login("bob@bob.com", "old")
    auth.update_password(token, "new")
    assert auth.valid_login("bob@bob.com", "new")
    assert not auth.valid_login("bob@bob.com", "old")
    with pytest.raises(ValueError):
        auth.update_password(token, "again")                # single use
    assert auth.get_email_from_reset_token(token) is None


def make_auth(**values):
    """Return an `Auth` with `Settings(**values)` (contract defaults)."""
    settings = service_module("settings").Settings(**values)
    return service_module("auth").Auth(settings)


def test_password_reset_keeps_the_session_by_default(auth):
    user = auth.register_user("bob@bob.com", "old")
    session_id = auth.create_session("bob@bob.com")
    token = auth.get_reset_password_token("bob@bob.com")
    auth.update_password(token, "new")
    assert auth.get_user_from_session_id(session_id).id == user.id  # task 18
    assert auth.valid_login("bob@bob.com", "new")


def test_strict_password_reset_ends_the_session(workdir):
    auth = make_auth(account_policy="strict")
    user = auth.register_user("bob@bob.com", "old")
    session_id = auth.create_session("bob@bob.com")
    token = auth.get_reset_password_token("bob@bob.com")
    assert auth.get_user_from_session_id(session_id).id == user.id
    auth.update_password(token, "new")
    assert auth.get_user_from_session_id(session_id) is None


@pytest.mark.real_hashing
def test_reset_token_is_single_use_under_concurrency(auth):
    auth.register_user("bob@bob.com", "old")
    token = auth.get_reset_password_token("bob@bob.com")
    passwords = ["new{}".format(i) for i in range(10)]
    start = threading.Barrier(len(passwords))

    def reset(password):
        start.wait()
        try:
            auth.update_password(token, password)
            return password
        except ValueError:
            return None
    with ThreadPoolExecutor(max_workers=len(passwords)) as pool:
        results = list(pool.map(reset, passwords))
    winners = [p for p in results if p is not None]
    assert len(winners) == 1, results
    assert [p for p in passwords + ["old"]
            if auth.valid_login("bob@bob.com", p)] == winners


def test_consume_reset_token(db):
    user = db.add_user("a@b.c", "x")
    db.update_user(user.id, reset_token="t", session_id="s")
    assert db.consume_reset_token(user.id, "other") is False
    assert db.consume_reset_token(user.id + 1, "t") is False
    assert db.consume_reset_token(user.id, None) is False
    with pytest.raises(ValueError):
        db.consume_reset_token(user.id, "t", metadata="y")
    found = db.find_user_by(id=user.id)
    assert (found.hashed_password, found.reset_token) == ("x", "t")
    assert db.consume_reset_token(user.id, "t", hashed_password="y",
                                  session_id=None) is True
    found = db.find_user_by(email="a@b.c")
    assert (found.hashed_password, found.reset_token, found.session_id) == (
        "y", None, None)
    assert db.consume_reset_token(user.id, "t", hashed_password="z") is False
    assert db.find_user_by(id=user.id).hashed_password == "y"


def test_null_token_never_resets_someone(auth):
    # Users without a token have reset_token NULL, which a None filter
    # would match (issue 23): the first of them must not be reset.
    auth.register_user("first@bob.com", "pwd")
    auth.register_user("second@bob.com", "pwd2")
    token = auth.get_reset_password_token("second@bob.com")
    for bad in (None, ""):
        with pytest.raises(ValueError):
            auth.update_password(bad, "hacked")
        assert auth.get_email_from_reset_token(bad) is None
    for email, password in (("first@bob.com", "pwd"),
                            ("second@bob.com", "pwd2")):
        assert auth.valid_login(email, password)
        assert not auth.valid_login(email, "hacked")
    assert auth.get_email_from_reset_token(token) == "second@bob.com"


def test_empty_or_missing_secrets_match_nobody(auth):
    auth.register_user("first@bob.com", "pwd")
    for bad in (None, "", b"", 0):
        assert auth.get_user_from_session_id(bad) is None
        assert auth.get_email_from_reset_token(bad) is None
        with pytest.raises(ValueError):
            auth.update_password(bad, "hacked")
    assert auth.create_session("") is None
    with pytest.raises(ValueError):
        auth.get_reset_password_token("")
    assert auth.valid_login("first@bob.com", "pwd")


def parallel(count, call):
    """Run `call(i)` for i in range(count) in threads released together."""
    go = threading.Barrier(count)

    def run(i):
        go.wait()
        return call(i)
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.real_hashing
def test_login_burst_gets_five_password_checks(auth, checkpw_calls):
    auth.register_user("bob@bob.com", "right")
    outcomes = parallel(20, lambda i: auth.throttled_login(
        "bob@bob.com", "wrong{}".format(i), "10.0.0.1"))
    assert len(checkpw_calls) == 5
    checked = [o for o in outcomes if o.retry_after is None]
    refused = [o for o in outcomes if o.retry_after is not None]
    assert len(checked) == 5 and not any(o.valid for o in checked)
    assert len(refused) == 15
    assert all(not o.valid and 1 <= o.retry_after <= 60 for o in refused)
    # Throttled before the check: even the right password is refused...
    outcome = auth.throttled_login("bob@bob.com", "right", "10.0.0.1")
    assert (outcome.valid, outcome.retry_after is not None) == (False, True)
    assert len(checkpw_calls) == 5
    # ...but only from the guessing address: the owner elsewhere logs in.
    assert auth.throttled_login("bob@bob.com", "right",
                                "10.0.0.2") == (True, None)


def test_email_variants_never_spend_the_account_budget(auth, checkpw_calls):
    auth.register_user("bob@bob.com", "right")
    # Emails match exactly: each variant is an unknown name with its own
    # (email, address) budget, and none counts for bob's account.
    # (Two variants: each failure costs a full bcrypt check of the dummy
    # hash; test_uas_limits.py tries more across addresses.)
    for i, email in enumerate(["BOB@bob.com", " bob@bob.com"]):
        address = "10.0.1.{}".format(i)
        for _ in range(5):
            outcome = auth.throttled_login(email, "wrong", address)
            assert (outcome.valid, outcome.retry_after) == (False, None)
        assert auth.throttled_login(email, "wrong", address).retry_after >= 1
        assert auth.throttled_login("bob@bob.com", "wrong",
                                    address) == (False, None)
        assert auth.throttled_login("bob@bob.com", "right",
                                    address) == (True, None)
    assert len(checkpw_calls) == 2 * 7


def test_successful_logins_do_not_count(auth):
    auth.register_user("bob@bob.com", "right")
    for _ in range(4):
        assert auth.throttled_login("bob@bob.com", "wrong",
                                    "10.0.0.1").retry_after is None
    for _ in range(8):
        assert auth.throttled_login("bob@bob.com", "right",
                                    "10.0.0.1") == (True, None)
    assert auth.throttled_login("bob@bob.com", "wrong",
                                "10.0.0.1") == (False, None)
    assert auth.throttled_login("bob@bob.com", "wrong",
                                "10.0.0.1").retry_after >= 1


def test_address_limit_spans_emails(auth, checkpw_calls):
    for i in range(20):
        outcome = auth.throttled_login("user{}@bob.com".format(i), "wrong",
                                       "10.0.0.1")
        assert outcome == (False, None)
    assert auth.throttled_login("fresh@bob.com", "wrong",
                                "10.0.0.1").retry_after >= 1
    assert len(checkpw_calls) == 20
    assert auth.throttled_login("fresh@bob.com", "wrong",
                                "10.0.0.2") == (False, None)


def test_throttle_window_passes(workdir):
    throttle = service_module("throttle").Throttle(
        per_email_address="2/second", per_address="10/second")
    assert throttle.login("a@b.c", "10.0.0.1", True).retry_after == 0
    second = throttle.login("a@b.c", "10.0.0.1", True)
    assert second.retry_after == 0
    assert throttle.login("a@b.c", "10.0.0.1", True).retry_after == 1
    throttle.refund(second)
    assert throttle.login("a@b.c", "10.0.0.1", True).retry_after == 0
    refused = throttle.login("a@b.c", "10.0.0.1", True)
    assert (refused.retry_after, refused.hits) == (1, ())
    deadline = time.monotonic() + 3
    while throttle.login("a@b.c", "10.0.0.1", True).retry_after:
        assert time.monotonic() < deadline, "the window never passed"
        time.sleep(0.05)
