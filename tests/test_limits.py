"""Limits that hold: counted before the password check, for logins and Basic.

Every attempt is counted atomically before its password is checked, so a
burst of parallel guesses gets at most the limit's number of checks; the
counters can live in Redis, shared by every worker; Basic credentials are
limited like logins; a lockout never reaches the owner's own address.
"""
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from api.v1.config import Settings, load_settings
from conftest import (REPO, api_server, basic_header, create_user,
                      free_port, server_env, wait_for_http)

pytestmark = pytest.mark.quick_hashing

LOGIN = "/api/v1/auth_session/login"
TOO_MANY = {"error": "Too many requests"}


def guess(url, password="Wr0ng-Guess", email="bob@hbtn.io"):
    return requests.post(url + LOGIN, data={"email": email,
                                            "password": password},
                         timeout=30)


@pytest.mark.real_hashing
def test_a_burst_of_parallel_guesses_gets_at_most_the_limit(workdir):
    create_user()
    with api_server(workdir, AUTH_TYPE="session_auth") as server:
        with ThreadPoolExecutor(max_workers=40) as pool:
            answers = list(pool.map(lambda _: guess(server.url), range(40)))
        statuses = sorted(a.status_code for a in answers)
        assert statuses.count(401) <= 5            # password checks
        assert statuses.count(429) >= 35
        assert set(statuses) <= {401, 429}
        refused = [a for a in answers if a.status_code == 429][0]
        assert refused.json() == TOO_MANY
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        right = guess(server.url, password="H0lberton!")
        assert (right.status_code, right.json()) == (429, TOO_MANY)


def test_each_attempt_is_counted_before_the_password_check(make_app,
                                                           verifications):
    create_user()
    checks = verifications
    client = make_app("session_auth").test_client()
    answers = [client.post(LOGIN, data={"email": "bob@hbtn.io",
                                        "password": "guess-{}".format(i)})
               for i in range(8)]
    assert [a.status_code for a in answers] == [401] * 5 + [429] * 3
    assert len(checks) == 5


def test_successes_give_their_count_back(make_app):
    create_user()
    client = make_app("session_auth").test_client()
    for _ in range(4):
        assert client.post(LOGIN, data={"email": "bob@hbtn.io",
                                        "password": "nope"}).status_code \
            == 401
    for _ in range(10):
        assert client.post(LOGIN, data={
            "email": "bob@hbtn.io", "password": "H0lberton!"}).status_code \
            == 200
    assert client.post(LOGIN, data={"email": "bob@hbtn.io",
                                    "password": "nope"}).status_code == 401
    assert client.post(LOGIN, data={"email": "bob@hbtn.io",
                                    "password": "nope"}).status_code == 429


def test_guesses_from_elsewhere_never_lock_the_owner_out(make_app):
    create_user()
    client = make_app("session_auth").test_client()

    def attempt(password, address):
        return client.post(LOGIN, data={"email": "bob@hbtn.io",
                                        "password": password},
                           environ_base={"REMOTE_ADDR": address})
    for _ in range(10):
        attempt("nope", "203.0.113.9")             # the attacker
    assert attempt("nope", "203.0.113.9").status_code == 429
    assert attempt("H0lberton!", "198.51.100.7").status_code == 200


@pytest.mark.parametrize("environ, expected", [
    ({}, "memory://"),
    ({"SESSION_STORE_URL": "redis://r:6379/2"}, "redis://r:6379/2"),
    ({"SESSION_STORE_URL": "redis://r:6379/2",
      "RATELIMIT_STORAGE_URI": "memory://"}, "memory://"),
    ({"RATELIMIT_STORAGE_URI": "redis://q:6379/1"}, "redis://q:6379/1"),
])
def test_where_the_counters_live(environ, expected):
    assert load_settings(environ).limits_storage_uri == expected


def test_basic_auth_guesses_are_limited(make_app):
    create_user()
    client = make_app("basic_auth").test_client()
    answers = [client.get("/api/v1/users", headers=basic_header(
        "bob@hbtn.io", "guess-{}".format(i))) for i in range(300)]
    statuses = [a.status_code for a in answers]
    assert statuses[:5] == [403] * 5 and set(statuses[5:]) == {429}
    assert (answers[-1].status_code, answers[-1].get_json()) == (
        429, TOO_MANY)
    assert int(answers[-1].headers["Retry-After"]) >= 1
    right = client.get("/api/v1/users",
                       headers=basic_header("bob@hbtn.io", "H0lberton!"))
    assert right.status_code == 429                 # the limit holds


def test_basic_auth_addresses_are_limited_across_accounts(make_app):
    client = make_app("basic_auth",
                      login_limit_per_address="3 per minute").test_client()
    statuses = [client.get("/api/v1/users", headers=basic_header(
        "u{}@x.io".format(i), "pw")).status_code for i in range(5)]
    assert statuses == [403, 403, 403, 429, 429]


@pytest.mark.real_hashing
def test_counters_shared_in_redis_hold_across_four_workers(workdir,
                                                           redis_url):
    create_user()
    port = free_port()
    env = server_env({"AUTH_TYPE": "session_auth",
                      "SESSION_STORE_URL": redis_url})
    log = open(workdir.parent / "limits-gunicorn.log", "w")
    proc = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "gunicorn"), "--config",
         str(REPO / "gunicorn.conf.py"), "-w", "4",
         "-b", "127.0.0.1:{}".format(port), "api.v1.app:app"],
        cwd=workdir, env=env, stdout=log, stderr=log)
    url = "http://127.0.0.1:{}".format(port)
    try:
        wait_for_http(url + "/api/v1/status", proc, 120)
        statuses = [guess(url).status_code for _ in range(40)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
    assert statuses.count(401) == 5 and statuses.count(429) == 35


def test_limit_settings_parse():
    settings = Settings(login_limit_per_account="2 per hour")
    from api.v1.rate_limit import AttemptLimits
    limits = AttemptLimits(settings)
    assert limits.per_account.amount == 2
    assert limits.per_account.get_expiry() == 3600
