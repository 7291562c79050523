"""Which surface a request came to: the REST API (everything under ``/api/``, answered
with RFC 9457 problems, no cookie session, no rate limits) or the web pages. The one
rule, read by the error dispatch, the session interface and the rate limiter."""

from __future__ import annotations

from flask import request

API_PREFIX = "/api/"


def is_api_request() -> bool:
    """Whether the current request is to the REST API."""
    return request.path == API_PREFIX.rstrip("/") or request.path.startswith(API_PREFIX)
