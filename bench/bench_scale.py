"""How the Session API's costs grow with the number of users, per store.

Run from the repository root (one command):

    .venv/bin/python bench/bench_scale.py [--sizes 100 10000 100000]
        [--stores json sqlite postgresql] [--samples 30] [--markdown FILE]

Needs gunicorn and requests in the project venv (`bin/test` installs
requests), PostgreSQL on 127.0.0.1:5432 (user postgres, `psql`) for the
postgresql store.

For every store and every size N, a temporary folder gets a
`.db_User.json` of N users written directly (all share one precomputed
argon2id hash; `bench0@example.com` / `bench-password` is the known
user). For sqlite and postgresql the users are then copied with
`flask --app api.v1.app import-json` and `DATABASE_URL` set, and the JSON
file is moved away; without that command the store is skipped. The API
runs under gunicorn with 1 sync worker (`AUTH_TYPE=session_db_auth`,
`SESSION_DURATION=3600`). Measured: start-up until `/api/v1/status`
answers (median of `--startups` starts), the worker's VmRSS after the
requests below and again after `GET /api/v1/users/<id>` of `--read-users`
distinct users (which fills the read caches to their bound), and the
median latency of sequential requests (after a warm-up): a login,
`GET /api/v1/users/me` with the cookie, and `POST /api/v1/users` (a new
email each time). Each figure is also given as
a ratio to its value at the smallest N; the targets are a ratio of at
most 1.2 and a start-up of at most 1 s (a miss is marked with ✗).
"""
import argparse
import datetime
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH_DIR)
sys.path.insert(1, os.path.dirname(BENCH_DIR))

import benchlib  # noqa: E402
from benchlib import BenchError  # noqa: E402
from models.passwords import hash_password  # noqa: E402

try:
    import requests
except ImportError:                      # pragma: no cover
    sys.exit("error: requests is missing from the project venv; run "
             "bin/test once or pip install -r requirements-dev.txt")

KNOWN_EMAIL = "bench0@example.com"
KNOWN_PASSWORD = "bench-password"
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"
STORES = ("json", "sqlite", "postgresql")
SERVER_ENV = {"AUTH_TYPE": "session_db_auth", "SESSION_DURATION": "3600"}
RATIO_TARGET = 1.2
STARTUP_TARGET_S = 1.0
FIGURES = (
    ("startup_s", "start-up (s)", "{:.2f}"),
    ("rss_mib", "worker RSS (MiB)", "{:.0f}"),
    ("rss_full_mib", "RSS after reading users (MiB)", "{:.0f}"),
    ("login_ms", "login (ms)", "{:.1f}"),
    ("me_ms", "GET /users/me (ms)", "{:.2f}"),
    ("create_ms", "POST /users (ms)", "{:.1f}"),
)


class Skipped(BenchError):
    """The store cannot be measured with the current code (reason given)."""


@dataclass
class Figures:
    """The figures of one store at one N."""

    startup_s: float
    rss_mib: float
    login_ms: float
    me_ms: float
    create_ms: float
    rss_full_mib: float
    import_s: Optional[float] = None


