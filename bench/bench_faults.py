"""Failing stores under load: the 503 window, the requests lost, the 429s.

Each scenario starts its own stores (a private redis-server, a Sentinel
group, a private PostgreSQL cluster: `tests/faultlib.py`, on free ports,
stopped by PID) and the Session API under gunicorn (`--workers`), then
runs `--clients` client threads, each with its own account and session:

1. steady: `GET /api/v1/users/me` with its cookie;
2. fault: the store is killed (`SIGKILL`; the Sentinel master; PostgreSQL
   `pg_ctl stop -m immediate`) and the clients keep going for
   `--outage` seconds, every other request a login with the right
   password (the case where a counted attempt used to lock users out);
3. back: the store is restored (a restart; for Sentinel nothing, the
   replica is promoted) and each client goes on until both its
   `/users/me` and a login have answered 200 again;
4. after: each client logs in `--after-logins` times.

Printed per scenario: how long the store was away (from the kill until
it answers again: the restart, or Sentinel naming the new master), the
503 window (from then until every client has its 200s back), the
answers by status during the fault and after it, 500s (must be 0),
sessions lost (a cookie that answers 403 after the return) and 429s
after the outage (must be 0).

    .venv/bin/python bench/bench_faults.py [--workers 4] [--clients 16]
        [--outage 3] [--after-logins 3] [--only redis_restart ...]
        [--markdown FILE]
"""
import argparse
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from typing import Callable, Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

import requests  # noqa: E402

import benchlib  # noqa: E402
from faultlib import (PostgresServer, RedisServer, SentinelGroup,  # noqa
                      postgres_available, wait_until)

PASSWORD = "Fault-bench-1!"
SCENARIOS = ("redis_restart", "sentinel_failover", "postgres_restart")


class Client(threading.Thread):
    """One client: its own account, cookie and tally of answers."""

    def __init__(self, base: str, index: int) -> None:
        super().__init__(daemon=True)
        self.base = base + "/api/v1"
        self.email = "fault{}@bench.io".format(index)
        self.http = requests.Session()
        self.phase = "steady"
        self.tally: Dict[str, Counter] = {}
        self.back_at: Optional[float] = None
        self.me_back: Optional[float] = None
        self.login_back: Optional[float] = None
        self.lost = False
        self.stop_at = float("inf")

    def count(self, status: int) -> None:
        self.tally.setdefault(self.phase, Counter())[status] += 1

    def me(self) -> int:
        try:
            status = self.http.get(self.base + "/users/me",
                                   timeout=10).status_code
        except requests.RequestException:
            status = 0
        self.count(status)
        return status

    def side_login(self) -> int:
        """Log in on a side connection (a login would replace the
        session this client checks)."""
        side = Client(self.base[:-len("/api/v1")], 0)
        side.email, side.phase, side.tally = \
            self.email, self.phase, self.tally
        return side.login()

    def login(self) -> int:
        try:
            status = self.http.post(self.base + "/auth_session/login",
                                    data={"email": self.email,
                                          "password": PASSWORD},
                                    timeout=10).status_code
        except requests.RequestException:
            status = 0
        self.count(status)
        return status

    def run(self) -> None:
        turn = 0
        while time.monotonic() < self.stop_at:
            turn += 1
            if self.phase != "steady" and turn % 2:
                status = self.side_login()
                if self.phase == "back" and self.login_back is None \
                        and status == 200:
                    self.login_back = time.monotonic()
            else:
                status = self.me()
                if self.phase == "back" and self.me_back is None \
                        and status in (200, 403):
                    self.me_back = time.monotonic()
                    self.lost = status == 403
            if self.me_back and self.login_back and not self.back_at:
                self.back_at = max(self.me_back, self.login_back)
            time.sleep(0.01)


def seed_users(workdir: str, env: Dict[str, str], count: int) -> None:
    code = ("from models.user import User\n"
            "from models.base import use_database\n"
            "from models.settings import load_settings\n"
            "s = load_settings()\n"
            "use_database(s.database_url)\n"
            "for i in range({}):\n"
            "    u = User(); u.email = 'fault%d@bench.io' % i\n"
            "    u.password = {!r}; u.save()\n").format(count, PASSWORD)
    benchlib.run_project_python(code, workdir, env)


