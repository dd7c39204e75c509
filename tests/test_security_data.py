"""Data safety and bad input: concurrent processes, limits, errors."""
import json
import logging
import subprocess
import sys

import requests

from models.user import User
from conftest import api_server, run_script, server_env

WRITER = """
import sys
from models.user import User
tag, count = sys.argv[1], int(sys.argv[2])
for i in range(count):
    user = User(email="{}-{}@x.io".format(tag, i))
    user.save()
    user.first_name = "renamed"
    user.save()
"""


def test_no_update_is_lost_with_several_writer_processes(workdir):
    writers = [subprocess.Popen(
        [sys.executable, "-c", WRITER, "p{}".format(n), "30"], cwd=workdir,
        env=server_env(), stderr=subprocess.PIPE, text=True)
        for n in range(4)]
    for proc in writers:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    stored = json.loads((workdir / ".db_User.json").read_text())
    assert len(stored) == 4 * 30
    assert {r["first_name"] for r in stored.values()} == {"renamed"}
    assert User.count() == 120
    leftovers = [p.name for p in workdir.iterdir()
                 if p.name.endswith(".tmp")]
    assert leftovers == []


def test_running_server_sees_users_written_by_another_process(workdir):
    token = {"Authorization":
             "Basic Ym9iQGhidG4uaW86SDBsYmVydG9uU2Nob29sOTgh"}
    with api_server(workdir, AUTH_TYPE="basic_auth") as server:
        url = server.url + "/api/v1/users"
        assert requests.get(url, headers=token).status_code == 403
        assert run_script("main_0.py", workdir).returncode == 0
        response = requests.get(url, headers=token)
        assert response.status_code == 200
        assert response.json()[0]["email"] == "bob@hbtn.io"


def test_body_over_the_limit_is_413(make_app):
    client = make_app(None, max_content_length=1024).test_client()
    big = {"email": "a@b.c", "password": "x" * 2048}
    response = client.post("/api/v1/users", json=big)
    assert (response.status_code, response.get_json()) == (
        413, {"error": "Content too large"})
    session = make_app("session_auth", max_content_length=64).test_client()
    response = session.post("/api/v1/auth_session/login",
                            data={"email": "a" * 100, "password": "x"})
    assert response.status_code == 413
    assert User.count() == 0


def test_default_body_limit_is_one_mebibyte(make_app):
    client = make_app(None).test_client()
    response = client.post("/api/v1/users", data=b"x" * (1024 * 1024 + 1),
                           content_type="application/json")
    assert (response.status_code, response.get_json()) == (
        413, {"error": "Content too large"})
    response = client.post("/api/v1/users", data=b"x" * (1024 * 1024),
                           content_type="application/json")
    assert (response.status_code, response.get_json()) == (
        400, {"error": "Wrong format"})


def test_unhandled_error_is_json_500_and_logged(make_app, monkeypatch,
                                                caplog):
    app = make_app(None)

    def broken(cls):
        raise RuntimeError("boom")
    monkeypatch.setattr(User, "all", classmethod(broken))
    with caplog.at_level(logging.ERROR):
        response = app.test_client().get("/api/v1/users")
    assert (response.status_code, response.get_json()) == (
        500, {"error": "Internal server error"})
    assert b"Traceback" not in response.data and b"boom" not in response.data
    assert "boom" in caplog.text


def test_corrupt_file_while_running_is_500_and_kept(make_app, workdir):
    app = make_app(None)
    (workdir / ".db_User.json").write_text("[not, an, object")
    client = app.test_client()
    assert client.get("/api/v1/users").status_code == 500
    response = client.post("/api/v1/users",
                           json={"email": "a@b.c", "password": "x"})
    assert response.status_code == 500
    assert (workdir / ".db_User.json").read_text() == "[not, an, object"
