"""What verification inside the database alone cannot see: a ledger truncated, rolled
back or rewritten together with the checkpoints covering it (caught against a
checkpoint kept elsewhere: ``registry ledger verify --checkpoint FILE``), and columns
that queries read instead of the event bytes (caught against those bytes)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.accounts.actor import Actor
from registry.ledger.append import append_event
from registry.ledger.checkpoints import make_checkpoint
from registry.ledger.keys import Signer, load_key
from registry.ledger.models import AuditEvent, Checkpoint
from registry.records import reads, writes
from registry.records.models import AISystem, Entry, EntryVersion
from tests.conftest import append_only_lifted
from tests.ledger import test_verify
from tests.ledger.test_verify import _rewrite_from, _verify
from tests.records.samples import SAMPLES

signed = test_verify.signed  # the same fixture: 39 events, checkpoints 3, 11, 21, 31


def _keep(app, session, size: int, tmp_path: Path) -> Path:
    """The note of the checkpoint of ``size`` events, kept in a file, as an auditor
    keeps one (from a pack, or the checkpoints API)."""
    note = session.scalar(sa.select(Checkpoint.note).where(Checkpoint.tree_size == size))
    path = tmp_path / f"checkpoint-{size}.txt"
    path.write_text(note, encoding="utf-8")
    return path


def _cli_verify(app, *files: Path):
    args = ["ledger", "verify"]
    for path in files:
        args += ["--checkpoint", str(path)]
    return app.test_cli_runner().invoke(args=args)


def _truncate(session, keep: int) -> None:
    """Delete every event after ``keep``, with its versions, entries and the signed
    checkpoints covering them, as an operator with table ownership could."""
    with append_only_lifted(session, "entry_version"):
        session.execute(sa.delete(EntryVersion).where(EntryVersion.audit_seq > keep))
    session.execute(sa.delete(Entry).where(~sa.exists().where(EntryVersion.entry_id == Entry.id)))
    with append_only_lifted(session, "audit_event"):
        session.execute(sa.delete(AuditEvent).where(AuditEvent.seq > keep))
    with append_only_lifted(session, "checkpoint"):
        session.execute(sa.delete(Checkpoint).where(Checkpoint.tree_size > keep))
    session.commit()


def test_the_ledger_contains_a_kept_checkpoint(signed, tmp_path):
    app, session = signed
    kept = [_keep(app, session, size, tmp_path) for size in (11, 31)]
    result = _cli_verify(app, *kept)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Ledger intact")


def test_tail_truncation_is_named(signed, tmp_path):
    app, session = signed
    kept = _keep(app, session, 31, tmp_path)
    _truncate(session, 23)
    assert _verify(app, session).ok  # inside the database, nothing tells
    result = _cli_verify(app, kept)
    assert result.exit_code == 1
    first_line = result.output.splitlines()[0]
    assert "tail truncation" in first_line and f"the checkpoint in {kept}" in first_line
    assert "covers 31 events but the ledger holds only 23" in first_line


def test_rollback_and_regrowth_is_named(signed, tmp_path):
    app, session = signed
    kept = _keep(app, session, 31, tmp_path)
    _truncate(session, 23)
    # The registry's own kept checkpoint is gone too (it would refuse to sign: see
    # test_kept_checkpoint.py), so the ledger grows again past the auditor's checkpoint,
    # with other events, and a new checkpoint of 31 events (30 and a map) is signed over them.
    Path(app.config["KEPT_CHECKPOINT_PATH"]).unlink()
    actor = Actor.system("test")
    system = reads.get_system(session, "s-1")
    for i in range(12):
        writes.create_entry(
            session, actor, system, "change_log", {**SAMPLES["change_log"], "summary": f"d{i}"}
        )
        session.commit()
    assert session.scalar(sa.select(Checkpoint.id).where(Checkpoint.tree_size == 31))
    assert _verify(app, session).ok
    result = _cli_verify(app, kept)
    assert result.exit_code == 1
    first_line = result.output.splitlines()[0]
    assert "rollback or rewrite" in first_line
    assert "the ledger's first 31 events do not hash to the root" in first_line


def test_a_rewrite_after_deleting_every_checkpoint_is_named(signed, tmp_path):
    app, session = signed
    kept = _keep(app, session, 21, tmp_path)
    with append_only_lifted(session, "checkpoint"):
        session.execute(sa.delete(Checkpoint))

    def edit(seq, fields):
        if seq == 14:
            fields["note"] = "added afterwards"
        return fields

    _rewrite_from(session, 14, edit)
    session.commit()
    report = _verify(app, session)
    assert report.ok and report.checkpoints == 0  # "intact": nothing signed to compare with
    result = _cli_verify(app, kept)
    assert result.exit_code == 1
    assert "rollback or rewrite" in result.output.splitlines()[0]
    assert "first 21 events" in result.output


def test_a_checkpoint_not_signed_by_a_trusted_key_fails(signed, tmp_path):
    app, session = signed
    forged = Signer(
        load_key(Path(app.config["SIGNING_KEY_PATH"])).name, Ed25519PrivateKey.generate()
    )
    with append_only_lifted(session, "checkpoint"):
        row = make_checkpoint(session, forged)
        note = row.note
        session.rollback()
    path = tmp_path / "forged.txt"
    path.write_text(note)
    result = _cli_verify(app, path)
    assert result.exit_code == 1 and "is not a checkpoint signed by a trusted key" in result.output
    result = _cli_verify(app, tmp_path / "missing.txt")
    assert result.exit_code == 2 and "Cannot read the checkpoint" in result.output


def test_a_file_that_is_not_a_checkpoint_is_no_verdict_on_the_ledger(signed, tmp_path):
    app, session = signed
    note = _keep(app, session, 31, tmp_path).read_text()
    path = tmp_path / "not-a-checkpoint.txt"
    for text in ("not a checkpoint\n", note.split("\n\n")[0] + "\n", note.replace("31", "x")):
        path.write_text(text)
        result = _cli_verify(app, path)
        assert result.exit_code == 2, (text, result.output)
        assert result.output.splitlines() == [result.output.rstrip("\n")]
        assert result.output.startswith(f"Cannot read the checkpoint {path}: not a signed ")


def test_blank_lines_after_a_kept_checkpoints_signature_are_not_part_of_it(signed, tmp_path):
    """As ``print`` or ``jq -r`` save a checkpoint: one newline more, or a few."""
    app, session = signed
    path = _keep(app, session, 31, tmp_path)
    note = path.read_text()
    for extra in ("\n", "\n\n\n"):
        path.write_text(note + extra)
        result = _cli_verify(app, path)
        assert result.exit_code == 0 and result.output.startswith("Ledger intact"), result.output
    _truncate(session, 23)
    result = _cli_verify(app, path)
    assert result.exit_code == 1 and "tail truncation" in result.output.splitlines()[0]


# --- columns that copy the event bytes ---------------------------------------------


def _export_event(session, reference: str) -> int:
    """An export of one system, as the ledger records it (named by reference)."""
    system = reads.get_system(session, reference)
    row = append_event(
        session,
        {
            "action": "evidence.export",
            "actor": "user:auditor",
            "scope": "system",
            "system": reference,
            "file": "x.zip",
        },
        system_id=system.id,
    )
    session.commit()
    return row["seq"]


@pytest.mark.parametrize(
    ("change", "located_at", "message"),
    [
        ("event_time", 12, "recording time column is not the time its bytes say"),
        ("event_system", 12, "system column is not the system its bytes name"),
        ("event_system_null", 12, "system column is not the system its bytes name"),
        ("key_event_system", 1, "system column names a system its bytes do not"),
        ("export_system", "export", "system column is not the system its bytes name"),
        ("export_system_null", "export", "system column is empty but its bytes name a system"),
        ("entry_system", 12, "entry's system is not the one its event recorded"),
        ("entry_kind", 12, "entry's kind is not the one its event recorded"),
        ("system_reference", 2, "entry's system reference is not the one its event recorded"),
        ("event_action", 12, "its action column is not the action its bytes say"),
        ("event_action_null", 12, "its action column is not the action its bytes say"),
        ("event_actor", 12, "its actor column is not the actor its bytes say"),
        ("export_actor", "export", "its actor column is not the actor its bytes say"),
    ],
)
def test_an_edited_column_is_located(signed, change, located_at, message):
    app, session = signed
    other, _ = writes.create_system(
        session, Actor.system("test"), {"name": "T", "reference": "t-1", "stage": "pilot"}
    )
    session.commit()
    export_seq = _export_event(session, "s-1")
    assert _verify(app, session).ok
    if located_at == "export":
        located_at = export_seq
    entry_id = session.scalar(sa.select(EntryVersion.entry_id).where(EntryVersion.audit_seq == 12))
    event = sa.update(AuditEvent)
    with append_only_lifted(session, "audit_event"):
        statement = {
            "event_time": event.where(AuditEvent.seq == 12).values(
                recorded_at=session.get(AuditEvent, 12).recorded_at + dt.timedelta(seconds=1)
            ),
            "event_system": event.where(AuditEvent.seq == 12).values(system_id=other.id),
            "event_system_null": event.where(AuditEvent.seq == 12).values(system_id=None),
            "key_event_system": event.where(AuditEvent.seq == 1).values(system_id=other.id),
            "export_system": event.where(AuditEvent.seq == export_seq).values(system_id=other.id),
            "export_system_null": event.where(AuditEvent.seq == export_seq).values(system_id=None),
            "entry_system": sa.update(Entry).where(Entry.id == entry_id).values(system_id=other.id),
            "entry_kind": sa.update(Entry).where(Entry.id == entry_id).values(kind="incident"),
            "event_action": event.where(AuditEvent.seq == 12).values(action="entry.retire"),
            "event_action_null": event.where(AuditEvent.seq == 12).values(action=None),
            "event_actor": event.where(AuditEvent.seq == 12).values(actor="user:someone"),
            "export_actor": event.where(AuditEvent.seq == export_seq).values(actor="user:audito"),
            "system_reference": sa.update(AISystem)
            .where(AISystem.reference == "s-1")
            .values(reference="s-renamed"),
        }[change]
        session.execute(statement)
    report = _verify(app, session)
    assert not report.ok, change
    assert report.problem_seq == located_at and message in report.problem, report.problem
    result = _cli_verify(app)
    assert result.exit_code == 1 and message in result.output
