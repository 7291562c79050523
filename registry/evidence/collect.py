"""What goes into an evidence pack, read from the database as of an instant.

Everything a pack holds was recorded by its as-of instant, and the registry never
changes what it recorded (versions, events and checkpoints are append-only), so the
content is a function of the scope and the instant alone: exported today or last month,
the same scope as of the same instant reads the same rows.

The instant is pinned to the ledger first (:func:`pin`): under the ledger lock, so no
event recorded by then is still uncommitted, it finds the last event recorded by the
instant and the first signed checkpoint that covers it, signing one if there is none.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.db import utcnow
from registry.documents.models import Document
from registry.documents.service import held_by_events
from registry.errors import Conflict, InvalidInput, NotFound
from registry.ledger.canonical import instant_text
from registry.ledger.checkpoints import make_checkpoint, settings_of
from registry.ledger.merkle import inclusion_proof_from, node_hash, root_from_leaf_hashes
from registry.ledger.models import AuditEvent, Checkpoint, MerkleBlock
from registry.ledger.note import parse_verifier_key
from registry.ledger.proofs import BLOCK
from registry.ledger.status import verifier_keys
from registry.ledger.store import lock_ledger, systems_map
from registry.ledger.systems_map import MAP_ACTION
from registry.records.models import AISystem, Entry, EntryVersion


@dataclass(frozen=True)
class Pin:
    """An as-of instant pinned to the ledger: ``size`` events were recorded by then, and
    the first signed checkpoint covering them is of ``tree_size`` events (``signed``: it
    was signed in pinning, since none covered them yet)."""

    as_of: dt.datetime
    size: int
    tree_size: int
    root_hash: str
    note: str
    key_id: str
    signed: bool = False


def checked_as_of(as_of: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """A pack's as-of instant in UTC (None stays None: now); refused without a time
    zone or after ``now`` (a pack can only hold what has been recorded). Asked again
    when the export runs, at the ledger's own now (:func:`pin`)."""
    if as_of is None:
        return None
    if as_of.tzinfo is None:
        raise InvalidInput("as_of must include a time zone.", {"as_of": ["Give a time zone."]})
    as_of = as_of.astimezone(dt.UTC)
    if as_of > now:
        raise InvalidInput(
            "as_of is in the future: a pack can only hold what has been recorded.",
            {"as_of": ["Must not be in the future."]},
        )
    return as_of


def pin(session: Session, as_of: dt.datetime | None) -> Pin:
    """Pin ``as_of`` (None: now) to the ledger, signing a checkpoint when none covers it
    yet. Takes the ledger lock: the caller commits (or rolls back) right after."""
    head = lock_ledger(session)
    # Event times may run ahead of this host's clock (another host's, the database
    # server's): "now" is never before the last recorded event.
    now = max(utcnow(), head.recorded_at) if head.recorded_at else utcnow()
    as_of = checked_as_of(as_of, now) or now
    size = session.scalar(
        sa.select(sa.func.max(AuditEvent.seq)).where(AuditEvent.recorded_at <= as_of)
    )
    if not size:
        raise NotFound(f"The registry had recorded nothing by {instant_text(as_of)}.")
    checkpoint = session.scalar(
        sa.select(Checkpoint)
        .where(Checkpoint.tree_size >= size)
        .order_by(Checkpoint.tree_size)
        .limit(1)
    )
    if checkpoint is None:
        settings = settings_of(session)
        if settings is None:
            raise Conflict(
                "No signed checkpoint covers this instant and this registry has no signing "
                "key: create one with 'registry keys init'."
            )
        checkpoint = make_checkpoint(session, settings.signer, head=head)
        assert checkpoint is not None and checkpoint.tree_size >= size
        signed = True
    else:
        signed = False
    return Pin(
        as_of,
        size,
        checkpoint.tree_size,
        checkpoint.root_hash,
        checkpoint.note,
        checkpoint.key_id,
        signed,
    )


