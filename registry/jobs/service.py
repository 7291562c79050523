"""Jobs as rows: asking for one, who sees it, and the steps a worker takes it through
(claim, progress, finish or fail) and the recovery of those whose worker died.

Asking (:func:`ask_export`) and reading (:func:`job_for`) flush in the caller's
transaction like any service; the worker's steps are each called in a short
transaction of the task's own (``jobs.tasks``).

A job goes ``queued`` -> ``running`` -> ``finished`` or ``failed``. Claiming is one
conditional UPDATE (only a queued job is claimed), so a job delivered twice by the
queue runs once. A running job's worker writes a heartbeat every second or so; one
whose heartbeat is older than the lease lost its worker (killed, the machine gone):
:func:`recover` queues it again while attempts are left, else fails it, saying so.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.accounts.models import User
from registry.accounts.permissions import may, require
from registry.errors import NotFound, PermissionDenied, RegistryError
from registry.evidence.collect import checked_as_of
from registry.evidence.quota import RUNNING_RETRY_AFTER, ExportQuota, TooManyExports
from registry.jobs.models import STATES, Job
from registry.records import reads

EXPORT = "export"
UNFINISHED = ("queued", "running")


@dataclass(frozen=True)
class JobView:
    """A job as the surfaces show it."""

    id: int
    kind: str
    state: str
    stage: str
    done: int
    total: int
    attempts: int
    actor: str
    params: dict[str, Any]
    result: dict[str, Any] | None
    problem: dict[str, Any] | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None

    @property
    def finished(self) -> bool:
        return self.state in ("finished", "failed")


def view(job: Job) -> JobView:
    return JobView(
        id=job.id,
        kind=job.kind,
        state=job.state,
        stage=job.stage,
        done=job.done,
        total=job.total,
        attempts=job.attempts,
        actor=job.actor,
        params=json.loads(job.params),
        result=json.loads(job.result) if job.result else None,
        problem=json.loads(job.problem) if job.problem else None,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def ask_export(
    session: Session,
    actor: Actor,
    references: list[str] | None,
    as_of: dt.datetime | None,
    now: dt.datetime,
    quota: ExportQuota | None,
) -> Job:
    """A queued job exporting the pack of ``references`` (None: the whole registry) as
    of ``as_of`` (None: when it runs). Refused now what would fail later: no right to
    export, an as-of in the future, an unknown system; and, in this order, a second
    whole-registry export of the same user while one is unfinished, then more than
    ``quota`` allows in an hour (429; a refused request does not count)."""
    require(session, actor, "export")
    as_of = checked_as_of(as_of, now)
    if references is not None:
        references = [reads.get_system(session, r).reference for r in references]
    elif actor.user_id is not None:
        unfinished = session.scalars(
            sa.select(Job.params).where(
                Job.user_id == actor.user_id, Job.kind == EXPORT, Job.state.in_(UNFINISHED)
            )
        )
        if any(json.loads(p)["systems"] is None for p in unfinished):
            raise TooManyExports(
                "Your export of the whole registry is still running: wait for it to "
                "finish before starting another.",
                RUNNING_RETRY_AFTER,
            )
    if quota is not None:
        quota.take(actor)
    params = {"systems": references, "as_of": as_of.isoformat() if as_of else None}
    job = Job(
        kind=EXPORT,
        state="queued",
        user_id=actor.user_id,
        actor=actor.label,
        params=json.dumps(params, sort_keys=True),
        stage="queued",
        done=0,
        total=0,
        attempts=0,
        created_at=now,
    )
    session.add(job)
    session.flush()
    return job


def may_see(actor: Actor, job: Job) -> bool:
    """The one rule of who sees a job: who asked for it, and whoever may export
    (auditors and compliance officers, as for the exports themselves)."""
    asked = actor.user_id is not None and actor.user_id == job.user_id
    return (asked and actor.has_scope("read")) or may(actor, "export", on_system=False)


def job_for(session: Session, actor: Actor, job_id: int) -> JobView:
    """The job ``job_id`` if ``actor`` may see it (404 when there is none, 403 when it
    is someone else's and the actor may not export)."""
    job = session.get(Job, job_id, populate_existing=True)  # as now, not as first read
    if job is None:
        raise NotFound(f"No job {job_id}.")
    if not may_see(actor, job):
        raise PermissionDenied("Only who asked for a job, auditors and officers see it.")
    return view(job)


def unfinished_of(session: Session, actor: Actor) -> list[JobView]:
    """The jobs ``actor`` asked for that are queued or running, oldest first."""
    if actor.user_id is None:
        return []
    jobs = session.scalars(
        sa.select(Job)
        .where(Job.user_id == actor.user_id, Job.state.in_(UNFINISHED))
        .order_by(Job.id)
    )
    return [view(job) for job in jobs]


# --- a worker's steps, each in a transaction of the task's own ------------------------


def claim(session: Session, job_id: int, now: dt.datetime) -> bool:
    """Take the queued job ``job_id`` to running (one attempt more); False when it is
    not queued (already taken, finished, or failed): the delivery is a duplicate."""
    taken = session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.state == "queued")
        .values(
            state="running",
            attempts=Job.attempts + 1,
            started_at=now,
            heartbeat_at=now,
            stage="starting",
            done=0,
            total=0,
        )
    )
    return taken.rowcount == 1