def run_scenario(name: str, args: argparse.Namespace) -> Dict[str, object]:
    """Run one scenario; return its figures."""
    folder = tempfile.mkdtemp(prefix="bench-faults-")
    env = {"AUTH_TYPE": "session_exp_auth", "SESSION_DURATION": "3600",
           "LOGIN_LIMIT_PER_ADDRESS": "100000 per minute",
           "LOGIN_LIMIT_PER_ACCOUNT": "5 per minute",
           "STORE_TIMEOUT_SECONDS": "0.5", "STORE_RETRY_SECONDS": "2"}
    kill: Callable[[], None]
    restore: Callable[[], None]
    cleanup: List[Callable[[], None]] = []
    if name == "redis_restart":
        redis = RedisServer(os.path.join(folder, "redis"),
                            args=["--appendonly", "yes",
                                  "--appendfsync", "everysec"])
        redis.start(["--appendonly", "yes"])
        cleanup.append(redis.stop)
        env["SESSION_STORE_URL"] = redis.url
        kill = redis.stop

        def restore() -> None:
            redis.start(["--appendonly", "yes"])
    elif name == "sentinel_failover":
        group = SentinelGroup(os.path.join(folder, "sentinel")).start()
        cleanup.append(group.stop)
        env["SESSION_STORE_URL"] = group.url
        kill = group.master.stop

        def restore() -> None:
            wait_until(lambda: group.master_port() == group.replica.port,
                       60, 0.02)
    else:
        pg = PostgresServer().init()
        pg.start()
        cleanup.append(pg.remove)
        pg.execute("CREATE DATABASE bench_faults")
        env["AUTH_TYPE"] = "session_db_auth"
        env["DATABASE_URL"] = pg.url("bench_faults")
        env["RATELIMIT_STORAGE_URI"] = "memory://"

        def kill() -> None:
            pg.stop("immediate")
        restore = pg.start
    try:
        seed_users(folder, env, args.clients)
        argv = [benchlib.venv_tool("gunicorn"), "-w", str(args.workers),
                "-k", "sync", "--no-control-socket", "--pythonpath",
                benchlib.REPO, "api.v1.app:app"]
        server = benchlib.Server(name, argv, folder,
                                 benchlib.project_env(env),
                                 os.path.join(folder, "server.log"))
        server.start()
        cleanup.insert(0, server.stop)
        clients = [Client(server.base_url, i) for i in range(args.clients)]
        for client in clients:
            assert client.login() == 200, "login failed before the fault"
        if name == "sentinel_failover":
            group.master.client().execute_command("WAIT", 1, 2000)
        for client in clients:
            client.start()
        time.sleep(1)
        for client in clients:
            client.phase = "fault"
        killed = time.monotonic()
        kill()
        if name != "sentinel_failover":
            time.sleep(args.outage)
        restore()
        restored = time.monotonic()
        for client in clients:
            client.phase = "back"
        wait_until(lambda: all(c.back_at for c in clients), 60, 0.05)
        for client in clients:
            client.stop_at = 0
        for client in clients:
            client.join(timeout=15)
        after = Counter(client.login() for client in clients
                        for _ in range(args.after_logins))
        ends = [c.back_at for c in clients if c.back_at]
        fault = sum((c.tally.get("fault", Counter()) for c in clients),
                    Counter())
        back = sum((c.tally.get("back", Counter()) for c in clients),
                   Counter())
        log = open(server.log_path, errors="replace").read()
        return {
            "scenario": name,
            "store_down_s": round(restored - killed, 2),
            "window_s": round(max(ends) - restored, 2) if ends else None,
            "fault": dict(fault), "back": dict(back),
            "500s": fault[500] + back[500] + after[500],
            "sessions_lost": sum(c.lost for c in clients),
            "after_logins": dict(after), "429_after": after[429],
            "warnings": log.count("unavailable:"),
            "tracebacks": log.count("Traceback"),
        }
    finally:
        for step in cleanup:
            try:
                step()
            except Exception as exc:    # keep cleaning up
                print("cleanup:", exc, file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--outage", type=float, default=3.0)
    parser.add_argument("--after-logins", type=int, default=3)
    parser.add_argument("--only", nargs="*", choices=SCENARIOS)
    parser.add_argument("--markdown")
    args = parser.parse_args()
    rows: List[Tuple[str, ...]] = []
    for name in args.only or SCENARIOS:
        if name == "postgres_restart" and not postgres_available():
            print("skip postgres_restart: no PostgreSQL binaries")
            continue
        figures = run_scenario(name, args)
        print(figures, flush=True)
        rows.append(tuple(str(figures[key]) for key in (
            "scenario", "store_down_s", "window_s", "fault", "back", "500s",
            "sessions_lost", "429_after", "warnings")))
    text = ["| scenario | store away (s) | 503 window after its return (s) "
            "| answers while away | answers after its return | 500s "
            "| sessions lost | 429 after | store warnings |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    text += ["| " + " | ".join(row) + " |" for row in rows]
    text.append("")
    text.append(benchlib.machine_line())
    print("\n".join(text))
    benchlib.write_markdown(args.markdown, "\n".join(text) + "\n")


if __name__ == "__main__":
    main()
