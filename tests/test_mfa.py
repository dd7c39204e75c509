"""Second factor (account-security §4): TOTP, recovery codes, two-step login,
reauthentication, Basic refusal and the `disable-mfa` command.

The clock is frozen (`frozen_clock`): TOTP codes are computed from it with
pyotp, independently of the server's code, and time moves by hand.
"""
import logging
from datetime import datetime

import pyotp
import pytest

from conftest import (SESSION_TYPES, basic_header, create_user, login,
                      session_id_of)
from models import base
from models.user import User

pytestmark = pytest.mark.quick_hashing

KEY = "test secret key " * 3
EPOCH = datetime(1970, 1, 1)
TOTP = "/api/v1/auth_session/totp"
CONFIRM = "/api/v1/auth_session/totp/confirm"
CODES = "/api/v1/auth_session/recovery_codes"
STATUS = "/api/v1/auth_session/mfa"
STEP2 = "/api/v1/auth_session/login/mfa"
REAUTH = "/api/v1/auth_session/reauthenticate"
SESSIONS = "/api/v1/auth_session/sessions"
ME = "/api/v1/users/me"


@pytest.fixture(autouse=True)
def empty_tables(request):
    """Empty the factor and flow tables of a shared PostgreSQL after each
    test (the `database` fixture empties only users and sessions)."""
    yield
    from models.sql_store import SqlRecordStore, authenticators, flow_state
    store = base.get_store()
    if isinstance(store, SqlRecordStore):
        with store.engine.begin() as connection:
            connection.execute(authenticators.delete())
            connection.execute(flow_state.delete())


def code_at(secret, clock, offset=0):
    """Return the TOTP code of `secret` at the frozen clock (+ seconds)."""
    moment = int((clock.now - EPOCH).total_seconds()) + offset
    return pyotp.TOTP(secret).at(moment)


def enrol(client, clock):
    """Enrol TOTP for the logged-in client; return (secret, codes)."""
    answer = client.post(TOTP)
    assert answer.status_code == 200, answer.get_json()
    secret = answer.get_json()["secret"]
    confirmed = client.post(CONFIRM, json={"code": code_at(secret, clock)})
    assert confirmed.status_code == 200, confirmed.get_json()
    return secret, confirmed.get_json()["recovery_codes"]


def password_step(app):
    """Log in with the password; return (client, mfa_token)."""
    client = app.test_client()
    answer = login(client)
    assert answer.status_code == 401
    body = answer.get_json()
    assert body["error"] == "second factor required"
    assert "Set-Cookie" not in answer.headers
    return client, body["mfa_token"]


def enrolled_app(make_app, clock, auth_type="session_auth", **settings):
    """Return (app, owner client, secret, recovery codes) for bob."""
    create_user()
    settings.setdefault("session_duration", 3600)
    app = make_app(auth_type, secret_key=KEY, **settings)
    owner = app.test_client()
    assert login(owner).status_code == 200
    secret, codes = enrol(owner, clock)
    clock.advance(90)          # three steps past the used enrolment code
    return app, owner, secret, codes


@pytest.mark.parametrize("auth_type", SESSION_TYPES)
def test_enrol_then_log_in_with_two_steps(make_app, auth_type, database,
                                          frozen_clock):
    app, owner, secret, codes = enrolled_app(make_app, frozen_clock,
                                             auth_type)
    assert len(secret) == 32 and len(codes) == 10
    assert len(set(codes)) == 10
    assert owner.get(STATUS).get_json() == {
        "totp": True, "recovery_codes_left": 10, "passkeys": 0}
    client, token = password_step(app)
    answer = client.post(STEP2, data={"mfa_token": token,
                                      "code": code_at(secret, frozen_clock)})
    assert answer.status_code == 200
    assert answer.get_json()["email"] == "bob@hbtn.io"
    session_id_of(answer)
    assert client.get(ME).status_code == 200
    listed = [s for s in client.get(SESSIONS).get_json() if s["current"]]
    assert listed[0]["amr"] == ["pwd", "otp"]
    assert listed[0]["auth_time"] == base.format_timestamp(frozen_clock.now)
    again = client.post(STEP2, data={"mfa_token": token, "code": "123456"})
    assert (again.status_code, again.get_json()) == (
        401, {"error": "mfa_token invalid"})


