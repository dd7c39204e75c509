"""The API behind gunicorn (`gunicorn.conf.py`), with several workers.

gunicorn runs from the test's working folder, not from the repository,
and without PYTHONPATH (the venv's `session_api.pth`, written by
bin/ensure-venv, still puts the repository on the import path; one test
starts gunicorn without it).
Its access log (stdout) and error log (stderr) go to files; the tests
read the access log, whose format they set with `--access-logformat`
where they need to know which worker (`%(p)s`) served which request.
Redis, where used, is the machine's, on the tests' db (`redis_url`).
"""
import json
import os
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import pytest
import requests

from conftest import REPO, create_user, free_port, server_env

GUNICORN = REPO / ".venv" / "bin" / "gunicorn"
CONFIG = REPO / "gunicorn.conf.py"
EMAIL, PASSWORD = "bob@hbtn.io", "H0lberton!"
COOKIE = "_my_session_id"
FORBIDDEN = (403, {"error": "Forbidden"})
PID_LOG_FORMAT = '%(p)s "%(r)s" %(s)s'
"""Access log line: worker pid, request line, status."""
WITHOUT_REPO_ON_PATH = (
    "import os, sys\n"
    "sys.path[:] = [p for p in sys.path if not os.path.isfile(\n"
    "    os.path.join(p or '.', 'api', 'v1', 'app.py'))]\n"
    "sys.argv[0] = 'gunicorn'\n"
    "from gunicorn.app.wsgiapp import run\n"
    "run()\n")
"""gunicorn's script, started with no folder holding `api` on sys.path."""
ACCESS_LINE = re.compile(r'^<(\d+)> "(\S+) (\S+) [^"]*" (\d{3})$')


class Gunicorn:
    """A running gunicorn master: its process, URL and log files."""

    def __init__(self, proc: subprocess.Popen, url: str, out: Path,
                 err: Path) -> None:
        self.proc = proc
        self.url = url
        self.out = out
        self.err = err

    def stdout(self) -> str:
        return self.out.read_text()

    def stderr(self) -> str:
        return self.err.read_text()

    def workers(self) -> List[int]:
        """Return the pids of the master's children (its workers)."""
        pids = []
        for task in Path("/proc/{}/task".format(self.proc.pid)).iterdir():
            try:
                pids += [int(p) for p in
                         (task / "children").read_text().split()]
            except FileNotFoundError:
                continue
        return sorted(pids)

    def access(self, path: str) -> List[Tuple[int, str, int]]:
        """Return (worker pid, method, status) of each logged `path` hit.

        Needs the server started with `PID_LOG_FORMAT`.
        """
        hits = []
        for line in self.stdout().splitlines():
            match = ACCESS_LINE.match(line)
            if match and match.group(3) == path:
                hits.append((int(match.group(1)), match.group(2),
                             int(match.group(4))))
        return hits


def wait_for(condition: Callable[[], bool], timeout: float = 10,
             what: str = "condition") -> None:
    """Poll `condition` until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


@contextmanager
def gunicorn(cwd: Path, workers: int, env: Optional[dict] = None,
             extra: Sequence[str] = (), timeout: float = 60,
             launcher: Sequence[str] = (str(GUNICORN),)
             ) -> Iterator[Gunicorn]:
    """Run gunicorn with the repository's config in `cwd`; stop it after.

    Binds 127.0.0.1 and a free port with `-b`, `-w workers`, the `extra`
    flags; yields once `/api/v1/status` answers. The master is always
    terminated by its pid and waited for (which also ends its workers).
    `launcher` is the command that starts gunicorn (its script).
    """
    port = free_port()
    child_env = server_env(env)
    del child_env["PYTHONPATH"]
    stem = "{}-gunicorn-{}".format(cwd.name, port)
    out, err = cwd.parent / (stem + ".out"), cwd.parent / (stem + ".err")
    argv = list(launcher) + [
        "--config", str(CONFIG), "-w", str(workers),
        "-b", "127.0.0.1:{}".format(port)] + list(extra) + ["api.v1.app:app"]
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = subprocess.Popen(argv, cwd=cwd, env=child_env,
                                stdout=stdout, stderr=stderr)
    server = Gunicorn(proc, "http://127.0.0.1:{}".format(port), out, err)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise AssertionError("gunicorn exited ({}): {}".format(
                    proc.returncode, server.stderr()))
            try:
                if requests.get(server.url + "/api/v1/status",
                                timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("gunicorn did not answer: "
                                     + server.stderr())
            time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def log_in(url: str, email: str = EMAIL,
           password: str = PASSWORD) -> requests.Response:
    return requests.post(url + "/api/v1/auth_session/login",
                         data={"email": email, "password": password},
                         timeout=10)


def get_me(url: str, cookie: str) -> Tuple[int, object]:
    """One `GET /api/v1/users/me` on a new connection: (status, body)."""
    response = requests.get(url + "/api/v1/users/me",
                            cookies={COOKIE: cookie}, timeout=10)
    return response.status_code, response.json()


def hammer(url: str, cookie: str, count: int,
           threads: int = 4) -> List[Tuple[int, object]]:
    """Send `count` `/users/me` requests from `threads` threads."""
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda _: get_me(url, cookie), range(count)))


def redis_of(request) -> str:
    """Return the URL of the tests' Redis db (see `redis_url`)."""
    return request.getfixturevalue("redis_url")