class TreeView:
    """Subtree roots of the ledger's Merkle tree of one size, for many proofs at once:
    stored block roots are read once, leaves block by block, and every root is
    remembered, so proofs for a thousand events share the work."""

    def __init__(self, session: Session, size: int) -> None:
        self.session = session
        self.size = size
        self._blocks = {
            block: bytes.fromhex(root)
            for block, root in session.execute(
                sa.select(MerkleBlock.block, MerkleBlock.root_hash).where(
                    MerkleBlock.block < size // BLOCK
                )
            )
        }
        self._leaves: dict[int, list[bytes]] = {}
        self._roots: dict[tuple[int, int], bytes] = {}

    def _block_leaves(self, block: int) -> list[bytes]:
        if block not in self._leaves:
            first = block * BLOCK
            last = min(first + BLOCK, self.size)
            self._leaves[block] = [
                bytes.fromhex(h)
                for h in self.session.scalars(
                    sa.select(AuditEvent.leaf_hash)
                    .where(AuditEvent.seq > first, AuditEvent.seq <= last)
                    .order_by(AuditEvent.seq)
                )
            ]
        return self._leaves[block]

    def subtree_root(self, start: int, end: int) -> bytes:
        key = (start, end)
        if key in self._roots:
            return self._roots[key]
        block = start // BLOCK
        if end - start == BLOCK and start % BLOCK == 0 and block in self._blocks:
            root = self._blocks[block]
        elif (end - 1) // BLOCK == block:
            leaves = self._block_leaves(block)
            root = root_from_leaf_hashes(leaves[start - block * BLOCK : end - block * BLOCK])
        else:
            # RFC 9162 2.1.1: split at the largest power of two smaller than the size.
            split = 1 << ((end - start - 1).bit_length() - 1)
            root = node_hash(
                self.subtree_root(start, start + split), self.subtree_root(start + split, end)
            )
        self._roots[key] = root
        return root

    def proof(self, seq: int) -> list[bytes]:
        return inclusion_proof_from(seq - 1, self.size, self.subtree_root)


@dataclass
class VersionRow:
    entry_id: int
    number: int
    body: str
    body_hash: str
    recorded_at: dt.datetime
    effective_from: dt.datetime
    author: str
    reason: str
    tombstone: bool
    audit_seq: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "recorded_at": instant_text(self.recorded_at),
            "effective_from": instant_text(self.effective_from),
            "author": self.author,
            "reason": self.reason,
            "tombstone": self.tombstone,
            "audit_seq": self.audit_seq,
            "body_sha256": self.body_hash,
            "body": self.body,
        }


@dataclass
class EntryHistory:
    entry_id: int
    kind: str
    versions: list[VersionRow] = field(default_factory=list)

    @property
    def last(self) -> VersionRow:
        return self.versions[-1]

    @property
    def live(self) -> bool:
        return not self.last.tombstone

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.last.body)


@dataclass
class SystemRecord:
    """One system as recorded by the pin: every entry with its versions up to then."""

    id: int
    reference: str
    created_at: dt.datetime
    entries: list[EntryHistory]

    def live(self, kind: str | None = None) -> list[EntryHistory]:
        return [e for e in self.entries if e.live and (kind is None or e.kind == kind)]

    @property
    def profile(self) -> dict[str, Any]:
        for entry in self.live("profile"):
            return entry.body
        return {}

    @property
    def versions(self) -> int:
        return sum(len(e.versions) for e in self.entries)

    def state(self, as_of: dt.datetime) -> dict[str, Any]:
        return {
            "system": self.reference,
            "as_of": instant_text(as_of),
            "entries": [
                {
                    "entry_id": e.entry_id,
                    "kind": e.kind,
                    "version": e.last.number,
                    "body_sha256": e.last.body_hash,
                    "recorded_at": instant_text(e.last.recorded_at),
                    "effective_from": instant_text(e.last.effective_from),
                    "body": e.body,
                }
                for e in self.live()
            ],
        }

    def history(self) -> dict[str, Any]:
        return {
            "system": self.reference,
            "entries": [
                {
                    "entry_id": e.entry_id,
                    "kind": e.kind,
                    "versions": [v.as_dict() for v in e.versions],
                }
                for e in self.entries
            ],
        }


_VERSION_COLUMNS = (
    Entry.system_id,
    Entry.kind,
    EntryVersion.entry_id,
    EntryVersion.number,
    EntryVersion.body,
    EntryVersion.body_hash,
    EntryVersion.recorded_at,
    EntryVersion.effective_from,
    EntryVersion.author,
    EntryVersion.reason,
    EntryVersion.tombstone,
    EntryVersion.audit_seq,
)


