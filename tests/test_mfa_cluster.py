"""Second factor on shared stores: Redis sessions and flow state, and two
real servers sharing PostgreSQL and Redis (account-security §4.3).

The two-step login begun on one server finishes on the other; a TOTP code
used on one is refused on the other; one recovery code used by two
concurrent logins on two servers gives one 200; wrong codes on either
server add up on the token.
"""
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pyotp
import pytest
import requests

from conftest import SESSION_TYPES, api_server, create_user, login
from models import base
from models.store import JsonFileStore

KEY = "test secret key " * 3
EPOCH = datetime(1970, 1, 1)
API = "/api/v1/auth_session/"


def code_at(secret, clock, offset=0):
    """Return the TOTP code of `secret` at the frozen clock (+ seconds)."""
    moment = int((clock.now - EPOCH).total_seconds()) + offset
    return pyotp.TOTP(secret).at(moment)


def redis_dump(url):
    """Return every word of every key and value of the Redis db `url`."""
    import redis
    client = redis.Redis.from_url(url, decode_responses=True)
    words = []
    for key in client.scan_iter():
        kind = client.type(key)
        value = (client.get(key) if kind == "string" else
                 client.hgetall(key) if kind == "hash" else
                 client.zrange(key, 0, -1) if kind == "zset" else "")
        words += [key] + str(value).replace('"', " ").replace(
            "'", " ").split()
    client.close()
    return words


@pytest.mark.parametrize("auth_type", SESSION_TYPES)
def test_two_steps_and_reauthentication_on_redis(make_app, redis_url,
                                                 auth_type, frozen_clock):
    create_user()
    app = make_app(auth_type, secret_key=KEY, session_store_url=redis_url,
                   session_duration=3600, reauth_seconds=120)
    owner = app.test_client()
    assert login(owner).status_code == 200
    secret = owner.post(API + "totp").get_json()["secret"]
    codes = owner.post(API + "totp/confirm", json={
        "code": code_at(secret, frozen_clock)}).get_json()["recovery_codes"]
    frozen_clock.advance(30)
    client = app.test_client()
    token = login(client).get_json()["mfa_token"]
    assert not set(redis_dump(redis_url)) & {secret, token, *codes}
    answer = client.post(API + "login/mfa", json={
        "mfa_token": token, "code": code_at(secret, frozen_clock)})
    assert answer.status_code == 200
    listed = [s for s in client.get(API + "sessions").get_json()
              if s["current"]]
    assert listed[0]["amr"] == ["pwd", "otp"]
    frozen_clock.advance(121)
    assert client.post(API + "recovery_codes").get_json() == {
        "error": "reauthentication required"}
    frozen_clock.advance(30)
    assert client.post(API + "reauthenticate", json={
        "password": "H0lberton!", "code": code_at(secret, frozen_clock)}
    ).get_json() == {}
    assert client.post(API + "recovery_codes").status_code == 200


def test_an_expired_token_in_redis_is_invalid(make_app, redis_url):
    create_user()
    app = make_app("session_auth", secret_key=KEY,
                   session_store_url=redis_url, mfa_token_seconds=1)
    owner = app.test_client()
    login(owner)
    secret = owner.post(API + "totp").get_json()["secret"]
    assert owner.post(API + "totp/confirm", json={
        "code": pyotp.TOTP(secret).now()}).status_code == 200
    client = app.test_client()
    token = login(client).get_json()["mfa_token"]
    deadline = time.monotonic() + 5
    while True:
        answer = client.post(API + "login/mfa", data={
            "mfa_token": token, "code": "12345678"})
        if answer.get_json() == {"error": "mfa_token invalid"}:
            break
        assert answer.get_json() == {"error": "wrong code"}
        assert time.monotonic() < deadline, "the token did not expire"
        time.sleep(0.2)


@pytest.fixture
def shared_postgres(postgres_url):
    """Point this process at the shared PostgreSQL; empty it after."""
    from models.sql_store import (SqlRecordStore, authenticators,
                                  flow_state, user_sessions, users)
    store = SqlRecordStore(postgres_url)
    store.prepare()
    base.set_store(store)
    try:
        yield postgres_url
    finally:
        with store.engine.begin() as connection:
            for table in (users, user_sessions, flow_state, authenticators):
                connection.execute(table.delete())
        base.set_store(JsonFileStore())
        store.close()


def _password_step(server):
    """Log bob in with the password on `server`; return the mfa_token."""
    answer = requests.post(server.url + API + "login", data={
        "email": "bob@hbtn.io", "password": "H0lberton!"}, timeout=10)
    assert answer.status_code == 401, answer.text
    assert "Set-Cookie" not in answer.headers
    return answer.json()["mfa_token"]


def _second_step(server, token, code):
    """Finish a login on `server`; return the response."""
    return requests.post(server.url + API + "login/mfa",
                         data={"mfa_token": token, "code": code},
                         timeout=10)


def test_two_servers_share_tokens_codes_and_counts(shared_postgres,
                                                   redis_url, workdir):
    create_user()
    env = {"AUTH_TYPE": "session_db_auth", "DATABASE_URL": shared_postgres,
           "SESSION_STORE_URL": redis_url, "SECRET_KEY": KEY,
           "LOGIN_LIMIT_PER_ACCOUNT": "100/minute"}
    (workdir / "a").mkdir()
    (workdir / "b").mkdir()
    with api_server(workdir / "a", **env) as one, \
            api_server(workdir / "b", **env) as two:
        owner = requests.Session()
        assert owner.post(one.url + API + "login", data={
            "email": "bob@hbtn.io", "password": "H0lberton!"},
            timeout=10).status_code == 200
        secret = owner.post(one.url + API + "totp", timeout=10).json()[
            "secret"]
        totp = pyotp.TOTP(secret)
        now = int(time.time())
        confirmed = owner.post(one.url + API + "totp/confirm",
                               json={"code": totp.at(now)}, timeout=10)
        assert confirmed.status_code == 200
        codes = confirmed.json()["recovery_codes"]
        # The next step's code: later than the one used, within drift.
        ahead = totp.at(now + 30)
        answer = _second_step(two, _password_step(one), ahead)
        assert answer.status_code == 200, answer.text
        assert answer.json()["email"] == "bob@hbtn.io"
        replay = _second_step(one, _password_step(two), ahead)
        assert (replay.status_code, replay.json()) == (
            401, {"error": "wrong code"})

        tokens = [_password_step(one), _password_step(two)]
        with ThreadPoolExecutor(2) as pool:
            answers = list(pool.map(
                lambda pair: _second_step(pair[0], pair[1], codes[0]),
                [(one, tokens[0]), (two, tokens[1])]))
        assert sorted(a.status_code for a in answers) == [200, 401]
        status = owner.get(one.url + API + "mfa", timeout=10).json()
        assert status["recovery_codes_left"] == 9

        token = _password_step(two)
        for server in (one, two, one, two, one):
            assert _second_step(server, token, "99999999").json() == {
                "error": "wrong code"}
        answer = _second_step(two, token, codes[1])
        assert (answer.status_code, answer.json()) == (
            401, {"error": "mfa_token invalid"})
