#!/usr/bin/env python3
"""Brute-force limits on password checks (login, Basic auth, later steps).

Every attempt is counted atomically before its password is checked, so a
burst of parallel guesses gets at most the limit's number of checks, and
a successful attempt gives its counts back: only failures use the budget.
Three limits (account-security §3):

* per account and client address (`LOGIN_LIMIT_PER_ACCOUNT`, default 5
  per minute), and per client address over every account
  (`LOGIN_LIMIT_PER_ADDRESS`, default 20 per minute), in fixed windows of
  the `limits` library: where `RATELIMIT_STORAGE_URI` says, by default
  the Redis of `SESSION_STORE_URL` if there is one, else this process's
  memory;
* account-wide (`LOGIN_LIMIT_ACCOUNT_WIDE`, default 50 per hour): failed
  checks against one existing account, summed over every address, from
  clients that present no valid device cookie of that account (OWASP
  "Slow Down Online Guessing Attacks with Device Cookies"). It lives in
  the flow store (Redis, the database or the JSON files), so every worker
  and host shares it. A client with a valid device cookie of the account
  is not subject to it: an attacker spending the account-wide budget
  cannot lock the owner out of a device it has logged in from before.

An attempt over a limit is refused with 429 `{"error": "Too many
requests"}` and `Retry-After` (whole seconds until the window frees a
slot, at least 1), without a password check. An IPv6 client is keyed by
its /64 prefix for every limit, since one client holds the whole /64.
Accounts are named in the counters' keys by a keyed hash (HMAC-SHA256
under `SECRET_KEY`), never by their email.

An attempt that could not be checked is not counted (account-security
§8.1): every attempt counted during a request is remembered on the
request (`flask.g`) until `succeeded` settles it, and when the request
ends in 503 the app calls `forgive_pending`, which gives its counts back,
so a store outage locks nobody out afterwards. Calls to the `limits`
storage go through the `limits` breaker of `models.store_health`.
"""
import hashlib
import hmac
import ipaddress
import math
import time
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

from flask import g, has_request_context
from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from api.v1.auth.events import email_digest, log_event
from api.v1.auth.stores.redis_client import classify, limits_options
from models.emails import normalize_email
from models.settings import Settings
from models.store import StoreUnavailableError
from models.store_health import TRIP, breaker

TOO_MANY_REQUESTS = {"error": "Too many requests"}
ACCOUNT_WIDE = "auth-account-wide"
_DEFAULT_KEY = b"session-api limits: set SECRET_KEY"
_Hit = Tuple[RateLimitItem, Tuple[str, ...]]
_PENDING = "_counted_attempts"


def _storage_outage(exc: BaseException) -> Optional[str]:
    """Return what a `limits` storage error means for the breaker.

    The storage wraps the driver's error in `StorageError`; the driver's
    error decides (`redis_client.classify`), and an unknown one counts as
    a lost connection.
    """
    if not isinstance(exc, StorageError):
        return None
    inner = getattr(exc, "storage_error", None) or exc.__cause__
    return (classify(inner) if inner is not None else None) or TRIP


class TooManyAttempts(TooManyRequests):
    """An attempt over a limit: 429 with `Retry-After` (seconds)."""


@dataclass(frozen=True)
class Attempt:
    """The counts one attempt took, to give back when it succeeds.

    `hits` are the `limits` windows; `account_wide` is the flow-store
    counter key of the account-wide limit, or None when it was not
    counted.
    """

    hits: Tuple[_Hit, ...]
    account_wide: Optional[str] = None


def client_key(address: Optional[str]) -> str:
    """Return the key of a client address: IPv6 by its /64 prefix.

    An IPv4 address (also when mapped into IPv6) is kept whole; text that
    is no address is kept as it is, and None gives `-`.
    """
    if not address:
        return "-"
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6:
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network((parsed, 64), strict=False))
    return str(parsed)


