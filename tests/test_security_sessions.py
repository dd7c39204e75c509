"""Session security: fixation, revocation, idle timeout, purge, cookies."""
import json

import pytest

from api.v1.auth.session_auth import SessionAuth
from api.v1.auth.session_db_auth import SessionDBAuth
from api.v1.auth.session_exp_auth import SessionExpAuth
from api.v1.config import Settings
from models.user import User
from conftest import SESSION_TYPES, create_user, login, session_id_of

pytestmark = pytest.mark.quick_hashing

ME = "/api/v1/users/me"


def status_with(app, session_id, path=ME):
    client = app.test_client()
    client.set_cookie("_my_session_id", session_id)
    return client.get(path).status_code


@pytest.mark.parametrize("auth_type", SESSION_TYPES)
def test_login_with_a_live_session_ends_it_first(make_app, auth_type):
    create_user()
    app = make_app(auth_type)
    client = app.test_client()
    planted = session_id_of(login(client))
    renewed = session_id_of(login(client))       # the client sends `planted`
    assert renewed != planted
    assert status_with(app, planted) == 403
    assert status_with(app, renewed) == 200


@pytest.mark.parametrize("auth_type", SESSION_TYPES)
def test_deleting_a_user_ends_its_sessions(make_app, auth_type):
    bob = create_user()
    create_user("ann@hbtn.io", "pw")
    app = make_app(auth_type)
    bob_sessions = [session_id_of(login(app.test_client())) for _ in range(2)]
    ann_session = session_id_of(login(app.test_client(), "ann@hbtn.io", "pw"))
    auth = app.extensions["session_api.auth"]
    assert sorted(h for h, _ in auth.store.sessions_of(bob.id)) == sorted(
        auth.handle_of(s) for s in bob_sessions)
    client = app.test_client()
    client.set_cookie("_my_session_id", ann_session)
    assert client.delete("/api/v1/users/" + bob.id).status_code == 200
    assert auth.store.sessions_of(bob.id) == []
    assert auth.user_id_for_session_id(bob_sessions[0]) is None
    assert status_with(app, ann_session) == 200


@pytest.mark.parametrize("auth_type", SESSION_TYPES)
def test_a_new_password_ends_every_session_of_the_user(make_app, auth_type):
    bob = create_user()
    app = make_app(auth_type)
    session_id = session_id_of(login(app.test_client()))
    bob.password = "a new password"
    assert status_with(app, session_id) == 200     # not saved yet
    bob.save()
    assert status_with(app, session_id) == 403


@pytest.mark.parametrize("auth_type", SESSION_TYPES)
def test_rehash_on_login_does_not_end_sessions(make_app, auth_type):
    import hashlib
    bob = create_user()
    bob._password = hashlib.sha256(b"legacy").hexdigest()
    bob.save()
    app = make_app(auth_type)
    first = session_id_of(login(app.test_client(), password="legacy"))
    assert User.get(bob.id).password.startswith("$argon2id$")
    assert status_with(app, first) == 200


@pytest.mark.parametrize("auth_type", ["session_exp_auth",
                                       "session_db_auth"])
def test_idle_timeout(make_app, auth_type, frozen_clock):
    create_user()
    app = make_app(auth_type, session_duration=3600,
                   session_idle_timeout=30)
    session_id = session_id_of(login(app.test_client()))
    for _ in range(5):                       # used every 20 s: stays alive
        frozen_clock.advance(20)
        assert status_with(app, session_id) == 200
    frozen_clock.advance(31)
    assert status_with(app, session_id) == 403


def test_idle_timeout_off_by_default(frozen_clock):
    auth = SessionExpAuth(Settings(session_duration=3600))
    session_id = auth.create_session("abcde")
    frozen_clock.advance(3000)
    assert auth.user_id_for_session_id(session_id) == "abcde"


def test_idle_timeout_from_the_environment(monkeypatch):
    monkeypatch.setenv("SESSION_IDLE_TIMEOUT", "45")
    assert SessionExpAuth().idle_timeout == 45


