"""Signing in and out (flask-login sessions, CSRF-protected form)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from registry.accounts.service import authenticate
from registry.extensions import db_session

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host, no protocol-relative '//'."""
    if not target:
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
        return redirect(url_for("systems.index"))
    email = ""
    if request.method == "POST":
        email = request.form.get("email", "").strip()[:254]
        password = request.form.get("password", "")[:1024]
        user = authenticate(db_session(), email, password) if email and password else None
        if user is None:
            flash("Wrong e-mail or password.", "error")
            return render_template("auth/login.html", email=email), 401
        login_user(user)
        return redirect(_safe_next(request.args.get("next")) or url_for("systems.index"))
    return render_template("auth/login.html", email=email)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))
