#!/usr/bin/env python3
"""Session views: log in with email and password, log out."""
from typing import Tuple

from flask import abort, jsonify, request

from api.v1.auth.events import email_digest, log_event
from api.v1.auth.session_auth import SessionAuth
from api.v1.views import active_auth, app_views
from models import passwords
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
    the session cookie; 400 `email missing` or `password missing`; 404 `no
    user found for this email`; 401 `wrong password` (spec §6.3). A
    session the request already carries is ended first, so a session id
    planted before login is worthless (session fixation, OWASP).
    """
    auth = _session_auth()
    email = request.form.get('email')
    if email is None or email == "":
        return jsonify({"error": "email missing"}), 400
    password = request.form.get('password')
    if password is None or password == "":
        return jsonify({"error": "password missing"}), 400
    users = User.search({'email': email})
    if not users:
        passwords.spend_verification(password)
        log_event("login_failed", email=email_digest(email),
                  reason="unknown_email")
        return jsonify({"error": "no user found for this email"}), 404
    user = next((u for u in users if u.is_valid_password(password)), None)
    if user is None:
        log_event("login_failed", email=email_digest(email),
                  reason="wrong_password")
        return jsonify({"error": "wrong password"}), 401
    auth.destroy_session(request)
    session_id = auth.create_session(user.id)
    response = jsonify(user.to_json())
    auth.set_session_cookie(response, session_id)
    log_event("login", user=user.id)
    return response, 200


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
