"""The registry's job queue (huey), its tasks and its schedule.

One :class:`JobQueue` per application (``job_queue(app)``): the huey instance the
settings name (``REGISTRY_JOBS_BACKEND``: ``sqlite``, a file beside the database, the
default; ``redis`` for several app servers; ``immediate``, each job run at once in the
process that asks for it, for tests and one-off scripts) and the tasks registered on it.
The web and the API only enqueue; ``registry worker`` consumes (huey's consumer: worker
threads and the periodic scheduler).

Each task is a transaction boundary of its own, like a request or a command: it opens
its sessions, commits what it did and closes them. An export job runs the same
``exporting.export`` as the command line, with a heartbeat thread writing its progress
to the job row every second; the pack is written to a temporary name and placed only
when complete (``evidence.pack.recorded``), so a worker killed mid-export leaves none,
and :func:`~registry.jobs.service.recover` (at each worker's start and every minute)
runs the job again or fails it.

A transaction that signed a checkpoint queues, once it commits, a job sending the newest
checkpoint to the witnesses (``ledger.submitter``) and storing their answers, as
``registry ledger witness`` does (:func:`submit_to_witnesses`).

The schedule: every minute, recovery, checkpoint signing on the time policy
(``ledger.checkpoints.sign_if_due``), the newest checkpoint sent to each witness that
has not cosigned it yet (one that was down, or a job lost) and the delivery of the
notifications' outbox (``notifications.delivery``); every five minutes, the reminders' scan
(``notifications.outbox.scan``: each due item queued once per recipient and channel,
so scanning often sends nothing twice); every quarter of an hour, the collection of
unattached documents (``documents.service.collect``); at midnight UTC, when every row of
the readiness projection goes stale, its refresh (``registry readiness refresh``), so
that the day's first scan and dashboard find it current.

The refresh and the scan's own refresh (its first step) hold one lock (huey's, in the
queue's storage, so shared by every worker of the queue): the scan waits for a refresh
under way and then finds the projection current; the midnight refresh skips when a scan
is refreshing. A worker's start clears the lock a killed worker left behind.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.exceptions import TaskLockedException
from sqlalchemy.orm import Session

from registry import exporting, logs
from registry.accounts.actor import Actor
from registry.db import utcnow
from registry.documents.service import Collected, collect, remove_blobs
from registry.documents.store import BlobStore
from registry.errors import RegistryError
from registry.evidence import pack
from registry.extensions import database, document_store, pack_files, witness_submitter
from registry.jobs import service
from registry.ledger.checkpoints import settings_of, sign_if_due
from registry.ledger.submitter import WitnessSubmitter, log_outcome
from registry.ledger.witnessing import Outcome
from registry.notifications import addresses, due_list
from registry.notifications.delivery import Delivered, claim, outgoing, record, send
from registry.notifications.mail import SmtpSettings
from registry.notifications.outbox import Scan, scan
from registry.readiness.projection import current

log = logging.getLogger(__name__)

EXTENSION = "registry.jobs"
# Seconds between two heartbeats (and progress writes) of a running job.
BEAT_EVERY = 1.0
# Seconds a half-written pack is left untouched before it counts as a dead export's (a
# live export writes its pack from start to end; the longest pause, laying out the PDF
# of a large registry, is far shorter).
LEFTOVERS_AFTER = 3600.0
# The lock of the readiness projection's refresh, and how long the reminders' scan waits
# for a refresh under way (beyond it, the scan evaluates what is still stale itself).
REFRESH_LOCK = "registry.readiness_refresh"
REFRESH_WAIT = 300.0


def make_huey(config: dict[str, Any]) -> Huey:
    """The huey instance of these settings (results are not kept: the job row is)."""
    backend, name = config["JOBS_BACKEND"], config["JOBS_QUEUE"]
    if backend == "redis":
        return RedisHuey(name, url=config["JOBS_URL"], results=False)
    if backend == "immediate":
        return MemoryHuey(name, immediate=True, results=False)
    Path(config["JOBS_URL"]).parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, filename=config["JOBS_URL"], results=False)


class JobQueue:
    """The queue of one application and its tasks."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.huey = make_huey(app.config)
        self.lease = float(app.config["JOBS_LEASE_SECONDS"])
        self.attempts = int(app.config["JOBS_ATTEMPTS"])
        task, periodic = self.huey.task, self.huey.periodic_task
        self.export_task = task(name="registry.export")(self.run_export)
        periodic(crontab(minute="*"), name="registry.recover")(self.recover)
        self.witness_task = task(name="registry.witness")(self.submit_to_witnesses)
        periodic(crontab(minute="*"), name="registry.checkpoint")(self.checkpoint)
        periodic(crontab(minute="*"), name="registry.witness_behind")(self.witnesses_behind)
        periodic(crontab(minute="*/15"), name="registry.documents_gc")(self.collect_documents)
        periodic(crontab(minute="*/5"), name="registry.notify_scan")(self.scan_notifications)
        periodic(crontab(minute="*"), name="registry.notify_deliver")(self.deliver_notifications)
        periodic(crontab(minute="0", hour="0"), name="registry.readiness_refresh")(
            self.refresh_readiness
        )
        # Made now, so that a worker's start clears it (huey flushes the locks it knows).
        self.refresh_lock = self.huey.lock_task(REFRESH_LOCK)
        self.huey.on_startup("registry.recover_at_start")(self.recover)

    # --- asking -----------------------------------------------------------------------

    def enqueue_export(self, job_id: int) -> None:
        """Send job ``job_id`` (committed) to a worker (in immediate mode: run it now),
        with the id of the request asking for it, which the job's log lines carry."""
        self.export_task(job_id, logs.current_request_id())

    # --- the tasks --------------------------------------------------------------------

    def run_export(self, job_id: int, request_id: str | None = None) -> None:
        """Run export job ``job_id`` if it is still queued, its log lines carrying the id
        of the request that asked for it."""
        with logs.carrying(request_id):
            self._run_export(job_id)

    def _run_export(self, job_id: int) -> None:
        db = database(self.app)
        with self.app.app_context():
            with db.sessionmaker() as session:
                if not service.claim(session, job_id, utcnow()):
                    return  # a duplicate delivery: another worker has it, or had it
                session.commit()
            heart = _Heartbeat(self.app, job_id)
            heart.start()
            try:
                result, problem = self._export(job_id, heart)
            finally:
                heart.stop()
            with db.sessionmaker() as session:
                if problem is None:
                    service.finish(session, job_id, result, utcnow())
                else:
                    service.fail(session, job_id, problem, utcnow())
                session.commit()
            if problem is None:
                log.info("Export job %s finished: %s", job_id, result["file"])
            else:
                log.warning("Export job %s failed: %s", job_id, problem.get("detail", ""))

    def _export(self, job_id: int, heart: _Heartbeat) -> tuple[dict[str, Any], Any]:
        db = database(self.app)
        session, read = db.sessionmaker(), db.read_sessionmaker()
        try:
            job, actor = service.runner_of(session, job_id)
            params = service.view(job).params
            session.commit()
            as_of = dt.datetime.fromisoformat(params["as_of"]) if params["as_of"] else None
            done = exporting.export(
                session,
                read,
                actor,
                Path(self.app.config["EXPORT_DIR"]),
                pack_files(self.app),
                references=params["systems"],
                as_of=as_of,
                progress=heart.progress,
            )
        except RegistryError as exc:
            return {}, service.problem_of(exc)
        except Exception:
            log.exception("Export job %s failed", job_id)
            return {}, {
                "status": 500,
                "detail": "The export failed unexpectedly (the worker's log has the "
                "details). No pack was kept and no export was recorded.",
            }
        finally:
            read.close()
            session.close()
        return {
            "file": done.name,
            "manifest_sha256": done.manifest_sha256,
            "as_of": done.as_of.isoformat(),
            "scope": done.scope,
            "systems": done.systems,
            "events": done.events,
            "tree_size": done.tree_size,
            "event_seq": done.event_seq,
            "witnesses": done.witness_lines(),
        }, None

    def recover(self) -> list[int]:
        """Queue again (or fail) the jobs whose worker is gone, and remove the packs
        such workers left half written once nobody has touched them for an hour."""
        with self.app.app_context(), database(self.app).sessionmaker() as session:
            again = service.recover(session, utcnow(), self.lease, self.attempts)
            session.commit()
        pack.remove_leftovers(Path(self.app.config["EXPORT_DIR"]), LEFTOVERS_AFTER)
        for job_id in again:
            log.warning("Job %s lost its worker or its queue message: queued again", job_id)
            self.enqueue_export(job_id)
        return again

    def checkpoint(self) -> None:
        """Sign a checkpoint when the time policy says one is due."""
        with self.app.app_context(), database(self.app).sessionmaker() as session:
            settings = settings_of(session)
            if settings is None:
                return
            row = sign_if_due(session, settings)
            session.commit()
        if row is not None:
            log.info("Signed the checkpoint of %s events (time policy)", row.tree_size)

    def submit_to_witnesses(self, behind_only: bool = False) -> list[Outcome]:
        """Send the newest signed checkpoint to the witnesses (``behind_only``: those
        that have not cosigned it yet) and store their answers."""
        with self.app.app_context(), database(self.app).sessionmaker() as session:
            outcomes = submit_to_witnesses(self.app, session, behind_only=behind_only)
        for outcome in outcomes:
            log_outcome(outcome)
        return outcomes

    def witnesses_behind(self) -> list[Outcome]:
        """The newest checkpoint to each witness that has not cosigned it yet."""
        return self.submit_to_witnesses(behind_only=True)

    def collect_documents(self) -> None:
        """Collect the unattached documents older than the grace period."""
        hours = float(self.app.config["DOCUMENT_GC_GRACE_HOURS"])
        with self.app.app_context(), database(self.app).sessionmaker() as session:
            collect_unattached(session, document_store(self.app), dt.timedelta(hours=hours))

    def refresh_readiness(self, now: dt.datetime | None = None) -> int | None:
        """Bring the readiness projection up to date at ``now`` (default: the clock), as
        ``registry readiness refresh`` does: how many systems were evaluated; None when a
        refresh under way elsewhere holds the lock (it is doing the same)."""
        try:
            with self.refresh_lock, self.app.app_context():
                return refresh_readiness(self.app, now or utcnow())
        except TaskLockedException:
            log.info("Readiness projection: a refresh is under way elsewhere")
            return None

    def scan_notifications(self, now: dt.datetime | None = None) -> None:
        """Queue the reminders of what fell due at ``now`` (default: the clock) and the
        record changes' webhooks; first bring the readiness projection up to date under
        the refresh lock, waiting for a refresh under way (up to REFRESH_WAIT), so the
        scan never scores again what a refresh is scoring."""
        now = now or utcnow()
        waited_until = time.monotonic() + REFRESH_WAIT
        while self.refresh_readiness(now) is None and time.monotonic() < waited_until:
            time.sleep(1.0)
        with self.app.app_context(), database(self.app).sessionmaker() as session:
            scan_notifications(self.app, session, now)

    def deliver_notifications(self) -> None:
        """Send the outbox's e-mails, digests and webhooks whose time has come."""
        with self.app.app_context(), database(self.app).sessionmaker() as session:
            deliver_notifications(self.app, session, utcnow())


