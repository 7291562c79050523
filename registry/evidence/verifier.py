#!/usr/bin/env python3
"""Verify an evidence pack of the AI governance evidence registry, offline.

One file; it needs Python 3.10 or later and the ``cryptography`` package, nothing else,
and never touches the network:

    python verify_pack.py PACK.zip [--pubkey FILE]

Without ``--pubkey`` the keys are taken from the pack's ``keys.txt``, which proves the
pack is intact but not who made it; give the registry's published verifier keys (one
per line) to check that too. What is checked, in order, stopping at the first failure:

1. ``manifest.sig`` is a signed note by a trusted key stating the SHA-256 of
   ``manifest.json`` and of ``evidence.pdf`` (the PDF shows the manifest's digest on its
   cover, so its own digest is stated next to the manifest's rather than inside it);
2. every other file is listed in the manifest with its SHA-256, and nothing is missing
   or added;
3. ``ledger/checkpoint.txt`` is a checkpoint (c2sp.org/tlog-checkpoint) signed by a
   trusted key, of the log and tree the manifest names;
4. every event in ``ledger/events.jsonl`` (each line the event's exact canonical bytes)
   is in that tree: its RFC 9162 inclusion proof from ``ledger/proofs.json`` leads to
   the signed root; events that follow each other carry the previous one's hash, and
   none was recorded after the as-of instant;
5. every version in each system's ``history.json`` matches the event that recorded it
   (entry, number, body and reason hashes, times, tombstone), every such event has its
   version, and replaying each entry's versions gives exactly the ``state.json`` stated.

Exit status 0: verified (a summary is printed); 1: the pack failed (the first file or
event that failed is named); 2: the pack could not be read.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
import zipfile
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PACK_FORMAT = "registry-evidence-pack"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PDF = "evidence.pdf"
STATEMENT = "evidence pack"
GENESIS = "0" * 64
MAX_MEMBER = 1 << 31


class PackFailure(Exception):
    """The pack failed verification at ``where`` (a file, or a file and an event)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class PackUnreadable(Exception):
    """The file is not a pack at all (missing, not a ZIP)."""


# --- keys and signed notes (c2sp.org/signed-note, Ed25519) ------------------------------


@dataclass(frozen=True)
class VerifierKey:
    text: str
    name: str
    key_id: bytes
    public_key: Ed25519PublicKey


def _key_id(name: str, raw_public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + raw_public).digest()[:4]


def parse_key(text: str) -> VerifierKey:
    """``<name>+<8 hex key id>+<base64(0x01 || 32-byte Ed25519 key)>``."""
    parts = text.strip().split("+", 2)  # base64 may contain "+"; a key name may not
    if len(parts) != 3 or not parts[0]:
        raise ValueError(f"not a verifier key: {text.strip()[:40]!r}")
    name, hex_id, b64 = parts
    try:
        raw = base64.b64decode(b64, validate=True)
        key_id = bytes.fromhex(hex_id)
    except (binascii.Error, ValueError):
        raise ValueError(f"not a verifier key: {text.strip()[:40]!r}") from None
    if len(raw) != 33 or raw[0] != 0x01 or len(key_id) != 4:
        raise ValueError(f"not an Ed25519 verifier key: {text.strip()[:40]!r}")
    if _key_id(name, raw[1:]) != key_id:
        raise ValueError(f"the key id of {name!r} does not match its key")
    return VerifierKey(text.strip(), name, key_id, Ed25519PublicKey.from_public_bytes(raw[1:]))


def parse_keys(text: str) -> list[VerifierKey]:
    return [parse_key(line) for line in text.splitlines() if line.strip()]


def open_note(text: str, keys: list[VerifierKey]) -> tuple[str, list[VerifierKey]]:
    """The body of a signed note and the trusted keys whose signatures verified. A
    signature by a trusted key that does not verify, or none by a trusted key at all,
    raises ValueError; signatures by other keys are ignored, as the spec says."""
    split = text.rfind("\n\n")
    if split < 0 or not text.endswith("\n"):
        raise ValueError("not a signed note")
    body, lines = text[: split + 1], text[split + 2 :].splitlines()
    verified: list[VerifierKey] = []
    for line in lines:
        if not line.startswith("\u2014 "):
            raise ValueError(f"not a signature line: {line[:40]!r}")
        try:
            name, b64 = line[2:].split(" ")
            raw = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error):
            raise ValueError(f"malformed signature line: {line[:40]!r}") from None
        if len(raw) != 68:
            raise ValueError(f"signature of {name!r} is not an Ed25519 signature")
        for key in keys:
            if key.name == name and key.key_id == raw[:4]:
                try:
                    key.public_key.verify(raw[4:], body.encode())
                except InvalidSignature:
                    raise ValueError(f"the signature of key {name} does not verify") from None
                verified.append(key)
    if not verified:
        raise ValueError("no signature by a trusted key")
    return body, verified


