#!/usr/bin/env python3
"""Passkey module: one WebAuthn credential of a user (account-security §5).

A record per credential, never fields crammed into `User`: its id at the
authenticator (`credential_id`, base64url without padding), its COSE
public key (`public_key`, base64url), the last signature counter accepted
(`sign_count`), the transports the authenticator named, the name the
user gave it and when it was last used. Stored in `.db_Passkey.json`, or
in the `passkeys` table of `DATABASE_URL` (migration `0005_passkeys`).
"""
from datetime import datetime
from typing import List, Optional

from models.base import Base

MAX_CREDENTIAL_ID = 1400
"""Base64url characters of the longest credential id (1,023 bytes,
WebAuthn L2 §5.8.3), rounded up."""


class Passkey(Base):
    """A WebAuthn public key credential registered by a user.

    The public key is not secret, but a record is only ever shown through
    the passkey routes, which never show it.
    """

    _indexed = ("credential_id", "user_id")

    def __init__(self, *args: list, **kwargs: dict):
        """Initialize a Passkey from keyword arguments.

        Accepts `user_id` (str), `credential_id` and `public_key`
        (base64url str), `sign_count` (int, default 0), `transports`
        (list of str), `name` (str), `last_used_at` (a datetime or
        `TIMESTAMP_FORMAT` text, UTC; None when never used) and the keys
        of `Base`. Raises `ValueError` on a malformed `last_used_at`.
        """
        super().__init__(*args, **kwargs)
        self.user_id = kwargs.get("user_id")
        self.credential_id = kwargs.get("credential_id")
        self.public_key = kwargs.get("public_key")
        self.sign_count = kwargs.get("sign_count") or 0
        self.transports = list(kwargs.get("transports") or [])
        self.name = kwargs.get("name")
        used = kwargs.get("last_used_at")
        self.last_used_at: Optional[datetime] = (
            None if used is None else self._timestamp(used))

    @classmethod
    def of_user(cls, user_id: str) -> List["Passkey"]:
        """Return the passkeys of `user_id`, oldest first ([] for none)."""
        found = cls.search({"user_id": user_id})
        return sorted(found, key=lambda key: (key.created_at, key.id))

    @classmethod
    def by_credential_id(cls, credential_id: str) -> Optional["Passkey"]:
        """Return the passkey whose credential id is `credential_id`.

        `credential_id` is base64url text without padding; None when no
        passkey has it, or it is not a str, or it is empty, over
        `MAX_CREDENTIAL_ID` characters or holds NUL (which PostgreSQL
        text cannot even hold), before any store is asked.
        """
        if not isinstance(credential_id, str) or not credential_id \
                or len(credential_id) > MAX_CREDENTIAL_ID \
                or "\x00" in credential_id:
            return None
        found = cls.search({"credential_id": credential_id})
        return found[0] if found else None
