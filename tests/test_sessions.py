"""The session contract, run against every session auth class."""
import json

import pytest
from flask import Flask, request

from api.v1.auth.session_auth import SessionAuth
from api.v1.auth.session_db_auth import SessionDBAuth
from api.v1.auth.session_exp_auth import SessionExpAuth
from api.v1.config import Settings
from conftest import create_user, reset_state

CLASSES = [SessionAuth, SessionExpAuth, SessionDBAuth]


@pytest.fixture(params=CLASSES, ids=lambda c: c.__name__)
def auth_class(request):
    return request.param


def cookie_request(session_id):
    app = Flask(__name__)
    headers = {} if session_id is None else {
        "Cookie": "_my_session_id={}".format(session_id)}
    return app.test_request_context(headers=headers)


def test_create_session_rules(auth_class):
    auth = auth_class(Settings())
    assert auth.create_session(None) is None
    assert auth.create_session(89) is None
    first = auth.create_session("abcde")
    second = auth.create_session("abcde")
    assert first != second and len(first) == 36
    assert auth.create_session("") is not None          # A8
    assert auth.user_id_for_session_id(first) == "abcde"
    assert auth.user_id_for_session_id(second) == "abcde"


def test_user_id_for_session_id_rules(auth_class):
    auth = auth_class(Settings())
    assert auth.user_id_for_session_id(None) is None
    assert auth.user_id_for_session_id(89) is None
    assert auth.user_id_for_session_id(["x"]) is None   # A18
    assert auth.user_id_for_session_id("doesntexist") is None


def test_current_user_and_destroy_session(auth_class):
    user = create_user()
    auth = auth_class(Settings())
    session_id = auth.create_session(user.id)
    with cookie_request(session_id):
        assert auth.current_user(request).id == user.id
        assert auth.destroy_session(request) is True
        assert auth.current_user(request) is None
        assert auth.destroy_session(request) is False
    with cookie_request("Holberton"):
        assert auth.current_user(request) is None
        assert auth.destroy_session(request) is False
    with cookie_request(None):
        assert auth.current_user(request) is None
        assert auth.destroy_session(request) is False
    assert auth.destroy_session(None) is False


def test_current_user_of_a_removed_user(auth_class):
    user = create_user()
    auth = auth_class(Settings())
    session_id = auth.create_session(user.id)
    user.remove()
    with cookie_request(session_id):
        assert auth.current_user(request) is None


def test_memory_dict_is_a_shared_class_attribute():
    auth = SessionAuth()
    assert type(auth.user_id_by_session_id) is dict
    session_id = auth.create_session("abcde")
    assert SessionAuth().user_id_by_session_id == {session_id: "abcde"}


def test_exp_record_is_a_session_dictionary(frozen_clock):
    auth = SessionExpAuth(Settings(session_duration=60))
    session_id = auth.create_session("abcde")
    assert auth.user_id_by_session_id[session_id] == {
        "user_id": "abcde", "created_at": frozen_clock.now}


@pytest.mark.parametrize("auth_class", [SessionExpAuth, SessionDBAuth])
def test_absolute_expiry(auth_class, frozen_clock):
    auth = auth_class(Settings(session_duration=60))
    session_id = auth.create_session("abcde")
    frozen_clock.advance(10)
    assert auth.user_id_for_session_id(session_id) == "abcde"
    frozen_clock.advance(50)
    assert auth.user_id_for_session_id(session_id) == "abcde"  # not before
    frozen_clock.advance(1.5)
    assert auth.user_id_for_session_id(session_id) is None


@pytest.mark.parametrize("auth_class", [SessionExpAuth, SessionDBAuth])
@pytest.mark.parametrize("duration", [0, -5])
def test_no_expiry_when_duration_is_not_positive(auth_class, duration,
                                                 frozen_clock):
    auth = auth_class(Settings(session_duration=duration))
    session_id = auth.create_session("abcde")
    frozen_clock.advance(10 ** 7)
    assert auth.user_id_for_session_id(session_id) == "abcde"


def test_missing_created_at_counts_as_expired():
    auth = SessionExpAuth(Settings(session_duration=60))
    SessionAuth.user_id_by_session_id["sid"] = {"user_id": "abcde"}
    assert auth.user_id_for_session_id("sid") is None
    no_expiry = SessionExpAuth(Settings(session_duration=0))
    SessionAuth.user_id_by_session_id["sid2"] = {"user_id": "abcde"}
    assert no_expiry.user_id_for_session_id("sid2") == "abcde"


@pytest.mark.parametrize("value, expected", [
    ("60", 60), (" 60", 60), ("-5", -5), ("", 0), ("abc", 0), (None, 0)])
def test_session_duration_from_environment(monkeypatch, value, expected):
    if value is None:
        monkeypatch.delenv("SESSION_DURATION", raising=False)
    else:
        monkeypatch.setenv("SESSION_DURATION", value)
    assert SessionExpAuth().session_duration == expected


def test_expiry_does_not_depend_on_time_zone(monkeypatch, frozen_clock):
    import time
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")      # UTC+14
    time.tzset()
    try:
        auth = SessionDBAuth(Settings(session_duration=60))
        session_id = auth.create_session("abcde")
        assert auth.user_id_for_session_id(session_id) == "abcde"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_db_sessions_are_in_the_file_and_survive_a_restart(frozen_clock):
    auth = SessionDBAuth(Settings(session_duration=60))
    session_id = auth.create_session("abcde")
    with open(".db_UserSession.json") as handle:
        stored = list(json.load(handle).values())
    assert stored[0]["session_id"] == session_id
    assert stored[0]["user_id"] == "abcde"
    reset_state()                                # a new process
    fresh = SessionDBAuth(Settings(session_duration=60))
    assert fresh.user_id_for_session_id(session_id) == "abcde"
    frozen_clock.advance(61)
    assert fresh.user_id_for_session_id(session_id) is None


def test_db_destroy_removes_from_file():
    auth = SessionDBAuth(Settings())
    session_id = auth.create_session("abcde")
    with cookie_request(session_id):
        assert auth.destroy_session(request) is True
    with open(".db_UserSession.json") as handle:
        assert json.load(handle) == {}
    assert SessionDBAuth(Settings()).user_id_for_session_id(
        session_id) is None


def test_db_ignores_the_memory_dict():
    SessionAuth.user_id_by_session_id["planted"] = {
        "user_id": "abcde", "created_at": None}
    assert SessionDBAuth(Settings()).user_id_for_session_id(
        "planted") is None
