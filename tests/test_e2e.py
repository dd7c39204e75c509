"""End-to-end: the real server (`python3 -m api.v1.app`) over real HTTP."""
import json
import time

import pytest
import requests

from conftest import api_server, run_script

BOB = ("bob@hbtn.io", "H0lbertonSchool98!")


def make_bob(workdir):
    result = run_script("main_0.py", workdir)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[2]


def session_login(url, email, password):
    return requests.post(url + "/api/v1/auth_session/login",
                         data={"email": email, "password": password},
                         timeout=10)


def test_basic_auth_curl_flow(workdir):
    user_id = make_bob(workdir)
    token = "Ym9iQGhidG4uaW86SDBsYmVydG9uU2Nob29sOTgh"
    with api_server(workdir, AUTH_TYPE="basic_auth") as server:
        url = server.url + "/api/v1"
        assert requests.get(url + "/status").json() == {"status": "OK"}
        assert requests.get(url + "/users").json() == \
            {"error": "Unauthorized"}
        for header in ("Test", "Basic test"):
            response = requests.get(url + "/users",
                                    headers={"Authorization": header})
            assert response.status_code == 403
        auth = {"Authorization": "Basic " + token}
        users = requests.get(url + "/users", headers=auth).json()
        assert [u["id"] for u in users] == [user_id]
        me = requests.get(url + "/users/me", headers=auth).json()
        assert me["email"] == BOB[0]


def test_session_flow_login_me_logout(workdir):
    make_bob(workdir)
    for auth_type in ("session_auth", "session_exp_auth", "session_db_auth"):
        env = {"AUTH_TYPE": auth_type, "SESSION_NAME": "_my_session_id",
               "SESSION_DURATION": "60"}
        with api_server(workdir, **env) as server:
            url = server.url + "/api/v1"
            assert requests.get(url + "/auth_session/login").status_code \
                == 405
            assert session_login(server.url, BOB[0], "test").json() == \
                {"error": "wrong password"}
            response = session_login(server.url, *BOB)
            assert response.status_code == 200
            assert response.json()["email"] == BOB[0]
            cookie = response.cookies["_my_session_id"]
            jar = {"_my_session_id": cookie}
            me = requests.get(url + "/users/me", cookies=jar)
            assert me.json() == response.json()
            response = requests.delete(url + "/auth_session/logout",
                                       cookies=jar)
            assert (response.status_code, response.json()) == (200, {})
            me = requests.get(url + "/users/me", cookies=jar)
            assert (me.status_code, me.json()) == (403,
                                                   {"error": "Forbidden"})
            assert requests.delete(url + "/auth_session/logout").status_code \
                == 401


def test_expiry_over_http(workdir):
    make_bob(workdir)
    for auth_type in ("session_exp_auth", "session_db_auth"):
        env = {"AUTH_TYPE": auth_type, "SESSION_DURATION": "1"}
        with api_server(workdir, **env) as server:
            response = session_login(server.url, *BOB)
            jar = {"_my_session_id": response.cookies["_my_session_id"]}
            me = server.url + "/api/v1/users/me"
            started = time.monotonic()
            assert requests.get(me, cookies=jar).status_code == 200
            while requests.get(me, cookies=jar).status_code == 200:
                assert time.monotonic() - started < 5, "never expired"
                time.sleep(0.1)
            answer = requests.get(me, cookies=jar)
            assert (answer.status_code, answer.json()) == (
                403, {"error": "Forbidden"})


def test_db_sessions_survive_a_restart(workdir):
    make_bob(workdir)
    env = {"AUTH_TYPE": "session_db_auth", "SESSION_DURATION": "60"}
    with api_server(workdir, **env) as server:
        jar = session_login(server.url, *BOB).cookies
    stored = json.loads((workdir / ".db_UserSession.json").read_text())
    assert [s["session_id"] for s in stored.values()] == \
        [jar["_my_session_id"]]
    with api_server(workdir, **env) as server:
        me = requests.get(server.url + "/api/v1/users/me", cookies=jar)
        assert me.status_code == 200 and me.json()["email"] == BOB[0]


@pytest.mark.parametrize("name, env", [
    (".db_User.json", {}),
    (".db_UserSession.json", {"AUTH_TYPE": "session_db_auth"})])
@pytest.mark.parametrize("content", ["{broken", "[1, 2]", "\x00\xff"])
def test_corrupt_store_stops_start_up_with_one_line(workdir, name, env,
                                                    content):
    make_bob(workdir)
    (workdir / name).write_text(content)
    result = run_script("api/v1/app.py", workdir, env, timeout=30)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and name in lines[0]
    assert (workdir / name).read_text() == content


def test_an_unreadable_session_store_stops_start_up(workdir):
    make_bob(workdir)
    (workdir / ".db_UserSession.json").mkdir()       # cannot be read
    result = run_script("api/v1/app.py", workdir,
                        {"AUTH_TYPE": "session_db_auth"}, timeout=30)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and ".db_UserSession.json" in lines[0]
    assert (workdir / ".db_UserSession.json").is_dir()