def runner_of(session: Session, job_id: int) -> tuple[Job, Actor]:
    """The claimed job and who runs it: who asked, with the roles they have now (a user
    who lost the right to export since gets a refusal, not a pack)."""
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"No job {job_id}.")
    user = session.get(User, job.user_id) if job.user_id is not None else None
    if user is None or not user.is_active:
        return job, Actor(label=job.actor, roles=frozenset())
    return job, Actor.for_user(user)


def beat(
    session: Session, job_id: int, stage: str, done: int, total: int, now: dt.datetime
) -> None:
    """A running job's progress and heartbeat."""
    session.execute(
        sa.update(Job)
        .where(Job.id == job_id, Job.state == "running")
        .values(stage=stage[:100], done=done, total=total, heartbeat_at=now)
    )


def finish(session: Session, job_id: int, result: dict[str, Any], now: dt.datetime) -> None:
    session.execute(
        sa.update(Job)
        .where(Job.id == job_id)
        .values(
            state="finished",
            stage="done",
            done=sa.case((Job.total > 0, Job.total), else_=1),
            total=sa.case((Job.total > 0, Job.total), else_=1),
            result=json.dumps(result, sort_keys=True),
            finished_at=now,
            heartbeat_at=now,
        )
    )


def problem_of(exc: RegistryError) -> dict[str, Any]:
    """An error as the RFC 9457 problem a failed job carries (``code``: the error's own
    stable name, when it has one; the API names the others by status)."""
    found: dict[str, Any] = {"status": exc.status, "detail": exc.message}
    code = getattr(exc, "code", None)
    if code:
        found["code"] = code
    return found


def fail(session: Session, job_id: int, problem: dict[str, Any], now: dt.datetime) -> None:
    session.execute(
        sa.update(Job)
        .where(Job.id == job_id)
        .values(
            state="failed",
            stage="failed",
            problem=json.dumps(problem, sort_keys=True),
            finished_at=now,
            heartbeat_at=now,
        )
    )


def recover(session: Session, now: dt.datetime, lease: float, attempts: int) -> list[int]:
    """The jobs whose worker is gone: running with a heartbeat older than ``lease``
    seconds. Each goes back to the queue while it has had fewer than ``attempts``
    attempts, and fails otherwise, saying why. Returns the jobs to queue again: those,
    and the queued ones older than the lease (their queue message may have been lost
    with a web process; a duplicate delivery is not claimed twice)."""
    cutoff = now - dt.timedelta(seconds=lease)
    stale = list(
        session.execute(
            sa.select(Job.id, Job.attempts).where(Job.state == "running", Job.heartbeat_at < cutoff)
        )
    )
    again = []
    for job_id, tried in stale:
        still = (Job.id == job_id, Job.state == "running", Job.heartbeat_at < cutoff)
        if tried < attempts:
            moved = session.execute(
                sa.update(Job).where(*still).values(state="queued", stage="queued again")
            )
            if moved.rowcount == 1:
                again.append(job_id)
            continue
        detail = (
            f"The worker running this job stopped ({tried} attempt"
            f"{'s' if tried != 1 else ''}, none finished). No pack was kept and no export "
            "was recorded; ask for the export again."
        )
        session.execute(
            sa.update(Job)
            .where(*still)
            .values(
                state="failed",
                stage="failed",
                problem=json.dumps(
                    {"status": 500, "detail": detail, "code": "worker_lost"}, sort_keys=True
                ),
                finished_at=now,
            )
        )
    waiting = session.scalars(
        sa.select(Job.id).where(Job.state == "queued", Job.created_at < cutoff)
    )
    return sorted(set(again) | set(waiting))


def counts_by_state(session: Session) -> dict[str, int]:
    """How many jobs are in each state (every state named, 0 when none): the metrics."""
    rows = session.execute(sa.select(Job.state, sa.func.count()).group_by(Job.state))
    counts = dict.fromkeys(STATES, 0)
    counts.update({state: n for state, n in rows})
    return counts
