"""Share of failed `/users/me` requests per session mode under 4 workers.

Run from the repository root:

    .venv/bin/python bench/bench_workers.py [--workers 4] [--requests 1000]

Each mode is one gunicorn master with `--workers` sync workers, in its own
temporary folder with one seeded user: one login, then `--requests`
`GET /api/v1/users/me` with the cookie, each on a new connection so that
the workers share them. A request that does not answer 200 is a failure.
The modes are every session `AUTH_TYPE` with its own store (process
memory, or `.db_UserSession.json`) and with `SESSION_STORE_URL` (Redis db
14, flushed before and after). Target: 0 % failed with Redis.
"""
import argparse
import os
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import benchlib  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/14"
MODES = [(auth_type, store)
         for auth_type in ("session_auth", "session_exp_auth",
                           "session_db_auth")
         for store in ("own store", "Redis")]


def flush_redis() -> None:
    """Empty the Redis db of this benchmark (db 14 only)."""
    import redis
    redis.Redis.from_url(REDIS_URL).flushdb()


def measure(auth_type: str, store: str, workers: int,
            requests: int) -> Tuple[int, int]:
    """Return (failed, total) `/users/me` answers for one mode."""
    workdir = tempfile.mkdtemp(prefix="bench-workers-")
    env = {"AUTH_TYPE": auth_type, "SESSION_DURATION": "3600"}
    if store == "Redis":
        env["SESSION_STORE_URL"] = REDIS_URL
        flush_redis()
    benchlib.run_project_python(
        "from models.user import User\n"
        "u = User(email='bench@example.com')\n"
        "u.password = 'bench-password'\n"
        "u.save()\n", workdir)
    argv = [benchlib.venv_tool("gunicorn"), "-w", str(workers), "-k",
            "sync", "--no-control-socket", "--pythonpath", benchlib.REPO,
            "api.v1.app:app"]
    server = benchlib.Server(auth_type, argv, workdir,
                             benchlib.project_env(env),
                             os.path.join(workdir, "server.log"))
    try:
        server.start()
        status, headers, _ = benchlib.http_request(
            server.base_url + "/api/v1/auth_session/login", method="POST",
            form={"email": "bench@example.com",
                  "password": "bench-password"})
        cookie = headers.get("set-cookie", "").split(";")[0]
        if status != 200 or not cookie.startswith("_my_session_id="):
            raise benchlib.BenchError("login answered {}".format(status))

        def one(_: int) -> int:
            """Ask for /users/me once, on a new connection."""
            answer, _, _ = benchlib.http_request(
                server.base_url + "/api/v1/users/me",
                headers={"Cookie": cookie})
            return answer
        with ThreadPoolExecutor(max_workers=workers) as pool:
            statuses = list(pool.map(one, range(requests)))
        return sum(1 for s in statuses if s != 200), len(statuses)
    finally:
        server.stop()
        if store == "Redis":
            flush_redis()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Measure every mode and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args(argv)
    rows: List[str] = []
    for auth_type, store in MODES:
        failed, total = measure(auth_type, store, args.workers,
                                args.requests)
        rows.append("| {} | {} | {} / {} | {:.1f} % |".format(
            auth_type, store, failed, total, 100.0 * failed / total))
    print("| AUTH_TYPE | sessions in | failed /users/me | share |")
    print("| --- | --- | ---: | ---: |")
    print("\n".join(rows))
    print("\n{} gunicorn sync workers, one login, then {} requests on "
          "new connections.".format(args.workers, args.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
