"""The HTML surface: thin views that parse, check permission, call a service, render."""

from __future__ import annotations

from flask import Flask, Response, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from registry.errors import RegistryError
from registry.outage import DatabaseUnavailable
from registry.records import display
from registry.transport import secure_cookies


def init_web(app: Flask) -> None:
    from registry.web.account import bp as account_bp
    from registry.web.admin import bp as admin_bp
    from registry.web.audit import bp as audit_bp
    from registry.web.auth import bp as auth_bp
    from registry.web.dashboard import bp as dashboard_bp
    from registry.web.documents import bp as documents_bp
    from registry.web.documents import discard_uploads, stream_uploads
    from registry.web.editing import bp as editing_bp
    from registry.web.exports import bp as exports_bp
    from registry.web.frameworks import bp as frameworks_bp
    from registry.web.history import bp as history_bp
    from registry.web.home import bp as home_bp
    from registry.web.home import navigation
    from registry.web.ledger import bp as ledger_bp
    from registry.web.notifications import bp as notifications_bp
    from registry.web.oidc import init_oidc
    from registry.web.readiness import bp as readiness_bp
    from registry.web.sheets import bp as sheets_bp
    from registry.web.systems import bp as systems_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(dashboard_bp)
    app.register_blueprint(systems_bp)
    app.register_blueprint(ledger_bp)
    app.register_blueprint(history_bp)
    app.register_blueprint(editing_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(account_bp)
    init_oidc(app)
    app.register_blueprint(exports_bp)
    app.register_blueprint(readiness_bp)
    app.register_blueprint(frameworks_bp)
    app.register_blueprint(sheets_bp)
    app.register_blueprint(documents_bp)
    app.register_blueprint(notifications_bp)
    # Uploaded files are streamed into the blob store before anything else reads the
    # body (the CSRF check, registered earlier, reads the form's fields).
    app.before_request_funcs.setdefault(None, []).insert(0, stream_uploads)
    app.teardown_request(discard_uploads)
    # Every page shows records through the one formatter evidence.pdf uses too.
    app.jinja_env.globals["display"] = display
    app.context_processor(lambda: {"navigation": navigation})

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
        if app.config["HSTS_SECONDS"] > 0 and secure_cookies(app, request):
            response.headers.setdefault(
                "Strict-Transport-Security", f"max-age={app.config['HSTS_SECONDS']}"
            )
        return response


def error_page(exc: HTTPException | RegistryError) -> Response | HTTPException:
    """The web's answer to an error: a page for ours, 404 and 500; Werkzeug's own
    answer for other HTTP errors (e.g. a refused CSRF token). When the database is
    unavailable, a page that asks nothing of it, with Retry-After."""
    if isinstance(exc, DatabaseUnavailable):
        # Rendered without the context processors: flask-login's would load the user.
        page = current_app.jinja_env.get_template("errors/unavailable.html").render(
            title="Temporarily unavailable", message=exc.message
        )
        headers = {"Retry-After": str(exc.details["retry_after"])}
        return Response(page, exc.status, headers=headers)
    if isinstance(exc, RegistryError):
        title, message, status = exc.title, exc.message, exc.status
    elif exc.code == 404:
        title, message, status = "Not found", "There is no page at this address.", 404
    elif exc.code is not None and exc.code >= 500:
        title, status = "Something went wrong", exc.code
        message = "The registry could not complete this request. Nothing was changed."
    else:
        return exc
    return Response(render_template("errors/error.html", title=title, message=message), status)
