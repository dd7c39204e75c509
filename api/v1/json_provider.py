#!/usr/bin/env python3
"""JSON for the API with orjson: faster, and bounded in nesting depth.

Answers keep Flask's form (compact, keys sorted, `application/json`).
Request bodies are parsed by orjson, which refuses too large integers,
invalid UTF-8 and (like this module, from `MAX_DEPTH` levels on) deeply
nested documents with a `ValueError`; `request.get_json()` then fails with
400 instead of a `RecursionError` and a 500. No body of this API needs
more than two levels.
"""
from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
MAX_DEPTH = 100


def nesting_depth(value: Any) -> int:
    """Return how deeply lists and dicts nest in `value` (a scalar: 0)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, depth)
            pending.extend((child, depth + 1) for child in item)
    return deepest


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider, serialising and parsing with orjson."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        """Return `obj` as compact JSON text with sorted keys.

        Values orjson refuses (integers over 64 bits) go through Flask's
        own encoder instead.
        """
        try:
            return orjson.dumps(obj, default=self.default,
                                option=_OPTIONS).decode("utf-8")
        except TypeError:
            return super().dumps(obj, **kwargs)

    def loads(self, s: Any, **kwargs: Any) -> Any:
        """Parse JSON text or bytes.

        Raises `ValueError` when it is malformed or nested `MAX_DEPTH`
        levels deep or more.
        """
        value = orjson.loads(s)
        if nesting_depth(value) >= MAX_DEPTH:
            raise ValueError("JSON nested {} levels deep or more".format(
                MAX_DEPTH))
        return value

    def response(self, *args: Any, **kwargs: Any) -> Response:
        """Return a JSON response, serialised once, straight to bytes."""
        obj = self._prepare_response_obj(args, kwargs)
        try:
            body = orjson.dumps(obj, default=self.default, option=_OPTIONS)
        except TypeError:
            body = super().dumps(obj).encode("utf-8")
        return self._app.response_class(body, mimetype=self.mimetype)
