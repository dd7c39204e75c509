#!/usr/bin/env python3
"""Password hashing for `User`: argon2id for new hashes, legacy SHA-256 read.

New passwords are hashed with argon2id at OWASP's first recommended setting
(m=19 MiB, t=2, p=1; OWASP Password Storage Cheat Sheet). Three stored
forms verify:

* argon2id PHC strings, `$argon2id$v=19$m=19456,t=2,p=1$...`;
* legacy digests written by the shipped model: 64 lowercase hex characters,
  the unsalted SHA-256 of the UTF-8 password (spec A17);
* wrapped legacy digests, `sha256+$argon2id$...`: argon2id of that hex
  digest, written by `wrap_legacy_hash` so that imported accounts can no
  longer be guessed at SHA-256 speed (the OWASP cheat sheet's "upgrading
  legacy hashes").

`needs_rehash` is True for the last two, so they become plain argon2id at
the next successful login. The forms cannot be confused.
"""
import hashlib
import hmac
import re
from typing import Optional

from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

TIME_COST = 2
MEMORY_COST_KIB = 19 * 1024
PARALLELISM = 1
WRAPPED_PREFIX = "sha256+"
MAX_PASSWORD_LENGTH = 1024
"""Longest password accepted, in characters: each argon2 input is CPU."""
MAX_TIME_COST = 16
MAX_MEMORY_COST_KIB = 1024 * 1024
MAX_PARALLELISM = 16
"""A stored argon2 hash above any of these costs is refused unverified: a
hash changed by hand or imported from a hostile file (`t=4294967295`)
would otherwise hold a worker's CPU for ever at each login."""

HASHER = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB,
                        parallelism=PARALLELISM)
_LEGACY_HASH = re.compile(r"[0-9a-f]{64}")
_dummy_hash: Optional[str] = None


def hash_password(password: str) -> str:
    """Return a salted argon2id hash of `password` (a `str`).

    The result is a PHC string such as `$argon2id$v=19$m=19456,t=2,p=1$...`.
    """
    return HASHER.hash(password)


def is_legacy_hash(stored: str) -> bool:
    """Return True if `stored` is an unsalted SHA-256 hex digest."""
    return _LEGACY_HASH.fullmatch(stored) is not None


def is_wrapped_hash(stored: str) -> bool:
    """Return True if `stored` is a legacy digest wrapped in argon2id."""
    return stored.startswith(WRAPPED_PREFIX + "$argon2")


def wrap_legacy_hash(stored: str) -> str:
    """Return the argon2id wrapping of the legacy hex digest `stored`.

    Raises `ValueError` if `stored` is not a legacy digest.
    """
    if not is_legacy_hash(stored):
        raise ValueError("not a legacy SHA-256 hex digest")
    return WRAPPED_PREFIX + HASHER.hash(stored)


def _sha256_hex(password: str) -> str:
    """Return the lowercase SHA-256 hex digest of the UTF-8 `password`."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def verify_password(stored: str, password: str) -> bool:
    """Return True when `password` matches the hash `stored`.

    Every form compares in constant time (argon2's own check, and
    `hmac.compare_digest` for the legacy digest). A malformed `stored`
    value gives False, never an exception, and so does an argon2 hash
    whose costs exceed `MAX_TIME_COST`, `MAX_MEMORY_COST_KIB` or
    `MAX_PARALLELISM` (it is not run).
    """
    if is_legacy_hash(stored):
        return hmac.compare_digest(_sha256_hex(password), stored)
    if is_wrapped_hash(stored):
        stored, password = stored[len(WRAPPED_PREFIX):], \
            _sha256_hex(password)
    try:
        if not _costs_bounded(stored):
            return False
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _costs_bounded(stored: str) -> bool:
    """Return True if the argon2 hash `stored` stays within the ceilings.

    Raises `InvalidHashError` for a value that is not an argon2 hash.
    """
    params = extract_parameters(stored)
    return (params.time_cost <= MAX_TIME_COST
            and params.memory_cost <= MAX_MEMORY_COST_KIB
            and params.parallelism <= MAX_PARALLELISM)


def needs_rehash(stored: str) -> bool:
    """Return True if `stored` is legacy, wrapped, or weaker than now."""
    if is_legacy_hash(stored) or is_wrapped_hash(stored):
        return True
    try:
        return HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def spend_verification(password: str) -> None:
    """Spend the time of one verification, for a principal that is unknown.

    Called when no user has the given email, so that answering "unknown"
    takes as long as a wrong password and timing does not reveal which
    accounts exist (OWASP Authentication Cheat Sheet).
    """
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_password("dummy password for timing")
    verify_password(_dummy_hash, password)
