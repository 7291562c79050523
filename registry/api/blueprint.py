"""The API's blueprint: flask-smorest's, with the registry's realm and error documentation."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import http
import json
from collections.abc import Callable
from typing import Any

import flask_smorest
from flask import Response, current_app, request
from flask_smorest.utils import unpack_tuple_response
from marshmallow import RAISE, Schema
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request

from registry.api.auth import authenticate
from registry.errors import RegistryError

JSON_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
MERGE_PATCH = "application/merge-patch+json"

IF_MATCH = {
    "in": "header",
    "name": "If-Match",
    "required": True,
    "schema": {"type": "string"},
    "description": 'The ETag of the version the change is based on, e.g. "12.3"; with '
    "several, the change goes ahead, on the current version, when its ETag is among them.",
}
IDEMPOTENCY_KEY = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "A retried request with the same key returns the first answer and "
    "changes nothing; the same key with a different request is refused (422). Keys "
    "are remembered for 24 hours.",
}
ETAG_HEADER = {
    "ETag": {"description": "The strong ETag of the version shown.", "schema": {"type": "string"}}
}
LOCATION_HEADER = {
    "Location": {"description": "The new resource.", "schema": {"type": "string"}},
    **ETAG_HEADER,
}


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_response(data: Any, status: int, headers: Any = None) -> Response:
    body = json.dumps(data, default=_json_value, ensure_ascii=False, separators=(",", ":"))
    response = current_app.response_class(body, status=status, mimetype="application/json")
    if headers:
        response.headers.update(headers)
    return response


class UnsupportedMediaType(RegistryError):
    status = 415
    title = "Unsupported media type"


def _json_only() -> None:
    """Refuse request bodies that are not JSON (415) before anything parses them. A
    PATCH is a JSON Merge Patch and says so (RFC 7396), even when empty; a merge patch
    is refused where a whole representation is expected."""
    if request.method not in JSON_BODY_METHODS:
        return
    mimetype = request.mimetype
    if request.method == "PATCH":
        if mimetype != MERGE_PATCH:
            raise UnsupportedMediaType(
                f"Send the change as a JSON Merge Patch ({MERGE_PATCH}), "
                f"not {mimetype or 'untyped data'}."
            )
        return
    if not request.content_length and not request.headers.get("Transfer-Encoding"):
        return
    json_body = mimetype == "application/json" or mimetype.endswith("+json")
    if not json_body or mimetype == MERGE_PATCH:
        raise UnsupportedMediaType(
            f"Send the request body as application/json, not {mimetype or 'untyped data'}."
        )


def json_body(data: bytes) -> Any:
    """A request body read as JSON, or 400: not JSON, nested deeper than Python's parser
    goes, or an integer longer than Python reads from text (4,300 digits)."""
    try:
        return json.loads(data)
    except RecursionError:
        abort(400, messages={"json": ["Invalid JSON body: nested too deeply."]})
    except ValueError as exc:  # malformed, not UTF-8, or the integer digit limit
        detail = "too many digits in a number" if "digits" in str(exc) else "not JSON"
        abort(400, messages={"json": [f"Invalid JSON body: {detail}."]})


class StrictParser(FlaskParser):
    """Unknown query parameters are refused (422), like unknown body fields: a typo in
    a filter must not silently widen the answer. Bodies are read by :func:`json_body`."""

    DEFAULT_UNKNOWN_BY_LOCATION = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,
        "querystring": None,
    }

    def _raw_load_json(self, req: Any) -> Any:
        data = req.get_data(cache=True) if is_json_request(req) else b""
        return json_body(data) if data else core.missing


# The query of an operation that takes no query parameter: any one is unknown (422).
NO_QUERY = Schema.from_dict({}, name="NoQuery")(unknown=RAISE)


def _reads_query(func: Callable[..., Any]) -> bool:
    parameters = getattr(func, "_apidoc", {}).get("arguments", {}).get("parameters", [])
    return any(p.get("in") == "query" for p in parameters)


class Blueprint(flask_smorest.Blueprint):
    """Every request authenticates (except public endpoints) and bodies are JSON.

    Every operation is documented under the blueprint's ``tag`` (a name for users:
    "Systems", "Entries", ...) with the stable ``operationId`` its route names
    (``listSystems``, ``createChangeLog``, ...): generated clients name their modules
    and functions after them, so they never change with a path or a Python name."""

    ARGUMENTS_PARSER = StrictParser()

    def __init__(self, *args: Any, tag: str, json_bodies: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tag = tag
        self.before_request(authenticate)
        if json_bodies:  # (the documents' uploads are multipart/form-data)
            self.before_request(_json_only)

    def route(self, rule: str, *, operation_id: str, **options: Any) -> Any:
        """As flask-smorest's, for one method, with the operation's ``operationId``.
        An operation whose arguments read no query refuses every query parameter (422),
        as the others refuse those they do not know."""
        if len(options.get("methods", ("GET",))) != 1:
            raise ValueError(f"{rule}: one method per route, each with its operationId")

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            if not _reads_query(func):
                parse = self.ARGUMENTS_PARSER.use_args(NO_QUERY, location="query", as_kwargs=True)
                func = self._documented(parse(func), {422})
            doc = copy.deepcopy(getattr(func, "_apidoc", {}))
            doc.setdefault("manual_doc", {})["operationId"] = operation_id
            func._apidoc = doc  # type: ignore[attr-defined]
            return super(Blueprint, self).route(rule, tags=[self.tag], **options)(func)

        return decorator

    def arguments(self, schema: Any, **kwargs: Any) -> Any:
        """As flask-smorest's, with one schema instance for all requests (webargs would
        build one per request from a class)."""
        return super().arguments(schema() if isinstance(schema, type) else schema, **kwargs)

    def response(self, status_code: int, schema: Any = None, **kwargs: Any) -> Any:
        """Document the response with ``schema``, but answer with the view's own value
        serialised as it is: views build exactly the documented shape (the schemathesis
        test holds them to it), and a second pass through marshmallow would only cost."""
        documented = super().response(status_code, schema, **kwargs)

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(func)
            def answer(*args: Any, **kw: Any) -> Any:
                result = func(*args, **kw)
                data, status, headers = unpack_tuple_response(result)
                if isinstance(data, Response):
                    return result
                return json_response(data, status or status_code, headers)

            return documented(answer)

        return decorator

    def header(
        self, parameter: dict[str, Any]
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Document a request header beside the operation's other arguments (the
        parameters given to ``doc`` would replace those of ``arguments``)."""

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            doc = copy.deepcopy(getattr(func, "_apidoc", {}))
            doc.setdefault("arguments", {}).setdefault("parameters", []).append(dict(parameter))
            func._apidoc = doc  # type: ignore[attr-defined]
            return func

        return decorator

    def problems(self, *statuses: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Document the problem responses an operation can give (401 and 403 always,
        unless it is public, which the caller says by leaving them out); 503, when the
        database is unavailable, is documented on every operation that uses this."""

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            return self._documented(func, {*statuses, 503})

        return decorator

    def _documented(self, func: Callable[..., Any], statuses: set[int]) -> Callable[..., Any]:
        """``func`` with the problem responses ``statuses`` documented."""
        documented = func
        for status in sorted(statuses):
            documented = self.alt_response(status, response=http.HTTPStatus(status).name)(
                documented
            )
        # Only the documentation is kept: alt_response's wrappers do nothing at run
        # time but call the view, one layer per status, on every request.
        func._apidoc = documented._apidoc  # type: ignore[attr-defined]
        return func


READ = (401, 403)
BODY = (400, 413, 415)
