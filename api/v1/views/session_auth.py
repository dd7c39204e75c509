#!/usr/bin/env python3
"""Session views: log in and out, list and end one's own sessions."""
from datetime import datetime
from typing import Optional, Tuple

from flask import abort, jsonify, request

from api.v1.auth.devices import device_owner
from api.v1.auth.events import email_digest, log_event
from api.v1.auth.login import start_session
from api.v1.auth.mfa import begin_second_step, has_second_factor
from api.v1.auth.session_auth import SessionAuth
from api.v1.views import active_auth, active_settings, app_views
from models import passwords
from models.base import format_timestamp
from models.emails import credentials_are_plausible
from models.user import User


def _session_auth() -> SessionAuth:
    """Return the active session auth, or answer 404 when there is none.

    The session routes exist only under a session auth (spec A4).
    """
    auth = active_auth()
    if not isinstance(auth, SessionAuth):
        abort(404)
    return auth


@app_views.route('/auth_session/login', methods=['POST'],
                 strict_slashes=False)
def login() -> Tuple[str, int]:
    """POST /api/v1/auth_session/login: start a session.

    Form fields `email` and `password`. Returns 200 with the user and sets
    the session cookie and a device cookie (account-security §3); 400
    `email missing`, `password missing` or `password too long` (over
    1,024 characters); 404 `no user found for this email`; 401 `wrong
    password` (spec §6.3); 429 past the limits on password checks. The
    email is compared as stored, else normalised; an email over 254
    characters, or an email or password holding NUL, is an unknown email
    before any normalisation or hashing (§1.3). A session the request
    already carries is ended first, so a session id planted before login
    is worthless (session fixation, OWASP). The new session records the
    credential epoch read with the password hash it was checked against,
    so a password changed meanwhile ends it. For a user with a second
    factor the right password answers 401 `{"error": "second factor
    required", "mfa_token"}` and sets no cookie (account-security §4.3).
    """
    auth = _session_auth()
    email = request.form.get('email')
    if email is None or email == "":
        return jsonify({"error": "email missing"}), 400
    password = request.form.get('password')
    if password is None or password == "":
        return jsonify({"error": "password missing"}), 400
    if len(password) > passwords.MAX_PASSWORD_LENGTH:
        return jsonify({"error": "password too long"}), 400
    if not credentials_are_plausible(email, password):
        return jsonify({"error": "no user found for this email"}), 404
    users = User.search_by_email(email)
    attempt = None
    if auth.limits is not None:
        owner = users[0].id if users else None
        attempt = auth.limits.attempt(
            email, request.remote_addr, owner,
            device_ok=owner is not None
            and device_owner(auth, request) == owner)
    if not users:
        passwords.spend_verification(password)
        log_event("login_failed", email=email_digest(email),
                  reason="unknown_email")
        return jsonify({"error": "no user found for this email"}), 404
    user = next((u for u in users if u.is_valid_password(password)), None)
    if user is None:
        log_event("login_failed", email=email_digest(email),
                  reason="wrong_password", user=users[0].id)
        return jsonify({"error": "wrong password"}), 401
    if attempt is not None:
        auth.limits.succeeded(attempt)
    if has_second_factor(user.id):
        token = begin_second_step(auth.flows, user, active_settings())
        log_event("second_factor_required", user=user.id)
        return jsonify({"error": "second factor required",
                        "mfa_token": token}), 401
    return start_session(auth, user, ["pwd"], user.auth_epoch), 200


@app_views.route('/auth_session/logout', methods=['DELETE'],
                 strict_slashes=False)
def logout() -> Tuple[str, int]:
    """DELETE /api/v1/auth_session/logout: end the current session.

    Returns 200 `{}` and clears the cookie; 404 when the cookie names no
    live session (the guard answers 401 or 403 before, spec A3).
    """
    auth = _session_auth()
    if not auth.destroy_session(request):
        abort(404)
    response = jsonify({})
    auth.clear_session_cookie(response)
    user = getattr(request, "current_user", None)
    log_event("logout", user=getattr(user, "id", "-"))
    return response, 200


def _caller() -> Tuple[SessionAuth, User, Optional[str]]:
    """Return the session auth, the caller and its session's handle.

    Answers 404 outside the session auth types.
    """
    auth = _session_auth()
    user = getattr(request, "current_user", None)
    if user is None:
        abort(404)
    session_id = auth.session_cookie(request)
    handle = auth.handle_of(session_id) if session_id else None
    return auth, user, handle


def _stamp(moment: Optional[datetime]) -> Optional[str]:
    """Return `moment` in the contract's timestamp format (UTC), or None."""
    return None if moment is None else format_timestamp(moment)


@app_views.route('/auth_session/sessions', methods=['GET'],
                 strict_slashes=False)
def list_sessions() -> Tuple[str, int]:
    """GET /api/v1/auth_session/sessions: the caller's live sessions.

    Returns 200 with a list of `{"id", "created_at", "last_seen",
    "expires_at", "current", "amr", "auth_time", "ip", "user_agent"}`,
    oldest first: `id` is the session's handle (the SHA-256 hex digest of
    its session id, never the id itself), times are UTC in the contract's
    format (`expires_at` null when the session does not expire),
    `current` tells the session of this request (ASVS 5.0 7.5.2), `amr`
    and `auth_time` how and when the user last authenticated in it (RFC
    8176; `["pwd"]` and the creation time for sessions from before they
    were recorded), `ip` and `user_agent` the client at login (null when
    unknown).
    """
    auth, user, current = _caller()
    listed = [{"id": handle,
               "created_at": _stamp(record.created_at),
               "last_seen": _stamp(record.last_seen or record.created_at),
               "expires_at": _stamp(auth.expires_at(record)),
               "current": handle == current,
               "amr": list(record.methods),
               "auth_time": _stamp(record.authenticated_at),
               "ip": record.ip, "user_agent": record.user_agent}
              for handle, record in auth.live_sessions(user)]
    return jsonify(listed), 200


@app_views.route('/auth_session/sessions/<handle>', methods=['DELETE'],
                 strict_slashes=False)
def end_session(handle: str) -> Tuple[str, int]:
    """DELETE /api/v1/auth_session/sessions/:id: end one of one's sessions.

    Returns 200 `{}` (and clears the cookie when it is the current
    session); 404 `{"error": "Not found"}` when the handle is not one of
    the caller's sessions.
    """
    auth, user, current = _caller()
    if not auth.revoke_session(user.id, handle):
        abort(404)
    response = jsonify({})
    if handle == current:
        auth.clear_session_cookie(response)
    return response, 200


@app_views.route('/auth_session/sessions', methods=['DELETE'],
                 strict_slashes=False)
def end_other_sessions() -> Tuple[str, int]:
    """DELETE /api/v1/auth_session/sessions: end all but this session.

    Returns 200 `{"revoked": <count>}`.
    """
    auth, user, current = _caller()
    return jsonify({"revoked": auth.revoke_user_sessions(user.id,
                                                         keep=current)}), 200
