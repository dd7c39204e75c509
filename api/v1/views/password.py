#!/usr/bin/env python3
"""The user's own password change: `PUT /api/v1/users/me/password`."""
from datetime import datetime
from typing import Optional, Tuple

from flask import abort, jsonify, request

from api.v1.auth.credentials import (PasswordCheckUnavailable,
                                     PasswordRefused, change_password)
from api.v1.auth.devices import device_owner
from api.v1.auth.events import log_event
from api.v1.auth.login import start_session
from api.v1.auth.mfa import has_second_factor
from api.v1.auth.session_auth import SessionAuth
from api.v1.auth.stores.base import SessionRecord
from api.v1.views import active_auth, active_settings, app_views
from api.v1.views.users import WRONG_FORMAT, json_object
from models.passwords import MAX_PASSWORD_LENGTH

CHECK_UNAVAILABLE = {"error": "password check unavailable"}
EPOCH = datetime(1970, 1, 1)
"""The `auth_time` of a renewed session whose old one is gone: not recent."""


@app_views.route('/users/me/password', methods=['PUT'], strict_slashes=False)
def change_own_password() -> Tuple[str, int]:
    """PUT /api/v1/users/me/password: change one's own password.

    JSON body `{"current_password", "new_password"}` (account-security
    §2). Returns 200 `{}`; 400 `Wrong format`, `current_password
    missing`, `new_password missing`, `new_password is longer than 1024
    characters` or `password refused: <reason>` (the §1.1 policy under
    `ACCOUNT_POLICY=strict`); 403 `wrong password`, counted by the limits
    on password checks like a login (429 past them); 503 `password check
    unavailable` when the breach range service fails and fails closed;
    404 without an authenticated user (no `AUTH_TYPE`). On success every
    session of the user ends on every process and host (credential
    epoch), the Basic cache misses the old password, and under a session
    `AUTH_TYPE` this client gets a new session cookie with the `amr` and
    `auth_time` of a fresh login. For a user with a second factor a fresh
    login needs that factor too, which the password alone does not show:
    the new session keeps the old one's `amr` and `auth_time`, so that a
    password change does not make a session recent (§4.4; ASVS 5.0 7.5.1:
    no change of authentication factors without full reauthentication).
    """
    user = getattr(request, "current_user", None)
    if user is None:
        abort(404)
    body = json_object()
    if body is None:
        return jsonify(WRONG_FORMAT), 400
    current = body.get("current_password")
    new = body.get("new_password")
    if current is None or current == "":
        return jsonify({"error": "current_password missing"}), 400
    if new is None or new == "":
        return jsonify({"error": "new_password missing"}), 400
    if not isinstance(current, str) or not isinstance(new, str):
        return jsonify(WRONG_FORMAT), 400
    if len(new) > MAX_PASSWORD_LENGTH:
        return jsonify({"error": "new_password is longer than {} "
                        "characters".format(MAX_PASSWORD_LENGTH)}), 400
    auth = active_auth()
    if not _current_password_holds(auth, user, current):
        return jsonify({"error": "wrong password"}), 403
    carried = _session_kept(auth, user)
    try:
        change_password(user, new, active_settings(), "changed")
    except PasswordRefused as refused:
        return jsonify({"error": refused.message}), 400
    except PasswordCheckUnavailable:
        return jsonify(CHECK_UNAVAILABLE), 503
    if not isinstance(auth, SessionAuth):
        return jsonify({}), 200
    amr, auth_time = (["pwd"], None) if carried is None else (
        list(carried.methods), carried.authenticated_at or EPOCH)
    return start_session(auth, user, amr, body={}, event=None,
                         auth_time=auth_time), 200


def _session_kept(auth: object, user: object) -> Optional[SessionRecord]:
    """Return the session whose assurance the renewed one keeps, or None.

    None (the renewed session is a fresh password login) unless `auth` is
    a session auth and `user` has a second factor; then the record of the
    request's session, or an empty record (never recent) if it is gone.
    """
    if not isinstance(auth, SessionAuth) or not has_second_factor(user.id):
        return None
    session_id = auth.session_cookie(request)
    record = auth.store.get(session_id) \
        if isinstance(session_id, str) else None
    return record if record is not None else SessionRecord(user.id)


def _current_password_holds(auth: object, user: object,
                            password: str) -> bool:
    """Return True if `password` is the user's; count it like a login.

    The attempt is counted by the app's limits before the check (429
    past them) and given back when it holds. Over-long or NUL-holding
    values are wrong without hashing.
    """
    limits = getattr(auth, "limits", None)
    attempt = None
    if limits is not None:
        attempt = limits.attempt(
            user.email, request.remote_addr, user.id,
            device_ok=device_owner(auth, request) == user.id,
            via="password_change")
    if len(password) > MAX_PASSWORD_LENGTH or "\x00" in password \
            or not user.is_valid_password(password):
        log_event("password_change_failed", user=user.id)
        return False
    if attempt is not None:
        limits.succeeded(attempt)
    return True
