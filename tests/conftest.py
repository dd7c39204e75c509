"""Shared fixtures: working folder, stores, factory apps, clock, servers.

Tests that take the `database` fixture run three times: on the JSON files,
on SQLite and on PostgreSQL. PostgreSQL (127.0.0.1:5432, user postgres)
and Redis (127.0.0.1:6379, db 13) are real servers; when one cannot be
reached its tests are skipped and the summary says how to enable them.
"""
import base64
import os
import secrets
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Dict, Iterator, Optional

import pytest
import requests
from hypothesis import settings as hypothesis_settings

from api.v1.app import create_app
from api.v1.auth.session_auth import SessionAuth
from api.v1.config import AUTH_EXTENSION, Settings
from models import base, clock
from models.store import JsonFileStore
from models.user import User, credentials_changed

REPO = Path(__file__).resolve().parent.parent
SESSION_TYPES = ["session_auth", "session_exp_auth", "session_db_auth"]
ALL_TYPES = [None, "auth", "basic_auth"] + SESSION_TYPES
STORES = ["json", "sqlite", "postgresql"]
POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
HOW_TO_ENABLE = {
    "postgresql": "PostgreSQL tests skipped: no server at {} (start it: "
                  "pg_ctlcluster --skip-systemctl-redirect $(ls "
                  "/etc/postgresql) main start, or set TEST_POSTGRES_URL)",
    "redis": "Redis tests skipped: no server at {} (start it: redis-server "
             "--daemonize yes --bind 127.0.0.1 --port 6379 --save '' "
             "--appendonly no, or set TEST_REDIS_URL)",
}
_skipped_services: Dict[str, str] = {}
# The user authentication service's settings (spec §9), kept out of tests
# and their servers unless a test sets them.
UAS_SETTINGS = ("UAS_DATABASE_URL", "ACCOUNT_POLICY", "RESET_TOKEN_SECONDS",
                "UAS_SESSION_SECONDS")

# Hypothesis profiles. "default" (and its alias "ci", which Hypothesis
# loads itself on CI) tries the same 100 examples per property on every
# run, so a failure is repeatable and the suite's time is steady; "deep"
# (`pytest --hypothesis-profile=deep`, for manual runs) tries 1,000 new
# ones each time.
REPEATABLE = hypothesis_settings(max_examples=100, derandomize=True,
                                 print_blob=True)
hypothesis_settings.register_profile("default", REPEATABLE)
hypothesis_settings.register_profile("ci", REPEATABLE)
hypothesis_settings.register_profile("deep", max_examples=1000,
                                     derandomize=False, print_blob=True)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "default")


def skip_service(name: str, url: str) -> None:
    """Skip the running test because service `name` is unreachable."""
    _skipped_services[name] = HOW_TO_ENABLE[name].format(url)
    pytest.skip(_skipped_services[name])


def pytest_terminal_summary(terminalreporter) -> None:
    """Say once per missing service how to enable its skipped tests."""
    for line in _skipped_services.values():
        terminalreporter.write_line(line)


def reset_state() -> None:
    """Forget every object and session held in memory by this process."""
    from models import store_health
    base.DATA.clear()
    base._TABLES.clear()
    store_health.reset()
    SessionAuth.user_id_by_session_id.clear()
    SessionAuth._session_ids_by_user.clear()
    SessionAuth._session_meta.clear()


@pytest.fixture(autouse=True)
def workdir(tmp_path, monkeypatch) -> Path:
    """Run each test in its own folder, so `.db_*.json` files land there."""
    monkeypatch.chdir(tmp_path)
    for name in ("AUTH_TYPE", "SESSION_NAME", "SESSION_DURATION",
                 "SESSION_IDLE_TIMEOUT", "SESSION_COOKIE_SECURE",
                 "DATABASE_URL", "SESSION_STORE_URL",
                 "RATELIMIT_STORAGE_URI", "USERS_POLICY") + UAS_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    base.set_store(JsonFileStore())
    reset_state()
    yield tmp_path
    reset_state()


QUICK_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
"""argon2id at its lowest cost (t=1, 8 KiB): microseconds, not ~25 ms."""
QUICK_BCRYPT_ROUNDS = 4
"""bcrypt's lowest cost: about 1 ms, not cost 12's ~0.3 s."""


@pytest.fixture(autouse=True)
def hashing_cost(request, monkeypatch) -> None:
    """Hash passwords at the lowest cost in tests marked `quick_hashing`.

    The marker (on a module or test) is for in-process tests that do not
    assert on the cost parameters, timing equalisation or races; a test
    marked `real_hashing` keeps the production cost even in such a module.
    It changes this process only: `models.passwords` hashes and checks
    with a cheap argon2id hasher (the dummy hash of unknown accounts is
    made anew with it), and bcrypt salts ask for 4 rounds, for the user
    authentication service. Servers in child processes always hash at
    the production cost (the app reads no setting for it), and would
    rehash quick hashes at their next login: `server_env` fails a
    quick-hashing test that starts one.
    """
    if request.node.get_closest_marker("real_hashing") is not None \
            or request.node.get_closest_marker("quick_hashing") is None:
        return
    import bcrypt
    from argon2 import PasswordHasher

    from models import passwords
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher(**QUICK_ARGON2))
    monkeypatch.setattr(passwords, "_dummy_hash", None)
    real_gensalt = bcrypt.gensalt

    def quick_gensalt(rounds: int = 12, prefix: bytes = b"2b") -> bytes:
        return real_gensalt(QUICK_BCRYPT_ROUNDS, prefix)
    monkeypatch.setattr(bcrypt, "gensalt", quick_gensalt)


