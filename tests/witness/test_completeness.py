"""A forged map of the systems' last events: the operator, who holds the registry's
key and the database, leaves a system's last version out of its pack and signs a
checkpoint over a map that says so. Under the registry's key alone it verifies (the
limit docs/evidence-format.md states); a witness that cosigned the real checkpoint
does not vouch for the forged one, so it fails under the witness's key."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.evidence import verifier
from registry.extensions import db_session
from registry.ledger.chain import seal_event
from registry.ledger.checkpoints import last_checkpoint, sign_body
from registry.ledger.keys import create_key
from registry.ledger.merkle import inclusion_proof, leaf_hash, root_from_leaf_hashes
from registry.ledger.models import AuditEvent
from registry.ledger.note import Checkpoint as Body
from registry.ledger.note import format_body
from registry.ledger.store import systems_map
from registry.records import writes
from tests.conftest import make_app
from tests.evidence.test_tampering import resign, write
from tests.records.samples import SAMPLES

ORIGIN = "registry.test/witnessed"


def _forge(files: dict[str, bytes], session, signer, system_id: int, dropped: dict) -> None:
    """Leave out event ``dropped`` (the system's last, the only version of its entry),
    and put in a map, a tree and a checkpoint that agree."""
    manifest = json.loads(files["manifest.json"])
    size = manifest["checkpoint"]["tree_size"]
    seq = dropped["seq"]
    rows = session.execute(
        sa.select(AuditEvent.seq, AuditEvent.event).where(AuditEvent.seq < size).order_by("seq")
    ).all()
    real_map = json.loads(session.get(AuditEvent, size).event)
    forged = systems_map(session, size, real_map["systems"])
    forged.note(system_id, dropped["system_prev"])
    fields = {k: v for k, v in real_map.items() if k not in ("v", "seq", "prev_hash")}
    fields["root"] = forged.root().hex()
    map_event = seal_event(size, real_map["prev_hash"], fields).event
    leaves = [leaf_hash(bytes(e)) for _, e in rows] + [leaf_hash(map_event)]
    root = root_from_leaf_hashes(leaves)
    note = sign_body(format_body(Body(ORIGIN, size, root)), [signer])
    real_note = files["ledger/checkpoint.txt"].decode()
    cosignatures = real_note.split("\n\n", 1)[1].splitlines(keepends=True)[1:]
    files["ledger/checkpoint.txt"] = (note + "".join(cosignatures)).encode()
    manifest["checkpoint"]["root_hash"] = root.hex()
    files["manifest.json"] = json.dumps(manifest).encode()
    lines = [
        line for line in files["ledger/events.jsonl"].splitlines() if json.loads(line)["seq"] != seq
    ]
    files["ledger/events.jsonl"] = b"".join(line + b"\n" for line in lines)
    proofs = json.loads(files["ledger/proofs.json"])
    proofs["root_hash"] = root.hex()
    proofs["proofs"] = [
        {"seq": p["seq"], "path": [h.hex() for h in inclusion_proof(leaves, p["seq"] - 1)]}
        for p in proofs["proofs"]
        if p["seq"] != seq
    ]
    files["ledger/proofs.json"] = json.dumps(proofs).encode()
    proven = json.loads(files["ledger/completeness.json"])
    proven["map"] = {
        "seq": size,
        "event": map_event.decode(),
        "path": [h.hex() for h in inclusion_proof(leaves, size - 1)],
    }
    entry = proven["systems"][0]
    entry["last_seq"] = dropped["system_prev"]
    entry["path"] = [h.hex() for h in forged.proof(system_id)]
    files["ledger/completeness.json"] = json.dumps(proven).encode()
    reference = entry["system"]
    name = f"systems/{reference}/history.json"
    history = json.loads(files[name])
    history["entries"] = [e for e in history["entries"] if e["entry_id"] != dropped["entry_id"]]
    files[name] = json.dumps(history).encode()
    name = f"systems/{reference}/state.json"
    state = json.loads(files[name])
    state["entries"] = [e for e in state["entries"] if e["entry_id"] != dropped["entry_id"]]
    files[name] = json.dumps(state).encode()
    name = f"systems/{reference}/readiness.json"
    scorecard = json.loads(files[name])
    for area in scorecard["areas"]:
        for criterion in area["criteria"]:
            criterion["evidence"] = [
                e for e in criterion["evidence"] if e["entry_id"] != dropped["entry_id"]
            ]
    files[name] = json.dumps(scorecard).encode()
    index = json.loads(files["index.json"])
    row = index["systems"][0]
    row["entries"] -= 1
    row["versions"] -= 1
    row["live_entries"] -= 1
    files["index.json"] = json.dumps(index).encode()


def test_a_forged_map_fails_under_the_witness_key(database_url, tmp_path, witnesses):
    instance = tmp_path / "instance"
    signer = create_key(instance / "ledger-signing.key", ORIGIN)
    served, cosigner, _ = witnesses("witness.test/one", [signer.verifier_key])
    app = make_app(
        database_url,
        instance,
        CHECKPOINT_EVERY_EVENTS=1000,
        WITNESSES=f"{served.url}={cosigner.vkey}",
    )
    try:
        files, args, witnessed = _export_and_forge(app, signer, cosigner, tmp_path)
    finally:
        app.extensions["registry.db"].dispose()
    resign(files, signer)
    forged = write(tmp_path / "forged.zip", files)
    # The operator's key alone vouches for the forged tree: it "verifies", complete.
    assert verifier.main([str(forged), *args]) == verifier.VERIFIED
    # The witness cosigned the real checkpoint, not this one.
    assert verifier.main([str(forged), *witnessed]) == verifier.FAILED


def _export_and_forge(app, signer, cosigner, tmp_path):
    """A system with four versions, a cosigned checkpoint, its pack (verified with the
    witness's key), then the pack forged to leave the last version out."""
    runner = app.test_cli_runner()
    with app.app_context():
        session = db_session()
        actor = Actor.system("test")
        system, _ = writes.create_system(
            session, actor, {"name": "S", "reference": "s-1", "stage": "pilot"}
        )
        for i in range(3):
            writes.create_entry(
                session, actor, system, "change_log", {**SAMPLES["change_log"], "summary": f"{i}"}
            )
        session.commit()
        result = runner.invoke(args=["ledger", "checkpoint"])
        assert result.exit_code == 0 and ": cosigned: tree of" in result.output, result.output
        latest = last_checkpoint(session)
        result = runner.invoke(args=["export", "s-1", "--as-of", latest.created_at.isoformat()])
        assert result.exit_code == 0, result.output
        pack = Path(result.output.strip().splitlines()[-1])
        with zipfile.ZipFile(pack) as z:
            files = {name: z.read(name) for name in z.namelist()}
        pubkey = tmp_path / "registry.pub"
        pubkey.write_text(signer.verifier_key + "\n")
        args = ["--pubkey", str(pubkey)]
        witnessed = [*args, "--witness-key", cosigner.vkey]
        assert verifier.main([str(pack), *witnessed]) == verifier.VERIFIED
        last = json.loads(
            session.scalar(
                sa.select(AuditEvent.event)
                .where(AuditEvent.system_id == system.id, AuditEvent.seq < latest.tree_size)
                .order_by(AuditEvent.seq.desc())
                .limit(1)
            )
        )
        _forge(files, session, signer, system.id, last)
        session.close()
    return files, args, witnessed
