#!/usr/bin/env python3
"""Readiness checks of the stores in use (account-security §6.1, §8).

One check per store role in use: `records` (`DATABASE_URL`, or the JSON
files of the working directory), `sessions` (the Redis of
`SESSION_STORE_URL`) and `limits` (the `limits` storage, when it is not
process memory), even when two roles share one server. Each check goes
through its role's breaker (`models.store_health`), so a failure is
logged once per change of state, and an open breaker answers at once.

The checks of one call run side by side in a small thread pool and are
waited for at most `DEADLINE_SECONDS` (1 s) in all: a hung server cannot
stall the probe (a PostgreSQL connect may take libpq's 2 s; its check
then counts as unavailable and finishes in the background). A check still
running from an earlier call is not started again. Results are reused
for `CACHE_SECONDS`, well within the spec's 5 s.
"""
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Dict, Optional

from models import base
from models.store_health import breaker

DEADLINE_SECONDS = 1.0
CACHE_SECONDS = 1.0
OK = "ok"
UNAVAILABLE = "unavailable"
Check = Callable[[], bool]


def _records_check() -> bool:
    """Return True if the record store serves now.

    A database answers `SELECT 1`; the JSON files need a working
    directory this process can read and write.
    """
    store = base.get_store()
    ping = getattr(store, "ping", None)
    if ping is not None:
        return bool(ping())
    return os.access(os.getcwd(), os.R_OK | os.W_OK)


class HealthChecks:
    """The readiness checks of one app, by role."""

    def __init__(self, checks: Dict[str, Check]) -> None:
        """Keep `checks`: role name to a function that returns True when
        the store serves (it may raise, which counts as unavailable)."""
        self.checks = checks
        self._lock = threading.Lock()
        self._pool: Optional[ThreadPoolExecutor] = None
        self._pool_pid = 0
        self._running: Dict[str, Future] = {}
        self._last: Optional[Dict[str, str]] = None
        self._last_at = 0.0

    @classmethod
    def for_app(cls, settings: Any, flows: Any, limits: Any
                ) -> "HealthChecks":
        """Return the checks of the stores that `settings` puts in use.

        `flows` is the app's flow store (its Redis client serves the
        `sessions` check), `limits` its `AttemptLimits`.
        """
        checks: Dict[str, Check] = {"records": _records_check}
        client = getattr(flows, "client", None)
        if settings.session_store_url and client is not None:
            call = flows._call
            checks["sessions"] = lambda: bool(call(
                lambda: _accepts_writes(client)))
        if limits is not None and limits.shared:
            checks["limits"] = limits.check
        return cls(checks)

    def _executor(self) -> ThreadPoolExecutor:
        """Return this process's pool (a new one after a fork)."""
        if self._pool is None or self._pool_pid != os.getpid():
            self._pool = ThreadPoolExecutor(
                max_workers=max(1, len(self.checks)),
                thread_name_prefix="health")
            self._pool_pid = os.getpid()
            self._running = {}
        return self._pool

    def results(self) -> Dict[str, str]:
        """Return `{role: "ok" | "unavailable"}` from a recent check.

        Takes at most about `DEADLINE_SECONDS`.
        """
        with self._lock:
            if self._last is not None and \
                    time.monotonic() - self._last_at < CACHE_SECONDS:
                return dict(self._last)
            pool = self._executor()
            futures = {}
            for role, check in self.checks.items():
                running = self._running.get(role)
                if running is None or running.done():
                    running = pool.submit(self._safe, role, check)
                    self._running[role] = running
                futures[role] = running
            wait(list(futures.values()), timeout=DEADLINE_SECONDS)
            results = {role: OK if future.done() and future.result()
                       else UNAVAILABLE
                       for role, future in futures.items()}
            self._last, self._last_at = results, time.monotonic()
            return dict(results)

    @staticmethod
    def _safe(role: str, check: Check) -> bool:
        """Run `check`; any error (logged by the role's breaker) is
        False. An open breaker answers False without a check."""
        if not breaker(role).available and breaker(role).open_until \
                and time.monotonic() < breaker(role).open_until:
            return False
        try:
            return bool(check())
        except Exception:  # a check must answer, whatever the driver does
            return False


def _accepts_writes(client: Any) -> bool:
    """Return True if the Redis behind `client` is a master.

    A `PING` is answered by a replica too, which refuses every write
    (`READONLY`, §8.1): after a failover that left this process on the
    old master, logins answer 503 while a `PING` would say ready. `ROLE`
    tells them apart in one round trip, without writing.
    """
    role = client.execute_command("ROLE")[0]
    if isinstance(role, bytes):
        role = role.decode("ascii", "replace")
    return role == "master"
