"""Metrics summed over gunicorn workers (account-security §6.2).

gunicorn runs with the repository's `gunicorn.conf.py`, which gives the
workers one folder of metric files (prometheus-client multiprocess mode).
"""
import os
import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import requests

from conftest import free_port, server_env
from test_gunicorn import CONFIG, GUNICORN, Gunicorn, wait_for

STATUS_SERIES = re.compile(
    r'^http_requests_total\{method="GET",route="/api/v1/status",'
    r'status="200"\} (\S+)$', re.M)


@contextmanager
def gunicorn(cwd, workers, env, extra=()):
    """Run gunicorn with the repository's config; stop it by pid after.

    Like `test_gunicorn.gunicorn`, but a slow first answer of a busy
    machine (a read timeout) is waited out rather than fatal.
    """
    port = free_port()
    child_env = server_env(env)
    del child_env["PYTHONPATH"]
    stem = "{}-gunicorn-{}".format(cwd.name, port)
    out, err = cwd.parent / (stem + ".out"), cwd.parent / (stem + ".err")
    argv = [str(GUNICORN), "--config", str(CONFIG), "-w", str(workers),
            "-b", "127.0.0.1:{}".format(port)] + list(extra) + [
        "api.v1.app:app"]
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = subprocess.Popen(argv, cwd=cwd, env=child_env,
                                stdout=stdout, stderr=stderr)
    server = Gunicorn(proc, "http://127.0.0.1:{}".format(port), out, err)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, server.stderr()
            try:
                if requests.get(server.url + "/api/v1/status",
                                timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, server.stderr()
            time.sleep(0.05)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def status_count(url, headers=None):
    """Return the summed count of `GET /api/v1/status` answers."""
    response = requests.get(url + "/metrics", headers=headers or {},
                            timeout=10)
    assert response.status_code == 200, response.text
    match = STATUS_SERIES.search(response.text)
    return float(match.group(1)) if match else 0.0


def hit_status(url, count):
    """Send `count` `GET /api/v1/status` from 8 threads; check each."""
    def one(_):
        return requests.get(url + "/api/v1/status", timeout=10).status_code
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(one, range(count))) == {200}


def test_counters_are_summed_over_4_workers(workdir):
    stale = workdir / "metrics"
    stale.mkdir()
    (stale / "counter_999999.db").write_bytes(b"left by an old server")
    env = {"METRICS_ENABLED": "1", "METRICS_TOKEN": "scrape-me",
           "PROMETHEUS_MULTIPROC_DIR": str(stale)}
    auth = {"Authorization": "Bearer scrape-me"}
    with gunicorn(workdir, 4, env, extra=["--access-logformat",
                                          "%(p)s %(s)s"]) as server:
        assert not (stale / "counter_999999.db").exists()
        assert requests.get(server.url + "/metrics",
                            timeout=10).status_code == 401
        before = status_count(server.url, auth)
        hit_status(server.url, 200)
        assert status_count(server.url, auth) == before + 200
        pids = {line.split()[0] for line in server.stdout().splitlines()
                if line.endswith(" 200")}
        assert len(pids) >= 2, "the requests reached one worker only"
        # A worker that dies keeps its counts in the sums.
        victim = server.workers()[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: victim not in server.workers()
                 and len(server.workers()) == 4, what="a new worker")
        assert status_count(server.url, auth) == before + 200
        hit_status(server.url, 50)
        assert status_count(server.url, auth) == before + 250


def test_own_folder_is_removed_at_exit(workdir, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("tmp")
    env = {"METRICS_ENABLED": "1", "TMPDIR": str(scratch)}
    with gunicorn(workdir, 2, env) as server:
        hit_status(server.url, 10)
        assert status_count(server.url) >= 10
        folders = list(scratch.iterdir())
        assert len(folders) == 1 and any(folders[0].iterdir())
    assert list(scratch.iterdir()) == []
