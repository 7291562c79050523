"""Evidence packs: a ZIP of a system's (or the whole registry's) records as of an
instant, with the ledger events, inclusion proofs into a signed checkpoint, the keys,
a signed manifest and ``evidence.pdf``; verifiable offline by ``verifier.py``.

Layout of a pack::

    manifest.json             format, algorithms, scope, as-of, generator, checkpoint,
                              and the SHA-256 of every file but the three below
    manifest.sig              the pack statement: origin, "evidence pack", the SHA-256
                              of manifest.json and of evidence.pdf, signed (in the
                              signed-note syntax) over STATEMENT_CONTEXT and the text
    evidence.pdf              the report for people (its cover shows the manifest digest,
                              which is why its own digest is in manifest.sig)
    keys.txt                  verifier keys: the signer of the manifest, of the checkpoint
    index.json                the systems in scope with their profile's main fields
    ledger/checkpoint.txt     the first signed checkpoint covering the as-of instant
    ledger/events.jsonl       the events in scope, one per line, as their stored bytes
    ledger/proofs.json        an inclusion proof of each event in that checkpoint's tree
    ledger/completeness.json  the checkpoint's map of each system's last event, each
                              system's leaf in it and its events after the instant:
                              that the pack holds every event of each system
    systems/<ref>/state.json  each live entry's version as of the instant
    systems/<ref>/history.json  every version of every entry recorded by then
    systems/<ref>/readiness.json  the readiness scorecard as of the instant
    systems/<ref>/documents.json  the system's evidence documents held at the instant:
                              what their receive events say, the withheld mark as of
                              then, and the file or why it is left out
    files/<sha256>            each document's bytes, once, as the blob store keeps
                              them (stored, not deflated: documents are mostly
                              compressed already); none for a withheld document, one
                              over the file limit, or one collected since
    systems/<ref>/coverage.json   (a system's pack) each framework item: applicable or
                              not (decided or proposed), met / partial / missing / not
                              applicable, the entry versions evidencing it
    systems/<ref>/statement-of-applicability.json  (a system's pack) per framework
    frameworks/coverage.json  (the registry's pack) each system's counts per framework
    oscal/catalogs/<id>.json  each framework catalogue as an OSCAL catalog
    oscal/assessment-results.json  (a system's pack) its coverage as OSCAL assessment
                              results, citing entry versions and ledger events

Packs are deterministic: the same scope as of the same instant gives the same bytes
(fixed ZIP metadata, sorted JSON, a PDF dated at the as-of instant, the members in a
fixed order: the documents' files first, copied in while the rest is made).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import importlib.metadata
import io
import json
import logging
import os
import queue
import re
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.accounts.permissions import require
from registry.applicability import oscal
from registry.applicability.coverage import SystemCoverage, assess_many
from registry.applicability.coverage import statement as applicability_statement
from registry.documents.store import CHUNK, BlobStore
from registry.errors import Conflict, NotFound, RegistryError
from registry.evidence import collect
from registry.evidence.collect import DocumentInPack, Pin, SystemRecord
from registry.evidence.pdf import render_pdf
from registry.ledger.append import append_event
from registry.ledger.canonical import instant_text
from registry.ledger.checkpoints import settings_of
from registry.ledger.keys import Signer
from registry.ledger.merkle import leaf_hash, verify_inclusion
from registry.ledger.models import AuditEvent
from registry.ledger.submitter import WitnessSubmitter
from registry.ledger.witnessing import Outcome, cosignature_lines, refusal_line, refusals
from registry.outage import DatabaseUnavailable, Reason, unavailable_reason
from registry.records.models import AISystem

PACK_FORMAT = "registry-evidence-pack"
# 2: ledger/completeness.json proves a system's pack complete, and the statement is
# signed over a context (docs/evidence-format.md).
# 3: the pack carries the systems' evidence documents (documents.json, files/).
FORMAT_VERSION = 3
COMPLETENESS = "ledger/completeness.json"
# Domain separation (docs/evidence-format.md, "Pack statements and checkpoints"): a pack
# statement is signed over this context followed by its text, a checkpoint over its text
# alone. The NUL byte can be in no note text, so no message of one kind is ever a
# message of the other, and neither signature can stand for the other.
STATEMENT_CONTEXT = b"registry-evidence-pack/statement\x00"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PDF = "evidence.pdf"
ALGORITHMS = {
    "file_digest": "SHA-256",
    "signature": "Ed25519, as C2SP signed notes (c2sp.org/signed-note)",
    "checkpoint": "C2SP tlog-checkpoint",
    "merkle_tree": "RFC 9162 section 2.1 (SHA-256)",
    "event_encoding": "RFC 8785 canonical JSON, one event per line",
}
EXPORT_ACTION = "evidence.export"
# Seconds an export waits for each witness, at most (REGISTRY_WITNESS_TIMEOUT if shorter).
WITNESS_TIMEOUT = 3.0
_SAFE = re.compile(r"[^A-Za-z0-9._-]")
# Documents' files are copied into a pack 1 MiB at a time, a local file's into one
# buffer (4, 8 and 16 MiB pieces took more CPU time and no less wall time:
# bench/document_pack.py).
FILE_CHUNK = CHUNK
# Seconds between the interpreter's thread switches while files are copied (_QuickSwitching).
COPYING_SWITCH_INTERVAL = 0.0001
# A pack being written: never listed nor served (exported_file wants "evidence-…").
TEMPORARY_PREFIX = ".export-"

log = logging.getLogger(__name__)

# progress(stage, done, total): what an export is doing, for a progress bar.
Progress = Callable[[str, int, int], None]


@functools.cache  # the installed version does not change while the registry runs
def generator() -> str:
    try:
        version = importlib.metadata.version("ai-governance-registry")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from source
        version = "source"
    return f"ai-governance-registry {version}"


_JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


def dumps(value: Any) -> bytes:
    """JSON as the pack writes it: sorted keys, two-space indentation, UTF-8, a final
    newline (docs/evidence-format.md). orjson writes it, several times faster than the
    standard library's indenting encoder (the same bytes but for a number's exponent
    form: 0.00001, not 1e-05); a value orjson refuses (an integer beyond 64 bits, a
    key that is not a string) is written by the standard library instead."""
    try:
        return orjson.dumps(value, option=_JSON_OPTIONS)
    except orjson.JSONEncodeError:
        return (json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode()


@functools.cache
def catalog_members() -> tuple[tuple[str, bytes], ...]:
    """Every pack's ``oscal/catalogs/<framework>.json``: the catalogues ship with the
    registry and never change while it runs, so they are written once per process."""
    return tuple(
        (f"oscal/catalogs/{framework}.json", dumps(document))
        for framework, document in oscal.all_catalogs().items()
    )


class PackWriter:
    """A ZIP whose bytes depend only on what is added: every member has the same fixed
    time (the as-of instant), permissions and compression; the digest of each is kept.

    The documents' files may be copied in by a thread of its own (:meth:`copy_files`)
    while the other members are made: that thread owns the ZIP until it has copied the
    last file, and members added meanwhile wait in memory, then follow the files in the
    order they were added. So the members' order is fixed (the files first) whatever the
    timing, and the pack's bytes with it."""

    def __init__(self, fh: Any, as_of: dt.datetime) -> None:
        self.zip = zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED)
        stamp = as_of.astimezone(dt.UTC)
        self.date_time = max(
            (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second),
            (1980, 1, 1, 0, 0, 0),
        )
        self.digests: dict[str, str] = {}
        self._copier: FileCopier | None = None
        self._waiting: list[tuple[str, bytes, bool]] = []
        self._buffer: bytearray | None = None  # (made for the first file, reused)

    def _info(self, name: str, deflate: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
        info.create_system = 3
        info.external_attr = 0o100644 << 16
        return info

    def add(self, name: str, data: bytes, *, deflate: bool = True) -> str:
        """Add ``data`` as ``name``, deflated unless ``deflate`` is False (for bytes
        compressed already, which deflating would spend time on for little); written at
        once unless the files are being copied in (then once they are)."""
        digest = hashlib.sha256(data).hexdigest()
        self.digests[name] = digest
        self._waiting.append((name, data, deflate))
        if self._copier is None or self._copier.copied_all():
            self._flush()
        return digest

    def _flush(self) -> None:
        if self._copier is not None:
            self._copier.join()  # (raises what failed it)
            self._copier = None
        for name, data, deflate in self._waiting:
            self.zip.writestr(self._info(name, deflate), data, compresslevel=6 if deflate else None)
        self._waiting.clear()

    def copy_files(self, store: BlobStore, documents: list[DocumentInPack]) -> None:
        """Start copying the ``documents``' files from ``store`` as the ZIP's next
        members, ``files/<sha256>``, in a thread of its own (none when there is no file
        to copy). The manifest lists each with the SHA-256 it was received with; the
        thread checks the bytes it copies (:meth:`add_stream`) and fails the export
        (:meth:`add` or :meth:`wait_for_files` raises) when they are not the document's."""
        self._flush()
        if not documents:
            return
        for document in documents:
            self.digests[f"files/{document.sha256}"] = document.sha256
        self._copier = FileCopier(self, store, documents)

    def wait_for_files(self, tick: Progress) -> None:
        """Wait until every file is copied, telling ``tick`` how many are; then write
        the members made meanwhile."""
        if self._copier is not None:
            self._copier.wait(tick)
        self._flush()

    def add_stream(
        self,
        name: str,
        stream: IO[bytes],
        document: DocumentInPack,
        cancelled: threading.Event | None = None,
    ) -> None:
        """Add ``document``'s bytes read from ``stream`` a chunk at a time (memory stays
        flat), stored as they are, and check them (the manifest's digest is set by
        :meth:`copy_files`): their size, and the CRC-32 recorded when the document was
        received against the one the ZIP computes of the member anyway; a document
        received before CRC-32s were recorded has its bytes hashed again with SHA-256
        instead. Either way the export fails (:class:`BlobMismatch`) when they are not
        the document's. The SHA-256 stays the document's identity: the verifier hashes
        every file a pack carries again (docs/evidence-format.md)."""
        info = self._info(name, deflate=False)
        info.file_size = document.size  # (ZIP64 when large, decided before writing)
        # Which check applies: the recorded CRC-32, or for want of one, the SHA-256.
        digest = hashlib.sha256() if document.crc32 is None else None
        written = 0
        with self.zip.open(info, "w") as member:
            for chunk in self._pieces(stream):
                if cancelled is not None and cancelled.is_set():
                    raise Cancelled
                written += len(chunk)
                if written > document.size:
                    break  # longer than received: read and written no further
                if digest is not None:
                    digest.update(chunk)  # (releases the GIL, as the CRC-32 and the write do)
                member.write(chunk)
        if written > document.size:
            found = f"more than its {document.size} bytes"
        elif written < document.size:
            found = f"{written} of its {document.size} bytes"
        elif digest is not None:
            found = "" if digest.hexdigest() == document.sha256 else f"SHA-256 {digest.hexdigest()}"
        else:  # zipfile sets the member's CRC-32, of the bytes it wrote, once it is closed
            crc = info.CRC
            found = "" if crc == document.crc32 else f"CRC-32 {crc:08x}, not {document.crc32:08x}"
        if found:
            raise BlobMismatch(
                f"The blob store's copy of document {document.sha256} is not the document "
                f"received ({found}): no pack was kept."
            )

    def _pieces(self, stream: IO[bytes]) -> Iterator[memoryview]:
        """``stream``'s bytes :data:`FILE_CHUNK` at a time. A file's are read into one
        buffer, the pack's (a new 1 MiB object per read cost the copying more CPU than
        its CRC-32): each piece is then the same memory, valid until the next is asked
        for. Other streams (an object store's answer, whose ``readinto`` reads a new
        object and copies it) are read as they give their bytes."""
        if not isinstance(stream, io.BufferedIOBase | io.RawIOBase):
            while chunk := stream.read(FILE_CHUNK):
                yield memoryview(chunk)
            return
        if self._buffer is None:
            self._buffer = bytearray(FILE_CHUNK)
        view = memoryview(self._buffer)
        while read := stream.readinto(view):
            yield view[:read]

    def __enter__(self) -> PackWriter:
        return self

    def __exit__(self, kind: object, *exc: object) -> None:
        try:
            if kind is None:
                self._flush()
            elif self._copier is not None:
                self._copier.stop()  # the pack is failing: what failed is raised
        finally:
            self._copier = None
            self.zip.close()


class _QuickSwitching:
    """The interpreter's switch interval shortened to :data:`COPYING_SWITCH_INTERVAL`
    while any pack's files are being copied in this process (a counter: exports may
    run side by side in a worker's threads), then put back.

    The copying thread gives the GIL up for every read, CRC-32 and write and must then
    wait for the exporting thread, which runs Python, to hand it back: up to the switch
    interval, 5 ms by default, each time; with a shorter one the copying keeps pace
    while the PDF is laid out instead of starting in earnest once it is done
    (``bench/document_pack.py``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved = 0.0

    def begin(self) -> None:
        with self._lock:
            if not self._users:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(min(self._saved, COPYING_SWITCH_INTERVAL))
            self._users += 1

    def end(self) -> None:
        with self._lock:
            self._users -= 1
            if not self._users:
                sys.setswitchinterval(self._saved)


_quick_switching = _QuickSwitching()


class Cancelled(Exception):
    """The copying of files stopped because the export failed elsewhere."""


class FileCopier:
    """The documents' files copied into a pack by a thread of its own (reading, CRC-32
    and writing release the GIL), which owns the pack's ZIP until it has copied them all
    (:class:`PackWriter`)."""

    def __init__(
        self, writer: PackWriter, store: BlobStore, documents: list[DocumentInPack]
    ) -> None:
        self.writer = writer
        self.store = store
        self.documents = documents
        self.copied: queue.Queue[int | None] = queue.Queue()  # how many, then None
        self.failure: BaseException | None = None
        self._cancelled = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pack-files", daemon=True)
        _quick_switching.begin()  # ended by the thread, as it ends
        try:
            self._thread.start()
        except BaseException:
            _quick_switching.end()
            raise

    def _run(self) -> None:
        try:
            for i, document in enumerate(self.documents):
                _add_file(self.writer, self.store, document, self._cancelled)
                self.copied.put(i + 1)
        except Cancelled:
            pass
        except BaseException as exc:  # raised again in the exporting thread
            self.failure = exc
        finally:
            _quick_switching.end()
            self.copied.put(None)

    def copied_all(self) -> bool:
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Stop copying (the export failed elsewhere) and wait for the thread to end."""
        self._cancelled.set()
        self._thread.join()

    def wait(self, tick: Progress) -> None:
        """Wait for the last file, telling ``tick`` how many are copied."""
        total = len(self.documents)
        done = 0
        tick("copying the documents", done, total)
        while (count := self.copied.get()) is not None:
            done = count
            tick("copying the documents", done, total)
        self.join()

    def join(self) -> None:
        self._thread.join()
        if self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure


