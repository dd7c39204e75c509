#!/usr/bin/env python3
"""The state of each store in this process: a circuit breaker and its log.

account-security §8: a store (`records`, `sessions`, `limits`) that
cannot serve answers 503; its loss is logged once per process and role at
WARNING with the driver's error class and first line, its return once at
INFO, never one line per request. After a timeout or a refused
connection (a "trip") the breaker stays open for `STORE_RETRY_SECONDS`:
calls fail at once without touching the network, so a hung server costs
each worker at most one `STORE_TIMEOUT_SECONDS` per retry period (the
circuit breaker pattern, Nygard, "Release It!", ch. 5). Errors that
answer quickly (Redis `READONLY`, `OOM`) are logged the same way but do
not open the breaker: the server is there, the next call may succeed.

The logger is `api.stores` (under `api`, so that gunicorn's log, which
`gunicorn.conf.py` gives to the `api` logger, shows these lines).
"""
import logging
import threading
import time
from typing import Any, Callable, Dict, Optional

from models.store import StoreUnavailableError

ROLES = ("records", "sessions", "limits")
DEFAULT_RETRY_SECONDS = 2.0
TRIP = "trip"
FAIL = "fail"
logger = logging.getLogger("api.stores")


def describe(exc: BaseException) -> str:
    """Return `Class: first line` of the innermost driver error of `exc`.

    A `StoreUnavailableError` or a wrapper (SQLAlchemy, `limits`) is
    followed down its `__cause__` to the driver's own error, such as
    `ReadOnlyError: You can't write against a read only replica.`.
    """
    seen = 0
    while exc.__cause__ is not None and seen < 8:
        exc = exc.__cause__
        seen += 1
    orig = getattr(exc, "orig", None)
    if isinstance(orig, BaseException):
        exc = orig
    text = str(exc).strip().splitlines()
    return "{}: {}".format(type(exc).__name__, text[0] if text else "")


class StoreBreaker:
    """The availability of one store role in this process.

    Thread-safe; the clock is `time.monotonic` (seconds) unless a test
    passes another.
    """

    def __init__(self, role: str, retry_seconds: float = DEFAULT_RETRY_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """Create a closed breaker for `role` (one of `ROLES`)."""
        self.role = role
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self.down: Optional[str] = None
        """The description of the error that took the store down, or
        None while it serves."""
        self.open_until = 0.0
        self.failed_at = 0.0

    @property
    def available(self) -> bool:
        """Return True unless the last call to this store failed."""
        return self.down is None

    def check(self) -> None:
        """Raise `StoreUnavailableError` while the breaker is open."""
        if self.open_until and self._clock() < self.open_until:
            raise StoreUnavailableError(
                "the {} store is unavailable ({}); retrying in at most "
                "{:g} s".format(self.role, self.down, self.retry_seconds))

    def failed(self, exc: BaseException, trip: bool) -> None:
        """Record a failure `exc`; open the breaker if `trip` is True.

        Logs one WARNING when the store goes from serving to failing;
        later failures log nothing until it is back.
        """
        cause = describe(exc)
        with self._lock:
            changed = self.down is None
            self.down = cause
            self.failed_at = self._clock()
            if trip:
                self.open_until = self._clock() + self.retry_seconds
        if changed:
            logger.warning("store %s unavailable: %s; requests that need "
                           "it answer 503", self.role, cause)

    def succeeded(self) -> None:
        """Record a success; log one INFO line if the store was down.

        A store counts as back only once a call succeeds
        `retry_seconds` after the last failure: a read-only server
        serves reads between refused writes, and must not be logged as
        lost and back at each request.
        """
        if self.down is None or \
                self._clock() - self.failed_at < self.retry_seconds:
            return
        with self._lock:
            was, self.down, self.open_until = self.down, None, 0.0
        if was is not None:
            logger.info("store %s is back", self.role)

    def call(self, work: Callable[[], Any],
             classify: Callable[[BaseException], Optional[str]]) -> Any:
        """Run `work()` through the breaker; return its result.

        `classify(exc)` names what an exception means: `TRIP` (a timeout
        or a refused connection: record it and open the breaker), `FAIL`
        (the store answers but cannot serve now: record it), or None (not
        an outage: the exception passes unchanged). A recorded failure is
        re-raised as `StoreUnavailableError`. Raises
        `StoreUnavailableError` at once while the breaker is open.
        """
        self.check()
        try:
            result = work()
        except Exception as exc:
            kind = classify(exc)
            if kind is None:
                raise
            self.failed(exc, kind == TRIP)
            raise StoreUnavailableError("the {} store cannot serve: {}"
                                        .format(self.role,
                                                describe(exc))) from exc
        self.succeeded()
        return result


_breakers: Dict[str, StoreBreaker] = {}
_retry_seconds = [DEFAULT_RETRY_SECONDS]


def configure(retry_seconds: float) -> None:
    """Set `STORE_RETRY_SECONDS` (seconds) for every breaker of this
    process."""
    _retry_seconds[0] = retry_seconds
    for item in _breakers.values():
        item.retry_seconds = retry_seconds


def breaker(role: str) -> StoreBreaker:
    """Return this process's breaker of `role`, made on first use."""
    found = _breakers.get(role)
    if found is None:
        found = _breakers.setdefault(
            role, StoreBreaker(role, _retry_seconds[0]))
    return found


def reset() -> None:
    """Close every breaker and forget its state (for tests)."""
    _breakers.clear()
