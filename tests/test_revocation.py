"""Revocation that reaches every process: the credential epoch.

A password set by any process, a deletion and a "log out everywhere" end
every session of the user at its next request, in a server that is
another process, with the JSON default too. Rehashing a legacy hash ends
nothing, and a login that races a password change keeps no session.
"""
import hashlib
import subprocess
import sys

import pytest
import requests

from models.user import User
from conftest import (REPO, SESSION_TYPES, api_server, create_user, login,
                      session_id_of, server_env)

BOB = ("bob@hbtn.io", "H0lberton!")
ME = "/api/v1/users/me"
FORBIDDEN = {"error": "Forbidden"}


def script(code, cwd, env=None):
    """Run `code` in a process that imports only `models.user`."""
    result = subprocess.run(
        [sys.executable, "-c", "from models.user import User\n" + code],
        cwd=cwd, env=server_env(env), capture_output=True, text=True,
        timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def session_on(server):
    """Log bob in on `server`; return a cookie jar for his session."""
    answer = requests.post(server.url + "/api/v1/auth_session/login",
                           data={"email": BOB[0], "password": BOB[1]})
    assert answer.status_code == 200
    return {"_my_session_id": answer.cookies["_my_session_id"]}


def me(server, jar):
    answer = requests.get(server.url + ME, cookies=jar)
    return answer.status_code, answer.json()


CHANGES = {
    "password": "u = User.search({'email': 'bob@hbtn.io'})[0]\n"
                "u.password = 'An0ther!'\nu.save()\n",
    "deletion": "User.search({'email': 'bob@hbtn.io'})[0].remove()\n",
    "log out everywhere": "User.search({'email': 'bob@hbtn.io'})[0]"
                          ".revoke_sessions()\n",
}


@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize("auth_type", SESSION_TYPES)
def test_a_change_in_another_process_ends_the_sessions(auth_type, change,
                                                       workdir):
    create_user(*BOB)
    create_user("ann@hbtn.io", "Ann-pwd!")
    with api_server(workdir, AUTH_TYPE=auth_type,
                    SESSION_DURATION="600") as server:
        jars = [session_on(server), session_on(server)]
        answer = requests.post(server.url + "/api/v1/auth_session/login",
                               data={"email": "ann@hbtn.io",
                                     "password": "Ann-pwd!"})
        ann = {"_my_session_id": answer.cookies["_my_session_id"]}
        assert [me(server, jar)[0] for jar in jars] == [200, 200]
        script(CHANGES[change], workdir)
        for jar in jars:
            assert me(server, jar) == (403, FORBIDDEN)
        assert me(server, ann)[0] == 200            # others keep theirs
        if change == "log out everywhere":
            assert me(server, session_on(server))[0] == 200
        assert "auth event=session" in server.output()


def test_the_new_password_logs_in_after_a_change_elsewhere(workdir):
    create_user(*BOB)
    with api_server(workdir, AUTH_TYPE="session_auth") as server:
        jar = session_on(server)
        script(CHANGES["password"], workdir)
        assert me(server, jar) == (403, FORBIDDEN)
        answer = requests.post(server.url + "/api/v1/auth_session/login",
                               data={"email": BOB[0], "password": "An0ther!"})
        assert answer.status_code == 200


def test_the_admin_command_ends_sessions_of_a_running_server(workdir):
    create_user(*BOB)
    with api_server(workdir, AUTH_TYPE="session_exp_auth") as server:
        jar = session_on(server)
        result = subprocess.run(
            [str(REPO / ".venv" / "bin" / "flask"), "--app", "api.v1.app",
             "revoke-sessions", BOB[0]], cwd=workdir,
            env=server_env({"AUTH_TYPE": "session_exp_auth"}),
            capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert me(server, jar) == (403, FORBIDDEN)


@pytest.mark.parametrize("auth_type", SESSION_TYPES)
def test_a_rehash_at_login_ends_no_session(make_app, auth_type):
    bob = create_user()
    app = make_app(auth_type)
    opened = session_id_of(login(app.test_client()))     # before the rehash
    bob._password = hashlib.sha256(b"legacy").hexdigest()
    bob.save()
    client = app.test_client()
    client.set_cookie("_my_session_id", opened)
    assert client.get(ME).status_code == 200             # same epoch
    second = session_id_of(login(app.test_client(), password="legacy"))
    assert User.get(bob.id).password.startswith("$argon2id$")
    for session_id in (opened, second):
        client.set_cookie("_my_session_id", session_id)
        assert client.get(ME).status_code == 200


@pytest.mark.parametrize("auth_type", SESSION_TYPES)
def test_a_login_racing_a_password_change_keeps_no_session(
        make_app, auth_type, workdir, monkeypatch):
    bob = create_user()
    app = make_app(auth_type)
    real_check = User.is_valid_password

    def check_then_changed_elsewhere(user, password):
        ok = real_check(user, password)      # the old password matched...
        script(CHANGES["password"], workdir)  # ...as another process
        return ok                             # changed it meanwhile
    monkeypatch.setattr(User, "is_valid_password",
                        check_then_changed_elsewhere)
    answer = login(app.test_client())
    monkeypatch.setattr(User, "is_valid_password", real_check)
    assert answer.status_code == 200
    client = app.test_client()
    client.set_cookie("_my_session_id", session_id_of(answer))
    response = client.get(ME)
    assert (response.status_code, response.get_json()) == (403, FORBIDDEN)
    assert User.get(bob.id).is_valid_password("An0ther!")
