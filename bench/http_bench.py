"""HTTP throughput of the Session API beside a Flask-Login anchor, with wrk.

Run from the repository root (one command):

    .venv/bin/python bench/http_bench.py [--rounds 5] [--seconds 3]
        [--connections 8] [--only NAME ...] [--markdown FILE]

Needs: `wrk` on PATH (Debian: `apt-get install wrk`), Redis on
127.0.0.1:6379, gunicorn in the project venv (`.venv/bin/gunicorn`), and
for the database scenarios PostgreSQL on 127.0.0.1:5432 (user postgres).
`--list` prints the scenario names that `--only` accepts.

Every scenario is one gunicorn master with 1 sync worker on 127.0.0.1 and
a free port; each scenario of the Session API runs in a temporary working
directory of its own (its `.db_*.json` live there), seeded with users.
The anchor (`../shared/anchors/flask_login_session_app.py`, Flask-Login +
Flask-Session on Redis db 12) runs from a virtual environment of its own,
built once from the anchor's requirements file and cached under
`~/.cache/session-api-bench/` by a hash of that file.

All servers stay up for the whole run. In each round every endpoint of
every scenario is measured once (`wrk -t1 -cC -dSs`), in an order shuffled
per round with a fixed seed: `/api/v1/status` without credentials,
`/api/v1/users/me` with them. The report gives the median req/s over the
rounds and the median of the per-round ratios (me/status within an app,
and each figure against the anchor's in the same round), plus the count
of non-2xx/3xx answers wrk saw. Scenarios the current code cannot run yet
(`DATABASE_URL`, `SESSION_STORE_URL`) are skipped with the reason.
"""
import argparse
import base64
import datetime
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402
from benchlib import BenchError  # noqa: E402

ENDPOINTS = {"status": "/api/v1/status", "me": "/api/v1/users/me"}
USER_EMAIL = "bench@example.com"
USER_PASSWORD = "bench-password"
ANCHOR_REDIS_DB = 12
# Redis dbs for the scenarios that name {redis_db}, one each (flushed).
# The anchor has 12; the service tests use 13.
SESSION_REDIS_DBS = (14, 15, 10, 11, 9)
DEFAULT_ANCHOR_DIR = os.path.join(benchlib.REPO, "..", "shared", "anchors")
DEFAULT_CACHE_DIR = os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
    "session-api-bench")
SESSION_DB = {"AUTH_TYPE": "session_db_auth", "SESSION_DURATION": "3600"}
SQLITE_URL = "sqlite:///{workdir}/bench.db"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/{pg_database}"
REDIS_URL = "redis://127.0.0.1:6379/{redis_db}"
NO_CACHE = {"READ_CACHE_SIZE": "0"}
LOOSE = {"READ_CACHE_STRICT": "0"}


@dataclass(frozen=True)
class Scenario:
    """One measured server: a name, its environment, how to authenticate.

    `auth` is `session` (log in, send the cookie), `basic` (the same
    Basic header every request), `basic-cold` (a different valid user
    every request) or `none`. Values of `env` may name `{workdir}`,
    `{pg_database}` and `{redis_db}`. With `DATABASE_URL` the users are
    copied into the database by `flask import-json`; with
    `SESSION_STORE_URL` the harness checks that sessions land in Redis.
    """

    name: str
    env: Mapping[str, str] = field(default_factory=dict)
    auth: str = "session"
    endpoints: Tuple[str, ...] = ("status", "me")
    app: str = "session-api"
    label: str = ""

    @property
    def title(self) -> str:
        """Return the `app, scenario` cell of the report."""
        return "{}, {}".format(self.app, self.label or self.name)