def _entries(rows: Iterator[Any]) -> Iterator[tuple[int, EntryHistory]]:
    current: EntryHistory | None = None
    system_id = 0
    for row in rows:
        if current is None or current.entry_id != row.entry_id:
            if current is not None:
                yield system_id, current
            current = EntryHistory(row.entry_id, row.kind)
            system_id = row.system_id
        current.versions.append(
            VersionRow(
                row.entry_id,
                row.number,
                row.body,
                row.body_hash,
                row.recorded_at,
                row.effective_from,
                row.author,
                row.reason,
                row.tombstone,
                row.audit_seq,
            )
        )
    if current is not None:
        yield system_id, current


def _system_rows(session: Session, size: int, system_ids: list[int] | None) -> Iterator[Any]:
    stmt = (
        sa.select(*_VERSION_COLUMNS)
        .join(Entry, Entry.id == EntryVersion.entry_id)
        .where(EntryVersion.audit_seq <= size)
        .order_by(Entry.system_id, Entry.id, EntryVersion.number)
    )
    if system_ids is not None:
        stmt = stmt.where(Entry.system_id.in_(system_ids))
    yield from session.execute(stmt)


def systems_as_of(
    session: Session, pinned: Pin, references: list[str] | None = None
) -> list[SystemRecord]:
    """The systems (those named, or all) whose profile had been recorded by the pin,
    each with its entries' versions recorded by then; in reference order."""
    stmt = sa.select(AISystem).order_by(AISystem.reference)
    if references is not None:
        stmt = stmt.where(AISystem.reference.in_(references))
    known = {s.id: s for s in session.scalars(stmt)}
    if references is not None:
        missing = sorted(set(references) - {s.reference for s in known.values()})
        if missing:
            raise NotFound(f"No system {missing[0]!r}.")
    by_system: dict[int, list[EntryHistory]] = {}
    ids = list(known) if references is not None else None
    for system_id, entry in _entries(_system_rows(session, pinned.size, ids)):
        by_system.setdefault(system_id, []).append(entry)
    records = [
        SystemRecord(s.id, s.reference, s.created_at, by_system[s.id])
        for s in known.values()
        if s.id in by_system
    ]
    if references is not None and len(records) < len(references):
        absent = sorted(set(references) - {r.reference for r in records})
        raise NotFound(
            f"System {absent[0]!r} was not yet registered at {instant_text(pinned.as_of)}."
        )
    return records


def events(session: Session, pinned: Pin, system_ids: list[int] | None) -> Iterator[Any]:
    """The events in scope, in ``seq`` order: about the given systems, or all of them."""
    stmt = (
        sa.select(AuditEvent.seq, AuditEvent.event, AuditEvent.leaf_hash)
        .where(AuditEvent.seq <= pinned.size)
        .order_by(AuditEvent.seq)
    )
    if system_ids is not None:
        stmt = stmt.where(AuditEvent.system_id.in_(system_ids))
    yield from session.execute(stmt)


def keys_for(session: Session, checkpoint_key_id: str) -> tuple[str, str]:
    """The verifier keys of the registry's current signing key and of the key that
    signed the checkpoint (the same key unless it has been rotated since)."""
    keys = verifier_keys(session)
    if not keys:
        raise Conflict("This registry has no signing key: create one with 'registry keys init'.")
    for key in keys:
        if parse_verifier_key(key).key_id.hex() == checkpoint_key_id:
            return keys[0], key
    raise Conflict(f"The key {checkpoint_key_id} that signed the checkpoint is not recorded.")


def completeness(
    session: Session,
    pinned: Pin,
    systems: list[SystemRecord],
    tree: TreeView,
    whole_map: bool,
) -> dict[str, Any]:
    """The proof that the pack holds every event of each of ``systems`` recorded by the
    pin (docs/evidence-format.md, Completeness): the checkpoint's last leaf, the map of
    each system's last event (``ledger.systems``), each system's leaf in it (with its
    inclusion proof, or ``whole_map``: every leaf, for a pack of every system), and
    the systems' events after the as-of instant up to the map, through which their
    chains run down to the pack's. ``{"map": None}`` when the checkpoint predates
    the map (an older ledger): completeness cannot be proven."""
    row = session.get(AuditEvent, pinned.tree_size)
    assert row is not None
    data = bytes(row.event)
    fields = json.loads(data)
    if fields.get("action") != MAP_ACTION:
        return {"map": None}
    systems_of = systems_map(session, pinned.tree_size, fields["systems"])
    if systems_of.root().hex() != fields["root"]:
        raise RuntimeError(f"the map at event {pinned.tree_size} is not the ledger's")
    proven: dict[str, Any] = {
        "map": {"seq": pinned.tree_size, "event": data.decode(), "path": _hex(tree.proof(row.seq))},
        "systems": [
            {"system": s.reference, "system_id": s.id, "last_seq": systems_of.last_of(s.id)}
            | ({} if whole_map else {"path": _hex(systems_of.proof(s.id))})
            for s in systems
        ],
    }
    if whole_map:
        proven["last_seqs"] = systems_of.last
    later = (
        sa.select(AuditEvent.seq, AuditEvent.event)
        .where(AuditEvent.seq > pinned.size, AuditEvent.seq < pinned.tree_size)
        .order_by(AuditEvent.seq)
    )
    if whole_map:
        later = later.where(AuditEvent.system_id.is_not(None))
    else:
        later = later.where(AuditEvent.system_id.in_([s.id for s in systems]))
    proven["later_events"] = [
        {"seq": seq, "event": bytes(event).decode(), "path": _hex(tree.proof(seq))}
        for seq, event in session.execute(later)
    ]
    return proven