class BlobMismatch(RegistryError):
    """A document's bytes in the blob store are not those received (or are missing)."""

    status = 500
    title = "Evidence document damaged"
    code = "document_damaged"


@dataclass(frozen=True)
class PackFiles:
    """Where a pack takes its documents' files from, and the largest it carries
    (REGISTRY_PACK_FILE_MAX_BYTES: larger ones are listed with hash and metadata only)."""

    store: BlobStore
    limit: int


@dataclass(frozen=True)
class Exported:
    """A pack written to disk, and the ledger event that recorded its export."""

    path: Path
    name: str
    manifest_sha256: str
    as_of: dt.datetime
    scope: str
    systems: list[str]
    events: int
    tree_size: int
    event_seq: int
    # What the witnesses answered when the pinned checkpoint was submitted to them
    # before the pack was built (cosigned, refused: an alarm, or failed: down).
    witnesses: tuple[Outcome, ...] = ()

    def witness_lines(self) -> list[str]:
        return [outcome.line() for outcome in self.witnesses]


@dataclass
class PackContent:
    """What a pack says, handed to the PDF."""

    scope: str
    pinned: Pin
    origin: str
    systems: list[SystemRecord]
    events: list[tuple[int, bytes]]
    proofs: list[dict[str, Any]]
    signer_key: str
    checkpoint_key: str
    generator: str
    readiness: dict[str, dict[str, Any]]  # reference -> the scorecard as of the instant
    # reference -> the frameworks' coverage as of the instant (from the same records)
    coverage: dict[str, SystemCoverage] = field(default_factory=dict)
    # A system's pack: its coverage as OSCAL assessment results.
    oscal_results: dict[str, Any] = field(default_factory=dict)
    manifest_sha256: str = ""
    # ledger/completeness.json: the map of each system's last event, and the proofs.
    completeness: dict[str, Any] = field(default_factory=dict)
    # The checkpoint's note with the witnesses' cosignature lines appended.
    checkpoint_note: str = ""
    # Witnesses' refusals the registry has recorded (each an alarm), said in the manifest.
    witness_alarms: list[str] = field(default_factory=list)
    # reference -> the system's documents held at the instant (documents.json)
    documents: dict[str, list[DocumentInPack]] = field(default_factory=dict)
    file_limit: int = 0