SCENARIOS: Tuple[Scenario, ...] = (
    Scenario("session_auth", {"AUTH_TYPE": "session_auth"}),
    Scenario("session_exp_auth", {"AUTH_TYPE": "session_exp_auth",
                                  "SESSION_DURATION": "3600"}),
    Scenario("session_db_auth", SESSION_DB),
    Scenario("basic_warm", {"AUTH_TYPE": "basic_auth"}, "basic",
             label="basic_auth warm (same credentials)"),
    Scenario("basic_cold", {"AUTH_TYPE": "basic_auth"}, "basic-cold",
             label="basic_auth cold (new user each request)"),
    Scenario("auth", {"AUTH_TYPE": "auth"}, "none", ("status",)),
    Scenario("db_sqlite", {**SESSION_DB, "DATABASE_URL": SQLITE_URL},
             label="session_db_auth, SQLite"),
    Scenario("db_postgresql", {**SESSION_DB, "DATABASE_URL": POSTGRES_URL},
             label="session_db_auth, PostgreSQL"),
    Scenario("sessions_redis", {**SESSION_DB, "SESSION_STORE_URL":
                                REDIS_URL},
             label="session_db_auth, sessions in Redis"),
    Scenario("session_auth_redis", {"AUTH_TYPE": "session_auth",
                                    "SESSION_STORE_URL": REDIS_URL},
             label="session_auth, sessions in Redis"),
    Scenario("postgresql_redis", {**SESSION_DB, "DATABASE_URL": POSTGRES_URL,
                                  "SESSION_STORE_URL": REDIS_URL},
             label="session_db_auth, PostgreSQL + Redis sessions"),
    Scenario("basic_postgresql", {"AUTH_TYPE": "basic_auth",
                                  "DATABASE_URL": POSTGRES_URL}, "basic",
             label="basic_auth warm, PostgreSQL users"),
    # Issue 18: the same configurations with the read caches off
    # (READ_CACHE_SIZE=0), measured beside the cached ones.
    Scenario("db_postgresql_nocache", {**SESSION_DB, **NO_CACHE,
                                       "DATABASE_URL": POSTGRES_URL},
             label="session_db_auth, PostgreSQL, no read cache"),
    Scenario("sessions_redis_nocache", {**SESSION_DB, **NO_CACHE,
                                        "SESSION_STORE_URL": REDIS_URL},
             label="session_db_auth, sessions in Redis, no read cache"),
    Scenario("postgresql_redis_nocache", {**SESSION_DB, **NO_CACHE,
                                          "DATABASE_URL": POSTGRES_URL,
                                          "SESSION_STORE_URL": REDIS_URL},
             label="session_db_auth, PostgreSQL + Redis sessions, "
                   "no read cache"),
    Scenario("basic_postgresql_nocache", {"AUTH_TYPE": "basic_auth",
                                          "DATABASE_URL": POSTGRES_URL,
                                          **NO_CACHE}, "basic",
             label="basic_auth warm, PostgreSQL users, no read cache"),
    # READ_CACHE_STRICT=0: no round trip on the listener per request.
    Scenario("db_postgresql_loose", {**SESSION_DB, **LOOSE,
                                     "DATABASE_URL": POSTGRES_URL},
             label="session_db_auth, PostgreSQL, READ_CACHE_STRICT=0"),
    Scenario("postgresql_redis_loose", {**SESSION_DB, **LOOSE,
                                        "DATABASE_URL": POSTGRES_URL,
                                        "SESSION_STORE_URL": REDIS_URL},
             label="session_db_auth, PostgreSQL + Redis sessions, "
                   "READ_CACHE_STRICT=0"),
    Scenario("basic_postgresql_loose", {"AUTH_TYPE": "basic_auth",
                                        "DATABASE_URL": POSTGRES_URL,
                                        **LOOSE}, "basic",
             label="basic_auth warm, PostgreSQL users, READ_CACHE_STRICT=0"),
    Scenario("anchor", app="anchor",
             label="Flask-Login + Flask-Session (Redis)"),
)

SEED_SNIPPET = """
import json, os, sys
from multiprocessing import Pool
from models.passwords import hash_password
from models.user import User
pairs = json.load(sys.stdin)
if len(pairs) == 1:
    user = User()
    user.email = pairs[0][0]
    user.password = pairs[0][1]
    user.save()
else:
    with Pool() as pool:
        hashes = pool.map(hash_password, [p for _, p in pairs], 32)
    users = [User(email=e, _password=h) for (e, _), h in zip(pairs, hashes)]
    with open(".db_User.json", "w") as handle:
        json.dump({u.id: u.to_json(True) for u in users}, handle)
    os.chmod(".db_User.json", 0o600)
print(len(pairs))
"""


