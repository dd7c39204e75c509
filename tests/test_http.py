"""HTTP behaviour of every route under every AUTH_TYPE (Flask test client).

Every test runs on the JSON files, SQLite and PostgreSQL.
"""
import logging

import pytest

from api.v1.app import create_app
from api.v1.config import Settings
from models.user import User
from conftest import (ALL_TYPES, SESSION_TYPES, basic_header, create_user,
                      login, session_id_of)

UNAUTHORIZED = {"error": "Unauthorized"}
FORBIDDEN = {"error": "Forbidden"}
NOT_FOUND = {"error": "Not found"}

pytestmark = [pytest.mark.usefixtures("database"),
              pytest.mark.quick_hashing]


def answer(response):
    """Return the status and the JSON body of `response`."""
    return response.status_code, response.get_json()


@pytest.fixture(params=ALL_TYPES, ids=str)
def any_client(request, make_app):
    return make_app(request.param).test_client()


def test_open_routes_under_every_auth(any_client):
    for path in ("/api/v1/status", "/api/v1/status/"):
        response = any_client.get(path)
        assert (response.status_code, response.get_json()) == (
            200, {"status": "OK"})
        assert response.content_type == "application/json"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    response = any_client.get("/api/v1/unauthorized")
    assert (response.status_code, response.get_json()) == (401, UNAUTHORIZED)
    response = any_client.get("/api/v1/forbidden/")
    assert (response.status_code, response.get_json()) == (403, FORBIDDEN)


@pytest.mark.parametrize("auth_type", ALL_TYPES[1:])
def test_guard_without_and_with_bad_credentials(make_app, auth_type):
    client = make_app(auth_type).test_client()
    assert answer(client.get("/api/v1/users")) == (401, UNAUTHORIZED)
    assert client.get("/api/v1/nope").status_code == 401
    for header in ("Test", "Basic test", "Basic", "Basic ////"):
        response = client.get("/api/v1/users",
                              headers={"Authorization": header})
        assert (response.status_code, response.get_json()) == (403,
                                                               FORBIDDEN)
    client.set_cookie("_my_session_id", "5535d4d7-nope")
    assert client.get("/api/v1/users/me").status_code == 403
    assert client.delete("/api/v1/auth_session/logout").status_code == 403


def test_no_auth_means_no_filter(make_app):
    create_user()
    client = make_app(None).test_client()
    assert len(client.get("/api/v1/users").get_json()) == 1
    assert answer(client.get("/api/v1/nope")) == (404, NOT_FOUND)
    assert answer(client.get("/api/v1/users/me")) == (404, NOT_FOUND)  # A4
    assert answer(login(client)) == (404, NOT_FOUND)
    response = client.delete("/api/v1/auth_session/logout")
    assert (response.status_code, response.get_json()) == (404, NOT_FOUND)


def test_unknown_auth_type_warns_and_does_not_filter(caplog):
    with caplog.at_level(logging.WARNING):
        app = create_app(Settings(auth_type="nonsense"))
    assert app.test_client().get("/api/v1/users").status_code == 200
    assert "nonsense" in caplog.text


def test_basic_auth_flow(make_app):
    user = create_user("bob@hbtn.io", "H0lbertonSchool98!")
    client = make_app("basic_auth").test_client()
    headers = basic_header("bob@hbtn.io", "H0lbertonSchool98!")
    assert headers["Authorization"] == \
        "Basic Ym9iQGhidG4uaW86SDBsYmVydG9uU2Nob29sOTgh"
    users = client.get("/api/v1/users", headers=headers)
    assert users.status_code == 200
    assert [u["id"] for u in users.get_json()] == [user.id]
    me = client.get("/api/v1/users/me", headers=headers)
    assert answer(me) == (200, user.to_json())
    assert answer(client.get("/api/v1/nope", headers=headers)) == (
        404, NOT_FOUND)
    wrong = basic_header("bob@hbtn.io", "nope")
    assert client.get("/api/v1/users", headers=wrong).status_code == 403
    client.set_cookie("_my_session_id", "anything")
    assert client.get("/api/v1/users").status_code == 403
    assert login(client).status_code == 404                  # A4
    response = client.delete("/api/v1/auth_session/logout", headers=headers)
    assert (response.status_code, response.get_json()) == (404, NOT_FOUND)


