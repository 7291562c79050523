"""The offline verifier is strict and safe: a pack is VERIFIED only under pinned keys;
signed notes are read exactly as c2sp.org/signed-note says; a hostile ZIP is refused
before it is read, in one line, with bounded memory; a pack zipped again verifies; and
every field of history, state and index is checked against the events.

The packs are real exports (one per engine, reused across this module's tests), edited
and signed again with the registry's own key where a test needs a signature to hold.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import shlex
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.evidence import pack, verifier
from registry.evidence.pack import sign_statement
from registry.ledger.canonical import instant_text
from registry.ledger.checkpoints import settings_of, sign_body
from registry.ledger.keys import Signer
from registry.ledger.note import NoteError, key_id, sign_note
from tests.evidence.conftest import do_export, members

Files = dict[str, bytes]
SYSTEM = "demo-benefits-triage"
HISTORY = f"systems/{SYSTEM}/history.json"
STATE = f"systems/{SYSTEM}/state.json"
INDEX = "index.json"
READINESS = f"systems/{SYSTEM}/readiness.json"
EVENTS = "ledger/events.jsonl"

_PACKS: dict[str, tuple[Files, Signer]] = {}


@pytest.fixture
def real(request: pytest.FixtureRequest, engine_name: str) -> tuple[Files, Signer]:
    """A real pack of one system exported on this engine, and the registry's signer;
    exported once per engine for the module."""
    if engine_name not in _PACKS:
        app = request.getfixturevalue("app")
        examples = request.getfixturevalue("examples")
        done = do_export(app, examples, SYSTEM)
        _PACKS[engine_name] = (members(done.path), settings_of(examples).signer)
    files, signer = _PACKS[engine_name]
    return dict(files), signer


def write(path: Path, files: Files, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def resign(files: Files, signer: Signer) -> Files:
    """Recompute the manifest's digests and sign its statement again with ``signer``."""
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


def raw_signature_line(body: str, signer: Signer) -> str:
    """A signature line made by hand (no format checks on ``body``)."""
    raw = key_id(signer.name, signer.public_key) + signer.private_key.sign(body.encode())
    return f"\u2014 {signer.name} {base64.b64encode(raw).decode()}\n"


def run(path: Path, capsys: pytest.CaptureFixture[str], *keys: str) -> tuple[int, str, str]:
    args = [str(path)]
    for i, key in enumerate(keys):
        key_file = path.with_suffix(f".key{i}")
        key_file.write_text(key + "\n")
        args += ["--pubkey", str(key_file)]
    code = verifier.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def checkpoint_body(files: Files) -> str:
    return files["ledger/checkpoint.txt"].decode().split("\n\n")[0] + "\n"


# --------------------------------------------------------------------- pinned or not


def test_a_pack_forged_under_the_registrys_name_is_never_verified(real, tmp_path, capsys):
    files, signer = real
    # The attacker's own key, under the registry's own name: keys.txt, the checkpoint
    # and the manifest all signed by it, so the pack is consistent in itself.
    attacker = Signer(signer.name, Ed25519PrivateKey.generate())
    forged = dict(files)
    forged["keys.txt"] = (attacker.verifier_key + "\n").encode()
    forged["ledger/checkpoint.txt"] = sign_body(checkpoint_body(files), [attacker]).encode()
    path = write(tmp_path / "forged.zip", resign(forged, attacker))
    code, out, _ = run(path, capsys)
    assert code == verifier.UNPINNED == 3, out
    assert out.startswith(f"UNPINNED {path}") and "VERIFIED" not in out
    assert "not pinned" in out
    code, out, _ = run(path, capsys, signer.verifier_key)
    assert code == verifier.FAILED, out
    assert out.startswith("FAILED manifest.sig: no signature by a trusted key")
    # The untouched pack: exit 3 without a key, VERIFIED with the registry's.
    genuine = write(tmp_path / "genuine.zip", files)
    assert run(genuine, capsys)[0] == 3
    code, out, _ = run(genuine, capsys, signer.verifier_key)
    assert code == 0 and out.startswith("VERIFIED")


def test_the_help_says_what_exit_3_means(capsys):
    with pytest.raises(SystemExit) as exit_:
        verifier.main(["--help"])
    assert exit_.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "3 consistent only under the keys the pack carries (no --pubkey): NOT proof" in text
    assert "--max-member-mb MB each member at most MB MiB uncompressed (default 1024)" in text


# ------------------------------------------------------------------ what the pack is


def verify_as(path: Path, capsys, signer: Signer, *expect: str) -> tuple[int, list[str]]:
    keys = path.with_suffix(".keys")
    keys.write_text(signer.verifier_key + "\n")
    code = verifier.main([str(path), "--pubkey", str(keys), *expect])
    captured = capsys.readouterr()
    assert captured.err == "", captured.err
    return code, captured.out.splitlines()


