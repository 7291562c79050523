"""Signing in and out (flask-login sessions, CSRF-protected form).

Failed sign-ins are throttled (Flask-Limiter) per e-mail address tried and per client
address: ``LOGIN_LIMIT_PER_EMAIL`` and ``LOGIN_LIMIT_PER_IP``. Only failures count
(answers 401); a throttled attempt gets a 429 with ``Retry-After`` before any password
is checked, and does not count either.

A sign-in session holds the user's session generation as it was at sign-in; each
request loads the user only while that is still their generation
(:func:`registry.accounts.service.session_user`). Signing out moves it on, and so do
deactivation, reactivation, a role change and a password change: every session of
that user ends at once, including copies of its cookie.
"""

from __future__ import annotations

import hashlib
import math
import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask_limiter import RequestLimit
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from registry.accounts.models import User
from registry.accounts.service import authenticate, session_user, sign_out
from registry.extensions import client_address, db_session, limiter, login_manager
from registry.web.home import landing

bp = Blueprint("auth", __name__)

# Where a sign-in session keeps the session generation it began under.
GENERATION_KEY = "generation"


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    return session_user(db_session(), user_id, session.get(GENERATION_KEY))


def keep_session(user: User) -> None:
    """Let this request's session go on under ``user``'s current generation: at sign-in,
    and when a signed-in user's own change (e.g. an administrator adding a role to
    themselves) ended their other sessions."""
    session[GENERATION_KEY] = user.session_generation


def _form_email() -> str:
    return request.form.get("email", "").strip()[:254]


def _email_key() -> str:
    """The e-mail address tried, as the limiter's key (hashed: no addresses in the
    limiter's storage)."""
    return "email:" + hashlib.sha256(_form_email().lower().encode()).hexdigest()


def _no_email() -> bool:
    return not _form_email()


def _failed(response: Response) -> bool:
    return response.status_code == 401


def _wait_phrase(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


def _too_many_attempts(limit: RequestLimit) -> Response:
    """The sign-in page again, with a 429 and when to try again (no password checked)."""
    wait = max(1, math.ceil(limit.window.reset_time - time.time()))
    flash(
        f"Too many failed sign-in attempts. Please try again in {_wait_phrase(wait)}.",
        "error",
    )
    # A flask Response: Flask-Limiter embeds only those in its RateLimitExceeded.
    response = make_response(render_template("auth/login.html", email=_form_email()), 429)
    response.headers["Retry-After"] = str(wait)
    return response


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host, no protocol-relative '//', and no
    control character (CR or LF would end the Location header)."""
    if not target or not target.isprintable():
        return None
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    if current_user.is_authenticated:
        return redirect(landing())
    email = ""
    if request.method == "POST":
        email = _form_email()
        password = request.form.get("password", "")[:1024]
        user = authenticate(db_session(), email, password) if email and password else None
        if user is None:
            flash("Wrong e-mail or password.", "error")
            return render_template("auth/login.html", email=email), 401
        login_user(user)
        keep_session(user)
        return redirect(_safe_next(request.args.get("next")) or landing())
    return render_template("auth/login.html", email=email)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    db = db_session()
    sign_out(db, current_user)
    db.commit()
    logout_user()
    session.pop(GENERATION_KEY, None)
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.record_once
def _throttle_login(state: BlueprintSetupState) -> None:
    """Put this app's limits on its sign-in view (each app has its own limiter)."""
    app = state.app
    app_limiter = limiter(app)
    shared = {
        "methods": ["POST"],
        "deduct_when": _failed,
        "on_breach": _too_many_attempts,
    }
    per_email = app_limiter.limit(
        app.config["LOGIN_LIMIT_PER_EMAIL"],
        key_func=_email_key,
        exempt_when=_no_email,  # nothing to check a password against: the IP limit still counts
        scope="email",
        **shared,
    )
    per_ip = app_limiter.limit(
        app.config["LOGIN_LIMIT_PER_IP"], key_func=client_address, scope="ip", **shared
    )
    endpoint = f"{bp.name}.{login.__name__}"
    app.view_functions[endpoint] = per_ip(per_email(app.view_functions[endpoint]))