# --- Merkle trees (RFC 9162, section 2.1) ---------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """The root that ``path`` leads to from leaf ``index`` of a tree of ``size`` leaves
    (RFC 9162 2.1.3.2), or None when the path cannot be a proof for that position."""
    if not 0 <= index < size:
        return None
    fn, sn, node = index, size - 1, leaf
    for sibling in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            node = _node(sibling, node)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            node = _node(node, sibling)
        fn >>= 1
        sn >>= 1
    return node if sn == 0 else None


# --- the pack -----------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _json(data: bytes, where: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PackFailure(where, f"is not JSON ({exc})") from None


@dataclass
class Summary:
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)


class Pack:
    def __init__(self, path: str) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise PackUnreadable(f"{path}: no such file") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise PackUnreadable(f"{path}: not a ZIP file ({exc})") from None
        names = [i.filename for i in self.zip.infolist()]
        if len(names) != len(set(names)):
            duplicate = next(n for n in names if names.count(n) > 1)
            raise PackFailure(duplicate, "appears twice in the ZIP")
        for info in self.zip.infolist():
            if info.filename.startswith("/") or ".." in info.filename.split("/"):
                raise PackFailure(info.filename, "is not a relative path inside the pack")
            if info.file_size > MAX_MEMBER:
                raise PackFailure(info.filename, "is too large")
        self.names = set(names)

    def read(self, name: str) -> bytes:
        if name not in self.names:
            raise PackFailure(name, "is missing from the pack")
        try:
            return self.zip.read(name)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise PackFailure(name, f"cannot be read ({exc})") from None


def _names(keys: list[VerifierKey]) -> str:
    return ", ".join(f"{k.name}+{k.key_id.hex()}" for k in keys)


def _verify_signature(
    pack: Pack, trusted: list[VerifierKey], summary: Summary
) -> tuple[dict[str, Any], str]:
    manifest_bytes = pack.read(MANIFEST)
    manifest = _json(manifest_bytes, MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != PACK_FORMAT:
        raise PackFailure(MANIFEST, "is not the manifest of an evidence pack")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise PackFailure(
            MANIFEST, f"has format version {manifest.get('format_version')!r}, not {FORMAT_VERSION}"
        )
    try:
        statement, signers = open_note(pack.read(SIGNATURE).decode(), trusted)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PackFailure(SIGNATURE, str(exc)) from None
    digest = _sha256(manifest_bytes)
    expected = (
        f"{manifest.get('origin')}\n{STATEMENT}\n"
        f"{MANIFEST} sha256:{digest}\n{PDF} sha256:{_sha256(pack.read(PDF))}\n"
    )
    if statement != expected:
        lines = statement.splitlines()
        if len(lines) == 4 and lines[2] != expected.splitlines()[2]:
            raise PackFailure(MANIFEST, "does not match the digest the signature states")
        if len(lines) == 4 and lines[3] != expected.splitlines()[3]:
            raise PackFailure(PDF, "does not match the digest the signature states")
        raise PackFailure(SIGNATURE, "does not state this pack's origin and digests")
    summary.add(f"manifest {digest} and {PDF} signed by {_names(signers)}")
    return manifest, digest


def _verify_files(pack: Pack, manifest: dict[str, Any], summary: Summary) -> None:
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise PackFailure(MANIFEST, "lists no files")
    for name in sorted(files):
        if name not in pack.names:
            raise PackFailure(name, "is listed in the manifest but missing from the pack")
    for name in sorted(pack.names - {MANIFEST, SIGNATURE, PDF}):
        if name not in files:
            raise PackFailure(name, "is in the pack but not in the manifest")
    for name in sorted(files):
        if _sha256(pack.read(name)) != files[name]:
            raise PackFailure(name, "does not match its SHA-256 in the manifest")
    summary.add(f"{len(files)} files match their SHA-256 in the manifest")


def _verify_checkpoint(
    pack: Pack, manifest: dict[str, Any], trusted: list[VerifierKey], summary: Summary
) -> tuple[int, bytes]:
    name = "ledger/checkpoint.txt"
    try:
        body, signers = open_note(pack.read(name).decode(), trusted)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PackFailure(name, str(exc)) from None
    lines = body.splitlines()
    if len(lines) != 3 or not lines[1].isdigit():
        raise PackFailure(name, "is not a checkpoint (origin, tree size, root hash)")
    origin, size, root = lines[0], int(lines[1]), base64.b64decode(lines[2])
    stated = manifest.get("checkpoint") or {}
    if origin != manifest.get("origin"):
        raise PackFailure(name, f"is a checkpoint of {origin!r}, not of {manifest.get('origin')!r}")
    if size != stated.get("tree_size") or root.hex() != stated.get("root_hash"):
        raise PackFailure(name, "is not the checkpoint the manifest names")
    summary.add(f"checkpoint of {size} events, root {root.hex()}, signed by {_names(signers)}")
    return size, root


@dataclass
class Event:
    seq: int
    data: bytes
    fields: dict[str, Any]


def _verify_events(
    pack: Pack, manifest: dict[str, Any], size: int, root: bytes, summary: Summary
) -> dict[int, Event]:
    name = "ledger/events.jsonl"
    raw = pack.read(name)
    proofs_doc = _json(pack.read("ledger/proofs.json"), "ledger/proofs.json")
    proofs = proofs_doc.get("proofs") if isinstance(proofs_doc, dict) else None
    if not isinstance(proofs, list) or proofs_doc.get("tree_size") != size:
        raise PackFailure("ledger/proofs.json", "does not hold proofs into the checkpoint's tree")
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) != len(proofs):
        raise PackFailure(
            "ledger/proofs.json", f"holds {len(proofs)} proofs for {len(lines)} events"
        )
    ledger_size = manifest.get("ledger_size")
    as_of = manifest.get("as_of")
    if not isinstance(ledger_size, int) or ledger_size > size:
        raise PackFailure(MANIFEST, "states a ledger size the checkpoint does not cover")
    events: dict[int, Event] = {}
    previous: Event | None = None
    for line, proof in zip(lines, proofs, strict=True):
        fields = _json(line, name)
        seq = fields.get("seq") if isinstance(fields, dict) else None
        where = f"{name}: event {seq}"
        if not isinstance(seq, int) or (previous is not None and seq <= previous.seq):
            raise PackFailure(where, "is out of order")
        if seq > ledger_size:
            raise PackFailure(where, f"comes after the last event recorded by {as_of}")
        if not isinstance(fields.get("time"), str) or fields["time"] > as_of:
            raise PackFailure(where, f"was not recorded by {as_of}")
        if not isinstance(proof, dict) or proof.get("seq") != seq:
            raise PackFailure(where, "has no inclusion proof (the proofs are for other events)")
        try:
            path = [bytes.fromhex(h) for h in proof["path"]]
        except (KeyError, TypeError, ValueError):
            raise PackFailure(where, "has a malformed inclusion proof") from None
        if root_from_inclusion(seq - 1, size, leaf_hash(line), path) != root:
            raise PackFailure(where, "is not in the signed checkpoint (its inclusion proof fails)")
        if previous is not None and previous.seq == seq - 1:
            if fields.get("prev_hash") != _sha256(previous.data):
                raise PackFailure(where, "does not carry the hash of the event before it")
        elif seq == 1 and fields.get("prev_hash") != GENESIS:
            raise PackFailure(where, "is the first event but does not start the chain")
        event = Event(seq, line, fields)
        events[seq] = event
        previous = event
    if manifest.get("scope", {}).get("type") == "registry" and len(events) != ledger_size:
        raise PackFailure(name, f"holds {len(events)} of the {ledger_size} events in scope")
    summary.add(
        f"{len(events)} events proven in the checkpoint's tree"
        + (" and chained, 1 to the last" if len(events) == ledger_size else "")
    )
    return events


_EVENT_MATCH = (
    ("entry_id", "entry_id"),
    ("kind", "kind"),
    ("number", "version"),
    ("body_sha256", "body_sha256"),
    ("tombstone", "tombstone"),
    ("recorded_at", "time"),
    ("effective_from", "effective_from"),
)


def _verify_system(
    pack: Pack, reference: str, events: dict[int, Event], as_of: str, summary: Summary
) -> tuple[int, int]:
    folder = f"systems/{reference}/"
    history = _json(pack.read(folder + "history.json"), folder + "history.json")
    state = _json(pack.read(folder + "state.json"), folder + "state.json")
    if history.get("system") != reference or state.get("system") != reference:
        raise PackFailure(folder, "holds the records of another system")
    if state.get("as_of") != as_of:
        raise PackFailure(folder + "state.json", f"is not the state as of {as_of}")
    recorded: set[int] = set()
    replayed: dict[int, tuple[str, Any, int, str]] = {}
    versions = 0
    for entry in history.get("entries", []):
        entry_id, kind = entry.get("entry_id"), entry.get("kind")
        where = f"{folder}history.json: entry {entry_id}"
        numbers = [v.get("number") for v in entry.get("versions", [])]
        if not numbers or numbers != list(range(1, len(numbers) + 1)):
            raise PackFailure(where, "does not hold versions 1, 2, … in order")
        for version in entry["versions"]:
            at = f"{where} version {version['number']}"
            body = version.get("body")
            if not isinstance(body, str) or _sha256(body.encode()) != version.get("body_sha256"):
                raise PackFailure(at, "does not match its body hash")
            event = events.get(version.get("audit_seq"))
            if event is None:
                raise PackFailure(at, f"names event {version.get('audit_seq')}, not in the pack")
            found = dict(version, entry_id=entry_id, kind=kind)
            for ours, theirs in _EVENT_MATCH:
                if found.get(ours) != event.fields.get(theirs):
                    raise PackFailure(at, f"differs from event {event.seq} in {theirs}")
            if event.fields.get("system") != reference:
                raise PackFailure(at, f"event {event.seq} is about another system")
            if _sha256(str(version.get("reason", "")).encode()) != event.fields.get(
                "reason_sha256"
            ):
                raise PackFailure(at, f"its reason differs from event {event.seq}")
            recorded.add(event.seq)
            versions += 1
        last = entry["versions"][-1]
        if not last["tombstone"]:
            replayed[entry_id] = (
                kind,
                json.loads(last["body"]),
                last["number"],
                last["body_sha256"],
            )
    for event in events.values():
        if event.fields.get("system") == reference and "entry_id" in event.fields:
            if event.seq not in recorded:
                raise PackFailure(
                    f"ledger/events.jsonl: event {event.seq}",
                    f"records version {event.fields.get('version')} of entry "
                    f"{event.fields.get('entry_id')}, which {folder}history.json lacks",
                )
    stated = {e.get("entry_id"): e for e in state.get("entries", [])}
    for entry_id in sorted(set(stated) | set(replayed), key=str):
        where = f"{folder}state.json: entry {entry_id}"
        if entry_id not in replayed:
            raise PackFailure(where, "is not live after replaying the history")
        if entry_id not in stated:
            raise PackFailure(where, "is live after replaying the history but not stated")
        kind, body, number, body_hash = replayed[entry_id]
        claim = stated[entry_id]
        if (claim.get("kind"), claim.get("version"), claim.get("body_sha256")) != (
            kind,
            number,
            body_hash,
        ) or claim.get("body") != body:
            raise PackFailure(where, "is not what replaying the history gives")
    return len(history.get("entries", [])), versions


def verify(path: str, trusted_keys: list[str] | None = None) -> Summary:
    """Verify the pack at ``path``; raise PackFailure naming what failed."""
    summary = Summary()
    pack = Pack(path)
    try:
        pack_keys = parse_keys(pack.read("keys.txt").decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise PackFailure("keys.txt", str(exc)) from None
    trusted = [parse_key(k) for k in trusted_keys] if trusted_keys is not None else pack_keys
    if trusted_keys is None:
        summary.add("keys taken from the pack's keys.txt (give --pubkey to check who made it)")
    manifest, _ = _verify_signature(pack, trusted, summary)
    _verify_files(pack, manifest, summary)
    size, root = _verify_checkpoint(pack, manifest, trusted, summary)
    events = _verify_events(pack, manifest, size, root, summary)
    systems = manifest.get("scope", {}).get("systems")
    if not isinstance(systems, list):
        raise PackFailure(MANIFEST, "names no systems in its scope")
    entries = versions = 0
    for reference in systems:
        e, v = _verify_system(pack, reference, events, manifest["as_of"], summary)
        entries += e
        versions += v
    summary.add(
        f"{versions} versions of {entries} entries in {len(systems)} system(s) replayed to "
        f"the stated state as of {manifest['as_of']}"
    )
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a registry evidence pack offline.")
    parser.add_argument("pack", help="the pack (.zip)")
    parser.add_argument(
        "--pubkey",
        action="append",
        help="a file of trusted verifier keys, one per line (may be repeated)",
    )
    args = parser.parse_args(argv)
    trusted: list[str] | None = None
    try:
        if args.pubkey:
            trusted = []
            for name in args.pubkey:
                with open(name, encoding="utf-8") as fh:
                    trusted += [line.strip() for line in fh if line.strip()]
            for key in trusted:
                parse_key(key)
        summary = verify(args.pack, trusted)
    except PackUnreadable as exc:
        print(f"cannot read the pack: {exc}", file=sys.stderr)
        return 2
    except PackFailure as exc:
        print(f"FAILED {exc.where}: {exc.message}")
        return 1
    except (OSError, ValueError) as exc:
        print(f"cannot read the keys: {exc}", file=sys.stderr)
        return 2
    print(f"VERIFIED {args.pack}")
    for line in summary.lines:
        print(f"  - {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
