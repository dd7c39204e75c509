#!/usr/bin/env python3
"""Basic authentication: credentials in the `Authorization` header.

The header is `Basic <base64 of "email:password">` (RFC 7617).
"""
import base64
import binascii
from typing import Optional, Tuple, TypeVar

from api.v1.auth.auth import Auth
from models import passwords
from models.user import User

BASIC_PREFIX = "Basic "


class BasicAuth(Auth):
    """Authenticate each request by its Basic credentials (RFC 7617)."""

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
        this email, or when the password matches none of them. An unknown
        email still costs one password verification, so timing does not
        tell which emails exist.
        """
        if not isinstance(user_email, str) or not isinstance(user_pwd, str):
            return None
        users = User.search({"email": user_email})
        if not users:
            passwords.spend_verification(user_pwd)
            return None
        for user in users:
            if user.is_valid_password(user_pwd):
                return user
        return None

    def current_user(self, request=None) -> TypeVar('User'):
        """Return the `User` of the request's Basic credentials, or None."""
        header = self.authorization_header(request)
        encoded = self.extract_base64_authorization_header(header)
        decoded = self.decode_base64_authorization_header(encoded)
        email, password = self.extract_user_credentials(decoded)
        return self.user_object_from_credentials(email, password)
