"""The HTML surface: thin views that parse, check permission, call a service, render."""

from __future__ import annotations

from flask import Flask, Response, render_template

from registry.errors import RegistryError


def init_web(app: Flask) -> None:
    from registry.web.auth import bp as auth_bp
    from registry.web.ledger import bp as ledger_bp
    from registry.web.systems import bp as systems_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(systems_bp)
    app.register_blueprint(ledger_bp)

    @app.errorhandler(RegistryError)
    def _registry_error(exc: RegistryError) -> tuple[str, int]:
        return render_template(
            "errors/error.html", title=exc.title, message=exc.message
        ), exc.status

    @app.errorhandler(404)
    def _not_found(_exc: Exception) -> tuple[str, int]:
        return render_template(
            "errors/error.html", title="Not found", message="There is no page at this address."
        ), 404

    @app.errorhandler(500)
    def _server_error(_exc: Exception) -> tuple[str, int]:
        return render_template(
            "errors/error.html",
            title="Something went wrong",
            message="The registry could not complete this request. Nothing was changed.",
        ), 500

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self'; img-src 'self' data:; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response