def test_the_otpauth_uri_and_a_pending_secret_replaced(make_app,
                                                       frozen_clock):
    create_user()
    app = make_app("session_auth", secret_key=KEY, totp_issuer="Acme")
    client = app.test_client()
    login(client)
    first = client.post(TOTP).get_json()
    assert first["otpauth_uri"] == (
        "otpauth://totp/Acme:bob%40hbtn.io?secret={}&issuer=Acme".format(
            first["secret"]))
    second = client.post(TOTP).get_json()["secret"]
    assert second != first["secret"]
    stale_code = code_at(first["secret"], frozen_clock)
    stale = client.post(CONFIRM, json={"code": stale_code})
    assert (stale.status_code, stale.get_json()) == (
        403, {"error": "wrong code"})
    assert client.get(STATUS).get_json()["totp"] is False
    assert client.post(CONFIRM, json={"code": code_at(
        second, frozen_clock)}).status_code == 200
    assert (client.post(TOTP).status_code, client.post(TOTP).get_json()) \
        == (409, {"error": "totp already enabled"})
    assert client.post(CONFIRM, json={"code": "123456"}).get_json() == {
        "error": "no totp pending"}


def test_enrolment_errors(make_app, frozen_clock):
    create_user()
    app = make_app("session_auth", secret_key=KEY)
    client = app.test_client()
    login(client)
    for body, status, error in [
            ({}, 400, "code missing"), ({"code": ""}, 400, "code missing"),
            ({"code": "123456"}, 409, "no totp pending")]:
        answer = client.post(CONFIRM, json=body)
        assert (answer.status_code, answer.get_json()) == (
            status, {"error": error})
    answer = client.post(CONFIRM, data="[1]",
                         content_type="application/json")
    assert (answer.status_code, answer.get_json()) == (
        400, {"error": "Wrong format"})
    for method, path in (("delete", TOTP), ("post", CODES)):
        answer = getattr(client, method)(path)
        assert (answer.status_code, answer.get_json()) == (
            409, {"error": "totp not enabled"})
    client.post(TOTP)
    for odd in (7, "\u00f6>t", "١٢٣٤٥٦", ["123456"]):
        answer = client.post(CONFIRM, json={"code": odd})
        assert (answer.status_code, answer.get_json()) == (
            403, {"error": "wrong code"})
    assert client.post(CONFIRM, json={"code": "x" * 5000}).status_code \
        == 403
    assert app.test_client().get(STATUS).status_code == 401


def test_without_secret_key_enrolment_is_refused(make_app):
    create_user()
    client = make_app("session_auth").test_client()
    login(client)
    answer = client.post(TOTP)
    assert (answer.status_code, answer.get_json()) == (
        503, {"error": "totp unavailable: SECRET_KEY is not set"})


def test_routes_are_404_without_a_session_auth(make_app):
    create_user()
    client = make_app("basic_auth", secret_key=KEY).test_client()
    headers = basic_header("bob@hbtn.io", "H0lberton!")
    for path in (TOTP, CONFIRM, CODES, STEP2, REAUTH):
        assert client.post(path, headers=headers).status_code == 404


def test_one_step_of_drift_and_a_code_is_accepted_once(make_app, database,
                                                       frozen_clock):
    app, _, secret, _ = enrolled_app(make_app, frozen_clock)
    client, token = password_step(app)
    too_old = code_at(secret, frozen_clock, -60)
    answer = client.post(STEP2, data={"mfa_token": token, "code": too_old})
    assert (answer.status_code, answer.get_json()) == (
        401, {"error": "wrong code"})
    previous = code_at(secret, frozen_clock, -30)
    assert client.post(STEP2, data={"mfa_token": token, "code": previous}
                       ).status_code == 200
    other, token = password_step(app)
    for replay in (previous, code_at(secret, frozen_clock, -60)):
        answer = other.post(STEP2, data={"mfa_token": token,
                                         "code": replay})
        assert (answer.status_code, answer.get_json()) == (
            401, {"error": "wrong code"})
    ahead = code_at(secret, frozen_clock, 30)
    assert other.post(STEP2, json={"mfa_token": token, "code": ahead}
                      ).status_code == 200
    now = code_at(secret, frozen_clock)         # older than the last used
    third, token = password_step(app)
    assert third.post(STEP2, data={"mfa_token": token, "code": now}
                      ).status_code == 401