class Clock:
    """A clock the tests move by hand instead of sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, 0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def frozen_clock(monkeypatch) -> Clock:
    """Replace the project's one clock with a hand-moved one."""
    fake = Clock()
    monkeypatch.setattr(clock, "utcnow", fake)
    return fake


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """Create a PostgreSQL database `<prefix>_<pid>_<hex>`; drop it after.

    Yields its URL; skips the test when PostgreSQL cannot be reached.
    """
    import psycopg
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True,
                                connect_timeout=3)
    except psycopg.OperationalError:
        skip_service("postgresql", POSTGRES_ADMIN_URL)
    name = "{}_{}_{}".format(prefix, os.getpid(), secrets.token_hex(3))
    admin.execute("CREATE DATABASE {}".format(name))
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        admin.execute("DROP DATABASE {} WITH (FORCE)".format(name))
        admin.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Create a PostgreSQL database for this test run; drop it after."""
    with scratch_database("session_api_test") as url:
        try:
            yield url
        finally:
            for store in list(_postgres_stores):
                store.close()


_postgres_stores: list = []


@pytest.fixture(scope="session")
def prepared_postgres_store(postgres_url: str):
    """Return this run's PostgreSQL record store, its tables made.

    One store (one connection pool) per run; module-scoped fixtures that
    start servers on this database take it so that its tables exist
    before the servers do.
    """
    from models.sql_store import SqlRecordStore
    if not _postgres_stores:
        _postgres_stores.append(SqlRecordStore(postgres_url))
    store = _postgres_stores[0]
    store.prepare()
    return store


@pytest.fixture(params=STORES)
def database(request, workdir) -> Iterator[Optional[str]]:
    """Run the test on one record store; yield its `DATABASE_URL` or None.

    SQLite gets a new file per test; PostgreSQL one database per run,
    emptied after each test.
    """
    if request.param == "json":
        yield None
        return
    from models.sql_store import SqlRecordStore, user_sessions, users
    if request.param == "sqlite":
        url = "sqlite:///" + str(workdir / "test.db")
        store = SqlRecordStore(url)
    else:
        url = request.getfixturevalue("postgres_url")
        store = request.getfixturevalue("prepared_postgres_store")
        store.prepare()
    base.set_store(store)
    try:
        yield url
    finally:
        if request.param == "postgresql":
            with store.engine.begin() as connection:
                connection.execute(users.delete())
                connection.execute(user_sessions.delete())
        base.set_store(JsonFileStore())


@contextmanager
def _flushed_redis() -> Iterator[str]:
    """Flush the tests' Redis db; yield its URL; flush it again after."""
    import redis
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.ConnectionError:
        skip_service("redis", REDIS_URL)
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """Yield the URL of a Redis db reserved for tests, flushed around."""
    with _flushed_redis() as url:
        yield url


@pytest.fixture(scope="module")
def flushed_redis_url() -> Iterator[str]:
    """Yield the tests' Redis db URL, flushed around a whole module.

    For servers that a module starts once: its tests must not take
    `redis_url` (which flushes under the running servers), and each uses
    users and sessions of its own.
    """
    with _flushed_redis() as url:
        yield url


@pytest.fixture
def sink():
    """Yield a real SMTP server (aiosmtpd) on a free port; stop it after."""
    from mail_sink import SmtpSink
    server = SmtpSink().start()
    yield server
    server.stop()


@pytest.fixture
def verifications(monkeypatch) -> list:
    """Return the list of passwords verified from now on (a spy)."""
    from models import passwords
    calls = []
    real = passwords.verify_password

    def counting(stored, password):
        calls.append(password)
        return real(stored, password)
    monkeypatch.setattr(passwords, "verify_password", counting)
    return calls


@pytest.fixture
def make_app(request):
    """Return a builder of isolated apps: `make_app(auth_type, **settings)`.

    Apps use the test's `database` store when it has one.
    """
    database_url = (request.getfixturevalue("database")
                    if "database" in request.fixturenames else None)
    built = []

    def build(auth_type: Optional[str] = None, **values):
        values.setdefault("database_url", database_url)
        app = create_app(Settings(auth_type=auth_type, **values))
        app.config["TESTING"] = False
        built.append(app)
        return app
    yield build
    # An app of this test must not hear a later test's password change:
    # its auth may point at a store that test stopped (a private Redis),
    # and lives until the garbage collector breaks its cycles.
    for app in built:
        auth = app.extensions.get(AUTH_EXTENSION)
        receiver = getattr(auth, "_on_credentials_changed", None)
        if receiver is not None:
            credentials_changed.disconnect(receiver)


