#!/usr/bin/env python3
"""The caller's security events (account-security §6.4)."""
from typing import Optional, Tuple

from flask import jsonify, request

from api.v1.views import active_settings, app_views
from api.v1.views.session_auth import _caller
from models.auth_event import AuthEvent

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
INVALID_LIMIT = {"error": "invalid limit"}


def parse_limit(value: Optional[str]) -> Optional[int]:
    """Return the `limit` of the query: default 50, at most 200.

    Returns None when `value` is not a positive integer written in ASCII
    digits (no sign, no space), which the route answers with 400. Any
    number over 200 gives 200 (§6.4), however many digits it has: only
    its significant digits are counted, never converted past that.
    """
    if value is None:
        return DEFAULT_LIMIT
    if not value.isascii() or not value.isdigit():
        return None
    digits = value.lstrip("0")
    if not digits:
        return None
    return MAX_LIMIT if len(digits) > 3 else min(int(digits), MAX_LIMIT)


@app_views.route('/auth_session/events', methods=['GET'],
                 strict_slashes=False)
def list_events() -> Tuple[str, int]:
    """GET /api/v1/auth_session/events: the caller's security events.

    Returns 200 with at most `limit` (default 50, at most 200) events of
    the current user, newest first: `[{"type", "at", "ip",
    "user_agent"}]`, `at` UTC in the contract's format, `ip` and
    `user_agent` those of the request that caused the event (null when
    it came from the command line). 400 `{"error": "invalid limit"}` when
    `limit` is not a positive integer; 404 outside the session auth
    types (the guard answers 401 or 403 first).
    """
    _, user, _ = _caller()
    limit = parse_limit(request.args.get("limit"))
    if limit is None:
        return jsonify(INVALID_LIMIT), 400
    days = active_settings().auth_events_days
    events = AuthEvent.of_user(user.id, limit, days)
    return jsonify([event.listed() for event in events]), 200
