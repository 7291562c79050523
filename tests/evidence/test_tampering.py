"""Every kind of tampering with a pack fails verification and names what failed.

Some tampering is done by someone who cannot sign (the manifest no longer matches);
some by someone who re-signs the manifest with the registry's own key after editing,
which shows that the deeper checks (proofs, chain, replay) catch it on their own.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.evidence import verifier
from registry.evidence.pack import sign_statement
from registry.ledger.checkpoints import settings_of, sign_body
from registry.ledger.keys import Signer
from tests.evidence.conftest import ORIGIN, do_export, members

Files = dict[str, bytes]


def write(path: Path, files: Files) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def resign(files: Files, signer: Signer) -> Files:
    """Recompute the manifest's digests and sign it again with ``signer``."""
    manifest = json.loads(files["manifest.json"])
    special = {"manifest.json", "manifest.sig", "evidence.pdf"}
    manifest["files"] = {
        n: hashlib.sha256(d).hexdigest() for n, d in sorted(files.items()) if n not in special
    }
    files["manifest.json"] = (json.dumps(manifest, sort_keys=True, indent=2) + "\n").encode()
    statement = (
        f"{manifest['origin']}\nevidence pack\n"
        f"manifest.json sha256:{hashlib.sha256(files['manifest.json']).hexdigest()}\n"
        f"evidence.pdf sha256:{hashlib.sha256(files['evidence.pdf']).hexdigest()}\n"
    )
    files["manifest.sig"] = sign_statement(statement, signer).encode()
    return files


def check(path: Path, capsys: pytest.CaptureFixture[str], *keys: str) -> tuple[int, str]:
    args = [str(path)]
    for i, key in enumerate(keys):
        key_file = path.with_suffix(f".key{i}")
        key_file.write_text(key + "\n")
        args += ["--pubkey", str(key_file)]
    code = verifier.main(args)
    return code, capsys.readouterr().out


@pytest.fixture
def pack(app, examples) -> tuple[Files, Signer, Path]:
    # Two systems' events interleave, so the pack's events are not all consecutive.
    done = do_export(app, examples, "demo-benefits-triage")
    return members(done.path), settings_of(examples).signer, done.path.parent


def test_the_untouched_pack_verifies(pack, tmp_path, capsys):
    files, signer, _ = pack
    code, out = check(write(tmp_path / "ok.zip", files), capsys, signer.verifier_key)
    assert code == 0 and out.startswith("VERIFIED")


