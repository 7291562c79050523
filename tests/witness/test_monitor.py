"""`registry ledger monitor`: an auditor's check, over HTTP, that the registry's ledger
only grew since the checkpoint the auditor holds."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.accounts.service import create_token, create_user
from registry.extensions import db_session
from registry.ledger.keys import create_key
from registry.ledger.merkle import consistency_proof, leaf_hash, root_from_leaf_hashes
from registry.ledger.models import Checkpoint
from registry.ledger.monitor import MonitorAlarm, check_consistency
from registry.ledger.note import Checkpoint as Body
from registry.ledger.note import sign_checkpoint
from tests.conftest import make_app
from tests.serving import free_port, served
from tests.witness.test_registry import ORIGIN, _write

LEAVES = [leaf_hash(bytes([i])) for i in range(30)]


def _answer(old, new, proof):
    return {
        "from": old.size,
        "to": new.size,
        "from_root": old.root.hex(),
        "to_root": new.root.hex(),
        "proof": [h.hex() for h in proof],
    }


def test_consistency_check_with_proofs_from_merkle():
    for old_size, new_size in [(1, 2), (3, 7), (8, 30), (13, 29)]:
        old = Body(ORIGIN, old_size, root_from_leaf_hashes(LEAVES[:old_size]))
        new = Body(ORIGIN, new_size, root_from_leaf_hashes(LEAVES[:new_size]))
        proof = consistency_proof(LEAVES[:new_size], old_size)
        check_consistency(old, new, _answer(old, new, proof))
        rewritten = [leaf_hash(b"x"), *LEAVES[1:new_size]]
        forged = Body(ORIGIN, new_size, root_from_leaf_hashes(rewritten))
        with pytest.raises(MonitorAlarm, match="inconsistent"):
            check_consistency(
                old, forged, _answer(old, forged, consistency_proof(rewritten, old_size))
            )
        with pytest.raises(MonitorAlarm, match="inconsistent"):
            check_consistency(old, new, _answer(old, new, proof[:-1]))
    with pytest.raises(MonitorAlarm, match="shape"):
        check_consistency(old, new, {"proof": "nope"})


def test_monitor_keeps_the_checkpoint_and_detects_a_fork_and_a_rollback(database_url, tmp_path):
    instance = tmp_path / "instance"
    signer = create_key(instance / "ledger-signing.key", ORIGIN)
    pubkey = tmp_path / "registry.pub"
    pubkey.write_text(signer.verifier_key + "\n")
    app = make_app(database_url, instance)
    try:
        _write(app, 4)
        assert app.test_cli_runner().invoke(args=["ledger", "checkpoint"]).exit_code == 0
        with app.app_context():
            session = db_session()
            admin = Actor.system("test", roles=frozenset({"admin"}))
            user, _ = create_user(session, admin, "aud@example.org", ["auditor"], "x" * 16)
            _, token = create_token(session, admin, user, scopes=("read",))
            session.commit()
            size = session.scalar(sa.select(sa.func.max(Checkpoint.tree_size)))
    finally:
        app.extensions["registry.db"].dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(
        REGISTRY_DATABASE_URL=database_url,
        REGISTRY_INSTANCE_PATH=str(instance),
        REGISTRY_SECRET_KEY="monitor-test-secret",
    )
    port = free_port()
    command = [sys.executable, "-m", "registry.cli", "serve", "--port", str(port), "--workers", "1"]
    state = tmp_path / "auditor"
    auditor_env = {k: v for k, v in env.items() if k != "REGISTRY_DATABASE_URL"}
    auditor_env.update(REGISTRY_TOKEN=token, REGISTRY_INSTANCE_PATH=str(tmp_path / "auditor-app"))

    def monitor():
        return subprocess.run(
            [sys.executable, "-m", "registry.cli", "ledger", "monitor", run.url]
            + ["--state", str(state), "--pubkey", str(pubkey)],
            env=auditor_env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    with served(command, port, env, tmp_path) as run:
        first = monitor()
        assert first.returncode == 0, first.stderr
        assert f"Checkpoint of {size} events" in first.stdout and "first seen" in first.stdout
        held = (state / "checkpoint").read_text()
        assert held.startswith(f"{ORIGIN}\n{size}\n")
        assert (state / "checkpoint").stat().st_mode & 0o777 == 0o600
        again = monitor()
        assert again.returncode == 0 and "consistent with the held checkpoint" in again.stdout

        # The ledger grows and is signed again: the consistency proof the registry serves
        # binds the held tree to the new one, and the new one is kept.
        grown = make_app(database_url, instance)
        try:
            _write(grown, 3)
            assert grown.test_cli_runner().invoke(args=["ledger", "checkpoint"]).exit_code == 0
            with grown.app_context():
                bigger = db_session().scalar(sa.select(sa.func.max(Checkpoint.tree_size)))
        finally:
            grown.extensions["registry.db"].dispose()
        assert bigger > size
        growth = monitor()
        assert growth.returncode == 0, growth.stdout + growth.stderr
        assert f"Checkpoint of {bigger} events" in growth.stdout
        assert f"consistent with the held checkpoint of {size} events" in growth.stdout
        assert (state / "checkpoint").read_text().startswith(f"{ORIGIN}\n{bigger}\n")
        held = (state / "checkpoint").read_text()
        size = bigger

        # The registry serves another tree of the size the auditor holds: a fork.
        forged = sign_checkpoint(Body(ORIGIN, size, b"\x02" * 32), ORIGIN, signer.private_key)
        (state / "checkpoint").write_text(forged)
        fork = monitor()
        assert fork.returncode == 1 and fork.stdout.strip().startswith("ALARM: fork")
        # The auditor holds a larger tree than the registry now serves: a rollback.
        larger = sign_checkpoint(Body(ORIGIN, size + 5, b"\x03" * 32), ORIGIN, signer.private_key)
        (state / "checkpoint").write_text(larger)
        rollback = monitor()
        assert rollback.returncode == 1 and "ALARM: rollback" in rollback.stdout
        # A checkpoint under another key is not believed.
        (state / "checkpoint").write_text(held)
        other = tmp_path / "other.pub"
        other.write_text(create_key(tmp_path / "other.key", ORIGIN).verifier_key + "\n")
        pubkey.write_text(other.read_text())
        wrong_key = monitor()
        assert wrong_key.returncode == 1 and "does not verify" in wrong_key.stdout
