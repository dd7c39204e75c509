#!/usr/bin/env python3
"""The user authentication service: a Flask app over `Auth`.

Run `python3 app.py`; it serves on `API_HOST`:`API_PORT` (default
0.0.0.0:5000), without debug mode or reloader. Request bodies are form
fields, at most `MAX_BODY_BYTES` (1 MiB; larger ones get 413); the session
travels in the cookie `session_id`. This module is the only reader of the
environment (contract §0): `SETTINGS` holds what it found, and `AUTH` is
built from it (the settings are listed in `settings.py` and README.md).
"""
import logging
import os
import sys
from typing import Optional, Tuple

from flask import Flask, Response, abort, jsonify, redirect, request
from sqlalchemy.exc import SQLAlchemyError

from auth import MAX_PASSWORD_BYTES, Auth
from cross_site import UNSAFE_METHODS, is_cross_site
from settings import Settings
from throttle import CountersUnavailable
from user import User

SESSION_COOKIE = "session_id"
# One set of attributes for setting and clearing the cookie: a browser
# deletes a cookie only when the path and domain match.
COOKIE_FLAGS = {"path": "/", "httponly": True, "samesite": "Lax"}
TOO_MANY_REQUESTS = {"message": "too many requests"}
MAX_BODY_BYTES = 1024 * 1024

app = Flask(__name__)
# Every form of this service is a few short fields; a larger body is an
# attack on memory or disk (OWASP Denial of Service Cheat Sheet).
app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
logger = logging.getLogger("user_auth_service")
try:
    SETTINGS = Settings.from_environ(os.environ)
    AUTH = Auth(SETTINGS)
except (ValueError, OSError, SQLAlchemyError) as exc:
    if __name__ != "__main__":
        raise
    if isinstance(exc, SQLAlchemyError):
        # Not the driver's text, which may quote the URL and its password.
        exc = "the database of UAS_DATABASE_URL cannot be opened ({})" \
            .format(type(exc).__name__)
    sys.exit("error: {}".format(exc))


def _too_many(retry_after: int) -> Response:
    """Return the 429 answer, with `Retry-After` in whole seconds."""
    response = jsonify(TOO_MANY_REQUESTS)
    response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


@app.before_request
def refuse_cross_site_writes() -> Optional[Response]:
    """Answer 403 to a POST, PUT or DELETE that a browser marks cross-site.

    Runs before any view, so a refused request reads no form, checks no
    password and changes nothing (login CSRF included; OWASP CSRF
    Prevention Cheat Sheet). Returns None to let the request go on.
    """
    if request.method in UNSAFE_METHODS and is_cross_site(
            request.headers, request.scheme, request.host):
        abort(403)
    return None


@app.errorhandler(CountersUnavailable)
def counters_unavailable(
        error: CountersUnavailable) -> Tuple[Response, int]:
    """Answer 503 when the counters' storage (Redis) cannot be reached.

    A login or registration is then refused rather than let through
    unthrottled; the cause is logged, never sent.
    """
    logger.warning("503: the counters' storage cannot be reached: %s",
                   error)
    return jsonify({"message": "service unavailable"}), 503


MAX_EMAIL_LENGTH = User.__table__.c.email.type.length
"""The longest email `users.email` holds (250 characters)."""


def _too_long(password: str) -> bool:
    """Return True if `password` exceeds bcrypt's 72 bytes in UTF-8."""
    return len(password.encode("utf-8")) > MAX_PASSWORD_BYTES


def _email_problem(email: str) -> Optional[str]:
    """Return the 400 message for an email no database can store, or None.

    Over the 250 characters of `users.email` (task 0's `String(250)`,
    which PostgreSQL enforces and SQLite does not), or holding NUL (which
    PostgreSQL's text cannot hold): refused the same way on every
    database, and never reported as a duplicate (the lesson of A21).
    """
    if len(email) > MAX_EMAIL_LENGTH:
        return "email too long"
    if "\x00" in email:
        return "invalid email"
    return None


@app.route("/", methods=["GET"])
def index() -> Response:
    """GET /: return `{"message": "Bienvenue"}`."""
    return jsonify({"message": "Bienvenue"})


@app.route("/users", methods=["POST"])
def users() -> Tuple[Response, int]:
    """POST /users: register form fields `email` and `password`.

    Returns 200 `user created`, or 400 with `email and password required`,
    `password too long`, `email too long` (over 250 characters), `invalid
    email` (NUL) or `email already registered`, in this order;
    429 `{"message": "too many requests"}` with `Retry-After` (seconds)
    past 10 registrations a minute from one address, counted before the
    duplicate check and bcrypt.
    """
    email = request.form.get("email")
    password = request.form.get("password")
    if not email or not password:
        return jsonify({"message": "email and password required"}), 400
    if _too_long(password):
        return jsonify({"message": "password too long"}), 400
    problem = _email_problem(email)
    if problem is not None:
        return jsonify({"message": problem}), 400
    retry_after = AUTH.acquire_registration(request.remote_addr)
    if retry_after:
        return _too_many(retry_after), 429
    try:
        user = AUTH.register_user(email, password)
    except ValueError:
        return jsonify({"message": "email already registered"}), 400
    return jsonify({"email": user.email, "message": "user created"}), 200


