#!/usr/bin/env python3
"""Basic authentication: credentials in the `Authorization` header.

The header is `Basic <base64 of "email:password">` (RFC 7617).
"""
import base64
import binascii
from typing import Optional, Tuple, TypeVar

from api.v1.auth.auth import Auth
from api.v1.auth.credential_cache import VerifiedCredentials
from api.v1.auth.events import log_event
from api.v1.auth.mfa import has_second_factor
from api.v1.config import Settings
from models import passwords
from models.emails import credentials_are_plausible
from models.user import User

BASIC_PREFIX = "Basic "


class BasicAuth(Auth):
    """Authenticate each request by its Basic credentials (RFC 7617).

    Over HTTP (`current_user`), credentials verified in the last
    `BASIC_CACHE_SECONDS` skip argon2 (`credential_cache`), and every
    other attempt is counted by the app's limits before its password is
    checked (429 past them).
    """

    def __init__(self, settings: Optional[Settings] = None) -> None:
        """Create the auth and its verified-credentials cache."""
        super().__init__(settings)
        self.verified = VerifiedCredentials(
            self.settings.basic_cache_seconds,
            self.settings.basic_cache_size)

    def extract_base64_authorization_header(
            self, authorization_header: str) -> str:
        """Return the Base64 part of a `Basic ` header value, or None.

        None when the value is None, not a str, or does not start with
        `"Basic "` (with the space, A11).
        """
        if not isinstance(authorization_header, str):
            return None
        if not authorization_header.startswith(BASIC_PREFIX):
            return None
        return authorization_header[len(BASIC_PREFIX):]

    def decode_base64_authorization_header(
            self, base64_authorization_header: str) -> str:
        """Return the Base64 value decoded as UTF-8 text, or None.

        None when the value is None, not a str, not strict Base64, or does
        not decode to UTF-8 (A10).
        """
        if not isinstance(base64_authorization_header, str):
            return None
        try:
            raw = base64.b64decode(base64_authorization_header,
                                   validate=True)
            return raw.decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return None

    def extract_user_credentials(
            self, decoded_base64_authorization_header: str
    ) -> Tuple[Optional[str], Optional[str]]:
        """Return `(email, password)` split at the first `:`.

        The password may contain `:` (RFC 7617 §2); `"email:"` gives
        `("email", "")` (A9). `(None, None)` when the value is None, not a
        str, or has no `:`.
        """
        if not isinstance(decoded_base64_authorization_header, str):
            return None, None
        email, colon, password = \
            decoded_base64_authorization_header.partition(":")
        if not colon:
            return None, None
        return email, password

    def user_object_from_credentials(
            self, user_email: str, user_pwd: str) -> TypeVar('User'):
        """Return the `User` with this email and password, or None.

        None when either argument is None or not a str, when no user has
        this email (compared as stored, else normalised), or when the
        password matches none of them. An unknown email still costs one
        password verification, so timing does not tell which emails
        exist.
        """
        if not isinstance(user_email, str) or not isinstance(user_pwd, str):
            return None
        users = User.search_by_email(user_email)
        if not users:
            passwords.spend_verification(user_pwd)
            return None
        for user in users:
            if user.is_valid_password(user_pwd):
                return user
        return None

    def current_user(self, request=None) -> TypeVar('User'):
        """Return the `User` of the request's Basic credentials, or None.

        Chains the steps above. Credentials that cannot name an account
        (an email over 254 characters, NUL in either part) are refused
        before any lookup or hashing (account-security §1.3). Recently
        verified credentials are recognised without argon2; any other
        attempt is first counted by the app's limits, the account-wide
        one included (raising 429 `TooManyAttempts` past them). A user
        with a second factor is refused (None, so 403), cached or not:
        Basic cannot carry the factor (account-security §4.2).
        """
        header = self.authorization_header(request)
        encoded = self.extract_base64_authorization_header(header)
        decoded = self.decode_base64_authorization_header(encoded)
        email, password = self.extract_user_credentials(decoded)
        if not credentials_are_plausible(email, password):
            return None
        users = User.search_by_email(email)
        for user in users:
            if self.verified.knows(user.id, password, user.password,
                                   user.auth_epoch):
                return None if self._needs_second_factor(user) else user
        attempt = None
        if self.limits is not None:
            attempt = self.limits.attempt(
                email, request.remote_addr, users[0].id if users else None,
                via="basic")
        user = self.user_object_from_credentials(email, password)
        if user is not None:
            if attempt is not None:
                self.limits.succeeded(attempt)
            if self._needs_second_factor(user):
                return None
            self.verified.remember(user.id, password, user.password,
                                   user.auth_epoch)
        return user

    @staticmethod
    def _needs_second_factor(user: User) -> bool:
        """Return True (and log it) if `user` has a second factor."""
        if not has_second_factor(user.id):
            return False
        log_event("basic_refused", reason="second_factor", user=user.id)
        return True
