"""A system's pack proves that it holds every version of the system recorded by its
as-of instant (ledger/completeness.json): even re-signed with the registry's own key,
a pack that leaves a version out (with its event and proof) fails."""

from __future__ import annotations

import datetime as dt
import json

from registry.accounts.actor import Actor
from registry.evidence import verifier
from registry.ledger.checkpoints import settings_of
from registry.records import reads, writes
from tests.evidence.conftest import do_export, members
from tests.evidence.test_tampering import check, resign, write
from tests.records.samples import SAMPLES

SYSTEM = "demo-benefits-triage"
OFFICER = Actor.system("officer", roles=frozenset({"compliance_officer"}))


def _cited(files) -> set[int]:
    scorecard = json.loads(files[f"systems/{SYSTEM}/readiness.json"])
    cited = set()
    for area in scorecard["areas"]:
        if area.get("waiver"):
            cited.add(area["waiver"]["entry_id"])
        for criterion in area["criteria"]:
            cited |= {e["entry_id"] for e in criterion["evidence"]}
    return cited


def _without_entry(files) -> dict[str, bytes]:
    """The pack with one entry left out everywhere (its versions, their events and
    proofs, its state, the index's counts), consistent but for completeness."""
    files = dict(files)
    name = f"systems/{SYSTEM}/history.json"
    history = json.loads(files[name])
    cited = _cited(files)
    entry = next(
        e
        for e in reversed(history["entries"])
        if e["kind"] != "profile" and e["entry_id"] not in cited
    )
    history["entries"].remove(entry)
    files[name] = json.dumps(history).encode()
    gone = {v["audit_seq"] for v in entry["versions"]}
    lines = files["ledger/events.jsonl"].splitlines()
    kept = [line for line in lines if json.loads(line)["seq"] not in gone]
    files["ledger/events.jsonl"] = b"".join(line + b"\n" for line in kept)
    proofs = json.loads(files["ledger/proofs.json"])
    proofs["proofs"] = [p for p in proofs["proofs"] if p["seq"] not in gone]
    files["ledger/proofs.json"] = json.dumps(proofs).encode()
    name = f"systems/{SYSTEM}/state.json"
    state = json.loads(files[name])
    live = [e for e in state["entries"] if e["entry_id"] == entry["entry_id"]]
    state["entries"] = [e for e in state["entries"] if e["entry_id"] != entry["entry_id"]]
    files[name] = json.dumps(state).encode()
    index = json.loads(files["index.json"])
    row = index["systems"][0]
    row["entries"] -= 1
    row["versions"] -= len(entry["versions"])
    row["live_entries"] -= len(live)
    files["index.json"] = json.dumps(index).encode()
    return files


def test_a_system_pack_and_a_registry_pack_are_complete(app, examples, tmp_path, capsys):
    key = settings_of(examples).signer.verifier_key
    done = do_export(app, examples, SYSTEM)
    history = json.loads(members(done.path)[f"systems/{SYSTEM}/history.json"])
    assert sum(len(e["versions"]) for e in history["entries"]) > 3
    code, out = check(done.path, capsys, key)
    assert code == 0 and "1 system(s) COMPLETE" in out, out
    whole = do_export(app, examples)
    files = members(whole.path)
    proven = json.loads(files["ledger/completeness.json"])
    assert "last_seqs" in proven and all("path" not in s for s in proven["systems"])
    code, out = check(whole.path, capsys, key)
    systems = len(json.loads(files["manifest.json"])["scope"]["systems"])
    assert code == 0 and f"{systems} system(s) COMPLETE" in out, out


