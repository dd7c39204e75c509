"""The admin commands and email comparison: what issue 23 found untested.

Commands run through Flask's CLI runner (the code `flask --app api.v1.app`
runs), one through the real `flask` of the virtual environment. Each test
names the defect it was seen to catch (planted, run, restored).
"""
import os
import re
import subprocess

import pytest

from models import passwords
from models.user import User
from conftest import (REPO, basic_header, create_user, free_port, login,
                      server_env)

FLASK = str(REPO / ".venv" / "bin" / "flask")
PASSWORD_STDIN = "--password-stdin"
# Every command, with the arguments and input it needs.
COMMANDS = [
    ("create-user", "new@hbtn.io", PASSWORD_STDIN),
    ("set-password", "bob@hbtn.io", PASSWORD_STDIN),
    ("delete-user", "bob@hbtn.io"),
    ("grant-admin", "bob@hbtn.io"),
    ("revoke-admin", "bob@hbtn.io"),
    ("list-sessions", "bob@hbtn.io"),
    ("revoke-sessions", "bob@hbtn.io"),
    ("purge-sessions",),
    ("unlock-logins",),
    ("upgrade-legacy-hashes",),
    ("db-upgrade",),
    ("import-json",),
    ("export-json", "--force"),
]


def run(app, *args, stdin=None):
    """Invoke a command of `app`; return the click result."""
    return app.test_cli_runner().invoke(args=list(args), input=stdin)


def dead_database_url():
    """Return a PostgreSQL URL on a port where nothing listens."""
    return "postgresql://postgres@127.0.0.1:{}/gone".format(free_port())


