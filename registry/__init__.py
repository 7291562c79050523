"""The AI governance evidence registry."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from registry import paths
from registry.config import load_config
from registry.files import write_private

__version__ = "0.1.0"


def _secret_key(instance: Path) -> str:
    """A random key kept in the instance folder (mode 0600), so sessions survive a
    restart; when several workers start at once, the first one's key stands."""
    path = instance / "secret_key"
    if not path.exists():
        write_private(path, secrets.token_hex(32))
    return path.read_text().strip()


def _dispatch_errors(app: Flask) -> None:
    """One error handler per kind of error, answering in the shape of the surface the
    request came to: RFC 9457 problems under /api/, HTML pages elsewhere."""
    import sqlite3

    import psycopg
    import sqlalchemy as sa
    from flask import request
    from werkzeug.exceptions import HTTPException

    from registry.api import problems
    from registry.errors import RegistryError
    from registry.operations import refusal
    from registry.outage import DatabaseUnavailable, unavailable
    from registry.surfaces import is_api_request
    from registry.web import error_page

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        refusal(type(exc).__name__)
        if is_api_request():
            return problems.from_http_exception(exc)
        return error_page(exc)

    @app.errorhandler(RegistryError)
    def _registry_error(exc: RegistryError) -> Any:
        refusal(type(exc).__name__)
        if isinstance(exc, DatabaseUnavailable):
            exc.details.setdefault("retry_after", app.config["DATABASE_RETRY_AFTER"])
        if is_api_request():
            return problems.from_registry_error(exc)
        return error_page(exc)

    # SQLAlchemy's errors, and the drivers' own (raised by db.driver_connection).
    @app.errorhandler(sa.exc.DBAPIError)
    @app.errorhandler(psycopg.Error)
    @app.errorhandler(sqlite3.Error)
    def _database_error(exc: Exception) -> Any:
        error = unavailable(
            exc,
            changing=request.method not in ("GET", "HEAD", "OPTIONS"),
            retry_after=app.config["DATABASE_RETRY_AFTER"],
        )
        if error is None:
            raise exc  # a bug: the app's 500
        cause = str(getattr(exc, "orig", exc)).strip().splitlines() or [type(exc).__name__]
        app.logger.warning(
            "%s %s: database unavailable: %s", request.method, request.path, cause[0]
        )
        return _registry_error(error)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application: settings, database, login, CSRF, blueprints (the
    command line adds its commands to the one it builds: ``cli.command_app``)."""
    settings = load_config(config)
    app = Flask(
        __name__,
        template_folder=str(paths.shipped("templates")),
        static_folder=str(paths.STATIC),
        instance_path=settings["INSTANCE_PATH"],
        instance_relative_config=False,
    )
    app.config.update(settings)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(Path(settings["INSTANCE_PATH"]))
    database_file = app.config["DATABASE_URL"].removeprefix("sqlite:///")
    # (Not for a file: URI, e.g. ?mode=ro: it names the file its own way.)
    if database_file != app.config["DATABASE_URL"] and not database_file.startswith("file:"):
        Path(database_file).parent.mkdir(parents=True, exist_ok=True)

    from registry import extensions, logs

    logs.configure(app)
    extensions.init_app(app)
    from registry.jobs import tasks

    tasks.init_app(app)

    from registry.api import init_api
    from registry.api.auth import ApiAwareSessionInterface
    from registry.web import init_web

    app.session_interface = ApiAwareSessionInterface()
    from registry import operations

    init_web(app)
    init_api(app)
    operations.init_app(app)
    _dispatch_errors(app)
    return app
