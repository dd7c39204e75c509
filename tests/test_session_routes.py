"""Users see and end their own sessions (ASVS 5.0 7.5.2), on every store."""
import hashlib

import pytest

from conftest import (ALL_TYPES, SESSION_TYPES, create_user, login,
                      session_id_of)

pytestmark = pytest.mark.quick_hashing

SESSIONS = "/api/v1/auth_session/sessions"
NOT_FOUND = {"error": "Not found"}
KEYS = {"id", "created_at", "last_seen", "expires_at", "current", "amr",
        "auth_time", "ip", "user_agent"}


def handle(session_id):
    return hashlib.sha256(session_id.encode()).hexdigest()


def client_with(app, session_id):
    client = app.test_client()
    client.set_cookie("_my_session_id", session_id)
    return client


@pytest.fixture(params=["own store", "redis"])
def store_settings(request, database):
    """Settings that put sessions in each store: the auth type's own one
    (memory, or UserSession records on each record store) or Redis."""
    if request.param == "redis":
        return {"session_store_url": request.getfixturevalue("redis_url")}
    return {}


@pytest.mark.parametrize("auth_type", SESSION_TYPES)
def test_list_end_one_and_end_the_others(make_app, auth_type, store_settings,
                                         frozen_clock):
    bob = create_user()
    ann = create_user("ann@hbtn.io", "Ann-pwd!")
    app = make_app(auth_type, session_duration=600, **store_settings)
    agent = "Mozilla/5.0 (X11) " + "x" * 300
    mine = [session_id_of(app.test_client().post(
        "/api/v1/auth_session/login",
        data={"email": "bob@hbtn.io", "password": "H0lberton!"},
        headers={"User-Agent": agent},
        environ_base={"REMOTE_ADDR": "198.51.100.{}".format(n)}))
        for n in range(3)]
    theirs = session_id_of(login(app.test_client(), "ann@hbtn.io",
                                 "Ann-pwd!"))
    client = client_with(app, mine[0])
    response = client.get(SESSIONS)
    assert response.status_code == 200
    listed = response.get_json()
    assert sorted(s["id"] for s in listed) == sorted(map(handle, mine))
    assert all(set(s) == KEYS for s in listed)
    assert [s["current"] for s in listed if s["id"] == handle(mine[0])] \
        == [True]
    assert sum(s["current"] for s in listed) == 1
    for entry in listed:
        assert entry["created_at"] == "2026-01-01T12:00:00"
        assert entry["last_seen"] == "2026-01-01T12:00:00"
        assert entry["expires_at"] == (
            None if auth_type == "session_auth" else "2026-01-01T12:10:00")
        assert entry["amr"] == ["pwd"]
        assert entry["auth_time"] == "2026-01-01T12:00:00"
        assert entry["user_agent"] == agent[:256]
    assert sorted(entry["ip"] for entry in listed) == [
        "198.51.100.0", "198.51.100.1", "198.51.100.2"]
    text = response.get_data(as_text=True)
    assert not any(session_id in text for session_id in mine)
    response = client.delete(SESSIONS + "/" + handle(theirs))
    assert (response.status_code, response.get_json()) == (404, NOT_FOUND)
    assert client_with(app, theirs).get("/api/v1/users/me").status_code \
        == 200
    response = client.delete(SESSIONS + "/" + handle(mine[1]))
    assert (response.status_code, response.get_json()) == (200, {})
    assert client_with(app, mine[1]).get("/api/v1/users/me").status_code \
        == 403
    response = client.delete(SESSIONS)
    assert (response.status_code, response.get_json()) == (
        200, {"revoked": 1})
    assert client_with(app, mine[2]).get("/api/v1/users/me").status_code \
        == 403
    assert client.get("/api/v1/users/me").status_code == 200
    assert [s["id"] for s in client.get(SESSIONS).get_json()] == \
        [handle(mine[0])]
    assert bob.id and ann.id


def test_ending_the_current_session_clears_its_cookie(make_app):
    create_user()
    app = make_app("session_exp_auth", session_duration=60)
    client = app.test_client()
    session_id = session_id_of(login(client))
    response = client.delete(SESSIONS + "/" + handle(session_id))
    assert (response.status_code, response.get_json()) == (200, {})
    assert any(h.startswith("_my_session_id=;") for h in
               response.headers.getlist("Set-Cookie"))
    assert client_with(app, session_id).get(SESSIONS).status_code == 403


def test_expired_and_revoked_sessions_are_not_listed(make_app, frozen_clock):
    bob = create_user()
    app = make_app("session_db_auth", session_duration=60)
    old = session_id_of(login(app.test_client()))
    frozen_clock.advance(50)
    new = session_id_of(login(app.test_client()))
    frozen_clock.advance(20)                          # `old` expired
    listed = client_with(app, new).get(SESSIONS).get_json()
    assert [s["id"] for s in listed] == [handle(new)]
    assert handle(old) != handle(new)
    bob.revoke_sessions()
    assert client_with(app, new).get(SESSIONS).status_code == 403


@pytest.mark.parametrize("auth_type", [t for t in ALL_TYPES
                                       if t not in SESSION_TYPES])
def test_session_routes_answer_404_outside_session_auth(make_app, auth_type):
    from conftest import basic_header
    create_user()
    client = make_app(auth_type).test_client()
    headers = basic_header("bob@hbtn.io", "H0lberton!")
    if auth_type == "auth":
        return              # every guarded route is 403 under `auth`
    for method, path in (("get", SESSIONS), ("delete", SESSIONS),
                         ("delete", SESSIONS + "/" + "a" * 64)):
        response = getattr(client, method)(path, headers=headers)
        assert (response.status_code, response.get_json()) == (
            404, NOT_FOUND), (method, path)


def test_session_routes_need_a_session(make_app):
    client = make_app("session_auth").test_client()
    response = client.get(SESSIONS)
    assert (response.status_code, response.get_json()) == (
        401, {"error": "Unauthorized"})