def test_recovery_codes_are_single_use_and_renewal_voids_the_set(
        make_app, database, frozen_clock):
    app, owner, secret, codes = enrolled_app(make_app, frozen_clock)
    client, token = password_step(app)
    typed = " " + codes[0].upper().replace("-", " ") + " "
    answer = client.post(STEP2, data={"mfa_token": token, "code": typed})
    assert answer.status_code == 200
    listed = [s for s in client.get(SESSIONS).get_json() if s["current"]]
    assert listed[0]["amr"] == ["pwd", "rc"]
    assert client.get(STATUS).get_json()["recovery_codes_left"] == 9
    other, token = password_step(app)
    answer = other.post(STEP2, data={"mfa_token": token, "code": codes[0]})
    assert (answer.status_code, answer.get_json()) == (
        401, {"error": "wrong code"})
    renewed = owner.post(CODES)
    assert renewed.status_code == 200
    fresh = renewed.get_json()["recovery_codes"]
    assert len(fresh) == 10 and not set(fresh) & set(codes)
    assert other.post(STEP2, data={"mfa_token": token, "code": codes[1]}
                      ).status_code == 401
    assert other.post(STEP2, data={"mfa_token": token, "code": fresh[1]}
                      ).status_code == 200
    assert owner.get(STATUS).get_json()["recovery_codes_left"] == 9


def test_second_step_errors_and_five_wrong_codes(make_app, frozen_clock):
    app, _, secret, _ = enrolled_app(make_app, frozen_clock,
                                     login_limit_per_account="100/minute",
                                     login_limit_per_address="100/minute")
    client, token = password_step(app)
    for fields, error in [({}, "mfa_token missing"),
                          ({"mfa_token": ""}, "mfa_token missing"),
                          ({"mfa_token": token}, "code missing"),
                          ({"mfa_token": token, "code": ""},
                           "code missing")]:
        answer = client.post(STEP2, data=fields)
        assert (answer.status_code, answer.get_json()) == (
            400, {"error": error})
    for unknown in ("nope", "x" * 1000, "a\x00b"):
        answer = client.post(STEP2, data={"mfa_token": unknown,
                                          "code": "123456"})
        assert (answer.status_code, answer.get_json()) == (
            401, {"error": "mfa_token invalid"})
    answer = client.post(STEP2, data="{", content_type="application/json")
    assert (answer.status_code, answer.get_json()) == (
        400, {"error": "Wrong format"})
    right = code_at(secret, frozen_clock)
    wrong = "000000" if right != "000000" else "111111"
    for odd in ("\u00f6>t", "١٢٣٤٥٦", 7, "x" * 100, wrong):
        answer = client.post(STEP2, json={"mfa_token": token,
                                          "code": odd})
        assert (answer.status_code, answer.get_json()) == (
            401, {"error": "wrong code"})
    answer = client.post(STEP2, data={"mfa_token": token, "code": right})
    assert (answer.status_code, answer.get_json()) == (
        401, {"error": "mfa_token invalid"})
    _, token = password_step(app)
    assert client.post(STEP2, data={"mfa_token": token, "code": right}
                       ).status_code == 200


def test_wrong_codes_are_counted_by_the_account_limit(make_app,
                                                      frozen_clock):
    app, _, secret, _ = enrolled_app(make_app, frozen_clock,
                                     login_limit_per_account="3/minute")
    client, token = password_step(app)
    for _ in range(3):
        client.post(STEP2, data={"mfa_token": token, "code": "99999999"})
    answer = client.post(STEP2, data={
        "mfa_token": token, "code": code_at(secret, frozen_clock)})
    assert (answer.status_code, answer.get_json()) == (
        429, {"error": "Too many requests"})
    assert "Retry-After" in answer.headers


