#!/usr/bin/env python3
"""Verify an evidence pack of the AI governance evidence registry, offline.

One file; it needs Python 3.10 or later and the ``cryptography`` package, nothing else,
and never touches the network:

    python verify_pack.py PACK.zip --pubkey KEYS

``KEYS`` is a file of the registry's published verifier keys (one a line, from
``/ledger/keys``, best obtained out of band). Only a pack whose signatures verify under
those pinned keys is VERIFIED. Without ``--pubkey`` the verifier can only use the keys
the pack carries in ``keys.txt``, which anyone can make: it then runs every check, but
at best reports the pack as consistent under its own, unpinned keys (exit status 3),
never as verified.

What is checked, in order, stopping at the first failure:

0. the ZIP is safe to read: at most ``--max-members`` members, each at most
   ``--max-member-mb`` and all together at most ``--max-total-mb`` uncompressed, as the
   central directory declares, no member expanding more than ``--max-ratio`` times,
   no encryption, only stored or deflated members, relative names only, none twice;
   members are read in bounded pieces that stop at the declared size. Directory
   entries are ignored, so a pack unzipped and zipped again (``zip -r``) still
   verifies: the signatures cover the files, not the container;
1. ``manifest.sig`` is a pack statement in the signed-note syntax (c2sp.org/signed-note)
   whose signature by a trusted key is over ``STATEMENT_CONTEXT`` and its text (never
   the text alone, as a checkpoint's: neither signature stands for the other), stating
   the origin and the SHA-256 of ``manifest.json`` and of ``evidence.pdf``, and those
   files have those digests (the PDF shows the manifest's digest on its cover, so its
   own digest is stated next to the manifest's rather than inside it); the pack is the
   one the auditor expects (``--system REF`` or ``--scope``, ``--as-of INSTANT``), when
   stated: a pack of another system or instant fails, whatever its file is called;
2. every other file is listed in the manifest with its SHA-256, and nothing is missing
   or added;
3. ``ledger/checkpoint.txt`` is a checkpoint (c2sp.org/tlog-checkpoint) signed by a
   trusted key, of the log and tree the manifest names;
4. every event in ``ledger/events.jsonl`` (each line the event's exact RFC 8785 bytes)
   is in that tree: its RFC 9162 inclusion proof from ``ledger/proofs.json`` leads to
   the signed root; events that follow each other carry the previous one's hash, the
   first event carries the genesis hash, and none was recorded after the as-of instant;
5. the pack holds every event of each system (format 2, ``ledger/completeness.json``):
   the checkpoint's last leaf is the ``ledger.systems`` map of each system's last
   event, the system's leaf is in that map, and its chain of ``system_prev`` links
   runs from there down to its registration through events the pack holds (proven in
   the checkpoint's tree), with no other event of the system in the pack: the system is
   reported COMPLETE; one whose chain reaches older events without links (event
   format 1), or whose checkpoint is older than the maps, is reported NOT PROVEN
   complete, which is not a failure;
6. every field of every version in each system's ``history.json`` matches the event
   that recorded it (entry, kind, number, body and reason hashes, author, times,
   retirement), every such event has its version, replaying each entry's versions
   gives exactly the ``state.json`` stated (with its times), and ``index.json`` states
   each system's name, stage and risk tier as its profile says and its counts as the
   history gives; each ``readiness.json`` is the scorecard of its system as of the
   instant, at the profile's stage, and every version it cites as evidence is in the
   history with the body hash cited (the scorecard's judgement itself is the
   registry's, not recomputed);
7. (format 3) each system's ``documents.json`` lists exactly the documents its events
   say the registry held at the instant (received, not collected since), each as its
   ``document.receive`` event describes it and withheld as the ``document.withhold``
   events left it; each carried file is ``files/<sha256>`` of that size (its bytes were
   re-hashed in step 2, so a changed or missing file fails there, named); each file
   left out is reported WITHHELD with its reason (confidential, over the pack's file
   limit, or collected since), never as missing; every document a scorecard cites is
   listed. Packs of format 2 (no documents) are still read.

Exit status 0: verified under the pinned keys (a summary is printed, first what the
pack is: its scope, as-of instant, checkpoint and manifest digest); 3: every check
passed, but only under the pack's own keys (no ``--pubkey``): not verified; 1: the
pack failed (the first file or event that failed is named), or is not the pack
expected; 2: the pack (or a key file) could not be read: not a ZIP, corrupt, over a
limit, encrypted, an unsupported compression method, a member name that is not a
relative path inside the pack or appears twice, text that is not UTF-8, JSON that is
not well-formed or nested too deeply. Every outcome is one line (and a summary after 0
or 3), never a traceback, even when the reader stops reading early (``| head -1``).

The format is documented in docs/evidence-format.md of the registry.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as _dt
import hashlib
import json
import os
import re
import sys
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

PACK_FORMAT = "registry-evidence-pack"
FORMAT_VERSION = 3
FORMATS_READ = (2, 3)  # 2: before the packs carried documents
# A pack statement's signature is over this context and the statement's text; a
# checkpoint's over its text alone (no note text holds a NUL): neither stands for the
# other (docs/evidence-format.md, "Pack statements and checkpoints").
STATEMENT_CONTEXT = b"registry-evidence-pack/statement\x00"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PDF = "evidence.pdf"
KEYS = "keys.txt"
CHECKPOINT = "ledger/checkpoint.txt"
EVENTS = "ledger/events.jsonl"
PROOFS = "ledger/proofs.json"
INDEX = "index.json"
COMPLETENESS = "ledger/completeness.json"
MAP_ACTION = "ledger.systems"
RECEIVE_ACTION = "document.receive"
WITHHOLD_ACTION = "document.withhold"
COLLECT_ACTION = "document.collect"
FILES = "files/"
# Why a document's file may be left out of a pack (documents.json: left_out).
CONFIDENTIAL, OVER_LIMIT, NOT_KEPT = "confidential", "over the file limit", "no longer kept"
STATEMENT = "evidence pack"
GENESIS = "0" * 64

VERIFIED, FAILED, UNREADABLE, UNPINNED = 0, 1, 2, 3
EXIT_CODES = (VERIFIED, FAILED, UNREADABLE, UNPINNED)

MAX_SIGNATURES = 100  # c2sp.org/signed-note: at least 16 must be accepted
MAX_TREE_SIZE = 2**64 - 1
NOTE_MAX = 1 << 20  # manifest.sig, the checkpoint and keys.txt are small
_READ_CHUNK = 1 << 20
_SIG_PREFIX = "\u2014 "  # em dash, space
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_KEY_ID = re.compile(r"[0-9a-fA-F]{8}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # every ASCII control character but \n
_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}\+00:00")
_SAFE_INT = 2**53 - 1


@dataclass(frozen=True)
class Limits:
    """What the verifier reads at most; checked on the ZIP's central directory before
    any member is read. The defaults hold a whole-registry pack of tens of thousands
    of systems; raise them with the command-line options for a larger one."""

    members: int = 200_000
    member_size: int = 1 << 30  # 1 GiB uncompressed
    total_size: int = 4 << 30  # 4 GiB uncompressed
    ratio: int = 200  # uncompressed / compressed, for members over ratio_floor
    ratio_floor: int = 1 << 20


@dataclass(frozen=True)
class Expected:
    """What the auditor expects the pack to be (None: not stated): a pack that is
    another one fails, however well it verifies."""

    scope: str | None = None  # "system" or "registry"
    system: str | None = None  # the one system's reference (scope "system")
    as_of: _dt.datetime | None = None


class PackFailure(Exception):
    """The pack failed verification at ``where`` (a file, or a file and an event)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class PackUnreadable(Exception):
    """The file cannot be read as a pack (missing, not a ZIP, corrupt, over a limit,
    encrypted, compressed in a way this verifier does not read, not UTF-8 or JSON)."""


# --- strict text, base64 and JSON ---------------------------------------------------------


def strict_b64(text: str, what: str) -> bytes:
    """Standard, padded base64 (RFC 4648 section 4) in its one canonical spelling."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise ValueError(f"{what} is not base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise ValueError(f"{what} is not canonical base64")
    return raw


def _utf8(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PackUnreadable(f"{where} is not UTF-8 (byte {exc.start})") from None


def _encode(text: str, where: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise PackFailure(where, "holds text that is not valid Unicode") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return result


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json(data: bytes, where: str) -> Any:
    """Strict JSON: UTF-8, no duplicate keys, no NaN or Infinity; too deep a nesting
    is refused rather than exhausting the stack."""
    text = _utf8(data, where)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except RecursionError:
        raise PackUnreadable(f"{where} is JSON nested too deeply") from None
    except ValueError as exc:
        raise PackUnreadable(f"{where} is not well-formed JSON ({exc})") from None


_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
_SCALARS = (str, bool, type(None))


def _canonical(value: Any) -> bytes | None:
    """The RFC 8785 bytes of ``value`` when it holds only what events and bodies of this
    registry hold (text, integers of JSON's safe range, booleans, null, arrays, objects
    with ASCII keys), for which the standard library writes exactly RFC 8785; else None."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind is int:
            if not -_SAFE_INT <= item <= _SAFE_INT:
                return None
        elif kind is list:
            stack.extend(item)
        elif kind is dict:
            if not all(k.isascii() for k in item):
                return None
            stack.extend(item.values())
        else:
            return None
    try:
        return _CANONICAL.encode(value).encode("utf-8")
    except (UnicodeEncodeError, RecursionError, ValueError):
        return None


