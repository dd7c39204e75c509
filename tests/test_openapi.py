"""The OpenAPI document: valid, in step with the app, served openly."""
import re
from typing import Dict, Set

import pytest
import yaml
from flask import Flask, jsonify
from openapi_spec_validator import OpenAPIV31SpecValidator

from api.v1.app import PUBLIC_PATHS
from api.v1.auth.auth import Auth
from api.v1.views.docs import DOCUMENT_FILE, SWAGGER_UI_FILES
from api.v1.views.recovery import RECOVERY_PATHS
from conftest import basic_header, create_user

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options",
                "trace"}
IGNORED_METHODS = {"HEAD", "OPTIONS"}
ASSET_ENDPOINTS = {"static", "app_views.docs_asset"}
"""Routes of static files, which the document does not describe."""


def load_document() -> dict:
    with open(DOCUMENT_FILE, encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def document_operations(document: dict) -> Dict[str, Set[str]]:
    """Return {path: {METHOD, ...}} of the document's operations."""
    return {path: {m.upper() for m in item if m in HTTP_METHODS}
            for path, item in document["paths"].items()}


def app_operations(app: Flask) -> Dict[str, Set[str]]:
    """Return {path: {METHOD, ...}} of the app's rules under /api/v1.

    Paths are written as in OpenAPI: no trailing slash (every route is
    slash tolerant), `<name>` and `<converter:name>` become `{name}`.
    """
    found: Dict[str, Set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ASSET_ENDPOINTS \
                or not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}",
                      rule.rule.rstrip("/"))
        found.setdefault(path, set()).update(rule.methods - IGNORED_METHODS)
    return found


def test_document_is_valid_openapi_3_1():
    document = load_document()
    assert document["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(document).validate()


def test_validator_rejects_a_broken_document():
    document = load_document()
    document["paths"]["/api/v1/users/{user_id}"]["delete"]["parameters"][
        0] = {"name": "user_id", "in": "path", "schema": {"type": "string"}}
    document["components"]["schemas"]["User"]["type"] = "person"
    errors = list(OpenAPIV31SpecValidator(document).iter_errors())
    assert len(errors) == 2


@pytest.mark.parametrize("auth_type", ["session_db_auth", None])
def test_every_route_is_documented_and_nothing_else(make_app, auth_type):
    app = make_app(auth_type)
    in_app = app_operations(app)
    in_document = document_operations(load_document())
    assert "/api/v1/users/{user_id}" in in_app       # the mapping works
    missing = {path: methods - in_document.get(path, set())
               for path, methods in in_app.items()}
    extra = {path: methods - in_app.get(path, set())
             for path, methods in in_document.items()}
    assert {p: m for p, m in missing.items() if m} == {}, "undocumented"
    assert {p: m for p, m in extra.items() if m} == {}, "not in the app"


def test_the_comparison_sees_a_new_route(make_app):
    app = make_app("basic_auth")

    @app.route("/api/v1/extra/<int:n>/", methods=["PATCH"])
    def extra(n):
        return jsonify({})

    in_document = document_operations(load_document())
    assert app_operations(app)["/api/v1/extra/{n}"] == {"PATCH"}
    assert "/api/v1/extra/{n}" not in in_document


def test_open_operations_are_exactly_the_public_paths():
    """`security: []` marks the paths the guard leaves open, and only them.

    Guarded operations answer 401 and 403; the guard's rule decides. The
    recovery routes are open when mail is on (`MAIL_URL`).
    """
    document = load_document()
    auth = Auth()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            is_open = operation.get("security") == []
            assert is_open == (not auth.require_auth(
                path, PUBLIC_PATHS + RECOVERY_PATHS)), \
                (method, path)
            if not is_open:
                assert {"401", "403"} <= set(operation["responses"]), \
                    (method, path)


def test_every_operation_has_an_id_and_a_success_answer():
    document = load_document()
    ids = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                ids.append(operation["operationId"])
                codes = set(operation["responses"])
                if path not in ("/api/v1/unauthorized", "/api/v1/forbidden"):
                    assert codes & {"200", "201", "202"}, (method, path)
    assert ids and len(ids) == len(set(ids))


@pytest.mark.parametrize("session_name", ["sid", None])
def test_served_document_names_the_configured_cookie(make_app, session_name):
    values = {} if session_name is None else {"session_name": session_name}
    app = make_app("session_auth", **values)
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.content_type == "application/json"
    served = response.get_json()
    scheme = served["components"]["securitySchemes"]["sessionCookie"]
    assert scheme == {**scheme, "type": "apiKey", "in": "cookie",
                      "name": session_name or "_my_session_id"}
    expected = load_document()
    expected["components"]["securitySchemes"]["sessionCookie"]["name"] = \
        scheme["name"]
    assert served == expected


def test_each_app_serves_its_own_cookie_name(make_app):
    first = make_app("session_auth", session_name="one").test_client()
    second = make_app("session_auth", session_name="two").test_client()
    for client, name in ((first, "one"), (second, "two"), (first, "one")):
        served = client.get("/api/v1/openapi.json/").get_json()
        assert served["components"]["securitySchemes"]["sessionCookie"][
            "name"] == name
    assert load_document()["components"]["securitySchemes"][
        "sessionCookie"]["name"] == "_my_session_id"


def test_docs_and_document_are_open_under_basic_auth(make_app):
    create_user()
    client = make_app("basic_auth").test_client()
    assert client.get("/api/v1/users").status_code == 401
    assert client.get("/api/v1/users", headers=basic_header(
        "bob@hbtn.io", "H0lberton!")).status_code == 200
    for path in ("/api/v1/openapi.json", "/api/v1/openapi.json/",
                 "/api/v1/docs", "/api/v1/docs/"):
        response = client.get(path)
        assert response.status_code == 200, path
    page = client.get("/api/v1/docs")
    assert page.content_type.startswith("text/html")
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]


def test_docs_page_loads_only_files_of_this_server(make_app):
    client = make_app("basic_auth").test_client()
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert 'data-url="/api/v1/openapi.json"' in page
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(urls) == 4
    types = {".css": "text/css", ".js": "text/javascript",
             ".png": "image/png"}
    for url in urls:
        assert url.startswith("/api/v1/docs/"), url
        response = client.get(url)
        assert response.status_code == 200, url
        suffix = url[url.rfind("."):]
        assert response.content_type.startswith(types[suffix]), url
    for name in SWAGGER_UI_FILES:
        assert client.get("/api/v1/docs/" + name).status_code == 200


def test_docs_assets_are_only_the_listed_files(make_app):
    client = make_app("basic_auth").test_client()
    for path in ("/api/v1/docs/swagger-editor-bundle.js",
                 "/api/v1/docs/../openapi.yaml",
                 "/api/v1/docs/%2e%2e/openapi.yaml",
                 "/api/v1/docs/index.html"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.get_json() == {"error": "Not found"}


def test_swagger_ui_is_version_5(make_app):
    client = make_app().test_client()
    bundle = client.get("/api/v1/docs/swagger-ui-bundle.js").get_data()
    versions = re.findall(rb'PACKAGE_VERSION:"(\d+)\.\d+\.\d+"', bundle)
    assert versions and all(v == b"5" for v in versions), versions
