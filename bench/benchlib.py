"""Shared helpers of the HTTP benchmarks: servers, HTTP, Redis, databases.

Not a script: `bench/http_bench.py` and `bench/bench_scale.py` import it.
Only the standard library is used here, so the helpers also work from a
Python that does not have the project's packages.

Every server is started by this process under gunicorn, bound to
127.0.0.1 on a free port, and stopped by its PID (`Server.stop`).
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from typing import (BinaryIO, Dict, List, Mapping, Optional, Sequence,
                    Tuple)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
HOST = "127.0.0.1"
REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/{}"
SESSION_NAME = "_my_session_id"

# Variables of the Session API (and of gunicorn) that must not leak from
# the caller's environment into a measured server.
APP_VARIABLES = (
    "AUTH_TYPE", "SESSION_NAME", "SESSION_DURATION", "SESSION_IDLE_TIMEOUT",
    "SESSION_COOKIE_SECURE", "MAX_CONTENT_LENGTH", "API_HOST", "API_PORT",
    "RATELIMIT_STORAGE_URI", "LOGIN_LIMIT_PER_ACCOUNT",
    "LOGIN_LIMIT_PER_ADDRESS", "DATABASE_URL", "SESSION_STORE_URL",
    "GUNICORN_CMD_ARGS", "FLASK_APP", "PYTHONPATH",
)


class BenchError(Exception):
    """A step of the benchmark failed; the message says which and why."""


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def clean_env(extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """Return `os.environ` without the app's variables, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in APP_VARIABLES}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


