#!/usr/bin/env python3
"""One log line per authentication event, without secrets.

Lines go to the `api.auth` logger at INFO level, for example
`auth event=login_failed email=3f1c0e7a9b2d4e61 reason=wrong_password`.
Emails are logged as the first 16 hex digits of their SHA-256; passwords,
hashes and session ids are never logged (OWASP Logging Cheat Sheet).
"""
import hashlib
import logging
from typing import Optional

logger = logging.getLogger("api.auth")


def email_digest(email: Optional[str]) -> str:
    """Return a short SHA-256 digest of `email` (16 hex digits), or `-`."""
    if not isinstance(email, str):
        return "-"
    return hashlib.sha256(email.encode("utf-8", "replace")).hexdigest()[:16]


def log_event(event: str, **fields: object) -> None:
    """Log `event` with `fields` as `key=value` pairs, in argument order."""
    pairs = " ".join("{}={}".format(key, value)
                     for key, value in fields.items())
    logger.info("auth event=%s %s", event, pairs)