def test_basic_password_with_colons(make_app):
    create_user("bob100@hbtn.io", "H0lberton:School:98!")
    client = make_app("basic_auth").test_client()
    headers = {"Authorization":
               "Basic Ym9iMTAwQGhidG4uaW86SDBsYmVydG9uOlNjaG9vbDo5OCE="}
    assert client.get("/api/v1/users", headers=headers).status_code == 200


@pytest.mark.parametrize("auth_type", SESSION_TYPES)
def test_session_login_flow(make_app, auth_type):
    user = create_user("bobsession@hbtn.io", "fake pwd")
    client = make_app(auth_type, session_duration=60).test_client()
    response = client.get("/api/v1/auth_session/login")
    assert response.status_code == 405 and b"<" in response.data
    post = client.post
    url = "/api/v1/auth_session/login"
    response = post(url)
    assert (response.status_code, response.get_json()) == (
        400, {"error": "email missing"})
    response = post(url, data={"email": ""})
    assert (response.status_code, response.get_json()) == (
        400, {"error": "email missing"})
    response = post(url, data={"email": "guillaume@hbtn.io"})
    assert (response.status_code, response.get_json()) == (
        400, {"error": "password missing"})
    response = post(url, data={"email": "guillaume@hbtn.io",
                               "password": ""})
    assert (response.status_code, response.get_json()) == (
        400, {"error": "password missing"})
    response = post(url, data={"email": "guillaume@hbtn.io",
                               "password": "test"})
    assert (response.status_code, response.get_json()) == (
        404, {"error": "no user found for this email"})
    response = post(url, data={"email": "bobsession@hbtn.io",
                               "password": "test"})
    assert (response.status_code, response.get_json()) == (
        401, {"error": "wrong password"})
    response = post(url + "/", data={"email": "bobsession@hbtn.io",
                                     "password": "fake pwd"})
    assert answer(response) == (200, user.to_json())
    session_id = session_id_of(response)
    assert len(session_id) == 36
    assert answer(client.get("/api/v1/users/me")) == (200, user.to_json())
    basic = basic_header("bobsession@hbtn.io", "fake pwd")
    assert client.get("/api/v1/users", headers=basic).status_code == 200
    assert client.get("/api/v1/auth_session/logout").status_code == 405
    response = client.delete("/api/v1/auth_session/logout")
    assert (response.status_code, response.get_json()) == (200, {})
    client.set_cookie("_my_session_id", session_id)
    response = client.get("/api/v1/users/me")
    assert (response.status_code, response.get_json()) == (403, FORBIDDEN)


@pytest.mark.parametrize("auth_type", SESSION_TYPES)
def test_session_auth_ignores_basic_credentials(make_app, auth_type):
    create_user()
    client = make_app(auth_type).test_client()
    response = client.get("/api/v1/users/me",
                          headers=basic_header("bob@hbtn.io", "H0lberton!"))
    assert response.status_code == 403


def test_json_login_body_is_email_missing(make_app):
    client = make_app("session_auth").test_client()
    response = client.post("/api/v1/auth_session/login",
                           json={"email": "a", "password": "b"})
    assert (response.status_code, response.get_json()) == (
        400, {"error": "email missing"})


def test_custom_session_name(make_app):
    create_user()
    client = make_app("session_auth", session_name="sid").test_client()
    response = login(client)
    assert session_id_of(response, "sid")
    assert client.get("/api/v1/users/me").status_code == 200


def test_every_login_makes_a_new_session_and_old_ones_stay(make_app):
    create_user()
    app = make_app("session_auth")
    first = session_id_of(login(app.test_client()))
    second = session_id_of(login(app.test_client()))
    assert first != second
    for session_id in (first, second):
        client = app.test_client()
        client.set_cookie("_my_session_id", session_id)
        assert client.get("/api/v1/users/me").status_code == 200


def test_stats_counts_users(make_app):
    client = make_app(None).test_client()
    assert answer(client.get("/api/v1/stats")) == (200, {"users": 0})
    create_user()
    assert answer(client.get("/api/v1/stats/")) == (200, {"users": 1})


