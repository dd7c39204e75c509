#!/usr/bin/env python3
"""Login throttle: limits on login attempts per email and per address.

Brute-force defence for `POST /sessions` (OWASP Authentication Cheat Sheet,
"Protect against automated attacks"; OWASP ASVS 2.2.1). By default an email
gets 5 failed logins and a client address 20 in each fixed one-minute
window. An attempt is counted before its password is checked, so a burst of
parallel guesses gets no more bcrypt checks than the limit; a successful
login gives its count back, so only failures use the limit up. The counters
are the `limits` library's, kept in the memory of this process.
"""
import math
import threading
import time
from typing import List, Optional, Tuple

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

LOGIN_LIMIT_PER_EMAIL = "5/minute"
LOGIN_LIMIT_PER_ADDRESS = "20/minute"


def email_key(email: Optional[str]) -> str:
    """Return the counter name of `email`: stripped and lower-cased.

    `email` is a str or None (None counts as the empty email), so that
    `Bob@Me.com ` and `bob@me.com` share one limit.
    """
    return "email:" + (email or "").strip().lower()


class LoginThrottle:
    """Counts login attempts per email and per client address.

    Limits are `limits` strings such as `5/minute`. Thread-safe: one lock
    makes check-and-count a single step for both counters.
    """

    def __init__(self, per_email: str = LOGIN_LIMIT_PER_EMAIL,
                 per_address: str = LOGIN_LIMIT_PER_ADDRESS) -> None:
        """Start with empty counters for the two limits.

        `per_email` and `per_address` are strings in the `limits` syntax,
        such as `20/minute`. Raises `ValueError` for a string that does not
        parse.
        """
        self._storage = MemoryStorage()
        self._limiter = FixedWindowRateLimiter(self._storage)
        self._per_email = parse(per_email)
        self._per_address = parse(per_address)
        self._lock = threading.Lock()

    def _counters(self, email: Optional[str],
                  address: Optional[str]) -> List[Tuple[RateLimitItem, str]]:
        """Return the (limit, counter name) pairs an attempt counts in."""
        return [(self._per_email, email_key(email)),
                (self._per_address, "address:" + (address or "unknown"))]

    def acquire(self, email: Optional[str], address: Optional[str]) -> int:
        """Count one login attempt for `email` from `address`, if allowed.

        `email` is the login's email (str or None), `address` the client's
        IP address (str or None). Returns 0 when the attempt may go on and
        has been counted in both limits. Otherwise returns the seconds (an
        int, at least 1) until the exhausted limits' windows end, and
        counts nothing: a refused attempt checks no password.
        """
        counters = self._counters(email, address)
        with self._lock:
            waits = [self._seconds_to_reset(item, key)
                     for item, key in counters
                     if not self._limiter.test(item, key)]
            if waits:
                return max(waits)
            for item, key in counters:
                self._limiter.hit(item, key)
        return 0

    def refund(self, email: Optional[str], address: Optional[str]) -> None:
        """Give back the count of an attempt that `acquire` allowed.

        Call it after a successful login, with the same `email` and
        `address`, so that only failures count. Returns None.
        """
        with self._lock:
            for item, key in self._counters(email, address):
                self._storage.decr(item.key_for(key))

    def _seconds_to_reset(self, item: RateLimitItem, key: str) -> int:
        """Return the whole seconds (at least 1) until `key`'s window ends."""
        reset_at = self._limiter.get_window_stats(item, key).reset_time
        return max(1, math.ceil(reset_at - time.time()))
