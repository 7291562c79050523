"""Background jobs over the API: where a job stands (an export asked for with
``POST /api/v1/exports``)."""

from __future__ import annotations

import dataclasses
import http
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session

from registry.api.auth import current_actor
from registry.api.blueprint import READ, Blueprint
from registry.api.problems import CODES
from registry.api.render import api_path
from registry.api.schemas import JobOut
from registry.evidence import pack
from registry.extensions import db_session
from registry.jobs import service
from registry.jobs.service import JobView

bp = Blueprint(
    "api_jobs",
    __name__,
    url_prefix="/api/v1/jobs",
    tag="Exports",
    description="Background jobs: exports running in a worker, their progress and outcome.",
)


def problem_out(job: JobView) -> dict[str, Any]:
    """A failed job's problem as RFC 9457 says it."""
    found = job.problem or {}
    status = int(found.get("status", 500))
    return {
        "type": "about:blank",
        "title": http.HTTPStatus(status).phrase,
        "status": status,
        "detail": found.get("detail", "The job failed."),
        "code": found.get("code") or CODES.get(status, "error"),
    }


def export_out(record: pack.ExportRecord) -> dict[str, Any]:
    """An export as the API gives it, with its pack's link."""
    return {**dataclasses.asdict(record), "url": api_path("exports", record.file)}


def job_out(session: Session, job: JobView) -> dict[str, Any]:
    systems = job.params.get("systems")
    out: dict[str, Any] = {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "progress": {"stage": job.stage, "done": job.done, "total": job.total},
        "attempts": job.attempts,
        "actor": job.actor,
        "system": systems[0] if systems else None,
        "as_of": job.params.get("as_of"),
        "created_at": job.created_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "url": api_path("jobs", job.id),
    }
    if job.state == "finished" and job.result:
        # The export as the ledger recorded it: the same values as the list of exports.
        folder = Path(current_app.config["EXPORT_DIR"])
        record = pack.export_of(session, folder, job.result["event_seq"])
        out["export"] = {**export_out(record), "witnesses": job.result.get("witnesses", [])}
    if job.state == "failed":
        out["problem"] = problem_out(job)
    return out


@bp.route("/<id:job_id>", methods=["GET"], operation_id="getJob")
@bp.response(200, JobOut)
@bp.problems(*READ, 404)
def show(job_id: int) -> Any:
    """A job

    Its state (`queued`, `running`, `finished`, `failed`), progress as done of total
    in its current stage, the export with the pack's link once finished, and an RFC 9457
    problem once failed. Seen by who asked for it, auditors and compliance officers.
    Poll it until it is finished or failed.
    """
    session = db_session()
    return job_out(session, service.job_for(session, current_actor(), job_id))