def test_users_crud(make_app):
    client = make_app(None).test_client()
    response = client.post("/api/v1/users", json={
        "email": "a@b.c", "password": "pw", "first_name": "Ann"})
    assert response.status_code == 201
    created = response.get_json()
    assert set(created) == {"id", "email", "first_name", "last_name",
                            "created_at", "updated_at"}
    user_id = created["id"]
    assert answer(client.get("/api/v1/users/" + user_id)) == (200, created)
    assert answer(client.get("/api/v1/users")) == (200, [created])
    assert answer(client.get("/api/v1/users/nope")) == (404, NOT_FOUND)
    response = client.put("/api/v1/users/" + user_id,
                          json={"last_name": "Lee", "first_name": None,
                                "email": "ignored@b.c"})
    assert response.status_code == 200
    assert (response.get_json()["first_name"],
            response.get_json()["last_name"],
            response.get_json()["email"]) == ("Ann", "Lee", "a@b.c")
    assert User.get(user_id).is_valid_password("pw")
    response = client.put("/api/v1/users/nope", json={})
    assert (response.status_code, response.get_json()) == (404, NOT_FOUND)
    response = client.delete("/api/v1/users/" + user_id)
    assert (response.status_code, response.get_json()) == (200, {})
    assert client.delete("/api/v1/users/" + user_id).status_code == 404
    assert answer(client.get("/api/v1/users")) == (200, [])


@pytest.mark.parametrize("kwargs, error", [
    ({"data": "{not json", "content_type": "application/json"},
     "Wrong format"),
    ({"data": "email=a", "content_type": "text/plain"}, "Wrong format"),
    ({"json": [1, 2]}, "Wrong format"),
    ({"json": "text"}, "Wrong format"),
    ({"json": {}}, "email missing"),
    ({"json": {"email": ""}}, "email missing"),
    ({"json": {"email": "a@b.c"}}, "password missing"),
    ({"json": {"email": "a@b.c", "password": ""}}, "password missing"),
    ({"json": {"email": 5, "password": "x"}},
     "Can't create User: email and password must be strings"),
    ({"json": {"email": "a@b.c", "password": ["x"]}},
     "Can't create User: email and password must be strings"),
    ({"json": {"email": "a@b.c", "password": "x", "first_name": 3}},
     "Can't create User: first_name and last_name must be strings"),
])
def test_create_user_errors(make_app, kwargs, error):
    client = make_app(None).test_client()
    response = client.post("/api/v1/users", **kwargs)
    assert (response.status_code, response.get_json()) == (
        400, {"error": error})
    assert User.count() == 0


def test_create_user_duplicate_email(make_app):
    create_user("a@b.c", "pw")
    client = make_app(None).test_client()
    response = client.post("/api/v1/users",
                           json={"email": "a@b.c", "password": "x"})
    assert (response.status_code, response.get_json()) == (
        400, {"error": "Can't create User: email already registered"})
    assert User.count() == 1


@pytest.mark.parametrize("kwargs", [
    {"data": "{bad", "content_type": "application/json"},
    {"json": [1]}, {"json": {"first_name": 7}}, {"data": "x"},
])
def test_update_user_wrong_format(make_app, kwargs):
    user = create_user(first_name="Ann")
    client = make_app(None).test_client()
    response = client.put("/api/v1/users/" + user.id, **kwargs)
    assert (response.status_code, response.get_json()) == (
        400, {"error": "Wrong format"})
    assert User.get(user.id).first_name == "Ann"


def test_users_routes_need_credentials_under_auth(make_app):
    user = create_user()
    client = make_app("basic_auth").test_client()
    assert client.delete("/api/v1/users/" + user.id).status_code == 401
    assert client.post("/api/v1/users", json={}).status_code == 401
    assert User.count() == 1


def test_other_methods_on_stats_are_405_with_or_without_slash(make_app):
    client = make_app(None).test_client()
    for path in ("/api/v1/stats", "/api/v1/stats/"):
        assert client.patch(path).status_code == 405
        assert client.get(path).status_code == 200


@pytest.mark.parametrize("auth_type", ALL_TYPES[1:])
def test_cors_preflights_pass_the_guard(make_app, auth_type):
    client = make_app(auth_type).test_client()
    response = client.options("/api/v1/users", headers={
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "GET"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] in (
        "*", "https://app.example")
    assert client.get("/api/v1/users").status_code == 401
