#!/usr/bin/env python3
"""Throttle: limits on login attempts and registrations.

Brute-force and resource-exhaustion defence (OWASP Authentication Cheat
Sheet, "Protect against automated attacks"; OWASP ASVS 2.2.1). A login
attempt counts in up to three fixed windows of the `limits` library:

* per (email, client address), 5 a minute: guesses from one address never
  lock the owner out of another one;
* per client address over every email, 20 a minute;
* per existing account over every address, 50 an hour; an email that
  names no account (another case of a real one included, since emails
  match exactly) never counts here, so it cannot spend a real account's
  budget.

`POST /users` counts 10 a minute per client address. Every attempt is
counted before its bcrypt work, so a burst gets no more bcrypt runs than
the limit; a successful login gives its counts back, so only failures use
a login budget up. The counters live where `RATELIMIT_STORAGE_URI` says
(Redis shares them between processes), by default in this process's
memory. Emails are counted by their SHA-256, never stored in the clear.
"""
import hashlib
import math
import time
from typing import List, NamedTuple, Optional, Tuple

from limits import RateLimitItem, parse
from limits.errors import ConfigurationError, StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

_Hit = Tuple[RateLimitItem, Tuple[str, ...]]


class CountersUnavailable(Exception):
    """The counters' storage (Redis) cannot be reached right now."""


class Counted(NamedTuple):
    """The result of counting one attempt.

    `retry_after` is 0 when the attempt may go on, else the whole seconds
    (at least 1) until the exhausted window ends. `hits` are the counts
    the attempt holds (empty when refused), for `Throttle.refund`.
    """

    retry_after: int
    hits: Tuple[_Hit, ...] = ()


def _digest(email: Optional[str]) -> str:
    """Return the hex SHA-256 of `email` (a str, or None as empty).

    Exact, not case-folded: the service looks emails up exactly, so
    `Bob@me.com` and `bob@me.com` are different names.
    """
    data = (email or "").encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


class Throttle:
    """The service's counters, over one `limits` storage.

    Thread- and process-safe: every count is one atomic increment of the
    storage, and a refused attempt gives back what it took.
    """

    def __init__(self, storage_uri: str = "memory://",
                 per_email_address: str = "5/minute",
                 per_address: str = "20/minute",
                 per_account: str = "50/hour",
                 registrations_per_address: str = "10/minute") -> None:
        """Create the limits over the storage of `storage_uri`.

        `storage_uri` is a `limits` URI (`memory://`, `redis://host:6379/0`);
        Redis connects lazily, with 2-second timeouts. The other arguments
        are `limits` strings such as `5/minute`. Raises `ValueError` for an
        unknown storage scheme or a limit string that does not parse.
        """
        options = {"wrap_exceptions": True}
        if storage_uri.startswith(("redis", "unix")):
            options.update(socket_timeout=2, socket_connect_timeout=2)
        try:
            storage = storage_from_string(storage_uri, **options)
        except ConfigurationError as exc:
            # Only the scheme: the URI may carry a password.
            raise ValueError(
                "RATELIMIT_STORAGE_URI (scheme {!r}) is not usable: {}".format(
                    storage_uri.partition(":")[0],
                    str(exc).replace(storage_uri, "<the URI>"))) from exc
        self._limiter = FixedWindowRateLimiter(storage)
        self._per_email_address = parse(per_email_address)
        self._per_address = parse(per_address)
        self._per_account = parse(per_account)
        self._registrations = parse(registrations_per_address)

    def login(self, email: Optional[str], address: Optional[str],
              account_exists: bool) -> Counted:
        """Count one login attempt for `email` from `address`.

        `email` is the login's email as typed, `address` the client's IP
        address (None when unknown), `account_exists` True when `email`
        names an account exactly. Raises `CountersUnavailable` when the
        storage is down.
        """
        where = address or "unknown"
        wanted = [(self._per_address, ("uas-login-address", where)),
                  (self._per_email_address,
                   ("uas-login", _digest(email), where))]
        if account_exists:
            wanted.append((self._per_account,
                           ("uas-login-account", _digest(email))))
        return self._take(wanted)

    def registration(self, address: Optional[str]) -> Counted:
        """Count one registration from `address` (None when unknown).

        Raises `CountersUnavailable` when the storage is down.
        """
        return self._take([(self._registrations,
                            ("uas-register", address or "unknown"))])

    def refund(self, counted: Counted) -> None:
        """Give back the counts of an attempt that succeeded.

        Raises `CountersUnavailable` when the storage is down.
        """
        try:
            self._give_back(list(counted.hits))
        except StorageError as exc:
            raise CountersUnavailable(str(exc)) from exc

    def _take(self, wanted: List[_Hit]) -> Counted:
        """Count one in each of `wanted`, or nothing if one is spent."""
        taken: List[_Hit] = []
        try:
            for item, keys in wanted:
                if not self._limiter.hit(item, *keys):
                    # The refused hit itself is given back with the rest.
                    self._give_back(taken + [(item, keys)])
                    return Counted(self._retry_after(item, keys))
                taken.append((item, keys))
        except StorageError as exc:
            raise CountersUnavailable(str(exc)) from exc
        return Counted(0, tuple(taken))

    def _give_back(self, hits: List[_Hit]) -> None:
        """Undo one count of each of `hits`."""
        for item, keys in hits:
            self._limiter.hit(item, *keys, cost=-1)

    def _retry_after(self, item: RateLimitItem,
                     keys: Tuple[str, ...]) -> int:
        """Return the whole seconds (at least 1) until `keys`'s window ends."""
        reset_at = self._limiter.get_window_stats(item, *keys).reset_time
        return max(1, math.ceil(reset_at - time.time()))