def create_user(email: str = "bob@hbtn.io", password: str = "H0lberton!",
                **names) -> User:
    """Create and save a user with a clear-text password."""
    user = User(**names)
    user.email = email
    user.password = password
    user.save()
    return user


def basic_header(email: str, password: str) -> Dict[str, str]:
    """Return an Authorization header with these Basic credentials."""
    token = base64.b64encode(
        "{}:{}".format(email, password).encode()).decode()
    return {"Authorization": "Basic " + token}


def login(client, email: str = "bob@hbtn.io",
          password: str = "H0lberton!"):
    """Log in through the API; return the response."""
    return client.post("/api/v1/auth_session/login",
                       data={"email": email, "password": password})


def session_id_of(response, name: str = "_my_session_id") -> str:
    """Return the session id a login response sets in its cookie."""
    for header in response.headers.getlist("Set-Cookie"):
        if header.startswith(name + "="):
            return header.split(";", 1)[0].split("=", 1)[1]
    raise AssertionError("no {} cookie in {}".format(name, response.headers))


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_script(script: str, cwd: Path, env: Optional[dict] = None,
               timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a repository script with Python in `cwd`; return the result."""
    return subprocess.run([sys.executable, str(REPO / script)], cwd=cwd,
                          env=server_env(env), capture_output=True,
                          text=True, timeout=timeout)


def server_env(extra: Optional[dict] = None) -> dict:
    """Return a child environment that can import the repository.

    Under mutmut (`bin/mutate`) the test is skipped: a child process
    runs code mutmut cannot follow, so an in-process test of the same
    behaviour must kill the mutants instead (docs/mutation.md).
    """
    if "MUTANT_UNDER_TEST" in os.environ:
        pytest.skip("a child process: mutmut cannot reach its code")
    from models import passwords
    if (passwords.HASHER.time_cost, passwords.HASHER.memory_cost) != \
            (passwords.TIME_COST, passwords.MEMORY_COST_KIB):
        pytest.fail("quick_hashing with a child process, which hashes at "
                    "the production cost: mark the test real_hashing")
    env = {k: v for k, v in os.environ.items()
           if k not in ("AUTH_TYPE", "SESSION_NAME", "SESSION_DURATION",
                        "SESSION_IDLE_TIMEOUT", "DATABASE_URL",
                        "SESSION_STORE_URL", "RATELIMIT_STORAGE_URI",
                        "USERS_POLICY") + UAS_SETTINGS}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra or {})
    return env


class Server:
    """A running server process: its base URL and its output file."""

    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def output(self) -> str:
        """Return what the process has printed so far."""
        return self.log.read_text()


def wait_until(condition, timeout: float = 30,
               what: str = "the condition") -> None:
    """Poll `condition()` until it is true; fail after `timeout` seconds.

    A deadline, not a count of sleeps: on a loaded machine each poll may
    take long, and only the time waited in total matters.
    """
    deadline = time.monotonic() + timeout
    pause = 0.02
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out after {} s waiting for {}"
                                 .format(timeout, what))
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def wait_for_http(url: str, proc: Optional[subprocess.Popen] = None,
                  timeout: float = 60, describe=lambda: "") -> None:
    """Wait until `url` answers at all (any status); fail after `timeout` s.

    Any request error (refused, reset, timed out while the server is
    still importing) means "not yet". Fails at once, with
    `describe()` (the server's output), when `proc` has exited.
    """
    def answers() -> bool:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("server exited ({}): {}".format(
                proc.returncode, describe()))
        try:
            requests.get(url, timeout=5)
        except requests.RequestException:
            return False
        return True
    try:
        wait_until(answers, timeout, url)
    except AssertionError as exc:
        raise AssertionError("{}: {}".format(exc, describe())) from None


@contextmanager
def live_server(argv, cwd: Path, env: Optional[dict] = None,
                probe: str = "/api/v1/status",
                timeout: float = 60) -> Iterator[Server]:
    """Start a server process on 127.0.0.1 and a free port; stop it after.

    Yields a `Server` once `probe` answers. Output goes to a file beside
    `cwd`. The process is always terminated (by its PID) and waited for.
    """
    port = free_port()
    child_env = server_env(env)
    child_env.update({"API_HOST": "127.0.0.1", "API_PORT": str(port),
                      "PYTHONUNBUFFERED": "1"})
    log = cwd.parent / "{}-server-{}.log".format(cwd.name, port)
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable] + list(argv), cwd=cwd,
                                env=child_env, stdout=out,
                                stderr=subprocess.STDOUT)
    server = Server("http://127.0.0.1:{}".format(port), log)
    try:
        wait_for_http(server.url + probe, proc, timeout,
                      describe=server.output)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def api_server(cwd: Path, **env) -> Iterator[Server]:
    """Run `python3 -m api.v1.app` in `cwd` with `env`; yield the server."""
    with live_server(["-m", "api.v1.app"], cwd, env) as server:
        yield server
