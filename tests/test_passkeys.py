"""Passkeys through the API (account-security §5.1, §5.2).

The responses come from a software authenticator (`webauthn_soft`), so
every check the server must make can be broken one at a time.
"""
import copy

import pytest

from api.v1.auth import passkeys as service
from conftest import create_user, login
from models.passkey import Passkey
from webauthn_soft import SoftAuthenticator

pytestmark = pytest.mark.quick_hashing

BASE = "/api/v1/auth_session/passkeys"


@pytest.fixture(autouse=True)
def empty_passkeys_table(request):
    """Empty the shared PostgreSQL database's passkeys after each test."""
    yield
    if "database" in request.fixturenames:
        from models import base
        from models.sql_store import SqlRecordStore, passkeys
        store = base.get_store()
        if isinstance(store, SqlRecordStore):
            with store.engine.begin() as connection:
                connection.execute(passkeys.delete())


@pytest.fixture
def app(make_app):
    return make_app("session_auth")


def signed_in(app, email="bob@hbtn.io"):
    client = app.test_client()
    create_user(email)
    assert login(client, email).status_code == 200
    return client


def register(client, authenticator=None, name="Laptop", **knobs):
    authenticator = authenticator or SoftAuthenticator()
    options = client.post(BASE + "/register/options")
    assert options.status_code == 200, options.get_json()
    answer = authenticator.register(options.get_json(), **knobs)
    return authenticator, client.post(
        BASE + "/register", json={"credential": answer, "name": name})


def passkey_login(client, authenticator, **knobs):
    options = client.post(BASE + "/login/options")
    assert options.status_code == 200
    return client.post(BASE + "/login", json={
        "credential": authenticator.assert_(options.get_json(), **knobs)})


def test_register_list_login_and_delete(database, app):
    client = signed_in(app)
    options = client.post(BASE + "/register/options").get_json()
    assert options["rp"] == {"id": "localhost", "name": "Session API"}
    assert options["excludeCredentials"] == []
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] \
        == "required"
    assert {"type": "public-key", "alg": -7} in options["pubKeyCredParams"]
    assert options["timeout"] == 300000
    key = SoftAuthenticator()
    created = client.post(BASE + "/register", json={
        "credential": key.register(options), "name": "Laptop"})
    assert created.status_code == 201
    assert created.get_json()["id"] == key.id
    assert created.get_json()["name"] == "Laptop"
    assert set(created.get_json()) == {"id", "name", "created_at"}
    listed = client.get(BASE).get_json()
    assert listed == [{"id": key.id, "name": "Laptop",
                       "created_at": created.get_json()["created_at"],
                       "last_used_at": None}]
    again = client.post(BASE + "/register/options").get_json()
    assert [item["id"] for item in again["excludeCredentials"]] == [key.id]

    fresh = app.test_client()
    options = fresh.post(BASE + "/login/options").get_json()
    assert options["rpId"] == "localhost"
    assert options["userVerification"] == "required"
    assert options["allowCredentials"] == []
    answer = fresh.post(BASE + "/login", json={
        "credential": key.assert_(options)})
    assert answer.status_code == 200
    assert answer.get_json()["email"] == "bob@hbtn.io"
    sessions = fresh.get("/api/v1/auth_session/sessions").get_json()
    assert [s["amr"] for s in sessions if s["current"]] == [["hwk"]]
    assert client.get(BASE).get_json()[0]["last_used_at"] is not None
    assert Passkey.by_credential_id(key.id).sign_count == 1

    assert client.delete(BASE + "/" + key.id).status_code == 200
    assert client.get(BASE).get_json() == []
    assert passkey_login(app.test_client(), key).status_code == 401


def test_delete_of_another_users_passkey_is_not_found(app):
    bob = signed_in(app)
    key, created = register(bob)
    assert created.status_code == 201
    alice = signed_in(app, "alice@hbtn.io")
    answer = alice.delete(BASE + "/" + key.id)
    assert answer.status_code == 404
    assert answer.get_json() == {"error": "Not found"}
    assert alice.delete(BASE + "/nothing").status_code == 404
    assert [k["id"] for k in bob.get(BASE).get_json()] == [key.id]


@pytest.mark.parametrize("knobs,reason", [
    ({"origin": "https://evil.example"}, "wrong origin"),
    ({"rp_id": "evil.example"}, "wrong rp id"),
    ({"uv": False}, "user not verified"),
])
def test_registration_refused_stores_nothing(app, knobs, reason):
    client = signed_in(app)
    _, answer = register(client, **knobs)
    assert answer.status_code == 400
    assert answer.get_json() == {"error": "passkey refused: " + reason}
    assert client.get(BASE).get_json() == []


def test_registration_challenge_is_single_use_and_the_users(app):
    client = signed_in(app)
    options = client.post(BASE + "/register/options").get_json()
    key = SoftAuthenticator()
    answer = key.register(options)
    other = signed_in(app, "alice@hbtn.io")
    stolen = other.post(BASE + "/register", json={"credential": answer})
    assert stolen.status_code == 400
    assert stolen.get_json() == {
        "error": "passkey refused: unknown or expired challenge"}
    # The attempt spent the challenge: the owner cannot use it either.
    again = client.post(BASE + "/register", json={"credential": answer})
    assert again.get_json() == {
        "error": "passkey refused: unknown or expired challenge"}
    assert client.get(BASE).get_json() == []