def pack_name(scope: str, systems: list[str], as_of: dt.datetime, digest: str) -> str:
    label = _SAFE.sub("_", systems[0]) if scope == "system" else "registry"
    return f"evidence-{label}-{as_of.astimezone(dt.UTC):%Y%m%dT%H%M%S%fZ}-{digest[:12]}.zip"


def _index(systems: list[SystemRecord]) -> list[dict[str, Any]]:
    rows = []
    for system in systems:
        profile = system.profile
        rows.append(
            {
                "reference": system.reference,
                "name": profile.get("name"),
                "stage": profile.get("stage"),
                "risk_tier": profile.get("risk_tier"),
                "live_entries": len(system.live()),
                "entries": len(system.entries),
                "versions": system.versions,
                "folder": f"systems/{system.reference}/",
            }
        )
    return rows


def build(
    read: Session,
    pinned: Pin,
    references: list[str] | None,
    signer: Signer,
    out: Any,
    files: PackFiles,
    *,
    progress: Progress | None = None,
) -> tuple[str, PackContent]:
    """Write the pack of ``references`` (None: the whole registry) as of ``pinned`` to
    the binary file ``out``; return the manifest's SHA-256 and the content."""
    tick = progress or (lambda stage, done, total: None)
    tick("reading the records", 0, 1)
    systems = collect.systems_as_of(read, pinned, references)
    system_ids = None if references is None else [s.id for s in systems]
    events = [(row.seq, bytes(row.event)) for row in collect.events(read, pinned, system_ids)]
    with PackWriter(out, pinned.as_of) as writer:
        # The documents' files are copied in by a thread of their own from here on,
        # while the rest is read and made (the ledger's proofs, the scorecards, the
        # JSON members, evidence.pdf): see PackWriter.
        documents = collect.documents(read, systems, events, files.limit)
        carried = {d.sha256: d for ds in documents.values() for d in ds if d.file}
        writer.copy_files(files.store, [d for _, d in sorted(carried.items())])
        content = _content(read, pinned, references, signer, systems, events, tick)
        content.documents, content.file_limit = documents, files.limit
        digest = _write(writer, content, signer, tick)
    return digest, content


