"""A signed-in user's own account: their API tokens (created with a name, scopes and an
expiry, the secret shown once; listed with the day of last use; revoked after a
confirmation) and their second factor.

Every change goes through :mod:`registry.accounts.service`; the view commits once after
a success. A new secret is rendered in the answer to the POST that made it, with
``Cache-Control: no-store``: never stored, redirected to or flashed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import segno
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
from flask import session as flask_session
from flask_login import current_user
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from registry.accounts import second_factor
from registry.accounts import service as accounts
from registry.accounts.models import TOKEN_SCOPES, ApiToken
from registry.db import utcnow
from registry.errors import Conflict, InvalidInput
from registry.extensions import clock, db_session
from registry.surfaces import is_api_request
from registry.web.auth import METHOD_KEY
from registry.web.systems import current_actor

bp = Blueprint("account", __name__, url_prefix="/account")


def new_token_form() -> dict[str, Any]:
    """A new token form's values: every scope, the installation's default lifetime."""
    return {
        "name": "",
        "scopes": list(TOKEN_SCOPES),
        "days": str(current_app.config["TOKEN_DEFAULT_DAYS"]),
    }


@bp.before_request
def _signed_in_only() -> Any:
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
    return None


def _day(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value is not None else ""


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else ""


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _tokens_page(
    *,
    status: int = 200,
    message: str = "",
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    new_token: ApiToken | None = None,
    secret: str | None = None,
) -> Response:
    tokens = accounts.tokens_of(db_session(), current_user.id)
    now = utcnow()
    response = make_response(
        render_template(
            "account/tokens.html",
            tokens=tokens,
            live={t.id for t in tokens if accounts.is_live(t, now)},
            expired={t.id for t in tokens if t.expires_at <= now},
            scopes=TOKEN_SCOPES,
            values=values or new_token_form(),
            errors=errors or {},
            message=message,
            new_token=new_token,
            secret=secret,
            max_days=accounts.MAX_TOKEN_DAYS,
            day=_day,
            when=_when,
        ),
        status,
    )
    return _no_store(response) if secret is not None else response


@bp.route("/tokens", methods=["GET"])
def tokens() -> Response:
    return _tokens_page()


def token_form() -> dict[str, Any]:
    """The posted new-token form's values (name, scopes, days), to create the token from
    and to show again with its errors. One's own token page and the admin's user page
    both post this form."""
    form = request.form
    return {
        "name": form.get("name", "")[:200],
        "scopes": form.getlist("scopes"),
        "days": form.get("days", "").strip()[:10],
    }


def create_token_from(session: Any, user: Any, values: dict[str, Any]) -> tuple[ApiToken, str]:
    """A token for ``user`` as the form's ``values`` ask, and its secret (InvalidInput or
    Conflict when they cannot be: the caller rolls back and shows them again)."""
    if not values["days"].isascii() or not values["days"].isdigit():
        raise InvalidInput(
            "The token request is not valid.",
            {"days": [f"A whole number of days, 1 to {accounts.MAX_TOKEN_DAYS}."]},
        )
    return accounts.create_token(
        session,
        current_actor(),
        user,
        name=values["name"].strip(),
        scopes=tuple(values["scopes"]),
        days=int(values["days"]),
    )


@bp.route("/tokens", methods=["POST"])
def create_token() -> Response:
    session = db_session()
    values = token_form()
    try:
        token, secret = create_token_from(session, current_user, values)
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        errors = exc.field_errors if isinstance(exc, InvalidInput) else {}
        return _tokens_page(status=exc.status, message=exc.message, values=values, errors=errors)
    session.commit()
    return _tokens_page(new_token=token, secret=secret)


def _own_token(token_id: int) -> ApiToken:
    """One of the signed-in user's tokens; 404 for anyone else's (an administrator
    revokes those on the admin pages)."""
    token = accounts.token_by_id(db_session(), token_id)
    if token is None or token.user_id != current_user.id:
        raise NotFound()
    return token


@bp.route("/tokens/<id:token_id>/revoke", methods=["GET"])
def confirm_revoke(token_id: int) -> str:
    return render_template("account/revoke.html", token=_own_token(token_id), when=_when)


@bp.route("/tokens/<id:token_id>/revoke", methods=["POST"])
def revoke_token(token_id: int) -> Response:
    token = _own_token(token_id)
    if request.form.get("confirm") != "yes":  # only the confirmation page's form revokes
        return redirect(url_for("account.confirm_revoke", token_id=token.id))
    session = db_session()
    accounts.revoke_token(session, current_actor(), str(token.id))
    session.commit()
    flash(f"Token {token.name or token.prefix} ({token.prefix}…) revoked.", "success")
    return redirect(url_for("account.tokens"))


# ----------------------------------------------------------------- the second factor


def _second_factor_page(
    *,
    status: int = 200,
    uri: str | None = None,
    errors: dict[str, list[str]] | None = None,
    message: str = "",
    codes: list[str] | None = None,
) -> Response:
    user = current_user
    response = make_response(
        render_template(
            "account/second_factor.html",
            enrolled=user.has_second_factor,
            pending=uri is not None,
            uri=uri,
            secret=user.totp_secret if uri is not None else None,
            qr=segno.make(uri, error="m").svg_data_uri(scale=4) if uri is not None else None,
            codes=codes,
            left=second_factor.recovery_codes_left(db_session(), user),
            mandatory=second_factor.must_enrol(user, current_app.config["SECOND_FACTOR_MANDATORY"]),
            errors=errors or {},
            message=message,
            when=_when,
        ),
        status,
    )
    return _no_store(response) if uri is not None or codes else response


@bp.route("/second-factor", methods=["GET"])
def second_factor_status() -> Response:
    return _second_factor_page()


@bp.route("/second-factor/begin", methods=["POST"])
def begin_second_factor() -> Response:
    """A new pending secret, shown as a QR code and as its otpauth URI."""
    session = db_session()
    try:
        second_factor.begin_enrolment(session, current_user)
    except Conflict as exc:
        session.rollback()
        return _second_factor_page(status=exc.status, message=exc.message)
    session.commit()
    issuer = current_app.config["SECOND_FACTOR_ISSUER"]
    return _second_factor_page(uri=second_factor.provisioning_uri(current_user, issuer))


@bp.route("/second-factor/confirm", methods=["POST"])
def confirm_second_factor() -> Response:
    session = db_session()
    try:
        codes = second_factor.confirm_enrolment(
            session, current_user, request.form.get("code", "")[:100], clock()
        )
    except InvalidInput as exc:
        session.rollback()
        issuer = current_app.config["SECOND_FACTOR_ISSUER"]
        return _second_factor_page(
            status=exc.status,
            uri=second_factor.provisioning_uri(current_user, issuer),
            errors=exc.field_errors,
            message=exc.message,
        )
    except Conflict as exc:
        session.rollback()
        return _second_factor_page(status=exc.status, message=exc.message)
    session.commit()
    return _second_factor_page(codes=codes)


@bp.route("/second-factor/remove", methods=["POST"])
def remove_second_factor() -> Response:
    """Remove one's own second factor, proving it once more with a code."""
    session = db_session()
    user = current_user
    if not user.has_second_factor:
        return redirect(url_for("account.second_factor_status"))
    if second_factor.check_code(session, user, request.form.get("code", "")[:100], clock()) is None:
        session.rollback()
        return _second_factor_page(
            status=422,
            errors={"remove_code": ["Not a valid code."]},
            message="The second factor was not removed.",
        )
    second_factor.remove_second_factor(session, current_actor(), user)
    session.commit()
    flash("Your second factor is removed.", "success")
    return redirect(url_for("account.second_factor_status"))


# While a mandatory second factor is missing, only these pages open.
ENROLMENT_ENDPOINTS = frozenset(
    {
        "account.second_factor_status",
        "account.begin_second_factor",
        "account.confirm_second_factor",
        "auth.logout",
        "static",
    }
)


@bp.before_app_request
def _enrol_first() -> Any:
    """A user who must set up a second factor (REGISTRY_SECOND_FACTOR_MANDATORY, signed
    in with a password) is sent to do so before any other page opens."""
    if (
        request.endpoint in ENROLMENT_ENDPOINTS
        or is_api_request()
        or not current_user.is_authenticated
        or flask_session.get(METHOD_KEY, "password") == "oidc"
        or not second_factor.must_enrol(current_user, current_app.config["SECOND_FACTOR_MANDATORY"])
    ):
        return None
    flash("Set up a second factor to continue: it is required for your role.", "error")
    return redirect(url_for("account.second_factor_status"))