def session_env(auth_type: str, store: str, request) -> dict:
    """Return the environment of `auth_type` over `store` (file/redis)."""
    env = {"AUTH_TYPE": auth_type, "SESSION_DURATION": "3600"}
    if store == "redis":
        env["SESSION_STORE_URL"] = redis_of(request)
    return env


def store_files(folder: Path) -> List[str]:
    """Return the `.db_*` files under `folder` (not in .venv nor .git)."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in (".venv", ".git")]
        found += [os.path.relpath(os.path.join(root, name), folder)
                  for name in files if name.startswith(".db_")]
    return sorted(found)


def warnings_of(text: str) -> List[str]:
    return [line for line in text.splitlines() if "[WARNING]" in line]


@pytest.mark.parametrize("auth_type,store", [
    ("session_auth", "redis"),
    ("session_exp_auth", "redis"),
    ("session_db_auth", "file"),
    ("session_db_auth", "redis"),
])
def test_one_login_serves_1000_requests_on_4_workers(workdir, request,
                                                     auth_type, store):
    user = create_user(EMAIL, PASSWORD)
    env = session_env(auth_type, store, request)
    with gunicorn(workdir, 4, env,
                  ["--access-logformat", PID_LOG_FORMAT]) as server:
        response = log_in(server.url)
        assert response.status_code == 200, response.text
        cookie = response.cookies[COOKIE]
        results = hammer(server.url, cookie, 1000)
        failures = [r for r in results if r != (200, user.to_json())]
        assert failures == [], failures[:5]
        wait_for(lambda: len(server.access("/api/v1/users/me")) == 1000,
                 what="1000 access log lines")
        [(login_pid, _, _)] = server.access("/api/v1/auth_session/login")
        served_by = {pid for pid, _, _ in server.access("/api/v1/users/me")}
        assert served_by - {login_pid}, \
            "every request went to the worker that logged in"
        assert served_by <= set(server.workers())


def test_memory_sessions_stay_in_the_worker_that_logged_in(workdir):
    """Why the fix is needed: the load test above can fail."""
    create_user(EMAIL, PASSWORD)
    with gunicorn(workdir, 4, {"AUTH_TYPE": "session_auth"},
                  ["--access-logformat", PID_LOG_FORMAT]) as server:
        response = log_in(server.url)
        assert response.status_code == 200, response.text
        results = hammer(server.url, response.cookies[COOKIE], 200)
        wait_for(lambda: len(server.access("/api/v1/users/me")) == 200,
                 what="200 access log lines")
        [(login_pid, _, _)] = server.access("/api/v1/auth_session/login")
        hits = server.access("/api/v1/users/me")
        elsewhere = [status for pid, _, status in hits if pid != login_pid]
        assert elsewhere and set(elsewhere) == {403}
        assert [status for pid, _, status in hits if pid == login_pid] \
            == [200] * (len(hits) - len(elsewhere))
        assert sorted(status for status, _ in results) == \
            sorted(status for _, _, status in hits)
        assert set(body["error"] for status, body in results
                   if status != 200) == {"Forbidden"}


def test_runs_from_another_folder_logs_and_stays_in_foreground(workdir):
    repo_files = store_files(REPO)
    user = create_user(EMAIL, PASSWORD)
    with gunicorn(workdir, 2, {"AUTH_TYPE": "session_db_auth"}) as server:
        response = log_in(server.url)
        assert response.status_code == 200, response.text
        cookie = response.cookies[COOKIE]
        assert (workdir / ".db_UserSession.json").is_file()
        created = requests.post(
            server.url + "/api/v1/users", cookies={COOKIE: cookie},
            json={"email": "alice@hbtn.io", "password": "pwd"}, timeout=10)
        assert created.status_code == 201, created.text
        stored = json.loads((workdir / ".db_User.json").read_text())
        assert {u["email"] for u in stored.values()} == \
            {EMAIL, "alice@hbtn.io"}
        assert get_me(server.url, cookie) == (200, user.to_json())

        assert server.proc.poll() is None
        workers = server.workers()
        assert len(workers) == 2
        listening = re.search(r"Listening at: http://127\.0\.0\.1:\d+ "
                              r"\((\d+)\)", server.stderr())
        assert listening and int(listening.group(1)) == server.proc.pid
        wait_for(lambda: '"GET /api/v1/users/me HTTP/1.1" 200'
                 in server.stdout(), what="the access log line")
        wait_for(lambda: "auth event=login_succeeded user={}".format(user.id)
                 in server.stderr(), what="the login event line")
        assert "GET /api/v1/users/me" not in server.stderr()
        assert "auth event=" not in server.stdout()
    assert {".db_User.json", ".db_UserSession.json"} <= set(
        store_files(workdir))
    assert store_files(REPO) == repo_files


def test_config_finds_the_package_without_the_venv_path_file(workdir):
    """`gunicorn --config <repo>/gunicorn.conf.py` from another folder,
    with gunicorn installed by `pip install -r requirements.txt` (no
    `session_api.pth` of bin/ensure-venv): no folder on the import path
    holds the package, so the config's `pythonpath` must be enough."""
    user = create_user(EMAIL, PASSWORD)
    with gunicorn(workdir, 1, {"AUTH_TYPE": "session_db_auth"},
                  launcher=[str(REPO / ".venv" / "bin" / "python"), "-c",
                            WITHOUT_REPO_ON_PATH]) as server:
        response = log_in(server.url)
        assert (response.status_code, response.json()) == \
            (200, user.to_json())
        assert get_me(server.url, response.cookies[COOKIE]) == \
            (200, user.to_json())
    assert (workdir / ".db_UserSession.json").is_file()


