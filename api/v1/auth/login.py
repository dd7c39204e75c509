#!/usr/bin/env python3
"""The end of every successful login: one place that starts the session.

The contract's password login, the second step of a two-step login
(§4.3) and a passkey login (§5.2) all finish here, so that each ends the
session the request carried (session fixation), records the credential
epoch that was checked, `amr`, `auth_time`, the client, sets the cookies
and logs one `login_succeeded` event the same way.
"""
from datetime import datetime
from typing import Any, List, Optional

from flask import Response, jsonify, request

from api.v1 import metrics
from api.v1.auth.devices import renew_device_cookie
from api.v1.auth.events import log_event
from api.v1.mail.notices import notify
from models.user import User


def start_session(auth: Any, user: User, amr: List[str],
                  epoch: Optional[int] = None,
                  body: Optional[dict] = None,
                  event: Optional[str] = "login_succeeded",
                  auth_time: Optional[datetime] = None) -> Response:
    """Start a session for `user` and return the 200 answer.

    `auth` is the active `SessionAuth`; `amr` lists the methods that
    authenticated the user (RFC 8176: `pwd`, `otp`, `hwk`, `rc`);
    `epoch` is the credential epoch read with the credential that was
    checked (default: `user.auth_epoch`), so that a password changed
    meanwhile ends the new session. The answer's body is `body`, by
    default the user's `to_json()` (the contract's login), with the
    session cookie and a renewed device cookie (§3) set. `event` is the
    auth event logged (None: none, for a password change that renews the
    session); a login (an `event`) from a client without a valid device
    cookie of `user` also sends the `new_device` notice (§7.3, with mail
    on). `auth_time` (naive UTC) is when `amr` last authenticated the
    user, by default now. Raises the session and flow stores' errors.
    """
    auth.destroy_session(request)
    session_id = auth.create_session(
        user.id, epoch=user.auth_epoch if epoch is None else epoch,
        amr=list(amr), auth_time=auth_time, ip=request.remote_addr,
        user_agent=request.headers.get("User-Agent"))
    metrics.SESSIONS_CREATED.inc()
    auth.end_oldest_sessions(user.id)
    response = jsonify(user.to_json() if body is None else body)
    auth.set_session_cookie(response, session_id)
    known_device = renew_device_cookie(auth, request, response, user.id)
    if event is not None:
        log_event(event, user=user.id, amr=",".join(amr))
        if not known_device:
            notify(user, "new_device")
    return response
