"""Nothing kept is lost to the collector, on both engines and both blob stores: it
deletes a blob only if, under the ledger lock, no kept document holds it any more, and
a receipt whose bytes it removed meanwhile is not recorded."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from registry.documents.models import Document
from registry.documents.service import Upload, collect, receive, remove_blobs
from registry.errors import Conflict
from registry.extensions import database, document_store
from registry.ledger.models import AuditEvent
from registry.records import reads, writes
from tests.records.samples import SAMPLES

LOOSE = b"an upload nobody attached\n" * 8


@pytest.fixture
def system(session: Any, officer: Any) -> Any:
    writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "sys-1"})
    session.commit()
    return reads.get_system(session, "sys-1")


def put(app: Any, session: Any, officer: Any, system: Any, data: bytes, store: Any = None) -> Any:
    store = store or document_store(app)
    staged = store.stage(app.config["DOCUMENT_MAX_BYTES"]).copy_from(io.BytesIO(data))
    return receive(session, officer, system, store, staged, Upload("loose.txt"))


def test_a_document_received_again_between_gc_deciding_and_deleting_keeps_its_bytes(
    app, session, officer, system
):
    store = document_store(app)
    sha = put(app, session, officer, system, LOOSE).document.sha256
    session.commit()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    done = collect(session, officer, store, now=later, grace=dt.timedelta(0))
    session.commit()
    assert done.blobs == [sha]
    # Before the collector deletes the blob, the same bytes are uploaded again.
    again = put(app, session, officer, system, LOOSE)
    session.commit()
    assert again.new and again.document.collected_at is None
    assert remove_blobs(session, store, done.blobs) == 0
    session.commit()
    assert store.has(sha)
    # Once nothing holds it, the collector's next round removes it.
    later += dt.timedelta(seconds=5)
    done = collect(session, officer, store, now=later, grace=dt.timedelta(0))
    session.commit()
    assert remove_blobs(session, store, done.blobs) == 1
    session.commit()
    assert not store.has(sha)


class CollectedMeanwhile:
    """The app's real store, whose blob the collector deletes right after keeping it:
    what a collector running between an upload's keep and its ledger event does."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def keep(self, staged: Any) -> bool:
        sha = staged.sha256
        kept = self.store.keep(staged)
        self.store.delete(sha)
        return kept


def test_bytes_collected_while_being_received_are_not_recorded(app, session, officer, system):
    store = CollectedMeanwhile(document_store(app))
    before = session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
    session.commit()
    with pytest.raises(Conflict, match="removed by the collector"):
        put(app, session, officer, system, LOOSE, store)
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(Document)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == before
    session.rollback()
    # Uploaded again, it is received and kept.
    sha = put(app, session, officer, system, LOOSE).document.sha256
    session.commit()
    assert document_store(app).has(sha)


def _waiting_for_the_ledger_lock(app: Any) -> bool:
    """Whether a PostgreSQL transaction waits for the ledger lock (an advisory lock)."""
    with database(app).sessionmaker() as probe:
        return bool(
            probe.scalar(
                sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            )
        )


def test_bytes_received_again_while_the_collector_collects_them_are_received_anew(
    app, session, officer, system
):
    """The collector has marked the document collected (under the ledger lock) but not
    committed yet when the same bytes are uploaded again: the upload must not answer
    "already received" for a document on its way out, but wait for the collector's
    decision and receive the bytes anew, which the collector then leaves in place."""
    store = document_store(app)
    first = put(app, session, officer, system, LOOSE).document
    sha, first_seq = first.sha256, first.receive_seq
    session.commit()
    collector = database(app).sessionmaker()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    done = collect(collector, officer, store, now=later, grace=dt.timedelta(0))
    assert [d.sha256 for d in done.documents] == [sha] and done.blobs == [sha]
    answered: dict[str, Any] = {}

    def upload_again() -> None:
        with database(app).sessionmaker() as own:
            try:
                received = put(app, own, officer, reads.get_system(own, "sys-1"), LOOSE)
                answered["new"] = received.new
                answered["seq"] = received.document.receive_seq
                answered["held"] = received.document.collected_at is None
                own.commit()
            except BaseException as exc:
                answered["error"] = exc

    uploader = threading.Thread(target=upload_again)
    uploader.start()
    if session.get_bind().dialect.name == "postgresql":
        # The upload has read the row as held; it must now wait for the collector's
        # lock (before the fix it answered at once, "already received").
        deadline = time.monotonic() + 30
        while uploader.is_alive() and not _waiting_for_the_ledger_lock(app):
            assert time.monotonic() < deadline, "the upload neither answered nor waited"
            time.sleep(0.01)
    # (SQLite: the collector's transaction holds the write lock, so the upload's own
    # transaction cannot begin before it commits, whenever the thread gets there.)
    collector.commit()
    uploader.join(60)
    assert not uploader.is_alive()
    assert "error" not in answered, answered.get("error")
    assert answered["new"] is True and answered["held"] and answered["seq"] > first_seq
    # The collector's second step finds the bytes held again and leaves them.
    assert remove_blobs(collector, store, done.blobs) == 0
    collector.commit()
    collector.close()
    assert store.has(sha)
    session.expire_all()
    row = session.scalar(sa.select(Document).where(Document.sha256 == sha))
    assert row.collected_at is None and row.receive_seq == answered["seq"]
    actions = [
        json.loads(e)["action"]
        for e in session.scalars(
            sa.select(AuditEvent.event).where(AuditEvent.seq > first_seq).order_by(AuditEvent.seq)
        )
    ]
    assert actions == ["document.collect", "document.receive"]
