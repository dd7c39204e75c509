"""The checker scripts main_0.py ... main_4.py run as the spec shows."""
import ast
import re

import requests

from conftest import REPO, live_server, run_script

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def test_main_0_creates_bob(workdir):
    result = run_script("main_0.py", workdir)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stderr
    assert re.fullmatch("New user: " + UUID, lines[0])
    assert lines[1] == \
        "Basic Base64: Ym9iQGhidG4uaW86SDBsYmVydG9uU2Nob29sOTgh"
    assert (workdir / ".db_User.json").exists()


def test_main_1_create_session(workdir):
    result = run_script("main_1.py", workdir)
    lines = result.stdout.splitlines()
    assert lines[:3] == ["<class 'dict'>: {}", "None => None: {}",
                         "89 => None: {}"]
    for line, user_id, size in zip(lines[3:], ["abcde", "fghij", "abcde"],
                                   [1, 2, 3]):
        match = re.fullmatch(r"(\w+) => ({}): (\{{.*\}})".format(UUID),
                             line)
        assert match and match.group(1) == user_id
        assert len(ast.literal_eval(match.group(3))) == size
    assert list(ast.literal_eval(lines[-1].split(": ", 1)[1]).values()) == \
        ["abcde", "fghij", "abcde"]


def test_main_2_user_id_for_session_id(workdir):
    result = run_script("main_2.py", workdir)
    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stderr
    s1 = re.match(r"abcde => (\S+):", lines[0]).group(1)
    s2 = re.match(r"fghij => (\S+):", lines[1]).group(1)
    assert lines[3:8] == ["None => None", "89 => None",
                          "doesntexist => None", s1 + " => abcde",
                          s2 + " => fghij"]
    s3 = re.match(r"abcde => (\S+):", lines[9]).group(1)
    assert lines[10:] == [s3 + " => abcde", s1 + " => abcde"]


def test_main_3_session_cookie(workdir):
    argv = [str(REPO / "main_3.py")]
    with live_server(argv, workdir, {"SESSION_NAME": "_my_session_id"},
                     probe="/") as server:
        def fetch(cookie=None):
            headers = {"Cookie": cookie} if cookie else {}
            return requests.get(server.url, headers=headers, timeout=5).text
        assert fetch() == "Cookie value: None\n"
        assert fetch("_my_session_id=Hello") == "Cookie value: Hello\n"
        assert fetch("_my_session_id=C is fun") == \
            "Cookie value: C is fun\n"
        assert fetch("_my_session_id_fake") == "Cookie value: None\n"


def test_main_4_current_user(workdir):
    argv = [str(REPO / "main_4.py")]
    with live_server(argv, workdir, {"SESSION_NAME": "_my_session_id"},
                     probe="/") as server:
        match = re.search(r"User with ID: ({0}) has a Session ID: ({0})"
                          .format(UUID), server.output())
        user_id, session_id = match.groups()

        def fetch(cookie=None):
            headers = {"Cookie": cookie} if cookie else {}
            return requests.get(server.url, headers=headers, timeout=5).text
        assert fetch() == "No user found\n"
        assert fetch("_my_session_id=Holberton") == "No user found\n"
        assert fetch("_my_session_id=" + session_id) == \
            "User found: {}\n".format(user_id)
