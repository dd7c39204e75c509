#!/usr/bin/env python3
"""Checker script (Part 2 task 4): serve `Auth().session_cookie`.

Binds `API_HOST`:`API_PORT` (default 0.0.0.0:5000).
"""
from flask import Flask, request

from api.v1.auth.auth import Auth
from api.v1.config import load_settings

auth = Auth()

app = Flask(__name__)


@app.route('/', methods=['GET'], strict_slashes=False)
def root_path() -> str:
    """Return the value of the session cookie of the request."""
    return "Cookie value: {}\n".format(auth.session_cookie(request))


if __name__ == "__main__":
    settings = load_settings()
    app.run(host=settings.api_host, port=settings.api_port)