def write_users(workdir: str, count: int, password_hash: str) -> List[str]:
    """Write `count` users to `workdir/.db_User.json` in the store format.

    Every user has the hash `password_hash`; the first is `KNOWN_EMAIL`.
    Returns their ids, in order.
    """
    now = datetime.datetime.now(datetime.timezone.utc).strftime(
        TIMESTAMP_FORMAT)
    records = {}
    for i in range(count):
        user_id = str(uuid.uuid4())
        records[user_id] = {
            "id": user_id, "email": "bench{}@example.com".format(i),
            "_password": password_hash, "first_name": "Bench",
            "last_name": "User{}".format(i), "created_at": now,
            "updated_at": now}
    path = os.path.join(workdir, ".db_User.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(records, handle)
    os.chmod(path, 0o600)
    return list(records)


def median_ms(call: Callable[[int], None], warmup: int,
              samples: int) -> float:
    """Return the median milliseconds of `call(i)` after `warmup` calls."""
    for i in range(warmup):
        call(i)
    times = []
    for i in range(warmup, warmup + samples):
        start = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def expect(response: "requests.Response", status: int, what: str) -> None:
    """Raise `BenchError` unless `response` has `status`."""
    if response.status_code != status:
        raise BenchError("{} answered {} {}".format(
            what, response.status_code, response.text[:200]))


def measure_requests(base: str, args: argparse.Namespace,
                     tag: str) -> Dict[str, float]:
    """Return the median latencies (ms) of login, /users/me, POST /users."""
    client = requests.Session()
    form = {"email": KNOWN_EMAIL, "password": KNOWN_PASSWORD}

    def log_in(_: int) -> None:
        """One login with no cookie (no previous session to end)."""
        client.cookies.clear()
        expect(client.post(base + "/api/v1/auth_session/login", data=form),
               200, "login")

    login_ms = median_ms(log_in, args.warmup, args.samples)
    cookie = client.cookies.get(benchlib.SESSION_NAME)
    if not cookie:
        raise BenchError("login set no {} cookie".format(
            benchlib.SESSION_NAME))

    def get_me(_: int) -> None:
        """One authenticated GET /api/v1/users/me."""
        expect(client.get(base + "/api/v1/users/me"), 200, "/users/me")

    def create(i: int) -> None:
        """One POST /api/v1/users with a new email."""
        body = {"email": "new-{}-{}@example.com".format(tag, i),
                "password": "new-password-{}".format(i)}
        expect(client.post(base + "/api/v1/users", json=body), 201,
               "POST /users")

    return {"login_ms": login_ms,
            "me_ms": median_ms(get_me, args.warmup, args.samples),
            "create_ms": median_ms(create, args.warmup, args.samples)}


def read_users(base: str, user_ids: Sequence[str]) -> None:
    """GET `/api/v1/users/<id>` once for each of `user_ids`, logged in.

    Fills the worker's read caches as a workload over many users would,
    so that the RSS measured next includes them at their bound.
    """
    client = requests.Session()
    expect(client.post(base + "/api/v1/auth_session/login", data={
        "email": KNOWN_EMAIL, "password": KNOWN_PASSWORD}), 200, "login")
    for user_id in user_ids:
        expect(client.get(base + "/api/v1/users/" + user_id), 200,
               "GET /users/<id>")


def measure(store: str, count: int, args: argparse.Namespace,
            password_hash: str) -> Figures:
    """Set up `store` with `count` users, start the API, measure it.

    Raises `Skipped` when the code cannot use the store yet. Every server,
    folder and database made here is removed before returning.
    """
    workdir = tempfile.mkdtemp(prefix="bench-scale-{}-{}-".format(store,
                                                                  count))
    cleanups: List[Callable[[], None]] = [
        lambda: shutil.rmtree(workdir, ignore_errors=True)]
    server: Optional[benchlib.Server] = None
    try:
        user_ids = write_users(workdir, count, password_hash)
        env = dict(SERVER_ENV)
        import_s = None
        if store != "json":
            if store == "sqlite":
                env["DATABASE_URL"] = "sqlite:///" + os.path.join(
                    workdir, "bench.db")
            else:
                name = "bench_scale_{}".format(count)
                benchlib.postgres_database("create", name)
                cleanups.append(
                    lambda: benchlib.postgres_database("drop", name))
                env["DATABASE_URL"] = benchlib.POSTGRES_URL.format(name)
            started = time.perf_counter()
            ok, why = benchlib.import_json(workdir, env["DATABASE_URL"])
            if not ok:
                raise Skipped(why)
            import_s = time.perf_counter() - started
            users_file = os.path.join(workdir, ".db_User.json")
            os.replace(users_file, users_file + ".imported")

        startups = []
        for attempt in range(args.startups):
            server = benchlib.session_api_server(
                "{} N={}".format(store, count), workdir, env)
            startups.append(server.start(timeout=args.startup_timeout))
            if attempt < args.startups - 1:
                server.stop()
        try:
            benchlib.login(server.base_url, KNOWN_EMAIL, KNOWN_PASSWORD)
        except BenchError as exc:
            if store != "json":
                raise Skipped("the server did not find the imported users "
                              "with DATABASE_URL ({})".format(exc))
            raise
        latencies = measure_requests(server.base_url, args,
                                     uuid.uuid4().hex[:8])
        worker = server.worker_pid()
        rss = benchlib.rss_kib(worker) if worker else None
        if rss is None:
            raise BenchError("cannot read the worker's VmRSS")
        read_users(server.base_url, user_ids[:args.read_users])
        rss_full = benchlib.rss_kib(worker)
        if rss_full is None:
            raise BenchError("cannot read the worker's VmRSS")
        return Figures(startup_s=statistics.median(startups),
                       rss_mib=rss / 1024, rss_full_mib=rss_full / 1024,
                       import_s=import_s, **latencies)
    finally:
        if server is not None:
            server.stop()
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except (OSError, BenchError) as exc:
                print("warning: cleanup: {}".format(exc), file=sys.stderr)


def cell(store: str, figures: Dict[int, Figures], count: int, key: str,
         fmt: str, json_figures: Dict[int, Figures]) -> str:
    """Format one figure: value, ratio to the smallest N, JSON beside it."""
    value = getattr(figures[count], key)
    base = getattr(figures[min(figures)], key)
    ratio = value / base if base else float("nan")
    miss = ratio > RATIO_TARGET or (key == "startup_s"
                                    and value > STARTUP_TARGET_S)
    text = "{} ({:.2f}×){}".format(fmt.format(value), ratio,
                                   " ✗" if miss else "")
    if store != "json" and count in json_figures:
        text += " · json {}".format(
            fmt.format(getattr(json_figures[count], key)))
    return text


def store_table(store: str, figures: Dict[int, Figures],
                json_figures: Dict[int, Figures]) -> List[str]:
    """Return the markdown lines of one store's table."""
    base = min(figures)
    names = [title for _, title, _ in FIGURES]
    if store != "json":
        names.append("import-json (s)")
    lines = ["#### store: {} (ratio to N={}{})".format(
        store, base, "; json at the same N after ·" if store != "json"
        else ""), "",
        "| N users | " + " | ".join(names) + " |",
        "| ---: |" + " ---: |" * len(names)]
    for count in sorted(figures):
        cells = [cell(store, figures, count, key, fmt, json_figures)
                 for key, _, fmt in FIGURES]
        if store != "json":
            cells.append("{:.1f}".format(figures[count].import_s or 0))
        lines.append("| {:,} | {} |".format(count, " | ".join(cells)))
    return lines + [""]


def report(results: Dict[str, Dict[int, Figures]], notes: Sequence[str],
           args: argparse.Namespace) -> str:
    """Return the markdown report: header, one table per store, notes."""
    now = datetime.datetime.now(datetime.timezone.utc)
    lines = [
        "### Scale benchmark ({})".format(now.strftime("%Y-%m-%d %H:%M UTC")),
        "",
        "* machine: {}; commit {}".format(benchlib.machine_line(),
                                          benchlib.git_revision()),
        "* gunicorn, 1 sync worker, AUTH_TYPE=session_db_auth; latencies: "
        "median of {} sequential requests after {} warm-up; start-up: "
        "median of {} starts; RSS: worker VmRSS after the requests, then "
        "after reading min(N, {:,}) distinct users".format(
            args.samples, args.warmup, args.startups, args.read_users),
        "* targets: ratio ≤ {}× the smallest N, start-up ≤ {:.0f} s "
        "(✗ marks a miss)".format(RATIO_TARGET, STARTUP_TARGET_S),
        ""]
    json_figures = results.get("json", {})
    for store in args.stores:
        if results.get(store):
            lines += store_table(store, results[store], json_figures)
    lines += ["* " + note for note in notes]
    return "\n".join(lines).rstrip("\n") + "\n"


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[100, 10000, 100000])
    parser.add_argument("--stores", nargs="+", choices=STORES,
                        default=list(STORES))
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--startups", type=int, default=3,
                        help="starts per N; the median is reported")
    parser.add_argument("--startup-timeout", type=float, default=120.0)
    parser.add_argument("--read-users", type=int, default=20000,
                        help="distinct users read (GET /users/<id>) before "
                        "the second RSS: more than READ_CACHE_SIZE (10,000) "
                        "fills the read caches to their bound")
    parser.add_argument("--markdown", metavar="FILE",
                        help="also write the report to FILE")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Measure every store at every size and print the report."""
    args = parse_args(argv)
    try:
        benchlib.venv_tool("gunicorn")
    except BenchError as exc:
        sys.exit("error: {}".format(exc))
    password_hash = hash_password(KNOWN_PASSWORD)
    results: Dict[str, Dict[int, Figures]] = {}
    notes: List[str] = []
    for store in args.stores:
        results[store] = {}
        for count in sorted(args.sizes):
            print("{} N={:,} ...".format(store, count), flush=True)
            try:
                results[store][count] = measure(store, count, args,
                                                password_hash)
            except Skipped as exc:
                message = "skipped: {} ({})".format(store, exc)
                print(message, flush=True)
                notes.append(message)
                break
            except (BenchError, OSError) as exc:
                message = "failed: {} N={} ({})".format(
                    store, count, str(exc).strip().splitlines()[0])
                print(message, str(exc), sep="\n", flush=True)
                notes.append(message)
    text = report(results, notes, args)
    print()
    print(text, end="")
    benchlib.write_markdown(args.markdown, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
