"""Two hosts with read caches: a change anywhere is seen by the next request.

Each host (`python -m api.v1.app`) keeps user and session rows of
PostgreSQL, and session hashes of Redis, in its own memory (issue 18).
A change made on host A, by the CLI, by `psql` or by `redis-cli` must be
acted on by host B's very next request. Host B's cache is warmed (two
requests) before each change, so that a stale cache would show.

The hosts are started once per module and session store; each test has
users (so sessions) of its own, with emails no other test uses, so a
host's cache never holds a row of another test's users.
"""
import itertools
import subprocess
import sys
from collections import namedtuple
from pathlib import Path
from typing import Iterator, Tuple

import psycopg
import pytest
import requests

from conftest import api_server, create_user, server_env

COOKIE = "_my_session_id"
PASSWORD = "H0lberton!"
ALICE_PASSWORD = "4lice-pwd!"
FORBIDDEN = (403, {"error": "Forbidden"})
ME = "/api/v1/users/me"

Hosts = namedtuple("Hosts", "a b database_url redis_url workdir")
People = namedtuple("People", "a b database_url redis_url workdir bob alice")
"""The module's hosts, with (email, password) of this test's users."""
_numbers = itertools.count()

pytestmark = pytest.mark.parametrize("database", ["postgresql"],
                                     indirect=True)


@pytest.fixture(scope="module", params=["postgresql_redis", "postgresql"])
def shared_hosts(request, tmp_path_factory, postgres_url: str,
                 prepared_postgres_store,
                 flushed_redis_url: str) -> Iterator[Hosts]:
    """Start hosts A and B: users in PostgreSQL, sessions in Redis or it."""
    env = {"AUTH_TYPE": "session_db_auth", "DATABASE_URL": postgres_url,
           "SESSION_DURATION": "3600"}
    if request.param == "postgresql_redis":
        env["SESSION_STORE_URL"] = flushed_redis_url
    workdir = tmp_path_factory.mktemp("hosts-" + request.param)
    for name in ("a", "b"):
        (workdir / name).mkdir()
    with api_server(workdir / "a", **env) as a, \
            api_server(workdir / "b", **env) as b:
        yield Hosts(a.url, b.url, postgres_url,
                    env.get("SESSION_STORE_URL"), workdir)


@pytest.fixture
def hosts(shared_hosts: Hosts, database: str, workdir: Path) -> People:
    """Return the hosts and this test's bob and alice, unknown to them.

    `database` makes this process write users in the hosts' PostgreSQL
    database, and empties it after the test; `workdir` is the test's.
    """
    assert database == shared_hosts.database_url
    number = next(_numbers)
    return People(*shared_hosts._replace(workdir=workdir),
                  ("bob{}@hbtn.io".format(number), PASSWORD),
                  ("alice{}@hbtn.io".format(number), ALICE_PASSWORD))


def session_of(url: str, email: str, password: str) -> Tuple[str, dict]:
    """Log in on `url`; return the session id and the user's JSON."""
    response = requests.post(url + "/api/v1/auth_session/login",
                             data={"email": email, "password": password},
                             timeout=10)
    assert response.status_code == 200, response.text
    return response.cookies[COOKIE], response.json()


def me(url: str, cookie: str) -> Tuple[int, object]:
    """Return (status, body) of `GET /api/v1/users/me` with `cookie`."""
    response = requests.get(url + ME, cookies={COOKIE: cookie}, timeout=10)
    return response.status_code, response.json()


def cli(hosts: People, *args: str, stdin: str = "") -> None:
    """Run a `flask` command of the API in a third folder (a third host)."""
    folder = hosts.workdir / "cli"
    folder.mkdir(exist_ok=True)
    env = {"DATABASE_URL": hosts.database_url, "AUTH_TYPE": "session_db_auth"}
    if hosts.redis_url:
        env["SESSION_STORE_URL"] = hosts.redis_url
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "api.v1.app"] + list(args),
        cwd=folder, env=server_env(env), input=stdin, capture_output=True,
        text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def psql(hosts: People, sql: str) -> None:
    """Run plain SQL with `psql`."""
    subprocess.run(["psql", hosts.database_url, "-v", "ON_ERROR_STOP=1",
                    "-qc", sql], check=True, capture_output=True,
                   timeout=30)


