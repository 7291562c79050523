"""Evidence documents: receiving them (a ``document.receive`` event in the ledger),
finding them, and collecting the ones never attached to anything.

The surfaces stream an upload into a :class:`~registry.documents.store.Staged` file of
the blob store and call :func:`receive` with what the user said of it; the bytes are
kept under their SHA-256 only once everything about the upload was found in order, and
the row and the event are written in the caller's transaction (services never commit).

A document belongs to a system, as entries do: technical owners upload to their own
systems only (``accounts.permissions``, action ``write``), readers download. The same
bytes received for two systems are two rows and one blob.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.accounts.permissions import System, require
from registry.documents.models import DOCUMENT_TYPES, Document
from registry.documents.store import BlobStore, Staged
from registry.errors import Conflict, InvalidInput, NotFound
from registry.ledger.append import append_event, flush, lock, lock_statement
from registry.ledger.models import AuditEvent
from registry.text import text_problem

RECEIVE_ACTION = "document.receive"
COLLECT_ACTION = "document.collect"
WITHHOLD_ACTION = "document.withhold"
MAX_NAME = 255
MAX_TITLE = 500
TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
MEDIA_TYPE = re.compile(f"^{TOKEN}/{TOKEN}$")
DEFAULT_MEDIA_TYPE = "application/octet-stream"
# RFC 9530: "sha-256=:<base64>:" among other algorithms' digests.
DIGEST_ITEM = re.compile(r"^\s*([A-Za-z0-9-]+)\s*=\s*:([A-Za-z0-9+/=]*):\s*$")
DIGEST_HEADER = "Content-Digest"

# What a caller marks each ledger event with, carried to what it left (fold_document_events).
Mark = TypeVar("Mark")


class OwnedSystem(System, Protocol):
    """A system as the documents need it: its id, besides what permissions ask."""

    @property
    def id(self) -> int: ...


@dataclass(frozen=True)
class Upload:
    """What a surface says of an upload besides its bytes (as the user gave it)."""

    name: str | None
    media_type: str | None = None
    title: str | None = None
    document_type: str | None = None
    valid_until: str | dt.date | None = None
    withheld: bool = False
    content_digest: str | None = None  # the Content-Digest header (RFC 9530), if sent


@dataclass(frozen=True)
class Received:
    document: Document
    new: bool  # False: these bytes were already received for this system


def safe_name(name: str | None) -> str:
    """A display name from what a client called the file: its last path segment, no
    control characters, at most 255 characters ("document" when nothing is left)."""
    text = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(
        c for c in text if unicodedata.category(c)[0] != "C" and not 0xD800 <= ord(c) <= 0xDFFF
    )
    text = text.strip().lstrip(".").strip()
    return text[:MAX_NAME] or "document"


def _media_type(value: str | None) -> str:
    value = (value or "").split(";", 1)[0].strip().lower()
    return value if MEDIA_TYPE.match(value) else DEFAULT_MEDIA_TYPE


def _valid_until(value: str | dt.date | None, errors: dict[str, list[str]]) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.date):
        return value
    text = value.strip()
    if len(text) == 10:  # YYYY-MM-DD only (fromisoformat also reads other forms)
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
    errors["valid_until"] = ["Not a date (YYYY-MM-DD)."]
    return None


def sha256_of_digest(header: str) -> str | None:
    """The SHA-256 (hex) a ``Content-Digest`` header states, or None when it states
    none; ValueError when it is malformed."""
    found = None
    for item in header.split(","):
        match = DIGEST_ITEM.match(item)
        if not match:
            raise ValueError(item.strip()[:80])
        if match.group(1).lower() == "sha-256":
            try:
                raw = base64.b64decode(match.group(2), validate=True)
            except binascii.Error:
                raise ValueError(item.strip()[:80]) from None
            if len(raw) != 32:
                raise ValueError(item.strip()[:80])
            found = raw.hex()
    return found


def checked(upload: Upload) -> dict[str, Any]:
    """The upload's metadata, cleaned, or InvalidInput naming each bad field (nothing
    read from the database: every surface checks before streaming what it can)."""
    errors: dict[str, list[str]] = {}
    kind = upload.document_type or "other"
    if kind not in DOCUMENT_TYPES:
        errors["document_type"] = [f"Must be one of: {', '.join(DOCUMENT_TYPES)}."]
    title = (upload.title or "").strip()
    if len(title) > MAX_TITLE:
        errors["title"] = [f"At most {MAX_TITLE} characters."]
    elif problem := text_problem(title):
        errors["title"] = [problem]
    valid_until = _valid_until(upload.valid_until, errors)
    digest = None
    if upload.content_digest is not None:
        try:
            digest = sha256_of_digest(upload.content_digest)
        except ValueError:
            errors[DIGEST_HEADER] = ["Not an RFC 9530 digest, e.g. sha-256=:<base64>:"]
    if errors:
        raise InvalidInput(
            "The document was not received: see the errors.", errors, headers=[DIGEST_HEADER]
        )
    return {
        "name": safe_name(upload.name),
        "media_type": _media_type(upload.media_type),
        "title": title,
        "document_type": kind,
        "valid_until": valid_until,
        "withheld": bool(upload.withheld),
        "digest": digest,
    }


def may_upload(session: Session, actor: Actor, system: System) -> None:
    """Refuse (403) unless ``actor`` may add documents to ``system``: a surface asks
    before it reads the bytes; :func:`receive` asks again."""
    require(session, actor, "write", system)


def receive(
    session: Session,
    actor: Actor,
    system: OwnedSystem,
    store: BlobStore,
    staged: Staged,
    upload: Upload,
) -> Received:
    """Keep the staged bytes as a document of ``system`` and record their receipt in
    the ledger (``document.receive``: hash, size, media type, name, type, actor), and
    on the row their CRC-32 too (what an export checks the blob against). The
    staged file is gone afterwards, kept or discarded. Refused: permission (403),
    metadata, an empty file, a digest that does not match (422: nothing kept)."""
    try:
        may_upload(session, actor, system)
        meta = checked(upload)
        staged.close()
        if staged.size == 0:
            raise InvalidInput("The file is empty.", {"file": ["Empty: nothing to keep."]})
        if meta["digest"] is not None and meta["digest"] != staged.sha256:
            raise InvalidInput(
                "The file received is not the one the Content-Digest describes; nothing was kept.",
                {DIGEST_HEADER: [f"The received bytes' SHA-256 is {staged.sha256}."]},
                headers=[DIGEST_HEADER],
            )
        sha256, size, crc32 = staged.sha256, staged.size, staged.crc32
        store.keep(staged)
    finally:
        staged.discard()
    found = session.scalar(
        sa.select(Document).where(Document.system_id == system.id, Document.sha256 == sha256)
    )
    if found is not None and found.collected_at is None:
        # Held, as far as this transaction has seen: but the collector may be deciding
        # on this very row (it marks rows collected under the ledger lock). Ask again
        # under the lock, so that "already received" is never answered for a document
        # the collector is collecting: once it has, these bytes are received anew below
        # (a new receipt, which the collector's removal of blobs then leaves alone).
        lock(session, lock_statement(None), {})
        session.refresh(found)
        if found.collected_at is None:
            return Received(found, new=False)
    fields: dict[str, Any] = {
        "action": RECEIVE_ACTION,
        "actor": actor.label,
        "system": system.reference,
        "system_id": system.id,
        "sha256": sha256,
        "size": size,
        "media_type": meta["media_type"],
        "name": meta["name"],
        "document_type": meta["document_type"],
        "title": meta["title"],
        "valid_until": meta["valid_until"].isoformat() if meta["valid_until"] else None,
        "withheld": meta["withheld"],
    }
    event = append_event(session, fields, system_id=system.id)
    flush(session)  # the event row exists before the document names it
    # Under the ledger lock now: the collector deletes blobs only under it, after
    # checking that no kept document holds them. Bytes it deleted between the store
    # keeping them above and this lock are not recorded as received.
    if not store.has(sha256):
        raise Conflict(
            "The document's bytes were removed by the collector while they were being "
            "received: nothing was recorded. Upload it again."
        )
    values = {
        "size": size,
        "crc32": crc32,  # (not in the event: a check of the stored bytes, not evidence)
        "media_type": meta["media_type"],
        "name": meta["name"],
        "title": meta["title"],
        "document_type": meta["document_type"],
        "received_at": event["recorded_at"],
        "valid_until": meta["valid_until"],
        "withheld": meta["withheld"],
        "uploaded_by_id": actor.user_id,
        "uploaded_by": actor.label,
        "receive_seq": event["seq"],
        "collected_at": None,
    }
    if found is None:  # (else received again after its blob was collected)
        found = Document(system_id=system.id, sha256=sha256, **values)
        session.add(found)
    else:
        for key, value in values.items():
            setattr(found, key, value)
    session.flush()
    return Received(found, new=True)


def set_withheld(
    session: Session, actor: Actor, system: OwnedSystem, sha256: str, withheld: bool
) -> Document:
    """Mark a kept document of ``system`` withheld (confidential: packs carry its hash
    and metadata only) or no longer withheld; a compliance officer's decision
    (``govern``), recorded in the ledger as ``document.withhold`` with the new mark.
    Setting the mark it already has records nothing. 404: no such document kept."""
    require(session, actor, "govern", system)
    document = session.scalar(
        sa.select(Document).where(
            Document.system_id == system.id,
            Document.sha256 == sha256.lower(),
            Document.collected_at.is_(None),
        )
    )
    if document is None:
        raise NotFound(f"System {system.reference!r} keeps no document {sha256[:64]!r}.")
    if document.withheld == withheld:
        return document
    append_event(
        session,
        {
            "action": WITHHOLD_ACTION,
            "actor": actor.label,
            "system": system.reference,
            "system_id": system.id,
            "sha256": document.sha256,
            "withheld": withheld,
        },
        system_id=system.id,
    )
    flush(session)
    document.withheld = withheld
    session.flush()
    return document


@dataclass
class HeldDocument(Generic[Mark]):
    """A document as a system's ledger events left it: its last ``document.receive``
    event (and the caller's mark of that event), its withheld mark (the receipt's, then
    each ``document.withhold``'s), and the first ``document.collect`` after that receipt
    that named it, if any (with its mark)."""

    receipt: dict[str, Any]
    received: Mark
    withheld: bool
    collection: dict[str, Any] | None = None  # the document.collect event
    collected: Mark | None = None  # its mark


def fold_document_events(
    events: Iterable[tuple[dict[str, Any], Mark]],
) -> dict[tuple[int, str], HeldDocument[Mark]]:
    """The documents that ``events`` (ledger events in order, each with a mark of the
    caller's: its row's ``seq`` and time, or nothing) record, by system id and hash:
    the one rule of what receipts, withholdings and collections leave, for the
    documents as of an instant (:func:`documents_as_of`) and for packs
    (:func:`held_by_events`). A receipt after a collection receives the document anew."""
    found: dict[tuple[int, str], HeldDocument[Mark]] = {}
    for event, mark in events:
        action = event.get("action")
        if action == RECEIVE_ACTION:
            key = (event["system_id"], event["sha256"])
            found.pop(key, None)  # received anew: in the order of receipts
            found[key] = HeldDocument(event, mark, bool(event.get("withheld")))
        elif action == WITHHOLD_ACTION:
            if (held := found.get((event["system_id"], event["sha256"]))) is not None:
                held.withheld = bool(event.get("withheld"))
        elif action == COLLECT_ACTION:
            for sha256 in event.get("sha256", []):
                held = found.get((event["system_id"], sha256))
                if held is not None and held.collection is None:
                    held.collection, held.collected = event, mark
    return found


def held_by_events(
    events: Iterable[dict[str, Any]],
) -> dict[tuple[int, str], tuple[dict[str, Any], bool]]:
    """The documents that ``events`` (ledger events, in order) leave held, by system id
    and hash: each one's ``document.receive`` event (the last) and withheld mark; a
    ``document.collect`` drops those it names (:func:`fold_document_events`). What a
    pack as of an instant says of its documents (the offline verifier replays the
    pack's events so)."""
    folded = fold_document_events((event, None) for event in events)
    return {
        key: (held.receipt, held.withheld)
        for key, held in folded.items()
        if held.collection is None
    }


# ----------------------------------------------------------------------------- reads


def documents_of(
    session: Session, system_id: int, as_of: dt.datetime | None = None
) -> list[Document]:
    """A system's documents, newest first (collected ones too: the row stays); at
    ``as_of``, as the ledger had them then (:func:`documents_as_of`)."""
    if as_of is not None:
        return documents_as_of(session, system_id, as_of)
    return list(
        session.scalars(
            sa.select(Document)
            .where(Document.system_id == system_id)
            .order_by(Document.received_at.desc(), Document.id.desc())
        )
    )


def documents_as_of(session: Session, system_id: int, at: dt.datetime) -> list[Document]:
    """A system's documents as the registry had recorded them by ``at``, newest first,
    from its ledger events by then: each document received by then as its last receipt
    by then describes it, withheld as that receipt and the ``document.withhold`` events
    after it by then left it, collected when a ``document.collect`` by then named it
    after that receipt. Rows built from the events, never added to the session."""
    rows = session.execute(
        sa.select(AuditEvent.seq, AuditEvent.recorded_at, AuditEvent.event)
        .where(
            AuditEvent.system_id == system_id,
            AuditEvent.action.in_((RECEIVE_ACTION, WITHHOLD_ACTION, COLLECT_ACTION)),
            AuditEvent.recorded_at <= at,
        )
        .order_by(AuditEvent.seq)
    )
    folded = fold_document_events(
        (json.loads(data), (seq, recorded_at)) for seq, recorded_at, data in rows
    )
    found: list[Document] = []
    for held in folded.values():
        event, (seq, received_at) = held.receipt, held.received
        valid_until = event.get("valid_until")
        found.append(
            Document(
                system_id=system_id,
                sha256=event["sha256"],
                size=event["size"],
                media_type=event["media_type"],
                name=event["name"],
                title=event.get("title") or "",
                document_type=event["document_type"],
                received_at=received_at,
                valid_until=dt.date.fromisoformat(valid_until) if valid_until else None,
                withheld=held.withheld,
                uploaded_by=event["actor"],
                receive_seq=seq,
                collected_at=None if held.collected is None else held.collected[1],
            )
        )
    return sorted(found, key=lambda d: d.receive_seq, reverse=True)


def held(session: Session, system_id: int, hashes: Collection[str]) -> set[str]:
    """Which of ``hashes`` are documents of the system whose bytes the store keeps."""
    if not hashes:
        return set()
    return set(
        session.scalars(
            sa.select(Document.sha256).where(
                Document.system_id == system_id,
                Document.sha256.in_(sorted(hashes)),
                Document.collected_at.is_(None),
            )
        )
    )


def _held_then(at: dt.datetime | None) -> sa.ColumnElement[bool]:
    if at is None:
        return Document.collected_at.is_(None)
    return sa.and_(
        Document.received_at <= at,
        sa.or_(Document.collected_at.is_(None), Document.collected_at > at),
    )


def received_by(session: Session, system_id: int, at: dt.datetime | None) -> list[Document]:
    """The system's documents as the registry held them at ``at``: received by then and
    not collected by then (the readiness criteria read these); None: all held now."""
    return received_by_systems(session, [system_id], at).get(system_id, [])


def received_by_systems(
    session: Session, system_ids: Collection[int], at: dt.datetime | None
) -> dict[int, list[Document]]:
    """:func:`received_by` for several systems, in one query: by system id."""
    found: dict[int, list[Document]] = defaultdict(list)
    if not system_ids:
        return found
    rows = session.scalars(
        sa.select(Document)
        .where(Document.system_id.in_(sorted(system_ids)), _held_then(at))
        .order_by(Document.received_at, Document.id)
    )
    for document in rows:
        found[document.system_id].append(document)
    return found


def expired_documents(session: Session, day: dt.date) -> list[Document]:
    """Every kept document whose last day in force is before ``day``."""
    return list(
        session.scalars(
            sa.select(Document)
            .where(Document.collected_at.is_(None), Document.valid_until < day)
            .order_by(Document.valid_until, Document.id)
        )
    )


def by_hash(session: Session, sha256: str) -> Document:
    """A kept document with these bytes (the first received), or 404."""
    found = session.scalar(
        sa.select(Document)
        .where(Document.sha256 == sha256.lower(), Document.collected_at.is_(None))
        .order_by(Document.id)
        .limit(1)
    )
    if found is None:
        raise NotFound(f"No document {sha256[:64]!r} is kept here.")
    return found


# ----------------------------------------------------------------------------- collecting

# Versions by table and column only (records sit above documents): a version refers to
# a document when its canonical body names its hash in an attachment.
_versions = sa.table("entry_version", sa.column("body"))
_systems = sa.table("ai_system", sa.column("id"), sa.column("reference"))


def _referenced(session: Session, hashes: Iterable[str]) -> set[str]:
    found = set()
    for sha256 in hashes:
        pattern = f'%"sha256":"{sha256}"%'
        if session.scalar(sa.select(sa.exists().where(_versions.c.body.like(pattern)))):
            found.add(sha256)
    return found


@dataclass(frozen=True)
class Collected:
    documents: list[Document]  # rows marked collected
    blobs: list[str]  # hashes whose blobs go once the transaction commits
    parts: int = 0  # stale temporary files removed


def collect(
    session: Session, actor: Actor, store: BlobStore, *, now: dt.datetime, grace: dt.timedelta
) -> Collected:
    """Mark collected every document received before ``now - grace`` that no entry
    version (of any system) refers to, record it in the ledger (``document.collect``,
    one event per system), and say which blobs may go: those no kept document holds,
    and blobs the store holds that no document names (an upload whose transaction
    failed) older than the grace period. Under the ledger lock, so no write attaches
    a document meanwhile. The caller commits, then calls :func:`remove_blobs`."""
    lock(session, lock_statement(None), {})
    before = now - grace
    candidates = list(
        session.scalars(
            sa.select(Document)
            .where(Document.collected_at.is_(None), Document.received_at < before)
            .order_by(Document.id)
        )
    )
    referenced = _referenced(session, {d.sha256 for d in candidates})
    collected = [d for d in candidates if d.sha256 not in referenced]
    by_system: dict[int, list[Document]] = defaultdict(list)
    for document in collected:
        by_system[document.system_id].append(document)
    references = {
        row.id: row.reference
        for row in session.execute(
            sa.select(_systems.c.id, _systems.c.reference).where(
                _systems.c.id.in_(sorted(by_system))
            )
        )
    }
    for system_id, documents in sorted(by_system.items()):
        append_event(
            session,
            {
                "action": COLLECT_ACTION,
                "actor": actor.label,
                # Named, as every event of a system is (its pack's completeness check).
                "system": references[system_id],
                "system_id": system_id,
                "sha256": sorted(d.sha256 for d in documents),
            },
            system_id=system_id,
        )
    flush(session)
    for document in collected:
        document.collected_at = now
    session.flush()
    kept = set(session.scalars(sa.select(Document.sha256).where(Document.collected_at.is_(None))))
    blobs = {d.sha256 for d in collected} - kept
    blobs |= {b.sha256 for b in store.blobs() if b.modified < before and b.sha256 not in kept}
    blobs -= _referenced(session, blobs - {d.sha256 for d in collected})
    return Collected(collected, sorted(blobs), store.stale_parts(before))


def remove_blobs(session: Session, store: BlobStore, hashes: Iterable[str]) -> int:
    """Delete the blobs :func:`collect` named, after its transaction committed: under the
    ledger lock, each only if still no kept document holds it and no version refers to
    it (a document received again, or attached, since :func:`collect` decided keeps its
    bytes). The caller commits, which releases the lock: a receipt appending its event
    meanwhile waits, then finds whether its bytes are still there (:func:`receive`)."""
    hashes = set(hashes)
    if not hashes:
        return 0
    lock(session, lock_statement(None), {})
    kept = set(
        session.scalars(
            sa.select(Document.sha256).where(
                Document.sha256.in_(sorted(hashes)), Document.collected_at.is_(None)
            )
        )
    )
    gone = hashes - kept
    gone -= _referenced(session, gone)
    for sha256 in sorted(gone):
        store.delete(sha256)
    return len(gone)
