"""Logs as JSON lines (python-json-logger), each with the request's id.

Every request gets an id: the client's ``X-Request-ID`` when it is well formed (a
proxy's or a caller's, so one id follows a request through every hop), else a new one;
the answer carries it back. Each request ends with one line: the id, method, endpoint
(the URL rule), status, outcome, time taken, client address and the user id. Nothing
of a request's body, query string or headers is logged, so no password, token, hash or
secret reaches a log line (tests/test_logs.py holds it).
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from flask.logging import default_handler
from pythonjsonlogger.json import JsonFormatter

HEADER = "X-Request-ID"
# A token of letters, digits and . _ - : up to 128 (UUIDs, hex, most tracers' ids).
WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
FIELDS = "%(levelname)s %(name)s %(message)s"
RENAMED = {"levelname": "level"}


def request_id(given: str | None) -> str:
    """The client's id when well formed, else a new one (32 hex digits)."""
    if given and WELL_FORMED.fullmatch(given):
        return given
    return uuid.uuid4().hex


# The id of the request a background job was asked for in, while the job runs.
_JOB_REQUEST: ContextVar[str | None] = ContextVar("registry_job_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being served, or of the request that asked for the job
    running here (:func:`carrying`); None outside both."""
    if has_request_context():
        return g.get("request_id")
    return _JOB_REQUEST.get()


@contextmanager
def carrying(given: str | None) -> Iterator[None]:
    """Log the body's records with ``given``, the id of the request that asked for the
    work (a job run by a worker), so one id follows an export from request to pack."""
    token = _JOB_REQUEST.set(given)
    try:
        yield
    finally:
        _JOB_REQUEST.reset(token)


class _RequestContext(logging.Filter):
    """Adds the current request's id (or, in a job, its asking request's) to every
    record logged meanwhile."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            found = current_request_id()
            if found:
                record.request_id = found
        return True


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Standard error as it is when a record is written (tests swap it per test)."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def json_formatter() -> logging.Formatter:
    return JsonFormatter(FIELDS, rename_fields=RENAMED, timestamp="time")


def configure(app: Flask) -> None:
    """Send the app's log records (the ``registry`` logger and its children) to standard
    error as JSON lines, or as text with REGISTRY_LOG_FORMAT=text."""
    logger = app.logger
    logger.setLevel(app.config["LOG_LEVEL"])
    logger.removeHandler(default_handler)
    for handler in list(logger.handlers):
        if getattr(handler, "registry_handler", False):
            logger.removeHandler(handler)
    handler = _Stderr()
    handler.registry_handler = True  # type: ignore[attr-defined]
    handler.addFilter(_RequestContext())
    if app.config["LOG_FORMAT"] == "json":
        handler.setFormatter(json_formatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.addHandler(handler)
    # One line per record: not again through the root logger's handlers (gunicorn's).
    logger.propagate = False


def gunicorn_logging(level: str = "INFO") -> dict[str, Any]:
    """gunicorn's ``logconfig_dict``: its own lines (and anything logged through the
    root logger) as JSON lines on standard error, like the app's."""
    formatter = {
        "()": JsonFormatter,
        "fmt": FIELDS,
        "rename_fields": RENAMED,
        "timestamp": "time",
    }
    stderr = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": formatter},
        # gunicorn's defaults name these two handlers; both write JSON to stderr.
        "handlers": {"console": stderr, "error_console": stderr},
        "root": {"level": "WARNING", "handlers": ["error_console"]},
        "loggers": {
            "gunicorn.error": {
                "level": level,
                "handlers": ["error_console"],
                "propagate": False,
                "qualname": "gunicorn.error",
            },
            "gunicorn.access": {
                "level": level,
                "handlers": ["console"],
                "propagate": False,
                "qualname": "gunicorn.access",
            },
        },
    }


def user_id() -> int | None:
    """The signed-in user's id, from what the request already loaded (no query)."""
    identity = g.get("api_identity")
    if identity is not None:
        return identity.user_id  # type: ignore[no-any-return]
    # flask-login keeps the user it loaded for this request on g; not loading one here
    # spares a query to requests that never asked who is signed in (static files).
    user = g.get("_login_user")
    if user is not None and getattr(user, "is_authenticated", False):
        return user.id  # type: ignore[no-any-return]
    return None


def outcome(status: int) -> str:
    if status < 400:
        return "ok"
    if status < 500:
        return "refused"
    return "error"


def started() -> None:
    g.request_id = request_id(request.headers.get(HEADER))
    g.request_started = time.perf_counter()


def answered(response: Response, client: str) -> float:
    """Log the request's line; echo its id; return the seconds it took."""
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    response.headers[HEADER] = g.get("request_id") or request_id(None)
    logging.getLogger("registry.requests").info(
        "request",
        extra={
            "method": request.method,
            "endpoint": endpoint(),
            "status": response.status_code,
            "outcome": outcome(response.status_code),
            "duration_ms": round(seconds * 1000, 2),
            "client": client,
            "user_id": user_id(),
        },
    )
    return seconds


def endpoint() -> str:
    """The URL rule the request matched (never the raw path: no ids, no unbounded set)."""
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"
