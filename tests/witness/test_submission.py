"""Checkpoints reach the witnesses without anyone asking: those the writes sign, by a job
queued after the commit (run at once by the test suite's immediate queue; a real queue
holds it for the worker), any a witness missed by the schedule, and an export's pinned
one before the pack is built, so the pack carries the cosignatures. Witnesses are real
HTTP servers."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.accounts.service import create_token, create_user
from registry.extensions import db_session
from registry.jobs.tasks import job_queue
from registry.ledger.checkpoints import last_checkpoint, make_checkpoint
from registry.ledger.cosignature import verify_cosignatures
from registry.ledger.keys import create_key
from registry.ledger.models import WitnessCosignature
from registry.records import writes
from registry.witness.state import create_witness_key
from tests.conftest import make_app
from tests.records.samples import SAMPLES
from tests.serving import free_port
from tests.witness.test_registry import NO_AUTOMATIC_CHECKPOINTS, ORIGIN, _write


def _rows(app, witness):
    """(tree size, refused, signature line) of each answer stored from ``witness``."""
    with app.app_context():
        return (
            db_session()
            .execute(
                sa.select(
                    WitnessCosignature.tree_size,
                    WitnessCosignature.refused,
                    WitnessCosignature.signature,
                )
                .where(WitnessCosignature.witness == witness)
                .order_by(WitnessCosignature.id)
            )
            .all()
        )


def test_checkpoints_signed_by_requests_are_submitted_after_their_commit(
    database_url, tmp_path, witnesses
):
    instance = tmp_path / "instance"
    signer = create_key(instance / "ledger-signing.key", ORIGIN)
    w1, c1, _ = witnesses("witness.test/one", [signer.verifier_key])
    down = create_witness_key(tmp_path / "down.key", "witness.test/down").cosigner
    setting = f"{w1.url}={c1.vkey} http://127.0.0.1:{free_port()}={down.vkey}"
    app = make_app(
        database_url,
        instance,
        CHECKPOINT_EVERY_EVENTS=4,
        CHECKPOINT_EVERY_SECONDS=1e9,
        WITNESSES=setting,
    )
    try:
        with app.app_context():
            session = db_session()
            admin = Actor.system("test", roles=frozenset({"admin"}))
            user, _ = create_user(
                session, admin, "co@example.org", ["compliance_officer"], "a long test password"
            )
            _, token = create_token(session, admin, user)
            session.commit()
        client = app.test_client()
        auth = {"Authorization": f"Bearer {token}"}
        profile = {"name": "Witnessed", "reference": "w-1", "stage": "pilot"}
        answer = client.post("/api/v1/systems", json={"profile": profile}, headers=auth)
        assert answer.status_code == 201, answer.json
        for i in range(6):
            answer = client.post(
                "/api/v1/systems/w-1/entries",
                json={"kind": "change_log", "body": {**SAMPLES["change_log"], "summary": f"{i}"}},
                headers=auth,
            )
            # A witness that is down never fails the write that signed a checkpoint.
            assert answer.status_code == 201, answer.json
        with app.app_context():
            checkpoint = last_checkpoint(db_session())
            assert checkpoint is not None
            size, note = checkpoint.tree_size, checkpoint.note
        rows = _rows(app, "witness.test/one")
        assert rows and not any(r.refused for r in rows)
        assert rows[-1].tree_size == size
        assert len(verify_cosignatures(note + rows[-1].signature, [c1])) == 1
        assert _rows(app, "witness.test/down") == []  # down: reported in the log, not stored

        # A checkpoint whose transaction rolls back was never signed: never submitted.
        with app.app_context():
            session = db_session()
            system = writes.create_system(
                session, Actor.system("test"), {"name": "R", "reference": "r-1", "stage": "pilot"}
            )[0]
            assert system.id
            rolled_back = make_checkpoint(session, signer)
            assert rolled_back.tree_size > size
            session.rollback()
        assert _rows(app, "witness.test/one")[-1].tree_size == size
    finally:
        app.extensions["registry.db"].dispose()


def test_an_export_submits_its_pinned_checkpoint_before_building(database_url, tmp_path, witnesses):
    instance = tmp_path / "instance"
    signer = create_key(instance / "ledger-signing.key", ORIGIN)
    w1, c1, _ = witnesses("witness.test/one", [signer.verifier_key])
    down = create_witness_key(tmp_path / "down.key", "witness.test/down").cosigner
    setting = f"{w1.url}={c1.vkey} http://127.0.0.1:{free_port()}={down.vkey}"
    app = make_app(database_url, instance, **NO_AUTOMATIC_CHECKPOINTS, WITNESSES=setting)
    runner = app.test_cli_runner()
    try:
        _write(app, 3)
        result = runner.invoke(args=["export", "--all"])
        assert result.exit_code == 0, result.output
        # The witness that is down is said in the export's result, and is not fatal.
        assert "Witness witness.test/down" in result.stderr and "not reachable" in result.stderr
        assert "Witness witness.test/one" in result.stderr and "cosigned" in result.stderr
        pack = Path(result.stdout.strip().splitlines()[-1])
        with zipfile.ZipFile(pack) as z:
            note = z.read("ledger/checkpoint.txt").decode()
            as_of = json.loads(z.read("manifest.json"))["as_of"]
        assert len(verify_cosignatures(note, [c1])) == 1
        pubkey = tmp_path / "registry.pub"
        pubkey.write_text(signer.verifier_key + "\n")
        args = ["verify-pack", str(pack), "--pubkey", str(pubkey), "--witness-key", c1.vkey]
        result = runner.invoke(args=args)
        assert result.exit_code == 0 and "cosigned by witness witness.test/one" in result.output
        # Submitted once: by the export, not again by a witnesses' job.
        assert len(_rows(app, "witness.test/one")) == 1

        # An export pinned to a checkpoint the witness has cosigned asks it nothing.
        result = runner.invoke(args=["export", "--all", "--as-of", as_of])
        assert result.exit_code == 0 and "witness.test/one" not in result.stderr
        assert len(_rows(app, "witness.test/one")) == 1
    finally:
        app.extensions["registry.db"].dispose()


def test_a_witness_that_is_down_is_said_in_the_export_jobs_answer(database_url, tmp_path):
    instance = tmp_path / "instance"
    create_key(instance / "ledger-signing.key", ORIGIN)
    down = create_witness_key(tmp_path / "down.key", "witness.test/down").cosigner
    setting = f"http://127.0.0.1:{free_port()}={down.vkey}"
    app = make_app(database_url, instance, **NO_AUTOMATIC_CHECKPOINTS, WITNESSES=setting)
    try:
        _write(app, 2)
        with app.app_context():
            session = db_session()
            admin = Actor.system("test", roles=frozenset({"admin"}))
            user, _ = create_user(session, admin, "aud@example.org", ["auditor"], "a long password")
            _, token = create_token(session, admin, user, scopes=("read",))
            session.commit()
        bearer = {"Authorization": f"Bearer {token}"}
        asked = app.test_client().post("/api/v1/exports", json={}, headers=bearer)
        assert asked.status_code == 202, asked.json
        answer = app.test_client().get(asked.headers["Location"], headers=bearer)
        [line] = answer.json["export"]["witnesses"]
        assert line.startswith("Witness witness.test/down") and "not reachable" in line
        # Listed exports carry no such field: it is the export job's alone.
        listed = app.test_client().get(
            "/api/v1/exports", headers={"Authorization": f"Bearer {token}"}
        )
        assert "witnesses" not in listed.json["items"][0]
    finally:
        app.extensions["registry.db"].dispose()


def test_a_signing_commit_queues_a_job_and_the_schedule_catches_up(
    database_url, tmp_path, witnesses
):
    instance = tmp_path / "instance"
    signer = create_key(instance / "ledger-signing.key", ORIGIN)
    w1, c1, _ = witnesses("witness.test/one", [signer.verifier_key])
    w2, c2, _ = witnesses("witness.test/two", [signer.verifier_key])
    app = make_app(
        database_url,
        instance,
        **NO_AUTOMATIC_CHECKPOINTS,
        WITNESSES=f"{w1.url}={c1.vkey}",
        JOBS_BACKEND="sqlite",
        JOBS_URL=str(tmp_path / "jobs.sqlite3"),
    )
    huey = job_queue(app).huey
    try:
        _write(app, 2)
        assert huey.pending_count() == 0  # no checkpoint signed: nothing queued
        with app.app_context():
            session = db_session()
            size = make_checkpoint(session, signer).tree_size
            session.commit()
        # The commit queued the witnesses' job; the witness is asked only when it runs.
        [job] = huey.pending()
        assert job.name == "registry.witness"
        assert _rows(app, "witness.test/one") == []
        huey.execute(huey.dequeue())
        [(tree_size, refused, _line)] = _rows(app, "witness.test/one")
        assert (tree_size, refused) == (size, False)

        # A witness added since (or down then) gets the newest checkpoint from the
        # schedule; one that cosigned it is not asked again.
        app.config["WITNESSES"] = f"{w1.url}={c1.vkey} {w2.url}={c2.vkey}"
        [outcome] = job_queue(app).witnesses_behind()
        assert outcome.result == "cosigned"
        assert [r.tree_size for r in _rows(app, "witness.test/two")] == [size]
        assert job_queue(app).witnesses_behind() == []
        assert len(_rows(app, "witness.test/one")) == 1
        assert huey.pending_count() == 0
    finally:
        app.extensions["registry.db"].dispose()
