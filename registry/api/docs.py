"""Interactive API documentation at ``/api/docs``: Swagger UI, served from the installed
``flask-swagger-ui`` package (no CDN), started by a script file so the page keeps the
registry's Content-Security-Policy without inline script."""

from __future__ import annotations

from pathlib import Path

import flask_swagger_ui
from flask import Blueprint, Response, render_template, send_from_directory

SWAGGER_DIST = Path(flask_swagger_ui.__file__).parent / "dist"
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "LICENSE", "favicon-32x32.png"})

bp = Blueprint(
    "api_docs", __name__, url_prefix="/api/docs", static_folder="static", static_url_path="/own"
)


@bp.route("")
def page() -> Response:
    response = Response(render_template("api/docs.html"))
    # Swagger UI sets style attributes from script; nothing else is relaxed.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    return response


@bp.route("/assets/<name>")
def asset(name: str) -> Response:
    if name not in ASSETS:
        from werkzeug.exceptions import NotFound

        raise NotFound()
    return send_from_directory(SWAGGER_DIST, name, max_age=86400)