class Skipped(BenchError):
    """The scenario cannot run on this code or machine (reason given)."""


@dataclass
class WrkResult:
    """What one wrk run reported."""

    requests_per_second: float
    requests: int
    non_2xx: int
    socket_errors: int


@dataclass
class Prepared:
    """A scenario whose server is up and whose credentials are known."""

    scenario: Scenario
    workdir: str
    server: Optional[benchlib.Server] = None
    headers: Dict[str, str] = field(default_factory=dict)
    rotating: List[str] = field(default_factory=list)
    offset: int = 0
    cleanups: List[Callable[[], None]] = field(default_factory=list)
    results: Dict[str, List[Optional[WrkResult]]] = field(
        default_factory=dict)


def basic_header(email: str, password: str) -> str:
    """Return the `Authorization` value of Basic credentials."""
    token = base64.b64encode("{}:{}".format(email, password).encode())
    return "Basic " + token.decode()


def lua_string(text: str) -> str:
    """Return `text` as a double-quoted Lua string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_lua(path: str, prepared: Prepared) -> None:
    """Write the wrk script that sends the scenario's credentials.

    Static headers go in `wrk.headers`; rotating Basic headers are sent
    by a `request` function, one user after the other from `offset`.
    """
    lines = ["-- generated by bench/http_bench.py for {}".format(
        prepared.scenario.name)]
    for name, value in prepared.headers.items():
        lines.append("wrk.headers[{}] = {}".format(lua_string(name),
                                                   lua_string(value)))
    if prepared.rotating:
        lines.append("local headers = {")
        lines += ["  {},".format(lua_string(h)) for h in prepared.rotating]
        lines.append("}")
        lines.append("local i = {}".format(prepared.offset))
        lines.append("request = function()")
        lines.append("  i = i % #headers + 1")
        lines.append('  return wrk.format(nil, nil, '
                     '{["Authorization"] = headers[i]})')
        lines.append("end")
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")


def run_wrk(url: str, script: str, args: argparse.Namespace) -> WrkResult:
    """Run wrk once against `url`; parse req/s, count, non-2xx, errors."""
    argv = ["wrk", "-t{}".format(args.threads),
            "-c{}".format(args.connections), "-d{}s".format(args.seconds),
            "-s", script, url]
    result = subprocess.run(argv, capture_output=True, text=True,
                            timeout=args.seconds + 60)
    out = result.stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if result.returncode != 0 or rate is None or count is None:
        raise BenchError("wrk failed on {}: {}{}".format(
            url, out[-500:], result.stderr[-500:]))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), "
                       r"write (\d+), timeout (\d+)", out)
    return WrkResult(
        requests_per_second=float(rate.group(1)),
        requests=int(count.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0)


def anchor_venv(anchor_dir: str, cache_dir: str) -> str:
    """Return the anchor's venv, built once per hash of its requirements.

    The venv lives in `cache_dir/anchor-<hash>`; a `.complete` marker
    tells a finished build from an interrupted one (rebuilt).
    """
    requirements = os.path.join(anchor_dir, "requirements.txt")
    with open(requirements, "rb") as handle:
        digest = hashlib.sha256(handle.read())
    digest.update(sys.version.encode())
    venv = os.path.join(cache_dir, "anchor-" + digest.hexdigest()[:16])
    marker = os.path.join(venv, ".complete")
    if os.path.exists(marker):
        return venv
    print("building the anchor venv in {} ...".format(venv), flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    os.makedirs(cache_dir, exist_ok=True)
    steps = ([sys.executable, "-m", "venv", venv],
             [os.path.join(venv, "bin", "python"), "-m", "pip", "install",
              "--quiet", "--disable-pip-version-check", "-r", requirements])
    for step in steps:
        result = subprocess.run(step, capture_output=True, text=True,
                                env=benchlib.clean_env())
        if result.returncode != 0:
            raise Skipped("building the anchor venv failed: {}".format(
                result.stderr.strip()[-500:]))
    open(marker, "w").close()
    return venv


def seed_users(workdir: str, pairs: Sequence[Tuple[str, str]]) -> None:
    """Create the users (email, password) in `workdir/.db_User.json`.

    One user goes through `User().save()`; many are hashed in parallel
    and written in one go, as `User.to_json(True)` records keyed by id
    (the file format of the contract).
    """
    benchlib.run_project_python(SEED_SNIPPET, workdir,
                                stdin=json.dumps(list(pairs)))


def prepare_anchor(prepared: Prepared, args: argparse.Namespace) -> None:
    """Start the anchor on a flushed Redis db 12 and log in to it."""
    venv = anchor_venv(args.anchor_dir, args.cache_dir)
    try:
        benchlib.redis_command(ANCHOR_REDIS_DB, "FLUSHDB")
    except OSError as exc:
        raise Skipped("Redis not reachable: {}".format(exc))
    prepared.cleanups.append(
        lambda: benchlib.redis_command(ANCHOR_REDIS_DB, "FLUSHDB"))
    env = benchlib.clean_env({
        "ANCHOR_REDIS_URL": "redis://127.0.0.1:6379/{}".format(
            ANCHOR_REDIS_DB),
        "SESSION_NAME": benchlib.SESSION_NAME})
    argv = benchlib.gunicorn_argv(os.path.join(venv, "bin", "gunicorn"),
                                  "flask_login_session_app:app")
    prepared.server = benchlib.Server(
        "anchor", argv, args.anchor_dir, env,
        os.path.join(prepared.workdir, "server.log"))
    prepared.server.start()
    cookie = benchlib.login(prepared.server.base_url, USER_EMAIL,
                            USER_PASSWORD)
    prepared.headers = {"Cookie": "{}={}".format(benchlib.SESSION_NAME,
                                                 cookie)}


def prepare_session_api(prepared: Prepared, args: argparse.Namespace,
                        redis_db: Optional[int]) -> None:
    """Seed, set up the stores, start the Session API, get credentials.

    `redis_db` is the Redis database this scenario alone may use.
    """
    scenario = prepared.scenario
    values = {"workdir": prepared.workdir, "redis_db": redis_db,
              "pg_database": "bench_http_{}_{}".format(
                  os.getpid(), scenario.name)}
    env = {k: v.format(**values) for k, v in scenario.env.items()}
    if scenario.auth == "basic-cold":
        pairs = [("cold{}@example.com".format(i),
                  "cold-password-{}".format(i))
                 for i in range(args.cold_users)]
    else:
        pairs = [(USER_EMAIL, USER_PASSWORD)]
    seed_users(prepared.workdir, pairs)

    database_url = env.get("DATABASE_URL")
    if database_url:
        if database_url.startswith("postgresql"):
            name = values["pg_database"]
            benchlib.postgres_database("create", name)
            prepared.cleanups.append(
                lambda: benchlib.postgres_database("drop", name))
        ok, why = benchlib.import_json(prepared.workdir, database_url)
        if not ok:
            raise Skipped(why)
        # Hide the JSON file: the server must read its users from the DB.
        users_file = os.path.join(prepared.workdir, ".db_User.json")
        os.replace(users_file, users_file + ".imported")
    if env.get("SESSION_STORE_URL"):
        benchlib.redis_command(redis_db, "FLUSHDB")
        prepared.cleanups.append(
            lambda: benchlib.redis_command(redis_db, "FLUSHDB"))

    prepared.server = benchlib.session_api_server(scenario.name,
                                                  prepared.workdir, env)
    prepared.server.start()
    base = prepared.server.base_url
    if scenario.auth == "session":
        cookie_name = env.get("SESSION_NAME", benchlib.SESSION_NAME)
        try:
            cookie = benchlib.login(base, USER_EMAIL, USER_PASSWORD,
                                    cookie_name)
        except BenchError as exc:
            if database_url:
                raise Skipped("the server did not find the imported user "
                              "with DATABASE_URL ({})".format(exc))
            raise
        prepared.headers = {"Cookie": "{}={}".format(cookie_name, cookie)}
        if env.get("SESSION_STORE_URL") and not benchlib.redis_command(
                redis_db, "DBSIZE"):
            raise Skipped("SESSION_STORE_URL not used yet: no key in Redis "
                          "db {} after a login".format(redis_db))
    elif scenario.auth == "basic":
        prepared.headers = {"Authorization": basic_header(*pairs[0])}
    elif scenario.auth == "basic-cold":
        prepared.rotating = [basic_header(*pair) for pair in pairs]
        prepared.headers = {"Authorization": prepared.rotating[0]}


def needs_redis_db(scenario: Scenario) -> bool:
    """Return True if the scenario's environment names `{redis_db}`."""
    return any("{redis_db}" in value for value in scenario.env.values())


