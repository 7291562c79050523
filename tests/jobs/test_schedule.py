"""The worker's schedule, each task run as the worker runs it (its own sessions, its
commit), on both engines: checkpoint signing on the time policy, and the collection
of unattached documents."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask

from registry.accounts.actor import Actor
from registry.documents.models import Document
from registry.documents.service import Upload, receive
from registry.extensions import database, document_store
from registry.jobs.tasks import job_queue
from registry.ledger.keys import create_key
from registry.ledger.models import AuditEvent, Checkpoint
from registry.records import writes
from tests.conftest import make_app
from tests.records.samples import SAMPLES

OFFICER = Actor.system("officer")
EVERY = 1.0  # seconds between checkpoints on the time policy, here


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    instance = tmp_path / "instance"
    create_key(instance / "ledger-signing.key", "registry.test/ledger")
    application = make_app(
        database_url,
        instance,
        CHECKPOINT_EVERY_EVENTS=1000,
        CHECKPOINT_EVERY_SECONDS=EVERY,
        DOCUMENT_GC_GRACE_HOURS=0,
    )
    yield application
    application.extensions["registry.db"].dispose()


def ledger(app: Flask) -> tuple[int, int]:
    """(the last event's seq, the last checkpoint's tree size)."""
    with database(app).read_sessionmaker() as read:
        return (
            read.scalar(sa.select(sa.func.max(AuditEvent.seq))),
            read.scalar(sa.select(sa.func.max(Checkpoint.tree_size))) or 0,
        )


def test_a_quiet_ledger_is_signed_on_the_time_policy(app):
    with database(app).sessionmaker() as session:
        writes.create_system(session, OFFICER, {**SAMPLES["profile"], "reference": "sys-1"})
        session.commit()
        writes.create_system(session, OFFICER, {**SAMPLES["profile"], "reference": "sys-2"})
        session.commit()
    events, signed = ledger(app)
    assert signed < events, "the last writes are not covered yet"
    queue = job_queue(app)
    queue.checkpoint()  # not yet: the latest checkpoint is younger than the policy's time
    assert ledger(app) == (events, signed)
    time.sleep(EVERY + 0.1)
    queue.checkpoint()
    events_now, signed_now = ledger(app)
    assert signed_now == events_now == events + 1  # with the systems map it appends
    queue.checkpoint()  # nothing new: nothing signed
    assert ledger(app) == (events_now, signed_now)


def test_unattached_documents_are_collected_on_the_schedule(app):
    store = document_store(app)
    with database(app).sessionmaker() as session:
        system, _ = writes.create_system(
            session, OFFICER, {**SAMPLES["profile"], "reference": "sys-1"}
        )
        staged = store.stage(10_000).copy_from(io.BytesIO(b"never attached"))
        loose = receive(session, OFFICER, system, store, staged, Upload("f.txt")).document.sha256
        session.commit()
    assert store.has(loose)
    job_queue(app).collect_documents()
    assert not store.has(loose)
    with database(app).read_sessionmaker() as read:
        row = read.scalar(sa.select(Document).where(Document.sha256 == loose))
        assert row.collected_at is not None


def test_recovery_removes_packs_left_half_written_an_hour_ago(app):
    folder = Path(app.config["EXPORT_DIR"])
    folder.mkdir(parents=True)
    dead, live = folder / ".export-dead.zip", folder / ".export-live.zip"
    for path in (dead, live):
        path.write_bytes(b"PK half a pack")
    two_hours_ago = time.time() - 7200
    os.utime(dead, (two_hours_ago, two_hours_ago))
    assert job_queue(app).recover() == []
    assert not dead.exists() and live.exists()


def test_no_worker_runs_on_the_immediate_queue(app):
    assert app.config["JOBS_BACKEND"] == "immediate"
    refused = app.test_cli_runner().invoke(args=["worker"])
    assert refused.exit_code == 1 and "no worker" in refused.output
