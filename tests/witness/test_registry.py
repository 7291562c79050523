"""The registry submitting its checkpoints to two witnesses (real HTTP servers), storing
and serving their cosignatures, and a refusal (fork, rollback) raising the alarm."""

from __future__ import annotations

import itertools
import json
import zipfile
from pathlib import Path

import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.accounts.service import create_token, create_user
from registry.extensions import db_session
from registry.ledger.checkpoints import last_checkpoint
from registry.ledger.cosignature import verify_cosignatures
from registry.ledger.keys import create_key
from registry.ledger.models import Checkpoint, WitnessCosignature
from registry.ledger.note import Checkpoint as Body
from registry.ledger.note import open_checkpoint, sign_checkpoint
from registry.ledger.witnessing import WitnessSpec, parse_witnesses, submit
from registry.records import writes
from registry.witness.state import create_witness_key
from tests.conftest import append_only_lifted, csrf_token, make_app
from tests.records.samples import SAMPLES
from tests.serving import free_port

ORIGIN = "registry.test/witnessed"
PASSWORD = "a long enough test password"


REFERENCES = itertools.count(1)
# Checkpoints only on demand (`ledger checkpoint`, exports): none signed by the writes,
# so nothing is submitted in the background (tests/witness/test_submission.py does).
NO_AUTOMATIC_CHECKPOINTS = {"CHECKPOINT_EVERY_EVENTS": 1000, "CHECKPOINT_EVERY_SECONDS": 1e9}


def _write(app, count):
    with app.app_context():
        session = db_session()
        actor = Actor.system("test")
        system, _ = writes.create_system(
            session, actor, {"name": "S", "reference": f"s-{next(REFERENCES)}", "stage": "pilot"}
        )
        for i in range(count):
            writes.create_entry(
                session, actor, system, "change_log", {**SAMPLES["change_log"], "summary": f"c{i}"}
            )
        session.commit()