def prepare(scenario: Scenario, args: argparse.Namespace, tmp_root: str,
            redis_dbs: List[int]) -> Prepared:
    """Start one scenario and check each endpoint answers 200 once.

    A scenario that names `{redis_db}` takes the next database of
    `redis_dbs`. On failure the scenario's server is stopped and its
    resources are released before the error propagates.
    """
    redis_db = None
    if needs_redis_db(scenario):
        if not redis_dbs:
            raise Skipped("no Redis db left (SESSION_REDIS_DBS)")
        redis_db = redis_dbs.pop(0)
    workdir = tempfile.mkdtemp(prefix=scenario.name + "-", dir=tmp_root)
    prepared = Prepared(scenario, workdir)
    try:
        if scenario.app == "anchor":
            prepare_anchor(prepared, args)
        else:
            prepare_session_api(prepared, args, redis_db)
        for endpoint in scenario.endpoints:
            url = prepared.server.base_url + ENDPOINTS[endpoint]
            headers = prepared.headers if endpoint == "me" else {}
            status, _, body = benchlib.http_request(url, headers=headers)
            if status != 200:
                raise BenchError("GET {} answered {} {}".format(
                    ENDPOINTS[endpoint], status, body[:200]))
        prepared.offset = 1 if prepared.rotating else 0
        with open(os.path.join(workdir, "plain.lua"), "w") as handle:
            handle.write("-- no credentials: /api/v1/status is open\n")
        if not prepared.rotating:
            write_lua(os.path.join(workdir, "static.lua"), prepared)
        prepared.results = {e: [] for e in scenario.endpoints}
        return prepared
    except BaseException:
        release(prepared)
        raise