def test_a_version_left_out_with_its_event_and_proof_fails(
    app, examples, tmp_path, capsys, monkeypatch
):
    signer = settings_of(examples).signer
    files = _without_entry(members(do_export(app, examples, SYSTEM).path))
    resign(files, signer)
    path = write(tmp_path / "fewer.zip", files)
    code, out = check(path, capsys, signer.verifier_key)
    assert code == verifier.FAILED
    assert out.startswith("FAILED ledger/completeness.json: demo-benefits-triage: event ")
    assert "of the system's chain of events is not in the pack" in out
    # Every other check passes: completeness alone tells.
    monkeypatch.setattr(verifier, "_verify_completeness", lambda *args: None)
    code, out = check(path, capsys, signer.verifier_key)
    assert code == verifier.VERIFIED, out


def test_the_later_events_link_the_map_to_the_as_of_instant(app, examples, tmp_path, capsys):
    """Events of the system after the as-of instant and before the checkpoint's map
    are carried as links only; leaving one out fails."""
    signer = settings_of(examples).signer
    as_of = dt.datetime.now(dt.UTC)
    system = reads.get_system(examples, SYSTEM)
    for i in range(2):
        writes.create_entry(
            examples, OFFICER, system, "change_log", {**SAMPLES["change_log"], "summary": f"l{i}"}
        )
        examples.commit()
    done = do_export(app, examples, SYSTEM, as_of=as_of)
    files = members(done.path)
    proven = json.loads(files["ledger/completeness.json"])
    later = proven["later_events"]
    assert len(later) == 2 and all(e["seq"] > done.events for e in later)
    code, out = check(done.path, capsys, signer.verifier_key)
    assert code == 0 and "1 system(s) COMPLETE" in out, out
    proven["later_events"] = later[1:]
    files["ledger/completeness.json"] = json.dumps(proven).encode()
    resign(files, signer)
    code, out = check(write(tmp_path / "unlinked.zip", files), capsys, signer.verifier_key)
    assert code == verifier.FAILED
    assert f"event {later[0]['seq']} of the system's chain of events is not in the pack" in out


def test_a_leaf_that_is_not_in_the_signed_map_fails(app, examples, tmp_path, capsys):
    signer = settings_of(examples).signer
    files = members(do_export(app, examples, SYSTEM).path)
    proven = json.loads(files["ledger/completeness.json"])
    proven["systems"][0]["last_seq"] -= 1
    files["ledger/completeness.json"] = json.dumps(proven).encode()
    resign(files, signer)
    code, out = check(write(tmp_path / "leaf.zip", files), capsys, signer.verifier_key)
    assert code == verifier.FAILED and "its leaf is not in the map" in out


def test_a_pack_that_cannot_prove_it_is_complete_fails_when_completeness_is_required(
    app, examples, tmp_path, capsys
):
    """A pack whose map is withheld (as from a ledger older than the maps) is NOT
    PROVEN complete: said, not failed, unless the auditor requires completeness."""
    signer = settings_of(examples).signer
    files = members(do_export(app, examples, SYSTEM).path)
    files["ledger/completeness.json"] = json.dumps({"map": None}).encode()
    resign(files, signer)
    path = write(tmp_path / "unproven.zip", files)
    code, out = check(path, capsys, signer.verifier_key)
    assert code == verifier.VERIFIED and "completeness NOT PROVEN" in out, out
    key_file = tmp_path / "registry.keys"
    key_file.write_text(signer.verifier_key + "\n")
    code = verifier.main([str(path), "--pubkey", str(key_file), "--require-complete"])
    out = capsys.readouterr().out
    assert code == verifier.FAILED, out
    assert out.startswith("FAILED completeness: completeness NOT PROVEN: the checkpoint predates")
    result = app.test_cli_runner().invoke(
        args=["verify-pack", str(path), "--pubkey", str(key_file), "--require-complete"]
    )
    assert result.exit_code == verifier.FAILED, result.output
    result = app.test_cli_runner().invoke(
        args=[
            "verify-pack",
            str(do_export(app, examples, SYSTEM).path),
            "--pubkey",
            str(key_file),
            "--require-complete",
        ]
    )
    assert result.exit_code == verifier.VERIFIED, result.output
