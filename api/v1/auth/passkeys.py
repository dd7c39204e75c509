#!/usr/bin/env python3
"""Passkey ceremonies (WebAuthn Level 2) over py_webauthn.

Account-security §5: registration with the user's credentials excluded,
login with discoverable credentials, and a passkey as the second step of
a two-step login (§4.3). Every ceremony needs user verification (NIST SP
800-63B-4 §3.2.5: a passkey with user verification is multi-factor).

Challenges are 32 random bytes (py_webauthn's `generate_challenge`,
from `secrets`), kept in the flow store for `CHALLENGE_SECONDS` under
their own base64url text, and taken once: the answer names its
challenge in `clientDataJSON`, so any worker or host sharing the flow
store can finish a ceremony that another began, and a second use of a
challenge finds nothing. py_webauthn checks the signature, the origin,
the RP id hash, the user-presence and user-verified flags and that the
signature counter went forward (WebAuthn L2 §7.1 and §7.2).
"""
import base64
import binascii
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlsplit

import orjson
from flask import Request
from webauthn import (generate_authentication_options,
                      generate_registration_options,
                      verify_authentication_response,
                      verify_registration_response)
from webauthn.helpers import (base64url_to_bytes, bytes_to_base64url,
                              options_to_json_dict,
                              parse_authentication_credential_json)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (AuthenticatorSelectionCriteria,
                                      AuthenticatorTransport,
                                      PublicKeyCredentialDescriptor,
                                      ResidentKeyRequirement,
                                      UserVerificationRequirement)

from api.v1.auth.events import log_event
from api.v1.mail.notices import notify
from api.v1.config import Settings
from models import clock
from models.passkey import Passkey
from models.store import DuplicateRecordError, RecordConflictError
from models.user import User

CHALLENGE_SECONDS = 300
"""How long a challenge lives, in seconds (account-security §5)."""
REGISTRATION = "webauthn_register"
AUTHENTICATION = "webauthn_login"
"""Flow store kinds of the two ceremonies' challenges."""
MAX_NAME = 64
"""The longest passkey name kept, in characters."""
DEFAULT_NAME = "Passkey"
TRANSPORTS = frozenset(item.value for item in AuthenticatorTransport)
_REQUIRED = UserVerificationRequirement.REQUIRED


class PasskeyRefused(Exception):
    """A registration or assertion that must not be accepted.

    `reason` says why in a few words, for the 400 answer of a
    registration (`passkey refused: <reason>`) and for the log; a login
    answers only `passkey refused`, whatever the reason.
    """

    def __init__(self, reason: str) -> None:
        """Keep `reason`, a short lower-case phrase."""
        super().__init__(reason)
        self.reason = reason


def relying_party(settings: Settings, req: Request) -> Tuple[str, List[str]]:
    """Return the RP id and the origins accepted for `req`.

    `WEBAUTHN_RP_ID` (default: the request's host name, without port)
    and `WEBAUTHN_ORIGINS` (default: the request's own origin,
    `scheme://host[:port]`). Behind a proxy that rewrites `Host` or
    terminates TLS, the defaults see the proxy's side: set both.
    """
    rp_id = settings.webauthn_rp_id or urlsplit(
        "//" + req.host).hostname or ""
    origins = list(settings.webauthn_origins) or [
        "{}://{}".format(req.scheme, req.host).lower()]
    return rp_id, origins


