"""Administration of users, their roles and their API tokens, for administrators only.

Every change goes through :mod:`registry.accounts.service` (which checks permission,
validates and appends an audit event); the view commits once after a success. A new
token's secret is rendered directly in the answer to the POST that created it (with
``Cache-Control: no-store``): it is never stored, redirected to, or flashed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from werkzeug.wrappers import Response

from registry.accounts import second_factor
from registry.accounts import service as accounts
from registry.accounts.models import ROLES, TOKEN_SCOPES, ApiToken, User
from registry.accounts.passwords import MIN_PASSWORD
from registry.accounts.permissions import require
from registry.db import utcnow
from registry.errors import Conflict, InvalidInput, RegistryError
from registry.extensions import db_session
from registry.web.account import create_token_from, new_token_form, token_form
from registry.web.auth import keep_session
from registry.web.systems import current_actor

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def _admins_only() -> Any:
    """Anonymous: to the sign-in page; signed in without the admin role: 403."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
    require(db_session(), current_actor(), "manage_accounts")
    return None


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else ""


def _user_or_404(user_id: int) -> User:
    return accounts.user_by_id(db_session(), user_id)


def _errors_of(exc: RegistryError) -> dict[str, list[str]]:
    if isinstance(exc, InvalidInput):
        return exc.field_errors
    return exc.details.get("errors") or {}


@bp.route("/users")
def users() -> str:
    session = db_session()
    rows = accounts.users_by_email(session)
    live = accounts.live_token_counts(session, utcnow())
    return render_template("admin/users.html", users=rows, live=live)


def _render_new(
    values: dict[str, Any], errors: dict[str, list[str]], message: str = "", status: int = 200
) -> tuple[str, int]:
    return (
        render_template(
            "admin/new_user.html",
            roles=ROLES,
            values=values,
            errors=errors,
            message=message,
            min_password=MIN_PASSWORD,
        ),
        status,
    )


@bp.route("/users/new", methods=["GET", "POST"])
def new_user() -> Any:
    if request.method == "GET":
        return _render_new({"email": "", "name": "", "roles": []}, {})
    form = request.form
    # Never echo the password back.
    values = {
        "email": form.get("email", "").strip()[:254],
        "name": form.get("name", "")[:200],
        "roles": form.getlist("roles"),
    }
    session = db_session()
    try:
        user, _ = accounts.create_user(
            session,
            current_actor(),
            values["email"],
            values["roles"],
            form.get("password", ""),
            name=values["name"],
        )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _render_new(values, _errors_of(exc), exc.message, exc.status)
    session.commit()
    flash(f"User {user.email} created.", "success")
    return redirect(url_for("admin.user", user_id=user.id))


def _render_user(
    user: User,
    *,
    status: int = 200,
    message: str = "",
    role_errors: dict[str, list[str]] | None = None,
    token_values: dict[str, Any] | None = None,
    token_errors: dict[str, list[str]] | None = None,
    new_token: ApiToken | None = None,
    secret: str | None = None,
    reset_link: str | None = None,
    reset_expires: dt.datetime | None = None,
) -> Response:
    tokens = accounts.tokens_of(db_session(), user.id)
    now = utcnow()
    response = make_response(
        render_template(
            "admin/user.html",
            user=user,
            roles=ROLES,
            scopes=TOKEN_SCOPES,
            tokens=tokens,
            live={t.id for t in tokens if accounts.is_live(t, now)},
            expired={t.id for t in tokens if t.expires_at <= now},
            when=_when,
            is_self=user.id == current_user.id,
            message=message,
            role_errors=role_errors or {},
            token_values=token_values or new_token_form(),
            token_errors=token_errors or {},
            new_token=new_token,
            secret=secret,
            max_days=accounts.MAX_TOKEN_DAYS,
            reset_link=reset_link,
            reset_expires=reset_expires,
            reset_hours=current_app.config["PASSWORD_RESET_HOURS"],
        ),
        status,
    )
    if secret is not None or reset_link is not None:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response


@bp.route("/users/<id:user_id>")
def user(user_id: int) -> Response:
    return _render_user(_user_or_404(user_id))


@bp.route("/users/<id:user_id>/roles", methods=["POST"])
def set_roles(user_id: int) -> Response:
    session = db_session()
    user = _user_or_404(user_id)
    try:
        accounts.set_roles(session, current_actor(), user, request.form.getlist("roles"))
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _render_user(
            _user_or_404(user_id),
            status=exc.status,
            message=exc.message,
            role_errors=_errors_of(exc),
        )
    session.commit()
    if user.id == current_user.id:
        keep_session(user)  # the change ends the admin's other sessions, not this one
    flash(f"Roles of {user.email} saved: {', '.join(sorted(user.roles))}.", "success")
    return redirect(url_for("admin.user", user_id=user.id))


@bp.route("/users/<id:user_id>/active", methods=["POST"])
def set_active(user_id: int) -> Response:
    session = db_session()
    user = _user_or_404(user_id)
    active = request.form.get("active", "")
    if active not in ("0", "1"):
        return _render_user(user, status=422, message="Choose to activate or to deactivate.")
    try:
        accounts.set_active(session, current_actor(), user, active == "1")
    except Conflict as exc:
        session.rollback()
        return _render_user(_user_or_404(user_id), status=exc.status, message=exc.message)
    session.commit()
    flash(f"{user.email} is now {'active' if user.is_active else 'deactivated'}.", "success")
    return redirect(url_for("admin.user", user_id=user.id))


@bp.route("/users/<id:user_id>/tokens", methods=["POST"])
def create_token(user_id: int) -> Response:
    session = db_session()
    user = _user_or_404(user_id)
    values = token_form()
    try:
        token, secret = create_token_from(session, user, values)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _render_user(
            _user_or_404(user_id),
            status=exc.status,
            message=exc.message,
            token_values=values,
            token_errors=_errors_of(exc),
        )
    session.commit()
    return _render_user(user, new_token=token, secret=secret)


@bp.route("/tokens/<id:token_id>/revoke", methods=["POST"])
def revoke_token(token_id: int) -> Response:
    session = db_session()
    token = accounts.revoke_token(session, current_actor(), str(token_id))
    session.commit()
    flash(f"Token {token.prefix}… revoked.", "success")
    return redirect(url_for("admin.user", user_id=token.user_id))


@bp.route("/users/<id:user_id>/reset", methods=["POST"])
def issue_reset(user_id: int) -> Response:
    """Issue a single-use password reset link, shown once in the answer (never stored,
    redirected to or flashed)."""
    session = db_session()
    user = _user_or_404(user_id)
    try:
        reset, secret = accounts.issue_password_reset(
            session, current_actor(), user, hours=current_app.config["PASSWORD_RESET_HOURS"]
        )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _render_user(_user_or_404(user_id), status=exc.status, message=exc.message)
    session.commit()
    link = url_for("auth.reset", secret=secret, _external=True)
    return _render_user(user, reset_link=link, reset_expires=reset.expires_at)


@bp.route("/users/<id:user_id>/second-factor/remove", methods=["POST"])
def remove_second_factor(user_id: int) -> Response:
    """Remove a user's second factor (a lost authenticator): they sign in with their
    password alone, or must set one up again where it is mandatory."""
    session = db_session()
    user = _user_or_404(user_id)
    second_factor.remove_second_factor(session, current_actor(), user)
    session.commit()
    flash(f"The second factor of {user.email} is removed.", "success")
    return redirect(url_for("admin.user", user_id=user.id))