def test_a_pack_under_another_systems_file_name_fails_the_expected_system(real, tmp_path, capsys):
    files, signer = real
    manifest = json.loads(files["manifest.json"])
    as_of, digest = manifest["as_of"], hashlib.sha256(files["manifest.json"]).hexdigest()
    # The pack of demo-benefits-triage, under the name of a pack of demo-city-chatbot.
    swapped = write(tmp_path / f"evidence-demo-city-chatbot-{as_of[:10]}-{digest[:12]}.zip", files)
    code, out = verify_as(swapped, capsys, signer, "--system", "demo-city-chatbot")
    assert code == verifier.FAILED == 1
    assert out == [
        f"FAILED manifest.json: is the pack of system {SYSTEM} as of {as_of}, not of system "
        "demo-city-chatbot as expected (--system)"
    ]
    # Whatever it is called, it verifies as what it is, and says so first.
    code, out = verify_as(swapped, capsys, signer, "--system", SYSTEM)
    assert code == verifier.VERIFIED
    assert out[0] == f"VERIFIED {swapped}: the pack of system {SYSTEM} as of {as_of}"
    assert out[1:5] == [
        f"  - scope: one system, {SYSTEM} (as expected)",
        f"  - as of: {as_of} (not compared: give --as-of)",
        f"  - checkpoint: tree size {manifest['checkpoint']['tree_size']}, root "
        f"{manifest['checkpoint']['root_hash']}, origin {manifest['origin']}",
        f"  - manifest SHA-256: {digest} (the export's manifest_sha256 in the registry's "
        "list of exports)",
    ]
    # Nothing expected: the same, and it says what was not compared.
    code, out = verify_as(swapped, capsys, signer)
    assert code == 0 and out[0] == f"VERIFIED {swapped}: the pack of system {SYSTEM} as of {as_of}"
    assert out[1] == (
        f"  - scope: one system, {SYSTEM} (not compared: give --system REF or --scope registry)"
    )


def test_a_registrys_pack_of_one_system_is_not_that_systems_pack():
    """The pack of a registry that holds one system names that system alone, yet it is
    no system's pack: ``--system`` wants a system's pack (its completeness proof is
    the system's)."""
    registry_of_one = verifier.Summary(scope="registry", systems=[SYSTEM], as_of="x")
    with pytest.raises(verifier.PackFailure, match="not of system .* as expected"):
        verifier._verify_expected(verifier.Expected(system=SYSTEM), registry_of_one)
    system = verifier.Summary(scope="system", systems=[SYSTEM], as_of="x")
    verifier._verify_expected(verifier.Expected(system=SYSTEM), system)


def test_the_expected_scope_and_instant(real, tmp_path, capsys):
    files, signer = real
    as_of = json.loads(files["manifest.json"])["as_of"]
    path = write(tmp_path / "pack.zip", files)
    # The same instant however it is written: Z, an offset, fewer digits.
    instant = dt.datetime.fromisoformat(as_of)
    for written in (
        as_of,
        instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        instant.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat(),
    ):
        code, out = verify_as(path, capsys, signer, "--scope", "system", "--as-of", written)
        assert code == 0, (written, out)
        assert f"  - as of: {as_of} (as expected)" in out
    later = (instant + dt.timedelta(seconds=1)).isoformat(timespec="microseconds")
    code, out = verify_as(path, capsys, signer, "--system", SYSTEM, "--as-of", later)
    assert code == 1 and out == [
        f"FAILED manifest.json: is the pack of system {SYSTEM} as of {as_of}, not as of "
        f"{later} as expected (--as-of)"
    ]
    code, out = verify_as(path, capsys, signer, "--scope", "registry")
    assert code == 1 and out == [
        f"FAILED manifest.json: is the pack of system {SYSTEM} as of {as_of}, not of the "
        "whole registry as expected (--scope)"
    ]
    # What is not an instant, or has no time zone, is a usage error (exit 2).
    for bad in ("yesterday", as_of[:19]):
        with pytest.raises(SystemExit) as exit_:
            verifier.main([str(path), "--as-of", bad])
        assert exit_.value.code == 2
        assert "--as-of" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        verifier.main([str(path), "--system", SYSTEM, "--scope", "registry"])
    assert exit_.value.code == 2
    capsys.readouterr()


def test_a_registry_pack_says_it_is_the_whole_registry(app, examples, tmp_path, capsys):
    done = do_export(app, examples)
    signer = settings_of(examples).signer
    as_of = instant_text(done.as_of)
    code, out = verify_as(done.path, capsys, signer, "--scope", "registry", "--as-of", as_of)
    assert code == 0
    assert (
        out[0] == f"VERIFIED {done.path}: the pack of the whole registry (3 systems) as of {as_of}"
    )
    assert out[1] == "  - scope: the whole registry, 3 systems (as expected)"
    assert f"  - manifest SHA-256: {done.manifest_sha256}" in out[4]
    code, out = verify_as(done.path, capsys, signer, "--system", SYSTEM)
    assert code == 1 and out == [
        f"FAILED manifest.json: is the pack of the whole registry (3 systems) as of {as_of}, "
        f"not of system {SYSTEM} as expected (--system)"
    ]


