"""Where each role's work is: the landing page after sign-in and at ``/``, and a
person's own systems ("My systems")."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from registry.accounts.permissions import can, require
from registry.extensions import db_session
from registry.readiness.overview import owned_systems
from registry.web.paging import Paging
from registry.web.systems import current_actor

bp = Blueprint("home", __name__)
PER_PAGE = 50  # the systems on a page of "My systems"

# The first role a user holds in this order decides where they land.
LANDINGS = (
    ("compliance_officer", "dashboard.index"),
    ("technical_owner", "home.my_systems"),
    ("auditor", "systems.index"),
    ("admin", "admin.users"),
)


def landing() -> str:
    """The page where the signed-in user's work is (the systems list for a user
    without a known role, which answers 403 if they may not read)."""
    roles = current_user.roles
    endpoint = next((page for role, page in LANDINGS if role in roles), "systems.index")
    return url_for(endpoint)


@bp.route("/")
@login_required
def index() -> Response:
    if request.args:
        # The systems list used to live here: its filtered addresses keep working (its
        # query string as it came: never as url_for's own options).
        return redirect(url_for("systems.index") + "?" + request.query_string.decode("latin-1"))
    return redirect(landing())


def page_asked() -> int:
    """The page number asked for (1 when none, 0 or not a page number, as the systems
    list reads it)."""
    raw = request.args.get("page", "")
    return max(1, int(raw)) if raw.isascii() and raw.isdigit() and 0 < len(raw) < 10 else 1


@bp.route("/my-systems")
@login_required
def my_systems() -> str:
    session = db_session()
    actor = current_actor()
    require(session, actor, "read")
    now = dt.datetime.now(dt.UTC)
    owned = owned_systems(session, actor, now, page=page_asked(), per_page=PER_PAGE)
    return render_template(
        "home/my_systems.html",
        systems=owned.systems,
        owned=owned,
        paging=Paging(owned.page, owned.pages),
        now=now,
        can_export=can(session, actor, "export"),
    )


def navigation() -> list[tuple[str, str]]:
    """The main navigation's links (endpoint, label): only pages the signed-in user may
    open, as the permissions say."""
    if not current_user.is_authenticated:
        return []
    session = db_session()
    actor = current_actor()
    links = []
    if can(session, actor, "read"):
        if "technical_owner" in actor.roles:
            links.append(("home.my_systems", "My systems"))
        links.append(("notifications.tasks", "My tasks"))
        links += [
            ("dashboard.index", "Dashboard"),
            ("systems.index", "Systems"),
            ("audit.index", "Audit trail"),
            ("ledger.status", "Audit ledger"),
            ("exports.index", "Evidence packs"),
            ("frameworks.index", "Frameworks"),
        ]
    if can(session, actor, "read_webhooks"):
        links.append(("notifications.webhooks", "Webhooks"))
    if can(session, actor, "manage_accounts"):
        links.append(("admin.users", "Admin"))
    return links
