"""The AI governance evidence registry."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from registry.config import PROJECT_ROOT, load_config

__version__ = "0.1.0"


def _secret_key(instance: Path) -> str:
    """A random key kept in the instance folder, so sessions survive a restart."""
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the application: settings, database, login, CSRF, blueprints, CLI."""
    settings = load_config(config)
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "registry" / "web" / "static"),
        instance_path=settings["INSTANCE_PATH"],
        instance_relative_config=False,
    )
    app.config.update(settings)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(Path(settings["INSTANCE_PATH"]))
    if app.config["DATABASE_URL"].startswith("sqlite:///"):
        Path(app.config["DATABASE_URL"].removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )

    from registry import extensions

    extensions.init_app(app)

    from registry.web import init_web

    init_web(app)

    from registry.cli import register_commands

    register_commands(app)
    return app