def test_an_expired_token_is_invalid(make_app, database, frozen_clock):
    app, _, secret, _ = enrolled_app(make_app, frozen_clock,
                                     mfa_token_seconds=60)
    client, token = password_step(app)
    frozen_clock.advance(61)
    answer = client.post(STEP2, data={
        "mfa_token": token, "code": code_at(secret, frozen_clock)})
    assert (answer.status_code, answer.get_json()) == (
        401, {"error": "mfa_token invalid"})


def test_a_password_change_voids_a_pending_second_step(make_app,
                                                       frozen_clock):
    app, owner, secret, _ = enrolled_app(make_app, frozen_clock)
    client, token = password_step(app)
    user = User.search({"email": "bob@hbtn.io"})[0]
    user.password = "another password"
    user.save()
    answer = client.post(STEP2, data={
        "mfa_token": token, "code": code_at(secret, frozen_clock)})
    assert (answer.status_code, answer.get_json()) == (
        401, {"error": "mfa_token invalid"})


def test_users_without_a_second_factor_log_in_as_before(make_app):
    create_user()
    app = make_app("session_auth", secret_key=KEY)
    answer = login(app.test_client())
    assert answer.status_code == 200 and "mfa_token" not in answer.get_json()
    assert login(app.test_client(), password="bad").get_json() == {
        "error": "wrong password"}


@pytest.mark.parametrize("auth_type", SESSION_TYPES)
def test_recent_routes_need_a_recent_login(make_app, auth_type, database,
                                           frozen_clock):
    app, owner, secret, codes = enrolled_app(
        make_app, frozen_clock, auth_type, reauth_seconds=120)
    frozen_clock.advance(121)
    for method, path in (("post", TOTP), ("delete", TOTP), ("post", CODES)):
        answer = getattr(owner, method)(path)
        assert (answer.status_code, answer.get_json()) == (
            401, {"error": "reauthentication required"})
    assert owner.get(STATUS).status_code == 200        # not (recent)
    for body, status, error in [
            ({}, 400, "password missing"),
            ({"password": "H0lberton!"}, 400, "code missing"),
            ({"password": "bad", "code": "123456"}, 403, "wrong password"),
            ({"password": "H0lberton!", "code": "000000x"}, 403,
             "wrong code")]:
        answer = owner.post(REAUTH, json=body)
        assert (answer.status_code, answer.get_json()) == (
            status, {"error": error})
    answer = owner.post(REAUTH, json={"password": "H0lberton!",
                                      "code": code_at(secret, frozen_clock)})
    assert (answer.status_code, answer.get_json()) == (200, {})
    listed = [s for s in owner.get(SESSIONS).get_json() if s["current"]]
    assert listed[0]["auth_time"] == base.format_timestamp(frozen_clock.now)
    assert owner.post(CODES).status_code == 200
    assert (owner.delete(TOTP).status_code, owner.get(STATUS).get_json()) \
        == (200, {"totp": False, "recovery_codes_left": 0, "passkeys": 0})
    assert login(app.test_client()).status_code == 200


def test_reauthentication_without_a_second_factor_needs_the_password(
        make_app, frozen_clock):
    create_user()
    app = make_app("session_exp_auth", secret_key=KEY, reauth_seconds=60,
                   session_duration=3600)
    client = app.test_client()
    login(client)
    frozen_clock.advance(61)
    assert client.post(TOTP).status_code == 401
    assert client.post(REAUTH, json={"password": "H0lberton!"}
                       ).get_json() == {}
    assert client.post(TOTP).status_code == 200
    assert client.post(REAUTH, data="x").get_json() == {
        "error": "Wrong format"}
    assert app.test_client().post(REAUTH, json={}).status_code == 401


