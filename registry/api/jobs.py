"""Background jobs over the API: where a job stands (an export asked for with
``POST /api/v1/exports``)."""

from __future__ import annotations

import http
from pathlib import Path
from typing import Any

from flask import current_app

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


def job_out(job: JobView) -> dict[str, Any]:
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
        done = job.result
        out["export"] = {
            "seq": done["event_seq"],
            "at": job.finished_at.isoformat() if job.finished_at else "",
            "actor": job.actor,
            "scope": done["scope"],
            "system": done["systems"][0] if done["scope"] == "system" else None,
            "as_of": done["as_of"],
            "manifest_sha256": done["manifest_sha256"],
            "file": done["file"],
            "available": pack.exported_file(Path(current_app.config["EXPORT_DIR"]), done["file"])
            is not None,
            "url": api_path("exports", done["file"]),
            "witnesses": done.get("witnesses", []),
        }
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
    return job_out(service.job_for(db_session(), current_actor(), job_id))