def test_a_reader_that_stops_reading_gets_no_traceback(real, tmp_path):
    files, signer = real
    path = write(tmp_path / "pack.zip", files)
    keys = tmp_path / "keys.txt"
    keys.write_text(signer.verifier_key + "\n")
    # The reading end closed before the verifier writes (what `| head -1` leaves it once
    # head has its line): every write meets a broken pipe.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, verifier.__file__, str(path), "--pubkey", str(keys)],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write_end)
    assert result.stderr == ""
    assert result.returncode == verifier.VERIFIED  # the outcome, cut short
    if shutil.which("head") is not None:
        piped = subprocess.run(
            f"{shlex.quote(sys.executable)} {shlex.quote(verifier.__file__)} "
            f"{shlex.quote(str(path))} --pubkey {shlex.quote(str(keys))} | head -1",
            shell=True,
            capture_output=True,
            text=True,
            check=False,
        )
        assert piped.stdout.startswith(f"VERIFIED {path}: the pack of system {SYSTEM}")
        assert piped.stderr == ""


# ------------------------------------------------------------------------ signed notes


def _cosign_line(name: str, size: int) -> str:
    return f"\u2014 {name} {base64.b64encode(bytes(range(size))).decode()}\n"


def test_signatures_from_unknown_keys_are_ignored(real, tmp_path, capsys):
    files, signer = real
    changed = dict(files)
    # A witness's cosignature (c2sp.org/tlog-cosignature: key id, timestamp, signature)
    # and a line under the registry's own name with another key id: neither key is
    # trusted, so both lines are ignored, as the spec requires.
    changed["ledger/checkpoint.txt"] = (
        files["ledger/checkpoint.txt"].decode()
        + _cosign_line("witness.example/w1", 4 + 8 + 64)
        + _cosign_line(signer.name, 4 + 64)
    ).encode()
    resign(changed, signer)
    changed["manifest.sig"] += _cosign_line("witness.example/w2", 4 + 64).encode()
    code, out, _ = run(write(tmp_path / "cosigned.zip", changed), capsys, signer.verifier_key)
    assert code == 0 and out.startswith("VERIFIED"), out
    # A line naming the trusted key (name and key id) must verify, or the note fails.
    bad = dict(files)
    good_line = raw_signature_line(checkpoint_body(files), signer)
    raw = bytearray(base64.b64decode(good_line.split()[-1]))
    raw[-1] ^= 1
    bad["ledger/checkpoint.txt"] = (
        files["ledger/checkpoint.txt"].decode()
        + f"\u2014 {signer.name} {base64.b64encode(bytes(raw)).decode()}\n"
    ).encode()
    resign(bad, signer)
    code, out, _ = run(write(tmp_path / "bad.zip", bad), capsys, signer.verifier_key)
    assert code == 1 and "ledger/checkpoint.txt: the signature of key" in out, out


def _checkpoint_with_body(files: Files, signer: Signer, body: str) -> Files:
    changed = dict(files)
    changed["ledger/checkpoint.txt"] = (body + "\n" + raw_signature_line(body, signer)).encode()
    return resign(changed, signer)


def test_a_tree_size_with_a_leading_zero_is_refused(real, tmp_path, capsys):
    files, signer = real
    origin, size, root = checkpoint_body(files).split("\n")[:3]
    for spelled in (f"0{size}", f"+{size}", f" {size}", "\u0664" * len(size)):
        body = f"{origin}\n{spelled}\n{root}\n"
        changed = _checkpoint_with_body(files, signer, body)
        code, out, _ = run(write(tmp_path / "zero.zip", changed), capsys, signer.verifier_key)
        assert code == 1, (spelled, out)
        assert "ledger/checkpoint.txt: tree size" in out and "leading zeros" in out, out
    # Written as the spec says, the same signed body verifies (the test's own control).
    plain = _checkpoint_with_body(files, signer, f"{origin}\n{size}\n{root}\n")
    assert run(write(tmp_path / "plain.zip", plain), capsys, signer.verifier_key)[0] == 0


