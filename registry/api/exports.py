"""Evidence packs over the API: export one system or the whole registry as of an
instant, list the exports the ledger recorded, download a pack, and download the
offline verifier (public)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import current_app, send_file

from registry.accounts.permissions import require
from registry.api.auth import current_actor
from registry.api.blueprint import BODY, IDEMPOTENCY_KEY, LOCATION_HEADER, READ, Blueprint
from registry.api.jobs import export_out, job_out
from registry.api.render import api_path
from registry.api.schemas import ExportCreate, ExportList, ExportQuery, JobOut
from registry.api.writes import after_commit, transaction
from registry.db import utcnow
from registry.errors import NotFound
from registry.evidence import pack
from registry.extensions import db_session, export_quota
from registry.jobs.service import ask_export, job_for
from registry.jobs.tasks import job_queue

bp = Blueprint(
    "api_exports",
    __name__,
    tag="Exports",
    url_prefix="/api/v1/exports",
    description="Evidence packs: signed ZIPs an auditor verifies offline.",
)
VERIFIER = Path(pack.__file__).resolve().parent / "verifier.py"


def _folder() -> Path:
    return Path(current_app.config["EXPORT_DIR"])


@bp.route("", methods=["POST"], operation_id="createExport")
@transaction(idempotent=True)
@bp.arguments(ExportCreate)
@bp.response(202, JobOut, headers={"Location": LOCATION_HEADER["Location"]})
@bp.doc(parameters=[IDEMPOTENCY_KEY])
@bp.problems(*READ, *BODY, 404, 422, 429)
def create(data: dict[str, Any]) -> Any:
    """Export an evidence pack

    Asks for the pack of one system (or, without `system`, the whole registry) as of
    `as_of` (default: when the export runs), made by a background worker: 202 Accepted
    with the job (`Location`: `GET /api/v1/jobs/{id}`), whose `export.url` downloads the
    pack once it is `finished`. The export is recorded in the ledger; the same scope as
    of the same instant always gives the same bytes. Auditors and compliance officers;
    a token with the read scope is enough, since no record changes. A user asks for at
    most `REGISTRY_EXPORTS_PER_HOUR` packs in any hour and one whole-registry pack at
    a time: beyond that, 429 with `Retry-After`.
    """
    session = db_session()
    actor = current_actor()
    require(session, actor, "export")
    references = [data["system"]] if "system" in data else None
    job = ask_export(session, actor, references, data.get("as_of"), utcnow(), export_quota())
    job_id = job.id
    out = job_out(session, job_for(session, actor, job_id))
    after_commit(lambda: job_queue().enqueue_export(job_id))
    return out, 202, {"Location": api_path("jobs", job_id)}


@bp.route("", methods=["GET"], operation_id="listExports")
@bp.arguments(ExportQuery, location="query", as_kwargs=True)
@bp.response(200, ExportList)
@bp.problems(*READ)
def index(limit: int, system: str | None = None) -> Any:
    """Exports

    The exports the ledger recorded, newest first: who exported what, as of when, the
    manifest digest, and whether the pack is still kept here.
    """
    session = db_session()
    require(session, current_actor(), "read")
    records = pack.list_exports(session, _folder(), system=system, limit=limit)
    return {"items": [export_out(r) for r in records]}


@bp.route("/verify_pack.py", methods=["GET"], operation_id="getVerifier")
@bp.response(
    200,
    description="The verifier: one Python file (standard library and cryptography).",
    content_type="text/x-python",
)
@bp.doc(security=[])
def verifier() -> Any:
    """Offline verifier

    `python verify_pack.py PACK.zip --pubkey keys.txt` checks a pack with no access to
    the registry. No token needed.
    """
    # Small: answered from memory, so no file handle is left to the client to close.
    return current_app.response_class(
        VERIFIER.read_bytes(),
        mimetype="text/x-python",
        headers={"Content-Disposition": "attachment; filename=verify_pack.py"},
    )


@bp.route("/<name>", methods=["GET"], operation_id="downloadExport")
@bp.response(200, description="The pack (a ZIP).", content_type="application/zip")
@bp.problems(*READ, 404)
def download(name: str) -> Any:
    """Download a pack

    The ZIP of an export still kept here.
    """
    session = db_session()
    require(session, current_actor(), "read")
    path = pack.exported_file(_folder(), name[:200])
    if path is None:
        raise NotFound(f"No evidence pack {name[:200]!r} is kept here.")
    response = send_file(path, mimetype="application/zip", as_attachment=True, download_name=name)
    response.headers["Cache-Control"] = "private, no-store"
    return response
