"""Importing an inventory spreadsheet (CSV or XLSX) on the web, for compliance officers:
a dry run that lists every error by row and column, then the import."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request
from flask_login import login_required

from registry.accounts.permissions import require
from registry.errors import InvalidInput
from registry.extensions import db_session
from registry.sheets import importing
from registry.web.documents import uploaded
from registry.web.systems import current_actor

bp = Blueprint("sheets", __name__)


@bp.route("/import", methods=["GET"])
@login_required
def form() -> str:
    require(db_session(), current_actor(), "create_system")
    return render_template("sheets/import.html", plan=None, done=None, error=None, mapping="")


@bp.route("/import", methods=["POST"])
@login_required
def submit() -> Any:
    session = db_session()
    actor = current_actor()
    require(session, actor, "create_system")
    mapping_text = request.form.get("mapping", "")[:10_000]
    parts = uploaded("file")
    render = {"plan": None, "done": None, "error": None, "mapping": mapping_text}
    if len(parts) != 1 or not parts[0].filename:
        render["error"] = "Choose one CSV or XLSX file."
        return render_template("sheets/import.html", **render), 422
    part = parts[0]
    part.staged.close()
    try:
        mapping = importing.parse_mapping(
            line for line in mapping_text.splitlines() if line.strip()
        )
        found = importing.plan(session, part.staged.path.read_bytes(), part.filename, mapping)
    except InvalidInput as exc:
        render["error"] = exc.message
        return render_template("sheets/import.html", **render), 422
    render["plan"] = found
    if found.errors or request.form.get("action") != "import":
        session.rollback()
        return render_template("sheets/import.html", **render), 422 if found.errors else 200
    render["done"] = importing.apply(session, actor, found)
    session.commit()
    return render_template("sheets/import.html", **render)
