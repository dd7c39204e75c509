"""Two hosts: two API servers that share PostgreSQL and Redis only.

Each server (`python -m api.v1.app`) runs in its own folder and on its
own port, with `DATABASE_URL` (users) and `SESSION_STORE_URL` (sessions)
naming the same PostgreSQL database (this run's own) and Redis server
(the tests' db of the machine's Redis), as two machines would.
Whatever one host does to a session or a user must hold on the other, and
neither may fall back on the JSON files of its folder.

The two hosts are started once per module and session type; each test
has users (so sessions) of its own, with emails no other test uses.
"""
import itertools
import subprocess
import sys
from collections import namedtuple
from pathlib import Path
from typing import Iterator, Tuple

import pytest
import requests

from conftest import SESSION_TYPES, api_server, create_user, server_env

COOKIE = "_my_session_id"
PASSWORD = "H0lberton!"
ALICE_PASSWORD = "4lice-pwd!"
FORBIDDEN = (403, {"error": "Forbidden"})
JSON_STORES = (".db_User.json", ".db_UserSession.json")
SET_PASSWORD = """\
import sys
from models.user import User
[user] = User.search({"email": sys.argv[1]})
user.password = sys.argv[2]
user.save()
"""
"""A separate process that changes a password, as an operator would."""

Hosts = namedtuple("Hosts", "a b folders database_url")
People = namedtuple("People", "a b folders database_url bob alice")
"""The module's hosts, with (email, password) of this test's users."""
_numbers = itertools.count()

pytestmark = pytest.mark.parametrize("database", ["postgresql"],
                                     indirect=True)


@pytest.fixture(scope="module", params=SESSION_TYPES)
def shared_hosts(request, tmp_path_factory, postgres_url: str,
                 prepared_postgres_store,
                 flushed_redis_url: str) -> Iterator[Hosts]:
    """Start host A and host B, in folders `a` and `b` of their own."""
    env = {"AUTH_TYPE": request.param, "DATABASE_URL": postgres_url,
           "SESSION_STORE_URL": flushed_redis_url, "SESSION_DURATION": "3600"}
    top = tmp_path_factory.mktemp("hosts-" + request.param)
    folders = (top / "a", top / "b")
    for folder in folders:
        folder.mkdir()
    with api_server(folders[0], **env) as a, \
            api_server(folders[1], **env) as b:
        yield Hosts(a.url, b.url, folders, postgres_url)


@pytest.fixture
def hosts(shared_hosts: Hosts, database: str) -> People:
    """Return the hosts and this test's bob and alice, unknown to them.

    `database` makes this process write users in the hosts' PostgreSQL
    database, and empties it after the test.
    """
    assert database == shared_hosts.database_url
    number = next(_numbers)
    return People(*shared_hosts, ("bob{}@hbtn.io".format(number), PASSWORD),
                  ("alice{}@hbtn.io".format(number), ALICE_PASSWORD))


def log_in(url: str, email: str, password: str) -> requests.Response:
    return requests.post(url + "/api/v1/auth_session/login",
                         data={"email": email, "password": password},
                         timeout=10)


def session_of(url: str, email: str, password: str) -> Tuple[str, dict]:
    """Log in on `url`; return the session id and the user's JSON."""
    response = log_in(url, email, password)
    assert response.status_code == 200, response.text
    return response.cookies[COOKIE], response.json()


def me(url: str, cookie: str) -> Tuple[int, object]:
    """Return (status, body) of `GET /api/v1/users/me` with `cookie`."""
    response = requests.get(url + "/api/v1/users/me",
                            cookies={COOKIE: cookie}, timeout=10)
    return response.status_code, response.json()


def assert_no_json_stores(*folders: Path) -> None:
    for folder in folders:
        assert [name for name in JSON_STORES
                if (folder / name).exists()] == [], folder


def test_session_made_on_a_works_on_b(hosts):
    create_user(*hosts.bob)
    cookie, user = session_of(hosts.a, *hosts.bob)
    assert user["email"] == hosts.bob[0]
    assert me(hosts.b, cookie) == (200, user)
    assert me(hosts.a, cookie) == (200, user)
    assert_no_json_stores(*hosts.folders)


def test_logout_on_b_ends_the_session_on_a(hosts):
    create_user(*hosts.bob)
    cookie, user = session_of(hosts.a, *hosts.bob)
    assert me(hosts.a, cookie) == (200, user)
    response = requests.delete(hosts.b + "/api/v1/auth_session/logout",
                               cookies={COOKIE: cookie}, timeout=10)
    assert (response.status_code, response.json()) == (200, {})
    assert me(hosts.a, cookie) == FORBIDDEN
    assert me(hosts.b, cookie) == FORBIDDEN
    assert_no_json_stores(*hosts.folders)


def test_password_set_by_a_script_ends_sessions_on_both_hosts(hosts,
                                                              workdir):
    create_user(*hosts.bob)
    on_a, user = session_of(hosts.a, *hosts.bob)
    on_b, _ = session_of(hosts.b, *hosts.bob)
    assert me(hosts.a, on_a) == (200, user)
    assert me(hosts.b, on_b) == (200, user)
    script = workdir / "script"
    script.mkdir()
    result = subprocess.run(
        [sys.executable, "-c", SET_PASSWORD, hosts.bob[0], "N3w-passw0rd!"],
        cwd=script, env=server_env({"DATABASE_URL": hosts.database_url}),
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert me(hosts.a, on_a) == FORBIDDEN
    assert me(hosts.b, on_b) == FORBIDDEN
    assert me(hosts.b, on_a) == FORBIDDEN
    assert me(hosts.a, on_b) == FORBIDDEN
    old = log_in(hosts.a, *hosts.bob)
    assert (old.status_code, old.json()) == (401, {"error": "wrong password"})
    new, user = session_of(hosts.b, hosts.bob[0], "N3w-passw0rd!")
    assert me(hosts.a, new) == (200, user)
    assert_no_json_stores(*hosts.folders, script)


def test_user_deleted_on_a_loses_its_sessions_on_b(hosts):
    bob = create_user(*hosts.bob)
    create_user(*hosts.alice)
    bob_cookie, bob_json = session_of(hosts.b, *hosts.bob)
    alice_cookie, alice_json = session_of(hosts.a, *hosts.alice)
    assert me(hosts.b, bob_cookie) == (200, bob_json)
    response = requests.delete(hosts.a + "/api/v1/users/" + bob.id,
                               cookies={COOKIE: alice_cookie}, timeout=10)
    assert (response.status_code, response.json()) == (200, {})
    assert me(hosts.b, bob_cookie) == FORBIDDEN
    assert me(hosts.a, bob_cookie) == FORBIDDEN
    assert me(hosts.b, alice_cookie) == (200, alice_json)
    again = log_in(hosts.b, *hosts.bob)
    assert (again.status_code, again.json()) == \
        (404, {"error": "no user found for this email"})
    assert_no_json_stores(*hosts.folders)
