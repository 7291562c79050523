"""The REST surface: flask-smorest blueprints under ``/api/v1``, the OpenAPI 3.1 document
at ``/api/openapi.json``, interactive documentation at ``/api/docs``, and RFC 9457
problems for every error under ``/api/``."""

from __future__ import annotations

import http
from typing import Any

from flask import Flask
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from registry.api.problems import PROBLEM_JSON, ProblemSchema
from registry.api.schemas import kind_component
from registry.records.kinds import KINDS, Money

API_DESCRIPTION = """\
The AI governance evidence registry over REST: for every AI system, its owners, data
sources, access grants, review procedures, incidents, change logs and monitoring, as
versioned entries with an append-only, signed audit ledger.

- **Authentication**: `Authorization: Bearer reg_…` only (create a token with
  `registry tokens create`, or `POST /api/v1/me/tokens`). Scopes: `read`, `write`.
- **Changes** need `If-Match` with the ETag of the version they are based on. `PUT`
  sends a whole new body; `PATCH` changes some fields with a JSON Merge Patch
  (`application/merge-patch+json`, RFC 7396).
- **Retries**: send an `Idempotency-Key` with a POST to make it safe to repeat.
- **Time**: every read takes `as_of` (as the registry stood then) and most take
  `effective_at` (what was in effect in the world then).
- **Errors** are `application/problem+json` (RFC 9457), with per-field `errors`.
"""


class RegistryApi(Api):
    """flask-smorest's Api, with problem+json as the documented shape of every error."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            if status < 400:
                continue
            response = {"description": status.phrase, "schema": self.ERROR_SCHEMA}
            if status == 503:
                response["description"] = (
                    "The database is unavailable (down, restarting, full or read-only): "
                    "code database_unavailable. Try again after Retry-After seconds."
                )
                response["headers"] = {
                    "Retry-After": {
                        "description": "Seconds to wait before trying again.",
                        "schema": {"type": "integer"},
                    }
                }
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {
            "description": "An unexpected error (problem+json).",
            "schema": self.ERROR_SCHEMA,
        }
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)

    def register_blueprint(self, blp: Any, *, parameters: Any = None, **options: Any) -> None:
        """As flask-smorest's, with the blueprint's tag (a name for users, not the
        blueprint's Python name) in the document's list of tags."""
        super().register_blueprint(blp, parameters=parameters, **options)
        self.spec._tags[:] = [  # the tag flask-smorest named after the blueprint
            {"name": blp.tag, "description": blp.description} if t["name"] == blp.name else t
            for t in self.spec._tags
        ]

    def _register_error_handlers(self) -> None:
        """Errors are dispatched by the app (API problems or web pages), not here."""


def init_api(app: Flask) -> RegistryApi:
    app.config.setdefault("API_TITLE", "AI governance evidence registry")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    api = RegistryApi(
        app,
        spec_kwargs={
            "info": {"description": API_DESCRIPTION},
            "security": [{"bearerAuth": []}],
        },
    )
    # Amounts are exact decimal text (a JSON number is accepted too).
    api.register_field(Money, "string", "decimal")
    for kind in KINDS.values():  # entry bodies refer to each kind's schema by name
        api.spec.components.schema(kind_component(kind.name), schema=kind.schema)
    api.spec.components.security_scheme(
        "bearerAuth",
        {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token, reg_… (only its hash is stored).",
        },
    )

    from registry.api import (
        docs,
        documents,
        entries,
        exports,
        frameworks,
        jobs,
        ledger,
        me,
        notifications,
        readiness,
        systems,
    )
    from registry.extensions import csrf

    for module in (
        systems,
        readiness,
        entries,
        ledger,
        exports,
        jobs,
        me,
        documents,
        frameworks,
        notifications,
    ):
        csrf.exempt(module.bp)
        api.register_blueprint(module.bp)
    app.register_blueprint(docs.bp)
    app.extensions["registry.api"] = api
    return api