def test_memory_store_purges_expired_sessions(frozen_clock):
    auth = SessionExpAuth(Settings(session_duration=60))
    old = [auth.create_session("u{}".format(i)) for i in range(50)]
    frozen_clock.advance(61)
    fresh = [auth.create_session("new") for _ in range(4)]
    assert set(SessionAuth.user_id_by_session_id) == set(fresh)
    assert list(SessionAuth._session_ids_by_user) == ["new"]
    assert all(auth.user_id_for_session_id(s) is None for s in old)


def test_file_store_purges_expired_sessions(frozen_clock):
    auth = SessionDBAuth(Settings(session_duration=60))
    for i in range(20):
        auth.create_session("u{}".format(i))
    frozen_clock.advance(30)
    kept = auth.create_session("kept")          # not a minute yet: no purge
    frozen_clock.advance(31)
    fresh = auth.create_session("new")
    with open(".db_UserSession.json") as handle:
        left = {s["session_id"] for s in json.load(handle).values()}
    assert left == {kept, fresh}


@pytest.mark.parametrize("auth_class", [SessionExpAuth, SessionDBAuth])
def test_an_expired_lookup_is_a_read(auth_class, frozen_clock):
    auth = auth_class(Settings(session_duration=60))
    session_id = auth.create_session("abcde")
    frozen_clock.advance(61)
    assert auth.user_id_for_session_id(session_id) is None
    auth.session_duration = 0                  # spec §6.2: no expiry now
    assert auth.user_id_for_session_id(session_id) == "abcde"


def test_purge_command(make_app, frozen_clock):
    app = make_app("session_db_auth", session_duration=60)
    auth = app.extensions["session_api.auth"]
    for i in range(3):
        auth.create_session("u{}".format(i))
    frozen_clock.advance(61)
    result = app.test_cli_runner().invoke(args=["purge-sessions"])
    assert result.exit_code == 0
    assert "purged 3 expired sessions" in result.output
    plain = make_app("session_auth").test_cli_runner()
    assert plain.invoke(args=["purge-sessions"]).exit_code != 0


def cookie_of(response, name="_my_session_id"):
    """Return the parsed Set-Cookie of `name`: value and attributes."""
    from http.cookies import SimpleCookie
    for header in response.headers.getlist("Set-Cookie"):
        jar = SimpleCookie()
        jar.load(header)
        if name in jar:
            morsel = jar[name]
            attributes = {key: morsel[key] for key in morsel.keys()
                          if morsel[key]}
            return morsel.value, attributes
    raise AssertionError("no {} cookie".format(name))


def test_cookie_flags_default(make_app):
    create_user()
    value, attributes = cookie_of(login(make_app("session_auth")
                                        .test_client()))
    assert attributes == {"path": "/", "httponly": True, "samesite": "Lax"}
    assert len(value) == 36


def test_cookie_secure_and_max_age(make_app):
    create_user()
    app = make_app("session_exp_auth", session_duration=600,
                   session_cookie_secure=True)
    client = app.test_client()
    _, set_on_login = cookie_of(login(client))
    assert set_on_login["max-age"] == "600" and set_on_login["secure"]
    response = client.delete("/api/v1/auth_session/logout")
    value, cleared = cookie_of(response)
    assert value == "" and cleared["max-age"] == "0"
    assert "1970" in cleared["expires"]
    for flag in ("path", "httponly", "samesite", "secure"):
        assert cleared[flag] == set_on_login[flag], flag


def test_logout_clears_the_cookie_with_the_login_cookie_path(make_app):
    create_user()
    client = make_app("session_auth").test_client()
    _, set_on_login = cookie_of(login(client))
    _, cleared = cookie_of(client.delete("/api/v1/auth_session/logout"))
    assert cleared["path"] == set_on_login["path"] == "/"
    assert client.get("/api/v1/users/me").status_code == 401