def test_a_changed_byte_in_any_file_is_named(pack, tmp_path, capsys):
    files, signer, _ = pack
    for name in sorted(files):
        changed = dict(files)
        data = bytearray(changed[name])
        data[len(data) // 2] ^= 0x01
        changed[name] = bytes(data)
        code, out = check(write(tmp_path / "changed.zip", changed), capsys, signer.verifier_key)
        assert code == 1, name
        assert out.startswith("FAILED "), out
        named = out.split()[1].rstrip(":")
        # A changed manifest or PDF breaks the signature over their digests; any other
        # file no longer matches its digest in the manifest.
        assert (
            named in {name, "manifest.sig", "manifest.json"}
            if name
            in {
                "manifest.json",
                "manifest.sig",
            }
            else named == name
        ), (name, out)


def test_a_removed_or_added_file_is_named(pack, tmp_path, capsys):
    files, signer, _ = pack
    for name in sorted(files):
        fewer = {n: d for n, d in files.items() if n != name}
        code, out = check(write(tmp_path / "fewer.zip", fewer), capsys)
        assert code == 1 and name in out, (name, out)
    more = {**files, "systems/demo-benefits-triage/extra.json": b"{}"}
    code, out = check(write(tmp_path / "more.zip", more), capsys)
    assert code == 1 and "extra.json: is in the pack but not in the manifest" in out


def _lines(files: Files) -> list[bytes]:
    return files["ledger/events.jsonl"].splitlines()


def _set_lines(files: Files, lines: list[bytes]) -> None:
    files["ledger/events.jsonl"] = b"".join(line + b"\n" for line in lines)


Tamper = Callable[[Files], None]


def swap_events(files: Files) -> None:
    lines = _lines(files)
    lines[3], lines[7] = lines[7], lines[3]
    _set_lines(files, lines)


def proof_of_another_event(files: Files) -> None:
    proofs = json.loads(files["ledger/proofs.json"])
    proofs["proofs"][5]["path"] = proofs["proofs"][6]["path"]
    files["ledger/proofs.json"] = json.dumps(proofs).encode()


def changed_event(files: Files) -> None:
    lines = _lines(files)
    assert b'"v":2,' in lines[4]
    lines[4] = lines[4].replace(b'"v":2,', b'"v":3,')
    _set_lines(files, lines)


def removed_event_and_version(files: Files) -> None:
    lines = _lines(files)
    gone = json.loads(lines[-1])
    _set_lines(files, lines[:-1])
    proofs = json.loads(files["ledger/proofs.json"])
    proofs["proofs"] = proofs["proofs"][:-1]
    files["ledger/proofs.json"] = json.dumps(proofs).encode()
    name = "systems/demo-benefits-triage/history.json"
    history = json.loads(files[name])
    for entry in history["entries"]:
        entry["versions"] = [v for v in entry["versions"] if v["audit_seq"] != gone["seq"]]
    history["entries"] = [e for e in history["entries"] if e["versions"]]
    files[name] = json.dumps(history).encode()


def edited_version_body(files: Files) -> None:
    name = "systems/demo-benefits-triage/history.json"
    history = json.loads(files[name])
    version = history["entries"][1]["versions"][0]
    version["body"] = version["body"].replace('"', '"', 1)[:-1] + ',"x":1}'
    version["body_sha256"] = hashlib.sha256(version["body"].encode()).hexdigest()
    files[name] = json.dumps(history).encode()


def stated_state_differs(files: Files) -> None:
    name = "systems/demo-benefits-triage/state.json"
    state = json.loads(files[name])
    state["entries"][0]["body"]["name"] = "Something else"
    files[name] = json.dumps(state).encode()


def dropped_version_kept_event(files: Files) -> None:
    name = "systems/demo-benefits-triage/history.json"
    history = json.loads(files[name])
    history["entries"] = history["entries"][:-1]
    files[name] = json.dumps(history).encode()


CASES: dict[str, tuple[Tamper, str]] = {
    "swapped events": (swap_events, "ledger/events.jsonl: event"),
    "a proof for another event": (proof_of_another_event, "inclusion proof fails"),
    "a changed event": (changed_event, "inclusion proof fails"),
    # The system's chain of events runs from the map's last event through it.
    "an event and its version removed": (
        removed_event_and_version,
        "chain of events is not in the pack",
    ),
    "an edited version": (edited_version_body, "history.json: entry"),
    "a stated state that replay does not give": (stated_state_differs, "state.json: entry"),
    "a version missing for its event": (dropped_version_kept_event, "ledger/events.jsonl: event"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tampering_caught_even_when_the_manifest_is_signed_again(pack, tmp_path, capsys, case):
    files, signer, _ = pack
    tamper, named = CASES[case]
    changed = dict(files)
    tamper(changed)
    resign(changed, signer)
    code, out = check(write(tmp_path / "t.zip", changed), capsys, signer.verifier_key)
    print(case, "->", out)
    assert code == 1, out
    assert named in out, out


def test_a_manifest_signed_with_another_key_fails(pack, tmp_path, capsys):
    files, signer, _ = pack
    other = Signer(ORIGIN, Ed25519PrivateKey.generate())
    forged = resign(dict(files), other)
    code, out = check(write(tmp_path / "forged.zip", forged), capsys)
    assert code == 1 and "manifest.sig: no signature by a trusted key" in out
    # Forging everything (keys.txt and the checkpoint too) fools only a verifier that
    # trusts the pack's own keys; with the registry's published key it fails.
    forged["keys.txt"] = (other.verifier_key + "\n").encode()
    body = forged["ledger/checkpoint.txt"].decode().split("\n\n")[0] + "\n"
    forged["ledger/checkpoint.txt"] = sign_body(body, [other]).encode()
    resign(forged, other)
    path = write(tmp_path / "forged-all.zip", forged)
    code, out = check(path, capsys)
    assert code == verifier.UNPINNED and "VERIFIED" not in out, out
    assert out.startswith("UNPINNED ")
    code, out = check(path, capsys, signer.verifier_key)
    assert code == 1 and "manifest.sig: no signature by a trusted key" in out


def test_unreadable_input_exits_2(tmp_path, capsys):
    assert verifier.main([str(tmp_path / "missing.zip")]) == 2
    (tmp_path / "not.zip").write_bytes(b"not a zip")
    assert verifier.main([str(tmp_path / "not.zip")]) == 2
    assert "cannot read the pack" in capsys.readouterr().err


def test_the_verifier_needs_only_the_standard_library_and_cryptography():
    source = Path(verifier.__file__).read_text()
    imports = {
        line.split()[1].split(".")[0]
        for line in source.splitlines()
        if line.startswith(("import ", "from "))
    }
    assert imports <= {
        "__future__",
        "argparse",
        "base64",
        "binascii",
        "collections",
        "datetime",
        "hashlib",
        "json",
        "os",
        "re",
        "sys",
        "zipfile",
        "zlib",
        "dataclasses",
        "typing",
        "cryptography",
    }, imports