def release(prepared: Prepared) -> None:
    """Stop the scenario's server and undo its set-up, best effort."""
    if prepared.server is not None:
        prepared.server.stop()
    for cleanup in reversed(prepared.cleanups):
        try:
            cleanup()
        except (OSError, BenchError) as exc:
            print("warning: cleanup of {}: {}".format(
                prepared.scenario.name, exc), file=sys.stderr)
    prepared.cleanups.clear()


def measure(prepared: Prepared, endpoint: str,
            args: argparse.Namespace) -> WrkResult:
    """Run wrk once on one endpoint of a prepared scenario.

    `/api/v1/status` is sent without credentials, `/api/v1/users/me`
    with them. Rotating credentials continue where the previous run
    stopped, so no user is sent twice until all have been used.
    """
    if endpoint == "status":
        script = os.path.join(prepared.workdir, "plain.lua")
    elif not prepared.rotating:
        script = os.path.join(prepared.workdir, "static.lua")
    else:
        script = os.path.join(prepared.workdir,
                              "rotate-{}.lua".format(prepared.offset))
        write_lua(script, prepared)
    url = prepared.server.base_url + ENDPOINTS[endpoint]
    result = run_wrk(url, script, args)
    if prepared.rotating and endpoint == "me":
        prepared.offset += result.requests
    return result


