"""Routes of the user authentication service through the Flask test client."""
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie

import bcrypt
import pytest

from uas import service_module

pytestmark = pytest.mark.quick_hashing


@pytest.fixture
def service(workdir, monkeypatch):
    app_module = service_module("app")
    fresh = service_module("auth").Auth()
    monkeypatch.setattr(app_module, "AUTH", fresh)
    return app_module


@pytest.fixture
def client(service):
    return service.app.test_client()


def register(client, email="bob@me.com", password="mySuperPwd"):
    return client.post("/users", data={"email": email, "password": password})


def login(client, email="bob@me.com", password="mySuperPwd"):
    return client.post("/sessions", data={"email": email,
                                          "password": password})


def session_cookie(response):
    """Parse the one Set-Cookie header of `response`; return its morsel."""
    headers = response.headers.getlist("Set-Cookie")
    assert len(headers) == 1, headers
    jar = SimpleCookie()
    jar.load(headers[0])
    assert list(jar) == ["session_id"], headers
    return jar["session_id"]


def cookie_of(response):
    """Check the login cookie's attributes; return the session id."""
    morsel = session_cookie(response)
    assert morsel["path"] == "/"
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert not morsel["max-age"] and not morsel["expires"]   # browser session
    assert morsel.value
    return morsel.value


def test_index(client):
    response = client.get("/")
    assert (response.status_code, response.get_json()) == (
        200, {"message": "Bienvenue"})


def test_register(client):
    response = register(client)
    assert (response.status_code, response.get_json()) == (
        200, {"email": "bob@me.com", "message": "user created"})
    response = register(client)
    assert (response.status_code, response.get_json()) == (
        400, {"message": "email already registered"})


@pytest.mark.parametrize("data", [{}, {"email": "a@b.c"}, {"password": "x"},
                                  {"email": "", "password": "x"},
                                  {"email": "a@b.c", "password": ""}])
def test_register_missing_fields(client, data):
    response = client.post("/users", data=data)
    assert (response.status_code, response.get_json()) == (
        400, {"message": "email and password required"})


def test_register_password_length(client):
    response = register(client, password="é" * 37)          # 74 bytes
    assert (response.status_code, response.get_json()) == (
        400, {"message": "password too long"})
    assert register(client, password="x" * 72).status_code == 200


def test_login_profile_logout(client, service):
    register(client)
    assert login(client, password="wrong").status_code == 401
    assert client.post("/sessions", data={"email": "bob@me.com"}) \
        .status_code == 401
    assert login(client, email="nobody@me.com").status_code == 401
    assert client.get("/profile").status_code == 403
    response = login(client)
    assert (response.status_code, response.get_json()) == (
        200, {"email": "bob@me.com", "message": "logged in"})
    session_id = cookie_of(response)
    assert client.get("/profile").get_json() == {"email": "bob@me.com"}
    response = client.delete("/sessions")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    client.set_cookie("session_id", session_id)
    assert client.get("/profile").status_code == 403
    assert client.delete("/sessions").status_code == 403


def test_new_login_replaces_the_session(client):
    register(client)
    first = cookie_of(login(client))
    cookie_of(login(client))
    client.set_cookie("session_id", first)
    assert client.get("/profile").status_code == 403


def test_login_cookie_attributes(client):
    register(client)
    response = login(client)
    assert response.status_code == 200
    morsel = session_cookie(response)
    assert (morsel["path"], morsel["httponly"], morsel["samesite"]) == (
        "/", True, "Lax")
    assert client.get("/profile").get_json() == {"email": "bob@me.com"}


def test_logout_clears_the_cookie(client):
    register(client)
    login_cookie = session_cookie(login(client))
    response = client.delete("/sessions")
    assert (response.status_code, response.headers["Location"]) == (302, "/")
    morsel = session_cookie(response)
    assert morsel.value == ""
    assert morsel["max-age"] == "0"
    assert parsedate_to_datetime(morsel["expires"]) < datetime.now(
        timezone.utc)
    assert morsel["path"] == login_cookie["path"] == "/"
    assert morsel["domain"] == login_cookie["domain"] == ""
    assert (morsel["httponly"], morsel["samesite"]) == (True, "Lax")
    assert client.get_cookie("session_id") is None         # jar dropped it
    assert client.get("/profile").status_code == 403


@pytest.mark.real_hashing
def test_unknown_email_with_the_dummy_password_is_401(client):
    register(client)
    response = login(client, email="nobody@me.com",
                     password="dummy password for timing")
    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("cookie", ["", "nope"])
def test_bad_cookies_are_403(client, cookie):
    register(client)
    client.set_cookie("session_id", cookie)
    assert client.get("/profile").status_code == 403
    assert client.delete("/sessions").status_code == 403