def _challenge_of(credential: Dict[str, Any]) -> str:
    """Return the challenge named in `credential`'s `clientDataJSON`.

    Raises `PasskeyRefused` when the response is not shaped as the
    WebAuthn JSON form (base64url `clientDataJSON` holding a JSON object
    with a `challenge` text).
    """
    response = credential.get("response")
    data = response.get("clientDataJSON") if isinstance(
        response, dict) else None
    if not isinstance(data, str):
        raise PasskeyRefused("malformed credential")
    try:
        client_data = orjson.loads(base64.urlsafe_b64decode(
            data + "=" * (-len(data) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise PasskeyRefused("malformed credential") from None
    challenge = client_data.get("challenge") if isinstance(
        client_data, dict) else None
    if not isinstance(challenge, str) or not challenge:
        raise PasskeyRefused("malformed credential")
    return challenge


def _take_challenge(flows: Any, kind: str,
                    credential: Dict[str, Any]) -> Tuple[bytes, dict]:
    """Take the live challenge `credential` answers; return it and its state.

    The challenge is spent whatever happens next, so an answer can never
    be tried twice. Raises `PasskeyRefused` for an unknown, used or
    expired challenge.
    """
    challenge = _challenge_of(credential)
    state = flows.take(kind, challenge)
    if state is None:
        raise PasskeyRefused("unknown or expired challenge")
    try:
        return base64url_to_bytes(challenge), state
    except (binascii.Error, ValueError):
        raise PasskeyRefused("malformed credential") from None


def _user_handle(user: User) -> bytes:
    """Return the WebAuthn user handle of `user`: its id in UTF-8."""
    return user.id.encode("utf-8")


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    """Return the descriptor naming `passkey` in `excludeCredentials`."""
    transports = [AuthenticatorTransport(t) for t in passkey.transports
                  if t in TRANSPORTS]
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(passkey.credential_id),
        transports=transports or None)


def registration_options(flows: Any, settings: Settings, req: Request,
                         user: User) -> Dict[str, Any]:
    """Return creation options for a new passkey of `user` (§5.1).

    The WebAuthn JSON form, with `excludeCredentials` listing the user's
    passkeys (so an authenticator does not register twice), a resident
    key and user verification required, and ES256, EdDSA and RS256
    offered. Stores the challenge for `CHALLENGE_SECONDS` with the user
    id. Raises the flow store's errors.
    """
    rp_id, _ = relying_party(settings, req)
    exclude = [_descriptor(key) for key in Passkey.of_user(user.id)]
    options = generate_registration_options(
        rp_id=rp_id, rp_name=settings.webauthn_rp_name,
        user_name=user.email or user.id, user_id=_user_handle(user),
        user_display_name=" ".join(
            part for part in (user.first_name, user.last_name)
            if isinstance(part, str) and part) or user.email or user.id,
        timeout=CHALLENGE_SECONDS * 1000,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            require_resident_key=True, user_verification=_REQUIRED),
        exclude_credentials=exclude)
    body = options_to_json_dict(options)
    body.setdefault("excludeCredentials", [])
    flows.put(REGISTRATION, body["challenge"], {"user_id": user.id},
              CHALLENGE_SECONDS, user_id=user.id)
    return body


def register(flows: Any, settings: Settings, req: Request, user: User,
             credential: object, name: object) -> Passkey:
    """Verify a registration response of `user` and store the passkey.

    `credential` is the registration response in the WebAuthn JSON form
    (a dict); `name` a str (empty or None: `DEFAULT_NAME`; cut at
    `MAX_NAME` characters). Returns the stored `Passkey`. Raises
    `PasskeyRefused` for a malformed response, a challenge that is not a
    live one of this user, a wrong origin or RP id, no user
    verification, or a credential already registered; nothing is stored
    then. Raises the stores' errors.
    """
    if not isinstance(credential, dict):
        raise PasskeyRefused("credential missing")
    if name is not None and not isinstance(name, str):
        raise PasskeyRefused("name must be text")
    challenge, state = _take_challenge(flows, REGISTRATION, credential)
    if state.get("user_id") != user.id:
        raise PasskeyRefused("unknown or expired challenge")
    rp_id, origins = relying_party(settings, req)
    try:
        verified = verify_registration_response(
            credential=credential, expected_challenge=challenge,
            expected_rp_id=rp_id, expected_origin=origins,
            require_user_verification=True)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        raise PasskeyRefused(_reason(exc)) from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if Passkey.by_credential_id(credential_id) is not None:
        raise PasskeyRefused("already registered")
    response = credential.get("response") or {}
    transports = response.get("transports") \
        if isinstance(response.get("transports"), list) else []
    passkey = Passkey(
        user_id=user.id, credential_id=credential_id,
        public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        transports=[t for t in transports if t in TRANSPORTS],
        name=(name or DEFAULT_NAME).strip()[:MAX_NAME] or DEFAULT_NAME)
    try:
        passkey.save()
    except DuplicateRecordError:
        raise PasskeyRefused("already registered") from None
    log_event("passkey_added", user=user.id)
    notify(user, "second_factor_changed", "A passkey was added.")
    return passkey


def _reason(exc: Exception) -> str:
    """Return a short reason for a failed verification, for people.

    py_webauthn's messages name the check that failed; the words that
    matter are mapped to fixed phrases, so no input is echoed back.
    """
    text = str(exc).lower()
    for needle, reason in (("origin", "wrong origin"),
                           ("rp id", "wrong rp id"),
                           ("verified", "user not verified"),
                           ("challenge", "wrong challenge"),
                           ("signature", "bad signature"),
                           ("sign count", "signature counter went back")):
        if needle in text:
            return reason
    return "invalid credential"


def authentication_options(flows: Any, settings: Settings,
                           req: Request) -> Dict[str, Any]:
    """Return request options for a passkey login or second step (§5.2).

    The WebAuthn JSON form with `challenge`, `rpId`, `userVerification:
    "required"` and an empty `allowCredentials` (discoverable
    credentials: the authenticator picks the account). Stores the
    challenge for `CHALLENGE_SECONDS`. Raises the flow store's errors.
    """
    rp_id, _ = relying_party(settings, req)
    options = generate_authentication_options(
        rp_id=rp_id, timeout=CHALLENGE_SECONDS * 1000,
        allow_credentials=[], user_verification=_REQUIRED)
    body = options_to_json_dict(options)
    body["allowCredentials"] = []
    flows.put(AUTHENTICATION, body["challenge"], {}, CHALLENGE_SECONDS)
    return body


def authenticate(flows: Any, settings: Settings, req: Request,
                 credential: object, require_handle: bool = False,
                 log_failures: bool = True) -> Tuple[User, Passkey]:
    """Verify an assertion; return its user and passkey, counter moved on.

    `credential` is an authentication response in the WebAuthn JSON form
    (a dict) answering a challenge of `authentication_options`. The
    passkey's signature counter and `last_used_at` are updated by
    compare-and-set, so two hosts accepting one assertion at once cannot
    both succeed. Raises `PasskeyRefused` for an unknown credential, a
    user handle that is not the passkey's user, a bad signature, a used
    or expired challenge, a wrong origin or RP id, no user verification,
    or a signature counter that did not go forward (WebAuthn L2 §7.2
    step 21, when either count is non-zero). `require_handle` True (a
    login, where the options named no user) also refuses an assertion
    without a user handle (§7.2 step 6). `log_failures` False leaves the
    `login_failed` event of a refusal to the caller (a second step, which
    logs its own).
    """
    if not isinstance(credential, dict):
        raise PasskeyRefused("credential missing")
    challenge, _ = _take_challenge(flows, AUTHENTICATION, credential)
    try:
        parsed = parse_authentication_credential_json(credential)
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise PasskeyRefused("malformed credential") from None
    passkey = Passkey.by_credential_id(bytes_to_base64url(parsed.raw_id))
    user = User.get(passkey.user_id) if passkey is not None else None
    if passkey is None or user is None:
        raise PasskeyRefused("unknown credential")
    handle = parsed.response.user_handle
    if (handle is None and require_handle) or (
            handle is not None and handle != _user_handle(user)):
        _failed(user, "user handle", log_failures)
    rp_id, origins = relying_party(settings, req)
    try:
        verified = verify_authentication_response(
            credential=parsed, expected_challenge=challenge,
            expected_rp_id=rp_id, expected_origin=origins,
            credential_public_key=base64url_to_bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count or 0,
            require_user_verification=True)
    except (WebAuthnException, ValueError, KeyError, TypeError) as exc:
        _failed(user, _reason(exc), log_failures)
    passkey.sign_count = verified.new_sign_count
    passkey.last_used_at = clock.utcnow()
    try:
        passkey.save()
    except RecordConflictError:
        _failed(user, "concurrent use", log_failures)
    return user, passkey


def _failed(user: User, reason: str, log: bool = True) -> None:
    """Log (if `log`) a refused assertion of `user`'s passkey; raise
    `PasskeyRefused`."""
    if log:
        log_event("login_failed", user=user.id, reason="passkey",
                  detail=reason.replace(" ", "_"))
    raise PasskeyRefused(reason)


def verify_second_step(user: User, credential: object,
                       flows: Optional[Any] = None,
                       settings: Optional[Settings] = None,
                       req: Optional[Request] = None) -> bool:
    """Return True if `credential` is a valid assertion by `user`'s passkey.

    The second step of a two-step login (account-security §4.3 and §5.2):
    `credential` is the authentication response (a dict, or its JSON
    text) answering a challenge of `POST
    /api/v1/auth_session/passkeys/login/options`. `flows`, `settings`
    and `req` default to the current app's flow store and settings and
    the current request. A passkey of another user, and every case
    `authenticate` refuses, give False (the challenge is spent either
    way). Raises the stores' errors only.
    """
    from flask import current_app, request

    from api.v1.config import FLOW_EXTENSION, SETTINGS_EXTENSION

    if flows is None:
        flows = current_app.extensions[FLOW_EXTENSION]
    if settings is None:
        settings = current_app.extensions[SETTINGS_EXTENSION]
    if req is None:
        req = request._get_current_object()
    if isinstance(credential, (str, bytes)):
        try:
            credential = orjson.loads(credential)
        except orjson.JSONDecodeError:
            return False
    try:
        owner, _ = authenticate(flows, settings, req, credential,
                                log_failures=False)
    except PasskeyRefused:
        return False
    return owner.id == user.id


def second_step_method(user: User, value: Any,
                       settings: Settings) -> Optional[str]:
    """Check a passkey as the second step; return `hwk` or None.

    The shape of the two-step login's verifiers (`(user, field value,
    settings)` to the RFC 8176 method that passed, or None), so that the
    login's `credential` field can be answered by `verify_second_step`.
    """
    return "hwk" if verify_second_step(user, value, settings=settings) \
        else None


def remove_passkeys(user_id: str) -> int:
    """Remove every passkey of `user_id`; return how many were removed.

    For the admin's `disable-mfa` (account-security §4.5). Raises the
    record store's errors.
    """
    ids = [key.id for key in Passkey.of_user(user_id)]
    return Passkey.remove_many(ids) if ids else 0


def listing(passkey: Passkey) -> Dict[str, Optional[str]]:
    """Return `passkey` as the listing shows it (§5.1).

    `{"id", "name", "created_at", "last_used_at"}`: `id` the credential
    id (base64url), times in the listing's format (UTC), `last_used_at`
    None when never used.
    """
    from models.base import format_timestamp

    used = passkey.last_used_at
    return {"id": passkey.credential_id, "name": passkey.name,
            "created_at": format_timestamp(passkey.created_at),
            "last_used_at": None if used is None
            else format_timestamp(used)}
