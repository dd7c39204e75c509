"""Logs and request ids (account-security §6.3)."""
import base64
import io
import json
import logging
import re

import pytest
from werkzeug import serving

from api.v1.logs import LOGGERS, configure_logging
from models.settings import Settings
from tests.conftest import (api_server, basic_header, create_user, login,
                            session_id_of)

HEX32 = re.compile(r"[0-9a-f]{32}\Z")
REQUEST_KEYS = {"ts", "level", "event", "request_id", "method", "path",
                "status", "duration_ms", "remote_addr"}
TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)\Z")


@pytest.fixture
def json_log():
    """Send the API's log to a string in JSON; restore logging after."""
    saved = [(logging.getLogger(name), list(logging.getLogger(name).handlers),
              logging.getLogger(name).level,
              logging.getLogger(name).propagate) for name in LOGGERS]
    style = serving._log_add_style
    stream = io.StringIO()
    configure_logging(Settings(log_format="json"), stream=stream)
    yield stream
    for logger, handlers, level, propagate in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
    serving._log_add_style = style


def lines_of(stream):
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize("sent,kept", [
    ("abc-123_X.y", True), ("a" * 128, True), ("a" * 129, False),
    ("", False), ("bad id", False), ("x/y", False), ("é", False),
    ("a\tb", False)])
def test_request_id_kept_or_made(make_app, sent, kept):
    client = make_app("basic_auth").test_client()
    response = client.get("/api/v1/users", headers={"X-Request-ID": sent})
    assert response.status_code == 401
    echoed = response.headers["X-Request-ID"]
    if kept:
        assert echoed == sent
    else:
        assert HEX32.match(echoed)


def test_every_answer_carries_an_id(make_app):
    client = make_app("session_auth").test_client()
    for method, path in [("GET", "/api/v1/status"), ("GET", "/nowhere"),
                         ("GET", "/api/v1/users/me"),
                         ("DELETE", "/api/v1/status"),
                         ("POST", "/api/v1/auth_session/login")]:
        response = client.open(path, method=method)
        assert HEX32.match(response.headers["X-Request-ID"]), path
    ids = {client.get("/api/v1/status").headers["X-Request-ID"]
           for _ in range(5)}
    assert len(ids) == 5


def test_json_request_and_auth_lines(make_app, json_log):
    app = make_app("session_auth", log_format="json")
    client = app.test_client()
    user = create_user()
    login(client, password="wrong")
    assert login(client).status_code == 200
    assert client.get("/api/v1/users/me",
                      headers={"X-Request-ID": "trace-1"}).status_code == 200
    lines = lines_of(json_log)
    requests_logged = [line for line in lines if line["event"] == "request"]
    assert len(requests_logged) == 3
    for line in requests_logged:
        assert REQUEST_KEYS <= set(line), line
        assert TS.match(line["ts"]) and line["level"] == "INFO"
        assert isinstance(line["duration_ms"], float)
    me = requests_logged[-1]
    assert me["request_id"] == "trace-1" and me["user_id"] == user.id
    assert me["path"] == "/api/v1/users/me" and me["status"] == 200
    assert "user_id" not in requests_logged[0]
    auth = [line for line in lines if line["event"] == "auth"]
    assert [line["type"] for line in auth] == ["login_failed",
                                               "login_succeeded"]
    assert auth[0]["reason"] == "wrong_password"
    assert auth[0]["request_id"] == requests_logged[0]["request_id"]


def test_text_is_the_default(make_app, json_log):
    """Without LOG_FORMAT=json there are no request lines of the API."""
    client = make_app(None).test_client()
    client.get("/api/v1/status")
    assert not [line for line in lines_of(json_log)
                if line.get("event") == "request"]


def test_no_secret_in_any_line(make_app, json_log, workdir):
    """A walkthrough of logins, failures, Basic, a password change, a
    logout and limits: no line holds a password, a session id, a cookie
    or an Authorization value."""
    secrets_seen = []
    password, new_password = "H0lberton!", "a brand new passphrase 7"
    create_user(password=password)
    app = make_app("session_auth", log_format="json",
                   login_limit_per_account="3 per minute")
    client = app.test_client()
    response = login(client, password=password)
    session_id = session_id_of(response)
    secrets_seen += [password, session_id]
    for header in response.headers.getlist("Set-Cookie"):
        secrets_seen.append(header.split(";", 1)[0].split("=", 1)[1])
    client.get("/api/v1/users/me")
    client.get("/api/v1/auth_session/sessions")
    assert client.put("/api/v1/users/me/password", json={
        "current_password": password,
        "new_password": new_password}).status_code == 200
    secrets_seen.append(new_password)
    for header in client.get("/api/v1/users/me").headers.getlist(
            "Set-Cookie"):
        secrets_seen.append(header.split(";", 1)[0].split("=", 1)[1])
    for guess in ("guess-one", "guess-two", "guess-three", "guess-four"):
        login(app.test_client(), password=guess)
        secrets_seen.append(guess)
    client.delete("/api/v1/auth_session/logout")
    basic = make_app("basic_auth", log_format="json").test_client()
    header = basic_header("bob@hbtn.io", new_password)
    assert basic.get("/api/v1/users/me", headers=header).status_code == 200
    basic.get("/api/v1/users/me",
              headers=basic_header("bob@hbtn.io", "basic-wrong"))
    secrets_seen += [header["Authorization"],
                     header["Authorization"].split(" ", 1)[1],
                     "basic-wrong"]
    text = json_log.getvalue()
    assert len(lines_of(json_log)) > 10
    for secret in secrets_seen:
        assert secret not in text, secret
        encoded = base64.b64encode(secret.encode()).decode()
        assert encoded not in text, secret


def test_server_text_log_has_no_colour_codes(workdir):
    """`python3 -m api.v1.app` writing to a file: plain lines."""
    import requests
    with api_server(workdir) as server:
        requests.get(server.url + "/api/v1/nowhere", timeout=5)
        requests.get(server.url + "/api/v1/status", timeout=5)
        output = server.output()
    assert "GET /api/v1/status" in output
    assert "\x1b[" not in output


def test_server_json_log_lines(workdir):
    import requests
    with api_server(workdir, LOG_FORMAT="json",
                    AUTH_TYPE="session_auth") as server:
        requests.get(server.url + "/api/v1/users/x", timeout=5,
                     headers={"X-Request-ID": "from-client"})
        output = server.output()
    lines = [json.loads(line) for line in output.splitlines()
             if line.startswith("{")]
    ours = [line for line in lines if line.get("request_id") ==
            "from-client"]
    assert ours and ours[0]["status"] == 401
    assert ours[0]["path"] == "/api/v1/users/x"
    assert "\x1b[" not in output
