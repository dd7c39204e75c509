"""Guessing across addresses (account-security §3): device cookies and the
account-wide limit, IPv6 keyed by /64, keys that name no email.

OWASP "Slow Down Online Guessing Attacks with Device Cookies": failures
against one account from clients without its device cookie are summed
over every address; past the limit new addresses get 429 before any
password check, while the owner, presenting its device cookie, logs in.
"""
import http.client
import json
import urllib.parse

import pytest
import redis as redis_lib

from api.v1.rate_limit import client_key
from conftest import (api_server, basic_header, create_user, login,
                      session_id_of)

pytestmark = pytest.mark.quick_hashing

LOGIN = "/api/v1/auth_session/login"
TOO_MANY = {"error": "Too many requests"}


def device_cookie(response, name="_device_id"):
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(name + "="):
            return header
    return None


def test_a_login_sets_a_device_cookie_with_its_flags(make_app):
    create_user()
    app = make_app("session_auth", session_cookie_secure=True)
    header = device_cookie(login(app.test_client()))
    assert header is not None
    value = header.split(";", 1)[0].split("=", 1)[1]
    assert len(value) >= 22                        # 128 bits or more
    flags = [part.strip().lower() for part in header.split(";")[1:]]
    assert "httponly" in flags and "secure" in flags
    assert "path=/api/v1" in flags and "samesite=lax" in flags
    assert "max-age=31536000" in flags
    assert login(app.test_client(), password="nope").headers.get(
        "Set-Cookie") is None


def test_the_presented_token_is_renewed_and_ends(make_app):
    create_user()
    client = make_app("session_auth").test_client()
    first = device_cookie(login(client)).split(";")[0].split("=", 1)[1]
    second = device_cookie(login(client)).split(";")[0].split("=", 1)[1]
    assert first != second
    from api.v1.auth.devices import DEVICE_KIND
    flows = client.application.extensions["session_api.flow"]
    assert flows.get(DEVICE_KIND, first) is None
    assert flows.get(DEVICE_KIND, second) is not None


def attempt(client, password, address, device=None):
    if device is not None:
        client.set_cookie("_device_id", device, path="/api/v1")
    else:
        client.delete_cookie("_device_id", path="/api/v1")
    return client.post(LOGIN, data={"email": "bob@hbtn.io",
                                    "password": password},
                       environ_base={"REMOTE_ADDR": address})


@pytest.mark.parametrize("store", ["records", "redis"])
def test_the_account_wide_limit_spares_the_owners_device(
        make_app, database, store, request):
    if store == "redis" and database is not None:
        pytest.skip("one Redis run is enough")
    create_user()
    settings = {"login_limit_account_wide": "6 per hour"}
    if store == "redis":
        settings["session_store_url"] = request.getfixturevalue("redis_url")
    app = make_app("session_auth", **settings)
    owner = app.test_client()
    token = device_cookie(attempt(owner, "H0lberton!", "198.51.100.1")
                          ).split(";")[0].split("=", 1)[1]
    attacker = app.test_client()
    statuses = [attempt(attacker, "guess", "203.0.113.{}".format(n)
                        ).status_code for n in range(10)]
    assert statuses == [401] * 6 + [429] * 4
    refused = attempt(attacker, "H0lberton!", "203.0.113.77")
    assert (refused.status_code, refused.get_json()) == (429, TOO_MANY)
    assert int(refused.headers["Retry-After"]) >= 1
    assert attempt(app.test_client(), "H0lberton!", "192.0.2.5"
                   ).status_code == 429
    assert attempt(owner, "H0lberton!", "198.51.100.9",
                   device=token).status_code == 200


def test_a_device_cookie_of_another_account_does_not_count(make_app):
    create_user()
    create_user("eve@hbtn.io", "Eve-pwd-1!")
    app = make_app("session_auth", login_limit_account_wide="2 per hour")
    eve = app.test_client()
    response = eve.post(LOGIN, data={"email": "eve@hbtn.io",
                                     "password": "Eve-pwd-1!"})
    token = device_cookie(response).split(";")[0].split("=", 1)[1]
    statuses = [attempt(eve, "guess", "203.0.113.{}".format(n),
                        device=token).status_code for n in range(4)]
    assert statuses == [401, 401, 429, 429]


