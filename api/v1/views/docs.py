#!/usr/bin/env python3
"""Views of the API's own description: the OpenAPI document and its browser.

`GET /api/v1/openapi.json` serves `api/v1/openapi.yaml` as JSON, with the
session cookie named as the settings say (`SESSION_NAME`). `GET
/api/v1/docs` serves a Swagger UI 5 page whose files come from the
`swagger-ui-py` package and are served by this app under
`/api/v1/docs/...`, so the page needs no network beyond this server. The
guard leaves these paths open (`PUBLIC_PATHS` in `api/v1/app.py`).
"""
import copy
import importlib.util
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Optional

import yaml
from flask import Response, abort, jsonify, send_from_directory, url_for
from markupsafe import escape

from api.v1.views import active_settings, app_views

__all__ = ["openapi_json", "docs_page", "docs_asset"]

DOCUMENT_FILE = Path(__file__).resolve().parent.parent / "openapi.yaml"
"""The hand-written OpenAPI 3.1 document of every route of the API."""
SESSION_SCHEME = "sessionCookie"
"""The security scheme whose `name` is the session cookie's name."""
SWAGGER_UI_PACKAGE = "swagger_ui"
"""The import name of `swagger-ui-py`, which ships Swagger UI's dist files."""
SWAGGER_UI_FILES = frozenset(("swagger-ui.css", "swagger-ui-bundle.js",
                              "favicon-16x16.png", "favicon-32x32.png"))
"""The files of the Swagger UI dist that the page uses; others are 404."""
INIT_SCRIPT = "swagger-initializer.js"
INIT_JS = """\
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.url,
    domNode: root,
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  });
}());
"""
"""Starts Swagger UI on the page's document URL (no inline script)."""
PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Session API: documentation</title>
<link rel="stylesheet" href="{css}">
<link rel="icon" type="image/png" href="{icon}">
</head>
<body>
<div id="swagger-ui" data-url="{document}"></div>
<script src="{bundle}"></script>
<script src="{init}"></script>
</body>
</html>
"""
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "font-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'")
"""Only this server's own files; Swagger UI sets inline style attributes."""

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def source_document() -> Dict[str, Any]:
    """Return the OpenAPI document read from `DOCUMENT_FILE`, read once."""
    with open(DOCUMENT_FILE, encoding="utf-8") as stream:
        return yaml.safe_load(stream)


@lru_cache(maxsize=8)
def openapi_document(session_name: str) -> Dict[str, Any]:
    """Return the OpenAPI document naming the cookie `session_name`.

    Built once per cookie name from `source_document()`, which is left
    unchanged; callers must not change the result either.
    """
    document = copy.deepcopy(source_document())
    schemes = document["components"]["securitySchemes"]
    schemes[SESSION_SCHEME]["name"] = session_name
    return document


@lru_cache(maxsize=1)
def swagger_ui_folder() -> Optional[str]:
    """Return the folder of Swagger UI's dist files, or None if missing.

    The package is located, not imported: only its files are used.
    """
    spec = importlib.util.find_spec(SWAGGER_UI_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        logger.warning("%s is not installed: /api/v1/docs cannot load "
                       "Swagger UI", SWAGGER_UI_PACKAGE)
        return None
    return str(Path(list(spec.submodule_search_locations)[0]) / "static")


@app_views.route('/openapi.json', methods=['GET'], strict_slashes=False)
def openapi_json() -> Response:
    """GET /api/v1/openapi.json: return the OpenAPI document as JSON."""
    return jsonify(openapi_document(active_settings().session_name))


@app_views.route('/docs', methods=['GET'], strict_slashes=False)
def docs_page() -> Response:
    """GET /api/v1/docs: return the Swagger UI page of the document."""
    def asset(name: str) -> str:
        """Return the escaped URL of the docs asset `name`."""
        return escape(url_for("app_views.docs_asset", filename=name))
    page = PAGE.format(css=asset("swagger-ui.css"),
                       icon=asset("favicon-32x32.png"),
                       bundle=asset("swagger-ui-bundle.js"),
                       init=asset(INIT_SCRIPT),
                       document=escape(url_for("app_views.openapi_json")))
    response = Response(page, mimetype="text/html")
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


@app_views.route('/docs/<path:filename>', methods=['GET'])
def docs_asset(filename: str) -> Response:
    """GET /api/v1/docs/<file>: return one file the docs page loads.

    The Swagger UI files come from `swagger-ui-py`; any other name, or a
    missing package, answers 404.
    """
    if filename == INIT_SCRIPT:
        return Response(INIT_JS, mimetype="text/javascript")
    folder = swagger_ui_folder()
    if folder is None or filename not in SWAGGER_UI_FILES:
        abort(404)
    return send_from_directory(folder, filename)