def _content(
    read: Session,
    pinned: Pin,
    references: list[str] | None,
    signer: Signer,
    systems: list[SystemRecord],
    events: list[tuple[int, bytes]],
    tick: Progress,
) -> PackContent:
    """What the pack says but its documents: the ledger's proofs, the scorecards."""
    scope = "registry" if references is None else "system"
    tree = collect.TreeView(read, pinned.tree_size)
    root = bytes.fromhex(pinned.root_hash)
    proofs = []
    for i, (seq, data) in enumerate(events):
        if i % 500 == 0:
            tick("proving the events", i, len(events))
        path = tree.proof(seq)
        # The cover says every proof was checked: check it, against the signed root.
        if not verify_inclusion(leaf_hash(data), seq - 1, pinned.tree_size, path, root):
            raise RuntimeError(f"event {seq} is not in checkpoint {pinned.tree_size}")
        proofs.append({"seq": seq, "path": [h.hex() for h in path]})
    proven = collect.completeness(read, pinned, systems, tree, whole_map=references is None)
    tick("scoring readiness", 0, len(systems))
    # Each system's scorecard as of the instant: what the registry would have said then.
    # And its coverage of the frameworks, from the same records.
    scored = {cov.reference: (card, cov) for card, cov in assess_many(read, pinned.as_of, systems)}
    readiness = {ref: card.to_dict() for ref, (card, _) in scored.items()}
    current_key, checkpoint_key = collect.keys_for(read, pinned.key_id)
    return PackContent(
        scope=scope,
        pinned=pinned,
        origin=signer.name,
        systems=systems,
        events=events,
        proofs=proofs,
        signer_key=current_key,
        checkpoint_key=checkpoint_key,
        generator=generator(),
        readiness=readiness,
        coverage={ref: cov for ref, (_, cov) in scored.items()},
        oscal_results=oscal.results_of(read, scored[systems[0].reference][1])
        if scope == "system"
        else {},
        completeness=proven,
        checkpoint_note=pinned.note + cosignature_lines(read, pinned.tree_size),
        witness_alarms=[refusal_line(row) for row in refusals(read)],
    )


