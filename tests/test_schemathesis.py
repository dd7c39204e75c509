"""Property-based tests of the live API against its OpenAPI document.

Schemathesis generates requests for every operation of the served
document (valid and invalid ones), sends them with valid credentials to a
real server, and checks each answer: never a 5xx, and status code,
content type, headers and body as the document says. Run under Basic
and under file-backed session authentication; bounded in examples and
time, and derandomised, so each run sends the same requests.
"""
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               negative_data_rejection,
                                               response_headers_conformance,
                                               response_schema_conformance,
                                               status_code_conformance)

from api.v1.views.docs import source_document
from conftest import api_server, basic_header, server_env

EMAIL = "bob@hbtn.io"
PASSWORD = "H0lbertonSchool98!"
MODES = {"basic_auth": {},
         "session_db_auth": {"SESSION_NAME": "sid", "SESSION_DURATION": "600"}}
"""Each AUTH_TYPE under test, with its own variables."""
SERVER_ENV = {"LOGIN_LIMIT_PER_ACCOUNT": "100000 per minute",
              "LOGIN_LIMIT_PER_ADDRESS": "100000 per minute",
              "SECRET_KEY": "schemathesis secret key, not for production"}
"""Generated logins fail by the hundred; the limits are not under test.
With `SECRET_KEY` the second-factor routes answer as in production rather
than 503."""
CHECKS = [not_a_server_error, status_code_conformance,
          content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]
"""No 5xx; answers as documented; requests the document calls invalid
are refused (4xx), so its request schemas are not looser than the API."""
MAX_EXAMPLES = 10
SEED_USERS = (
    "import sys\n"
    "from models.user import User\n"
    "email, password, alice_id, carol_id = sys.argv[1:]\n"
    "bob = User(email=email, first_name='Bob', last_name='Dylan')\n"
    "alice = User(id=alice_id, email='alice@hbtn.io')\n"
    "carol = User(id=carol_id, email='carol@hbtn.io')\n"
    "for user in (bob, alice, carol):\n"
    "    user.password = password\n"
    "User.save_many([bob, alice, carol])\n")
"""Bob signs every request. Alice and Carol have the ids of the document's
examples (GET/PUT and DELETE of /users/{user_id}), so that generated
requests also reach users that exist."""


def example_ids() -> List[str]:
    """Return the example user ids of the document: GET/PUT, then DELETE."""
    document = source_document()
    shared = document["components"]["parameters"]["UserId"]
    delete = document["paths"]["/api/v1/users/{user_id}"]["delete"]
    return [shared["examples"]["id"]["value"],
            delete["parameters"][0]["example"]]


TALLY: Counter = Counter()
"""Cases sent, by (mode, operation), for the summary line."""


class Credentials:
    """Valid credentials for one server: a Basic header or a cookie."""

    def __init__(self, mode: str, url: str, document: dict) -> None:
        self.mode = mode
        self.url = url
        self.document = document
        self.cookies: Dict[str, str] = {}
        if mode != "basic_auth":
            self.log_in()

    def log_in(self) -> None:
        """Start a new session and keep its cookie.

        The cookie is the one the served document names.
        """
        response = requests.post(
            self.url + "/api/v1/auth_session/login",
            data={"email": EMAIL, "password": PASSWORD}, timeout=10)
        assert response.status_code == 200, response.text
        scheme = self.document["components"]["securitySchemes"][
            "sessionCookie"]
        name = scheme["name"]
        assert set(response.cookies.keys()) == {name, "_device_id"}
        self.cookies = {name: response.cookies[name]}

    def request_kwargs(self) -> dict:
        """Return the `headers` and `cookies` a request carries."""
        if self.mode == "basic_auth":
            return {"headers": basic_header(EMAIL, PASSWORD)}
        return {"cookies": dict(self.cookies)}


@pytest.fixture(scope="module", params=sorted(MODES))
def live(request, tmp_path_factory) -> Iterator[Credentials]:
    """Run a server with seeded users under each mode; yield credentials.

    After the mode's cases, prints the figures and checks that every
    operation of the document was tried.
    """
    mode = request.param
    folder: Path = tmp_path_factory.mktemp(mode)
    subprocess.run([sys.executable, "-c", SEED_USERS, EMAIL, PASSWORD]
                   + example_ids(), cwd=folder, env=server_env(),
                   check=True, timeout=60)
    started = time.monotonic()
    with api_server(folder, AUTH_TYPE=mode, **SERVER_ENV,
                    **MODES[mode]) as server:
        response = requests.get(server.url + "/api/v1/openapi.json",
                                timeout=10)
        assert response.status_code == 200
        yield Credentials(mode, server.url, response.json())
    tried = {operation: n for (m, operation), n in TALLY.items()
             if m == mode}
    print("\nschemathesis {}: {} operations, {} cases, {:.1f} s".format(
        mode, len(tried), sum(tried.values()), time.monotonic() - started))
    documented = sum(1 for item in source_document()["paths"].values()
                     for key in item if key != "parameters")
    assert len(tried) == documented, sorted(tried)


@pytest.fixture
def api_schema(live: Credentials):
    """Return the document served by the live server, for schemathesis.

    Loaded with `from_dict`: `from_url` would leave out the operation
    that serves the document itself.
    """
    return schemathesis.openapi.from_dict(live.document)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          database=None, suppress_health_check=list(HealthCheck))
def test_answers_conform_to_the_document(case, live: Credentials):
    response = case.call_and_validate(base_url=live.url, checks=CHECKS,
                                      timeout=10, **live.request_kwargs())
    TALLY[(live.mode, case.operation.label)] += 1
    if case.method == "DELETE" and live.mode != "basic_auth" \
            and "/auth_session/" in case.path:
        live.log_in()              # the case may have ended our session
    assert response.status_code < 500
