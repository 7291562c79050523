"""Every error under ``/api/`` as an RFC 9457 problem: ``application/problem+json``.

A problem has the standard members ``type`` (``about:blank``: the status says what
happened), ``title`` (the status phrase), ``status``, ``detail`` (what went wrong, for
people) and ``instance`` (the request path), plus members of our own:

- ``code``: a stable machine-readable name (``validation_failed``, ``stale_version``, …);
- ``errors``: for invalid input, one item per problem, each naming where it is: a JSON
  Pointer into the request body (``pointer``), a query or path ``parameter``, or a
  ``header``;
- ``current_version`` and ``current_etag`` when a write was based on a stale version;
- ``unmet``: when a system is not ready for production (code ``not_ready``), each area
  not met or waived, with its status and the reason.
"""

from __future__ import annotations

import http
import json
from collections.abc import Iterator
from typing import Any

from flask import Response, current_app, request
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

from registry.api.conditional import etag
from registry.errors import InvalidInput, RegistryError, StaleVersion

PROBLEM_JSON = "application/problem+json"

# Version metadata travels beside an entry's body: errors about it point at the top
# level of the request, errors about anything else point into the body.
TOP_LEVEL_FIELDS = frozenset({"reason", "effective_from", "base_version", "kind"})

CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "stale_version",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    428: "precondition_required",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


class FieldErrorSchema(Schema):
    pointer = fields.String(
        metadata={"description": "JSON Pointer (RFC 6901) into the request body."}
    )
    parameter = fields.String(metadata={"description": "A query or path parameter."})
    header = fields.String(metadata={"description": "A request header."})
    detail = fields.String(required=True)


class UnmetAreaSchema(Schema):
    area = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True)
    reason = fields.String(required=True)


class ProblemSchema(Schema):
    """An RFC 9457 problem."""

    type = fields.String(required=True, metadata={"example": "about:blank"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    instance = fields.String()
    code = fields.String(required=True, metadata={"description": "Stable name of the problem."})
    errors = fields.List(fields.Nested(FieldErrorSchema))
    current_version = fields.Integer(
        metadata={"description": "On 412: the entry's current version."}
    )
    current_etag = fields.String(metadata={"description": "On 412: the current ETag."})
    unmet = fields.List(
        fields.Nested(UnmetAreaSchema),
        metadata={"description": "On 409 not_ready: the readiness areas not met nor waived."},
    )


def problem(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": http.HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.path,
        "code": code or CODES.get(status, "error"),
    }
    if errors:
        body["errors"] = errors
    body.update({k: v for k, v in extra.items() if v is not None})
    response = current_app.response_class(
        json.dumps(body, ensure_ascii=False), status=status, mimetype=PROBLEM_JSON
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="registry"'
    return response


def _escape(token: object) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _walk(messages: Any, path: tuple[object, ...]) -> Iterator[tuple[tuple[object, ...], str]]:
    """(path, message) pairs from marshmallow's nested messages (``_schema`` = the object)."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            yield from _walk(value, path if key == "_schema" else (*path, key))
    elif isinstance(messages, list | tuple):
        for item in messages:
            yield from _walk(item, path)
    else:
        yield path, str(messages)


def body_errors(messages: Any, prefix: tuple[object, ...] = ()) -> list[dict[str, str]]:
    """Field errors about the JSON request body, each with its JSON Pointer."""
    return [
        {"pointer": "".join(f"/{_escape(p)}" for p in path), "detail": message}
        for path, message in _walk(messages, prefix)
    ]


def _location_errors(messages: dict[str, Any]) -> list[dict[str, str]]:
    """Field errors from webargs, whose messages are keyed by location first."""
    errors: list[dict[str, str]] = []
    for location, inner in messages.items():
        if location == "json":
            errors += body_errors(inner)
            continue
        member = "header" if location == "headers" else "parameter"
        for path, message in _walk(inner, ()):
            errors.append({member: ".".join(str(p) for p in path) or location, "detail": message})
    return errors


def from_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    headers = {k: v for k, v in exc.get_headers() if k.lower() == "allow"}
    headers.update(data.get("headers") or {})
    messages = data.get("messages")
    if status == 422 and messages:
        return problem(
            422,
            "The request is not valid: see the errors for each field.",
            errors=_location_errors(messages),
            headers=headers,
        )
    if status == 400 and messages:
        return problem(
            400,
            "The request body is not valid JSON.",
            code="malformed_json",
            errors=_location_errors(messages),
            headers=headers,
        )
    details = {
        404: "There is no API resource at this address.",
        405: f"{request.method} is not allowed here; allowed: {headers.get('Allow', 'none')}.",
        413: "The request body is larger than the registry accepts "
        f"({current_app.config.get('MAX_CONTENT_LENGTH')} bytes at most).",
        415: "Send the request body as application/json.",
        500: "The registry could not complete this request. Nothing was changed.",
    }
    detail = data.get("message") or details.get(status) or exc.description or ""
    return problem(status, detail, headers=headers)


def from_registry_error(exc: RegistryError, prefix: tuple[object, ...] = ()) -> Response:
    extra: dict[str, Any] = {}
    errors: list[dict[str, str]] | None = None
    if isinstance(exc, InvalidInput) or exc.details.get("errors"):
        messages = exc.field_errors if isinstance(exc, InvalidInput) else exc.details["errors"]
        errors = []
        headers = exc.headers if isinstance(exc, InvalidInput) else frozenset()
        for key, value in messages.items():
            location = "header" if key in headers else getattr(exc, "error_location", "body")
            if location in ("header", "parameter"):
                errors += [{location: key, "detail": m} for _, m in _walk(value, ())]
                continue
            at = () if key in TOP_LEVEL_FIELDS else getattr(exc, "body_prefix", prefix)
            errors += body_errors({key: value}, at)
    if isinstance(exc, StaleVersion):
        extra["current_version"] = exc.current
        extra["current_etag"] = etag(exc.details["entry_id"], exc.current)
        extra["headers"] = {"ETag": extra["current_etag"]}
    if "unmet" in exc.details:  # a promotion refused: the areas not ready, and why
        extra["unmet"] = exc.details["unmet"]
    if "retry_after" in exc.details:  # refused for now: when to try again
        extra["headers"] = {"Retry-After": str(exc.details["retry_after"])}
    headers = extra.pop("headers", None)
    return problem(
        exc.status,
        exc.message,
        code=getattr(exc, "code", None),
        errors=errors,
        headers=headers,
        **extra,
    )
