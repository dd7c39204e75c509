#!/usr/bin/env python3
"""Checker script (Part 2 task 6): `SessionAuth.current_user` over HTTP.

Saves user `bobsession@hbtn.io`, opens a session for it, then serves `/`
on `API_HOST`:`API_PORT` (default 0.0.0.0:5000).
"""
from flask import Flask, request

from api.v1.auth.session_auth import SessionAuth
from api.v1.config import load_settings
from models.user import User

""" Create a user test """
user_email = "bobsession@hbtn.io"
user_clear_pwd = "fake pwd"

user = User()
user.email = user_email
user.password = user_clear_pwd
user.save()

""" Create a session ID """
sa = SessionAuth()
session_id = sa.create_session(user.id)
print("User with ID: {} has a Session ID: {}".format(user.id, session_id))

app = Flask(__name__)


@app.route('/', methods=['GET'], strict_slashes=False)
def root_path() -> str:
    """Return the id of the user of the session cookie, if any."""
    request_user = sa.current_user(request)
    if request_user is None:
        return "No user found\n"
    return "User found: {}\n".format(request_user.id)


if __name__ == "__main__":
    settings = load_settings()
    app.run(host=settings.api_host, port=settings.api_port)
