#!/usr/bin/env python3
"""End-to-end check of the authentication service over HTTP.

Run it against a freshly started server (`python3 app.py`); it prints
nothing and exits 0 when every step answers as the contract says. The
server is `http://localhost:5000` unless `API_HOST`/`API_PORT` say
otherwise.
"""
import os

import requests

HOST = os.getenv("API_HOST", "localhost")
PORT = os.getenv("API_PORT", "5000")
URL = "http://{}:{}".format(HOST, PORT)


def register_user(email: str, password: str) -> None:
    """Register a user, then check that a second registration fails."""
    data = {"email": email, "password": password}
    response = requests.post(URL + "/users", data=data)
    assert response.status_code == 200
    assert response.json() == {"email": email, "message": "user created"}
    response = requests.post(URL + "/users", data=data)
    assert response.status_code == 400
    assert response.json() == {"message": "email already registered"}


def log_in_wrong_password(email: str, password: str) -> None:
    """Check that a login with a wrong password answers 401."""
    response = requests.post(URL + "/sessions",
                             data={"email": email, "password": password})
    assert response.status_code == 401


def log_in(email: str, password: str) -> str:
    """Log in, check the answer, and return the session id cookie."""
    response = requests.post(URL + "/sessions",
                             data={"email": email, "password": password})
    assert response.status_code == 200
    assert response.json() == {"email": email, "message": "logged in"}
    session_id = response.cookies.get("session_id")
    assert session_id
    return session_id


def profile_unlogged() -> None:
    """Check that the profile without a session answers 403."""
    response = requests.get(URL + "/profile")
    assert response.status_code == 403


def profile_logged(session_id: str) -> None:
    """Check that the profile with a session answers the email."""
    response = requests.get(URL + "/profile",
                            cookies={"session_id": session_id})
    assert response.status_code == 200
    assert response.json() == {"email": EMAIL}


def log_out(session_id: str) -> None:
    """Log out and check that the redirect ends on the welcome message."""
    response = requests.delete(URL + "/sessions",
                               cookies={"session_id": session_id})
    assert response.status_code == 200
    assert response.json() == {"message": "Bienvenue"}
    assert response.history and response.history[0].status_code == 302


def reset_password_token(email: str) -> str:
    """Ask for a reset token, check the answer, and return the token."""
    response = requests.post(URL + "/reset_password", data={"email": email})
    assert response.status_code == 200
    payload = response.json()
    assert payload["email"] == email
    assert payload["reset_token"]
    return payload["reset_token"]


def update_password(email: str, reset_token: str,
                    new_password: str) -> None:
    """Set a new password with the token and check the answer."""
    response = requests.put(URL + "/reset_password", data={
        "email": email, "reset_token": reset_token,
        "new_password": new_password})
    assert response.status_code == 200
    assert response.json() == {"email": email, "message": "Password updated"}


EMAIL = "guillaume@holberton.io"
PASSWD = "b4l0u"
NEW_PASSWD = "t4rt1fl3tt3"


if __name__ == "__main__":

    register_user(EMAIL, PASSWD)
    log_in_wrong_password(EMAIL, NEW_PASSWD)
    profile_unlogged()
    session_id = log_in(EMAIL, PASSWD)
    profile_logged(session_id)
    log_out(session_id)
    reset_token = reset_password_token(EMAIL)
    update_password(EMAIL, reset_token, NEW_PASSWD)
    log_in(EMAIL, NEW_PASSWD)