def assert_one_clear_line(result):
    """Exit 1 with one `Error: ...` line, no traceback, no exception."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_every_command_answers_a_store_error_in_one_line(make_app,
                                                         command):
    """The database is down: one clear line and exit code 1.

    The limits' storage (Redis) is down too, for `unlock-logins`.
    Defect caught: `register_commands` not wrapping the commands in
    `store_errors` (a traceback and exit code 1 from the exception).
    Bug it found: `unlock-logins` let the limits' `StorageError` through
    as a traceback; `AttemptLimits.reset` now raises
    `StoreUnavailableError`.
    """
    dead_redis = "redis://127.0.0.1:{}/0".format(free_port())
    app = make_app("session_db_auth", database_url=dead_database_url(),
                   session_duration=60, ratelimit_storage_uri=dead_redis)
    result = run(app, *command, stdin="N3w-password!\n")
    assert_one_clear_line(result)
    assert re.search(r"the (records|limits) store (is unavailable \(|"
                     r"cannot serve: )\w+Error: ", result.stderr)


def test_a_store_error_through_the_real_flask(workdir):
    """As above, in the process an operator runs: stderr is one line."""
    environ = server_env({"DATABASE_URL": dead_database_url(),
                          "AUTH_TYPE": "session_db_auth"})
    environ["PATH"] = os.path.dirname(FLASK) + os.pathsep + \
        environ.get("PATH", "")
    done = subprocess.run([FLASK, "--app", "api.v1.app", "delete-user",
                           "bob@hbtn.io"], cwd=workdir, env=environ,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines()
              if line.startswith("Error: ")]
    assert len(errors) == 1
    assert errors[0].startswith("Error: the records store is unavailable "
                                "(OperationalError: ")


def two_users_sharing_a_normalised_email():
    """Store `Bob@hbtn.io` then `bob@hbtn.io` (data from before
    normalisation, which only the JSON files can hold); return both."""
    first = create_user("Bob@hbtn.io", "Pwd-of-first-1")
    second = create_user("bob@hbtn.io", "Pwd-of-second-2")
    assert User.count() == 2
    return first, second


def test_the_cli_acts_on_the_exact_email_or_refuses(make_app):
    """Two stored emails normalise alike: the exact one, or a refusal.

    Defects caught: `one_user` acting on the first of several users
    (`delete-user BOB@HBTN.IO` deletes one of them), and
    `search_by_email` comparing normalised forms first (the exact email
    is then refused as shared).
    """
    first, second = two_users_sharing_a_normalised_email()
    app = make_app(None)
    shared = run(app, "delete-user", "BOB@HBTN.IO")
    assert shared.exit_code == 1
    assert "2 users share the email BOB@HBTN.IO" in shared.stderr
    assert User.count() == 2
    exact = run(app, "delete-user", "bob@hbtn.io")
    assert exact.exit_code == 0, exact.output
    assert exact.output.strip() == "deleted user " + second.id
    assert [u.id for u in User.all()] == [first.id]


def test_the_exact_stored_email_wins_at_login_and_lookups(make_app):
    """`bob@hbtn.io` is the second user, even though `Bob@hbtn.io` (the
    first) normalises alike: its password does not open the second.

    Defect caught: `search_by_email` asking the normalised form first
    (the first user's password then logs in as the first user by the
    second's email).
    """
    first, second = two_users_sharing_a_normalised_email()
    assert User.search_by_email("bob@hbtn.io") == [second]
    assert User.search_by_email("Bob@hbtn.io") == [first]
    client = make_app("session_auth").test_client()
    wrong = login(client, "bob@hbtn.io", "Pwd-of-first-1")
    assert wrong.status_code == 401
    assert wrong.get_json() == {"error": "wrong password"}
    right = login(client, "bob@hbtn.io", "Pwd-of-second-2")
    assert right.status_code == 200 and right.get_json()["id"] == second.id
    basic = make_app("basic_auth").test_client()
    me = basic.get("/api/v1/users/me",
                   headers=basic_header("Bob@hbtn.io", "Pwd-of-first-1"))
    assert me.status_code == 200 and me.get_json()["id"] == first.id
    assert basic.get("/api/v1/users/me", headers=basic_header(
        "Bob@hbtn.io", "Pwd-of-second-2")).status_code == 403


@pytest.mark.parametrize("command", ["create-user", "set-password"])
def test_the_cli_refuses_passwords_over_1024_characters(make_app,
                                                        command):
    """A 1,025-character password is refused, as the API refuses it.

    Defect caught: `read_password` without its length check.
    """
    user = create_user()
    app = make_app(None)
    email = "new@hbtn.io" if command == "create-user" else "bob@hbtn.io"
    too_long = "p" * (passwords.MAX_PASSWORD_LENGTH + 1)
    result = run(app, command, email, PASSWORD_STDIN, stdin=too_long + "\n")
    assert_one_clear_line(result)
    assert "longer than 1024 characters" in result.stderr
    assert User.search_by_email("new@hbtn.io") == []
    assert User.get(user.id).is_valid_password("H0lberton!")
    just_right = run(app, command, email, PASSWORD_STDIN,
                     stdin=too_long[1:] + "\n")
    assert just_right.exit_code == 0, just_right.output


@pytest.mark.parametrize("limit", ["per_account", "account_wide"])
def test_unlock_logins_lets_a_locked_account_log_in_at_once(
        make_app, redis_url, limit):
    """A server locked bob out; the command, in another process's app
    over the same stores, lets him in at the next try.

    Defects caught: `AttemptLimits.reset` doing nothing, or leaving the
    account-wide counters of the flow store.
    """
    create_user()
    values = {"ratelimit_storage_uri": redis_url,
              "login_limit_per_account": "3 per hour",
              "login_limit_account_wide": "50 per hour"}
    if limit == "account_wide":
        values.update(login_limit_per_account="50 per hour",
                      login_limit_account_wide="3 per hour")
    server = make_app("session_auth", **values).test_client()
    statuses = [login(server, password="wrong").status_code
                for _ in range(4)]
    assert statuses == [401] * 3 + [429]
    assert login(server).status_code == 429
    result = run(make_app("session_auth", **values), "unlock-logins")
    assert result.exit_code == 0 and "login limits reset" in result.output
    assert login(server).status_code == 200


CASES = [("STRAßE@hbtn.io", "strasse@hbtn.io"),
         ("strasse@hbtn.io", "STRAßE@HBTN.IO"),
         ("Ǆemal@hbtn.io", "ǆemal@hbtn.io")]


@pytest.mark.parametrize("stored, given", CASES)
def test_emails_compare_after_unicode_case_folding(make_app, stored,
                                                   given):
    """`STRAßE@...` is `strasse@...` at login, at creation and in the CLI.

    Defect caught: `normalize_email` lower-casing (`str.lower` keeps
    `ß`) instead of case folding.
    """
    user = create_user(stored)
    assert User.search_by_email(given) == [user]
    client = make_app("session_auth").test_client()
    assert login(client, given).status_code == 200
    app = make_app(None)
    created = app.test_client().post("/api/v1/users", json={
        "email": given, "password": "An0ther-one"})
    assert created.status_code == 400
    assert created.get_json() == {
        "error": "Can't create User: email already registered"}
    result = run(app, "create-user", given, PASSWORD_STDIN,
                 stdin="An0ther-one\n")
    assert result.exit_code == 1
    assert "email already registered" in result.stderr
    shown = run(app, "grant-admin", given)
    assert shown.exit_code == 0 and User.get(user.id).is_admin
    assert User.count() == 1
    assert client.get("/api/v1/users/me").get_json()["id"] == user.id