def _same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values (``1``, ``1.0`` and ``true`` are three different values)."""
    if type(a) is not type(b):
        return False
    if type(a) in _SCALARS or type(a) is int:
        return bool(a == b)
    try:
        return _CANONICAL.encode(a) == _CANONICAL.encode(b)
    except (ValueError, RecursionError):
        return False


def _object(value: Any, where: str, keys: frozenset[str], exact: bool = True) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PackFailure(where, "is not a JSON object")
    missing = sorted(keys - set(value))
    if missing:
        raise PackFailure(where, f"lacks {', '.join(missing)}")
    extra = sorted(set(value) - keys) if exact else []
    if extra:
        raise PackFailure(where, f"has fields the format does not define: {', '.join(extra)}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise PackFailure(where, "is not a JSON array")
    return value


def _int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise PackFailure(where, "is not an integer")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise PackFailure(where, "is not text")
    return value


def _instant(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _INSTANT.fullmatch(value):
        raise PackFailure(where, "is not an instant as the registry writes it")
    return value


def _instant_text(instant: _dt.datetime) -> str:
    """An instant as the registry writes it (UTC, six fractional digits)."""
    return instant.astimezone(_dt.timezone.utc).isoformat(timespec="microseconds")


def parse_instant(text: str) -> _dt.datetime:
    """An ISO 8601 instant with a time zone (``Z`` or an offset), in UTC; ValueError
    otherwise."""
    written = text.strip()
    if written[-1:] in ("Z", "z"):
        written = written[:-1] + "+00:00"
    try:
        instant = _dt.datetime.fromisoformat(written)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 instant") from None
    if instant.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone (give Z or an offset)")
    try:
        return instant.astimezone(_dt.timezone.utc)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range in UTC") from None


# --- keys and signed notes (c2sp.org/signed-note, Ed25519) ------------------------------


@dataclass(frozen=True)
class VerifierKey:
    text: str
    name: str
    key_id: bytes
    public_key: Ed25519PublicKey

    @property
    def label(self) -> str:
        return f"{self.name}+{self.key_id.hex()}"


def check_key_name(name: str) -> str:
    """Non-empty, no Unicode space, no "+", no control character."""
    if not name or "+" in name or any(ch.isspace() or ord(ch) < 0x20 for ch in name):
        raise ValueError(f"{name!r} is not a key name")
    return name


def _key_id(name: str, raw_public: bytes, alg: int = 0x01) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([alg]) + raw_public).digest()[:4]


def parse_key(text: str, alg: int = 0x01) -> VerifierKey:
    """``<name>+<8 hex key id>+<base64(alg || 32-byte Ed25519 key)>``: alg 0x01 for the
    registry's keys, 0x04 for a witness's (c2sp.org/tlog-cosignature, cosignature/v1)."""
    parts = text.split("+", 2)  # base64 may contain "+"; a key name may not
    if len(parts) != 3:
        raise ValueError(f"not a verifier key: {text[:40]!r}")
    name, hex_id, b64 = parts
    try:
        check_key_name(name)
        if not _KEY_ID.fullmatch(hex_id):
            raise ValueError(f"key id {hex_id[:16]!r} is not 8 hex digits")
        raw = strict_b64(b64, "the key")
        if len(raw) != 33 or raw[0] != alg:
            raise ValueError("not an Ed25519 key" if alg == 0x01 else "not a witness key")
        public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
        name.encode("utf-8")
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"not a verifier key ({exc}): {text[:40]!r}") from None
    if _key_id(name, raw[1:], alg) != bytes.fromhex(hex_id):
        raise ValueError(f"the key id of {name!r} does not match its key")
    return VerifierKey(text, name, bytes.fromhex(hex_id), public_key)


def parse_keys(text: str) -> list[VerifierKey]:
    """The keys of ``keys.txt``: one a line, each line ending in a newline."""
    if not text or not text.endswith("\n"):
        raise ValueError("holds no keys, one a line, each ending in a newline")
    return [parse_key(line) for line in text[:-1].split("\n")]


@dataclass(frozen=True)
class SignatureLine:
    name: str
    key_id: bytes
    signature: bytes


def note_text(data: bytes, where: str) -> str:
    """A note as text: UTF-8 without control characters other than newline."""
    text = _utf8(data, where)
    control = _CONTROL.search(text)
    if control:
        raise PackFailure(where, f"holds control character {control.group()!r}, not a note")
    return text


def split_note(text: str) -> tuple[str, list[SignatureLine]]:
    """The text of a signed note and its signature lines, not yet verified."""
    if _CONTROL.search(text):
        raise ValueError("a note holds no control character but newline")
    if not text.endswith("\n"):
        raise ValueError("a note ends with a newline")
    split = text.rfind("\n\n")
    if split < 0:
        raise ValueError("not a signed note (no empty line before the signatures)")
    body, block = text[: split + 1], text[split + 2 :]
    if not block:
        raise ValueError("the note has no signature lines")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise ValueError(f"the note has more than {MAX_SIGNATURES} signatures")
    signatures = []
    for number, line in enumerate(lines, 1):
        if not line.startswith(_SIG_PREFIX):
            raise ValueError(f"signature line {number} does not start with an em dash")
        name, space, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        if not space:
            raise ValueError(f"signature line {number} has no signature")
        check_key_name(name)
        raw = strict_b64(encoded, f"signature line {number}")
        if len(raw) < 5:
            raise ValueError(f"signature line {number} is too short")
        signatures.append(SignatureLine(name, raw[:4], raw[4:]))
    return body, signatures


def open_note(
    text: str, keys: list[VerifierKey], context: bytes = b""
) -> tuple[str, list[VerifierKey]]:
    """The text of a signed note and the trusted keys whose signatures verified, each
    over ``context`` followed by the text (a checkpoint: no context; a pack statement:
    :data:`STATEMENT_CONTEXT`).

    As c2sp.org/signed-note says: a signature whose key name and key id are not both
    those of a trusted key is ignored (a witness's cosignature, say); one by a trusted
    key must verify, or the note is rejected; with none by a trusted key, it is too."""
    body, signatures = split_note(text)
    data = context + body.encode("utf-8")
    index = {(k.name, k.key_id): k for k in keys}
    verified: list[VerifierKey] = []
    for sig in signatures:
        key = index.get((sig.name, sig.key_id))
        if key is None:
            continue
        try:
            if len(sig.signature) != 64:
                raise InvalidSignature
            key.public_key.verify(sig.signature, data)
        except InvalidSignature:
            raise ValueError(f"the signature of key {key.label} does not verify") from None
        if key not in verified:
            verified.append(key)
    if not verified:
        raise ValueError("no signature by a trusted key")
    return body, verified


@dataclass(frozen=True)
class CheckpointBody:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...]


def parse_checkpoint(body: str) -> CheckpointBody:
    """c2sp.org/tlog-checkpoint: origin, tree size (ASCII decimal, no leading zeros),
    base64 root hash, then optional non-empty extension lines."""
    lines = body[:-1].split("\n")
    if len(lines) < 3 or not all(lines):
        raise ValueError("is not a checkpoint (origin, tree size, root hash)")
    origin, size_text, root_text = lines[:3]
    if not _DECIMAL.fullmatch(size_text) or len(size_text) > 20:
        raise ValueError(f"tree size {size_text[:24]!r} is not a decimal without leading zeros")
    size = int(size_text)
    if size > MAX_TREE_SIZE:
        raise ValueError(f"tree size {size_text} is too large")
    root = strict_b64(root_text, "the root hash")
    if len(root) != 32:
        raise ValueError("the root hash is not 32 bytes")
    return CheckpointBody(origin, size, root, tuple(lines[3:]))


def check_cosignature(text: str, witness: VerifierKey) -> int:
    """The time of ``witness``'s valid cosignature/v1 of the checkpoint note ``text``
    (c2sp.org/tlog-cosignature): key id over 0x04, an 8-byte big-endian timestamp, then
    Ed25519 over "cosignature/v1\\ntime <t>\\n" and the checkpoint text."""
    body, signatures = split_note(text)
    for sig in signatures:
        if (sig.name, sig.key_id) != (witness.name, witness.key_id):
            continue
        if len(sig.signature) != 72:
            raise ValueError(f"the cosignature of witness {witness.label} is malformed")
        timestamp = int.from_bytes(sig.signature[:8], "big")
        message = f"cosignature/v1\ntime {timestamp}\n{body}".encode()
        try:
            if not 0 < timestamp < 2**63:
                raise InvalidSignature
            witness.public_key.verify(sig.signature[8:], message)
        except InvalidSignature:
            raise ValueError(f"witness {witness.label}: its cosignature does not verify") from None
        return timestamp
    raise ValueError(f"has no cosignature by witness {witness.label}")


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


def consistent(
    first: int, second: int, first_root: bytes, second_root: bytes, path: list[bytes]
) -> bool:
    """Whether ``path`` proves the tree of ``first`` leaves (root ``first_root``) a
    prefix of the tree of ``second`` leaves (root ``second_root``): RFC 9162 section
    2.1.4.2, step by step."""
    if not 0 < first <= second or any(len(h) != 32 for h in (first_root, second_root, *path)):
        return False
    if first == second:
        return not path and first_root == second_root
    if not path:
        return False
    if first & (first - 1) == 0:  # an exact power of 2: the old root is a node of the new
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = _node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_root and sr == second_root and sn == 0


# --- the ZIP --------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _safe_name(name: str) -> bool:
    parts = name.split("/")
    return (
        bool(name)
        and not name.startswith("/")
        and "\\" not in name
        and ":" not in parts[0]
        and all(part not in ("", ".", "..") for part in parts)
        and not _CONTROL.search(name)
    )


@dataclass
class Summary:
    lines: list[str] = field(default_factory=list)
    pinned: bool = False
    # Why the pack's completeness could not be proven (an older ledger): each reason
    # is also one of ``lines``; with --require-complete any is a failure.
    unproven: list[str] = field(default_factory=list)
    # What the pack is, as its signed manifest says: its scope ("system" or
    # "registry") and systems, its as-of instant, the checkpoint it rests on, and the
    # manifest's SHA-256 (what the registry's list of exports gives for it).
    scope: str = ""
    systems: list[str] = field(default_factory=list)
    as_of: str = ""
    origin: str = ""
    tree_size: int = 0
    root_hash: str = ""
    manifest_sha256: str = ""

    def what(self) -> str:
        """The pack in a few words: its scope and its as-of instant."""
        if self.scope == "system":
            return f"the pack of system {self.systems[0]} as of {self.as_of}"
        return f"the pack of the whole registry ({self.counted()}) as of {self.as_of}"

    def counted(self) -> str:
        return f"{len(self.systems)} system{'' if len(self.systems) == 1 else 's'}"

    def not_proven(self, line: str) -> None:
        self.unproven.append(line)
        self.add(line)

    def add(self, line: str) -> None:
        self.lines.append(line)


class Pack:
    """The members of the ZIP, checked against ``limits`` before any is read."""

    def __init__(self, path: str, limits: Limits) -> None:
        try:
            self.zip = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise PackUnreadable(f"{path}: no such file") from None
        except IsADirectoryError:
            raise PackUnreadable(f"{path}: is a folder, not a ZIP file") from None
        except Exception as exc:  # the standard library's ZIP parser, on any bytes
            raise PackUnreadable(f"{path}: not a ZIP file ({exc})") from None
        infos = self.zip.infolist()
        if len(infos) > limits.members:
            raise PackUnreadable(f"{path}: holds {len(infos)} members, over {limits.members}")
        self.files: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.filename
            if info.flag_bits & 0x41:  # encrypted, strongly encrypted
                raise PackUnreadable(f"{name!r} is encrypted")
            if info.flag_bits & 0x20:
                raise PackUnreadable(f"{name!r} holds patched data, which is not read")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise PackUnreadable(
                    f"{name!r} uses compression method {info.compress_type}; "
                    "only stored and deflated members are read"
                )
            if info.file_size > limits.member_size:
                raise PackUnreadable(
                    f"{name!r} declares {info.file_size} bytes, over the limit of "
                    f"{limits.member_size}"
                )
            if info.file_size > limits.ratio_floor and info.file_size > limits.ratio * max(
                info.compress_size, 1
            ):
                raise PackUnreadable(
                    f"{name!r} expands {info.file_size} / {info.compress_size} bytes, over "
                    f"the ratio limit of {limits.ratio}"
                )
            total += info.file_size
            if total > limits.total_size:
                raise PackUnreadable(f"the members declare over {limits.total_size} bytes in all")
            if name.endswith("/") and info.file_size == 0:
                continue  # a directory entry, as zip -r writes them: not part of the pack
            if not _safe_name(name):
                raise PackUnreadable(f"{name!r} is not a relative path inside the pack")
            if name in self.files:
                raise PackUnreadable(f"{name!r} appears twice in the ZIP")
            self.files[name] = info
        self.names = set(self.files)
        self._cache: dict[str, bytes] = {}

    def _chunks(self, name: str) -> Any:
        if name not in self.files:
            raise PackFailure(name, "is missing from the pack")
        info = self.files[name]
        left = info.file_size
        try:
            with self.zip.open(info) as fh:
                while True:
                    # Never more than the declared size (and a piece at a time), whatever
                    # the compressed data would expand to; the CRC is checked at the end.
                    chunk = fh.read(min(_READ_CHUNK, left + 1))
                    if not chunk:
                        break
                    left -= len(chunk)
                    if left < 0:
                        raise PackUnreadable(f"{name!r} is longer than its declared size")
                    yield chunk
        except PackUnreadable:
            raise
        except (
            zipfile.BadZipFile,
            OSError,
            EOFError,
            zlib.error,
            ValueError,
            NotImplementedError,  # e.g. "compressed patched data" (flag bit 5)
            RuntimeError,
        ) as exc:
            raise PackUnreadable(f"{name!r} cannot be read ({exc})") from None
        if left:
            raise PackUnreadable(f"{name!r} is shorter than its declared size")

    def read(self, name: str, at_most: int | None = None) -> bytes:
        if at_most is not None and name in self.files and self.files[name].file_size > at_most:
            raise PackFailure(name, f"is over {at_most} bytes, too large for what it is")
        if name not in self._cache:
            self._cache[name] = b"".join(self._chunks(name))
        return self._cache[name]

    def digest(self, name: str, keep: bool = True) -> str:
        """The member's SHA-256; ``keep``: keep its bytes, to be parsed next."""
        if keep or name in self._cache:
            return _sha256(self.read(name))
        h = hashlib.sha256()
        for chunk in self._chunks(name):
            h.update(chunk)
        return h.hexdigest()


# --- the pack -------------------------------------------------------------------------


def _names(keys: list[VerifierKey]) -> str:
    return ", ".join(k.label for k in keys)


_MANIFEST_FIELDS = frozenset(
    {"format", "format_version", "origin", "scope", "as_of", "ledger_size", "checkpoint", "files"}
)
_STATEMENT_LINE = re.compile(r"(\S+) sha256:([0-9a-f]{64})")


def _opens(text: str, trusted: list[VerifierKey], context: bytes) -> bool:
    """Whether a trusted key's signature on ``text`` verifies over ``context`` and the
    text: to say why a note signed for the other purpose is refused."""
    try:
        open_note(text, trusted, context)
    except ValueError:
        return False
    return True


def _open_checkpoint(
    text: str, trusted: list[VerifierKey], where: str
) -> tuple[CheckpointBody, list[VerifierKey]]:
    """A checkpoint note signed by a trusted key over its text alone, parsed strictly;
    one signed over the pack statement's context is named as such."""
    try:
        body, signers = open_note(text, trusted)
        return parse_checkpoint(body), signers
    except ValueError as exc:
        if _opens(text, trusted, STATEMENT_CONTEXT):
            raise PackFailure(
                where,
                "is signed as a pack statement is, not as a checkpoint: refused (a pack "
                "statement's signature never stands for a checkpoint)",
            ) from None
        raise PackFailure(where, str(exc)) from None


def _verify_signature(pack: Pack, trusted: list[VerifierKey], summary: Summary) -> dict[str, Any]:
    """``manifest.sig`` first: nothing else the pack says is read before the digests it
    signs are checked."""
    text = note_text(pack.read(SIGNATURE, NOTE_MAX), SIGNATURE)
    try:
        statement, signers = open_note(text, trusted, STATEMENT_CONTEXT)
    except ValueError as exc:
        if _opens(text, trusted, b""):
            raise PackFailure(
                SIGNATURE,
                "is signed as a checkpoint is, not as a pack statement (over the text "
                "without the statement's context): refused (a checkpoint's signature never "
                "stands for a pack; a pack of format 1 needs that release's verifier)",
            ) from None
        raise PackFailure(SIGNATURE, str(exc)) from None
    lines = statement[:-1].split("\n")
    stated = [_STATEMENT_LINE.fullmatch(line) for line in lines[2:]]
    if len(lines) != 4 or lines[1] != STATEMENT or not all(stated):
        raise PackFailure(SIGNATURE, "is not the statement of an evidence pack")
    origin = lines[0]
    digests = {m.group(1): m.group(2) for m in stated if m}
    if list(digests) != [MANIFEST, PDF]:
        raise PackFailure(SIGNATURE, f"does not state the digests of {MANIFEST} and {PDF}")
    digest = pack.digest(MANIFEST, keep=False)  # read whole only once it is the signed one
    if digest != digests[MANIFEST]:
        raise PackFailure(MANIFEST, "does not match the digest the signature states")
    if pack.digest(PDF, keep=False) != digests[PDF]:
        raise PackFailure(PDF, "does not match the digest the signature states")
    manifest = _object(_json(pack.read(MANIFEST), MANIFEST), MANIFEST, _MANIFEST_FIELDS, False)
    if manifest["format"] != PACK_FORMAT:
        raise PackFailure(MANIFEST, "is not the manifest of an evidence pack")
    if (
        manifest["format_version"] not in FORMATS_READ
        or type(manifest["format_version"]) is not int
    ):
        raise PackFailure(
            MANIFEST,
            f"has format version {manifest['format_version']!r}, not one of "
            f"{', '.join(map(str, FORMATS_READ))}",
        )
    if manifest["origin"] != origin:
        raise PackFailure(MANIFEST, f"names another origin than {SIGNATURE} ({origin!r})")
    _instant(manifest["as_of"], f"{MANIFEST}: as_of")
    summary.manifest_sha256 = digest
    summary.origin = origin
    summary.add(f"manifest {digest} and {PDF} signed by {_names(signers)}")
    return manifest


def _verify_files(
    pack: Pack, manifest: dict[str, Any], read_next: set[str], summary: Summary
) -> None:
    """Every file listed, with its digest; the bytes of ``read_next`` are kept to be
    parsed next, the others only hashed as they stream by."""
    files = manifest["files"]
    if not isinstance(files, dict):
        raise PackFailure(MANIFEST, "lists no files")
    for name in sorted(files):
        if name in (MANIFEST, SIGNATURE, PDF) or not isinstance(files[name], str):
            raise PackFailure(MANIFEST, f"lists {name!r} wrongly")
        if name not in pack.names:
            raise PackFailure(name, "is listed in the manifest but missing from the pack")
    for name in sorted(pack.names - {MANIFEST, SIGNATURE, PDF}):
        if name not in files:
            raise PackFailure(name, "is in the pack but not in the manifest")
    for name in sorted(files):
        if pack.digest(name, keep=name in read_next) != files[name]:
            raise PackFailure(name, "does not match its SHA-256 in the manifest")
    summary.add(f"{len(files)} files match their SHA-256 in the manifest")


def _verify_checkpoint(
    pack: Pack,
    manifest: dict[str, Any],
    trusted: list[VerifierKey],
    summary: Summary,
    witnesses: Sequence[VerifierKey] = (),
) -> tuple[int, bytes]:
    text = note_text(pack.read(CHECKPOINT, NOTE_MAX), CHECKPOINT)
    checkpoint, signers = _open_checkpoint(text, trusted, CHECKPOINT)
    try:
        for witness in witnesses:
            when = _dt.datetime.fromtimestamp(check_cosignature(text, witness), _dt.timezone.utc)
            summary.add(f"cosigned by witness {witness.label} at {when:%Y-%m-%dT%H:%M:%SZ}")
    except ValueError as exc:
        raise PackFailure(CHECKPOINT, str(exc)) from None
    stated = _object(
        manifest["checkpoint"], f"{MANIFEST}: checkpoint", frozenset({"tree_size", "root_hash"})
    )
    if checkpoint.origin != manifest["origin"]:
        raise PackFailure(
            CHECKPOINT, f"is a checkpoint of {checkpoint.origin!r}, not of {manifest['origin']!r}"
        )
    if checkpoint.size != stated["tree_size"] or checkpoint.root.hex() != stated["root_hash"]:
        raise PackFailure(CHECKPOINT, "is not the checkpoint the manifest names")
    summary.tree_size, summary.root_hash = checkpoint.size, checkpoint.root.hex()
    summary.add(
        f"checkpoint of {checkpoint.size} events, root {checkpoint.root.hex()}, signed by "
        f"{_names(signers)}"
    )
    return checkpoint.size, checkpoint.root


@dataclass(frozen=True)
class Known:
    """A checkpoint the auditor kept from before (an older pack's, the monitor's), and
    perhaps a consistency proof between it and the pack's (as the registry serves it:
    ``GET /api/v1/ledger/consistency?from=M&to=N``)."""

    note: str
    proof: Any = None  # the proof's JSON document, None: none given


def _verify_known(
    known: Known, trusted: list[VerifierKey], origin: str, size: int, root: bytes, summary: Summary
) -> None:
    """That the pack's checkpoint and the known one are of one log that only grew: the
    same tree when of the same size, else a consistency proof from the smaller to the
    larger."""
    where = "the known checkpoint"
    old, _signers = _open_checkpoint(known.note, trusted, where)
    if old.origin != origin:
        raise PackFailure(where, f"is of {old.origin!r}, not of {origin!r}")
    if old.size == size:
        if old.root != root:
            raise PackFailure(
                where,
                f"has the pack's tree size ({size}) and another root: two trees of one "
                "size, a fork or a rewritten ledger",
            )
        summary.add(f"the known checkpoint of {size} events is the pack's checkpoint")
        return
    first, second = sorted((old.size, size))
    first_root, second_root = (old.root, root) if old.size < size else (root, old.root)
    if known.proof is None:
        raise PackFailure(
            where,
            f"is of {old.size} events and the pack's of {size}: give the consistency proof "
            f"between them (--consistency-proof, the registry's "
            f"/api/v1/ledger/consistency?from={first}&to={second})",
        )
    at = "the consistency proof"
    doc = _object(
        known.proof, at, frozenset({"from", "to", "from_root", "to_root", "proof"}), False
    )
    if (_int(doc["from"], at), _int(doc["to"], at)) != (first, second):
        raise PackFailure(at, f"is not between trees of {first} and {second} events")
    path = _hashes(doc["proof"], f"{at}: proof")
    if _hashes([doc["from_root"], doc["to_root"]], at) != [first_root, second_root]:
        raise PackFailure(at, "names other roots than the two signed checkpoints")
    if not consistent(first, second, first_root, second_root, path):
        raise PackFailure(
            at,
            f"does not prove the tree of {second} events extends the tree of {first}: the "
            "ledger was rewritten or forked",
        )
    if old.size < size:
        summary.add(f"extends the known checkpoint of {old.size} events (consistency proven)")
    else:
        summary.add(
            f"is an earlier state of the known checkpoint of {old.size} events (consistency proven)"
        )


@dataclass
class Event:
    seq: int
    data: bytes
    fields: dict[str, Any]


def _verify_events(
    pack: Pack, manifest: dict[str, Any], size: int, root: bytes, summary: Summary
) -> dict[int, Event]:
    raw = pack.read(EVENTS)
    proofs_doc = _object(
        _json(pack.read(PROOFS), PROOFS), PROOFS, frozenset({"tree_size", "proofs"}), False
    )
    proofs = _list(proofs_doc["proofs"], f"{PROOFS}: proofs")
    if proofs_doc["tree_size"] != size:
        raise PackFailure(PROOFS, "does not hold proofs into the checkpoint's tree")
    if raw and not raw.endswith(b"\n"):
        raise PackFailure(EVENTS, "does not end with a newline")
    lines = raw[:-1].split(b"\n") if raw else []
    if len(lines) != len(proofs):
        raise PackFailure(PROOFS, f"holds {len(proofs)} proofs for {len(lines)} events")
    ledger_size = _int(manifest["ledger_size"], f"{MANIFEST}: ledger_size")
    as_of = manifest["as_of"]
    if not 0 < ledger_size <= size:
        raise PackFailure(MANIFEST, "states a ledger size the checkpoint does not cover")
    events: dict[int, Event] = {}
    previous: Event | None = None
    for number, (line, proof) in enumerate(zip(lines, proofs, strict=True), 1):
        fields = _json(line, f"{EVENTS}: line {number}")
        if not isinstance(fields, dict):
            raise PackFailure(f"{EVENTS}: line {number}", "is not an event")
        seq = fields.get("seq")
        where = f"{EVENTS}: event {seq}" if isinstance(seq, int) else f"{EVENTS}: line {number}"
        if _canonical(fields) != line:
            raise PackFailure(where, "is not in the canonical form (RFC 8785) the ledger hashes")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise PackFailure(where, "has no sequence number")
        if previous is not None and seq <= previous.seq:
            raise PackFailure(where, "is out of order")
        if seq > ledger_size:
            raise PackFailure(where, f"comes after the last event recorded by {as_of}")
        if not isinstance(fields.get("time"), str) or fields["time"] > as_of:
            raise PackFailure(where, f"was not recorded by {as_of}")
        if not isinstance(fields.get("prev_hash"), str):
            raise PackFailure(where, "carries no previous hash")
        if not isinstance(proof, dict) or proof.get("seq") != seq:
            raise PackFailure(where, "has no inclusion proof (the proofs are for other events)")
        try:
            path = [bytes.fromhex(h) for h in proof["path"]]
            if any(len(h) != 32 for h in path):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise PackFailure(where, "has a malformed inclusion proof") from None
        if root_from_inclusion(seq - 1, size, leaf_hash(line), path) != root:
            raise PackFailure(where, "is not in the signed checkpoint (its inclusion proof fails)")
        if previous is not None and previous.seq == seq - 1:
            if fields["prev_hash"] != _sha256(previous.data):
                raise PackFailure(where, "does not carry the hash of the event before it")
        elif seq == 1 and fields["prev_hash"] != GENESIS:
            raise PackFailure(where, "is the first event but does not start the chain")
        event = Event(seq, line, fields)
        events[seq] = event
        previous = event
    scope = manifest["scope"]
    if scope["type"] == "registry" and len(events) != ledger_size:
        raise PackFailure(EVENTS, f"holds {len(events)} of the {ledger_size} events in scope")
    summary.add(
        f"{len(events)} events proven in the checkpoint's tree"
        + (" and chained, 1 to the last" if len(events) == ledger_size else "")
    )
    return events


# --- completeness (docs/evidence-format.md, Completeness) ------------------------------


def map_leaf(system_id: int, last_seq: int) -> bytes:
    """The bytes of system ``system_id``'s leaf in a ``ledger.systems`` map."""
    return b'{"last_seq":%d,"system_id":%d}' % (last_seq, system_id)


def _map_root(last_seqs: list[int]) -> bytes:
    """The RFC 9162 tree hash of the map whose leaf ``i`` is system ``i + 1``'s."""
    level = [leaf_hash(map_leaf(i + 1, s)) for i, s in enumerate(last_seqs)]
    if not level:
        return hashlib.sha256(b"").digest()
    while len(level) > 1:
        paired = [_node(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _proven_event(item: Any, where: str, size: int, root: bytes) -> Event:
    """An event carried as proof material: its exact bytes, in the checkpoint's tree."""
    item = _object(item, where, frozenset({"seq", "event", "path"}))
    seq = item["seq"]
    if type(seq) is not int or not 0 < seq <= size:
        raise PackFailure(where, "names no event of the checkpoint's tree")
    data = _encode(_str(item["event"], where), where)
    fields = _json(data, where)
    if not isinstance(fields, dict) or _canonical(fields) != data or fields.get("seq") != seq:
        raise PackFailure(where, f"is not the canonical bytes of event {seq}")
    path = _hashes(item["path"], where)
    if root_from_inclusion(seq - 1, size, leaf_hash(data), path) != root:
        raise PackFailure(where, f"event {seq} is not in the signed checkpoint")
    return Event(seq, data, fields)


def _hashes(value: Any, where: str) -> list[bytes]:
    try:
        path = [bytes.fromhex(h) for h in _list(value, where)]
    except (TypeError, ValueError):
        raise PackFailure(where, "has a malformed proof") from None
    if any(len(h) != 32 for h in path):
        raise PackFailure(where, "has a malformed proof")
    return path


def _verify_completeness(
    pack: Pack,
    manifest: dict[str, Any],
    size: int,
    root: bytes,
    events: dict[int, Event],
    systems: list[str],
    summary: Summary,
) -> None:
    """That the pack holds every event of each system recorded by the as-of instant:
    the checkpoint's last leaf is the map of each system's last event; each system's
    leaf is in it; from there the system's chain of ``system_prev`` links runs down to
    its registration through events the pack holds, and it holds no other."""
    where = COMPLETENESS
    if COMPLETENESS not in pack.names:
        raise PackFailure(where, "is missing: a pack of format 2 proves that it is complete")
    doc = _object(_json(pack.read(COMPLETENESS), where), where, frozenset({"map"}), False)
    if doc["map"] is None:
        summary.not_proven(
            "completeness NOT PROVEN: the checkpoint predates the map of the systems' last "
            "events (an older ledger)"
        )
        return
    ledger_size = manifest["ledger_size"]
    map_event = _proven_event(doc["map"], f"{where}: map", size, root)
    fields = map_event.fields
    m, map_root = fields.get("systems"), fields.get("root")
    if map_event.seq != size or fields.get("action") != MAP_ACTION:
        raise PackFailure(f"{where}: map", "is not the checkpoint's last event, its map")
    if type(m) is not int or not isinstance(map_root, str) or not _HEX64.fullmatch(map_root):
        raise PackFailure(f"{where}: map", "is not a map of the systems' last events")
    later: dict[int, Event] = {}
    for i, item in enumerate(_list(doc.get("later_events", []), f"{where}: later_events")):
        event = _proven_event(item, f"{where}: later_events[{i}]", size, root)
        if event.seq <= ledger_size or event.seq >= size:
            raise PackFailure(
                f"{where}: event {event.seq}", "is not between the as-of instant and the map"
            )
        later[event.seq] = event
    whole = doc.get("last_seqs")
    if whole is not None:
        whole = _list(whole, f"{where}: last_seqs")
        if len(whole) != m or not all(type(s) is int and 0 <= s < size for s in whole):
            raise PackFailure(f"{where}: last_seqs", "is not a map of the stated size")
        if _map_root(whole) != bytes.fromhex(map_root):
            raise PackFailure(f"{where}: last_seqs", "does not hash to the map's root")
    entries = _list(doc.get("systems"), f"{where}: systems")
    if [e.get("system") if isinstance(e, dict) else None for e in entries] != systems:
        raise PackFailure(f"{where}: systems", "does not list the systems of the scope")
    about: dict[str, set[int]] = {}
    for event in events.values():
        if isinstance(event.fields.get("system"), str):
            about.setdefault(event.fields["system"], set()).add(event.seq)
    proven, unproven = 0, []
    used_later: set[int] = set()
    for entry in entries:
        reference = entry["system"]
        at = f"{where}: {reference}"
        system_id, last_seq = entry.get("system_id"), entry.get("last_seq")
        if type(system_id) is not int or not 0 < system_id <= m or type(last_seq) is not int:
            raise PackFailure(at, "is not a leaf of the map")
        if whole is not None:
            if whole[system_id - 1] != last_seq:
                raise PackFailure(at, "is not the map's leaf of that system")
        else:
            path = _hashes(entry.get("path"), at)
            leaf = leaf_hash(map_leaf(system_id, last_seq))
            if root_from_inclusion(system_id - 1, m, leaf, path) != bytes.fromhex(map_root):
                raise PackFailure(at, "its leaf is not in the map (its inclusion proof fails)")
        walked: set[int] = set()
        seq, last = last_seq, None
        while seq != 0:
            event = events.get(seq) or later.get(seq)
            if event is None:
                raise PackFailure(
                    at, f"event {seq} of the system's chain of events is not in the pack"
                )
            if (
                event.fields.get("system") != reference
                or event.fields.get("system_id", system_id) != system_id
            ):
                raise PackFailure(f"{EVENTS}: event {seq}", f"is not about {reference!r}")
            walked.add(seq)
            last = event
            link = event.fields.get("system_prev")
            if link is None and event.fields.get("v") == 1:
                break  # an older ledger's event: no link further down
            if type(link) is not int or not 0 <= link < seq:
                raise PackFailure(f"{EVENTS}: event {seq}", "carries no valid system_prev link")
            seq = link
        if last is None:
            raise PackFailure(at, "the map names no event of the system")
        if seq != 0:
            unproven.append(reference)
        elif (
            last.fields.get("action") != "system.create"
            or last.fields.get("system_id") != system_id
        ):
            raise PackFailure(at, "its chain of events does not end at its registration")
        held = about.get(reference, set())
        extra = held - walked
        if extra and seq == 0:
            raise PackFailure(
                f"{EVENTS}: event {min(extra)}", f"is not on the chain of {reference!r}"
            )
        used_later |= walked & set(later)
        if seq == 0:
            proven += 1
    if set(later) - used_later:
        raise PackFailure(where, "carries events on no system's chain")
    summary.add(
        f"{proven} system(s) COMPLETE: the map at event {size} (the checkpoint's last leaf) "
        "names each system's last event, and its chain of events down to its "
        "registration is in the pack"
    )
    for reference in unproven:
        summary.not_proven(
            f"completeness of {reference!r} NOT PROVEN: its older events (format 1) carry "
            "no system_prev link"
        )


# (field of a history version, field of the event that recorded it)
_EVENT_MATCH = (
    ("entry_id", "entry_id"),
    ("kind", "kind"),
    ("number", "version"),
    ("body_sha256", "body_sha256"),
    ("tombstone", "tombstone"),
    ("author", "actor"),
    ("recorded_at", "time"),
    ("effective_from", "effective_from"),
)
_HISTORY = frozenset({"system", "entries"})
_HISTORY_ENTRY = frozenset({"entry_id", "kind", "versions"})
_VERSION = frozenset(
    {
        "number",
        "recorded_at",
        "effective_from",
        "author",
        "reason",
        "tombstone",
        "audit_seq",
        "body_sha256",
        "body",
    }
)
_STATE = frozenset({"system", "as_of", "entries"})
_STATE_ENTRY = frozenset(
    {"entry_id", "kind", "version", "body_sha256", "recorded_at", "effective_from", "body"}
)
_INDEX = frozenset({"as_of", "systems"})
_INDEX_ROW = frozenset(
    {"reference", "name", "stage", "risk_tier", "live_entries", "entries", "versions", "folder"}
)


@dataclass
class Replayed:
    """A system as its history gives it."""

    entries: int = 0
    versions: int = 0
    live: dict[Any, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # id: kind, last
    profile: dict[str, Any] | None = None
    # (entry id, version number): (kind, body hash), for every version recorded
    recorded: dict[tuple[int, int], tuple[str, str]] = field(default_factory=dict)


def _verify_history(
    pack: Pack, reference: str, events: dict[int, Event]
) -> tuple[Replayed, set[int]]:
    name = f"systems/{reference}/history.json"
    history = _object(_json(pack.read(name), name), name, _HISTORY)
    if history["system"] != reference:
        raise PackFailure(name, "holds the records of another system")
    replayed = Replayed()
    recorded: set[int] = set()
    seen_entries: set[Any] = set()
    for i, entry in enumerate(_list(history["entries"], f"{name}: entries")):
        entry = _object(entry, f"{name}: entries[{i}]", _HISTORY_ENTRY)
        entry_id, kind = entry["entry_id"], entry["kind"]
        where = f"{name}: entry {entry_id}"
        _int(entry_id, where)
        _str(kind, f"{where}: kind")
        if entry_id in seen_entries:
            raise PackFailure(where, "appears twice")
        seen_entries.add(entry_id)
        versions = _list(entry["versions"], f"{where}: versions")
        if not versions:
            raise PackFailure(where, "has no versions")
        last_seq = 0
        for n, version in enumerate(versions, 1):
            at = f"{where} version {n}"
            version = _object(version, at, _VERSION)
            if version["number"] != n:
                raise PackFailure(where, "does not hold versions 1, 2, … in order")
            body = _str(version["body"], f"{at}: body")
            if _sha256(_encode(body, at)) != version["body_sha256"]:
                raise PackFailure(at, "does not match its body hash")
            seq = version["audit_seq"]
            event = events.get(seq) if type(seq) is int else None
            if event is None:
                raise PackFailure(at, f"names event {seq!r}, not in the pack")
            if seq <= last_seq:
                raise PackFailure(at, "was recorded before the version it follows")
            last_seq = seq
            found = dict(version, entry_id=entry_id, kind=kind)
            for ours, theirs in _EVENT_MATCH:
                if not _same_json(found[ours], event.fields.get(theirs)):
                    raise PackFailure(at, f"differs from event {seq} in {theirs}")
            if event.fields.get("system") != reference:
                raise PackFailure(at, f"event {seq} is about another system")
            reason = _str(version["reason"], f"{at}: reason")
            if _sha256(_encode(reason, at)) != event.fields.get("reason_sha256"):
                raise PackFailure(at, f"its reason differs from event {seq}")
            recorded.add(seq)
            replayed.recorded[(entry_id, n)] = (kind, version["body_sha256"])
            replayed.versions += 1
        last = versions[-1]
        if not last["tombstone"]:
            body = _json(_encode(last["body"], where), f"{where}: body")
            if not isinstance(body, dict):
                raise PackFailure(where, "has a body that is not a JSON object")
            replayed.live[entry_id] = (kind, dict(last, body=body))
            if kind == "profile" and replayed.profile is None:
                replayed.profile = body
        replayed.entries += 1
    return replayed, recorded


def _verify_state(pack: Pack, reference: str, as_of: str, replayed: Replayed) -> None:
    name = f"systems/{reference}/state.json"
    state = _object(_json(pack.read(name), name), name, _STATE)
    if state["system"] != reference:
        raise PackFailure(name, "holds the records of another system")
    if state["as_of"] != as_of:
        raise PackFailure(name, f"is not the state as of {as_of}")
    stated: dict[Any, dict[str, Any]] = {}
    for i, claim in enumerate(_list(state["entries"], f"{name}: entries")):
        claim = _object(claim, f"{name}: entries[{i}]", _STATE_ENTRY)
        entry_id = claim["entry_id"]
        if not isinstance(entry_id, int) or isinstance(entry_id, bool) or entry_id in stated:
            raise PackFailure(f"{name}: entries[{i}]", "names no entry, or one named before")
        stated[entry_id] = claim
    if list(stated) != list(replayed.live):
        for entry_id in sorted(set(stated) | set(replayed.live)):
            where = f"{name}: entry {entry_id}"
            if entry_id not in replayed.live:
                raise PackFailure(where, "is not live after replaying the history")
            if entry_id not in stated:
                raise PackFailure(where, "is live after replaying the history but not stated")
        raise PackFailure(name, "does not list the live entries in the history's order")
    for entry_id, (kind, last) in replayed.live.items():
        claim = stated[entry_id]
        expected = {
            "entry_id": entry_id,
            "kind": kind,
            "version": last["number"],
            "body_sha256": last["body_sha256"],
            "recorded_at": last["recorded_at"],
            "effective_from": last["effective_from"],
            "body": last["body"],
        }
        for key, value in expected.items():
            if not _same_json(claim[key], value):
                raise PackFailure(
                    f"{name}: entry {entry_id}", f"is not what replaying the history gives ({key})"
                )


def _verify_readiness(pack: Pack, reference: str, as_of: str, replayed: Replayed) -> int:
    """The scorecard is the registry's judgement, not recomputed here; but it is of this
    system, at the as-of instant, at the profile's stage, and every version it cites as
    evidence is one the history holds, with that body hash. Returns the citations."""
    name = f"systems/{reference}/readiness.json"
    card = _object(
        _json(pack.read(name), name), name, frozenset({"system", "at", "stage", "areas"}), False
    )
    if card["system"] != reference:
        raise PackFailure(name, "is the scorecard of another system")
    try:
        at = _dt.datetime.fromisoformat(_str(card["at"], f"{name}: at").replace("Z", "+00:00"))
        same = at == _dt.datetime.fromisoformat(as_of)
    except (ValueError, TypeError):
        same = False
    if not same:
        raise PackFailure(name, f"is not the scorecard as of {as_of}")
    if not _same_json(card["stage"], (replayed.profile or {}).get("stage")):
        raise PackFailure(name, "states another stage than the profile's")
    cited = []
    for i, area in enumerate(_list(card["areas"], f"{name}: areas")):
        area = _object(area, f"{name}: areas[{i}]", frozenset({"criteria", "waiver"}), False)
        for j, criterion in enumerate(_list(area["criteria"], f"{name}: areas[{i}] criteria")):
            where = f"{name}: areas[{i}] criteria[{j}]"
            criterion = _object(criterion, where, frozenset({"evidence"}), False)
            cited += [(where, ref) for ref in _list(criterion["evidence"], where)]
        if area["waiver"] is not None:
            cited.append((f"{name}: areas[{i}] waiver", area["waiver"]))
    for where, ref in cited:
        ref = _object(ref, where, frozenset({"entry_id", "kind", "version", "hash"}), False)
        key = (ref["entry_id"], ref["version"])
        found = replayed.recorded.get(key) if all(type(k) is int for k in key) else None
        if found is None or not _same_json([ref["kind"], ref["hash"]], list(found)):
            raise PackFailure(
                where,
                f"cites version {ref['version']!r} of entry {ref['entry_id']!r}, which the "
                "history does not hold as cited",
            )
    return len(cited)


_DOCUMENTS = frozenset({"system", "documents"})
_DOCUMENT = frozenset(
    {
        "receive_seq",
        "sha256",
        "size",
        "media_type",
        "name",
        "title",
        "document_type",
        "received_at",
        "valid_until",
        "withheld",
        "file",
        "left_out",
    }
)
# documents.json's fields that are the receive event's, under the same names.
_RECEIVED = ("sha256", "size", "media_type", "name", "title", "document_type", "valid_until")


@dataclass
class Documents:
    """What the documents of the pack's systems came to."""

    listed: dict[str, set[str]] = field(default_factory=dict)  # reference -> hashes
    carried: set[str] = field(default_factory=set)  # files/<sha256> names
    withheld: list[str] = field(default_factory=list)  # one line each


def _held_by_events(
    events: list[Event], reference: str
) -> tuple[dict[str, Event], dict[str, bool]]:
    """The documents the system's events leave held (by hash: the receive event), and
    each one's withheld mark: received, withheld or not, collected."""
    held: dict[str, Event] = {}
    marks: dict[str, bool] = {}
    ids: set[Any] = set()
    for event in events:
        fields = event.fields
        action = fields.get("action")
        if action in (RECEIVE_ACTION, WITHHOLD_ACTION) and not isinstance(
            fields.get("sha256"), str
        ):
            continue
        if action == RECEIVE_ACTION and fields.get("system") == reference:
            ids.add(fields.get("system_id"))
            held[fields.get("sha256")] = event
            marks[fields.get("sha256")] = fields.get("withheld") is True
        elif action == WITHHOLD_ACTION and fields.get("system") == reference:
            marks[fields.get("sha256")] = fields.get("withheld") is True
        elif action == COLLECT_ACTION and fields.get("system_id") in ids:
            collected = fields.get("sha256")
            for sha256 in collected if isinstance(collected, list) else []:
                held.pop(sha256, None)
    return held, marks


def _verify_documents(
    pack: Pack,
    manifest: dict[str, Any],
    reference: str,
    events: list[Event],
    found: Documents,
) -> None:
    name = f"systems/{reference}/documents.json"
    stated = _object(_json(pack.read(name), name), name, _DOCUMENTS)
    if stated["system"] != reference:
        raise PackFailure(name, "lists the documents of another system")
    held, marks = _held_by_events(events, reference)
    listed = _list(stated["documents"], f"{name}: documents")
    seqs = [d.get("receive_seq") if isinstance(d, dict) else None for d in listed]
    expected = sorted(e.seq for e in held.values())
    if seqs != expected:
        for event in sorted(held.values(), key=lambda e: e.seq):
            if event.seq not in seqs:
                raise PackFailure(
                    name,
                    f"does not list document {event.fields.get('sha256')} received in event "
                    f"{event.seq} and held at the instant",
                )
        raise PackFailure(name, "lists documents the events do not hold, or out of order")
    limit = manifest.get("file_limit")
    files = manifest["files"]
    hashes = found.listed.setdefault(reference, set())
    for document in listed:
        seq = document["receive_seq"]
        where = f"{name}: document {seq}"
        document = _object(document, where, _DOCUMENT)
        event = next(e for e in held.values() if e.seq == seq)
        for key in _RECEIVED:
            if not _same_json(document[key], event.fields.get(key)):
                raise PackFailure(where, f"differs from event {seq} in {key}")
        if document["received_at"] != event.fields.get("time"):
            raise PackFailure(where, f"differs from event {seq} in when it was received")
        sha256 = document["sha256"]
        if not isinstance(sha256, str) or not _HEX64.fullmatch(sha256):
            raise PackFailure(where, "names no SHA-256")
        if document["withheld"] is not marks[sha256]:
            raise PackFailure(where, "is not withheld as the system's events leave it")
        hashes.add(sha256)
        reason = document["left_out"]
        if document["file"] is None:
            size = document["size"]
            if marks[sha256] != (reason == CONFIDENTIAL):
                raise PackFailure(where, f"is left out as {reason!r}, unlike its withheld mark")
            if reason == OVER_LIMIT and not (
                type(limit) is int and type(size) is int and size > limit
            ):
                raise PackFailure(where, "is left out as over the file limit, but is not")
            if reason not in (CONFIDENTIAL, OVER_LIMIT, NOT_KEPT):
                raise PackFailure(where, f"is left out for no reason the format knows ({reason!r})")
            found.withheld.append(
                f"WITHHELD {FILES}{sha256} ({document['name']}, system {reference}): {reason}"
            )
            continue
        member = f"{FILES}{sha256}"
        if marks[sha256]:
            raise PackFailure(member, "is carried though its document is withheld (confidential)")
        if document["file"] != member or reason is not None:
            raise PackFailure(where, f"does not name its file as {member}")
        if member not in pack.names:
            raise PackFailure(member, "is missing from the pack")
        if files.get(member) != sha256 or pack.files[member].file_size != document["size"]:
            raise PackFailure(member, "is not the document its name and documents.json say")
        found.carried.add(member)


def _verify_cited_documents(pack: Pack, reference: str, listed: set[str]) -> int:
    """Every document a criterion of the scorecard cites is one the pack lists."""
    name = f"systems/{reference}/readiness.json"
    card = _json(pack.read(name), name)
    cited = 0
    for area in card["areas"]:
        for criterion in area["criteria"]:
            for document in criterion.get("documents") or []:
                sha256 = document.get("sha256") if isinstance(document, dict) else None
                if sha256 not in listed:
                    raise PackFailure(
                        name, f"cites document {sha256!r}, which documents.json does not list"
                    )
                cited += 1
    return cited


def _verify_index(
    pack: Pack, manifest: dict[str, Any], systems: list[str], replays: dict[str, Replayed]
) -> None:
    index = _object(_json(pack.read(INDEX), INDEX), INDEX, _INDEX)
    if index["as_of"] != manifest["as_of"]:
        raise PackFailure(INDEX, f"is not the index as of {manifest['as_of']}")
    rows = _list(index["systems"], f"{INDEX}: systems")
    if [row.get("reference") if isinstance(row, dict) else None for row in rows] != systems:
        raise PackFailure(INDEX, "does not list the systems in the manifest's scope")
    for row in rows:
        reference = row["reference"]
        where = f"{INDEX}: system {reference}"
        row = _object(row, where, _INDEX_ROW)
        replayed = replays[reference]
        profile = replayed.profile or {}
        expected = {
            "reference": reference,
            "name": profile.get("name"),
            "stage": profile.get("stage"),
            "risk_tier": profile.get("risk_tier"),
            "live_entries": len(replayed.live),
            "entries": replayed.entries,
            "versions": replayed.versions,
            "folder": f"systems/{reference}/",
        }
        for key, value in expected.items():
            if not _same_json(row[key], value):
                raise PackFailure(where, f"states a {key} the history does not give")


def _verify_expected(expected: Expected, summary: Summary) -> None:
    """That the pack is the one the auditor expects: of that scope, that system, as of
    that instant (whatever its file is called: a file name is not signed)."""
    if expected.system is not None and (
        summary.scope != "system" or summary.systems != [expected.system]
    ):  # a registry's pack holding that one system is not that system's pack
        raise PackFailure(
            MANIFEST,
            f"is {summary.what()}, not of system {expected.system} as expected (--system)",
        )
    if expected.scope is not None and summary.scope != expected.scope:
        wanted = "one system" if expected.scope == "system" else "the whole registry"
        raise PackFailure(MANIFEST, f"is {summary.what()}, not of {wanted} as expected (--scope)")
    if expected.as_of is not None and _dt.datetime.fromisoformat(summary.as_of) != expected.as_of:
        raise PackFailure(
            MANIFEST,
            f"is {summary.what()}, not as of {_instant_text(expected.as_of)} as expected (--as-of)",
        )


def describe(summary: Summary, expected: Expected | None = None) -> list[str]:
    """What the pack is, a line each, and whether it was compared with what the auditor
    expects: its scope, its as-of instant, the checkpoint it rests on, its manifest."""
    expected = expected or Expected()
    if summary.scope == "system":
        scope = f"scope: one system, {summary.systems[0]}"
    else:
        scope = f"scope: the whole registry, {summary.counted()}"
    if expected.system is not None or expected.scope is not None:
        scope += " (as expected)"
    else:
        scope += " (not compared: give --system REF or --scope registry)"
    as_of = f"as of: {summary.as_of}"
    as_of += " (as expected)" if expected.as_of is not None else " (not compared: give --as-of)"
    return [
        scope,
        as_of,
        f"checkpoint: tree size {summary.tree_size}, root {summary.root_hash}, origin "
        f"{summary.origin}",
        f"manifest SHA-256: {summary.manifest_sha256} (the export's manifest_sha256 in the "
        "registry's list of exports)",
    ]


def verify(
    path: str,
    trusted_keys: list[str] | None = None,
    limits: Limits | None = None,
    witness_keys: list[str] | None = None,
    known: Known | None = None,
    expected: Expected | None = None,
) -> Summary:
    """Verify the pack at ``path`` under ``trusted_keys`` (None: the pack's own keys,
    then ``summary.pinned`` is False), its checkpoint cosigned by every one of
    ``witness_keys`` and consistent with ``known``, and that it is the pack
    ``expected``; raise PackFailure naming what failed, or PackUnreadable."""
    witnesses = [parse_key(k, 0x04) for k in witness_keys or []]
    summary = Summary()
    pack = Pack(path, limits or Limits())
    if trusted_keys is None:
        try:
            trusted = parse_keys(_utf8(pack.read(KEYS, NOTE_MAX), KEYS))
        except ValueError as exc:
            raise PackFailure(KEYS, str(exc)) from None
        summary.add(f"keys taken from the pack's {KEYS}, not pinned: {_names(trusted)}")
    else:
        trusted = [parse_key(k) for k in trusted_keys]
        summary.pinned = True
    manifest = _verify_signature(pack, trusted, summary)
    scope = _object(manifest["scope"], f"{MANIFEST}: scope", frozenset({"type", "systems"}))
    systems = _list(scope["systems"], f"{MANIFEST}: scope")
    if scope["type"] not in ("system", "registry"):
        raise PackFailure(MANIFEST, f"has a scope of type {scope['type']!r}")
    if (
        not all(isinstance(s, str) and _safe_name(s) and "/" not in s for s in systems)
        or len(set(systems)) != len(systems)
        or (scope["type"] == "system" and len(systems) != 1)
    ):
        raise PackFailure(MANIFEST, "names its systems wrongly")
    summary.scope, summary.systems, summary.as_of = scope["type"], systems, manifest["as_of"]
    _verify_expected(expected or Expected(), summary)
    with_documents = manifest["format_version"] >= 3
    read_next = {KEYS, INDEX, CHECKPOINT, EVENTS, PROOFS, COMPLETENESS}
    for reference in systems:
        folder = f"systems/{reference}/"
        read_next |= {folder + "history.json", folder + "state.json", folder + "readiness.json"}
        if with_documents:
            read_next.add(folder + "documents.json")
    _verify_files(pack, manifest, read_next, summary)
    size, root = _verify_checkpoint(pack, manifest, trusted, summary, witnesses)
    if known is not None:
        _verify_known(known, trusted, manifest["origin"], size, root, summary)
    events = _verify_events(pack, manifest, size, root, summary)
    _verify_completeness(pack, manifest, size, root, events, systems, summary)
    in_scope = set(systems)
    by_system: dict[str, list[Event]] = {}
    for event in events.values():
        about = event.fields.get("system")
        if about is not None and about not in in_scope:
            # A system's pack holds its own events only; the registry's, every event,
            # and a version of a system left out of its scope would be a system dropped.
            if scope["type"] == "system" or "entry_id" in event.fields:
                raise PackFailure(
                    f"{EVENTS}: event {event.seq}", f"is about {about!r}, not in the scope"
                )
        elif about is not None and "entry_id" in event.fields:
            by_system.setdefault(about, []).append(event)
    replays: dict[str, Replayed] = {}
    citations = 0
    ordered = sorted(events.values(), key=lambda e: e.seq)
    found = Documents()
    for reference in systems:
        replayed, recorded = _verify_history(pack, reference, events)
        for event in by_system.get(reference, []):
            if event.seq not in recorded:
                raise PackFailure(
                    f"{EVENTS}: event {event.seq}",
                    f"records version {event.fields.get('version')} of entry "
                    f"{event.fields.get('entry_id')}, which systems/{reference}/history.json "
                    "lacks",
                )
        _verify_state(pack, reference, manifest["as_of"], replayed)
        citations += _verify_readiness(pack, reference, manifest["as_of"], replayed)
        if with_documents:
            _verify_documents(pack, manifest, reference, ordered, found)
            citations += _verify_cited_documents(pack, reference, found.listed[reference])
        replays[reference] = replayed
    _verify_index(pack, manifest, systems, replays)
    entries = sum(r.entries for r in replays.values())
    versions = sum(r.versions for r in replays.values())
    summary.add(
        f"{versions} versions of {entries} entries in {len(systems)} system(s) replayed to "
        f"the stated state as of {manifest['as_of']}; the index agrees"
    )
    summary.add(
        f"{citations} versions and documents cited by the readiness scorecards are in the pack"
    )
    stray = sorted(n for n in pack.names if n.startswith(FILES) and n not in found.carried)
    if stray:
        raise PackFailure(stray[0], "is no document of the pack's systems")
    if with_documents:
        listed = sum(len(h) for h in found.listed.values())
        summary.add(
            f"{listed} documents listed as their receive events say: {len(found.carried)} "
            f"files carried and re-hashed, {len(found.withheld)} WITHHELD (hash and "
            "metadata only)"
        )
        for line in found.withheld:
            summary.add(line)
    alarms = manifest.get("witness_alarms")
    if isinstance(alarms, list) and alarms:
        # The registry's own record that a witness refused one of its checkpoints: the
        # pack is consistent, but the ledger it comes from may have been forked or rolled back.
        summary.add(f"WARNING: the registry recorded {len(alarms)} witness refusal(s): {alarms[0]}")
    return summary


# --- the command ----------------------------------------------------------------------


def _say(text: str, stream: Any) -> None:
    """One line, whatever the text holds and whatever the terminal's encoding."""
    line = text.replace("\r", "\\r").replace("\n", "\\n")
    try:
        stream.write(line + "\n")
    except UnicodeEncodeError:
        stream.write(line.encode("ascii", "backslashreplace").decode("ascii") + "\n")
    stream.flush()


def read_key_files(names: list[str]) -> list[str]:
    """The verifier keys in files of keys, one a line (``/ledger/keys``). Raises OSError,
    or ValueError naming the file when one holds anything else (``registry ledger
    verify --pubkey`` reads them so too)."""
    keys: list[str] = []
    for name in names:
        with open(name, "rb") as fh:
            data = fh.read(1 << 20)
        try:
            lines = [line.strip() for line in data.decode("utf-8").split("\n")]
        except UnicodeDecodeError:
            raise ValueError(f"{name} is not UTF-8 text") from None
        found = [line for line in lines if line]
        if not found:
            raise ValueError(f"{name} holds no keys")
        for key in found:
            try:
                parse_key(key)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        keys += found
    return keys


def _read_known(note_file: str | None, proof_file: str | None) -> Known | None:
    if note_file is None:
        if proof_file is not None:
            raise ValueError("--consistency-proof needs --known-checkpoint")
        return None
    note = note_text(_small_file(note_file), note_file)
    proof = None if proof_file is None else _json(_small_file(proof_file), proof_file)
    return Known(note, proof)


def _small_file(name: str) -> bytes:
    with open(name, "rb") as fh:
        data = fh.read(NOTE_MAX + 1)
    if len(data) > NOTE_MAX:
        raise ValueError(f"{name}: over {NOTE_MAX >> 20} MiB")
    return data


def _instant_option(text: str) -> _dt.datetime:
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _quiet(stream: Any) -> None:
    """After a broken pipe (the reader stopped reading: ``| head -1``), send what is
    left of ``stream`` nowhere, so that flushing it at exit raises nothing more (what the
    Python documentation advises for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # not a file (a test's capture): nothing is flushed at exit


def main(argv: list[str] | None = None) -> int:
    """The command: the outcome's lines, then its exit status. A reader that stops
    reading early (``| head -1``) cuts the lines short, not the outcome: the exit status
    is the same, with no traceback."""
    said: list[tuple[str, Any]] = []
    code = _outcome(argv, said)
    for text, stream in said:
        try:
            _say(text, stream)
        except BrokenPipeError:
            _quiet(stream)
            break
    return code


def _outcome(argv: list[str] | None, said: list[tuple[str, Any]]) -> int:
    """Verify as ``argv`` asks; the lines to print, each with its stream, are appended
    to ``said``; returns the exit status."""
    defaults = Limits()
    parser = argparse.ArgumentParser(
        description="Verify a registry evidence pack offline.",
        epilog=(
            "Exit status: 0 verified under the pinned keys; 3 consistent only under the "
            "keys the pack carries (no --pubkey): NOT proof of who made it; 1 the pack "
            "failed a check, or is not the pack expected (--system, --scope, --as-of) (with "
            "--require-complete also: its completeness is NOT PROVEN); 2 the pack or a key "
            "file cannot be read (not a ZIP, corrupt, over a limit, encrypted, unsupported "
            "compression, a member name outside the pack or twice, not UTF-8 or JSON)."
        ),
    )
    parser.add_argument("pack", help="the pack (.zip)")
    parser.add_argument(
        "--pubkey",
        action="append",
        help="a file of the registry's published verifier keys, one a line (may be "
        "repeated); without it the pack can at best be found consistent (exit 3)",
    )
    parser.add_argument(
        "--witness-key",
        action="append",
        metavar="VKEY",
        help="a witness's verifier key (c2sp.org/tlog-cosignature); the pack's checkpoint "
        "must carry its valid cosignature (may be repeated)",
    )
    parser.add_argument(
        "--require-complete",
        action="store_true",
        help="fail (exit 1) unless the pack proves it holds every event of its systems; "
        "without it, a pack whose completeness cannot be proven (made from an older "
        "ledger) is reported NOT PROVEN and may still verify",
    )
    parser.add_argument(
        "--known-checkpoint",
        metavar="FILE",
        help="a signed checkpoint of this registry kept from before (an older pack's "
        "ledger/checkpoint.txt, the monitor's): the pack's must be the same tree or "
        "consistent with it",
    )
    parser.add_argument(
        "--consistency-proof",
        metavar="FILE",
        help="the consistency proof between the known checkpoint and the pack's, as the "
        "registry serves it (GET /api/v1/ledger/consistency?from=M&to=N, JSON)",
    )
    expect = parser.add_argument_group(
        "what you expect the pack to be",
        "a pack of another scope, system or instant fails (exit 1), whatever its file is "
        "called; without these, compare the scope and instant the summary prints",
    )
    which = expect.add_mutually_exclusive_group()
    which.add_argument(
        "--system",
        metavar="REF",
        help="the pack must be the pack of this one system (its reference)",
    )
    which.add_argument(
        "--scope",
        choices=("system", "registry"),
        help="the pack must be of one system (system) or of the whole registry (registry)",
    )
    expect.add_argument(
        "--as-of",
        metavar="INSTANT",
        type=_instant_option,
        help="the pack must be as of this instant (ISO 8601 with Z or an offset, e.g. "
        "2026-12-06T17:25:57Z)",
    )
    limits = parser.add_argument_group(
        "limits", "checked on the ZIP's central directory before any member is read"
    )
    limits.add_argument(
        "--max-members",
        type=int,
        default=defaults.members,
        metavar="N",
        help=f"at most N members (default {defaults.members})",
    )
    limits.add_argument(
        "--max-member-mb",
        type=int,
        default=defaults.member_size >> 20,
        metavar="MB",
        help=f"each member at most MB MiB uncompressed (default {defaults.member_size >> 20})",
    )
    limits.add_argument(
        "--max-total-mb",
        type=int,
        default=defaults.total_size >> 20,
        metavar="MB",
        help=f"all members at most MB MiB uncompressed (default {defaults.total_size >> 20})",
    )
    limits.add_argument(
        "--max-ratio",
        type=int,
        default=defaults.ratio,
        metavar="N",
        help=f"no member over {defaults.ratio_floor >> 20} MiB expanding more than N times "
        f"(default {defaults.ratio})",
    )
    args = parser.parse_args(argv)
    expected = Expected(
        scope="system" if args.system is not None else args.scope,
        system=args.system,
        as_of=args.as_of,
    )
    limits = Limits(
        members=args.max_members,
        member_size=args.max_member_mb << 20,
        total_size=args.max_total_mb << 20,
        ratio=args.max_ratio,
    )
    try:
        trusted = read_key_files(args.pubkey) if args.pubkey else None
        for vkey in args.witness_key or []:
            parse_key(vkey, 0x04)
    except (OSError, ValueError) as exc:
        said.append((f"cannot read the keys: {exc}", sys.stderr))
        return UNREADABLE
    try:
        known = _read_known(args.known_checkpoint, args.consistency_proof)
    except (OSError, ValueError, PackFailure) as exc:
        said.append((f"cannot read the known checkpoint or its proof: {exc}", sys.stderr))
        return UNREADABLE
    try:
        summary = verify(args.pack, trusted, limits, args.witness_key, known, expected)
    except PackUnreadable as exc:
        said.append((f"cannot read the pack: {exc}", sys.stderr))
        return UNREADABLE
    except PackFailure as exc:
        said.append((f"FAILED {exc.where}: {exc.message}", sys.stdout))
        return FAILED
    except Exception as exc:  # a bug of this verifier: still one line, never a traceback
        said.append((f"cannot read the pack: {type(exc).__name__}: {exc}", sys.stderr))
        return UNREADABLE
    if args.require_complete and summary.unproven:
        said.append(
            (f"FAILED completeness: {summary.unproven[0]} (--require-complete)", sys.stdout)
        )
        return FAILED
    if summary.pinned:
        said.append((f"VERIFIED {args.pack}: {summary.what()}", sys.stdout))
        code = VERIFIED
    else:
        said.append(
            (
                f"UNPINNED {args.pack}: {summary.what()}, consistent under the keys it "
                "carries, which nothing vouches for; this does not show who made it. Give "
                "--pubkey with the registry's published keys to verify it.",
                sys.stdout,
            )
        )
        code = UNPINNED
    for line in describe(summary, expected) + summary.lines:
        said.append((f"  - {line}", sys.stdout))
    return code


if __name__ == "__main__":
    sys.exit(main())
