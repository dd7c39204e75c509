#!/usr/bin/env python3
"""Auth module: registration, logins, sessions and password resets."""
import threading
import time
import uuid
from typing import Any, NamedTuple, Optional

import bcrypt
from sqlalchemy.orm.exc import NoResultFound

from db import DB
from settings import Settings
from throttle import Throttle
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


def _now() -> float:
    """Return the current time in Unix seconds (UTC), the one clock."""
    return time.time()


class LoginOutcome(NamedTuple):
    """The answer of `Auth.throttled_login` to one login attempt.

    `valid` is True for the right email and password. `retry_after` is
    None when the password was checked, or the seconds (an int, at least 1)
    to wait when the attempt was refused unchecked by the throttle.
    """

    valid: bool
    retry_after: Optional[int] = None


class CheckedLogin(LoginOutcome):
    """A checked `LoginOutcome` that also holds `checked`: the stored hash
    the password matched (None unless `valid`), for `create_session` to
    insist on. Equal to the plain outcome, whose two fields it keeps."""

    def __new__(cls, valid: bool, checked: Any) -> "CheckedLogin":
        """Return the outcome `(valid, None)` remembering `checked`."""
        outcome = super().__new__(cls, valid, None)
        outcome.checked = checked
        return outcome


class Auth:
    """Auth class to interact with the authentication database."""

    def __init__(self, settings: Optional[Settings] = None) -> None:
        """Open the database and the counters of `settings`.

        `settings` defaults to `Settings()`, the contract: a fresh `a.db`
        (every `DB()` starts empty) and counters in this process's memory.
        Raises `ValueError` for an unusable database URL or counter
        storage, and the SQLAlchemy error when the database is down.
        """
        self._settings = settings or Settings()
        self._db = DB(self._settings.database_url)
        self._register_lock = threading.Lock()
        self._dummy_hash: Optional[bytes] = None
        self._throttle = Throttle(
            self._settings.ratelimit_storage_uri,
            per_email_address=self._settings.login_limit_per_email_address,
            per_address=self._settings.login_limit_per_address,
            per_account=self._settings.login_limit_per_account,
            registrations_per_address=(
                self._settings.register_limit_per_address))

    @property
    def settings(self) -> Settings:
        """The settings this `Auth` was made with (read-only)."""
        return self._settings

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

    def acquire_registration(self, address: Optional[str]) -> int:
        """Count one registration from client address `address`.

        `address` is an IP address (str, or None when unknown). Call it
        before `register_user`, whose bcrypt run is what the limit (10 a
        minute per address) protects. Returns 0 when the registration may
        go on, else the seconds (an int, at least 1) to wait; a refused one
        is not counted. Raises `CountersUnavailable` when the counters'
        storage is down.
        """
        return self._throttle.registration(address).retry_after

    def valid_login(self, email: str, password: str) -> bool:
        """Return True if `password` is the password of user `email`.

        False for an unknown email, a wrong password, or a missing or
        non-string argument; never raises. An unknown email still costs
        one bcrypt check, so timing does not tell which emails exist.
        """
        return self._matched_hash(email, password) is not None

    def _matched_hash(self, email: object, password: object) -> Any:
        """Return the stored hash `password` matches, as stored, or None.

        The work of `valid_login`; the hash lets a session be written only
        while it is still the user's (`create_session`).
        """
        if not isinstance(email, str) or not isinstance(password, str):
            return None
        try:
            stored = self._db.find_user_by(email=email).hashed_password
        except NoResultFound:
            stored = None
        hashed = stored.encode("utf-8") if isinstance(stored, str) \
            else stored
        if hashed is None and self._dummy_hash is None:
            self._dummy_hash = _hash_password("dummy password for timing")
        try:
            matches = bcrypt.checkpw(password.encode("utf-8"),
                                     hashed or self._dummy_hash)
        except ValueError:
            return None
        return stored if matches and hashed is not None else None

    def throttled_login(self, email: str, password: str,
                        address: Optional[str]) -> LoginOutcome:
        """Check a login like `valid_login`, within the login limits.

        `email` and `password` are the login's strings, `address` the
        client's IP address (str, or None when unknown). The attempt is
        counted before the password is checked: per (email, address), per
        address, and per account when `email` names one exactly (see
        `throttle`). Over a limit it is refused without a bcrypt check. A
        successful login gives its counts back, so only failures count
        (OWASP Authentication Cheat Sheet). Returns a `LoginOutcome`.
        Raises `CountersUnavailable` when the counters' storage is down.
        """
        exists = self._user_by(email=email) is not None
        counted = self._throttle.login(email, address, exists)
        if counted.retry_after:
            return LoginOutcome(False, counted.retry_after)
        checked = self._matched_hash(email, password)
        if checked is not None:
            self._throttle.refund(counted)
        return CheckedLogin(checked is not None, checked)

    def create_session(self, email: str, checked: Any = None) -> str:
        """Give user `email` a new session id and return it.

        The new id replaces the previous one (one session per user); its
        issue time is kept for `UAS_SESSION_SECONDS`. Returns None when no
        user has this email. With `checked` (`CheckedLogin.checked`, the
        hash the login's password matched) the id is written only if that
        hash is still the user's, by one conditional update: a login whose
        bcrypt check overlapped a password reset gets None, not a session
        the reset should have ended.
        """
        user = self._user_by(email=email)
        if user is None:
            return None
        session_id = _generate_uuid()
        self._db.note_issued(user.id, "session_id", _now())
        if checked is None:
            self._db.update_user(user.id, session_id=session_id)
        elif not self._db.update_user_if(user.id, {"hashed_password": checked},
                                         session_id=session_id):
            return None
        return session_id

    def get_user_from_session_id(self, session_id: str) -> Optional[User]:
        """Return the `User` holding `session_id`, or None.

        None without a query when `session_id` is None or empty, since a
        NULL filter would match a logged-out user (contract A7). With a
        session lifetime (`UAS_SESSION_SECONDS` > 0), None also when the
        session was issued more than that many seconds ago, or at an
        unknown time.
        """
        user = self._user_by(session_id=session_id)
        if user is None or self._expired(
                user.id, "session_id", self._settings.session_seconds):
            return None
        return user

    def destroy_session(self, user_id: int) -> None:
        """End the session of user `user_id` (its session id becomes None)."""
        try:
            self._db.update_user(user_id, session_id=None)
        except NoResultFound:
            return None

    def get_reset_password_token(self, email: str) -> str:
        """Give user `email` a new reset token and return it.

        Each token replaces the previous one, and its issue time is kept
        for `RESET_TOKEN_SECONDS`. Raises `ValueError` when no user has
        this email.
        """
        user = self._user_by(email=email)
        if user is None:
            raise ValueError("no user with this email")
        reset_token = _generate_uuid()
        self._db.note_issued(user.id, "reset_token", _now())
        self._db.update_user(user.id, reset_token=reset_token)
        return reset_token

    def get_email_from_reset_token(self, reset_token: str) -> Optional[str]:
        """Return the email of the user holding `reset_token`, or None.

        None without a query when `reset_token` is None or empty (a NULL
        filter would match every user without a token, contract A10), and
        None for a token issued more than `RESET_TOKEN_SECONDS` ago.
        """
        user = self._user_by_reset_token(reset_token)
        return None if user is None else user.email

    def update_password(self, reset_token: str, password: str) -> None:
        """Set the password of the user holding `reset_token`.

        The token is used up by one conditional update, so of concurrent
        calls with one token exactly one succeeds (OWASP Forgot Password
        Cheat Sheet: single use). The user's session is kept, as task 18
        says; under `ACCOUNT_POLICY=strict` it ends too, since whoever held
        the old password may hold its session (OWASP Session Management
        Cheat Sheet). Raises `ValueError` when `reset_token` is None, empty,
        unknown, expired or already used, or the password is over 72
        bytes; nothing changes then.
        """
        user = self._user_by_reset_token(reset_token)
        if user is None:
            raise ValueError("invalid reset token")
        # bcrypt takes ~0.3 s, so hash before the update, not inside it.
        values = {"hashed_password": _hash_password(password)}
        if self._settings.strict:
            values["session_id"] = None
        if not self._db.consume_reset_token(user.id, reset_token, **values):
            raise ValueError("invalid reset token")

    def _user_by(self, **kwargs) -> Optional[User]:
        """Return the user whose one column equals a non-empty str, or None.

        The keyword is a column name, its value the lookup key. A value
        that is None, empty or not a str gives None without a query:
        `find_user_by` turns None into `IS NULL`, which matches users who
        have no session or no token (contract A7, A10).
        """
        (value,) = kwargs.values()
        if not isinstance(value, str) or not value:
            return None
        try:
            return self._db.find_user_by(**kwargs)
        except NoResultFound:
            return None

    def _user_by_reset_token(self, reset_token: str) -> Optional[User]:
        """Return the user of a live `reset_token`, or None (see above)."""
        user = self._user_by(reset_token=reset_token)
        if user is None or self._expired(
                user.id, "reset_token", self._settings.reset_token_seconds):
            return None
        return user

    def _expired(self, user_id: int, column: str, lifetime: int) -> bool:
        """Return True if secret `column` of `user_id` outlived `lifetime`.

        `lifetime` is in seconds; 0 means no limit (never expired). A
        secret without a known issue time counts as expired once a limit
        is set: it fails closed.
        """
        if lifetime <= 0:
            return False
        issued_at = self._db.issued_at_of(user_id, column)
        return issued_at is None or issued_at + lifetime < _now()
