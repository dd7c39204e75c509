"""PUT /api/v1/users/me/password (account-security §2), on every store.

The user's own change needs the current password (counted like a login),
follows the policy, ends every session of the user on every process, makes
the Basic cache forget the old password, and gives this client a new
session with a fresh `amr` and `auth_time`.
"""
import pytest

from conftest import (SESSION_TYPES, basic_header, create_user, login,
                      session_id_of)
from models.user import User

pytestmark = pytest.mark.quick_hashing

CHANGE = "/api/v1/users/me/password"
ME = "/api/v1/users/me"
RIGHT = {"current_password": "H0lberton!",
         "new_password": "a new long passphrase"}


def with_cookie(app, session_id):
    client = app.test_client()
    client.set_cookie("_my_session_id", session_id)
    return client


@pytest.mark.parametrize("auth_type", SESSION_TYPES)
def test_a_change_ends_every_session_and_renews_this_one(
        make_app, auth_type, database, frozen_clock):
    create_user()
    app = make_app(auth_type, session_duration=3600)
    mine = session_id_of(login(app.test_client()))
    other = session_id_of(login(app.test_client()))
    frozen_clock.advance(120)
    client = with_cookie(app, mine)
    response = client.put(CHANGE, json=RIGHT)
    assert (response.status_code, response.get_json()) == (200, {})
    renewed = session_id_of(response)
    assert renewed not in (mine, other)
    assert with_cookie(app, mine).get(ME).status_code == 403
    assert with_cookie(app, other).get(ME).status_code == 403
    fresh = with_cookie(app, renewed)
    assert fresh.get(ME).status_code == 200
    listed = fresh.get("/api/v1/auth_session/sessions").get_json()
    assert len(listed) == 1 and listed[0]["current"]
    assert listed[0]["amr"] == ["pwd"]
    assert listed[0]["auth_time"] == "2026-01-01T12:02:00"
    assert login(app.test_client()).status_code == 401
    assert login(app.test_client(), password="a new long passphrase"
                 ).status_code == 200


def test_basic_credentials_of_the_old_password_stop_at_once(make_app,
                                                            database):
    create_user()
    client = make_app("basic_auth").test_client()
    old = basic_header("bob@hbtn.io", "H0lberton!")
    assert client.get(ME, headers=old).status_code == 200   # now cached
    response = client.put(CHANGE, json=RIGHT, headers=old)
    assert (response.status_code, response.get_json()) == (200, {})
    assert "Set-Cookie" not in response.headers
    assert client.get(ME, headers=old).status_code == 403
    new = basic_header("bob@hbtn.io", "a new long passphrase")
    assert client.get(ME, headers=new).status_code == 200


@pytest.mark.parametrize("body, error", [
    ({"new_password": "x"}, "current_password missing"),
    ({"current_password": "", "new_password": "x"},
     "current_password missing"),
    ({"current_password": "H0lberton!"}, "new_password missing"),
    ({"current_password": "H0lberton!", "new_password": ""},
     "new_password missing"),
    ({"current_password": "H0lberton!", "new_password": 5}, "Wrong format"),
    ({"current_password": "H0lberton!", "new_password": "x" * 1025},
     "new_password is longer than 1024 characters"),
])
def test_bad_bodies_change_nothing(make_app, body, error):
    user = create_user()
    app = make_app("session_auth")
    client = with_cookie(app, session_id_of(login(app.test_client())))
    response = client.put(CHANGE, json=body)
    assert (response.status_code, response.get_json()) == (
        400, {"error": error})
    assert client.put(CHANGE, data="[1]",
                      content_type="application/json").get_json() == {
        "error": "Wrong format"}
    assert User.get(user.id).is_valid_password("H0lberton!")
    assert client.get(ME).status_code == 200


def test_a_wrong_current_password_is_counted_like_a_login(make_app,
                                                          verifications):
    create_user()
    app = make_app("session_auth")
    client = with_cookie(app, session_id_of(login(app.test_client())))
    del verifications[:]
    answers = [client.put(CHANGE, json={"current_password": "guess{}".format(
        i), "new_password": "a new long passphrase"}) for i in range(7)]
    assert [a.status_code for a in answers] == [403] * 5 + [429] * 2
    assert answers[0].get_json() == {"error": "wrong password"}
    assert answers[-1].get_json() == {"error": "Too many requests"}
    assert len(verifications) == 5
    assert client.get(ME).status_code == 200


def test_the_strict_policy_applies(make_app):
    create_user()
    app = make_app("session_auth", account_policy="strict")
    client = with_cookie(app, session_id_of(login(app.test_client())))
    response = client.put(CHANGE, json={"current_password": "H0lberton!",
                                        "new_password": "password1"})
    assert (response.status_code, response.get_json()) == (
        400, {"error": "password refused: too common"})
    assert client.get(ME).status_code == 200


def test_404_without_auth_and_the_filter_first_under_auth(make_app):
    create_user()
    assert make_app(None).test_client().put(CHANGE, json=RIGHT) \
        .status_code == 404
    client = make_app("auth").test_client()
    assert client.put(CHANGE, json=RIGHT).status_code == 401
    assert client.put(CHANGE, json=RIGHT, headers=basic_header(
        "bob@hbtn.io", "H0lberton!")).status_code == 403
