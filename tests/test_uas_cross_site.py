"""Cross-site writes to the user authentication service are refused.

A POST, PUT or DELETE that a browser marks as coming from another site
answers 403 before any work (spec §9); same-origin and same-site requests
and requests without the headers (curl, scripts) pass. The Flask test
client's own origin is `http://localhost`.
"""
import bcrypt
import pytest

from uas import service_module

CROSS_SITE = [
    {"Origin": "https://evil.example"},
    {"Origin": "http://localhost.evil.example"},
    {"Origin": "https://localhost"},                  # another scheme
    {"Origin": "http://localhost:8080"},              # another port
    {"Origin": "null"},                               # an opaque origin
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "Cross-Site", "Origin": "http://localhost"},
]
NOT_CROSS_SITE = [
    {},
    {"Origin": "http://localhost"},
    {"Origin": "HTTP://LOCALHOST:80/"},
    {"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"},
    {"Sec-Fetch-Site": "same-site", "Origin": "https://app.localhost"},
    {"Sec-Fetch-Site": "none"},
]


@pytest.fixture
def client(workdir, monkeypatch):
    """A test client; bob's password `pwd` has a quick (cost 4) hash."""
    url = "sqlite:///" + str(workdir / "kept.db")
    service_module("db").DB(url).add_user(
        "bob@me.com", bcrypt.hashpw(b"pwd", bcrypt.gensalt(4)))
    app_module = service_module("app")
    settings = service_module("settings").Settings(database_url=url)
    monkeypatch.setattr(app_module, "AUTH",
                        service_module("auth").Auth(settings))
    return app_module.app.test_client()


@pytest.fixture
def checks(monkeypatch):
    """Count bcrypt runs (checks and hashes) from now on."""
    calls = []
    for name in ("checkpw", "hashpw"):
        real = getattr(bcrypt, name)
        monkeypatch.setattr(bcrypt, name, lambda *args, real=real: (
            calls.append(1), real(*args))[1])
    return calls


def login(client, headers=None, password="pwd"):
    return client.post("/sessions", headers=headers or {}, data={
        "email": "bob@me.com", "password": password})


@pytest.mark.parametrize("headers", CROSS_SITE)
def test_cross_site_writes_are_refused_before_any_work(
        client, checks, headers):
    response = login(client, headers)
    assert response.status_code == 403
    assert "Set-Cookie" not in response.headers
    assert client.post("/users", headers=headers, data={
        "email": "eve@me.com", "password": "pwd"}).status_code == 403
    assert client.post("/reset_password", headers=headers, data={
        "email": "bob@me.com"}).status_code == 403
    assert checks == []                          # no bcrypt run at all


def test_refused_writes_change_nothing(client):
    headers = {"Origin": "https://evil.example"}
    assert login(client).status_code == 200
    session_id = client.get_cookie("session_id").value
    token = client.post("/reset_password", data={
        "email": "bob@me.com"}).get_json()["reset_token"]
    assert client.post("/users", headers=headers, data={
        "email": "eve@me.com", "password": "pwd"}).status_code == 403
    assert client.put("/reset_password", headers=headers, data={
        "email": "bob@me.com", "reset_token": token,
        "new_password": "hacked"}).status_code == 403
    assert client.delete("/sessions", headers=headers).status_code == 403
    assert login(client, headers).status_code == 403
    # Reads pass, and nothing the refused writes asked for happened.
    assert client.get("/profile", headers=headers).get_json() == {
        "email": "bob@me.com"}
    assert client.get_cookie("session_id").value == session_id
    assert client.post("/users", data={
        "email": "eve@me.com", "password": "pwd"}).status_code == 200
    assert login(client, password="hacked").status_code == 401
    assert client.put("/reset_password", data={
        "email": "bob@me.com", "reset_token": token,
        "new_password": "n3w"}).status_code == 200


@pytest.mark.parametrize("headers", NOT_CROSS_SITE)
def test_same_site_and_scripted_writes_pass(client, headers):
    response = login(client, headers)
    assert (response.status_code, response.get_json()) == (
        200, {"email": "bob@me.com", "message": "logged in"})
    response = client.delete("/sessions", headers=headers)
    assert (response.status_code, response.headers["Location"]) == (302, "/")
    response = client.post("/reset_password", headers=headers, data={
        "email": "bob@me.com"})
    assert response.status_code == 200


def test_same_origin_registration_passes(client):
    response = client.post("/users", headers={
        "Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"},
        data={"email": "al@me.com", "password": "pwd"})
    assert (response.status_code, response.get_json()) == (
        200, {"email": "al@me.com", "message": "user created"})


def test_rule_without_flask():
    is_cross_site = service_module("cross_site").is_cross_site
    assert is_cross_site({"Origin": "https://a.example"}, "https",
                         "b.example")
    assert not is_cross_site({"Origin": "https://a.example:443"}, "https",
                             "a.example")
    assert not is_cross_site({"Origin": "http://[::1]:5000"}, "http",
                             "[::1]:5000")
    assert is_cross_site({"Origin": "http://[::1]:5001"}, "http",
                         "[::1]:5000")
    # Behind a TLS proxy without ProxyFix the scheme differs: refused
    # unless the browser says same-origin.
    assert is_cross_site({"Origin": "https://a.example"}, "http",
                         "a.example")
    assert not is_cross_site({"Origin": "https://a.example",
                              "Sec-Fetch-Site": "same-origin"}, "http",
                             "a.example")