def _non_canonical(encoded: str) -> str:
    """The same bytes in base64 that lenient decoders accept: the unused low bits of the
    last character before the padding set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    stripped = encoded.rstrip("=")
    last = alphabet.index(stripped[-1]) | 1
    changed = stripped[:-1] + alphabet[last] + encoded[len(stripped) :]
    assert changed != encoded and base64.b64decode(changed) == base64.b64decode(encoded)
    return changed


def test_base64_is_read_strictly(real, tmp_path, capsys):
    files, signer = real
    text = files["manifest.sig"].decode()
    encoded = text.rstrip("\n").rsplit(" ", 1)[1]
    for spelled in (
        _non_canonical(encoded),
        encoded.rstrip("="),
        encoded[:40] + "\n" + encoded[40:],
    ):
        changed = dict(files)
        changed["manifest.sig"] = text.replace(encoded, spelled).encode()
        code, out, _ = run(write(tmp_path / "b64.zip", changed), capsys, signer.verifier_key)
        assert code == 1 and out.startswith("FAILED manifest.sig:"), out
    # The checkpoint's root hash, in a correctly signed checkpoint.
    origin, size, root = checkpoint_body(files).split("\n")[:3]
    changed = _checkpoint_with_body(files, signer, f"{origin}\n{size}\n{_non_canonical(root)}\n")
    code, out, _ = run(write(tmp_path / "root.zip", changed), capsys, signer.verifier_key)
    assert code == 1 and "root hash is not canonical base64" in out, out


def test_control_characters_and_carriage_returns_are_refused(real, tmp_path, capsys):
    files, signer = real
    origin, size, root = checkpoint_body(files).split("\n")[:3]
    for body in (f"{origin}\r\n{size}\n{root}\n", f"{origin}\n{size}\n{root}\t\n"):
        changed = _checkpoint_with_body(files, signer, body)
        code, out, _ = run(write(tmp_path / "cr.zip", changed), capsys, signer.verifier_key)
        assert code == 1 and "ledger/checkpoint.txt: holds control character" in out, out
    # Lines are split on \n only: a signed body with a line separator U+2028 inside the
    # origin is one (wrong) origin, not two lines.
    changed = _checkpoint_with_body(files, signer, f"{origin}\u2028x\n{size}\n{root}\n")
    code, out, _ = run(write(tmp_path / "ls.zip", changed), capsys, signer.verifier_key)
    assert code == 1 and "is a checkpoint of" in out, out
    # A note must end with a newline.
    changed = dict(files)
    changed["manifest.sig"] = files["manifest.sig"].rstrip(b"\n")
    code, out, _ = run(write(tmp_path / "nl.zip", changed), capsys, signer.verifier_key)
    assert code == 1 and "manifest.sig: a note ends with a newline" in out, out


# ---------------------------------------------------------------- hostile containers


def _central(data: bytes) -> list[int]:
    """Offsets of the central directory headers of a ZIP without a comment."""
    end = data.rindex(b"PK\x05\x06")
    count, _, start = struct.unpack("<HII", data[end + 10 : end + 20])
    offsets, at = [], start
    for _ in range(count):
        offsets.append(at)
        n, e, c = struct.unpack("<HHH", data[at + 28 : at + 34])
        at += 46 + n + e + c
    return offsets


def patch(data: bytes, name: str, **change: int) -> bytes:
    """Change a member's flags, method or declared uncompressed size, in the central
    directory and in its local header alike."""
    out = bytearray(data)
    for at in _central(data):
        n = struct.unpack("<H", data[at + 28 : at + 30])[0]
        if data[at + 46 : at + 46 + n].decode() != name:
            continue
        local = struct.unpack("<I", data[at + 42 : at + 46])[0]
        for key, (central_at, local_at, fmt) in {
            "flags": (8, 6, "<H"),
            "method": (10, 8, "<H"),
            "size": (24, 22, "<I"),
        }.items():
            if key in change:
                struct.pack_into(fmt, out, at + central_at, change[key])
                struct.pack_into(fmt, out, local + local_at, change[key])
        return bytes(out)
    raise AssertionError(name)


def one_line_exit_2(path: Path, capsys: pytest.CaptureFixture[str], key: str) -> str:
    code, out, err = run(path, capsys, key)
    assert code == 2, out + err
    assert out == "" and err.count("\n") == 1 and err.startswith("cannot read the pack:"), err
    assert "Traceback" not in err
    return err


def test_encrypted_or_unknown_compression_members_are_refused_in_one_line(real, tmp_path, capsys):
    files, signer = real
    data = write(tmp_path / "ok.zip", files).read_bytes()
    key = signer.verifier_key
    encrypted = tmp_path / "encrypted.zip"
    encrypted.write_bytes(patch(data, "ledger/events.jsonl", flags=0x1))
    assert "is encrypted" in one_line_exit_2(encrypted, capsys, key)
    encrypted.write_bytes(patch(data, "ledger/events.jsonl", flags=0x40))  # strong encryption
    assert "is encrypted" in one_line_exit_2(encrypted, capsys, key)
    patched = tmp_path / "patched.zip"
    patched.write_bytes(patch(data, "index.json", flags=0x20))
    assert "patched data" in one_line_exit_2(patched, capsys, key)
    for method in (12, 14, 99):  # bzip2, LZMA (not read: unbounded expansion), unknown
        unknown = tmp_path / f"method{method}.zip"
        unknown.write_bytes(patch(data, "index.json", method=method))
        assert f"compression method {method}" in one_line_exit_2(unknown, capsys, key)
    # A corrupt member (its compressed bytes overwritten) and a truncated ZIP.
    corrupt = tmp_path / "corrupt.zip"
    with zipfile.ZipFile(tmp_path / "ok.zip") as z:
        info = z.getinfo("ledger/events.jsonl")
    start = info.header_offset + 30 + len(info.filename.encode()) + 40
    corrupt.write_bytes(data[:start] + b"\xff" * 64 + data[start + 64 :])
    assert "events.jsonl" in one_line_exit_2(corrupt, capsys, key)
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(data[: len(data) // 2])
    one_line_exit_2(truncated, capsys, key)


def _bomb(path: Path, name: str, size: int) -> Path:
    """A ZIP holding ``name``: ``size`` zero bytes, deflated (about a thousandth)."""
    block = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo(name)
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w") as fh:
            for _ in range(size >> 20):
                fh.write(block)
    return path


def _peak_rss_mb(*args: str) -> tuple[int, int, str]:
    """Run the verifier in a child of a child and return its exit status and its peak
    resident memory (ru_maxrss of the only child the middle process waited for)."""
    probe = (
        "import resource, subprocess, sys\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024\n"
        "print(r.returncode, peak, r.stdout.strip() + r.stderr.strip())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, verifier.__file__, *args],
        capture_output=True,
        text=True,
        check=True,
    )
    code, peak, message = result.stdout.split(" ", 2)
    return int(code), int(peak), message


def test_zip_bombs_are_refused_with_bounded_memory(real, tmp_path):
    files, signer = real
    keys = tmp_path / "keys.txt"
    keys.write_text(signer.verifier_key + "\n")
    # 400 MB of zeros in a ZIP of about 400 KB: its declared size and ratio are over the
    # limits, refused from the central directory before anything is read.
    bomb = _bomb(tmp_path / "bomb.zip", "manifest.sig", 400 << 20)
    assert bomb.stat().st_size < 1 << 20
    code, peak, message = _peak_rss_mb(str(bomb), "--pubkey", str(keys))
    assert code == 2 and "ratio limit" in message, message
    assert peak < 200, peak
    # The same member declaring only 1,000 bytes: read, but never past the declared
    # size, so the lie costs nothing (the CRC then fails).
    liar = tmp_path / "liar.zip"
    liar.write_bytes(patch(bomb.read_bytes(), "manifest.sig", size=1000))
    code, peak, message = _peak_rss_mb(str(liar), "--pubkey", str(keys))
    assert code == 2 and "manifest.sig" in message, message
    assert peak < 200, peak
    # Declared sizes over the per-member or total limit, and too many members.
    over = tmp_path / "over.zip"
    over.write_bytes(
        patch(write(tmp_path / "small.zip", files).read_bytes(), "index.json", size=2**31)
    )
    code, _, message = _peak_rss_mb(str(over), "--pubkey", str(keys))
    assert code == 2 and "over the limit" in message, message
    code, _, message = _peak_rss_mb(str(tmp_path / "small.zip"), "--max-members", "5")
    assert code == 2 and "members, over 5" in message, message
    code, _, message = _peak_rss_mb(str(tmp_path / "small.zip"), "--max-total-mb", "0")
    assert code == 2 and "in all" in message, message


def test_files_the_verifier_does_not_parse_are_hashed_as_they_stream(real, tmp_path):
    # A pack forged under its own keys that lists 300 extra files of 1 MiB of zeros
    # each (small enough to escape the ratio limit, 300 MiB in all): each is hashed as
    # it is read, none is kept, so memory stays bounded.
    files, signer = real
    attacker = Signer(signer.name, Ed25519PrivateKey.generate())
    forged = {**files, **{f"extra/{i:03}.bin": bytes(1 << 20) for i in range(300)}}
    forged["keys.txt"] = (attacker.verifier_key + "\n").encode()
    forged["ledger/checkpoint.txt"] = sign_body(checkpoint_body(files), [attacker]).encode()
    path = write(tmp_path / "many.zip", resign(forged, attacker))
    del forged
    code, peak, message = _peak_rss_mb(str(path))
    assert code == verifier.UNPINNED, message
    assert peak < 200, peak


def test_names_that_leave_the_pack_are_refused(real, tmp_path, capsys):
    # A container problem, like every other found in the central directory: the pack
    # cannot be read (exit 2), in one line on stderr.
    files, signer = real
    for name in ("/etc/passwd", "../outside.json", "systems/../x.json", "a\\b.json", "c:x"):
        extra = {**files, name: b"{}"}
        code, out, err = run(write(tmp_path / "names.zip", extra), capsys, signer.verifier_key)
        assert code == verifier.UNREADABLE == 2, (name, out, err)
        assert out == "" and err == (
            f"cannot read the pack: {name!r} is not a relative path inside the pack\n"
        ), (name, err)
    twice = tmp_path / "twice.zip"
    with zipfile.ZipFile(twice, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
        with pytest.warns(UserWarning, match="Duplicate name"):
            z.writestr(INDEX, files[INDEX])
    code, out, err = run(twice, capsys, signer.verifier_key)
    assert code == 2 and err == f"cannot read the pack: {INDEX!r} appears twice in the ZIP\n"


def test_a_pack_zipped_again_verifies(real, tmp_path, capsys):
    files, signer = real
    # In Python: another order, directory entries, stored instead of deflated.
    again = tmp_path / "again.zip"
    with zipfile.ZipFile(again, "w", compression=zipfile.ZIP_STORED) as z:
        for folder in ("ledger/", "systems/", f"systems/{SYSTEM}/"):
            z.writestr(folder, b"")
        for name in sorted(files, reverse=True):
            z.writestr(name, files[name])
    code, out, _ = run(again, capsys, signer.verifier_key)
    assert code == 0 and out.startswith("VERIFIED"), out
    if shutil.which("zip") is None or shutil.which("unzip") is None:
        pytest.skip("no zip/unzip command here")
    unpacked = tmp_path / "unpacked"
    write(tmp_path / "pack.zip", files)
    subprocess.run(["unzip", "-q", str(tmp_path / "pack.zip"), "-d", str(unpacked)], check=True)
    subprocess.run(
        ["zip", "-q", "-r", "-9", str(tmp_path / "zip-r.zip"), "."], cwd=unpacked, check=True
    )
    with zipfile.ZipFile(tmp_path / "zip-r.zip") as z:
        assert any(n.endswith("/") for n in z.namelist())  # zip -r adds directory entries
    code, out, _ = run(tmp_path / "zip-r.zip", capsys, signer.verifier_key)
    assert code == 0 and out.startswith("VERIFIED"), out
    # A file the manifest does not list is still refused in a re-zipped pack.
    (unpacked / "ledger" / "note.txt").write_text("added\n")
    subprocess.run(["zip", "-q", "-r", str(tmp_path / "more.zip"), "."], cwd=unpacked, check=True)
    code, out, _ = run(tmp_path / "more.zip", capsys, signer.verifier_key)
    assert code == 1 and "ledger/note.txt: is in the pack but not in the manifest" in out


# ------------------------------------------------------------- every field checked


def _edit(files: Files, name: str, change: Any) -> Files:
    changed = dict(files)
    document = json.loads(files[name])
    change(document)
    changed[name] = (json.dumps(document, sort_keys=True, indent=2) + "\n").encode()
    return changed


def _profile_index(document: dict[str, Any]) -> dict[str, Any]:
    return document["systems"][0]


def _version(history: dict[str, Any]) -> dict[str, Any]:
    return history["entries"][0]["versions"][0]


def _state_entry(state: dict[str, Any]) -> dict[str, Any]:
    return state["entries"][0]


FIELD_CASES = {
    "history author": (HISTORY, lambda d: _version(d).update(author="someone else"), "in actor"),
    "history recorded_at": (
        HISTORY,
        lambda d: _version(d).update(recorded_at="2020-01-01T00:00:00.000000+00:00"),
        "in time",
    ),
    "state recorded_at": (
        STATE,
        lambda d: _state_entry(d).update(recorded_at="2020-01-01T00:00:00.000000+00:00"),
        "(recorded_at)",
    ),
    "state effective_from": (
        STATE,
        lambda d: _state_entry(d).update(effective_from="2020-01-01T00:00:00.000000+00:00"),
        "(effective_from)",
    ),
    "state version as a boolean": (  # true == 1 in Python, not in JSON
        STATE,
        lambda d: _state_entry(d).update(version=True),
        "(version)",
    ),
    "state with a field of its own": (
        STATE,
        lambda d: _state_entry(d).update(note="trust me"),
        "fields the format does not define: note",
    ),
    "index stage": (INDEX, lambda d: _profile_index(d).update(stage="retired"), "stage"),
    "index risk tier": (
        INDEX,
        lambda d: _profile_index(d).update(risk_tier="minimal"),
        "risk_tier",
    ),
    "index name": (INDEX, lambda d: _profile_index(d).update(name="Another"), "name"),
    "index counts": (INDEX, lambda d: _profile_index(d).update(versions=1), "versions"),
    "readiness cites another hash": (
        READINESS,
        lambda d: d["areas"][0]["criteria"][0]["evidence"][0].update(hash="0" * 64),
        "cites version",
    ),
    "readiness stage": (READINESS, lambda d: d.update(stage="retired"), "another stage"),
    "readiness instant": (
        READINESS,
        lambda d: d.update(at="2020-01-01T00:00:00Z"),
        "is not the scorecard as of",
    ),
    "index as_of": (INDEX, lambda d: d.update(as_of="2020-01-01T00:00:00.000000+00:00"), "as of"),
}


@pytest.mark.parametrize("case", sorted(FIELD_CASES))
def test_each_field_is_checked_against_the_events(real, tmp_path, capsys, case):
    files, signer = real
    name, change, said = FIELD_CASES[case]
    document = json.loads(files[name])
    change(document)
    assert json.dumps(document, sort_keys=True) != json.dumps(
        json.loads(files[name]), sort_keys=True
    )
    changed = resign(_edit(files, name, change), signer)
    code, out, _ = run(write(tmp_path / "t.zip", changed), capsys, signer.verifier_key)
    assert code == 1, (case, out)
    assert out.startswith(f"FAILED {name}") and said in out, (case, out)


def test_an_event_not_in_canonical_form_is_refused(real, tmp_path, capsys):
    files, signer = real
    # The same JSON value with a space in it: other bytes, so another leaf hash; and a
    # duplicate key (two readings of one event) is not JSON this verifier reads.
    lines = files["ledger/events.jsonl"].split(b"\n")
    changed = dict(files)
    changed["ledger/events.jsonl"] = b"\n".join([lines[0].replace(b",", b", ", 1), *lines[1:]])
    code, out, _ = run(
        write(tmp_path / "c.zip", resign(changed, signer)), capsys, signer.verifier_key
    )
    assert code == 1 and ": is not in the canonical form (RFC 8785)" in out, out
    changed["ledger/events.jsonl"] = b"\n".join([lines[0][:-1] + b',"seq":1}', *lines[1:]])
    code, out, err = run(
        write(tmp_path / "d.zip", resign(changed, signer)), capsys, signer.verifier_key
    )
    assert code == 2 and "duplicate key 'seq'" in err, out + err


def test_unreadable_content_is_one_line_and_exit_2(real, tmp_path, capsys):
    files, signer = real
    key = signer.verifier_key
    for content, said in (
        (b"[" * 200_000 + b"]" * 200_000, "is JSON nested too deeply"),
        (b'{"as_of": "\xff\xfe"}', "is not UTF-8"),
        (b'{"as_of": NaN}', "is not well-formed JSON"),
        (b"1" * 100_000, "is not well-formed JSON"),
    ):
        changed = resign({**files, INDEX: content}, signer)
        err = one_line_exit_2(write(tmp_path / "bad.zip", changed), capsys, key)
        assert f"{INDEX} {said}" in err, err


# ------------------------------------------------------------------------------ fuzz

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def outcome(path: Path, keys: list[str] | None) -> str:
    """What the verifier concluded: only ever a conclusion, never another exception."""
    try:
        verifier.verify(str(path), keys)
    except (verifier.PackFailure, verifier.PackUnreadable) as exc:
        return type(exc).__name__
    return "verified"


def _graft(data: st.DataObject, document: Any) -> Any:
    """``document`` with one node, found by a random walk, replaced by random JSON."""
    if isinstance(document, dict | list) and document and data.draw(st.booleans()):
        keys = sorted(document) if isinstance(document, dict) else range(len(document))
        key = data.draw(st.sampled_from(list(keys)))
        copy = dict(document) if isinstance(document, dict) else list(document)
        copy[key] = _graft(data, document[key])
        return copy
    return data.draw(JSON)


@FUZZ
@given(data=st.data())
def test_fuzz_signed_json_with_any_values(real, tmp_path, data):
    # Any JSON file of the pack with any node replaced, signed again with the registry's
    # key: the deepest checks meet every type, and answer with a failure.
    files, signer = real
    name = data.draw(
        st.sampled_from([INDEX, HISTORY, STATE, "ledger/proofs.json", "manifest.json"])
    )
    changed = dict(files)
    changed[name] = json.dumps(_graft(data, json.loads(files[name]))).encode()
    if name != "manifest.json":
        resign(changed, signer)
    path = write(tmp_path / "fuzz.zip", changed)
    assert outcome(path, [signer.verifier_key]) in ("PackFailure", "PackUnreadable", "verified")


@FUZZ
@given(data=st.data())
def test_fuzz_notes_and_events(real, tmp_path, data):
    # Signed notes and event lines with text spliced in (control characters, em dashes,
    # newlines, digits), signed again where that is what lets the check run.
    files, signer = real
    name = data.draw(st.sampled_from(["manifest.sig", "ledger/checkpoint.txt", "keys.txt", EVENTS]))
    text = files[name].decode()
    at = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.integers(0, 8))
    piece = data.draw(st.text(alphabet='\n\r\t\x00 —+=/0123456789abcAZ{}":,é\u2028', max_size=12))
    changed = dict(files)
    changed[name] = (text[:at] + piece + text[at + cut :]).encode()
    if name != "manifest.sig" and data.draw(st.booleans()):
        resign(changed, signer)
    path = write(tmp_path / "fuzz.zip", changed)
    for keys in ([signer.verifier_key], None):
        result = outcome(path, keys)
        assert result in ("PackFailure", "PackUnreadable", "verified"), result


@FUZZ
@given(data=st.data())
def test_fuzz_zip_bytes_and_members(real, tmp_path, data):
    # The ZIP's own bytes changed, cut or extended, or random members added.
    files, signer = real
    raw = bytearray(write(tmp_path / "base.zip", files).read_bytes())
    if data.draw(st.booleans()):
        for _ in range(data.draw(st.integers(1, 6))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
        if data.draw(st.booleans()):
            raw = raw[: data.draw(st.integers(0, len(raw)))]
        path = tmp_path / "fuzz.zip"
        path.write_bytes(bytes(raw))
    else:
        extra = data.draw(
            st.dictionaries(
                st.text(min_size=1, max_size=12).filter(lambda n: "\x00" not in n),
                st.binary(max_size=64),
                max_size=3,
            )
        )
        path = write(tmp_path / "fuzz.zip", {**files, **extra})
    code = verifier.main([str(path), "--pubkey", str(_key_file(tmp_path, signer))])
    assert code in verifier.EXIT_CODES
    assert outcome(path, [signer.verifier_key]) in ("PackFailure", "PackUnreadable", "verified")


def _key_file(folder: Path, signer: Signer) -> Path:
    path = folder / "trusted.keys"
    path.write_text(signer.verifier_key + "\n")
    return path


# ----------------------------------------------------------------- domain separation


def _statement(files: Files) -> str:
    return files["manifest.sig"].decode().split("\n\n")[0] + "\n"


def test_a_checkpoint_signature_never_stands_for_a_pack_statement(real, tmp_path, capsys):
    files, signer = real
    # The statement signed as checkpoints are (the registry's key over the text alone):
    # even with every digest right, it is not a pack statement.
    forged = dict(files)
    forged["manifest.sig"] = sign_body(_statement(files), [signer]).encode()
    path = write(tmp_path / "as-checkpoint.zip", forged)
    code, out, _ = run(path, capsys, signer.verifier_key)
    assert code == verifier.FAILED, out
    assert out.startswith("FAILED manifest.sig: is signed as a checkpoint is"), out
    # The checkpoint's own signature line under the statement's text: refused too.
    checkpoint = files["ledger/checkpoint.txt"].decode()
    line = checkpoint.split("\n\n")[1].splitlines()[0] + "\n"
    forged["manifest.sig"] = (_statement(files) + "\n" + line).encode()
    code, out, _ = run(write(tmp_path / "line.zip", forged), capsys, signer.verifier_key)
    assert code == verifier.FAILED and out.startswith("FAILED manifest.sig:"), out


def test_a_pack_statement_signature_never_stands_for_a_checkpoint(real, tmp_path, capsys):
    files, signer = real
    key = verifier.parse_key(signer.verifier_key)
    statement = files["manifest.sig"].decode()
    # A lenient reader of checkpoints, checking only the signature over the note's text:
    # the statement's signature is over the context and the text, so it does not verify.
    with pytest.raises(ValueError, match="does not verify"):
        verifier.open_note(statement, [key])
    assert verifier.open_note(statement, [key], verifier.STATEMENT_CONTEXT)[1] == [key]
    # A checkpoint's text signed as pack statements are, in a pack signed again: refused.
    forged = dict(files)
    forged["ledger/checkpoint.txt"] = sign_statement(checkpoint_body(files), signer).encode()
    path = write(tmp_path / "as-statement.zip", resign(forged, signer))
    code, out, _ = run(path, capsys, signer.verifier_key)
    assert code == verifier.FAILED, out
    assert out.startswith("FAILED ledger/checkpoint.txt: is signed as a pack statement is"), out


def test_the_statement_context_is_in_no_note_text():
    assert pack.STATEMENT_CONTEXT == verifier.STATEMENT_CONTEXT
    assert b"\x00" in pack.STATEMENT_CONTEXT
    # No checkpoint (nor any note) the registry signs can begin with it.
    with pytest.raises(NoteError):
        sign_note(
            pack.STATEMENT_CONTEXT.decode() + "x\n", "o.example/x", Ed25519PrivateKey.generate()
        )