def test_basic_credentials_of_a_user_with_a_second_factor_answer_403(
        make_app, database, frozen_clock):
    create_user()
    app = make_app("basic_auth", secret_key=KEY)
    client = app.test_client()
    headers = basic_header("bob@hbtn.io", "H0lberton!")
    assert client.get(ME, headers=headers).status_code == 200   # cached
    session_app = make_app("session_auth", secret_key=KEY)
    owner = session_app.test_client()
    login(owner)
    enrol(owner, frozen_clock)
    for _ in range(2):
        answer = client.get(ME, headers=headers)
        assert (answer.status_code, answer.get_json()) == (
            403, {"error": "Forbidden"})


def test_disable_mfa_removes_factors_and_ends_sessions(make_app, database,
                                                       frozen_clock):
    app, owner, _, _ = enrolled_app(make_app, frozen_clock,
                                    "session_db_auth")
    result = app.test_cli_runner().invoke(args=["disable-mfa",
                                                "bob@hbtn.io"])
    assert result.exit_code == 0, result.output
    assert owner.get(ME).status_code == 403
    client = app.test_client()
    assert login(client).status_code == 200
    assert client.get(STATUS).get_json() == {
        "totp": False, "recovery_codes_left": 0, "passkeys": 0}
    result = app.test_cli_runner().invoke(args=["disable-mfa",
                                                "nobody@hbtn.io"])
    assert result.exit_code == 3


def test_events_of_the_second_factor(make_app, frozen_clock, caplog):
    with caplog.at_level(logging.INFO, logger="api.auth"):
        app, owner, secret, codes = enrolled_app(make_app, frozen_clock)
        client, token = password_step(app)
        client.post(STEP2, data={"mfa_token": token, "code": "000000x"})
        client.post(STEP2, data={"mfa_token": token, "code": codes[0]})
        owner.post(CODES)
        owner.delete(TOTP)
    events = [r.getMessage().split()[1] for r in caplog.records
              if r.name == "api.auth"]
    for name in ("event=totp_enabled", "event=login_failed",
                 "event=recovery_code_used", "event=login_succeeded",
                 "event=recovery_codes_renewed", "event=totp_disabled"):
        assert name in events
    assert "amr=pwd,rc" in caplog.text


def _stored_text(database, workdir):
    """Return every stored byte of the record stores, as text."""
    from models.sql_store import SqlRecordStore
    store = base.get_store()
    if not isinstance(store, SqlRecordStore):
        return "".join(path.read_text() for path in workdir.glob(".db_*"))
    from sqlalchemy import text
    dump = []
    with store.engine.connect() as connection:
        for table in ("users", "user_sessions", "flow_state",
                      "authenticators"):
            dump += [repr(tuple(row)) for row in connection.execute(
                text("SELECT * FROM " + table))]
    if database.startswith("sqlite"):
        dump.append((workdir / "test.db").read_bytes().decode("latin-1"))
    return "\n".join(dump)


def test_secrets_never_appear_in_answers_logs_or_stores(
        make_app, database, frozen_clock, caplog, workdir):
    answers = []
    with caplog.at_level(logging.DEBUG):
        app, owner, secret, codes = enrolled_app(
            make_app, frozen_clock, "session_db_auth")
        client, token = password_step(app)
        for code in ("000000x", codes[0]):
            answers.append(client.post(STEP2, data={"mfa_token": token,
                                                    "code": code}))
        answers += [owner.get(STATUS), client.get(SESSIONS), client.get(ME),
                    owner.post(REAUTH, json={"password": "H0lberton!",
                                             "code": codes[1]})]
    texts = [a.get_data(as_text=True) for a in answers] + [
        caplog.text, _stored_text(database, workdir)]
    normal = [c.replace("-", "") for c in codes]
    for blob in texts:
        for value in [secret, secret.lower(), token] + codes + normal:
            assert value not in blob


