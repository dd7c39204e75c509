#!/usr/bin/env python3
"""Users views: list, read, create, update and delete users."""
import logging
from typing import Optional, Tuple

from flask import Response, abort, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from api.v1.views import (active_settings, app_views, policy_principal,
                          require_reach)
from models.emails import MAX_EMAIL_LENGTH, is_valid_address
from models.password_policy import (PasswordCheckUnavailable,
                                    PasswordRefused, check_new_password)
from models.passwords import MAX_PASSWORD_LENGTH
from models.store import DuplicateRecordError
from models.user import User

WRONG_FORMAT = {"error": "Wrong format"}
NAME_FIELDS = ("first_name", "last_name")
MAX_NAME_LENGTH = 256
DUPLICATE_EMAIL = "email already registered"

logger = logging.getLogger(__name__)


def json_object() -> Optional[dict]:
    """Return the request's JSON body if it is an object, else None.

    A non-JSON content type (415 since Flask 2.1, A29), malformed or too
    deeply nested JSON gives None; a body over `MAX_CONTENT_LENGTH` keeps
    its 413.
    """
    try:
        body = request.get_json()
    except RequestEntityTooLarge:
        raise
    except HTTPException:
        return None
    return body if isinstance(body, dict) else None


def _names_are_valid(body: dict) -> bool:
    """Return True if the name fields of `body` are absent, null or str."""
    return all(body.get(field) is None or isinstance(body.get(field), str)
               for field in NAME_FIELDS)


def _field_problem(body: dict) -> Optional[str]:
    """Return which field of `body` is over its limit or holds NUL, or None.

    Limits: email 254 characters (RFC 5321), each name 256, password
    1,024. NUL is refused on every store: a database's text cannot hold
    it, and a login refuses it anyway (account-security §1.3).
    """
    limits = [("email", MAX_EMAIL_LENGTH), ("password", MAX_PASSWORD_LENGTH)]
    limits += [(field, MAX_NAME_LENGTH) for field in NAME_FIELDS]
    for field, limit in limits:
        value = body.get(field)
        if isinstance(value, str) and len(value) > limit:
            return "{} is longer than {} characters".format(field, limit)
        if isinstance(value, str) and "\x00" in value:
            return "{} holds a NUL character".format(field)
    return None


def _stored_user(user_id: str) -> User:
    """Return the user `user_id` the caller may reach, or answer 403/404."""
    require_reach(user_id)
    user = User.get(user_id)
    if user is None:
        abort(404)
    return user


@app_views.route('/users', methods=['GET'], strict_slashes=False)
def view_all_users() -> str:
    """GET /api/v1/users: return the list of every user as JSON.

    Under `USERS_POLICY=owner` a user who is not an administrator gets
    only itself.
    """
    principal = policy_principal()
    if principal is not None:
        return jsonify([principal.to_json()])
    all_users = [user.to_json() for user in User.all()]
    return jsonify(all_users)


@app_views.route('/users/<user_id>', methods=['GET'], strict_slashes=False)
def view_one_user(user_id: str = None) -> str:
    """GET /api/v1/users/:id: return one user as JSON.

    `me` names the authenticated user; 404 when there is none (A4) or
    when no user has this id; 403 for another user under
    `USERS_POLICY=owner`.
    """
    if user_id is None:
        abort(404)
    if user_id == "me":
        current = getattr(request, "current_user", None)
        if current is None:
            abort(404)
        return jsonify(current.to_json())
    return jsonify(_stored_user(user_id).to_json())


@app_views.route('/users/<user_id>', methods=['DELETE'], strict_slashes=False)
def delete_user(user_id: str = None) -> Tuple[str, int]:
    """DELETE /api/v1/users/:id: delete the user and end its sessions.

    Returns 200 `{}`, or 404 when no user has this id (403 for another
    user under `USERS_POLICY=owner`).
    """
    if user_id is None:
        abort(404)
    user = _stored_user(user_id)
    user.remove()
    return jsonify({}), 200