def test_registration_bad_bodies(app):
    client = signed_in(app)
    assert client.post(BASE + "/register", data="x").get_json() == {
        "error": "Wrong format"}
    answer = client.post(BASE + "/register", json={})
    assert answer.status_code == 400
    assert answer.get_json() == {"error": "passkey refused: credential "
                                          "missing"}
    answer = client.post(BASE + "/register", json={"credential": {
        "response": {"clientDataJSON": "%%%"}}})
    assert answer.status_code == 400
    assert answer.get_json()["error"].startswith("passkey refused: ")


def test_the_same_authenticator_cannot_register_twice(app):
    client = signed_in(app)
    key, first = register(client)
    assert first.status_code == 201
    _, second = register(client, key)
    assert second.get_json() == {"error": "passkey refused: already "
                                          "registered"}
    assert len(client.get(BASE).get_json()) == 1


@pytest.mark.parametrize("knobs", [
    {"origin": "https://evil.example"},
    {"rp_id": "evil.example"},
    {"uv": False},
    {"tamper": True},
    {"count": 0},
], ids=["origin", "rp_id", "no_uv", "signature", "counter_back"])
def test_login_refusals_change_nothing(app, knobs):
    client = signed_in(app)
    key, _ = register(client)
    assert passkey_login(app.test_client(), key).status_code == 200
    before = Passkey.by_credential_id(key.id).to_json(True)
    fresh = app.test_client()
    answer = passkey_login(fresh, key, **knobs)
    assert answer.status_code == 401
    assert answer.get_json() == {"error": "passkey refused"}
    assert "Set-Cookie" not in answer.headers
    assert Passkey.by_credential_id(key.id).to_json(True) == before


def test_counter_equal_to_the_last_is_refused(app):
    client = signed_in(app)
    key, _ = register(client)
    assert passkey_login(app.test_client(), key, count=5).status_code == 200
    assert passkey_login(app.test_client(), key, count=5).status_code == 401
    assert passkey_login(app.test_client(), key, count=6).status_code == 200


def test_a_replayed_assertion_and_a_reused_challenge_are_refused(app):
    client = signed_in(app)
    key, _ = register(client)
    options = app.test_client().post(BASE + "/login/options").get_json()
    assertion = key.assert_(options)
    assert app.test_client().post(BASE + "/login", json={
        "credential": assertion}).status_code == 200
    replay = app.test_client().post(BASE + "/login", json={
        "credential": assertion})
    assert replay.status_code == 401
    fresh = key.assert_(options)
    assert app.test_client().post(BASE + "/login", json={
        "credential": fresh}).status_code == 401


def test_unknown_credential_and_bad_bodies_are_refused(app):
    signed_in(app)
    stranger = SoftAuthenticator()
    stranger.user_handle = b"nobody"
    answer = passkey_login(app.test_client(), stranger)
    assert answer.status_code == 401
    assert answer.get_json() == {"error": "passkey refused"}
    client = app.test_client()
    assert client.post(BASE + "/login", data="x").status_code == 400
    assert client.post(BASE + "/login", json={}).get_json() == {
        "error": "passkey refused"}
    broken = {"id": "x", "rawId": "x", "type": "public-key",
              "response": {"clientDataJSON": "e30"}}
    assert client.post(BASE + "/login", json={
        "credential": broken}).status_code == 401


def test_a_user_handle_of_another_user_is_refused(app):
    client = signed_in(app)
    key, _ = register(client)
    answer = passkey_login(app.test_client(), key, user_handle=b"other")
    assert answer.status_code == 401


def test_challenges_expire_after_300_seconds(app, frozen_clock):
    client = signed_in(app)
    key, _ = register(client)
    options = app.test_client().post(BASE + "/login/options").get_json()
    frozen_clock.advance(301)
    answer = app.test_client().post(BASE + "/login", json={
        "credential": key.assert_(options)})
    assert answer.status_code == 401
    assert login(client).status_code == 200
    options = client.post(BASE + "/register/options").get_json()
    frozen_clock.advance(299)
    answer = client.post(BASE + "/register", json={
        "credential": SoftAuthenticator().register(options)})
    assert answer.status_code == 201


def test_recent_routes_ask_for_reauthentication(app, frozen_clock):
    client = signed_in(app)
    key, _ = register(client)
    frozen_clock.advance(301)
    for answer in (client.post(BASE + "/register/options"),
                   client.delete(BASE + "/" + key.id)):
        assert answer.status_code == 401
        assert answer.get_json() == {"error": "reauthentication required"}
    assert client.get(BASE).status_code == 200
    assert len(client.get(BASE).get_json()) == 1


