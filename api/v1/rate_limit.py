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
"""
import hashlib
import hmac
import ipaddress
import math
import time
from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from api.v1.auth.events import email_digest, log_event
from models.emails import normalize_email
from models.settings import Settings
from models.store import StoreUnavailableError

TOO_MANY_REQUESTS = {"error": "Too many requests"}
ACCOUNT_WIDE = "auth-account-wide"
_DEFAULT_KEY = b"session-api limits: set SECRET_KEY"
_Hit = Tuple[RateLimitItem, Tuple[str, ...]]


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
        if self.storage_uri.startswith(("redis", "unix")):
            options.update(socket_timeout=2, socket_connect_timeout=2)
        self.storage = storage_from_string(self.storage_uri, **options)
        self.strategy = FixedWindowRateLimiter(self.storage)
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
                if not self.strategy.hit(item, *keys):
                    self._give_back(taken)
                    self._refused(name, email, user_id, via)
                    raise TooManyAttempts(
                        retry_after=self._retry_after(item, keys))
                taken.append((item, keys))
        except StorageError as exc:
            raise StoreUnavailableError(
                "the rate-limit storage cannot be reached") from exc
        wide = None
        if user_id is not None and not device_ok and self.flows is not None:
            wide = self._hit_account_wide(user_id, taken, email, via)
        return Attempt(tuple(taken), wide)

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
            self._safely_give_back(taken)
            raise
        if count <= self.account_wide.amount:
            return key
        self.flows.incr(ACCOUNT_WIDE, key, window, amount=-1)
        self._safely_give_back(taken)
        self._refused("account_wide", email, user_id, via)
        raise TooManyAttempts(
            retry_after=max(1, math.ceil(start + window - now)))

    def _refused(self, limit: str, email: Optional[str],
                 user_id: Optional[str], via: str) -> None:
        """Log one `limited` event for an attempt a limit refused."""
        log_event("limited", email=email_digest(email), limit=limit,
                  user=user_id or "-", via=via)

    def succeeded(self, attempt: Attempt) -> None:
        """Give back the counts of a successful attempt."""
        try:
            self._give_back(list(attempt.hits))
        except StorageError as exc:
            raise StoreUnavailableError(
                "the rate-limit storage cannot be reached") from exc
        if attempt.account_wide is not None:
            window = max(1, int(self.account_wide.get_expiry()))
            self.flows.incr(ACCOUNT_WIDE, attempt.account_wide, window,
                            amount=-1)

    def _safely_give_back(self, hits: List[_Hit]) -> None:
        """Give back `hits`, mapping a storage failure to 503."""
        try:
            self._give_back(hits)
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
        """Forget every count: the `limits` storage and the account-wide
        counters of the flow store.

        Raises `StoreUnavailableError` when either cannot be reached.
        """
        try:
            self.storage.reset()
        except StorageError as exc:
            raise StoreUnavailableError(
                "the rate-limit storage cannot be reached") from exc
        if self.flows is not None:
            self.flows.clear(ACCOUNT_WIDE)
