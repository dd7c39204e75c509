"""Stale writes: a slow request, another process or another worker.

Each case ran wrong before the row-level record layer: the slow PUT
brought a deleted user back or restored an old password, two servers lost
each other's updates, and a touch re-created a session logged out
meanwhile. They run on the JSON files, SQLite and PostgreSQL with real
server processes.
"""
import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask, request

from api.v1.auth.session_db_auth import SessionDBAuth
from api.v1.auth.session_exp_auth import SessionExpAuth
from api.v1.config import Settings
from models.user import User
from conftest import api_server, create_user, reset_state, run_script

pytestmark = pytest.mark.usefixtures("database")


class SlowRequest:
    """An HTTP request whose body arrives in two parts, on a raw socket."""

    def __init__(self, base_url, method, path, body: bytes, split: int):
        parts = urlsplit(base_url)
        self.sock = socket.create_connection((parts.hostname, parts.port),
                                             timeout=15)
        head = ("{} {} HTTP/1.1\r\nHost: {}\r\nContent-Type: "
                "application/json\r\nContent-Length: {}\r\nConnection: "
                "close\r\n\r\n").format(method, path, parts.netloc,
                                        len(body))
        self.sock.sendall(head.encode() + body[:split])
        self.rest = body[split:]

    def finish(self):
        """Send the rest of the body; return (status, JSON body)."""
        self.sock.sendall(self.rest)
        data = b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            data += chunk
        self.sock.close()
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        return status, json.loads(body)


def env_for(database):
    return {"DATABASE_URL": database} if database else {}


def fresh(user_id):
    reset_state()
    return User.get(user_id)


def test_slow_put_racing_a_delete_does_not_bring_the_user_back(
        database, workdir):
    user = create_user("bob@hbtn.io", "pw")
    with api_server(workdir, **env_for(database)) as server:
        body = json.dumps({"first_name": "Back"}).encode()
        slow = SlowRequest(server.url, "PUT", "/api/v1/users/" + user.id,
                           body, 5)
        time.sleep(0.5)                 # the view has read the user
        deleted = requests.delete(server.url + "/api/v1/users/" + user.id)
        assert deleted.status_code == 200
        status, answer = slow.finish()
        assert (status, answer) == (404, {"error": "Not found"})
        again = requests.get(server.url + "/api/v1/users/" + user.id)
        assert again.status_code == 404
    assert fresh(user.id) is None
    assert User.search_by_email("bob@hbtn.io") == []


def test_slow_put_racing_a_password_change_keeps_the_new_password(
        database, workdir):
    user = create_user("bob@hbtn.io", "old password")
    script = workdir / "change.py"
    script.write_text(
        "from models.user import User\n"
        "user = User.search({'email': 'bob@hbtn.io'})[0]\n"
        "user.password = 'new password'\n"
        "user.save()\n")
    with api_server(workdir, **env_for(database)) as server:
        body = json.dumps({"first_name": "Renamed"}).encode()
        slow = SlowRequest(server.url, "PUT", "/api/v1/users/" + user.id,
                           body, 5)
        time.sleep(0.5)
        changed = run_script(str(script), workdir, env_for(database))
        assert changed.returncode == 0, changed.stderr
        status, answer = slow.finish()
        assert status == 200 and answer["first_name"] == "Renamed"
    stored = fresh(user.id)
    assert stored.first_name == "Renamed"
    assert stored.is_valid_password("new password")
    assert not stored.is_valid_password("old password")


def test_two_servers_lose_no_update(database, workdir):
    users = [User(email="u{}@hbtn.io".format(i)) for i in range(100)]
    User.save_many(users)
    env = env_for(database)
    with api_server(workdir, **env) as one, api_server(workdir, **env) \
            as two:
        def put(args):
            url, user, field = args
            return requests.put(url + "/api/v1/users/" + user.id,
                                json={field: field + "-" + user.id[:8]},
                                timeout=30).status_code
        jobs = []
        for user in users:
            jobs.append((one.url, user, "first_name"))
            jobs.append((two.url, user, "last_name"))
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(put, jobs))
    assert statuses == [200] * len(jobs)
    reset_state()
    for user in users:
        stored = User.get(user.id)
        assert stored.first_name == "first_name-" + user.id[:8]
        assert stored.last_name == "last_name-" + user.id[:8]


@pytest.mark.parametrize("auth_class", [SessionExpAuth, SessionDBAuth])
def test_a_touch_racing_a_logout_does_not_bring_the_session_back(
        auth_class, frozen_clock, monkeypatch):
    user = create_user()
    auth = auth_class(Settings(session_duration=3600,
                               session_idle_timeout=30))
    session_id = auth.create_session(user.id)
    frozen_clock.advance(15)                    # due for a touch
    real_get = auth.store.get

    def get_then_logged_out_elsewhere(sid):
        record = real_get(sid)
        auth.store.delete(sid)                  # another worker's logout
        return record
    monkeypatch.setattr(auth.store, "get", get_then_logged_out_elsewhere)
    app = Flask(__name__)
    cookie = {"Cookie": "_my_session_id=" + session_id}
    with app.test_request_context(headers=cookie):
        auth.current_user(request)              # looked up, then touched
    monkeypatch.setattr(auth.store, "get", real_get)
    assert auth.store.get(session_id) is None
    assert auth.user_id_for_session_id(session_id) is None
