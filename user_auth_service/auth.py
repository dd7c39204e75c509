#!/usr/bin/env python3
"""Auth module: registration, logins, sessions and password resets."""
import threading
import uuid
from typing import NamedTuple, Optional

import bcrypt
from sqlalchemy.orm.exc import NoResultFound

from db import DB
from throttle import LoginThrottle
from user import User

MAX_PASSWORD_BYTES = 72


def _hash_password(password: str) -> bytes:
    """Return a salted bcrypt hash (bytes) of `password` (a str).

    Raises `ValueError` when the UTF-8 password is longer than 72 bytes,
    the limit of bcrypt (bcrypt 5 refuses instead of truncating).
    """
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt())


def _generate_uuid() -> str:
    """Return the string form of a new random UUID (uuid4, 122 bits)."""
    return str(uuid.uuid4())


class LoginOutcome(NamedTuple):
    """The answer of `Auth.throttled_login` to one login attempt.

    `valid` is True for the right email and password. `retry_after` is
    None when the password was checked, or the seconds (an int, at least 1)
    to wait when the attempt was refused unchecked by the throttle.
    """

    valid: bool
    retry_after: Optional[int] = None


class Auth:
    """Auth class to interact with the authentication database."""

    def __init__(self) -> None:
        """Open a fresh database (every `DB()` starts empty)."""
        self._db = DB()
        self._register_lock = threading.Lock()
        self._dummy_hash: Optional[bytes] = None
        self._throttle = LoginThrottle()

    def register_user(self, email: str, password: str) -> User:
        """Register `email` with `password` and return the new `User`.

        Raises `ValueError("User <email> already exists")` when the email
        is taken, and `ValueError` for a password over 72 bytes.
        """
        with self._register_lock:
            try:
                self._db.find_user_by(email=email)
            except NoResultFound:
                return self._db.add_user(email, _hash_password(password))
        raise ValueError("User {} already exists".format(email))

    def valid_login(self, email: str, password: str) -> bool:
        """Return True if `password` is the password of user `email`.

        False for an unknown email, a wrong password, or a missing or
        non-string argument; never raises. An unknown email still costs
        one bcrypt check, so timing does not tell which emails exist.
        """
        if not isinstance(email, str) or not isinstance(password, str):
            return False
        try:
            hashed = self._db.find_user_by(email=email).hashed_password
        except NoResultFound:
            hashed = None
        if isinstance(hashed, str):
            hashed = hashed.encode("utf-8")
        if hashed is None and self._dummy_hash is None:
            self._dummy_hash = _hash_password("dummy password for timing")
        try:
            matches = bcrypt.checkpw(password.encode("utf-8"),
                                     hashed or self._dummy_hash)
        except ValueError:
            return False
        return bool(matches) and hashed is not None

    def throttled_login(self, email: str, password: str,
                        address: Optional[str]) -> LoginOutcome:
        """Check a login like `valid_login`, within the login limits.

        `email` and `password` are the login's strings, `address` the
        client's IP address (str, or None when unknown). The attempt is
        counted per email (stripped, lower-cased) and per address before
        the password is checked; over a limit (5 per email, 20 per
        address, per minute) it is refused without a bcrypt check. A
        successful login gives its count back, so only failures count
        (OWASP Authentication Cheat Sheet). Returns a `LoginOutcome`;
        never raises.
        """
        wait = self._throttle.acquire(email, address)
        if wait:
            return LoginOutcome(False, wait)
        valid = self.valid_login(email, password)
        if valid:
            self._throttle.refund(email, address)
        return LoginOutcome(valid, None)

    def create_session(self, email: str) -> str:
        """Give user `email` a new session id and return it.

        The new id replaces the previous one (one session per user).
        Returns None when no user has this email.
        """
        try:
            user = self._db.find_user_by(email=email)
        except NoResultFound:
            return None
        session_id = _generate_uuid()
        self._db.update_user(user.id, session_id=session_id)
        return session_id

    def get_user_from_session_id(self, session_id: str) -> Optional[User]:
        """Return the `User` holding `session_id`, or None.

        None without a query when `session_id` is None or empty, since a
        NULL filter would match a logged-out user (contract A7).
        """
        if not isinstance(session_id, str) or not session_id:
            return None
        try:
            return self._db.find_user_by(session_id=session_id)
        except NoResultFound:
            return None

    def destroy_session(self, user_id: int) -> None:
        """End the session of user `user_id` (its session id becomes None)."""
        try:
            self._db.update_user(user_id, session_id=None)
        except NoResultFound:
            return None

    def get_reset_password_token(self, email: str) -> str:
        """Give user `email` a new reset token and return it.

        Raises `ValueError` when no user has this email.
        """
        try:
            user = self._db.find_user_by(email=email)
        except NoResultFound:
            raise ValueError("no user with this email")
        reset_token = _generate_uuid()
        self._db.update_user(user.id, reset_token=reset_token)
        return reset_token

    def get_email_from_reset_token(self, reset_token: str) -> Optional[str]:
        """Return the email of the user holding `reset_token`, or None.

        None without a query when `reset_token` is None or empty.
        """
        if not isinstance(reset_token, str) or not reset_token:
            return None
        try:
            return self._db.find_user_by(reset_token=reset_token).email
        except NoResultFound:
            return None

    def update_password(self, reset_token: str, password: str) -> None:
        """Set the password of the user holding `reset_token`.

        The token is used up and the user's session ends: whoever held
        the old password may hold its session too (OWASP Forgot Password
        and Session Management Cheat Sheets). The token is consumed by one
        conditional update, so of concurrent calls with one token exactly
        one succeeds. Raises `ValueError` when `reset_token` is None,
        empty, unknown or already used, or the password is over 72 bytes;
        nothing changes then.
        """
        if not isinstance(reset_token, str) or not reset_token:
            raise ValueError("a reset token is required")
        try:
            user = self._db.find_user_by(reset_token=reset_token)
        except NoResultFound:
            raise ValueError("invalid reset token")
        # bcrypt takes ~0.2 s, so hash before the update, not inside it.
        hashed = _hash_password(password)
        if not self._db.consume_reset_token(user.id, reset_token,
                                            hashed_password=hashed,
                                            session_id=None):
            raise ValueError("invalid reset token")