@pytest.mark.parametrize("workers,store,warned", [
    (2, None, True),
    (1, None, False),
    (2, "redis", False),
])
def test_one_start_warning_for_per_worker_memory(workdir, request, workers,
                                                 store, warned):
    env = {"AUTH_TYPE": "session_auth"}
    if store == "redis":
        env["SESSION_STORE_URL"] = redis_of(request)
    with gunicorn(workdir, workers, env) as server:
        wait_for(lambda: server.stderr().count("Booting worker") == workers,
                 what="the workers to boot")
        warnings = warnings_of(server.stderr())
    if not warned:
        assert warnings == []
        return
    assert len(warnings) == 1
    assert "SESSION_STORE_URL" in warnings[0]
    lines = server.stderr().splitlines()
    assert lines.index(warnings[0]) < next(
        i for i, line in enumerate(lines) if "Listening at:" in line)


def test_command_line_flags_override_the_config(workdir):
    with gunicorn(workdir, 2, {"AUTH_TYPE": "session_db_auth"}) as server:
        port = server.url.rsplit(":", 1)[1]
        assert re.findall(r"Listening at: (\S+) ", server.stderr()) == \
            ["http://127.0.0.1:{}".format(port)]
        wait_for(lambda: server.stderr().count("Booting worker") == 2,
                 what="2 workers to boot")
        wait_for(lambda: len(server.workers()) == 2, what="2 children")
        workers = server.workers()
        assert len(workers) == 2
        assert sorted(int(pid) for pid in re.findall(
            r"Booting worker with pid: (\d+)", server.stderr())) == workers


@pytest.mark.parametrize("store", ["file", "redis"])
def test_logout_on_one_worker_ends_the_session_on_all(workdir, request,
                                                      store):
    user = create_user(EMAIL, PASSWORD)
    env = session_env("session_db_auth", store, request)
    with gunicorn(workdir, 4, env,
                  ["--access-logformat", PID_LOG_FORMAT]) as server:
        response = log_in(server.url)
        assert response.status_code == 200, response.text
        cookie = response.cookies[COOKIE]
        assert hammer(server.url, cookie, 50) == [(200, user.to_json())] * 50
        response = requests.delete(server.url + "/api/v1/auth_session/logout",
                                   cookies={COOKIE: cookie}, timeout=10)
        assert (response.status_code, response.json()) == (200, {})
        after = hammer(server.url, cookie, 50)
        assert after == [FORBIDDEN] * 50
        wait_for(lambda: len(server.access("/api/v1/users/me")) == 100,
                 what="the access log lines")
        [(logout_pid, _, _)] = server.access("/api/v1/auth_session/logout")
        refused_by = {pid for pid, _, status
                      in server.access("/api/v1/users/me") if status == 403}
        assert refused_by - {logout_pid}, "no other worker was asked"
