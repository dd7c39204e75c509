"""Unit tests of Auth and BasicAuth, as the checker scripts use them."""
import pytest
from flask import Flask, request

from api.v1.auth.auth import Auth
from api.v1.auth.basic_auth import BasicAuth
from api.v1.config import Settings
from conftest import create_user


def test_main_0_auth_defaults():
    a = Auth()
    assert a.require_auth("/api/v1/status/", ["/api/v1/status/"]) is False
    assert a.authorization_header() is None
    assert a.current_user() is None


@pytest.mark.parametrize("path, excluded, expected", [
    (None, None, True),
    (None, [], True),
    ("/api/v1/status/", [], True),
    ("/api/v1/status/", ["/api/v1/status/"], False),
    ("/api/v1/status", ["/api/v1/status/"], False),
    ("/api/v1/users", ["/api/v1/status/"], True),
    ("/api/v1/users", ["/api/v1/status/", "/api/v1/stats"], True),
    ("/api/v1/stats/", ["/api/v1/status/", "/api/v1/stats"], False),
    ("/api/v1/users", ["/api/v1/stat*"], True),
    ("/api/v1/status", ["/api/v1/stat*"], False),
    ("/api/v1/stats", ["/api/v1/stat*"], False),
    ("/api/v1/statistics", ["/api/v1/stat*"], False),
    ("/api/v1/statusXYZ", ["/api/v1/status/"], True),
    ("/api/v1/status", [None, "", "/api/v1/status"], False),
])
def test_require_auth(path, excluded, expected):
    assert Auth().require_auth(path, excluded) is expected


def test_authorization_header_and_session_cookie():
    app = Flask(__name__)
    a = Auth(Settings(session_name="_my_session_id"))
    with app.test_request_context(headers={"Authorization": "Test"}):
        assert a.authorization_header(request) == "Test"
        assert a.session_cookie(request) is None
    cookies = {"Cookie": "_my_session_id=C is fun; _my_session_id_fake=x"}
    with app.test_request_context(headers=cookies):
        assert a.authorization_header(request) is None
        assert a.session_cookie(request) == "C is fun"
    assert a.session_cookie(None) is None


def test_session_name_from_environment(monkeypatch):
    app = Flask(__name__)
    monkeypatch.setenv("SESSION_NAME", "sid")
    with app.test_request_context(headers={"Cookie": "sid=Hello"}):
        assert Auth().session_cookie(request) == "Hello"
    monkeypatch.delenv("SESSION_NAME")
    with app.test_request_context(headers={"Cookie": "_my_session_id=Hi"}):
        assert Auth().session_cookie(request) == "Hi"


@pytest.mark.parametrize("value, expected", [
    (None, None), (89, None), ("Holberton School", None),
    ("Basic Holberton", "Holberton"), ("Basic SG9sYmVydG9u", "SG9sYmVydG9u"),
    ("Basic SG9sYmVydG9uIFNjaG9vbA==", "SG9sYmVydG9uIFNjaG9vbA=="),
    ("Basic1234", None), ("Basic", None), ("Basic ", ""),
])
def test_extract_base64(value, expected):
    assert BasicAuth().extract_base64_authorization_header(value) == expected


@pytest.mark.parametrize("value, expected", [
    (None, None), (89, None), ("Holberton School", None),
    ("SG9sYmVydG9u", "Holberton"),
    ("SG9sYmVydG9uIFNjaG9vbA==", "Holberton School"),
    ("test", None),          # valid Base64, but not UTF-8 (A10)
    ("////", None), ("SG9sYmVydG9u!", None), ("", ""),
])
def test_decode_base64(value, expected):
    assert BasicAuth().decode_base64_authorization_header(value) == expected


@pytest.mark.parametrize("value, expected", [
    (None, (None, None)), (89, (None, None)),
    ("Holberton School", (None, None)),
    ("Holberton:School", ("Holberton", "School")),
    ("bob@gmail.com:toto1234", ("bob@gmail.com", "toto1234")),
    ("bob100@hbtn.io:H0lberton:School:98!",
     ("bob100@hbtn.io", "H0lberton:School:98!")),
    ("email:", ("email", "")),
])
def test_extract_user_credentials(value, expected):
    assert BasicAuth().extract_user_credentials(value) == expected


def test_user_object_from_credentials():
    user = create_user("bob@hbtn.io", "pwd", first_name="Bob",
                       last_name="Dylan")
    b = BasicAuth()
    assert b.user_object_from_credentials(None, None) is None
    assert b.user_object_from_credentials(89, 98) is None
    assert b.user_object_from_credentials("email@notfound.com",
                                          "pwd") is None
    assert b.user_object_from_credentials("bob@hbtn.io", "nope") is None
    found = b.user_object_from_credentials("bob@hbtn.io", "pwd")
    assert found.display_name() == "Bob Dylan" and found.id == user.id


def test_user_object_from_credentials_on_an_empty_store():
    assert BasicAuth().user_object_from_credentials("a@b.c", "x") is None


def test_shared_email_matches_any_password():
    create_user("dup@hbtn.io", "first")
    second = create_user("dup@hbtn.io", "second")
    found = BasicAuth().user_object_from_credentials("dup@hbtn.io", "second")
    assert found.id == second.id


def test_unknown_email_still_spends_a_verification(monkeypatch):
    from models import passwords
    spent = []
    monkeypatch.setattr(passwords, "spend_verification", spent.append)
    assert BasicAuth().user_object_from_credentials("x@y.z", "pw") is None
    assert spent == ["pw"]


def test_current_user_chain():
    create_user("bob100@hbtn.io", "H0lberton:School:98!")
    app = Flask(__name__)
    b = BasicAuth()
    good = "Basic Ym9iMTAwQGhidG4uaW86SDBsYmVydG9uOlNjaG9vbDo5OCE="
    for header, ok in [(good, True), ("Basic test", False),
                       ("Basic", False), ("Bearer x", False)]:
        with app.test_request_context(headers={"Authorization": header}):
            user = b.current_user(request)
            assert (user is not None) is ok
    assert b.current_user(None) is None
