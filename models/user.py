#!/usr/bin/env python3
"""User module: the `User` model (spec §4.2)."""
from typing import Optional, Set

from blinker import Namespace

from models import passwords
from models.base import Base
from models.emails import normalize_email
from models.store import RecordConflictError, RecordMissingError

_signals = Namespace()
credentials_changed = _signals.signal("credentials-changed")
"""Sent with the `User` as sender after its password changed, its sessions
were revoked, or it was removed. Session auth classes delete that user's
sessions from their store on it, a tidy-up within this process: the
guarantee that reaches every process is the credential epoch."""

_password_changed: Set[str] = set()


class User(Base):
    """A user of the API: email, password hash and optional names.

    Besides the contract's fields a user keeps, in private fields that
    `to_json()` never shows, its credential epoch (`auth_epoch`: every
    session records it and ends once it changes) and its administrator
    flag (`is_admin`, set only by the admin CLI).
    """

    _indexed = ("email", "email_key")

    def __init__(self, *args: list, **kwargs: dict):
        """Initialize a User from keyword arguments.

        Accepts `email`, `_password` (a stored hash, never clear text),
        `first_name`, `last_name`, `_auth_epoch` (int) and `_is_admin`
        (bool), plus the keys of `Base`.
        """
        super().__init__(*args, **kwargs)
        self.email = kwargs.get('email')
        self._password = kwargs.get('_password')
        self.first_name = kwargs.get('first_name')
        self.last_name = kwargs.get('last_name')
        self._auth_epoch = kwargs.get('_auth_epoch')
        self._is_admin = kwargs.get('_is_admin')

    @classmethod
    def _record_problem(cls, record: dict) -> Optional[str]:
        """Return why `record` cannot be a User, or None.

        Besides `Base`'s checks, `_auth_epoch` must be an int (or absent):
        every session compares it.
        """
        epoch = record.get("_auth_epoch")
        if epoch is not None and (isinstance(epoch, bool)
                                  or not isinstance(epoch, int)):
            return "its _auth_epoch is not an integer"
        return super()._record_problem(record)

    @classmethod
    def search_by_email(cls, email: object) -> "list":
        """Return the users an email names: exact matches, else normalised.

        The contract's exact `search({"email": email})` comes first, so a
        stored email always works as it is; when it finds nobody, users
        whose normalised email (`normalize_email`) is the same are
        returned. Returns `[]` for a non-str `email`.
        """
        if not isinstance(email, str):
            return []
        found = cls.search({"email": email})
        if found:
            return found
        key = normalize_email(email)
        return cls.search({"email_key": key}) if key else []

    @property
    def email_key(self) -> Optional[str]:
        """Return the normalised email (`normalize_email`), or None."""
        return normalize_email(self.email)

    @property
    def auth_epoch(self) -> int:
        """Return the credential epoch: 0, then +1 per credential change.

        Sessions copy it when they are created and end once it differs
        (Flask-Security-Too's `fs_uniquifier`, Django's session auth hash).
        """
        return self._auth_epoch or 0

    @property
    def is_admin(self) -> bool:
        """Return True if this user is an administrator."""
        return bool(self._is_admin)

    @is_admin.setter
    def is_admin(self, value: bool) -> None:
        """Grant (True) or revoke (False) the administrator flag."""
        self._is_admin = bool(value)

    @property
    def password(self) -> str:
        """Return the stored password hash, or None if there is none."""
        return self._password

    @password.setter
    def password(self, pwd: str) -> None:
        """Store an argon2id hash of `pwd`, or None if `pwd` is not a str.

        Replacing a password also moves the credential epoch on, so once
        this user is saved every session of the user ends at its next
        request, in every process (OWASP Session Management Cheat Sheet:
        renew or end sessions on credential change). The first password
        leaves the epoch at 0, where sessions that recorded no epoch are.
        """
        replacing = self._password is not None
        if pwd is None or type(pwd) is not str:
            self._password = None
        else:
            self._password = passwords.hash_password(pwd)
        if replacing:
            self._move_epoch()

    def revoke_sessions(self) -> None:
        """End every session of this user ("log out everywhere"), and save.

        Moves the credential epoch on; every process sees it at the next
        request of each session. Raises the errors of `save()`.
        """
        self._move_epoch()
        self.save()

    def _move_epoch(self) -> None:
        """Move the credential epoch on; the next `save()` stores it.

        Saving then also ends this user's sessions held by this process.
        """
        self._auth_epoch = self.auth_epoch + 1
        _password_changed.add(self.id)

    def is_valid_password(self, pwd: str) -> bool:
        """Return True if `pwd` (a str) matches the stored password.

        Returns False if `pwd` is None or not a str, or if no password is
        stored. A legacy SHA-256 hash (or a wrapped one) that matches is
        replaced by a plain argon2id hash, in the stored record too
        (spec A17); the epoch stays, so sessions live on. The rewrite only
        happens if the stored hash is still the one checked, so it never
        brings back a password changed meanwhile.
        """
        if pwd is None or type(pwd) is not str:
            return False
        if self.password is None or type(self.password) is not str:
            return False
        if not passwords.verify_password(self.password, pwd):
            return False
        if passwords.needs_rehash(self.password):
            self._password = passwords.hash_password(pwd)
            if getattr(self, "_stored", None) is not None:
                try:
                    self.save()
                except (RecordMissingError, RecordConflictError):
                    pass
        return True

    def save(self) -> None:
        """Store the user; end its sessions if its credentials changed.

        Raises the errors of `Base.save`.
        """
        super().save()
        if self.id in _password_changed:
            _password_changed.discard(self.id)
            credentials_changed.send(self)

    def remove(self) -> None:
        """Delete the user from the store and end all of its sessions."""
        super().remove()
        _password_changed.discard(self.id)
        credentials_changed.send(self)

    def display_name(self) -> str:
        """Return a name to show: the names, else the email, else `""`."""
        if self.email is None and self.first_name is None \
                and self.last_name is None:
            return ""
        if self.first_name is None and self.last_name is None:
            return "{}".format(self.email)
        if self.last_name is None:
            return "{}".format(self.first_name)
        if self.first_name is None:
            return "{}".format(self.last_name)
        else:
            return "{} {}".format(self.first_name, self.last_name)
