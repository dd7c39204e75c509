#!/usr/bin/env python3
"""The cost of the metrics: worker CPU per `/api/v1/status`, on and off.

Starts one gunicorn master with 1 sync worker (the repository's
`gunicorn.conf.py`) per setting, `METRICS_ENABLED=0` and `=1`, in
alternating rounds; each round sends `--requests` requests to
`/api/v1/status` from one client thread and reads the worker's CPU time
(user + system, from /proc) before and after. CPU time per request is
the figure: on a shared machine it moves far less than throughput does.
Prints the median microseconds per request of each setting and the
overhead of the metrics in percent.

    .venv/bin/python bench/bench_metrics.py [--rounds 5] [--requests 3000]
"""
import argparse
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

REPO = Path(__file__).resolve().parent.parent
GUNICORN = REPO / ".venv" / "bin" / "gunicorn"
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds of process `pid`."""
    fields = Path("/proc/{}/stat".format(pid)).read_text().rsplit(
        ")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def children(pid: int) -> List[int]:
    """Return the pids of the children of `pid` (the workers)."""
    found = []
    for task in Path("/proc/{}/task".format(pid)).iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def get(port: int) -> int:
    """Send one `GET /api/v1/status` on a new connection; return status."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/api/v1/status")
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def one_round(metrics: bool, requests: int) -> float:
    """Return the worker's CPU microseconds per request for one server."""
    port = free_port()
    env = dict(os.environ, METRICS_ENABLED="1" if metrics else "0",
               PYTHONPATH=str(REPO))
    env.pop("AUTH_TYPE", None)
    with tempfile.TemporaryDirectory() as folder:
        proc = subprocess.Popen(
            [str(GUNICORN), "--config", str(REPO / "gunicorn.conf.py"),
             "-w", "1", "-b", "127.0.0.1:{}".format(port),
             "--access-logfile", "/dev/null", "api.v1.app:app"],
            cwd=folder, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    get(port)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("gunicorn did not start")
                    time.sleep(0.05)
            worker = children(proc.pid)[0]
            for _ in range(200):
                get(port)
            before = cpu_seconds(worker)
            for _ in range(requests):
                get(port)
            return (cpu_seconds(worker) - before) / requests * 1e6
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def main() -> None:
    """Run the rounds and print the medians and the overhead."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    results: Dict[bool, List[float]] = {False: [], True: []}
    ratios: List[float] = []
    for number in range(args.rounds):
        pair: Tuple[bool, bool] = ((False, True) if number % 2 == 0
                                   else (True, False))
        figures = {setting: one_round(setting, args.requests)
                   for setting in pair}
        for setting, figure in figures.items():
            results[setting].append(figure)
        ratios.append(figures[True] / figures[False])
        print("round {}: off {:.1f} us, on {:.1f} us".format(
            number + 1, figures[False], figures[True]), file=sys.stderr)
    off, on = (statistics.median(results[False]),
               statistics.median(results[True]))
    print("worker CPU per GET /api/v1/status: metrics off {:.1f} us, on "
          "{:.1f} us; median per-round overhead {:+.1f}%".format(
              off, on, (statistics.median(ratios) - 1) * 100))


if __name__ == "__main__":
    main()