def _write(writer: PackWriter, content: PackContent, signer: Signer, tick: Progress) -> str:
    pinned, systems, events = content.pinned, content.systems, content.events
    keys = [content.signer_key]
    if content.checkpoint_key != content.signer_key:
        keys.append(content.checkpoint_key)
    writer.add("keys.txt", "".join(k + "\n" for k in keys).encode())
    writer.add(
        "index.json", dumps({"as_of": instant_text(pinned.as_of), "systems": _index(systems)})
    )
    writer.add("ledger/checkpoint.txt", (content.checkpoint_note or pinned.note).encode())
    writer.add("ledger/events.jsonl", b"".join(data + b"\n" for _, data in events))
    writer.add(
        "ledger/proofs.json",
        dumps(
            {
                "tree_size": pinned.tree_size,
                "root_hash": pinned.root_hash,
                "leaf_hash": "SHA-256(0x00 || event line without its newline)",
                "proofs": content.proofs,
            }
        ),
    )
    writer.add(COMPLETENESS, dumps(content.completeness))
    for i, system in enumerate(systems):
        if i % 50 == 0:
            tick("writing the systems", i, len(systems))
        folder = f"systems/{system.reference}/"
        writer.add(folder + "state.json", dumps(system.state(pinned.as_of)))
        writer.add(folder + "history.json", dumps(system.history()))
        writer.add(folder + "readiness.json", dumps(content.readiness[system.reference]))
        documents = content.documents.get(system.reference, [])
        writer.add(
            folder + "documents.json",
            dumps({"system": system.reference, "documents": [d.as_dict() for d in documents]}),
        )
        if content.scope == "system":
            covered = content.coverage[system.reference]
            writer.add(folder + "coverage.json", dumps(covered.to_dict()))
            statements = {f: applicability_statement(covered, f) for f in covered.frameworks}
            writer.add(folder + "statement-of-applicability.json", dumps(statements))
    if content.scope == "registry":
        counts = {
            ref: {f: covered.counts(f) for f in covered.frameworks}
            for ref, covered in sorted(content.coverage.items())
        }
        writer.add(
            "frameworks/coverage.json",
            dumps({"as_of": instant_text(pinned.as_of), "systems": counts}),
        )
    for name, data in catalog_members():
        writer.add(name, data)
    if content.oscal_results:
        writer.add("oscal/assessment-results.json", dumps(content.oscal_results))
    manifest = {
        "format": PACK_FORMAT,
        "format_version": FORMAT_VERSION,
        "generator": content.generator,
        "algorithms": ALGORITHMS,
        "origin": signer.name,
        "scope": {"type": content.scope, "systems": [s.reference for s in systems]},
        "as_of": instant_text(pinned.as_of),
        "ledger_size": pinned.size,
        "checkpoint": {"tree_size": pinned.tree_size, "root_hash": pinned.root_hash},
        "file_limit": content.file_limit,
        "files": dict(sorted(writer.digests.items())),
    }
    if content.witness_alarms:
        manifest["witness_alarms"] = content.witness_alarms
    manifest_bytes = dumps(manifest)
    digest = hashlib.sha256(manifest_bytes).hexdigest()
    content.manifest_sha256 = digest
    tick("laying out evidence.pdf", 0, 1)
    pdf = render_pdf(content)
    writer.wait_for_files(tick)
    tick("done", 1, 1)
    writer.add(MANIFEST, manifest_bytes)
    # Stored: its streams and fonts are compressed already (deflating it again took
    # longer than any JSON member, to save under a fifth of its size).
    pdf_digest = writer.add(PDF, pdf, deflate=False)
    statement = (
        f"{signer.name}\nevidence pack\n{MANIFEST} sha256:{digest}\n{PDF} sha256:{pdf_digest}\n"
    )
    writer.add(SIGNATURE, sign_statement(statement, signer).encode())
    return digest