def submit_to_witnesses(
    app: Flask, session: Session, *, behind_only: bool = False
) -> list[Outcome]:
    """The newest signed checkpoint submitted to the witnesses and their answers stored,
    committed (``registry ledger witness``, the job a signing commit queues and the
    schedule alike); ``behind_only``: only to those that have not cosigned it yet. A
    witness that is down is an outcome, never an error."""
    outcomes = witness_submitter(app).submit_latest(session, behind_only=behind_only)
    session.commit()
    return outcomes


def init_app(app: Flask) -> None:
    """Queue the witnesses' job after each commit that signed a checkpoint (not one an
    export or a command submits itself: they take the mark first)."""
    submitter = witness_submitter(app)

    def after_commit(session: Session) -> None:
        if not submitter.signed(session) or not submitter.configured():
            return
        try:
            job_queue(app).witness_task()
        except Exception:  # the write is committed: a lost job is caught up by the schedule
            log.exception("Queueing the submission of a checkpoint to the witnesses failed")

    maker = database(app).sessionmaker
    sa.event.listen(maker, "after_commit", after_commit)
    # A checkpoint rolled back was never signed.
    sa.event.listen(maker, "after_rollback", WitnessSubmitter.take)


def collect_unattached(
    session: Session, store: BlobStore, grace: dt.timedelta
) -> tuple[Collected, int]:
    """The collection of unattached documents in its two transactions (the command line's
    ``registry documents gc`` and the schedule alike): mark and record them, commit; then
    remove the blobs no kept document holds (re-checked under the ledger lock), commit.
    Returns what was collected and how many blobs were removed."""
    done = collect(
        session, Actor.system("documents-gc"), store, now=dt.datetime.now(dt.UTC), grace=grace
    )
    session.commit()
    removed = remove_blobs(session, store, done.blobs)
    session.commit()
    return done, removed


