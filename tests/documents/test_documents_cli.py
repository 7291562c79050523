"""``registry documents add`` and ``registry documents gc``, on both engines and both
blob stores: a document attached to any version is never collected; one never
attached goes after the grace period, its row marked and the ledger told."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pytest
import sqlalchemy as sa

from registry.documents.models import Document
from registry.documents.service import Upload, receive
from registry.errors import InvalidInput
from registry.extensions import document_store
from registry.ledger.checkpoints import settings_of
from registry.ledger.models import AuditEvent
from registry.ledger.store import verify_ledger
from registry.records import reads, writes
from tests.records.samples import SAMPLES


def _system(session: Any, officer: Any) -> Any:
    system, _ = writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "sys-1"})
    session.commit()
    return system


def test_add_prints_the_hash_and_refuses_bad_input_with_exit_2(app, session, officer, tmp_path):
    _system(session, officer)
    report = tmp_path / "model card.md"
    report.write_bytes(b"# Model card\n")
    runner = app.test_cli_runner()
    done = runner.invoke(
        args=["documents", "add", "sys-1", str(report), "--type", "model_card", "--title", "MC"]
    )
    assert done.exit_code == 0, done.output
    sha = hashlib.sha256(b"# Model card\n").hexdigest()
    assert done.output.startswith(f"{sha}  model card.md (13 bytes, received)")
    row = session.scalar(sa.select(Document))
    assert (row.document_type, row.media_type, row.title) == ("model_card", "text/markdown", "MC")
    session.rollback()
    for args in (
        ["documents", "add", "sys-1", str(report), "--type", "memo"],
        ["documents", "add", "nope", str(report)],
        ["documents", "add", "sys-1", str(report), "--valid-until", "soon"],
    ):
        refused = runner.invoke(args=args)
        assert refused.exit_code == 2, refused.output
        assert len(refused.output.strip().splitlines()) == 1
        assert "Traceback" not in refused.output
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    refused = runner.invoke(args=["documents", "add", "sys-1", str(empty)])
    assert refused.exit_code == 2 and "empty" in refused.output
    assert runner.invoke(args=["documents", "gc", "--grace", "soon"]).exit_code == 2


def _receive(app: Any, session: Any, officer: Any, system: Any, data: bytes) -> Document:
    store = document_store(app)
    staged = store.stage(10_000).copy_from(io.BytesIO(data))
    return receive(session, officer, system, store, staged, Upload("f.txt")).document


def test_gc_collects_only_what_no_version_refers_to(app, session, officer):
    system = _system(session, officer)
    store = document_store(app)
    attached = _receive(app, session, officer, system, b"attached once")
    loose = _receive(app, session, officer, system, b"never attached")
    body = {
        **SAMPLES["data_source"],
        "attachments": [{"name": "a.txt", "sha256": attached.sha256}],
    }
    version = writes.create_entry(session, officer, system, "data_source", body)
    session.commit()
    # Later versions drop the attachment: a version once referring to it keeps it.
    writes.update_entry(session, officer, version.entry_id, SAMPLES["data_source"], base_version=1)
    session.commit()
    attached_sha, loose_sha = attached.sha256, loose.sha256
    # An orphan: bytes whose upload's transaction never committed.
    staged = store.stage(10_000).copy_from(io.BytesIO(b"orphan bytes"))
    orphan = staged.sha256
    store.keep(staged)
    runner = app.test_cli_runner()
    young = runner.invoke(args=["documents", "gc"])  # the default grace: 24 h
    assert young.exit_code == 0 and young.output.startswith("Collected 0 "), young.output
    assert store.has(loose_sha) and store.has(orphan)
    done = runner.invoke(args=["documents", "gc", "--grace", "0h"])
    assert done.exit_code == 0, done.output
    assert done.output.startswith("Collected 1 unattached documents; removed 2 blobs")
    assert store.has(attached_sha)
    assert not store.has(loose_sha) and not store.has(orphan)
    session.expire_all()
    rows = {d.sha256: d for d in session.scalars(sa.select(Document))}
    assert rows[attached_sha].collected_at is None
    assert rows[loose_sha].collected_at is not None
    last = session.scalar(sa.select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1))
    event = json.loads(last.event)
    assert event["action"] == "document.collect" and event["sha256"] == [loose_sha]
    report = verify_ledger(session, trusted_keys=[settings_of(session).signer.verifier_key])
    assert report.ok, report.summary()
    session.rollback()
    # Attaching a collected document is refused; receiving it again revives it.
    refused = {**SAMPLES["data_source"], "attachments": [{"name": "l", "sha256": loose_sha}]}
    system = reads.get_system(session, "sys-1")
    with pytest.raises(InvalidInput):
        writes.create_entry(session, officer, system, "data_source", refused)
    session.rollback()
    again = _receive(app, session, officer, system, b"never attached")
    assert again.collected_at is None and store.has(loose_sha)
    session.commit()
