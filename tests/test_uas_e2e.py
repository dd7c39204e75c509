"""The user authentication service as a real server process."""
import sqlite3
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import bcrypt
import requests

from conftest import REPO, live_server, server_env
from uas import SERVICE


def start(workdir):
    return live_server([str(SERVICE / "app.py")], workdir, probe="/")


def test_main_py_is_silent_and_passes(workdir):
    with start(workdir) as server:
        port = server.url.rsplit(":", 1)[1]
        result = subprocess.run(
            [sys.executable, str(SERVICE / "main.py")], cwd=workdir,
            env=server_env({"API_HOST": "127.0.0.1", "API_PORT": port}),
            capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert (workdir / "a.db").stat().st_mode & 0o777 == 0o600


# Runs app.py as `python3 app.py` would from its folder, after taking the
# repository root (which the venv's session_api.pth adds) off sys.path.
RUN_ALONE = """
import importlib.util, os, runpy, sys
repo, app = sys.argv[1], sys.argv[2]
sys.path[:] = [os.path.dirname(app)] + [
    p for p in sys.path if p not in ("", repo)]
assert importlib.util.find_spec("api") is None, sys.path
sys.argv = [app]
runpy.run_path(app, run_name="__main__")
"""


def test_runs_without_the_repository_on_the_path(workdir):
    env = {"PYTHONPATH": "", "ACCOUNT_POLICY": "strict",
           "RATELIMIT_STORAGE_URI": "memory://"}
    argv = ["-c", RUN_ALONE, str(REPO), str(SERVICE / "app.py")]
    with live_server(argv, workdir, env, probe="/") as server:
        port = server.url.rsplit(":", 1)[1]
        result = subprocess.run(
            [sys.executable, str(SERVICE / "main.py")], cwd=workdir,
            env=server_env({"API_HOST": "127.0.0.1", "API_PORT": port}),
            capture_output=True, text=True, timeout=120)
        assert requests.post(server.url + "/sessions", data={
            "email": "a@b.c", "password": "x"},
            headers={"Origin": "https://evil.example"}).status_code == 403
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert "Traceback" not in server.output()


def test_concurrent_logins_and_profile_reads(workdir):
    with start(workdir) as server:
        url = server.url
        # 10: the registrations a minute one address may make.
        users = ["user{}@me.com".format(i) for i in range(10)]
        for email in users:
            assert requests.post(url + "/users", data={
                "email": email, "password": "pwd"}).status_code == 200

        def session(email):
            statuses = []
            for _ in range(4):
                response = requests.post(url + "/sessions", data={
                    "email": email, "password": "pwd"})
                statuses.append(response.status_code)
                cookie = {"session_id": response.cookies.get("session_id")}
                for _ in range(5):
                    profile = requests.get(url + "/profile", cookies=cookie)
                    statuses.append(profile.status_code)
                    if profile.status_code == 200:
                        assert profile.json() == {"email": email}
                statuses.append(requests.get(
                    url + "/profile",
                    cookies={"session_id": "nope"}).status_code)
            return statuses

        with ThreadPoolExecutor(max_workers=10) as pool:
            results = list(pool.map(session, users))
    statuses = [code for result in results for code in result]
    assert len(statuses) == 10 * 4 * 7
    assert 500 not in statuses
    assert statuses.count(403) == 10 * 4          # only the "nope" cookies
    assert statuses.count(200) == 10 * 4 * 6
    assert "Traceback" not in server.output()


def stored_hash(workdir, email):
    """Read a user's bcrypt hash straight from the server's `a.db`."""
    with sqlite3.connect(str(workdir / "a.db")) as connection:
        (hashed,) = connection.execute(
            "SELECT hashed_password FROM users WHERE email = ?",
            (email,)).fetchone()
    return hashed if isinstance(hashed, bytes) else hashed.encode()


def test_reset_token_is_single_use_under_concurrency(workdir):
    email = "bob@me.com"
    passwords = ["n3w-{}".format(i) for i in range(10)]
    with start(workdir) as server:
        url = server.url
        assert requests.post(url + "/users", data={
            "email": email, "password": "old"}).status_code == 200
        token = requests.post(url + "/reset_password", data={
            "email": email}).json()["reset_token"]
        go = threading.Barrier(len(passwords))

        def reset(password):
            go.wait()
            return requests.put(url + "/reset_password", data={
                "email": email, "reset_token": token,
                "new_password": password}, timeout=30)

        with ThreadPoolExecutor(max_workers=len(passwords)) as pool:
            responses = list(pool.map(reset, passwords))
        statuses = [r.status_code for r in responses]
        assert sorted(statuses) == [200] + [403] * 9, statuses
        winner = passwords[statuses.index(200)]
        assert responses[statuses.index(200)].json() == {
            "email": email, "message": "Password updated"}
        hashed = stored_hash(workdir, email)
        assert [p for p in passwords + ["old"]
                if bcrypt.checkpw(p.encode(), hashed)] == [winner]
        assert requests.post(url + "/sessions", data={
            "email": email, "password": winner}).status_code == 200
        for loser in [p for p in passwords if p != winner][:3] + ["old"]:
            assert requests.post(url + "/sessions", data={
                "email": email, "password": loser}).status_code == 401
    assert "Traceback" not in server.output()


def test_parallel_login_guesses_are_throttled(workdir):
    with start(workdir) as server:
        url = server.url
        assert requests.post(url + "/users", data={
            "email": "bob@me.com", "password": "right"}).status_code == 200
        go = threading.Barrier(20)

        def guess(i):
            go.wait()
            return requests.post(url + "/sessions", data={
                "email": "bob@me.com", "password": "guess{}".format(i)},
                timeout=30)

        with ThreadPoolExecutor(max_workers=20) as pool:
            responses = list(pool.map(guess, range(20)))
        statuses = [r.status_code for r in responses]
        # A 401 is one bcrypt check; 429 is answered before any check.
        assert statuses.count(401) <= 5, statuses
        assert statuses.count(429) >= 15, statuses
        assert statuses.count(401) + statuses.count(429) == 20
        for response in responses:
            if response.status_code == 429:
                assert response.json() == {"message": "too many requests"}
                assert int(response.headers["Retry-After"]) >= 1
        assert requests.post(url + "/sessions", data={
            "email": "bob@me.com", "password": "right"}).status_code == 429
    assert "Traceback" not in server.output()
