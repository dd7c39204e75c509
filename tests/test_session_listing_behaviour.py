"""GET /api/v1/auth_session/sessions: order, epochs and `last_seen`.

Each test runs on the in-memory stores, the record store (JSON files) and
Redis, and names the defect it was seen to catch (planted, run, restored).
"""
import subprocess
import sys

import pytest

from conftest import create_user, login, server_env

pytestmark = pytest.mark.quick_hashing

SESSIONS = "/api/v1/auth_session/sessions"
ME = "/api/v1/users/me"
STORES = [("session_auth", False), ("session_exp_auth", False),
          ("session_db_auth", False), ("session_auth", True),
          ("session_exp_auth", True)]


@pytest.fixture(params=STORES,
                ids=lambda p: p[0] + ("-redis" if p[1] else ""))
def app(request, make_app):
    """An app of each session auth type, on its own store or on Redis."""
    auth_type, in_redis = request.param
    values = {"session_duration": 3600, "session_idle_timeout": 600}
    if in_redis:
        values["session_store_url"] = request.getfixturevalue("redis_url")
    return make_app(auth_type, **values)


def test_the_listing_is_oldest_first(app, frozen_clock):
    """Six sessions made a second apart are listed in that order.

    Defects caught: `live_sessions` without its sort (Redis lists by
    handle, a random order, when sessions never expire) or sorting the
    newest first.
    """
    create_user()
    clients = []
    for _ in range(6):
        client = app.test_client()
        assert login(client).status_code == 200
        clients.append(client)
        frozen_clock.advance(1)
    listed = clients[-1].get(SESSIONS).get_json()
    created = [entry["created_at"] for entry in listed]
    assert len(created) == 6
    assert created == sorted(created) and len(set(created)) == 6
    assert [entry["current"] for entry in listed] == [False] * 5 + [True]


@pytest.mark.real_hashing
def test_after_a_password_change_only_new_sessions_are_listed(
        app, workdir):
    """Another process changes the password; old sessions leave the list.

    That process holds no session store of this app, so the old sessions
    are still stored: the credential epoch alone must hide them. Defect
    caught: `live_sessions` without its epoch filter.
    """
    user = create_user()
    old = [app.test_client() for _ in range(2)]
    for client in old:
        assert login(client).status_code == 200
    script = ("from models.user import User; u = User.get({!r}); "
              "u.password = 'N3w-password!'; u.save()".format(user.id))
    done = subprocess.run([sys.executable, "-c", script], cwd=workdir,
                          env=server_env(), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    new = app.test_client()
    assert login(new, password="N3w-password!").status_code == 200
    listed = new.get(SESSIONS).get_json()
    assert [entry["current"] for entry in listed] == [True]
    for client in old:
        assert client.get(ME).status_code == 403


def test_last_seen_moves_when_the_session_is_used(app, frozen_clock):
    """`last_seen` is the last use, `created_at` the login.

    Defect caught: the listing showing `created_at` as `last_seen`
    (under an idle timeout, where uses are recorded).
    """
    create_user()
    client = app.test_client()
    assert login(client).status_code == 200
    login_time = frozen_clock().isoformat(timespec="seconds")
    frozen_clock.advance(120)
    assert client.get(ME).status_code == 200
    used = frozen_clock().isoformat(timespec="seconds")
    (entry,) = client.get(SESSIONS).get_json()
    assert entry["created_at"] == login_time
    if getattr(_auth(app), "idle_timeout", 0) > 0:
        assert entry["last_seen"] == used
    else:
        assert entry["last_seen"] == login_time


def _auth(app):
    """Return the auth instance of `app`."""
    from api.v1.config import AUTH_EXTENSION
    return app.extensions[AUTH_EXTENSION]
