#!/usr/bin/env python3
"""Brute-force limits on password checks (login and Basic auth).

Every attempt is counted atomically before its password is checked, in
two fixed windows of the `limits` library: one per account and client
address (`LOGIN_LIMIT_PER_ACCOUNT`, default 5 per minute) and one per
client address over every account (`LOGIN_LIMIT_PER_ADDRESS`, default 20
per minute). An attempt over either limit is refused with 429
`{"error": "Too many requests"}` and a `Retry-After` header, without a
password check, so a burst of parallel guesses gets at most the limit's
number of checks. A successful attempt gives its count back: only
failures use the budget.

The account limit is keyed by account *and* address, following the OWASP
Authentication Cheat Sheet's warning that a plain per-account lockout lets
an attacker lock the owner out: guesses from elsewhere never lock the
owner's own address, and a lock lasts at most one window. Counters live
where `RATELIMIT_STORAGE_URI` says, by default in the Redis of
`SESSION_STORE_URL` if there is one (shared by every worker and host),
else in this process's memory.
"""
import math
import time
from dataclasses import dataclass
from typing import List, Optional, Tuple

from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from api.v1.auth.events import email_digest, log_event
from api.v1.config import Settings
from models.emails import normalize_email
from models.store import StoreUnavailableError

TOO_MANY_REQUESTS = {"error": "Too many requests"}
_Hit = Tuple[RateLimitItem, Tuple[str, ...]]


class TooManyAttempts(TooManyRequests):
    """An attempt over a limit: 429 with `Retry-After` (seconds)."""


@dataclass(frozen=True)
class Attempt:
    """The counts one attempt took, to give back when it succeeds."""

    hits: Tuple[_Hit, ...]


class AttemptLimits:
    """The two limits on password checks, over one `limits` storage."""

    def __init__(self, settings: Settings) -> None:
        """Create the limits of `settings`; the storage connects lazily.

        Raises `ValueError` for a malformed limit string or storage URI.
        """
        self.storage_uri = settings.limits_storage_uri
        options = {"wrap_exceptions": True}
        if self.storage_uri.startswith(("redis", "unix")):
            options.update(socket_timeout=2, socket_connect_timeout=2)
        self.storage = storage_from_string(self.storage_uri, **options)
        self.strategy = FixedWindowRateLimiter(self.storage)
        self.per_account = parse(settings.login_limit_per_account)
        self.per_address = parse(settings.login_limit_per_address)

    def attempt(self, email: Optional[str], address: Optional[str]) -> \
            Attempt:
        """Count one attempt for `email` from `address`, before any check.

        Raises `TooManyAttempts` when either limit is spent (the counts
        this attempt took are given back first), and
        `StoreUnavailableError` when the counters' storage is down.
        """
        account = normalize_email(email) or ""
        address = address or "-"
        wanted: List[_Hit] = [
            (self.per_address, ("auth-address", address)),
            (self.per_account, ("auth-account", account, address))]
        taken: List[_Hit] = []
        try:
            for item, keys in wanted:
                if not self.strategy.hit(item, *keys):
                    self._give_back(taken)
                    log_event("limited", email=email_digest(email),
                              limit=keys[0].replace("auth-", "per_"))
                    raise TooManyAttempts(
                        retry_after=self._retry_after(item, keys))
                taken.append((item, keys))
        except StorageError as exc:
            raise StoreUnavailableError(
                "the rate-limit storage cannot be reached") from exc
        return Attempt(tuple(taken))

    def succeeded(self, attempt: Attempt) -> None:
        """Give back the counts of a successful attempt."""
        try:
            self._give_back(list(attempt.hits))
        except StorageError as exc:
            raise StoreUnavailableError(
                "the rate-limit storage cannot be reached") from exc

    def _give_back(self, hits: List[_Hit]) -> None:
        """Undo one count of each of `hits`."""
        for item, keys in hits:
            self.strategy.hit(item, *keys, cost=-1)

    def _retry_after(self, item: RateLimitItem,
                     keys: Tuple[str, ...]) -> int:
        """Return the whole seconds until the window of `item` resets."""
        reset_at = self.strategy.get_window_stats(item, *keys).reset_time
        return max(1, math.ceil(reset_at - time.time()))

    def reset(self) -> None:
        """Forget every count of the storage."""
        self.storage.reset()