class _Heartbeat:
    """A running job's heartbeat: a thread writing the latest progress and the time to
    the job row every :data:`BEAT_EVERY` seconds, in a short transaction of its own (so
    the export's own transactions are never held open for it)."""

    def __init__(self, app: Flask, job_id: int) -> None:
        self.app = app
        self.job_id = job_id
        self.latest = ("starting", 0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-{job_id}", daemon=True)

    def progress(self, stage: str, done: int, total: int) -> None:
        self.latest = (stage, done, total)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        sessions = database(self.app).sessionmaker
        while not self._stop.wait(BEAT_EVERY):
            try:
                with sessions() as session:
                    service.beat(session, self.job_id, *self.latest, utcnow())
                    session.commit()
            except Exception:  # a missed beat is not the job's failure
                log.exception("Job %s: writing its progress failed", self.job_id)


def job_queue(app: Flask | None = None) -> JobQueue:
    """The application's (default: the current one's) job queue, made on first use."""
    if app is None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    queue = app.extensions.get(EXTENSION)
    if queue is None:
        queue = app.extensions[EXTENSION] = JobQueue(app)
    return queue


def refresh_readiness(app: Flask, now: dt.datetime) -> int:
    """The readiness projection brought up to date at ``now`` (``registry readiness
    refresh`` and the schedule alike): the systems changed since it was last read and
    the rows whose time has run out, evaluated in bulk on a read session and stored by
    its projector in one short transaction of its own; then the kept list of due items
    from it, on a read session of its own (which sees what was stored), so that the
    day's first scan and "My tasks" find both current. Returns how many systems were
    evaluated."""
    with database(app).read_sessionmaker() as read:
        evaluated = len(current(read, now).fresh)
    with database(app).read_sessionmaker() as read:
        due_list.current(read, now, dt.timedelta(days=app.config["NOTIFY_DAYS_AHEAD"]))
    return evaluated


def scan_notifications(app: Flask, session: Session, now: dt.datetime) -> Scan:
    """The reminders' scan as of ``now`` (``registry notify scan`` and the schedule
    alike): what is due is computed on a read session, the outbox rows written on
    ``session``, committed."""
    read = database(app).read_sessionmaker()
    try:
        found = scan(
            read,
            session,
            now,
            ahead=dt.timedelta(days=app.config["NOTIFY_DAYS_AHEAD"]),
            policy=addresses.AddressPolicy.of(app.config["NOTIFY_OWNER_DOMAINS"]),
        )
    finally:
        read.close()
    session.commit()
    return found


def unsubscribe_link(app: Flask, address: str) -> str:
    """The link an e-mail to an owner who is not a user carries (the web's
    ``notifications.unsubscribe``, under REGISTRY_BASE_URL)."""
    token = addresses.token(app.config["SECRET_KEY"], address)
    return f"{app.config['BASE_URL'].rstrip('/')}/notifications/unsubscribe/{token}"


def deliver_notifications(app: Flask, session: Session, now: dt.datetime) -> Delivered:
    """Send what the outbox holds at ``now`` (``registry notify deliver`` and the schedule
    alike): read, claimed (committed, so two workers never send one message twice), sent
    with no transaction open, each outcome recorded, committed."""
    config = app.config
    policy = addresses.AddressPolicy.of(config["NOTIFY_OWNER_DOMAINS"])
    read = database(app).read_sessionmaker()
    try:
        batch = outgoing(read, now, policy=policy)
    finally:
        read.close()
    batch = claim(session, batch, now)  # another worker may have read the same outbox
    session.commit()
    outcomes = send(
        batch,
        smtp=SmtpSettings.of(config) if config["SMTP_HOST"] else None,
        base_url=config["BASE_URL"],
        allow_private=config["WEBHOOK_ALLOW_PRIVATE"],
        unsubscribe_link=lambda address: unsubscribe_link(app, address),
    )
    done = record(session, outcomes, now)
    session.commit()
    return done