def project_env(extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """Return a clean environment that imports the project from `REPO`."""
    env = clean_env(extra)
    env["PYTHONPATH"] = REPO
    return env


def venv_tool(name: str) -> str:
    """Return the path of `name` in the project's `.venv/bin`, or raise."""
    path = os.path.join(VENV_BIN, name)
    if not os.access(path, os.X_OK):
        raise BenchError(
            "{} not found: install the project's requirements into "
            "{}/.venv (bin/test does it; gunicorn must be in "
            "requirements.txt)".format(path, REPO))
    return path


def http_request(url: str, method: str = "GET",
                 headers: Optional[Mapping[str, str]] = None,
                 form: Optional[Mapping[str, str]] = None,
                 json_body: Optional[object] = None,
                 timeout: float = 10.0) -> Tuple[int, Dict[str, str],
                                                 bytes]:
    """Send one request; return (status, lower-case headers, body).

    `form` sends an urlencoded body and `json_body` a JSON one. Answers of
    any status are returned; only a network failure raises `OSError`.
    Several `Set-Cookie` headers are joined with a newline.
    """
    parts = urllib.parse.urlsplit(url)
    headers = dict(headers or {})
    body = None
    if form is not None:
        body = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    elif json_body is not None:
        body = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(parts.hostname, parts.port,
                                      timeout=timeout)
    try:
        path = parts.path + ("?" + parts.query if parts.query else "")
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        answer = {}
        for name, value in response.getheaders():
            name = name.lower()
            answer[name] = (answer[name] + "\n" + value
                            if name in answer else value)
        return response.status, answer, response.read()
    finally:
        conn.close()


def cookie_from(headers: Mapping[str, str], name: str) -> Optional[str]:
    """Return the value `Set-Cookie` gives to cookie `name`, or None."""
    for line in headers.get("set-cookie", "").split("\n"):
        match = re.match(r"\s*{}=([^;]*)".format(re.escape(name)), line)
        if match and match.group(1):
            return match.group(1)
    return None


def login(base_url: str, email: str, password: str,
          cookie_name: str = SESSION_NAME) -> str:
    """Log in with the form of the contract; return the session cookie.

    Raises `BenchError` when the answer is not 200 with the cookie.
    """
    status, headers, body = http_request(
        base_url + "/api/v1/auth_session/login", "POST",
        form={"email": email, "password": password})
    cookie = cookie_from(headers, cookie_name)
    if status != 200 or cookie is None:
        raise BenchError("login as {} answered {} {}".format(
            email, status, body[:200].decode(errors="replace")))
    return cookie


def children_of(pid: int) -> List[int]:
    """Return the PIDs whose parent is `pid` (read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/{}/stat".format(entry)) as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def rss_kib(pid: int) -> Optional[int]:
    """Return VmRSS of process `pid` in KiB, or None if unreadable."""
    try:
        with open("/proc/{}/status".format(pid)) as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class Server:
    """One gunicorn master (1 sync worker) started and stopped by us.

    `argv` is the command without the bind address; the port is chosen
    here. Output goes to `log_path`.
    """

    def __init__(self, name: str, argv: Sequence[str], cwd: str,
                 env: Mapping[str, str], log_path: str) -> None:
        """Describe the server; nothing starts before `start`."""
        self.name = name
        self.port = free_port()
        self.argv = list(argv) + ["-b", "{}:{}".format(HOST, self.port)]
        self.cwd = cwd
        self.env = dict(env)
        self.log_path = log_path
        self.process: Optional[subprocess.Popen] = None
        self.startup_seconds: Optional[float] = None

    @property
    def base_url(self) -> str:
        """Return `http://127.0.0.1:PORT`."""
        return "http://{}:{}".format(HOST, self.port)

    def start(self, timeout: float = 60.0) -> float:
        """Start gunicorn; return the seconds until /api/v1/status is 200.

        Raises `BenchError` (with the end of the log) when the server
        exits or does not answer within `timeout` seconds; it is then
        stopped.
        """
        log = open(self.log_path, "ab")
        started = time.perf_counter()
        try:
            self.process = subprocess.Popen(
                self.argv, cwd=self.cwd, env=self.env, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        url = self.base_url + "/api/v1/status"
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise BenchError("{} exited with {}:\n{}".format(
                    self.name, self.process.returncode, self.log_tail()))
            try:
                status, _, _ = http_request(url, timeout=2.0)
                if status == 200:
                    self.startup_seconds = time.perf_counter() - started
                    return self.startup_seconds
            except OSError:
                pass
            time.sleep(0.01)
        self.stop()
        raise BenchError("{} did not answer {} within {} s:\n{}".format(
            self.name, url, timeout, self.log_tail()))

    def worker_pid(self) -> Optional[int]:
        """Return the PID of the gunicorn worker (the master's child)."""
        if self.process is None or self.process.poll() is not None:
            return None
        children = children_of(self.process.pid)
        return children[0] if children else None

    def stop(self) -> None:
        """Stop the master by its PID (TERM, then KILL), then its workers."""
        if self.process is None:
            return
        workers = children_of(self.process.pid) \
            if self.process.poll() is None else []
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        deadline = time.monotonic() + 5
        for pid in workers:
            while os.path.exists("/proc/{}".format(pid)) \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            if os.path.exists("/proc/{}".format(pid)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def log_tail(self, lines: int = 15) -> str:
        """Return the last `lines` lines of the server's output."""
        try:
            with open(self.log_path, errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""


def gunicorn_argv(gunicorn: str, app: str,
                  extra: Sequence[str] = ()) -> List[str]:
    """Return the gunicorn command for `app` with one sync worker."""
    return [gunicorn, "-w", "1", "-k", "sync", "--no-control-socket",
            *extra, app]


def session_api_server(name: str, workdir: str,
                       env: Mapping[str, str]) -> Server:
    """Return (not started) the Session API under gunicorn in `workdir`.

    The JSON stores live in `workdir`, the server's working directory;
    the project is imported from `REPO`.
    """
    argv = gunicorn_argv(venv_tool("gunicorn"), "api.v1.app:app",
                         ["--pythonpath", REPO])
    return Server(name, argv, workdir, project_env(env),
                  os.path.join(workdir, "server.log"))


def run_project_python(code: str, cwd: str,
                       env: Optional[Mapping[str, str]] = None,
                       stdin: Optional[str] = None) -> str:
    """Run `code` with the project venv's Python in `cwd`; return stdout.

    Raises `BenchError` with its stderr when it fails.
    """
    result = subprocess.run([venv_tool("python"), "-c", code], cwd=cwd,
                            env=project_env(env), input=stdin,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise BenchError("seeding in {} failed:\n{}".format(
            cwd, result.stderr[-2000:]))
    return result.stdout


def import_json(workdir: str, database_url: str) -> Tuple[bool, str]:
    """Run `flask --app api.v1.app import-json` in `workdir`.

    Returns (True, output) on success, (False, reason) otherwise; the
    reason is `import-json not available` when the command does not exist.
    """
    result = subprocess.run(
        [venv_tool("flask"), "--app", "api.v1.app", "import-json"],
        cwd=workdir, env=project_env({"DATABASE_URL": database_url}),
        capture_output=True, text=True, stdin=subprocess.DEVNULL)
    output = (result.stdout + result.stderr).strip()
    if result.returncode == 0:
        return True, output
    if "No such command" in output:
        return False, "import-json not available"
    last = output.splitlines()[-1] if output else "no output"
    return False, "import-json failed ({}): {}".format(result.returncode,
                                                       last)


def redis_command(db: int, *args: str) -> object:
    """Send one command to Redis database `db`; return the decoded reply.

    A minimal RESP client (SELECT, then the command), enough for FLUSHDB
    and DBSIZE. Raises `BenchError` on an error reply, `OSError` when
    Redis cannot be reached.
    """
    def encode(words: Sequence[str]) -> bytes:
        """Encode a command as a RESP array of bulk strings."""
        out = ["*{}\r\n".format(len(words))]
        for word in words:
            out.append("${}\r\n{}\r\n".format(len(word.encode()), word))
        return "".join(out).encode()

    def reply(stream: BinaryIO) -> object:
        """Read one reply (simple, error, integer or bulk string)."""
        line = stream.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:].decode()
        if kind == b"-":
            raise BenchError("redis: " + rest)
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else stream.read(size + 2)[:-2]
        return rest

    with socket.create_connection((REDIS_HOST, REDIS_PORT), 5) as sock:
        stream = sock.makefile("rb")
        sock.sendall(encode(["SELECT", str(db)]) + encode(list(args)))
        reply(stream)
        return reply(stream)


def postgres_database(action: str, name: str) -> None:
    """Create (`action` "create") or drop ("drop") PostgreSQL database.

    Uses `psql` as user postgres on 127.0.0.1:5432; a create first drops
    a leftover of the same name. Raises `BenchError` when psql is missing
    or fails.
    """
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise BenchError("bad database name {!r}".format(name))
    psql = shutil.which("psql")
    if psql is None:
        raise BenchError("psql not found (apt-get install postgresql-client)")
    statements = ["DROP DATABASE IF EXISTS {} WITH (FORCE)".format(name)]
    if action == "create":
        statements.append("CREATE DATABASE {}".format(name))
    for sql in statements:
        result = subprocess.run(
            [psql, "-h", "127.0.0.1", "-p", "5432", "-U", "postgres",
             "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-qc", sql],
            capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise BenchError("psql: {}: {}".format(sql,
                                                   result.stderr.strip()))


def git_revision() -> str:
    """Return the short commit of `REPO`, with `+dirty` if it has changes."""
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short",
                              "HEAD"], capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True).stdout
        return rev + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_line() -> str:
    """Return `nproc N, Python X.Y.Z, <kernel>` for report headers."""
    return "nproc {}, Python {}, {} {}".format(
        os.cpu_count(), sys.version.split()[0], os.uname().sysname,
        os.uname().release)


def write_markdown(path: Optional[str], text: str) -> None:
    """Write `text` to `path` when a path is given."""
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