def test_witnessed_checkpoints_and_a_fork(database_url, tmp_path, witnesses):
    instance = tmp_path / "instance"
    signer = create_key(instance / "ledger-signing.key", ORIGIN)
    w1, c1, _ = witnesses("witness.test/one", [signer.verifier_key])
    w2, c2, _ = witnesses("witness.test/two", [signer.verifier_key])
    setting = f"{w1.url}={c1.vkey} {w2.url}={c2.vkey}"
    app = make_app(database_url, instance, **NO_AUTOMATIC_CHECKPOINTS, WITNESSES=setting)
    runner = app.test_cli_runner()
    try:
        _write(app, 3)
        result = runner.invoke(args=["ledger", "checkpoint"])
        assert result.exit_code == 0, result.output
        assert result.output.count(": cosigned: tree of") == 2, (result.output, result.stderr)
        _write(app, 4)
        result = runner.invoke(args=["ledger", "checkpoint"])  # with a consistency proof
        assert result.output.count(": cosigned: tree of") == 2, result.output
        with app.app_context():
            session = db_session()
            latest = last_checkpoint(session)
            rows = session.scalars(sa.select(WitnessCosignature)).all()
            assert len(rows) == 4 and not any(r.refused for r in rows)
            assert {r.tree_size for r in rows} == {latest.tree_size, rows[0].tree_size}
            admin = Actor.system("test", roles=frozenset({"admin"}))
            user, _ = create_user(session, admin, "aud@example.org", ["auditor"], PASSWORD)
            _, token = create_token(session, admin, user, scopes=("read",))
            session.commit()

        # Served with the checkpoint: the note carries both cosignatures.
        answer = app.test_client().get(
            "/api/v1/ledger/checkpoints/latest", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, answer.json
        served = answer.json
        assert [c["witness"] for c in served["cosignatures"]] == [
            "witness.test/one",
            "witness.test/two",
        ]
        assert served["note"].startswith(latest.note)
        assert len(verify_cosignatures(served["note"], [c1, c2])) == 2
        open_checkpoint(served["note"], [signer.verifier_key])  # unknown lines ignored
        assert runner.invoke(args=["ledger", "verify"]).exit_code == 0

        # A pack pinned to the cosigned checkpoint carries the cosignatures, and verifies.
        as_of = latest.created_at.isoformat()
        result = runner.invoke(args=["export", "--all", "--as-of", as_of])
        assert result.exit_code == 0, result.output
        pack = Path(result.output.strip().splitlines()[-1])
        with zipfile.ZipFile(pack) as z:
            note = z.read("ledger/checkpoint.txt").decode()
        assert note == served["note"] and len(verify_cosignatures(note, [c1, c2])) == 2
        pubkey = tmp_path / "registry.pub"
        pubkey.write_text(signer.verifier_key + "\n")
        result = runner.invoke(args=["verify-pack", str(pack), "--pubkey", str(pubkey)])
        assert result.exit_code == 0 and "VERIFIED" in result.output, result.output
        both = ["--witness-key", c1.vkey, "--witness-key", c2.vkey]
        result = runner.invoke(args=["verify-pack", str(pack), "--pubkey", str(pubkey), *both])
        assert result.exit_code == 0 and "cosigned by witness witness.test/two" in result.output
        stranger = create_witness_key(tmp_path / "stranger.key", "witness.test/three")
        args = ["verify-pack", str(pack), "--pubkey", str(pubkey), "--witness-key"]
        result = runner.invoke(args=[*args, stranger.cosigner.vkey])
        assert result.exit_code == 1 and "no cosignature by witness witness.test/three" in (
            result.output
        )

        # A stale record of what a witness cosigned (its answer was lost: the transaction
        # storing it rolled back): 409 with the size it cosigned, and the retry succeeds.
        _write(app, 1)
        app.config["WITNESSES"] = f"{w2.url}={c2.vkey}"
        assert "cosigned" in runner.invoke(args=["ledger", "checkpoint"]).output
        app.config["WITNESSES"] = setting
        with app.app_context():
            session = db_session()
            newer = last_checkpoint(session)
            lost = submit(session, parse_witnesses(setting)[0], newer)
            assert lost.result == "cosigned"
            session.rollback()
        result = runner.invoke(args=["ledger", "witness"])
        assert result.output.count(": cosigned:") == 2, result.output
        latest = newer

        # A witness that is down is reported, not fatal.
        down = f"http://127.0.0.1:{free_port()}={c1.vkey}"
        app.config["WITNESSES"] = down
        result = runner.invoke(args=["ledger", "witness"])
        assert result.exit_code == 0 and "not reachable" in result.output
        app.config["WITNESSES"] = setting

        # A fork: another tree of the same size, signed with the registry's own key.
        with app.app_context():
            session = db_session()
            spec = parse_witnesses(setting)[0]
            latest = last_checkpoint(session)
            forged = sign_checkpoint(
                Body(ORIGIN, latest.tree_size, b"\x01" * 32), ORIGIN, signer.private_key
            )
            outcome = submit(session, spec, latest, note=forged)
            session.commit()
            assert outcome.result == "refused" and "different root" in outcome.message
        result = runner.invoke(args=["ledger", "verify"])
        assert result.exit_code == 1
        assert result.output.splitlines()[-1].startswith("ALARM: witness witness.test/one")

        # Exports say so: the manifest carries the alarm and the verifier repeats it.
        result = runner.invoke(args=["export", "--all", "--as-of", as_of])
        pack = Path(result.output.strip().splitlines()[-1])
        with zipfile.ZipFile(pack) as z:
            manifest = json.loads(z.read("manifest.json"))
        assert manifest["witness_alarms"][0].startswith("ALARM: witness witness.test/one")
        result = runner.invoke(args=["verify-pack", str(pack), "--pubkey", str(pubkey)])
        assert result.exit_code == 0 and "WARNING: the registry recorded 1 witness" in result.output

        client = app.test_client()
        client.post(
            "/login",
            data={
                "email": "aud@example.org",
                "password": PASSWORD,
                "csrf_token": csrf_token(client),
            },
        )
        page = client.get("/ledger/")
        assert page.status_code == 200
        assert "ALARM: witness witness.test/one" in page.text and 'role="alert"' in page.text
        assert "<code>witness.test/two</code>" in page.text and w2.url in page.text
    finally:
        app.extensions["registry.db"].dispose()


def test_rollback_is_refused(database_url, tmp_path, witnesses):
    instance = tmp_path / "instance"
    signer = create_key(instance / "ledger-signing.key", ORIGIN)
    w1, c1, _ = witnesses("witness.test/one", [signer.verifier_key])
    setting = f"{w1.url}={c1.vkey}"
    app = make_app(database_url, instance, **NO_AUTOMATIC_CHECKPOINTS, WITNESSES=setting)
    runner = app.test_cli_runner()
    try:
        _write(app, 2)
        assert "cosigned" in runner.invoke(args=["ledger", "checkpoint"]).output
        _write(app, 2)
        assert "cosigned" in runner.invoke(args=["ledger", "checkpoint"]).output
        # The newest checkpoint and the record of its cosignature deleted (the triggers
        # lifted, as a table owner could): the older checkpoint is submitted, and the
        # witness's larger tree is one the ledger no longer has a checkpoint of.
        with app.app_context():
            session = db_session()
            newest = last_checkpoint(session)
            with append_only_lifted(session, "witness_cosignature"):
                session.execute(sa.delete(WitnessCosignature))
            with append_only_lifted(session, "checkpoint"):
                session.execute(sa.delete(Checkpoint).where(Checkpoint.id == newest.id))
            spec: WitnessSpec = parse_witnesses(setting)[0]
            outcome = submit(session, spec, last_checkpoint(session))
            session.commit()
        assert outcome.result == "refused" and outcome.message.startswith("rollback")
        result = runner.invoke(args=["ledger", "verify"])
        assert result.exit_code == 1 and "witness.test/one" in result.output
    finally:
        app.extensions["registry.db"].dispose()


def test_status_page_without_witnesses_and_with_a_bad_setting(app, login_as):
    client = login_as("auditor")
    page = client.get("/ledger/")
    assert page.status_code == 200 and "No witness is configured" in page.text
    app.config["WITNESSES"] = "http://w.example=not-a-key"
    page = client.get("/ledger/")
    assert page.status_code == 200 and "REGISTRY_WITNESSES: witness http://w.example" in page.text
