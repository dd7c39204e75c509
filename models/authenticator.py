#!/usr/bin/env python3
"""Authenticator module: a user's credentials beyond the password.

One record per factor (`kind`): `totp` (one per user, its record id
`totp:<user id>`) and `recovery` (one per unused recovery code, its
record id `rc:<HMAC-SHA256 of the code>`). Records live in
`.db_Authenticator.json` by default, in the `authenticators` table under
`DATABASE_URL`. Nothing here is usable alone: the TOTP secret is sealed
with AES-GCM and a recovery code is kept only as its keyed digest (see
`api.v1.auth.factor_keys`). Private fields never show in `to_json()`.
"""
from typing import Any, Dict, Iterable, List

from models import base
from models.base import Base
from models.store import (RecordConflictError, RecordMissingError, Record,
                          Update)

TOTP = "totp"
RECOVERY = "recovery"


class Authenticator(Base):
    """A second factor of one user.

    Public fields: `user_id` (the owner's id, str) and `kind` (`totp`,
    `recovery`; other modules may add kinds such as `passkey`). Private
    fields of a `totp` record: `_secret` (the sealed Base32 secret),
    `_confirmed` (False while enrolment waits for a first code) and
    `_last_step` (the RFC 6238 time step of the last accepted code, None
    before the first), which makes every code usable once per user.
    """

    _indexed = ("user_id", "kind")

    def __init__(self, *args: list, **kwargs: dict):
        """Initialize from `user_id`, `kind` and the private fields.

        Also accepts the keys of `Base`. Raises `ValueError` on a
        malformed timestamp.
        """
        super().__init__(*args, **kwargs)
        self.user_id = kwargs.get("user_id")
        self.kind = kwargs.get("kind")
        for name in ("_secret", "_confirmed", "_last_step"):
            if kwargs.get(name) is not None:
                setattr(self, name, kwargs[name])

    @staticmethod
    def totp_id(user_id: str) -> str:
        """Return the record id of the TOTP factor of `user_id`."""
        return "{}:{}".format(TOTP, user_id)

    @staticmethod
    def recovery_id(digest: str) -> str:
        """Return the record id of the recovery code with `digest`."""
        return "rc:{}".format(digest)

    @classmethod
    def of_user(cls, user_id: str, kind: str = None
                ) -> List["Authenticator"]:
        """Return the stored factors of `user_id` (of `kind` when given)."""
        if not isinstance(user_id, str):
            return []
        wanted: Dict[str, Any] = {"user_id": user_id}
        if kind is not None:
            wanted["kind"] = kind
        return cls.search(wanted)

    def compare_and_set(self, changes: Record, expected: Record) -> bool:
        """Write `changes` if the stored record still holds `expected`.

        `changes` and `expected` map field names to values as stored
        (private names included). A single conditional write on every
        store (a locked rewrite of the JSON file; `UPDATE ... WHERE` in a
        database), so of two processes racing on one record one wins.
        Returns False when the record is gone or a field moved; True once
        written (this object then holds `changes`). Raises the store's
        errors (`StoreUnavailableError`, `OSError`).
        """
        store = base.get_store()
        kind = type(self).__name__
        try:
            with store.lock(kind):
                store.apply(kind, [Update(self.id, dict(changes),
                                          dict(expected))])
        except (RecordConflictError, RecordMissingError):
            base._TABLES.pop(kind, None)
            return False
        for key, value in changes.items():
            setattr(self, key, value)
        base._TABLES.pop(kind, None)
        return True

    @classmethod
    def take(cls, record_id: str) -> bool:
        """Delete the record `record_id`; return True only if this call did.

        Of concurrent takes of one id (two logins with one recovery code,
        on any processes or hosts), exactly one returns True: the store
        counts the deleted rows inside its write.
        """
        return cls.remove_many([record_id]) == 1

    @classmethod
    def replace_all(cls, user_id: str, kind: str,
                    fresh: Iterable["Authenticator"]) -> None:
        """Delete every factor of `kind` of `user_id` and store `fresh`.

        One write: a set of recovery codes is renewed at once, and the old
        set is void from the same moment.
        """
        old = [a.id for a in cls.of_user(user_id, kind)]
        objects = list(fresh)
        new_ids = {obj.id for obj in objects}
        cls._persist(objects, removals=[i for i in old
                                        if i not in new_ids])
