"""Evidence packs on the web: export a system or the whole registry, list the exports
the ledger recorded, download a pack, and download the offline verifier (public)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_login import login_required
from werkzeug.wrappers import Response as BaseResponse

from registry.accounts.permissions import can, require
from registry.db import utcnow
from registry.errors import InvalidInput, NotFound
from registry.evidence import pack
from registry.evidence.quota import TooManyExports
from registry.extensions import db_session, export_quota
from registry.instants import parse_instant
from registry.jobs.service import ask_export, job_for, unfinished_of
from registry.jobs.tasks import job_queue
from registry.records import reads
from registry.web.systems import current_actor

bp = Blueprint("exports", __name__)
# Seconds between two reloads of a job's page while it runs.
REFRESH = 2
VERIFIER = Path(__file__).resolve().parent.parent / "evidence" / "verifier.py"
# The export forms' fields, by the labels the forms give them.
LABELS = {"as_of": "As of"}


def export_dir() -> Path:
    return Path(current_app.config["EXPORT_DIR"])


def parse_as_of(text: str) -> dt.datetime | None:
    """An optional ISO 8601 instant from a form or query (``Z`` or an offset)."""
    text = text.strip()
    if not text:
        return None
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise InvalidInput(f"The as-of instant {exc}.", {"as_of": [f"{exc}."]}) from None


def _said(exc: InvalidInput) -> str:
    """A refused export as the form says it: each problem once, its field named by the
    form's label ("As of: needs a time zone (Z or an offset).")."""
    said = [
        f"{LABELS.get(name, name)}: {error[:1].lower()}{error[1:]}"
        for name, errors in exc.field_errors.items()
        for error in errors
    ]
    return " ".join(said) or exc.message


def _export(references: list[str] | None, back: str) -> BaseResponse:
    """Ask for an export, made by a background worker: the job's page shows its
    progress and, once made, the download."""
    session = db_session()
    actor = current_actor()
    require(session, actor, "export")
    try:
        as_of = parse_as_of(request.form.get("as_of", "")[:64])
        job = ask_export(session, actor, references, as_of, utcnow(), export_quota())
        session.commit()
    except (TooManyExports, NotFound) as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(back)
    except InvalidInput as exc:
        session.rollback()
        flash(_said(exc), "error")
        return redirect(back)
    job_queue().enqueue_export(job.id)
    return redirect(url_for("exports.job", job_id=job.id))


@bp.route("/jobs/<id:job_id>")
@login_required
def job(job_id: int) -> str:
    """An export job: its progress while it runs (the page reloads itself), then the
    download or why it failed."""
    found = job_for(db_session(), current_actor(), job_id)
    result = found.result or {}
    available = bool(result) and pack.exported_file(export_dir(), result["file"]) is not None
    return render_template(
        "exports/job.html", job=found, result=result, available=available, refresh=REFRESH
    )


@bp.route("/exports")
@login_required
def index() -> str:
    session = db_session()
    actor = current_actor()
    require(session, actor, "read")
    system = request.args.get("system", "").strip()[:100] or None
    return render_template(
        "exports/index.html",
        exports=pack.list_exports(session, export_dir(), system=system),
        system=system,
        can_export=can(session, actor, "export"),
        unfinished=unfinished_of(session, actor),
    )


@bp.route("/exports", methods=["POST"])
@login_required
def export_registry() -> BaseResponse:
    return _export(None, url_for("exports.index"))


@bp.route("/systems/<reference>/export", methods=["POST"])
@login_required
def export_system(reference: str) -> BaseResponse:
    session = db_session()
    require(session, current_actor(), "export")
    system = reads.get_system(session, reference)
    return _export([system.reference], url_for("systems.show", reference=system.reference))


@bp.route("/exports/<name>")
@login_required
def download(name: str) -> Response:
    session = db_session()
    require(session, current_actor(), "read")
    path = pack.exported_file(export_dir(), name)
    if path is None:
        raise NotFound(f"No evidence pack {name!r} is kept here.")
    response = send_file(path, mimetype="application/zip", as_attachment=True, download_name=name)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/verify_pack.py")
def verifier() -> Response:
    """The offline verifier: one Python file (standard library and ``cryptography``).
    Public, like the verifier keys: checking a pack needs no account."""
    return Response(
        VERIFIER.read_bytes(),
        mimetype="text/x-python",
        headers={"Content-Disposition": "attachment; filename=verify_pack.py"},
    )