@app_views.route('/users', methods=['POST'], strict_slashes=False)
def create_user() -> Tuple[str, int]:
    """POST /api/v1/users: create a user from a JSON object.

    Fields: `email` and `password` (required strings), `first_name` and
    `last_name` (optional strings). Returns 201 with the user, or 400 with
    `Wrong format`, `email missing`, `password missing` or
    `Can't create User: <reason>` (spec §3). An email equal to a stored
    one once normalised (`models.emails`) is `email already registered`.
    Under `ACCOUNT_POLICY=strict` the email must be a valid address
    (`Can't create User: invalid email`) and the password pass the §1.1
    policy (`password refused: <reason>`; 503 `password check
    unavailable` when the breach range service fails closed). A store
    failure is reported without any file system path (it is logged).
    """
    rj = json_object()
    if rj is None:
        return jsonify(WRONG_FORMAT), 400
    email = rj.get("email")
    if email is None or email == "":
        return jsonify({"error": "email missing"}), 400
    password = rj.get("password")
    if password is None or password == "":
        return jsonify({"error": "password missing"}), 400
    error = None
    if not isinstance(email, str) or not isinstance(password, str):
        error = "email and password must be strings"
    elif not _names_are_valid(rj):
        error = "first_name and last_name must be strings"
    else:
        error = _field_problem(rj)
    if error is None and active_settings().strict:
        refusal = _strict_refusal(email, password)
        if refusal is not None:
            return refusal
    if error is None:
        try:
            with User.locked():
                if User.search_by_email(email):
                    error = DUPLICATE_EMAIL
                else:
                    user = User()
                    user.email = email
                    user.password = password
                    user.first_name = rj.get("first_name")
                    user.last_name = rj.get("last_name")
                    user.save()
                    return jsonify(user.to_json()), 201
        except DuplicateRecordError:
            error = DUPLICATE_EMAIL
        except OSError as exc:
            logger.error("cannot store a new user: %s", exc)
            error = "the user store cannot be written"
    return jsonify({"error": "Can't create User: {}".format(error)}), 400


def _strict_refusal(email: str, password: str
                    ) -> Optional[Tuple[Response, int]]:
    """Return the answer refusing a new account under `strict`, or None.

    The email must be a valid address (§1.2), then the password pass the
    §1.1 policy.
    """
    if not is_valid_address(email):
        return jsonify({"error": "Can't create User: invalid email"}), 400
    try:
        check_new_password(password, email, active_settings())
    except PasswordRefused as refused:
        return jsonify({"error": refused.message}), 400
    except PasswordCheckUnavailable:
        return jsonify({"error": "password check unavailable"}), 503
    return None


@app_views.route('/users/<user_id>', methods=['PUT'], strict_slashes=False)
def update_user(user_id: str = None) -> Tuple[str, int]:
    """PUT /api/v1/users/:id: change `first_name` and `last_name`.

    Fields that are absent or null are kept. Returns 200 with the user;
    404 when no user has this id, or when it was deleted while the
    request was read; 409 when another request changed the same name
    meanwhile; 400 `Wrong format` when the body is not a JSON object or a
    name is not a string, `<field> is longer than 256 characters` and
    `<field> holds a NUL character`.
    Only the names are written: a PUT never writes back other fields.
    """
    if user_id is None:
        abort(404)
    user = _stored_user(user_id)
    rj = json_object()
    if rj is None or not _names_are_valid(rj):
        return jsonify(WRONG_FORMAT), 400
    problem = _field_problem({field: rj.get(field) for field in NAME_FIELDS})
    if problem is not None:
        return jsonify({"error": problem}), 400
    for field in NAME_FIELDS:
        if rj.get(field) is not None:
            setattr(user, field, rj.get(field))
    user.save()
    return jsonify(user.to_json()), 200
