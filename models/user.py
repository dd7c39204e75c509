#!/usr/bin/env python3
"""User module: the `User` model (spec §4.2)."""
from typing import Set

from blinker import Namespace

from models import passwords
from models.base import Base

_signals = Namespace()
credentials_changed = _signals.signal("credentials-changed")
"""Sent with the `User` as sender after its password changed or it was
removed. Session auth classes end every session of that user on it (OWASP
Session Management Cheat Sheet: renew or end sessions on credential
change)."""

_password_changed: Set[str] = set()


class User(Base):
    """A user of the API: email, password hash and optional names."""

    _indexed = ("email",)

    def __init__(self, *args: list, **kwargs: dict):
        """Initialize a User from keyword arguments.

        Accepts `email`, `_password` (a stored hash, never clear text),
        `first_name` and `last_name`, plus the keys of `Base`.
        """
        super().__init__(*args, **kwargs)
        self.email = kwargs.get('email')
        self._password = kwargs.get('_password')
        self.first_name = kwargs.get('first_name')
        self.last_name = kwargs.get('last_name')

    @property
    def password(self) -> str:
        """Return the stored password hash, or None if there is none."""
        return self._password

    @password.setter
    def password(self, pwd: str) -> None:
        """Store an argon2id hash of `pwd`, or None if `pwd` is not a str.

        Once this user is saved, every session of the user ends.
        """
        if pwd is None or type(pwd) is not str:
            self._password = None
        else:
            self._password = passwords.hash_password(pwd)
        _password_changed.add(self.id)

    def is_valid_password(self, pwd: str) -> bool:
        """Return True if `pwd` (a str) matches the stored password.

        Returns False if `pwd` is None or not a str, or if no password is
        stored. A legacy SHA-256 hash that matches is replaced by an
        argon2id hash, in the stored record too (spec A17).
        """
        if pwd is None or type(pwd) is not str:
            return False
        if self.password is None or type(self.password) is not str:
            return False
        if not passwords.verify_password(self.password, pwd):
            return False
        if passwords.needs_rehash(self.password):
            self._password = passwords.hash_password(pwd)
            if type(self).get(self.id) is self:
                self.save()
        return True

    def save(self) -> None:
        """Store the user; end its sessions if its password was changed."""
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
