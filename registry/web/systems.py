"""The systems list and a system's page (read-only here; editing is the web UI's work)."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user, login_required

from registry.accounts.actor import Actor
from registry.accounts.permissions import can, require
from registry.extensions import db_session
from registry.records import service
from registry.records.kinds import KINDS

bp = Blueprint("systems", __name__)
PAGE_SIZE = 50


def current_actor() -> Actor:
    return Actor.for_user(current_user)


@bp.route("/")
@login_required
def index() -> str:
    session = db_session()
    require(session, current_actor(), "read")
    query = request.args.get("q", "").strip()[:200]
    stage = request.args.get("stage", "")
    rows = service.register(session)
    if query:
        needle = query.casefold()
        rows = [
            r
            for r in rows
            if needle in r.profile.get("name", "").casefold()
            or needle in r.system.reference.casefold()
            or needle in r.profile.get("organisation", "").casefold()
        ]
    if stage:
        rows = [r for r in rows if r.profile.get("stage") == stage]
    rows.sort(key=lambda r: (r.profile.get("name", "").casefold(), r.system.reference))
    page = max(1, request.args.get("page", 1, type=int) or 1)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(page, pages)
    shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return render_template(
        "systems/index.html",
        rows=shown,
        total=len(rows),
        page=page,
        pages=pages,
        q=query,
        stage=stage,
        can_create=can(session, current_actor(), "create_system"),
    )


@bp.route("/systems/<reference>")
@login_required
def show(reference: str) -> str:
    session = db_session()
    require(session, current_actor(), "read")
    system = service.get_system(session, reference)
    state = service.system_state(session, system)
    can_write = can(session, current_actor(), "write", system)
    return render_template("systems/show.html", state=state, kinds=KINDS, can_write=can_write)
