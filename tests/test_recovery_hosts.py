"""Recovery on two hosts that share PostgreSQL and Redis only (§7.2).

Two API servers (`python -m api.v1.app`, each in its own folder and on
its own port) mail to one real SMTP server (aiosmtpd in this process).
Two confirms of one token sent at the same moment, one to each host,
give exactly one 200; the reset ends the user's sessions on both hosts.
"""
import threading
from pathlib import Path

import pytest
import requests

from conftest import api_server, create_user
from mail_sink import link_of

BOB = ("bob@hbtn.io", "H0lberton!")
NEW = "a brand new passphrase"
COOKIE = "_my_session_id"

pytestmark = pytest.mark.parametrize("database", ["postgresql"],
                                     indirect=True)


def post(url, path, **kwargs):
    return requests.post(url + path, timeout=15, **kwargs)


@pytest.mark.parametrize("flow_store", ["redis", "postgresql"])
def test_concurrent_confirms_on_two_hosts_give_one_200(
        workdir: Path, database: str, request, sink, flow_store):
    """With Redis the token is taken by `GETDEL`; without it, by a
    counted `DELETE` of its `flow_state` row."""
    users = ["user{}@hbtn.io".format(i) for i in range(4)]
    for email in users:
        create_user(email, BOB[1])
    env = {"AUTH_TYPE": "session_db_auth", "DATABASE_URL": database,
           "SESSION_DURATION": "3600",
           "MAIL_URL": sink.url, "NOTICES": "",
           "RECOVERY_LIMIT_PER_ADDRESS": "1000 per hour"}
    if flow_store == "redis":
        env["SESSION_STORE_URL"] = request.getfixturevalue("redis_url")
    folders = (workdir / "a", workdir / "b")
    for folder in folders:
        folder.mkdir()
    with api_server(folders[0], **env) as a, \
            api_server(folders[1], **env) as b:
        for round_, email in enumerate(users):
            sessions = []
            for host in (a, b):
                login = post(host.url, "/api/v1/auth_session/login",
                             data={"email": email, "password": BOB[1]})
                assert login.status_code == 200
                sessions.append((host.url, login.cookies[COOKIE]))
            asked = post((a, b)[round_ % 2].url,
                         "/api/v1/auth_session/recovery",
                         data={"email": email})
            assert asked.status_code == 202
            token = link_of(sink.wait_for(round_ + 1)[round_])[1]
            start = threading.Barrier(2)
            answers = []

            def confirm(url):
                start.wait()
                response = post(url, "/api/v1/auth_session/recovery/confirm",
                                json={"token": token,
                                      "new_password": NEW + str(round_)})
                answers.append((response.status_code, response.json()))
            threads = [threading.Thread(target=confirm, args=(host.url,))
                       for host in (a, b)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert sorted(answers, key=lambda x: x[0]) == [
                (200, {}), (400, {"error": "token invalid"})], answers
            for url, session_id in sessions:
                me = requests.get(url + "/api/v1/users/me",
                                  cookies={COOKIE: session_id}, timeout=10)
                assert me.status_code == 403
            for host in (a, b):
                login = post(host.url, "/api/v1/auth_session/login",
                             data={"email": email,
                                   "password": NEW + str(round_)})
                assert login.status_code == 200