def _add_file(
    writer: PackWriter, store: BlobStore, document: DocumentInPack, cancelled: threading.Event
) -> None:
    name = f"files/{document.sha256}"
    try:
        stream = store.open(document.sha256)
    except FileNotFoundError:
        raise BlobMismatch(
            f"The blob store has lost the file of document {document.sha256} "
            f"({document.name!r}, system {document.system}): no pack was kept."
        ) from None
    try:
        writer.add_stream(name, stream, document, cancelled)
    finally:
        stream.close()


def sign_statement(statement: str, signer: Signer) -> str:
    """``manifest.sig``: the statement as a note's text, with one signature line by
    ``signer`` in the signed-note syntax (its key name and id) whose Ed25519 signature
    is over :data:`STATEMENT_CONTEXT` and the text, not over the text alone."""
    signature = signer.private_key.sign(STATEMENT_CONTEXT + statement.encode("utf-8"))
    line = base64.b64encode(bytes.fromhex(signer.key_id) + signature).decode("ascii")
    return f"{statement}\n\u2014 {signer.name} {line}\n"


class ExportFailed(RegistryError):
    """An export that could not be completed; its message says what it changed."""

    status = 500
    title = "Export failed"
    code = "export_failed"


def what_changed(pinned: Pin) -> str:
    """What a failed export leaves changed: at most the checkpoint it signed in pinning
    (committed at once, so that the ledger lock is not held while the pack is made)."""
    if not pinned.signed:
        return "Nothing was changed."
    return (
        f"One thing was changed: a checkpoint of the ledger's first {pinned.tree_size} "
        "events was signed to cover the as-of instant, at the map of each system's last "
        "event appended as its last event, and stays in the ledger (a pack as of that "
        "instant names it)."
    )