def test_session_ids_are_random_uuid4(make_app):
    import uuid
    auth = SessionAuth(Settings())
    ids = [auth.create_session("u") for _ in range(256)]
    assert len(set(ids)) == 256
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 4 and str(u) == i for u, i in zip(parsed, ids))
    random_bits = (1 << 128) - 1 ^ (0xF << 76) ^ (0x3 << 62)
    ones = zeros = 0
    for u in parsed:
        ones |= u.int & random_bits
        zeros |= ~u.int & random_bits
    assert ones == zeros == random_bits     # every random bit varies


@pytest.mark.parametrize("auth_type", ["session_exp_auth",
                                       "session_db_auth"])
def test_the_idle_timeout_ends_a_session_just_after_it(make_app, auth_type,
                                                       frozen_clock):
    create_user()
    app = make_app(auth_type, session_duration=3600,
                   session_idle_timeout=40)
    session_id = session_id_of(login(app.test_client()))
    frozen_clock.advance(40)                   # exactly the timeout: alive
    assert status_with(app, session_id) == 200
    frozen_clock.advance(41)                   # touched at 40, idle 41 s
    assert status_with(app, session_id) == 403


@pytest.mark.parametrize("auth_type", ["session_exp_auth",
                                       "session_db_auth"])
@pytest.mark.parametrize("idle, interval", [
    (100, 50),          # half the timeout: a session in use never ends
    (300, 60),          # at most one write a minute
    (3600, 360),        # a tenth of the timeout
])
def test_use_is_written_once_per_interval(make_app, auth_type, frozen_clock,
                                          idle, interval):
    """Issue 18: `last_seen` at most once per max(60 s, idle / 10)."""
    create_user()
    app = make_app(auth_type, session_duration=7200,
                   session_idle_timeout=idle)
    auth = app.extensions["session_api.auth"]
    session_id = session_id_of(login(app.test_client()))
    started = auth.store.get(session_id).last_seen
    for step in (1, interval - 2):
        frozen_clock.advance(step)
        assert status_with(app, session_id) == 200
        assert auth.store.get(session_id).last_seen == started
    frozen_clock.advance(1)
    assert status_with(app, session_id) == 200
    assert auth.store.get(session_id).last_seen == frozen_clock.now


def test_an_empty_session_name_means_the_default(monkeypatch, make_app):
    from api.v1.config import load_settings
    monkeypatch.setenv("SESSION_NAME", "")
    assert load_settings().session_name == "_my_session_id"
    create_user()
    app = make_app("session_auth", **{
        "session_name": load_settings().session_name})
    value, _ = cookie_of(login(app.test_client()), "_my_session_id")
    assert value


def test_the_clock_is_utc_whatever_the_time_zone(monkeypatch):
    import time
    from datetime import datetime, timezone
    from models import clock
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")        # UTC+14
    time.tzset()
    try:
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        assert abs((clock.utcnow() - now).total_seconds()) < 5
        assert clock.utcnow().tzinfo is None
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_secure_flag_from_the_environment(monkeypatch):
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "1")
    assert SessionAuth().settings.session_cookie_secure is True


@pytest.mark.parametrize("auth_type", [None, "basic_auth"] + SESSION_TYPES)
def test_no_store_on_credential_responses(make_app, auth_type):
    create_user()
    client = make_app(auth_type).test_client()
    for response in (client.get("/api/v1/users"), login(client),
                     client.get("/api/v1/status")):
        assert response.headers["Cache-Control"] == "no-store"


def test_logins_purge_expired_sessions_of_the_file_store(make_app,
                                                         frozen_clock):
    create_user()
    app = make_app("session_db_auth", session_duration=60)
    auth = app.extensions["session_api.auth"]
    for i in range(80):
        auth.create_session("gone-{}".format(i))
    frozen_clock.advance(61)                     # all 80 expired
    for _ in range(24):                          # a few dozen logins
        assert login(app.test_client()).status_code == 200
    with open(".db_UserSession.json") as handle:
        left = [s["user_id"] for s in json.load(handle).values()]
    assert sum(1 for user_id in left if user_id.startswith("gone-")) <= 5
    assert len(left) - sum(1 for u in left if u.startswith("gone-")) == 24
