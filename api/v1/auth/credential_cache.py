#!/usr/bin/env python3
"""A cache of Basic credentials verified recently, so that argon2 runs once.

After a successful verification, `remember` keeps an entry for a short
time (`BASIC_CACHE_SECONDS`, default 120 s; at most `BASIC_CACHE_SIZE`
entries). Its key is an HMAC-SHA256, under a random key made per process
and never stored, of the user id, the password, the stored hash and the
credential epoch, each length-prefixed. A later request with the same
credentials finds the entry and skips argon2; the user record is still
read fresh on every request, so a password change, a rehash or a
revocation (any of which changes the stored hash or the epoch) misses at
once in every process, without any message between them. Failures are
never cached: each wrong guess still costs one argon2 verification and
counts against the limits. This is the scheme of Apache's
`mod_authn_socache` and of Caddy's and Traefik's Basic-auth caches, with
the key made unusable outside this process.
"""
import hashlib
import hmac
import secrets
import threading
import time
from typing import Optional

from cachetools import TTLCache


def _length_prefixed(*parts: str) -> bytes:
    """Return `parts` encoded as UTF-8, each preceded by its length."""
    out = bytearray()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass")
        out += len(data).to_bytes(4, "big") + data
    return bytes(out)


class VerifiedCredentials:
    """Keys of (user, password, hash, epoch) that verified lately.

    `ttl` is in seconds and `size` a count; either at 0 turns the cache
    off. Thread-safe.
    """

    def __init__(self, ttl: int, size: int) -> None:
        """Create an empty cache with a fresh random key."""
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self._entries: Optional[TTLCache] = (
            TTLCache(maxsize=size, ttl=ttl, timer=time.monotonic)
            if ttl > 0 and size > 0 else None)

    def _digest(self, user_id: str, password: str, stored_hash: str,
                epoch: int) -> bytes:
        """Return the HMAC naming these credentials."""
        return hmac.new(self._key, _length_prefixed(
            user_id, password, stored_hash, str(epoch)),
            hashlib.sha256).digest()

    def knows(self, user_id: str, password: str,
              stored_hash: Optional[str], epoch: int) -> bool:
        """Return True if these exact credentials verified lately."""
        if self._entries is None or not isinstance(stored_hash, str):
            return False
        digest = self._digest(user_id, password, stored_hash, epoch)
        with self._lock:
            return self._entries.get(digest) is not None

    def remember(self, user_id: str, password: str,
                 stored_hash: Optional[str], epoch: int) -> None:
        """Keep that these credentials just verified (successes only)."""
        if self._entries is None or not isinstance(stored_hash, str):
            return
        digest = self._digest(user_id, password, stored_hash, epoch)
        with self._lock:
            self._entries[digest] = True
