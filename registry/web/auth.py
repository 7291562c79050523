"""Signing in and out (flask-login sessions, CSRF-protected form), and changing one's
own password.

Failed sign-ins are throttled (Flask-Limiter) per e-mail address tried and per client
address: ``LOGIN_LIMIT_PER_EMAIL`` and ``LOGIN_LIMIT_PER_IP``. Only failures count
(answers 401); a throttled attempt gets a 429 with ``Retry-After`` before any password
is checked, and does not count either. A wrong current password on the password form
counts against the same two budgets (the signed-in user's e-mail, the client address).

A sign-in session holds the user's session generation as it was at sign-in; each
request loads the user only while that is still their generation
(:func:`registry.accounts.service.session_user`). Signing out moves it on, and so do
deactivation, reactivation, a role change and a password change: every session of
that user ends at once, including copies of its cookie.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from email.message import EmailMessage
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
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
from registry.accounts.passwords import MAX_PASSWORD, MIN_PASSWORD
from registry.accounts.second_factor import check_code
from registry.accounts.service import (
    ResetRefused,
    WrongPassword,
    authenticate,
    change_password,
    record_failed_sign_in,
    record_sign_in,
    request_password_reset,
    reset_password,
    session_user,
    sign_out,
    usable_reset,
)
from registry.errors import InvalidInput
from registry.extensions import client_address, clock, db_session, limiter, login_manager
from registry.notifications import mail
from registry.web.home import landing

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

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


def _email_key(email: str | None = None) -> str:
    """The e-mail address tried (by default the sign-in form's), as the limiter's key
    (hashed: no addresses in the limiter's storage)."""
    email = _form_email() if email is None else email
    return "email:" + hashlib.sha256(email.lower().encode()).hexdigest()


def _own_email_key() -> str:
    """The signed-in user's e-mail as the limiter's key: a wrong current password on the
    password form counts against the same budget as failed sign-ins with that e-mail."""
    return _email_key(getattr(current_user, "email", ""))


def _signed_out() -> bool:
    return not current_user.is_authenticated


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


def _too_many_password_attempts(limit: RequestLimit) -> Response:
    """The password form again, with a 429 and when to try again (no password checked)."""
    wait = max(1, math.ceil(limit.window.reset_time - time.time()))
    response = make_response(
        _password_page(
            message=f"Too many wrong passwords. Please try again in {_wait_phrase(wait)}."
        ),
        429,
    )
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
def login() -> str | Response | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(landing())
    email = ""
    if request.method == "POST":
        email = _form_email()
        # One character more than any password has: a longer one matches no one's.
        password = request.form.get("password", "")[: MAX_PASSWORD + 1]
        db = db_session()
        user = authenticate(db, email, password) if email and password else None
        if user is None:
            if email and password:
                record_failed_sign_in(db, email, "password")
                db.commit()
            flash("Wrong e-mail or password.", "error")
            return render_template("auth/login.html", email=email), 401
        target = _safe_next(request.args.get("next"))
        if user.has_second_factor:
            session[PENDING_KEY] = {
                "user": user.id,
                "generation": user.session_generation,
                "since": clock().timestamp(),
                "next": target,
            }
            return redirect(url_for("auth.second_factor"))
        return _signed_in(user, "password", target)
    return render_template("auth/login.html", email=email)


def _signed_in(user: User, method: str, target: str | None) -> Response:
    """Begin ``user``'s session (signed in by ``method``), record it, go on."""
    db = db_session()
    record_sign_in(db, user, method)
    db.commit()
    login_user(user)
    keep_session(user)
    session[METHOD_KEY] = method
    return redirect(target or landing())


# Where a sign-in waiting for its second factor keeps the user (and for how long).
PENDING_KEY = "pending_second_factor"
PENDING_SECONDS = 300
# How the session's user signed in (a mandatory second factor applies to passwords).
METHOD_KEY = "sign_in_method"
# A session signed in through an OpenID Provider: which, and its ID token (web/oidc.py);
# once signed out, kept for the page that offers the provider's end-session endpoint.
OIDC_KEY = "oidc"
SIGNED_OUT_KEY = "oidc_signed_out"


def _pending_user() -> User | None:
    """The user whose password was right and whose second factor is awaited, while that
    is recent and their sessions have not been ended since."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    since = pending.get("since")
    if not isinstance(since, int | float) or clock().timestamp() - since > PENDING_SECONDS:
        return None
    user = session_user(db_session(), str(pending.get("user", "")), pending.get("generation"))
    return user if user is not None and user.has_second_factor else None


def _pending_email_key() -> str:
    """The e-mail of the sign-in awaiting its second factor, as the limiter's key: wrong
    codes count against the same budget as wrong passwords for that e-mail."""
    pending = session.get(PENDING_KEY)
    user = _pending_user() if isinstance(pending, dict) else None
    return _email_key(user.email if user is not None else "")


@bp.route("/login/second-factor", methods=["GET", "POST"])
def second_factor() -> str | Response | tuple[str, int]:
    """The second step of signing in: a code from the authenticator, or a recovery code."""
    if current_user.is_authenticated:
        return redirect(landing())
    user = _pending_user()
    if user is None:
        session.pop(PENDING_KEY, None)
        flash("Sign in again: the sign-in was not completed in time.", "error")
        return redirect(url_for("auth.login"))
    if request.method == "GET":
        return render_template("auth/second_factor.html")
    db = db_session()
    method = check_code(db, user, request.form.get("code", "")[:100], clock())
    if method is None:
        db.rollback()
        record_failed_sign_in(db, user.email, "second_factor")
        db.commit()
        flash("That code is not valid.", "error")
        return render_template("auth/second_factor.html"), 401
    target = session.pop(PENDING_KEY).get("next")
    return _signed_in(user, f"password+{method}", _safe_next(target))


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    db = db_session()
    sign_out(db, current_user)
    db.commit()
    logout_user()
    session.pop(GENERATION_KEY, None)
    session.pop(METHOD_KEY, None)
    through = session.pop(OIDC_KEY, None)
    if through is not None:  # offer to end the provider's session too
        session[SIGNED_OUT_KEY] = through
        return redirect(url_for("oidc.signed_out"))
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


def _password_page(errors: dict[str, list[str]] | None = None, message: str = "") -> str:
    return render_template(
        "auth/password.html", errors=errors or {}, message=message, min_password=MIN_PASSWORD
    )


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password() -> str | tuple[str, int] | Response:
    """A user changes their own password. Every other session of theirs ends; this one
    goes on under the new session generation."""
    if request.method == "GET":
        return _password_page()
    form = request.form
    current = form.get("current_password", "")[: MAX_PASSWORD + 1]
    new, again = form.get("new_password", ""), form.get("new_password_again", "")
    errors: dict[str, list[str]] = {}
    if not current:
        errors["current_password"] = ["Enter your current password."]
    if new != again:
        errors["new_password_again"] = ["Does not match the new password."]
    if errors:
        return _password_page(errors, "The form has errors."), 422
    db = db_session()
    try:
        user = change_password(db, current_user, current, new)
    except (InvalidInput, WrongPassword) as exc:
        db.rollback()
        return _password_page(exc.details.get("errors", {}), exc.message), exc.status
    db.commit()
    keep_session(user)
    flash("Your password is changed. Your other sessions have ended.", "success")
    return redirect(landing())


def _reset_page(
    secret: str, errors: dict[str, list[str]] | None = None, message: str = "", gone: str = ""
) -> str:
    return render_template(
        "auth/reset.html",
        secret=secret,
        errors=errors or {},
        message=message,
        gone=gone,
        min_password=MIN_PASSWORD,
    )


def _no_referrer(body: str, status: int = 200) -> Response:
    """A page whose URL holds a secret: never sent on as a Referer, never cached."""
    response = make_response(body, status)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/account/reset/<secret>", methods=["GET", "POST"])
def reset(secret: str) -> Response:
    """Set a new password through a single-use, expiring reset link (issued by an
    administrator). Works signed in or out; every session of the user ends and they
    sign in with the new password."""
    db = db_session()
    if request.method == "GET":
        try:
            usable_reset(db, secret)
        except ResetRefused as exc:
            return _no_referrer(_reset_page(secret, gone=exc.message), exc.status)
        return _no_referrer(_reset_page(secret))
    new, again = request.form.get("new_password", ""), request.form.get("new_password_again", "")
    if new != again:
        errors = {"new_password_again": ["Does not match the new password."]}
        return _no_referrer(_reset_page(secret, errors, "The form has errors."), 422)
    try:
        reset_password(db, secret, new[: MAX_PASSWORD + 1])
    except ResetRefused as exc:
        db.rollback()
        return _no_referrer(_reset_page(secret, gone=exc.message), exc.status)
    except InvalidInput as exc:
        db.rollback()
        return _no_referrer(_reset_page(secret, exc.field_errors, exc.message), exc.status)
    db.commit()
    if current_user.is_authenticated:
        logout_user()
        session.pop(GENERATION_KEY, None)
    flash("Your password is set. Sign in with it.", "success")
    return redirect(url_for("auth.login"))


def _forgot_page(status: int = 200, **values: object) -> Response:
    page = render_template(
        "auth/forgot.html",
        mail=bool(current_app.config["SMTP_HOST"]),
        hours=current_app.config["PASSWORD_RESET_HOURS"],
        **{"email": "", "sent": False, "error": "", "message": "", **values},
    )
    return make_response(page, status)


@bp.route("/login/forgot", methods=["GET", "POST"])
def forgot() -> Response:
    """A user who forgot their password asks for a reset link by e-mail. The answer is
    the same whether or not the e-mail names an account that gets one (see
    :func:`registry.accounts.service.request_password_reset`); the mail is sent once the
    answer is (after the commit), so that its time does not tell either. Without an
    SMTP server the page says to ask an administrator and nothing is issued."""
    if current_user.is_authenticated:
        return redirect(landing())
    if request.method == "GET" or not current_app.config["SMTP_HOST"]:
        return _forgot_page()
    email = _form_email()
    if "@" not in email:
        return _forgot_page(
            422, email=email, error="Enter an e-mail address.", message="The form has errors."
        )
    config = current_app.config
    hours = config["PASSWORD_RESET_HOURS"]
    db = db_session()
    issued = request_password_reset(db, email, hours=hours)
    response = _forgot_page(email=email, sent=True)
    response.headers["Cache-Control"] = "no-store"
    if issued is None:
        return response
    user, reset, secret = issued
    path = url_for("auth.reset", secret=secret).removeprefix(request.script_root)
    settings = mail.SmtpSettings.of(config)
    message = mail.compose_password_reset(
        settings.sender, user.email, config["BASE_URL"].rstrip("/") + path, reset.expires_at, hours
    )
    reset_id = reset.id
    db.commit()
    response.call_on_close(lambda: _send_reset(settings, message, reset_id))
    return response


def _send_reset(settings: mail.SmtpSettings, message: EmailMessage, reset_id: int) -> None:
    """Send a reset link's e-mail once its answer is sent; a failure is logged (the
    user asks again, or asks an administrator)."""
    try:
        mail.send(settings, message)
    except Exception:
        log.exception("The e-mail of password reset %s could not be sent", reset_id)


def _too_many_reset_requests(limit: RequestLimit) -> Response:
    """The form again, with a 429 and when to try again (nothing issued or sent)."""
    wait = max(1, math.ceil(limit.window.reset_time - time.time()))
    response = _forgot_page(
        429,
        email=_form_email(),
        message=f"Too many requests. Please try again in {_wait_phrase(wait)}.",
    )
    response.headers["Retry-After"] = str(wait)
    return response


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
    # Shared limits: their counters are named by scope and key alone, not by the view,
    # so the password form below counts against the same budgets.
    per_email = app_limiter.shared_limit(
        app.config["LOGIN_LIMIT_PER_EMAIL"],
        key_func=_email_key,
        exempt_when=_no_email,  # nothing to check a password against: the IP limit still counts
        scope="email",
        **shared,
    )
    per_ip = app_limiter.shared_limit(
        app.config["LOGIN_LIMIT_PER_IP"], key_func=client_address, scope="ip", **shared
    )
    endpoint = f"{bp.name}.{login.__name__}"
    app.view_functions[endpoint] = per_ip(per_email(app.view_functions[endpoint]))
    # Guessing the current password on the password form counts as failed sign-ins do,
    # against the same budgets (same scopes and keys, so the same counters).
    guesses = {**shared, "on_breach": _too_many_password_attempts, "exempt_when": _signed_out}
    own_email = app_limiter.shared_limit(
        app.config["LOGIN_LIMIT_PER_EMAIL"], key_func=_own_email_key, scope="email", **guesses
    )
    own_ip = app_limiter.shared_limit(
        app.config["LOGIN_LIMIT_PER_IP"], key_func=client_address, scope="ip", **guesses
    )
    endpoint = f"{bp.name}.{password.__name__}"
    app.view_functions[endpoint] = own_ip(own_email(app.view_functions[endpoint]))
    # Wrong second-factor codes too: the pending sign-in's e-mail and the client address.
    codes = {**shared, "on_breach": _too_many_attempts}
    code_email = app_limiter.shared_limit(
        app.config["LOGIN_LIMIT_PER_EMAIL"], key_func=_pending_email_key, scope="email", **codes
    )
    code_ip = app_limiter.shared_limit(
        app.config["LOGIN_LIMIT_PER_IP"], key_func=client_address, scope="ip", **codes
    )
    endpoint = f"{bp.name}.{second_factor.__name__}"
    app.view_functions[endpoint] = code_ip(code_email(app.view_functions[endpoint]))
    # Asking for reset links: every request counts (each may send an e-mail), per e-mail
    # address and per client address, in budgets of their own with the same limits.
    asks = {"methods": ["POST"], "on_breach": _too_many_reset_requests}
    ask_email = app_limiter.shared_limit(
        app.config["LOGIN_LIMIT_PER_EMAIL"],
        key_func=_email_key,
        exempt_when=_no_email,
        scope="reset-email",
        **asks,
    )
    ask_ip = app_limiter.shared_limit(
        app.config["LOGIN_LIMIT_PER_IP"], key_func=client_address, scope="reset-ip", **asks
    )
    endpoint = f"{bp.name}.{forgot.__name__}"
    app.view_functions[endpoint] = ask_ip(ask_email(app.view_functions[endpoint]))
