"""A software WebAuthn authenticator for tests, built on `cryptography`.

py_webauthn verifies responses but cannot make them; this makes them as
an authenticator with an ES256 (P-256) key would: a registration
response with `none` attestation and authentication responses
(assertions), in the WebAuthn JSON form, with knobs to break each part
the server must check.
"""
import base64
import hashlib
import json
import os
import struct
from typing import Optional

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SoftAuthenticator:
    """One resident ES256 credential, as a platform authenticator holds."""

    def __init__(self, origin: str = "http://localhost",
                 rp_id: str = "localhost") -> None:
        self.origin = origin
        self.rp_id = rp_id
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = 0
        self.user_handle: Optional[bytes] = None

    @property
    def id(self) -> str:
        return b64url(self.credential_id)

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1,
                            -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})

    def _client_data(self, kind: str, challenge: str,
                     origin: Optional[str]) -> bytes:
        return json.dumps({"type": kind, "challenge": challenge,
                           "origin": origin or self.origin,
                           "crossOrigin": False}).encode()

    def _auth_data(self, flags: int, count: int, rp_id: Optional[str],
                   attested: bytes = b"") -> bytes:
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        return rp_hash + bytes([flags]) + struct.pack(">I", count) + attested

    def register(self, options: dict, origin: Optional[str] = None,
                 rp_id: Optional[str] = None, uv: bool = True) -> dict:
        """Answer creation `options` (the server's JSON) as `create()` does."""
        self.user_handle = unb64url(options["user"]["id"])
        attested = (b"\0" * 16 + struct.pack(">H", len(self.credential_id))
                    + self.credential_id + self.cose_key())
        flags = UP | AT | (UV if uv else 0)
        auth_data = self._auth_data(flags, self.sign_count, rp_id, attested)
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {},
                                   "authData": auth_data})
        client_data = self._client_data("webauthn.create",
                                        options["challenge"], origin)
        return {"id": self.id, "rawId": self.id, "type": "public-key",
                "response": {"clientDataJSON": b64url(client_data),
                             "attestationObject": b64url(attestation),
                             "transports": ["internal"]},
                "clientExtensionResults": {},
                "authenticatorAttachment": "platform"}

    def assert_(self, options: dict, origin: Optional[str] = None,
                rp_id: Optional[str] = None, uv: bool = True,
                count: Optional[int] = None, tamper: bool = False,
                user_handle: Optional[bytes] = None) -> dict:
        """Answer request `options` as `get()` does; the counter moves on.

        `count` forces the signature counter; `tamper` flips a bit of the
        signature.
        """
        if count is None:
            self.sign_count += 1
            count = self.sign_count
        auth_data = self._auth_data(UP | (UV if uv else 0), count, rp_id)
        client_data = self._client_data("webauthn.get",
                                        options["challenge"], origin)
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(),
            ec.ECDSA(hashes.SHA256()))
        if tamper:
            signature = signature[:-1] + bytes([signature[-1] ^ 1])
        handle = user_handle or self.user_handle
        return {"id": self.id, "rawId": self.id, "type": "public-key",
                "response": {"clientDataJSON": b64url(client_data),
                             "authenticatorData": b64url(auth_data),
                             "signature": b64url(signature),
                             "userHandle": b64url(handle)
                             if handle else None},
                "clientExtensionResults": {},
                "authenticatorAttachment": "platform"}