@app.route("/sessions", methods=["POST"])
def login() -> Response:
    """POST /sessions: log in with form fields `email` and `password`.

    Returns 200 `logged in` and sets the `session_id` cookie (HttpOnly,
    SameSite=Lax; `Max-Age` is `UAS_SESSION_SECONDS` when set); 401 for
    missing fields or wrong credentials; 429 `{"message": "too many
    requests"}` with `Retry-After` (seconds) once a login limit is used
    up (see `throttle`). The address is the TCP peer's: behind a proxy,
    wrap the app in Werkzeug's ProxyFix, or every client shares the
    proxy's limit.
    """
    email = request.form.get("email")
    password = request.form.get("password")
    if not email or not password:
        abort(401)
    outcome = AUTH.throttled_login(email, password, request.remote_addr)
    if outcome.retry_after is not None:
        return _too_many(outcome.retry_after)
    if not outcome.valid:
        abort(401)
    session_id = AUTH.create_session(email, getattr(outcome, "checked",
                                                    None))
    if session_id is None:
        abort(401)
    response = jsonify({"email": email, "message": "logged in"})
    # With a session lifetime the browser drops the cookie when the
    # server stops honouring it; without one it is a browser session.
    response.set_cookie(SESSION_COOKIE, session_id,
                        max_age=AUTH.settings.session_seconds or None,
                        **COOKIE_FLAGS)
    return response


@app.route("/sessions", methods=["DELETE"])
def logout() -> Response:
    """DELETE /sessions: end the session of the cookie, redirect to `/`.

    Returns 302 to `/` and clears the `session_id` cookie (empty value,
    `Max-Age=0`, expiry in the past, the login cookie's `Path=/`), so the
    browser drops the dead id (OWASP Session Management Cheat Sheet);
    403 when the cookie is missing, empty or stale.
    """
    user = AUTH.get_user_from_session_id(request.cookies.get(SESSION_COOKIE))
    if user is None:
        abort(403)
    AUTH.destroy_session(user.id)
    response = redirect("/")
    response.delete_cookie(SESSION_COOKIE, **COOKIE_FLAGS)
    return response


@app.route("/profile", methods=["GET"])
def profile() -> Response:
    """GET /profile: return `{"email": ...}` of the session's user.

    403 when the cookie is missing, empty or stale, or the session is
    older than `UAS_SESSION_SECONDS` (when set).
    """
    user = AUTH.get_user_from_session_id(request.cookies.get(SESSION_COOKIE))
    if user is None:
        abort(403)
    return jsonify({"email": user.email})


@app.route("/reset_password", methods=["POST"])
def get_reset_password_token() -> Response:
    """POST /reset_password: make a reset token for form field `email`.

    Returns 200 `{"email", "reset_token"}`; 403 for a missing or unknown
    email.
    """
    email = request.form.get("email")
    if not email:
        abort(403)
    try:
        reset_token = AUTH.get_reset_password_token(email)
    except ValueError:
        abort(403)
    return jsonify({"email": email, "reset_token": reset_token})


@app.route("/reset_password", methods=["PUT"])
def update_password() -> Tuple[Response, int]:
    """PUT /reset_password: set a new password with a reset token.

    Form fields `email`, `reset_token` and `new_password`. Returns 200
    `Password updated`; 403 when the token is missing, unknown or older
    than `RESET_TOKEN_SECONDS`, or the email is not its user's; 400
    `new_password required` or `password too long`. Nothing changes on
    an error (contract §4, A10, A11).
    """
    email = request.form.get("email")
    reset_token = request.form.get("reset_token")
    new_password = request.form.get("new_password")
    owner = AUTH.get_email_from_reset_token(reset_token)
    if owner is None or not email or email != owner:
        abort(403)
    if not new_password:
        return jsonify({"message": "new_password required"}), 400
    if _too_long(new_password):
        return jsonify({"message": "password too long"}), 400
    try:
        AUTH.update_password(reset_token, new_password)
    except ValueError:
        abort(403)
    return jsonify({"email": email, "message": "Password updated"}), 200


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    app.run(host=SETTINGS.api_host, port=SETTINGS.api_port, debug=False,
            use_reloader=False)