def _export_outcome(reason: Reason) -> str:
    """Whether the export was recorded: not, unless the connection was lost while the
    export event was being committed (then the export may be listed, without its pack)."""
    if reason is Reason.LOST:
        return (
            "no export was recorded, unless the connection was lost while the export was "
            "being recorded (it is then listed, as not kept here)"
        )
    return "no export was recorded"


def _cause(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"a file could not be written or read ({exc.strerror or type(exc).__name__})"
    return "an unexpected error (the registry's log has the details)"


def pin(session: Session, actor: Actor, as_of: dt.datetime | None) -> tuple[Pin, Signer]:
    """The first step of an export: pin ``as_of`` (None: now) to the ledger under the
    ledger lock, signing a checkpoint that covers it when none does yet; with the key
    that signs the manifest.

    The caller commits the pin before :func:`recorded` builds the pack, so the ledger
    lock is not held meanwhile; a failed export then says what the pin changed
    (:func:`failure`)."""
    require(session, actor, "export")
    settings = settings_of(session)
    if settings is None:
        raise Conflict("This registry has no signing key: create one with 'registry keys init'.")
    return collect.pin(session, as_of), settings.signer


def failure(exc: Exception, pinned: Pin) -> Exception:
    """The error an export that failed after its pin was committed raises, once its
    second transaction is rolled back: no pack kept, no export recorded, and whether
    the pin signed a checkpoint (:class:`ExportFailed`, :class:`DatabaseUnavailable`,
    or the domain error raised, e.g. an unknown system, with that sentence added)."""
    if isinstance(exc, RegistryError):
        if pinned.signed:
            exc.message = f"{exc.message} {what_changed(pinned)}"
        return exc
    if (reason := unavailable_reason(exc)) is not None:
        return DatabaseUnavailable(
            f"The evidence pack could not be made: the registry's database {reason.value}. "
            f"No pack was kept and {_export_outcome(reason)}. {what_changed(pinned)} "
            "Try again later.",
            reason,
        )
    log.exception("Exporting an evidence pack as of %s failed", instant_text(pinned.as_of))
    return ExportFailed(
        f"The evidence pack could not be made: {_cause(exc)}. No pack was kept and "
        f"no export was recorded. {what_changed(pinned)}"
    )


def witness(
    session: Session, submitter: WitnessSubmitter | None, pinned: Pin
) -> tuple[Outcome, ...]:
    """Submit the pinned checkpoint to the witnesses that have not cosigned it (nor a
    larger one) yet, after the commit that pinned it and before the pack is built, so
    the pack carries their cosignatures. Each waits a short timeout; a witness that is
    down is reported in the export's result, a refusal stored as an alarm (which the
    manifest carries). The answers are stored in ``session``; the caller commits."""
    if submitter is None:
        return ()
    return tuple(submitter.submit_now(session, pinned.tree_size, timeout=WITNESS_TIMEOUT))


@contextmanager
def recorded(
    session: Session,
    read: Session,
    actor: Actor,
    out_dir: Path,
    references: list[str] | None,
    pinned: Pin,
    signer: Signer,
    files: PackFiles,
    progress: Progress | None,
) -> Iterator[Exported]:
    """The second step of an export: build the pack of ``references`` (None: the whole
    registry) as of ``pinned`` from ``read``, place it in ``out_dir`` and append the
    export's event to ``session``. The pack stays when the ``with`` block ends, in
    which the caller commits that event; it is removed when the block raises."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=TEMPORARY_PREFIX, suffix=".zip")
    placed: Path | None = None  # the pack, once in place, if no earlier export left it
    try:
        with os.fdopen(fd, "wb") as fh:
            digest, content = build(read, pinned, references, signer, fh, files, progress=progress)
        systems = [s.reference for s in content.systems]
        scope = content.scope
        name = pack_name(scope, systems, pinned.as_of, digest)
        path = out_dir / name
        # The same scope as of the same instant is the same file: an earlier export's
        # copy is replaced by identical bytes, and kept if this export fails.
        placed = None if path.exists() else path
        os.replace(tmp, path)
        fields: dict[str, Any] = {
            "action": EXPORT_ACTION,
            "actor": actor.label,
            "scope": scope,
            "as_of": instant_text(pinned.as_of),
            "manifest_sha256": digest,
            "file": name,
            "tree_size": pinned.tree_size,
        }
        system_id = None
        if scope == "system":
            fields["system"] = systems[0]
            system_id = content.systems[0].id
        row = append_event(session, fields, system_id=system_id)
        yield Exported(
            path,
            name,
            digest,
            pinned.as_of,
            scope,
            systems,
            len(content.events),
            pinned.tree_size,
            row["seq"],
        )
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        if placed is not None:
            placed.unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class ExportRecord:
    """One export, as the ledger recorded it."""

    seq: int
    at: str
    actor: str
    scope: str
    system: str | None
    as_of: str
    manifest_sha256: str
    file: str
    available: bool


def list_exports(
    session: Session, out_dir: Path, *, system: str | None = None, limit: int = 200
) -> list[ExportRecord]:
    """The exports the ledger recorded, newest first, of one system or of any scope
    (``available``: the file is still in ``out_dir``)."""
    stmt = (
        sa.select(AuditEvent.event)
        .where(AuditEvent.action == EXPORT_ACTION)  # by index, newest first
        .order_by(AuditEvent.seq.desc())
        .limit(limit)
    )
    if system is not None:
        # A system's exports are events about it: the index on system_id finds them.
        stmt = stmt.join(AISystem, AISystem.id == AuditEvent.system_id).where(
            AISystem.reference == system
        )
    return [_export_record(json.loads(raw), out_dir) for raw in session.scalars(stmt)]


def export_of(session: Session, out_dir: Path, seq: int) -> ExportRecord:
    """The export that event ``seq`` recorded, as the list of exports gives it."""
    raw = session.scalar(
        sa.select(AuditEvent.event).where(AuditEvent.seq == seq, AuditEvent.action == EXPORT_ACTION)
    )
    if raw is None:
        raise NotFound(f"No export was recorded by event {seq}.")
    return _export_record(json.loads(raw), out_dir)


def _export_record(event: dict[str, Any], out_dir: Path) -> ExportRecord:
    """An export as its ``evidence.export`` event says it, in the event's own words
    (``at`` is the event's time; instants as the ledger writes them); ``available``:
    the pack is still kept in ``out_dir`` for download."""
    return ExportRecord(
        seq=event["seq"],
        at=event["time"],
        actor=event["actor"],
        scope=event["scope"],
        system=event.get("system"),
        as_of=event["as_of"],
        manifest_sha256=event["manifest_sha256"],
        file=event["file"],
        available=exported_file(out_dir, event["file"]) is not None,
    )


def remove_leftovers(out_dir: Path, older_than: float) -> int:
    """Remove the packs left half written in ``out_dir`` by exports whose process died
    (killed mid-export), once untouched for ``older_than`` seconds; how many."""
    if not out_dir.is_dir():
        return 0
    cutoff = time.time() - older_than
    removed = 0
    for path in out_dir.glob(f"{TEMPORARY_PREFIX}*.zip"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:  # finished or removed meanwhile
            continue
    return removed


def exported_file(out_dir: Path, name: str) -> Path | None:
    """The pack called ``name`` in ``out_dir``, if it is one (never a path outside)."""
    if not re.fullmatch(r"evidence-[A-Za-z0-9._-]+\.zip", name) or name.startswith("."):
        return None
    path = out_dir / name
    return path if path.is_file() else None
