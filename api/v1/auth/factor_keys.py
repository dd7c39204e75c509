#!/usr/bin/env python3
"""Keys for second factors at rest, derived from `SECRET_KEY`.

A dump of `.db_Authenticator.json` or of the `authenticators` table alone
gives no working code: TOTP secrets are sealed with AES-256-GCM (NIST SP
800-38D) and recovery codes are kept as HMAC-SHA256 digests (RFC 2104;
they carry 80 random bits, so a fast keyed hash suffices, OWASP Password
Storage Cheat Sheet). Both keys are derived from the operator's
`SECRET_KEY` with HKDF-SHA256 (RFC 5869), one `info` label per use, so
that neither key can stand in for the other nor for the limiter's key.
"""
import base64
import binascii
import hashlib
import hmac
import os
from typing import Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEAL_VERSION = "v1"
"""Prefix of a sealed value, so that a later format can be told apart."""
_NONCE_BYTES = 12


def _derive(secret_key: str, label: bytes) -> bytes:
    """Return 32 bytes of HKDF-SHA256 of `secret_key` for `label`."""
    return HKDF(algorithm=hashes.SHA256(), length=32,
                salt=b"session-api second factors",
                info=label).derive(secret_key.encode("utf-8",
                                                     "surrogatepass"))


class FactorKeys:
    """The sealing key of TOTP secrets and the digest key of recovery codes.

    Build it with `from_settings`; it holds derived keys only, never the
    `SECRET_KEY` itself.
    """

    def __init__(self, secret_key: str) -> None:
        """Derive both keys from `secret_key` (a non-empty str).

        Raises `ValueError` for an empty key.
        """
        if not secret_key:
            raise ValueError("SECRET_KEY is empty: set it to a long random "
                             "value")
        self._aead = AESGCM(_derive(secret_key, b"totp secret seal"))
        self._digest_key = _derive(secret_key, b"recovery code digest")

    @classmethod
    def from_settings(cls, settings: object) -> Optional["FactorKeys"]:
        """Return the keys of `settings.secret_key`, or None when unset."""
        secret_key = getattr(settings, "secret_key", None)
        return cls(secret_key) if secret_key else None

    def seal(self, user_id: str, plaintext: str) -> str:
        """Return `plaintext` encrypted for `user_id` as text.

        The text is `v1:` and the URL-safe Base64 of a random 96-bit nonce
        followed by the AES-GCM ciphertext and tag; the user id is the
        associated data, so a sealed value copied into another user's
        record does not open.
        """
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"),
                                    user_id.encode("utf-8"))
        return "{}:{}".format(SEAL_VERSION, base64.urlsafe_b64encode(
            nonce + sealed).decode("ascii"))

    def open(self, user_id: str, sealed: object) -> Optional[str]:
        """Return the plaintext `seal(user_id, ...)` gave, or None.

        None when `sealed` is not such a text, was sealed for another
        user or under another key, or was altered.
        """
        if not isinstance(sealed, str) or not sealed.startswith(
                SEAL_VERSION + ":"):
            return None
        try:
            raw = base64.urlsafe_b64decode(sealed[len(SEAL_VERSION) + 1:])
            plain = self._aead.decrypt(raw[:_NONCE_BYTES],
                                       raw[_NONCE_BYTES:],
                                       user_id.encode("utf-8"))
            return plain.decode("utf-8")
        except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError):
            return None

    def code_digest(self, user_id: str, code: str) -> str:
        """Return the HMAC-SHA256 hex digest of recovery `code` of `user_id`.

        `code` must already be normalised (see `mfa.normalize_code`).
        """
        message = "{}\x00{}".format(user_id, code).encode("utf-8",
                                                          "surrogatepass")
        return hmac.new(self._digest_key, message,
                        hashlib.sha256).hexdigest()
