#!/usr/bin/env python3
"""Brute-force limits on the login route, with Flask-Limiter.

Only failed logins count (401 wrong password, 404 unknown email). Once a
client address or an account (the email, lower-cased) has spent its
failures, every login attempt for it answers 429
`{"error": "Too many requests"}` with `Retry-After` (seconds) until the
window passes (OWASP Authentication Cheat Sheet). Counters live in memory
by default; set `RATELIMIT_STORAGE_URI` (for example
`redis://127.0.0.1:6379`) to share them between processes and machines.
"""
import math
import time
from typing import Callable

from flask import Flask, Response, jsonify, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address

from api.v1.auth.events import email_digest, log_event
from api.v1.config import Settings

LOGIN_ENDPOINT = "app_views.login"
TOO_MANY_REQUESTS = {"error": "Too many requests"}


def _login_failed(response: Response) -> bool:
    """Return True if `response` reports a failed login attempt."""
    return response.status_code in (401, 404)


def _account_key() -> str:
    """Return the rate-limit key of the account a login names."""
    return "account:" + (request.form.get("email") or "").strip().lower()


def init_login_limits(app: Flask, settings: Settings) -> Limiter:
    """Attach the login limits of `settings` to `app`; return the limiter.

    Call it after the blueprint is registered. Limit strings use the
    `limits` syntax, such as `5 per minute`.
    """
    limiter = Limiter(get_remote_address, app=app,
                      storage_uri=settings.ratelimit_storage_uri)
    view: Callable = app.view_functions[LOGIN_ENDPOINT]
    view = limiter.limit(settings.login_limit_per_address,
                         deduct_when=_login_failed)(view)
    view = limiter.limit(settings.login_limit_per_account,
                         key_func=_account_key,
                         deduct_when=_login_failed)(view)
    app.view_functions[LOGIN_ENDPOINT] = view

    @app.errorhandler(RateLimitExceeded)
    def too_many_requests(error: RateLimitExceeded) -> Response:
        """Answer 429 `{"error": "Too many requests"}` with Retry-After."""
        response = jsonify(TOO_MANY_REQUESTS)
        response.status_code = 429
        current = limiter.current_limit
        wait = current.reset_at - time.time() if current else 60
        response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        log_event("rate_limited", email=email_digest(
            request.form.get("email")), limit=str(error.limit.limit))
        return response

    return limiter
