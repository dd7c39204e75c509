"""Private Redis and PostgreSQL servers for fault tests and the benchmark.

Each server runs on 127.0.0.1 and a free port, from a temporary folder,
and is stopped by its PID: the shared servers (6379, 5432) are never
touched. PostgreSQL runs as the `postgres` OS user when this process is
root (initdb refuses root).
"""
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import Callable, List, Optional

import redis


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float = 10,
               step: float = 0.02) -> bool:
    """Poll `predicate` until it is true; return False after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:
            pass
        time.sleep(step)
    return False


class RedisServer:
    """A private redis-server (no persistence unless `args` ask)."""

    def __init__(self, folder: str, port: Optional[int] = None,
                 args: Optional[List[str]] = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.args = list(args or [])
        self.proc: Optional[subprocess.Popen] = None
        os.makedirs(folder, exist_ok=True)

    @property
    def url(self) -> str:
        return "redis://127.0.0.1:{}/0".format(self.port)

    def client(self, **options) -> redis.Redis:
        options.setdefault("socket_timeout", 2)
        return redis.Redis(host="127.0.0.1", port=self.port,
                           decode_responses=True, **options)

    def start(self, extra: Optional[List[str]] = None) -> "RedisServer":
        argv = ["redis-server", "--port", str(self.port), "--bind",
                "127.0.0.1", "--dir", self.folder, "--save", "",
                "--appendonly", "no", "--protected-mode", "no"]
        argv += self.args + list(extra or [])
        log = open(os.path.join(self.folder, "redis.log"), "a")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log)
        log.close()
        assert wait_until(lambda: self.client(socket_timeout=0.5).ping()), \
            "redis-server did not start on {}".format(self.port)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.resume()
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None

    def pause(self) -> None:
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)


class SentinelGroup:
    """A master, a replica and one Sentinel (quorum 1, down after 1 s)."""

    SERVICE = "mymaster"

    def __init__(self, folder: str) -> None:
        self.master = RedisServer(os.path.join(folder, "master"))
        self.replica = RedisServer(os.path.join(folder, "replica"))
        self.sentinel_port = free_port()
        self.folder = folder
        self.sentinel: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return "redis+sentinel://127.0.0.1:{}/{}".format(
            self.sentinel_port, self.SERVICE)

    def start(self) -> "SentinelGroup":
        self.master.start()
        self.replica.start(["--replicaof", "127.0.0.1",
                            str(self.master.port)])
        conf = os.path.join(self.folder, "sentinel.conf")
        with open(conf, "w") as out:
            out.write("port {}\nbind 127.0.0.1\nprotected-mode no\n"
                      "dir {}\n"
                      "sentinel monitor {} 127.0.0.1 {} 1\n"
                      "sentinel down-after-milliseconds {} 1000\n"
                      "sentinel failover-timeout {} 5000\n".format(
                          self.sentinel_port, self.folder, self.SERVICE,
                          self.master.port, self.SERVICE, self.SERVICE))
        log = open(os.path.join(self.folder, "sentinel.log"), "a")
        self.sentinel = subprocess.Popen(
            ["redis-server", conf, "--sentinel"], stdout=log, stderr=log)
        log.close()
        client = redis.Redis(host="127.0.0.1", port=self.sentinel_port,
                             decode_responses=True, socket_timeout=1)
        assert wait_until(lambda: client.sentinel_get_master_addr_by_name(
            self.SERVICE) is not None and self.replica_synced())
        assert wait_until(lambda: len(client.sentinel_slaves(
            self.SERVICE)) == 1, timeout=15)
        return self

    def replica_synced(self) -> bool:
        info = self.replica.client().info("replication")
        return info.get("master_link_status") == "up"

    def master_port(self) -> int:
        client = redis.Redis(host="127.0.0.1", port=self.sentinel_port,
                             decode_responses=True, socket_timeout=1)
        return int(client.sentinel_get_master_addr_by_name(
            self.SERVICE)[1])

    def stop(self) -> None:
        if self.sentinel is not None and self.sentinel.poll() is None:
            self.sentinel.kill()
            self.sentinel.wait(timeout=10)
        self.master.stop()
        self.replica.stop()


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name))
    if not found:
        raise FileNotFoundError(name)
    return found[-1]


def postgres_available() -> bool:
    """Return True if initdb can be run here."""
    try:
        _pg_bin("initdb")
    except FileNotFoundError:
        return False
    return os.geteuid() != 0 or shutil.which("runuser") is not None


class PostgresServer:
    """A private PostgreSQL cluster in a temporary folder (trust auth)."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="faults-pg-")
        self.data = os.path.join(self.folder, "data")
        self.port = free_port()
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")

    def _run(self, argv: List[str], timeout: float = 60
             ) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        return subprocess.run(argv, capture_output=True, text=True,
                              timeout=timeout, cwd=self.folder)

    def init(self) -> "PostgresServer":
        done = self._run([_pg_bin("initdb"), "-D", self.data, "-A", "trust",
                          "-U", "postgres", "--no-sync", "-E", "UTF8"])
        assert done.returncode == 0, done.stderr
        return self

    def start(self) -> None:
        options = ("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off"
                   .format(self.port, self.folder))
        done = self._run([_pg_bin("pg_ctl"), "-D", self.data, "-o", options,
                          "-l", os.path.join(self.folder, "pg.log"), "-w",
                          "-t", "30", "start"])
        assert done.returncode == 0, done.stdout + done.stderr

    def stop(self, mode: str = "fast") -> None:
        self._run([_pg_bin("pg_ctl"), "-D", self.data, "-m", mode, "-w",
                   "stop"])

    def url(self, database: str = "postgres") -> str:
        return "postgresql://postgres@127.0.0.1:{}/{}".format(
            self.port, database)

    def execute(self, sql: str) -> None:
        import psycopg
        with psycopg.connect(self.url(), autocommit=True,
                             connect_timeout=3) as connection:
            connection.execute(sql)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)