class AttemptLimits:
    """The limits on password checks, over one `limits` storage and the
    flow store."""

    def __init__(self, settings: Settings, flows: Any = None) -> None:
        """Create the limits of `settings`; the storage connects lazily.

        `flows` is the flow store of the account-wide counters (None: no
        account-wide limit, as outside an app). Raises `ValueError` for a
        malformed limit string or storage URI.
        """
        self.storage_uri = settings.limits_storage_uri
        options = {"wrap_exceptions": True}
        options.update(limits_options(self.storage_uri,
                                      settings.store_timeout_seconds))
        self.storage = storage_from_string(self.storage_uri, **options)
        self.strategy = FixedWindowRateLimiter(self.storage)
        self.shared = not self.storage_uri.startswith("memory://")
        self.per_account = parse(settings.login_limit_per_account)
        self.per_address = parse(settings.login_limit_per_address)
        self.account_wide = parse(settings.login_limit_account_wide)
        self.flows = flows
        self._key = (settings.secret_key or "").encode() or _DEFAULT_KEY

    def account_name(self, email: Optional[str]) -> str:
        """Return the keyed hash that names the account `email` in keys."""
        account = (normalize_email(email) or "").encode("utf-8",
                                                        "surrogatepass")
        return hmac.new(self._key, account, hashlib.sha256).hexdigest()[:32]

    def attempt(self, email: Optional[str], address: Optional[str],
                user_id: Optional[str] = None, device_ok: bool = False,
                via: str = "login") -> Attempt:
        """Count one attempt for `email` from `address`, before any check.

        `user_id` names the existing account the email belongs to (None
        for an unknown email, which never spends a real account's
        account-wide budget); `device_ok` is True when the client
        presented a valid device cookie of that account. Raises
        `TooManyAttempts` when a limit is spent (the counts this attempt
        took are given back first), and `StoreUnavailableError` when the
        counters' storage is down.
        """
        client = client_key(address)
        wanted: List[Tuple[str, _Hit]] = [
            ("per_address", (self.per_address, ("auth-address", client))),
            ("per_account", (self.per_account, (
                "auth-account", self.account_name(email), client)))]
        taken: List[_Hit] = []
        try:
            for name, (item, keys) in wanted:
                if not self._storage(lambda: self.strategy.hit(item, *keys)):
                    self._give_back(taken)
                    self._refused(name, email, user_id, via)
                    raise TooManyAttempts(
                        retry_after=self._retry_after(item, keys))
                taken.append((item, keys))
        except StoreUnavailableError:
            self._quietly(lambda: self._give_back(taken))
            raise
        wide = None
        if user_id is not None and not device_ok and self.flows is not None:
            wide = self._hit_account_wide(user_id, taken, email, via)
        attempt = Attempt(tuple(taken), wide)
        if has_request_context():
            g.setdefault(_PENDING, []).append(attempt)
        return attempt

    def _storage(self, work: Any) -> Any:
        """Run `work()` on the `limits` storage through its breaker.

        Raises `StoreUnavailableError` when the storage cannot serve.
        """
        if not self.shared:
            return work()
        return breaker("limits").call(work, _storage_outage)

    @staticmethod
    def _quietly(work: Any) -> None:
        """Run `work()`; a store that cannot serve is ignored (logged by
        its breaker)."""
        try:
            work()
        except StoreUnavailableError:
            pass

    def forgive_pending(self) -> None:
        """Give back every attempt this request counted and did not settle.

        Called when the request ends in 503 (§8.1); a store that still
        cannot serve is skipped silently. Outside a request, does nothing.
        """
        if not has_request_context():
            return
        pending = g.pop(_PENDING, [])
        for attempt in pending:
            self._quietly(lambda: self._give_back(list(attempt.hits)))
            if attempt.account_wide is not None:
                self._quietly(lambda: self._give_back_account_wide(
                    attempt.account_wide))

    def _settled(self, attempt: Attempt) -> None:
        """Forget `attempt` from this request's pending attempts."""
        if has_request_context():
            pending = g.get(_PENDING, [])
            if attempt in pending:
                pending.remove(attempt)

    def _give_back_account_wide(self, key: str) -> None:
        """Undo one count of the account-wide counter `key`."""
        window = max(1, int(self.account_wide.get_expiry()))
        self.flows.incr(ACCOUNT_WIDE, key, window, amount=-1)

    def _hit_account_wide(self, user_id: str, taken: List[_Hit],
                          email: Optional[str], via: str) -> str:
        """Count one attempt on the account-wide window of `user_id`.

        Returns the counter's key; past the limit gives every count back
        and raises `TooManyAttempts`.
        """
        window = max(1, int(self.account_wide.get_expiry()))
        now = time.time()
        start = int(now // window) * window
        key = "{}:{}".format(user_id, start)
        try:
            count = self.flows.incr(ACCOUNT_WIDE, key, window)
        except StoreUnavailableError:
            self._quietly(lambda: self._give_back(taken))
            raise
        if count <= self.account_wide.amount:
            return key
        try:
            self.flows.incr(ACCOUNT_WIDE, key, window, amount=-1)
        finally:
            self._quietly(lambda: self._give_back(taken))
        self._refused("account_wide", email, user_id, via)
        raise TooManyAttempts(
            retry_after=max(1, math.ceil(start + window - now)))

    def _refused(self, limit: str, email: Optional[str],
                 user_id: Optional[str], via: str) -> None:
        """Log one `limited` event for an attempt a limit refused."""
        log_event("limited", email=email_digest(email), limit=limit,
                  user=user_id or "-", via=via)

    def succeeded(self, attempt: Attempt) -> None:
        """Give back the counts of a successful attempt.

        Raises `StoreUnavailableError` when a store cannot serve; the
        attempt then stays pending, so the 503 gives it back later.
        """
        self._give_back(list(attempt.hits))
        if attempt.account_wide is not None:
            self._give_back_account_wide(attempt.account_wide)
        self._settled(attempt)

    def _give_back(self, hits: List[_Hit]) -> None:
        """Undo one count of each of `hits`; raises
        `StoreUnavailableError` when the storage cannot serve."""
        for item, keys in hits:
            self._storage(lambda: self.strategy.hit(item, *keys, cost=-1))

    def _retry_after(self, item: RateLimitItem,
                     keys: Tuple[str, ...]) -> int:
        """Return the whole seconds until the window of `item` resets."""
        reset_at = self._storage(lambda: self.strategy.get_window_stats(
            item, *keys).reset_time)
        return max(1, math.ceil(reset_at - time.time()))

    def check(self) -> bool:
        """Return True if the counters' storage can serve now (a ping).

        Always True for process memory; False while the `limits` breaker
        is open or when the storage fails its check.
        """
        if not self.shared:
            return True
        try:
            return bool(self._storage(self._ping))
        except StoreUnavailableError:
            return False

    def _ping(self) -> bool:
        """Ask the storage whether it answers; raise when it does not."""
        if not self.storage.check():
            raise StorageError(ConnectionError(
                "the rate-limit storage does not answer"))
        return True

    def reset(self) -> None:
        """Forget every count: the `limits` storage and the account-wide
        counters of the flow store.

        Raises `StoreUnavailableError` when either cannot be reached.
        """
        self._storage(self.storage.reset)
        if self.flows is not None:
            self.flows.clear(ACCOUNT_WIDE)