def end_on_a(hosts: People, cookie: str) -> None:
    """Log out on host A."""
    response = requests.delete(hosts.a + "/api/v1/auth_session/logout",
                               cookies={COOKIE: cookie}, timeout=10)
    assert response.status_code == 200


def password_on_a(hosts: People, cookie: str) -> None:
    """Change bob's password through host A with another of his sessions."""
    other, _ = session_of(hosts.a, *hosts.bob)
    response = requests.put(
        hosts.a + "/api/v1/users/me/password", cookies={COOKIE: other},
        json={"current_password": hosts.bob[1],
              "new_password": "N3w-passw0rd!"},
        timeout=10)
    assert response.status_code == 200, response.text


def delete_on_a(hosts: People, cookie: str) -> None:
    """Delete bob through host A, logged in as alice."""
    alice, _ = session_of(hosts.a, *hosts.alice)
    bob_id = me(hosts.a, cookie)[1]["id"]
    response = requests.delete(hosts.a + "/api/v1/users/" + bob_id,
                               cookies={COOKIE: alice}, timeout=10)
    assert response.status_code == 200


def redis_or_sql_session_delete(hosts: People, cookie: str) -> None:
    """Delete the session in its store, by `redis-cli` or `psql`."""
    import hashlib
    if hosts.redis_url:
        host_port, db = hosts.redis_url.split("//", 1)[1].rsplit("/", 1)
        host, port = host_port.split(":")
        key = "sa:s:" + hashlib.sha256(cookie.encode()).hexdigest()
        subprocess.run(["redis-cli", "-h", host, "-p", port, "-n", db, "DEL",
                        key], check=True, capture_output=True, timeout=30)
    else:
        psql(hosts, "DELETE FROM user_sessions WHERE session_id = '{}'"
             .format(cookie))


CHANGES = {
    "logout on A": end_on_a,
    "password on A": password_on_a,
    "deletion on A": delete_on_a,
    "CLI set-password": lambda h, c: cli(
        h, "set-password", h.bob[0], "--password-stdin",
        stdin="N3w-passw0rd!\n"),
    "CLI delete-user": lambda h, c: cli(h, "delete-user", h.bob[0]),
    "CLI revoke-sessions": lambda h, c: cli(h, "revoke-sessions", h.bob[0]),
    "psql epoch": lambda h, c: psql(
        h, "UPDATE users SET auth_epoch = COALESCE(auth_epoch, 0) + 1 "
        "WHERE email = '{}'".format(h.bob[0])),
    "psql delete user": lambda h, c: psql(
        h, "DELETE FROM users WHERE email = '{}'".format(h.bob[0])),
    "store delete session": redis_or_sql_session_delete,
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_elsewhere_refuses_the_next_request_on_b(hosts, change):
    create_user(*hosts.bob)
    create_user(*hosts.alice)
    cookie, user = session_of(hosts.a, *hosts.bob)
    assert me(hosts.b, cookie) == (200, user)
    assert me(hosts.b, cookie) == (200, user)
    CHANGES[change](hosts, cookie)
    assert me(hosts.b, cookie) == FORBIDDEN


def test_a_thousand_requests_see_no_stale_answer(hosts):
    """1,000 requests on both hosts, interleaved with 50 changes."""
    create_user(*hosts.bob, first_name="Bob")
    cookie, user = session_of(hosts.a, *hosts.bob)
    other = psycopg.connect(hosts.database_url, autocommit=True)
    stale = []
    name = "Bob"
    for number in range(1000):
        if number % 20 == 10:
            name = "Bob{}".format(number)
            if number % 40 == 10:
                other.execute("UPDATE users SET first_name = %s "
                              "WHERE id = %s", (name, user["id"]))
            else:
                response = requests.put(
                    hosts.a + "/api/v1/users/" + user["id"],
                    cookies={COOKIE: cookie}, json={"first_name": name},
                    timeout=10)
                assert response.status_code == 200
        url = hosts.b if number % 3 else hosts.a
        status, body = me(url, cookie)
        if status != 200 or body["first_name"] != name:
            stale.append((number, url[-5:], status,
                          body.get("first_name"), name))
    other.close()
    assert stale == [], "{} stale answers: {}".format(len(stale), stale)