def _hex(path: list[bytes]) -> list[str]:
    return [h.hex() for h in path]


# Why a document's file is not in a pack (``documents.json``: ``left_out``); the
# verifier reports each as WITHHELD with its reason, never as missing.
CONFIDENTIAL = "confidential"  # marked withheld as of the instant
OVER_LIMIT = "over the file limit"  # larger than the pack's file limit
NOT_KEPT = "no longer kept"  # its bytes collected since the instant (never attached)


@dataclass(frozen=True)
class DocumentInPack:
    """A document of a system in a pack: what its ``document.receive`` event says of
    it, its withheld mark as of the instant, and why its file is left out (None: the
    pack carries it as ``files/<sha256>``). ``crc32``: its bytes' CRC-32 as recorded
    when received (none before migration 0027), which the export checks the copied file
    against (``evidence.pack``); not in ``documents.json``."""

    system: str
    receive_seq: int
    sha256: str
    size: int
    media_type: str
    name: str
    title: str
    document_type: str
    received_at: str
    valid_until: str | None
    withheld: bool
    left_out: str | None
    crc32: int | None = None

    @property
    def file(self) -> str | None:
        return None if self.left_out else f"files/{self.sha256}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "receive_seq": self.receive_seq,
            "sha256": self.sha256,
            "size": self.size,
            "media_type": self.media_type,
            "name": self.name,
            "title": self.title,
            "document_type": self.document_type,
            "received_at": self.received_at,
            "valid_until": self.valid_until,
            "withheld": self.withheld,
            "file": self.file,
            "left_out": self.left_out,
        }


def documents(
    session: Session,
    systems: list[SystemRecord],
    events: list[tuple[int, bytes]],
    file_limit: int,
) -> dict[str, list[DocumentInPack]]:
    """Each system's documents as the pack's ``events`` leave them held at the pin, in
    the order received, described by their receive events; a file is left out when
    the document was withheld then, is over ``file_limit``, or is no longer kept. The
    same bytes held by several systems have one CRC-32: any of their rows' that has one."""
    about = [json.loads(data) for _, data in events if b'"action":"document.' in data]
    held = held_by_events(about)
    ids = [s.id for s in systems]
    kept = set()
    crcs: dict[str, int] = {}
    for row in session.execute(
        sa.select(Document.system_id, Document.sha256, Document.crc32).where(
            Document.system_id.in_(ids), Document.collected_at.is_(None)
        )
    ):
        kept.add((row.system_id, row.sha256))
        if row.crc32 is not None:
            crcs[row.sha256] = row.crc32
    found: dict[str, list[DocumentInPack]] = {}
    for system in systems:
        listed = found.setdefault(system.reference, [])
        for (system_id, sha256), (event, withheld) in held.items():
            if system_id != system.id:
                continue
            if withheld:
                left_out: str | None = CONFIDENTIAL
            elif (system_id, sha256) not in kept:
                left_out = NOT_KEPT
            elif event["size"] > file_limit:
                left_out = OVER_LIMIT
            else:
                left_out = None
            listed.append(
                DocumentInPack(
                    system.reference,
                    event["seq"],
                    sha256,
                    event["size"],
                    event["media_type"],
                    event["name"],
                    event["title"],
                    event["document_type"],
                    event["time"],
                    event["valid_until"],
                    withheld,
                    left_out,
                    crcs.get(sha256),
                )
            )
        listed.sort(key=lambda d: d.receive_seq)
    return found
