"""An auditor who kept a checkpoint from before (an older pack's, the monitor's) proves
that a newer pack's checkpoint extends it: ``verify-pack --known-checkpoint FILE
--consistency-proof FILE``, with the proof the registry serves. A rewritten ledger, a
forged proof or a fork of the same size fails."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.accounts.actor import Actor
from registry.evidence import verifier
from registry.ledger.checkpoints import settings_of, sign_body
from registry.ledger.keys import Signer
from registry.ledger.note import Checkpoint as CheckpointBody
from registry.ledger.note import format_body
from registry.records import reads, writes
from tests.api import conftest as api_fixtures
from tests.evidence.conftest import do_export, members
from tests.records.samples import SAMPLES

api_as = api_fixtures.api_as
SYSTEM = "demo-benefits-triage"
OFFICER = Actor.system("officer", roles=frozenset({"compliance_officer"}))


def _verify(tmp_path, capsys, pack, key, *extra: str) -> tuple[int, str]:
    key_file = tmp_path / "registry.keys"
    key_file.write_text(key + "\n")
    code = verifier.main([str(pack), "--pubkey", str(key_file), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _older_and_newer(app, examples, tmp_path):
    older = do_export(app, examples, SYSTEM)
    known = tmp_path / "known-checkpoint.txt"
    known.write_bytes(members(older.path)["ledger/checkpoint.txt"])
    system = reads.get_system(examples, SYSTEM)
    for i in range(3):
        body = {**SAMPLES["change_log"], "summary": f"later change {i}"}
        writes.create_entry(examples, OFFICER, system, "change_log", body)
        examples.commit()
    newer = do_export(app, examples, SYSTEM)
    assert newer.tree_size > older.tree_size
    return older, newer, known


def test_a_newer_pack_extends_the_checkpoint_the_auditor_kept(
    app, examples, api_as, tmp_path, capsys
):
    key = settings_of(examples).signer.verifier_key
    older, newer, known = _older_and_newer(app, examples, tmp_path)

    # Without the proof it cannot be shown: said, and failed.
    code, out = _verify(tmp_path, capsys, newer.path, key, "--known-checkpoint", str(known))
    assert code == verifier.FAILED
    assert f"consistency?from={older.tree_size}&to={newer.tree_size}" in out, out

    # With the proof the registry serves to an auditor: verified.
    answer = api_as("auditor").get(
        f"/api/v1/ledger/consistency?from={older.tree_size}&to={newer.tree_size}"
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    proof = tmp_path / "proof.json"
    proof.write_text(answer.get_data(as_text=True))
    args = ("--known-checkpoint", str(known), "--consistency-proof", str(proof))
    code, out = _verify(tmp_path, capsys, newer.path, key, *args)
    assert code == verifier.VERIFIED, out
    assert f"extends the known checkpoint of {older.tree_size} events" in out

    # The older pack against the newer checkpoint: the same proof, the other way round.
    newer_known = tmp_path / "newer-checkpoint.txt"
    newer_known.write_bytes(members(newer.path)["ledger/checkpoint.txt"])
    args = ("--known-checkpoint", str(newer_known), "--consistency-proof", str(proof))
    code, out = _verify(tmp_path, capsys, older.path, key, *args)
    assert code == verifier.VERIFIED and "is an earlier state of the known checkpoint" in out

    # The same pack as the known checkpoint: no proof needed. And the registry's CLI.
    result = app.test_cli_runner().invoke(
        args=[
            "verify-pack",
            str(older.path),
            "--pubkey",
            str(tmp_path / "registry.keys"),
            "--known-checkpoint",
            str(known),
        ]
    )
    assert result.exit_code == verifier.VERIFIED, result.output


def test_a_forged_proof_or_a_fork_fails(app, examples, api_as, tmp_path, capsys):
    signer = settings_of(examples).signer
    older, newer, known = _older_and_newer(app, examples, tmp_path)
    served = api_as("auditor").get(
        f"/api/v1/ledger/consistency?from={older.tree_size}&to={newer.tree_size}"
    )
    proof = served.get_json()
    assert proof["proof"]

    # A proof with one hash changed proves nothing.
    forged = dict(proof, proof=[("00" * 32), *proof["proof"][1:]])
    path = tmp_path / "forged.json"
    path.write_text(json.dumps(forged))
    args = ("--known-checkpoint", str(known), "--consistency-proof", str(path))
    code, out = _verify(tmp_path, capsys, newer.path, signer.verifier_key, *args)
    assert code == verifier.FAILED and "does not prove the tree" in out, out

    # A proof between other sizes, or naming other roots, is not this proof.
    other = dict(proof, to=proof["to"] - 1)
    path.write_text(json.dumps(other))
    code, out = _verify(tmp_path, capsys, newer.path, signer.verifier_key, *args)
    assert code == verifier.FAILED and "is not between trees of" in out, out

    # The registry's own key signing another tree of the pack's size: a fork.
    fork = tmp_path / "fork.txt"
    body = format_body(CheckpointBody(signer.name, newer.tree_size, b"\x01" * 32))
    fork.write_text(sign_body(body, [signer]))
    code, out = _verify(
        tmp_path, capsys, newer.path, signer.verifier_key, "--known-checkpoint", str(fork)
    )
    assert code == verifier.FAILED and "a fork or a rewritten ledger" in out, out

    # A known checkpoint nobody trusted signed is refused.
    intruder = Signer(signer.name, Ed25519PrivateKey.generate())
    body = format_body(CheckpointBody(signer.name, older.tree_size, b"\x02" * 32))
    fork.write_text(sign_body(body, [intruder]))
    code, out = _verify(
        tmp_path, capsys, newer.path, signer.verifier_key, "--known-checkpoint", str(fork)
    )
    assert code == verifier.FAILED and out.startswith("FAILED the known checkpoint"), out

    # An unreadable file: exit 2, one line.
    code, out = _verify(
        tmp_path, capsys, newer.path, signer.verifier_key, "--known-checkpoint", str(tmp_path)
    )
    assert code == verifier.UNREADABLE and len(out.strip().splitlines()) == 1, out