def test_import_json_carries_the_factors_into_the_database(
        make_app, frozen_clock, postgres_url):
    app, _, secret, codes = enrolled_app(make_app, frozen_clock)
    from models.sql_store import (SqlRecordStore, authenticators,
                                  flow_state, user_sessions, users)
    database_app = make_app("session_auth", secret_key=KEY,
                            database_url=postgres_url)
    try:
        result = database_app.test_cli_runner().invoke(args=["import-json"])
        assert result.exit_code == 0, result.output
        assert "Authenticator: 11 read, 11 added" in result.output
        client, token = password_step(database_app)
        assert client.post(STEP2, data={"mfa_token": token,
                                        "code": codes[3]}).status_code == 200
    finally:
        with SqlRecordStore(postgres_url).engine.begin() as connection:
            for table in (users, user_sessions, authenticators, flow_state):
                connection.execute(table.delete())


def test_removing_a_user_removes_its_factors(make_app, database,
                                             frozen_clock):
    from models.authenticator import Authenticator
    app, owner, _, _ = enrolled_app(make_app, frozen_clock)
    user = User.search({"email": "bob@hbtn.io"})[0]
    assert len(Authenticator.of_user(user.id)) == 11
    assert owner.delete("/api/v1/users/" + user.id).status_code == 200
    assert Authenticator.of_user(user.id) == []


@pytest.mark.real_hashing
def test_one_recovery_code_in_parallel_logins_gives_one_200(
        make_app, database, frozen_clock):
    import threading
    app, owner, _, codes = enrolled_app(
        make_app, frozen_clock, login_limit_per_account="100/minute",
        login_limit_per_address="100/minute")
    for code in codes[:3]:
        steps = [password_step(app) for _ in range(4)]
        barrier = threading.Barrier(len(steps))
        statuses = []

        def finish(client, token):
            barrier.wait()
            statuses.append(client.post(STEP2, data={
                "mfa_token": token, "code": code}).status_code)
        threads = [threading.Thread(target=finish, args=step)
                   for step in steps]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [200, 401, 401, 401]
    assert owner.get(STATUS).get_json()["recovery_codes_left"] == 7


def test_disable_mfa_also_removes_passkeys_and_status_counts_them(
        make_app, frozen_clock):
    from webauthn_soft import SoftAuthenticator
    app, owner, _, _ = enrolled_app(make_app, frozen_clock)
    key = SoftAuthenticator()
    options = owner.post("/api/v1/auth_session/passkeys/register/options")
    assert owner.post("/api/v1/auth_session/passkeys/register", json={
        "credential": key.register(options.get_json())}).status_code == 201
    assert owner.get(STATUS).get_json() == {
        "totp": True, "recovery_codes_left": 10, "passkeys": 1}
    result = app.test_cli_runner().invoke(args=["disable-mfa",
                                                "bob@hbtn.io"])
    assert result.exit_code == 0, result.output
    client = app.test_client()
    assert login(client).status_code == 200
    assert client.get(STATUS).get_json() == {
        "totp": False, "recovery_codes_left": 0, "passkeys": 0}


def test_second_factor_changes_mail_a_notice(make_app, frozen_clock):
    from api.v1.config import MAIL_EXTENSION
    from mail_sink import SmtpSink, body_of
    sink = SmtpSink().start()
    try:
        app, owner, secret, codes = enrolled_app(
            make_app, frozen_clock, mail_url=sink.url,
            notices=("second_factor_changed",))
        assert owner.post(CODES).status_code == 200
        assert owner.delete(TOTP).status_code == 200
        assert app.test_cli_runner().invoke(
            args=["disable-mfa", "bob@hbtn.io"]).exit_code == 0
        messages = sink.wait_for(4)
        assert {m["Subject"] for m in messages} == {
            "Your sign-in methods were changed"}
        texts = [body_of(m) for m in messages]
        for line in ("TOTP was enabled.", "New recovery codes were made",
                     "TOTP was disabled.", "An administrator removed"):
            assert any(line in text for text in texts), line
        for value in [secret] + codes:
            assert not any(value in text for text in texts)
    finally:
        mailer = app.extensions[MAIL_EXTENSION]
        if mailer is not None:
            mailer.close(15)
        sink.stop()