def median_or_none(values: Sequence[Optional[float]]) -> Optional[float]:
    """Return the median of the values that are not None, or None."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def rates(prepared: Optional[Prepared],
          endpoint: str) -> List[Optional[float]]:
    """Return the per-round req/s of an endpoint (None where missing)."""
    if prepared is None or endpoint not in prepared.results:
        return []
    return [r.requests_per_second if r else None
            for r in prepared.results[endpoint]]


def per_round_ratio(top: Sequence[Optional[float]],
                    bottom: Sequence[Optional[float]]) -> Optional[float]:
    """Return the median over rounds of top/bottom, rounds with both."""
    ratios = [t / b for t, b in zip(top, bottom) if t and b]
    return statistics.median(ratios) if ratios else None


def fmt_rate(value: Optional[float]) -> str:
    """Format req/s with a thousands separator, or a dash."""
    return "–" if value is None else "{:,.0f}".format(value)


def fmt_ratio(value: Optional[float]) -> str:
    """Format a ratio with two decimals, or a dash."""
    return "–" if value is None else "{:.2f}".format(value)


def report(prepared: Sequence[Prepared], skipped: Sequence[Tuple[str, str]],
           args: argparse.Namespace, header: str) -> str:
    """Return the markdown report: header, table, notes."""
    anchor = next((p for p in prepared if p.scenario.app == "anchor"), None)
    lines = [header, "",
             "| app, scenario | /status req/s | /users/me req/s | me/status "
             "| me vs anchor | status vs anchor | non-2xx |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    notes = []
    for p in prepared:
        status, me = rates(p, "status"), rates(p, "me")
        runs = [r for series in p.results.values() for r in series if r]
        failed = sum(1 for series in p.results.values() for r in series
                     if r is None)
        non_2xx = sum(r.non_2xx for r in runs)
        socket_errors = sum(r.socket_errors for r in runs)
        if socket_errors:
            notes.append("{}: {} socket errors reported by wrk".format(
                p.scenario.title, socket_errors))
        if failed:
            notes.append("{}: {} wrk runs failed".format(p.scenario.title,
                                                         failed))
        if p.rotating and p.offset > len(p.rotating) + 1:
            notes.append("{}: {} requests for {} users, so credentials were "
                         "reused".format(p.scenario.title, p.offset - 1,
                                         len(p.rotating)))
        lines.append("| {} | {} | {} | {} | {} | {} | {} |".format(
            p.scenario.title, fmt_rate(median_or_none(status)),
            fmt_rate(median_or_none(me)),
            fmt_ratio(per_round_ratio(me, status)),
            fmt_ratio(per_round_ratio(me, rates(anchor, "me"))),
            fmt_ratio(per_round_ratio(status, rates(anchor, "status"))),
            non_2xx))
    lines.append("")
    lines.append("req/s: median over the rounds; ratios: median of the "
                 "per-round ratios (both figures from the same round); "
                 "non-2xx: answers >= 400 counted by wrk over all runs. "
                 "/status is sent without credentials, /users/me with.")
    notes.append("load average (1 min) {:.2f} at the start, {:.2f} at the "
                 "end".format(args.load_at_start, os.getloadavg()[0]))
    for name, reason in skipped:
        notes.append("skipped: {} ({})".format(name, reason))
    if notes:
        lines.append("")
        lines += ["* " + note for note in notes]
    return "\n".join(lines) + "\n"


def tool_version(argv: Sequence[str]) -> str:
    """Return the first line a `--version` style command prints."""
    try:
        result = subprocess.run(argv, capture_output=True, text=True)
    except OSError:
        return "missing"
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def header_text(args: argparse.Namespace) -> str:
    """Return the report's title, date, machine and parameters."""
    now = datetime.datetime.now(datetime.timezone.utc)
    anchor_pins = []
    try:
        with open(os.path.join(args.anchor_dir, "requirements.txt")) as fh:
            anchor_pins = [line.strip() for line in fh
                           if line.strip().lower().startswith(
                               ("flask-login", "flask-session", "redis"))]
    except OSError:
        pass
    return "\n".join([
        "### HTTP benchmark ({})".format(now.strftime("%Y-%m-%d %H:%M UTC")),
        "",
        "* machine: {}; commit {}".format(benchlib.machine_line(),
                                          benchlib.git_revision()),
        "* {}, {}; 1 sync worker per app, each app in its own "
        "process".format(tool_version([benchlib.venv_tool("gunicorn"),
                                       "--version"]),
                         tool_version(["wrk", "-v"]).split(" Copyright")[0]),
        "* parameters: {} rounds; per endpoint and round `wrk -t{} -c{} "
        "-d{}s`; order shuffled per round (seed {}); {} cold users".format(
            args.rounds, args.threads, args.connections, args.seconds,
            args.seed, args.cold_users),
        "* anchor: {}".format(
            "not run" if "anchor" not in {s.name for s in selected(args)}
            else "{} (Redis db {})".format(", ".join(anchor_pins) or "?",
                                           ANCHOR_REDIS_DB)),
    ])


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    names = [s.name for s in SCENARIOS]
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="scenarios: " + ", ".join(names))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=3,
                        help="duration of one wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1,
                        help="wrk threads (default 1)")
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=names,
                        help="run only these scenarios (the anchor is "
                        "added unless --no-anchor)")
    parser.add_argument("--no-anchor", action="store_true")
    parser.add_argument("--cold-users", type=int, default=2000,
                        help="users seeded for basic_cold (default 2000)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the per-round shuffle")
    parser.add_argument("--anchor-dir", default=DEFAULT_ANCHOR_DIR)
    parser.add_argument("--cache-dir", default=DEFAULT_CACHE_DIR)
    parser.add_argument("--markdown", metavar="FILE",
                        help="also write the report to FILE")
    parser.add_argument("--list", action="store_true",
                        help="print the scenarios and exit")
    args = parser.parse_args(argv)
    args.anchor_dir = os.path.abspath(args.anchor_dir)
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads")
    return args