def test_guarded_routes_need_a_session_and_login_is_open(app):
    client = app.test_client()
    assert client.get(BASE).status_code == 401
    assert client.post(BASE + "/register/options").status_code == 401
    assert client.post(BASE + "/login/options").status_code == 200


@pytest.mark.parametrize("auth_type", [None, "basic_auth"])
def test_routes_exist_only_under_session_auth(make_app, auth_type):
    client = make_app(auth_type).test_client()
    answer = client.post(BASE + "/login/options")
    assert answer.status_code == 404
    assert answer.get_json() == {"error": "Not found"}


def test_a_ceremony_begun_on_one_app_ends_on_another(make_app):
    """Two apps over the same files stand for two workers or hosts."""
    first, second = make_app("session_auth"), make_app("session_auth")
    client = signed_in(first)
    options = client.post(BASE + "/register/options").get_json()
    key = SoftAuthenticator()
    cookie = client.get_cookie("_my_session_id").value
    other = second.test_client()
    other.set_cookie("_my_session_id", cookie)
    assert other.post(BASE + "/register", json={
        "credential": key.register(options)}).status_code == 201
    options = first.test_client().post(BASE + "/login/options").get_json()
    assert second.test_client().post(BASE + "/login", json={
        "credential": key.assert_(options)}).status_code == 200


def test_ceremonies_through_redis(make_app, redis_url):
    first = make_app("session_auth", session_store_url=redis_url)
    second = make_app("session_auth", session_store_url=redis_url)
    client = signed_in(first)
    key, created = register(client)
    assert created.status_code == 201
    options = first.test_client().post(BASE + "/login/options").get_json()
    assertion = key.assert_(options)
    assert second.test_client().post(BASE + "/login", json={
        "credential": assertion}).status_code == 200
    assert first.test_client().post(BASE + "/login", json={
        "credential": assertion}).status_code == 401


def test_verify_second_step(app):
    bob = signed_in(app)
    key, _ = register(bob)
    alice = create_user("alice@hbtn.io")
    bob_user = Passkey.by_credential_id(key.id).user_id
    with app.test_request_context("/api/v1/auth_session/login/mfa",
                                  method="POST"):
        flows = app.extensions["session_api.flow"]
        settings = app.extensions["session_api.settings"]
        from flask import request
        from models.user import User
        options = service.authentication_options(flows, settings, request)
        assert service.verify_second_step(
            User.get(bob_user), key.assert_(options)) is True
        options = service.authentication_options(flows, settings, request)
        assert service.verify_second_step(
            alice, key.assert_(options)) is False
        options = service.authentication_options(flows, settings, request)
        answer = key.assert_(options)
        assert service.verify_second_step(
            User.get(bob_user), copy.deepcopy(answer), flows, settings,
            request) is True
        assert service.verify_second_step(
            User.get(bob_user), answer) is False
        assert service.verify_second_step(User.get(bob_user),
                                          "not json") is False


def test_configured_rp_id_and_origins(make_app):
    app = make_app("session_auth", webauthn_rp_id="example.com",
                   webauthn_origins=("https://login.example.com",),
                   webauthn_rp_name="Example")
    client = signed_in(app)
    options = client.post(BASE + "/register/options").get_json()
    assert options["rp"] == {"id": "example.com", "name": "Example"}
    key = SoftAuthenticator(origin="https://login.example.com",
                            rp_id="example.com")
    assert client.post(BASE + "/register", json={
        "credential": key.register(options)}).status_code == 201
    assert passkey_login(app.test_client(), key).status_code == 200
    assert passkey_login(app.test_client(), key,
                         origin="http://localhost").status_code == 401


def test_second_step_method_and_remove_passkeys(app):
    bob = signed_in(app)
    key, _ = register(bob)
    _, other = register(bob)
    assert other.status_code == 201
    owner = Passkey.by_credential_id(key.id).user_id
    from models.user import User
    with app.test_request_context("/api/v1/auth_session/login/mfa",
                                  method="POST"):
        from flask import request
        flows = app.extensions["session_api.flow"]
        settings = app.extensions["session_api.settings"]
        options = service.authentication_options(flows, settings, request)
        assert service.second_step_method(
            User.get(owner), key.assert_(options), settings) == "hwk"
        assert service.second_step_method(
            User.get(owner), key.assert_(options), settings) is None
    assert service.remove_passkeys(owner) == 2
    assert bob.get(BASE).get_json() == []
    assert service.remove_passkeys(owner) == 0


def test_import_json_carries_passkeys_into_the_database(make_app, workdir):
    from models import base
    from models.sql_store import SqlRecordStore
    app = make_app("session_auth")
    key, created = register(signed_in(app))
    assert created.status_code == 201
    url = "sqlite:///" + str(workdir / "moved.db")
    base.set_store(SqlRecordStore(url))
    try:
        moved = make_app("session_auth", database_url=url)
        result = moved.test_cli_runner().invoke(args=["import-json"])
        assert result.exit_code == 0, result.output
        assert passkey_login(moved.test_client(), key).status_code == 200
    finally:
        from models.store import JsonFileStore
        base.set_store(JsonFileStore())
