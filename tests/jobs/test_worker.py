"""Exports as jobs with a real ``registry worker`` process, on the SQLite-file and the
Redis queue and both database engines: asked for over the API (202 and the job), run
by the worker, their progress and outcome read back; a worker killed (SIGKILL) in the
middle of an export leaves no pack, and the next worker runs the job again."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.evidence import verifier
from registry.extensions import database
from registry.jobs import service
from registry.jobs.models import Job
from tests.api.conftest import ApiClient
from tests.jobs.conftest import LEASE, wait_for


def job_state(app, job_id: int) -> Job:
    with database(app).read_sessionmaker() as read:
        return read.get(Job, job_id)


def test_a_worker_runs_an_export_and_a_failing_one(app, examples, tokens, start_worker, tmp_path):
    auditor = ApiClient(app.test_client(), tokens["auditor"])
    asked = auditor.post("/api/v1/exports", json={"system": "demo-city-chatbot"})
    assert asked.status_code == 202, asked.get_json()
    job = asked.get_json()
    assert job["state"] == "queued" and job["progress"]["done"] == 0
    assert asked.headers["Location"] == job["url"]
    # Long before anything was recorded: the job fails, with a problem.
    early = auditor.post(
        "/api/v1/exports",
        json={"as_of": "2001-01-01T00:00:00Z"},
        headers={"X-Request-ID": "ask-early-export-1"},
    )
    assert early.status_code == 202
    start_worker()

    def ended(url: str):
        body = auditor.get(url).get_json()
        return body if body["state"] in ("finished", "failed") else None

    done = wait_for(lambda: ended(job["url"]))
    assert done["state"] == "finished", done
    assert done["attempts"] == 1 and done["progress"]["done"] == done["progress"]["total"]
    export = done["export"]
    assert export["scope"] == "system" and export["available"]
    download = auditor.get(export["url"])
    assert download.status_code == 200
    saved = Path(app.config["EXPORT_DIR"]) / "job.zip"
    saved.write_bytes(download.get_data())
    download.close()
    verifier.verify(str(saved))
    listed = auditor.get("/api/v1/exports").get_json()["items"]
    assert [i["seq"] for i in listed] == [export["seq"]]

    failed = wait_for(lambda: ended(early.headers["Location"]))
    assert failed["state"] == "failed" and "export" not in failed
    problem = failed["problem"]
    assert problem["status"] == 404 and problem["title"] == "Not Found"
    assert "recorded nothing by 2001-01-01" in problem["detail"]
    # The worker's log line of the job carries the id of the request that asked for it.
    failed_id = early.get_json()["id"]

    def logged():
        """the worker logged the failed job with the asking request's id"""
        lines = (tmp_path / "worker-0.log").read_text().splitlines()
        found = [json.loads(line) for line in lines if line.startswith("{")]
        return [
            line
            for line in found
            if line["message"].startswith(f"Export job {failed_id} failed")
            and line.get("request_id") == "ask-early-export-1"
        ]

    wait_for(logged)


@pytest.mark.parametrize(
    "queue_backend,engine_name",
    [("sqlite", "sqlite"), ("redis", "postgresql")],
    indirect=True,
)
def test_a_worker_killed_mid_export_leaves_no_pack_and_the_job_runs_again(
    app, examples, tokens, start_worker
):
    folder = Path(app.config["EXPORT_DIR"])
    auditor = ApiClient(app.test_client(), tokens["auditor"])
    asked = auditor.post("/api/v1/exports", json={})
    assert asked.status_code == 202
    job_id = asked.get_json()["id"]
    first = start_worker()

    def writing() -> bool:
        """the worker writes the pack (under its temporary name)"""
        return folder.is_dir() and any(p.name.startswith(".export-") for p in folder.iterdir())

    wait_for(writing, every=0.002)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert job_state(app, job_id).state == "running"
    assert not [p for p in folder.iterdir() if p.name.startswith("evidence-")]  # no pack
    assert auditor.get("/api/v1/exports").get_json()["items"] == []  # none recorded
    # Its heartbeat stops; once the lease is over, the next worker runs it again.
    wait_for(lambda: job_state(app, job_id).heartbeat_at < sa_now() - lease(), every=0.2)
    start_worker()
    done = wait_for(lambda: (job := job_state(app, job_id)).state in ("finished", "failed") and job)
    assert done.state == "finished" and done.attempts == 2, done.problem
    [pack] = [p for p in folder.iterdir() if p.name.startswith("evidence-")]
    verifier.verify(str(pack))
    [listed] = auditor.get("/api/v1/exports").get_json()["items"]
    assert listed["file"] == pack.name


def sa_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def lease() -> dt.timedelta:
    return dt.timedelta(seconds=LEASE)


@pytest.mark.parametrize("queue_backend", ["sqlite"], indirect=True)
def test_a_job_out_of_attempts_fails_saying_its_worker_stopped(app, examples, users):
    """No worker needed: a running job whose heartbeat stopped, with its attempts used."""
    db = database(app)
    now = sa_now()
    with db.sessionmaker() as session:
        job = service.ask_export(session, Actor.for_user(users["auditor"]), None, None, now, None)
        session.commit()
        assert service.claim(session, job.id, now - dt.timedelta(seconds=60))
        session.commit()
        assert not service.claim(session, job.id, now)  # claimed once only
        again = service.recover(session, now, lease=LEASE, attempts=1)
        session.commit()
        assert again == []
        failed = session.scalar(
            sa.select(Job).where(Job.id == job.id).execution_options(populate_existing=True)
        )
    assert failed.state == "failed"
    assert '"code": "worker_lost"' in failed.problem and "1 attempt" in failed.problem
