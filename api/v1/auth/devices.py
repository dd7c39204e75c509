#!/usr/bin/env python3
"""Device cookies: a login remembers the client it succeeded from.

OWASP "Slow Down Online Guessing Attacks with Device Cookies"
(account-security §3): a successful login sets `DEVICE_COOKIE_NAME`
(default `_device_id`) to a random token of 256 bits; the flow store
keeps only its SHA-256 with the account id, for one year. A later login
attempt that presents a valid device cookie of the account is not
subject to the account-wide limit, so guesses from elsewhere cannot lock
the owner out of a device it used before. Each login sets the cookie
again: a new token replaces the presented one, which ends.
"""
import secrets
from typing import Any, Optional

from flask import Request, Response

DEVICE_KIND = "device"
DEVICE_SECONDS = 365 * 24 * 3600
MAX_TOKEN_LENGTH = 128
"""A presented token longer than this (or holding NUL) is no token."""


def presented_token(auth: Any, request: Request) -> Optional[str]:
    """Return the device token the request presents, or None.

    None without a device cookie, or when its value cannot be a token.
    """
    token = request.cookies.get(auth.settings.device_cookie_name)
    if not token or len(token) > MAX_TOKEN_LENGTH or "\x00" in token:
        return None
    return token


def device_owner(auth: Any, request: Request) -> Optional[str]:
    """Return the account id of the request's valid device cookie, or None.

    Reads the flow store once; None without a cookie, for an unknown or
    expired token, or outside an app (no flow store).
    """
    token = presented_token(auth, request)
    flows = getattr(auth, "flows", None)
    if token is None or flows is None:
        return None
    value = flows.get(DEVICE_KIND, token)
    owner = value.get("user_id") if value else None
    return owner if isinstance(owner, str) else None


def renew_device_cookie(auth: Any, request: Request, response: Response,
                        user_id: str) -> bool:
    """Give the client a new device token of `user_id` on `response`.

    The token the request presented is ended when it was one of this
    account's (other clients' tokens stay valid). The cookie is HttpOnly,
    SameSite=Lax, Path `/api/v1`, Max-Age one year, and Secure with
    `SESSION_COOKIE_SECURE` (RFC 6265). Returns True when the request
    presented a valid device cookie of `user_id` (a known device).
    """
    flows = getattr(auth, "flows", None)
    if flows is None:
        return False
    old = presented_token(auth, request)
    known = False
    if old is not None:
        value = flows.get(DEVICE_KIND, old)
        known = bool(value) and value.get("user_id") == user_id
        if known:
            flows.delete(DEVICE_KIND, old)
    token = secrets.token_urlsafe(32)
    flows.put(DEVICE_KIND, token, {"user_id": user_id}, DEVICE_SECONDS,
              user_id=user_id)
    response.set_cookie(auth.settings.device_cookie_name, token,
                        max_age=DEVICE_SECONDS, path="/api/v1",
                        secure=auth.settings.session_cookie_secure,
                        httponly=True, samesite="Lax")
    return known