def test_unknown_emails_never_spend_an_accounts_budget(make_app):
    create_user()
    app = make_app("session_auth", login_limit_account_wide="3 per hour")
    client = app.test_client()
    for n in range(10):
        client.post(LOGIN, data={"email": "BOB@hbtn.io.x{}".format(n),
                                 "password": "guess"},
                    environ_base={"REMOTE_ADDR": "203.0.113.{}".format(n)})
    assert attempt(app.test_client(), "H0lberton!", "192.0.2.1"
                   ).status_code == 200


def test_basic_credentials_share_the_account_wide_limit(make_app):
    create_user()
    app = make_app("basic_auth", login_limit_account_wide="4 per hour")
    client = app.test_client()
    statuses = [client.get("/api/v1/users/me", headers=basic_header(
        "bob@hbtn.io", "guess"), environ_base={
        "REMOTE_ADDR": "203.0.113.{}".format(n)}).status_code
        for n in range(6)]
    assert statuses == [403] * 4 + [429] * 2


@pytest.mark.parametrize("address, key", [
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
    ("::ffff:198.51.100.7", "198.51.100.7"),
    ("198.51.100.7", "198.51.100.7"),
    (None, "-"),
    ("not-an-address", "not-an-address"),
])
def test_ipv6_clients_are_keyed_by_their_64(address, key):
    assert client_key(address) == key


def test_one_ipv6_64_is_one_client_for_the_limits(make_app):
    create_user()
    client = make_app("session_auth").test_client()
    statuses = [client.post(LOGIN, data={
        "email": "bob@hbtn.io", "password": "guess"}, environ_base={
        "REMOTE_ADDR": "2001:db8:0:1::{:x}".format(n + 1)}).status_code
        for n in range(7)]
    assert statuses == [401] * 5 + [429] * 2
    other = client.post(LOGIN, data={"email": "bob@hbtn.io",
                                     "password": "H0lberton!"},
                        environ_base={"REMOTE_ADDR": "2001:db8:0:2::1"})
    assert other.status_code == 200


def test_limiter_keys_in_redis_name_no_email(make_app, redis_url):
    create_user()
    client = make_app("session_auth", session_store_url=redis_url,
                      secret_key="k" * 32).test_client()
    login(client, password="guess")
    login(client, "carol@hbtn.io", "guess")
    keys = [k.decode() for k in redis_lib.Redis.from_url(redis_url).keys()]
    assert keys and not any("hbtn" in key or "bob" in key for key in keys)


def post_from(port, address, body, cookie=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30,
                                            source_address=(address, 0))
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie:
        headers["Cookie"] = cookie
    connection.request("POST", LOGIN, urllib.parse.urlencode(body),
                       headers)
    answer = connection.getresponse()
    data = answer.read()
    cookies = answer.headers.get_all("Set-Cookie") or []
    connection.close()
    return answer.status, data, cookies


@pytest.mark.real_hashing
def test_thirty_source_addresses_against_one_account(workdir):
    """A real server, clients bound to 127.0.0.2 ... 127.0.0.31."""
    create_user()
    with api_server(workdir, AUTH_TYPE="session_auth",
                    LOGIN_LIMIT_ACCOUNT_WIDE="20 per hour") as server:
        port = int(server.url.rsplit(":", 1)[1])
        status, _, cookies = post_from(port, "127.0.0.200", {
            "email": "bob@hbtn.io", "password": "H0lberton!"})
        assert status == 200
        device = [c.split(";")[0] for c in cookies
                  if c.startswith("_device_id=")][0]
        results = []
        for n in range(2, 32):
            status, data, _ = post_from(port, "127.0.0.{}".format(n), {
                "email": "bob@hbtn.io", "password": "guess-{}".format(n)})
            results.append(status)
        assert results.count(401) == 20
        assert results[20:] == [429] * 10
        status, data, _ = post_from(port, "127.0.0.40", {
            "email": "bob@hbtn.io", "password": "H0lberton!"})
        assert (status, json.loads(data)) == (429, TOO_MANY)
        status, data, _ = post_from(port, "127.0.0.41", {
            "email": "bob@hbtn.io", "password": "H0lberton!"},
            cookie=device)
        assert status == 200, data