def selected(args: argparse.Namespace) -> List[Scenario]:
    """Return the scenarios to run, in the order of `SCENARIOS`."""
    wanted = set(args.only or [s.name for s in SCENARIOS])
    if not args.no_anchor:
        wanted.add("anchor")
    else:
        wanted.discard("anchor")
    return [s for s in SCENARIOS if s.name in wanted]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Prepare every scenario, measure in rounds, print the report."""
    args = parse_args(argv)
    if args.list:
        for s in SCENARIOS:
            print("{:18s} {}  {}".format(s.name, s.title, dict(s.env)))
        return 0
    if shutil.which("wrk") is None:
        sys.exit("error: wrk not found (Debian: apt-get install wrk)")
    try:
        benchlib.venv_tool("gunicorn")
    except BenchError as exc:
        sys.exit("error: {}".format(exc))
    args.load_at_start = os.getloadavg()[0]
    header = header_text(args)
    tmp_root = tempfile.mkdtemp(prefix="http-bench-")
    running: List[Prepared] = []
    redis_dbs = list(SESSION_REDIS_DBS)
    skipped: List[Tuple[str, str]] = []
    try:
        for scenario in selected(args):
            print("starting {} ...".format(scenario.title), flush=True)
            try:
                running.append(prepare(scenario, args, tmp_root,
                                       redis_dbs))
            except (BenchError, OSError) as exc:
                reason = str(exc).strip()
                kind = "skipped" if isinstance(exc, Skipped) else "failed"
                print("  {}: {}".format(kind, reason), flush=True)
                skipped.append((scenario.title,
                                reason.splitlines()[0] if reason else kind))
        shuffle = random.Random(args.seed)
        for round_no in range(1, args.rounds + 1):
            jobs = [(p, e) for p in running for e in p.scenario.endpoints]
            shuffle.shuffle(jobs)
            for prepared, endpoint in jobs:
                try:
                    result = measure(prepared, endpoint, args)
                except (BenchError, subprocess.TimeoutExpired) as exc:
                    print("  {}: {}".format(prepared.scenario.name, exc),
                          file=sys.stderr)
                    result = None
                prepared.results[endpoint].append(result)
            print("round {}/{} done".format(round_no, args.rounds),
                  flush=True)
    finally:
        for prepared in running:
            release(prepared)
        shutil.rmtree(tmp_root, ignore_errors=True)
    text = report(running, skipped, args, header)
    print()
    print(text, end="")
    benchlib.write_markdown(args.markdown, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
