"""The registry keeps its latest signed checkpoint outside the database too, and never
signs a tree that does not extend it; verification and the ledger status compare the
ledger with it."""

from __future__ import annotations

import stat
from pathlib import Path

import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.ledger.checkpoints import make_checkpoint, settings_of
from registry.ledger.kept import CheckpointRefused
from registry.ledger.models import Checkpoint
from registry.ledger.status import shared_verification
from registry.records import reads, writes
from tests.conftest import append_only_lifted
from tests.ledger import test_verify
from tests.ledger.test_verify import _rewrite_from
from tests.ledger.test_verify_external import _truncate
from tests.records.samples import SAMPLES

# 35 events, checkpoints every 10 events, each signed at the map event it appends:
# checkpoints of 3, 11, 21 and 31 events.
signed = test_verify.signed


def _kept(app) -> Path:
    return Path(app.config["KEPT_CHECKPOINT_PATH"])


def _latest_note(session) -> str:
    return session.scalar(sa.select(Checkpoint.note).order_by(Checkpoint.tree_size.desc()))


def _write(session, n: int, prefix: str = "w") -> None:
    actor = Actor.system("test")
    system = reads.get_system(session, "s-1")
    for i in range(n):
        writes.create_entry(
            session,
            actor,
            system,
            "change_log",
            {**SAMPLES["change_log"], "summary": f"{prefix}{i}"},
        )
        session.commit()


def _run(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_the_latest_checkpoint_is_kept_in_a_private_file(signed):
    app, session = signed
    kept = _kept(app)
    assert kept.parent == Path(app.config["INSTANCE_PATH"])
    assert kept.read_text() == _latest_note(session)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    _write(session, 5)  # to 45 events: a checkpoint was due at 40 (signed at its map, 41)
    assert "\n41\n" in kept.read_text() and kept.read_text() == _latest_note(session)
    # A checkpoint whose transaction rolls back is not kept.
    _write(session, 1)
    make_checkpoint(session, settings_of(session).signer)
    session.rollback()
    assert "\n41\n" in kept.read_text()
    result = _run(app, "ledger", "checkpoint")
    assert result.exit_code == 0, result.output
    assert "\n47\n" in kept.read_text() and kept.read_text() == _latest_note(session)


def test_truncation_is_refused_and_named(signed):
    app, session = signed
    _truncate(session, 23)
    result = _run(app, "ledger", "verify")
    assert result.exit_code == 1
    first_line = result.output.splitlines()[0]
    assert "tail truncation" in first_line and "the registry's kept checkpoint" in first_line
    result = _run(app, "ledger", "checkpoint")
    assert result.exit_code == 1 and "Refused to sign a checkpoint" in result.output
    assert "the ledger holds 23 events, fewer than the 31" in result.output
    assert "Traceback" not in result.output
    # Writes go on, but nothing is signed over the other history, even past 31 events.
    before = set(session.scalars(sa.select(Checkpoint.tree_size)))
    _write(session, 12)
    assert set(session.scalars(sa.select(Checkpoint.tree_size))) == before
    result = _run(app, "ledger", "checkpoint")
    assert result.exit_code == 1 and "first 31 events no longer hash" in result.output
    # An export needs a signed checkpoint covering its instant: it says why there is none.
    result = _run(app, "export", "s-1")
    assert result.exit_code == 1 and "Refused to sign a checkpoint" in result.output
    # The status readers see is the same alarm.
    report, _ = shared_verification(session)
    assert not report.ok and "the registry's kept checkpoint" in report.problem


def test_a_rewrite_after_deleting_every_checkpoint_is_refused_and_named(signed):
    app, session = signed
    with append_only_lifted(session, "checkpoint"):
        session.execute(sa.delete(Checkpoint))

    def edit(seq, fields):
        if seq == 14:
            fields["note"] = "added afterwards"
        return fields

    _rewrite_from(session, 14, edit)
    session.commit()
    result = _run(app, "ledger", "verify")
    assert result.exit_code == 1 and "rollback or rewrite" in result.output.splitlines()[0]
    try:
        make_checkpoint(session, settings_of(session).signer)
    except CheckpointRefused as exc:
        assert "first 31 events no longer hash" in exc.message
    else:
        raise AssertionError("signed a checkpoint over a rewritten ledger")
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(Checkpoint)) == 0


def test_an_older_copy_is_refused_until_the_operator_moves_the_file_aside(signed):
    app, session = signed
    _truncate(session, 23)  # as a restored older backup would be
    result = _run(app, "ledger", "checkpoint")
    assert result.exit_code == 1 and "move that file aside" in result.output
    kept = _kept(app)
    kept.rename(kept.with_name("latest-checkpoint.before-restore"))
    result = _run(app, "ledger", "checkpoint")
    assert result.exit_code == 0, result.output
    assert "\n24\n" in kept.read_text()  # the 23 events and the map signed with them
    assert _run(app, "ledger", "verify").exit_code == 0
