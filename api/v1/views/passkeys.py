#!/usr/bin/env python3
"""Passkey views: register, list and remove passkeys; log in with one.

Thin views over `api.v1.auth.passkeys` (account-security §5.1 and §5.2).
They exist only under a session `AUTH_TYPE` (404 otherwise, as A4). The
login routes are open; the others need a live session, and those marked
recent in the spec need an `auth_time` within `REAUTH_SECONDS` (§4.4).
"""
from typing import Tuple

from flask import abort, current_app, jsonify, request

from api.v1.auth import passkeys
from api.v1.auth.events import log_event
from api.v1.mail.notices import notify
from api.v1.auth.login import start_session
from api.v1.auth.mfa import require_recent
from api.v1.config import FLOW_EXTENSION
from api.v1.views import active_settings, app_views
from api.v1.views.session_auth import _session_auth
from api.v1.views.users import WRONG_FORMAT, json_object
from models.passkey import Passkey

REFUSED = {"error": "passkey refused"}
REAUTHENTICATE = {"error": "reauthentication required"}


def _flows() -> object:
    """Return the flow store of the app serving this request."""
    return current_app.extensions[FLOW_EXTENSION]


def _signed_in() -> object:
    """Return the caller of a guarded passkey route.

    Answers 404 outside a session `AUTH_TYPE` (and without a user, which
    the guard otherwise answers first).
    """
    _session_auth()
    user = getattr(request, "current_user", None)
    if user is None:
        abort(404)
    return user


def _recent() -> bool:
    """Return True if the caller's session authenticated recently (§4.4).

    The one rule of `api.v1.auth.mfa.require_recent` (which answers 401
    `reauthentication required` itself when the login is not recent).
    """
    require_recent(_session_auth(), active_settings())
    return True


@app_views.route('/auth_session/passkeys/register/options',
                 methods=['POST'], strict_slashes=False)
def passkey_registration_options() -> Tuple[str, int]:
    """POST /api/v1/auth_session/passkeys/register/options (recent).

    Returns 200 with the creation options in the WebAuthn JSON form (the
    user's passkeys in `excludeCredentials`, a resident key and user
    verification required); 401 `reauthentication required` when the
    session's `auth_time` is older than `REAUTH_SECONDS`.
    """
    user = _signed_in()
    if not _recent():
        return jsonify(REAUTHENTICATE), 401
    return jsonify(passkeys.registration_options(
        _flows(), active_settings(), request, user)), 200


@app_views.route('/auth_session/passkeys/register', methods=['POST'],
                 strict_slashes=False)
def passkey_register() -> Tuple[str, int]:
    """POST /api/v1/auth_session/passkeys/register: store a new passkey.

    JSON body `{"credential": <registration response JSON>, "name"}`.
    Returns 201 `{"id", "name", "created_at"}`; 400 `Wrong format` for a
    body that is not a JSON object, 400 `passkey refused: <reason>` for a
    response that does not verify (nothing is stored then).
    """
    user = _signed_in()
    body = json_object()
    if body is None:
        return jsonify(WRONG_FORMAT), 400
    try:
        passkey = passkeys.register(_flows(), active_settings(), request,
                                    user, body.get("credential"),
                                    body.get("name"))
    except passkeys.PasskeyRefused as refused:
        return jsonify({"error": "passkey refused: {}".format(
            refused.reason)}), 400
    shown = passkeys.listing(passkey)
    del shown["last_used_at"]
    return jsonify(shown), 201


@app_views.route('/auth_session/passkeys', methods=['GET'],
                 strict_slashes=False)
def passkey_list() -> Tuple[str, int]:
    """GET /api/v1/auth_session/passkeys: the caller's passkeys.

    Returns 200 `[{"id", "name", "created_at", "last_used_at"}]`, oldest
    first (`last_used_at` null when never used).
    """
    user = _signed_in()
    return jsonify([passkeys.listing(key)
                    for key in Passkey.of_user(user.id)]), 200


@app_views.route('/auth_session/passkeys/<credential_id>',
                 methods=['DELETE'], strict_slashes=False)
def passkey_delete(credential_id: str) -> Tuple[str, int]:
    """DELETE /api/v1/auth_session/passkeys/:id (recent): remove a passkey.

    Returns 200 `{}`; 404 `Not found` when `id` is not the credential id
    of one of the caller's passkeys; 401 `reauthentication required`.
    """
    user = _signed_in()
    if not _recent():
        return jsonify(REAUTHENTICATE), 401
    passkey = Passkey.by_credential_id(credential_id)
    if passkey is None or passkey.user_id != user.id:
        abort(404)
    passkey.remove()
    log_event("passkey_removed", user=user.id)
    notify(user, "second_factor_changed", "A passkey was removed.")
    return jsonify({}), 200


@app_views.route('/auth_session/passkeys/login/options', methods=['POST'],
                 strict_slashes=False)
def passkey_login_options() -> Tuple[str, int]:
    """POST /api/v1/auth_session/passkeys/login/options (open).

    Returns 200 with request options in the WebAuthn JSON form
    (`challenge`, `rpId`, `userVerification: "required"`, an empty
    `allowCredentials`); the challenge lives 300 s and serves one login
    or one second step (§4.3).
    """
    _session_auth()
    return jsonify(passkeys.authentication_options(
        _flows(), active_settings(), request)), 200


@app_views.route('/auth_session/passkeys/login', methods=['POST'],
                 strict_slashes=False)
def passkey_login() -> Tuple[str, int]:
    """POST /api/v1/auth_session/passkeys/login (open): log in.

    JSON body `{"credential": <authentication response JSON>}`. Returns
    200 with the user and the session cookie (`amr` `["hwk"]`); 400
    `Wrong format` for a body that is not a JSON object; 401 `passkey
    refused` for every assertion that does not verify (see
    `passkeys.authenticate`).
    """
    auth = _session_auth()
    body = json_object()
    if body is None:
        return jsonify(WRONG_FORMAT), 400
    try:
        user, _ = passkeys.authenticate(_flows(), active_settings(),
                                        request, body.get("credential"),
                                        require_handle=True)
    except passkeys.PasskeyRefused:
        return jsonify(REFUSED), 401
    return start_session(auth, user, ["hwk"]), 200
