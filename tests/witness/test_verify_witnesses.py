"""`registry ledger verify` compares the ledger with what the witnesses saw: the latest
signed checkpoint is submitted to each (no new signing), and a rollback, truncation or
fork one of them saw fails verification; one that is down is reported (or fails, with
--require-witnesses). Witnesses are real HTTP servers."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import sqlalchemy as sa

from registry.extensions import db_session
from registry.ledger.checkpoints import last_checkpoint
from registry.ledger.keys import create_key
from registry.ledger.models import Checkpoint, WitnessCosignature
from registry.ledger.note import Checkpoint as Body
from registry.ledger.note import sign_checkpoint
from registry.witness.state import create_witness_key
from tests.conftest import append_only_lifted, make_app
from tests.serving import free_port
from tests.witness.test_registry import NO_AUTOMATIC_CHECKPOINTS, ORIGIN, _write


def _checkpoints(app) -> int:
    with app.app_context():
        return db_session().scalar(sa.select(sa.func.count()).select_from(Checkpoint))


def test_verify_asks_each_witness(database_url, tmp_path, witnesses):
    instance = tmp_path / "instance"
    signer = create_key(instance / "ledger-signing.key", ORIGIN)
    w1, c1, _ = witnesses("witness.test/one", [signer.verifier_key])
    w2, c2, _ = witnesses("witness.test/two", [signer.verifier_key])
    setting = f"{w1.url}={c1.vkey} {w2.url}={c2.vkey}"
    app = make_app(database_url, instance, **NO_AUTOMATIC_CHECKPOINTS, WITNESSES=setting)
    runner = app.test_cli_runner()
    try:
        _write(app, 2)
        assert runner.invoke(args=["ledger", "checkpoint"]).output.count("cosigned") == 2
        _write(app, 2)
        app.config["WITNESSES"] = f"{w1.url}={c1.vkey}"  # two hears of the newer one only now
        assert "cosigned" in runner.invoke(args=["ledger", "checkpoint"]).output
        app.config["WITNESSES"] = setting
        _write(app, 1)  # events after the last checkpoint: verify signs nothing
        signed = _checkpoints(app)

        result = runner.invoke(args=["ledger", "verify"])
        assert result.exit_code == 0, result.output
        assert result.output.count("consistent with what it saw before") == 2, result.output
        assert _checkpoints(app) == signed

        # A witness that is down: reported, not a verdict, unless witnesses are required.
        down = create_witness_key(tmp_path / "down.key", "witness.test/down").cosigner
        app.config["WITNESSES"] = f"{setting} http://127.0.0.1:{free_port()}={down.vkey}"
        result = runner.invoke(args=["ledger", "verify"])
        assert result.exit_code == 0, result.output
        assert "witness.test/down" in result.output and "unreachable" in result.output
        result = runner.invoke(args=["ledger", "verify", "--require-witnesses"])
        assert result.exit_code == 1 and "unreachable: fails verification" in result.output
        # With --checkpoint, the witnesses are not asked.
        kept = instance / "latest-checkpoint"
        result = runner.invoke(args=["ledger", "verify", "--checkpoint", str(kept)])
        assert result.exit_code == 0 and "witness.test/down" not in result.output

        # A fork: a witness that cosigned another tree of the same size under the
        # registry's key (a rewritten ledger shown to it) refuses the ledger's checkpoint.
        w3, c3, _ = witnesses("witness.test/three", [signer.verifier_key])
        with app.app_context():
            latest = last_checkpoint(db_session())
            size = latest.tree_size
        forged = sign_checkpoint(Body(ORIGIN, size, b"\x07" * 32), ORIGIN, signer.private_key)
        request = urllib.request.Request(
            f"{w3.url}/add-checkpoint", data=f"old 0\n\n{forged}".encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
        app.config["WITNESSES"] = f"{setting} {w3.url}={c3.vkey}"
        result = runner.invoke(args=["ledger", "verify"])
        assert result.exit_code == 1, result.output
        alarm = [line for line in result.output.splitlines() if line.startswith("ALARM")]
        assert len(alarm) == 1 and "witness.test/three" in alarm[0], result.output
        assert "a different root" in alarm[0] and f"at size {size}" in alarm[0]
        assert _checkpoints(app) == signed
    finally:
        app.extensions["registry.db"].dispose()


def test_verify_fails_when_a_witness_saw_a_larger_tree(database_url, tmp_path, witnesses):
    instance = tmp_path / "instance"
    signer = create_key(instance / "ledger-signing.key", ORIGIN)
    w1, c1, _ = witnesses("witness.test/one", [signer.verifier_key])
    setting = f"{w1.url}={c1.vkey}"
    app = make_app(database_url, instance, **NO_AUTOMATIC_CHECKPOINTS, WITNESSES=setting)
    runner = app.test_cli_runner()
    try:
        _write(app, 2)
        assert "cosigned" in runner.invoke(args=["ledger", "checkpoint"]).output
        _write(app, 3)
        assert "cosigned" in runner.invoke(args=["ledger", "checkpoint"]).output
        # The newest checkpoint, the record of its cosignature and the kept checkpoint
        # file gone (the triggers lifted, the instance folder restored from an older
        # backup): the ledger verifies on its own, but the witness saw more.
        with app.app_context():
            session = db_session()
            newest = last_checkpoint(session)
            with append_only_lifted(session, "witness_cosignature"):
                session.execute(sa.delete(WitnessCosignature))
            with append_only_lifted(session, "checkpoint"):
                session.execute(sa.delete(Checkpoint).where(Checkpoint.id == newest.id))
            older = last_checkpoint(session).tree_size
        Path(instance / "latest-checkpoint").unlink()
        result = runner.invoke(args=["ledger", "verify"])
        assert result.exit_code == 1, result.output
        last = result.output.splitlines()[-1]
        assert last.startswith("ALARM: Witness witness.test/one"), result.output
        assert f"it cosigned a tree of {newest.tree_size} events" in last
        assert f"latest signed checkpoint has {older}" in last
    finally:
        app.extensions["registry.db"].dispose()