def test_reset_password_flow(client):
    register(client)
    assert client.post("/reset_password").status_code == 403
    assert client.post("/reset_password",
                       data={"email": "x@me.com"}).status_code == 403
    response = client.post("/reset_password", data={"email": "bob@me.com"})
    payload = response.get_json()
    assert response.status_code == 200 and payload["email"] == "bob@me.com"
    old_token = payload["reset_token"]
    token = client.post("/reset_password", data={
        "email": "bob@me.com"}).get_json()["reset_token"]

    def put(**data):
        return client.put("/reset_password", data=data)
    good = {"email": "bob@me.com", "reset_token": token,
            "new_password": "n3w"}
    assert put(**dict(good, reset_token=old_token)).status_code == 403
    assert put(**dict(good, reset_token="")).status_code == 403
    assert put(email="bob@me.com", new_password="n3w").status_code == 403
    assert put(**dict(good, email="other@me.com")).status_code == 403
    assert put(reset_token=token, new_password="n3w").status_code == 403
    response = put(**dict(good, new_password="x" * 73))
    assert (response.status_code, response.get_json()) == (
        400, {"message": "password too long"})
    response = put(**dict(good, new_password=""))
    assert (response.status_code, response.get_json()) == (
        400, {"message": "new_password required"})
    assert login(client).status_code == 200             # nothing changed
    response = put(**good)
    assert (response.status_code, response.get_json()) == (
        200, {"email": "bob@me.com", "message": "Password updated"})
    assert login(client).status_code == 401
    assert login(client, password="n3w").status_code == 200
    assert put(**good).status_code == 403


def reset_with_old_cookie(client):
    """Log in, reset the password, then put the pre-reset cookie back."""
    register(client)
    session_id = cookie_of(login(client))
    assert client.get("/profile").status_code == 200
    token = client.post("/reset_password", data={
        "email": "bob@me.com"}).get_json()["reset_token"]
    response = client.put("/reset_password", data={
        "email": "bob@me.com", "reset_token": token, "new_password": "n3w"})
    assert (response.status_code, response.get_json()) == (
        200, {"email": "bob@me.com", "message": "Password updated"})
    client.set_cookie("session_id", session_id)


def test_password_reset_keeps_the_session_by_default(client):
    # A course client logs out with the pre-reset cookie and expects 302.
    reset_with_old_cookie(client)
    assert client.get("/profile").get_json() == {"email": "bob@me.com"}
    response = client.delete("/sessions")
    assert (response.status_code, response.headers["Location"]) == (302, "/")


def test_strict_password_reset_ends_the_session(service, monkeypatch):
    monkeypatch.setattr(service, "AUTH", service.Auth(
        service.Settings(account_policy="strict")))
    client = service.app.test_client()
    reset_with_old_cookie(client)
    assert client.get("/profile").status_code == 403
    assert client.delete("/sessions").status_code == 403


def assert_429(response):
    assert (response.status_code, response.get_json()) == (
        429, {"message": "too many requests"})
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "Set-Cookie" not in response.headers


def test_login_throttled_per_email_and_address(service, monkeypatch):
    register(service.app.test_client())
    checks = []
    real = bcrypt.checkpw
    monkeypatch.setattr(bcrypt, "checkpw",
                        lambda *args: checks.append(1) or real(*args))
    guesser, owner = service.app.test_client(), service.app.test_client()
    guesser.environ_base["REMOTE_ADDR"] = "192.0.2.1"
    owner.environ_base["REMOTE_ADDR"] = "192.0.2.2"
    for i in range(5):
        assert login(guesser, password="wrong{}".format(i)).status_code \
            == 401
    assert len(checks) == 5
    assert_429(login(guesser, password="wrong"))
    assert_429(login(guesser))                         # even the right one
    assert len(checks) == 5
    # Another email from that address, or the owner's address, still go.
    assert login(guesser, email=" BOB@me.com").status_code == 401
    assert login(guesser, email="alice@me.com").status_code == 401
    assert login(owner).status_code == 200
    assert len(checks) == 8


def test_successful_logins_are_not_throttled(client):
    register(client)
    assert [login(client).status_code for _ in range(8)] == [200] * 8
    assert [login(client, password="x").status_code
            for _ in range(5)] == [401] * 5
    assert_429(login(client))


def test_login_throttled_per_address(service):
    first, second = service.app.test_client(), service.app.test_client()
    first.environ_base["REMOTE_ADDR"] = "192.0.2.1"
    second.environ_base["REMOTE_ADDR"] = "192.0.2.2"
    for i in range(20):
        assert login(first, email="u{}@me.com".format(i)).status_code == 401
    assert_429(login(first, email="fresh@me.com"))
    assert login(second, email="fresh@me.com").status_code == 401


MIB = 1024 * 1024


def multipart_body(size, email="bob@me.com", password="mySuperPwd"):
    """Return a multipart/form-data body of exactly `size` bytes: the
    register fields plus one file part padded to the size."""
    head = "".join(
        "--XyZ\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n"
        "{}\r\n".format(name, value)
        for name, value in (("email", email), ("password", password)))
    head += ("--XyZ\r\nContent-Disposition: form-data; name=\"file\"; "
             "filename=\"f.bin\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n")
    tail = "\r\n--XyZ--\r\n"
    padding = size - len(head) - len(tail)
    body = head.encode() + b"x" * padding + tail.encode()
    assert len(body) == size
    return body


def post_multipart(client, path, body):
    return client.post(path, data=body,
                       content_type="multipart/form-data; boundary=XyZ")


def test_request_bodies_over_1_mib_are_413(client):
    for size in (MIB + 1, 30 * MIB):
        response = post_multipart(client, "/users", multipart_body(size))
        assert response.status_code == 413, size
    response = client.post("/sessions", data=b"x" * (MIB + 1),
                           content_type="application/octet-stream")
    assert response.status_code == 413
    response = post_multipart(client, "/users", multipart_body(MIB))
    assert (response.status_code, response.get_json()) == (
        200, {"email": "bob@me.com", "message": "user created"})
    assert client.application.config["MAX_CONTENT_LENGTH"] == MIB
