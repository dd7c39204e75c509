"""Bad input: deep JSON, field limits, emails compared normalised, CSRF."""
import json

import pytest

from models.user import User
from conftest import basic_header, create_user, login

pytestmark = pytest.mark.quick_hashing

USERS = "/api/v1/users"
WRONG_FORMAT = {"error": "Wrong format"}
DUPLICATE = {"error": "Can't create User: email already registered"}
CROSS_SITE = {"error": "Cross-site request refused"}


@pytest.mark.parametrize("depth", [100, 1000, 5000])
def test_deeply_nested_json_is_400(make_app, depth):
    client = make_app(None).test_client()
    nested = "[" * depth + "]" * depth
    body = '{"email": "a@b.c", "password": "pw", "first_name": %s}' % nested
    response = client.post(USERS, data=body, content_type="application/json")
    assert (response.status_code, response.get_json()) == (400, WRONG_FORMAT)
    user = create_user("put@b.c", "pw")
    response = client.put(USERS + "/" + user.id, data=nested,
                          content_type="application/json")
    assert (response.status_code, response.get_json()) == (400, WRONG_FORMAT)
    assert User.count() == 1


@pytest.mark.parametrize("field, limit", [
    ("email", 254), ("first_name", 256), ("last_name", 256),
    ("password", 1024)])
def test_field_limits_on_create(make_app, field, limit):
    client = make_app(None).test_client()
    body = {"email": "a@b.c", "password": "pw"}
    fits = dict(body, **{field: "x" * (limit - 4) + "@b.c"
                         if field == "email" else "x" * limit})
    response = client.post(USERS, json=fits)
    assert response.status_code == 201
    User.get(response.get_json()["id"]).remove()
    over = dict(body, **{field: "x" * limit + "@b.c"
                         if field == "email" else "x" * (limit + 1)})
    response = client.post(USERS, json=over)
    assert (response.status_code, response.get_json()) == (400, {
        "error": "Can't create User: {} is longer than {} characters"
        .format(field, limit)})
    assert User.count() == 0


def test_name_limits_on_update(make_app):
    user = create_user(first_name="Ann")
    client = make_app(None).test_client()
    response = client.put(USERS + "/" + user.id,
                          json={"last_name": "L" * 257})
    assert (response.status_code, response.get_json()) == (
        400, {"error": "last_name is longer than 256 characters"})
    assert User.get(user.id).last_name is None
    response = client.put(USERS + "/" + user.id, json={"last_name": "L" * 256})
    assert response.status_code == 200


def test_a_long_password_costs_no_argon2_at_login(make_app, monkeypatch):
    create_user()
    from models import passwords
    monkeypatch.setattr(passwords, "verify_password", lambda *a: 1 / 0)
    client = make_app("session_auth").test_client()
    response = client.post("/api/v1/auth_session/login", data={
        "email": "bob@hbtn.io", "password": "x" * 1025})
    assert (response.status_code, response.get_json()) == (
        400, {"error": "password too long"})


@pytest.mark.parametrize("variant", [
    "Bob@HBTN.io", " bob@hbtn.io", "bob@hbtn.io ", "bob\u200b@hbtn.io",
    "\uff42\uff4f\uff42\uff20\uff48\uff42\uff54\uff4e.io", "BOB@HBTN.IO"])
def test_an_email_equal_once_normalised_is_refused(make_app, variant):
    create_user("bob@hbtn.io", "pw")
    client = make_app(None).test_client()
    response = client.post(USERS, json={"email": variant, "password": "x"})
    assert (response.status_code, response.get_json()) == (400, DUPLICATE)
    assert User.count() == 1


@pytest.mark.parametrize("auth_type", ["session_auth", "basic_auth"])
def test_login_finds_the_account_by_the_normalised_email(make_app,
                                                         auth_type):
    create_user("Bob@HBTN.io", "H0lberton!")
    client = make_app(auth_type).test_client()
    for email in ("Bob@HBTN.io", "bob@hbtn.io", " BOB@hbtn.io\u200b"):
        if auth_type == "basic_auth":
            response = client.get("/api/v1/users/me",
                                  headers=basic_header(email, "H0lberton!"))
        else:
            response = login(client, email, "H0lberton!")
        assert response.status_code == 200, email
        assert response.get_json()["email"] == "Bob@HBTN.io"


def test_the_exact_stored_email_wins_over_a_normalised_twin(make_app):
    exact = User(email="bob@hbtn.io")
    exact.password = "one"
    exact.save()
    twin = User(email="BOB@hbtn.io")                # a script may do this
    twin.password = "two"
    twin.save()
    client = make_app("session_auth").test_client()
    assert login(client, "BOB@hbtn.io", "two").get_json()["id"] == twin.id
    assert login(client, "bob@hbtn.io", "one").get_json()["id"] == exact.id


WRITES = [("post", USERS, {"json": {"email": "x@y.z", "password": "p"}}),
          ("put", USERS + "/{id}", {"json": {"first_name": "Evil"}}),
          ("delete", USERS + "/{id}", {}),
          ("post", "/api/v1/auth_session/login",
           {"data": {"email": "bob@hbtn.io", "password": "H0lberton!"}}),
          ("delete", "/api/v1/auth_session/logout", {})]


@pytest.mark.parametrize("method, path, kwargs", WRITES)
@pytest.mark.parametrize("headers", [
    {"Sec-Fetch-Site": "cross-site"},
    {"Origin": "https://evil.example"},
    {"Origin": "null"},
    {"Origin": "http://localhost.evil.example"}])
def test_cross_site_writes_are_refused_and_change_nothing(
        make_app, workdir, method, path, kwargs, headers):
    user = create_user()
    app = make_app("session_db_auth")
    client = app.test_client()
    assert login(client).status_code == 200
    before = {name: (workdir / name).read_bytes() for name in
              (".db_User.json", ".db_UserSession.json")}
    response = getattr(client, method)(path.format(id=user.id),
                                       headers=headers, **kwargs)
    assert (response.status_code, response.get_json()) == (403, CROSS_SITE)
    assert {name: (workdir / name).read_bytes() for name in before} \
        == before
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("headers", [
    {}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
    {"Origin": "http://localhost"}, {"Origin": "http://LOCALHOST/"},
    {"Origin": "https://app.example", "Sec-Fetch-Site": "same-site"}])
def test_curl_same_origin_and_allowed_origins_still_work(make_app, headers):
    create_user()
    app = make_app("session_auth", allowed_origins=("https://app.example",))
    response = app.test_client().post(
        "/api/v1/auth_session/login", headers=headers,
        data={"email": "bob@hbtn.io", "password": "H0lberton!"})
    assert response.status_code == 200


def test_allowed_origins_come_from_the_environment():
    from api.v1.config import load_settings
    settings = load_settings({"ALLOWED_ORIGINS":
                              "https://a.example/, https://B.example"})
    assert settings.allowed_origins == ("https://a.example",
                                        "https://b.example")


def test_cross_site_reads_stay_governed_by_cors(make_app):
    create_user()
    client = make_app(None).test_client()
    response = client.get(USERS, headers={"Origin": "https://evil.example",
                                          "Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 200
    assert json.loads(response.data)[0]["email"] == "bob@hbtn.io"
