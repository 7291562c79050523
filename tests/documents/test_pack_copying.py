"""A pack's documents are copied into it by a thread of their own while the rest of the
pack is made (evidence.pack.PackWriter.copy_files), on both engines and both blob
stores: the pack's bytes do not depend on which finishes first, a file whose bytes are
not the document's fails the export with nothing left behind, and a failure elsewhere
stops the copying."""

from __future__ import annotations

import hashlib
import sys
import threading
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

import pytest
import sqlalchemy as sa

from registry.documents.models import Document
from registry.documents.store import BlobStore, LocalStore, S3Store
from registry.evidence import pack
from registry.evidence.pack import BlobMismatch, ExportFailed, PackFiles
from registry.extensions import document_store
from registry.ledger.checkpoints import settings_of
from registry.records import writes
from tests.documents.test_documents_pack import LARGE, REPORT, SECRET, add, check
from tests.evidence.conftest import do_export
from tests.records.samples import SAMPLES

# Longest a test waits for the other thread before it fails (never reached when right).
PATIENCE = 30.0


class Gated:
    """The app's blob store, whose files are read only once ``opened`` is set; it sets
    ``read_all`` once every stream handed out has been read to its end."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.name = store.name
        self.opened = threading.Event()
        self.read_all = threading.Event()
        self.streams = 0

    def open(self, sha256: str) -> IO[bytes]:
        self.streams += 1
        return GatedStream(self, self.store.open(sha256))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


class GatedStream:
    def __init__(self, gate: Gated, stream: IO[bytes]) -> None:
        self.gate, self.stream = gate, stream

    def read(self, size: int = -1) -> bytes:
        assert self.gate.opened.wait(PATIENCE), "the gate never opened"
        data = self.stream.read(size)
        if not data:
            self.gate.streams -= 1
            if self.gate.streams == 0:
                self.gate.read_all.set()
        return data

    def close(self) -> None:
        self.stream.close()


@pytest.fixture
def documents(app, session, officer):
    """sys-1 with two documents carried and one withheld."""
    writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "sys-1"})
    session.commit()
    add(app, session, officer, REPORT, "report.txt", document_type="test_report")
    add(app, session, officer, LARGE, "bias.txt", document_type="bias_assessment")
    add(app, session, officer, SECRET, "contract.txt", document_type="contract", withheld=True)
    return app.config["PACK_FILE_MAX_BYTES"]


def _export(app, session, gated: Gated, progress, **kwargs):
    return do_export(
        app,
        session,
        "sys-1",
        files=PackFiles(gated, app.config["PACK_FILE_MAX_BYTES"]),  # type: ignore[arg-type]
        progress=progress,
        **kwargs,
    )


def test_the_pack_is_the_same_whether_its_files_or_its_other_members_are_made_first(
    app, session, documents, tmp_path, capsys
):
    # The files copied before any other member is made: the exporting thread waits at
    # its first step after the copying started until the files are read.
    files_first = Gated(document_store(app))
    files_first.opened.set()

    def wait_for_the_files(stage: str, done: int, total: int) -> None:
        if stage == "proving the events":
            assert files_first.read_all.wait(PATIENCE)

    first = _export(app, session, files_first, wait_for_the_files)
    first_bytes = first.path.read_bytes()

    # The other members all made (and waiting in memory) before a file's byte is read.
    members_first = Gated(document_store(app))
    ticks: list[tuple[str, int, int]] = []

    def open_at_the_pdf(stage: str, done: int, total: int) -> None:
        ticks.append((stage, done, total))
        if stage == "laying out evidence.pdf":
            assert not members_first.read_all.is_set()
            members_first.opened.set()

    again = _export(app, session, members_first, open_at_the_pdf, as_of=first.as_of)
    assert again.name == first.name and again.path.read_bytes() == first_bytes

    # The files come first, in SHA-256 order, then the members in their fixed order.
    names = list(pack_members(again.path))
    carried = sorted(hashlib.sha256(data).hexdigest() for data in (REPORT, LARGE))
    assert names[:2] == [f"files/{digest}" for digest in carried]
    assert names[2] == "keys.txt" and names[-3:] == [
        "manifest.json",
        "evidence.pdf",
        "manifest.sig",
    ]
    code, out = check(again.path, capsys, settings_of(session).signer.verifier_key)
    assert code == 0 and "VERIFIED" in out, out

    # Progress: the copying is reported once the PDF is laid out, up to every file.
    stages = [stage for stage, _, _ in ticks]
    assert stages.index("laying out evidence.pdf") < stages.index("copying the documents")
    copied = [(done, total) for stage, done, total in ticks if stage == "copying the documents"]
    assert copied[-1] == (2, 2) and copied == sorted(copied)
    assert ticks[-1] == ("done", 1, 1)


def test_threads_switch_more_often_only_while_files_are_copied(app, session, documents):
    before = sys.getswitchinterval()
    assert before > pack.COPYING_SWITCH_INTERVAL  # (the interpreter's default, 5 ms)
    gated = Gated(document_store(app))
    seen: dict[str, float] = {}

    def at_the_pdf(stage: str, done: int, total: int) -> None:
        if stage == "laying out evidence.pdf":  # the copying thread waits at the gate
            seen["copying"] = sys.getswitchinterval()
            gated.opened.set()

    _export(app, session, gated, at_the_pdf)
    assert seen["copying"] == pytest.approx(pack.COPYING_SWITCH_INTERVAL)
    assert sys.getswitchinterval() == before


def pack_members(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return z.namelist()


def _damage(store: BlobStore, digest: str, data: bytes) -> None:
    """Replace a blob's bytes behind the store's back (as a disk or a bucket might)."""
    if isinstance(store, LocalStore):
        store.path(digest).write_bytes(data)
    else:
        assert isinstance(store, S3Store)
        store.client.put_object(Bucket=store.bucket, Key=store.key(digest), Body=data)


def _left_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _nothing_left(app, session) -> None:
    session.rollback()
    folder = Path(app.config["EXPORT_DIR"])
    assert _left_in(folder) == []  # no pack, not even half written
    assert pack.list_exports(session, folder) == []  # no export recorded
    assert not [t for t in threading.enumerate() if t.name == "pack-files"]


def _forget_crc32(session, data: bytes | None = None) -> None:
    """The documents' rows (or the one of ``data``) as received before their CRC-32s
    were recorded (migration 0027 leaves them so)."""
    statement = sa.update(Document).values(crc32=None)
    if data is not None:
        statement = statement.where(Document.sha256 == hashlib.sha256(data).hexdigest())
    session.execute(statement)
    session.commit()


# What the store holds instead of the document, and what the failure says of it.
DAMAGE = {
    "changed": (LARGE.upper(), None),
    "truncated": (LARGE[:-1], f"{len(LARGE) - 1} of its {len(LARGE)} bytes"),
    "longer": (LARGE + b"x" * (3 * pack.FILE_CHUNK), f"more than its {len(LARGE)} bytes"),
}


@pytest.mark.parametrize("recorded", ["crc32", "sha256 only"])
@pytest.mark.parametrize("damaged", sorted(DAMAGE))
def test_a_file_whose_bytes_changed_in_the_store_fails_the_export_leaving_nothing(
    app, session, documents, damaged, recorded
):
    # Checked against the size and the CRC-32 recorded when received; a document
    # received before CRC-32s were recorded is hashed again with SHA-256 instead. A
    # copy longer than received is read no further than the piece that passes its size.
    assert session.scalar(sa.select(sa.func.count()).where(Document.crc32.is_(None))) == 0
    if recorded == "sha256 only":
        _forget_crc32(session, LARGE)
    store = document_store(app)
    digest = hashlib.sha256(LARGE).hexdigest()
    held, said = DAMAGE[damaged]
    _damage(store, digest, held)
    check = said or ("CRC-32" if recorded == "crc32" else "SHA-256")
    with pytest.raises(BlobMismatch, match=f"copy of document {digest} is not the document") as e:
        do_export(app, session, "sys-1")
    assert check in str(e.value)
    _nothing_left(app, session)


def test_a_file_is_held_to_the_crc32_recorded_when_it_was_received(app, session, documents):
    # Bytes intact, but a CRC-32 on record that is not theirs: the export believes the
    # record (what was received), not the store, and makes no pack.
    digest = hashlib.sha256(REPORT).hexdigest()
    wrong = zlib.crc32(REPORT) ^ 1
    session.execute(sa.update(Document).where(Document.sha256 == digest).values(crc32=wrong))
    session.commit()
    with pytest.raises(BlobMismatch, match=f"CRC-32 {zlib.crc32(REPORT):08x}, not {wrong:08x}"):
        do_export(app, session, "sys-1")
    _nothing_left(app, session)


def test_files_checked_by_crc32_or_by_sha256_make_the_same_pack(app, session, documents, capsys):
    checked_by_crc = do_export(app, session, "sys-1")
    pack_bytes = checked_by_crc.path.read_bytes()
    _forget_crc32(session)  # every document now as received before CRC-32s were recorded
    rehashed = do_export(app, session, "sys-1", as_of=checked_by_crc.as_of)
    assert rehashed.path.read_bytes() == pack_bytes
    code, out = check(rehashed.path, capsys, settings_of(session).signer.verifier_key)
    assert code == 0 and "VERIFIED" in out, out


def test_a_failure_while_the_files_are_copied_stops_the_copying_and_leaves_nothing(
    app, session, documents
):
    gated = Gated(document_store(app))

    def fail_at_the_pdf(stage: str, done: int, total: int) -> None:
        if stage == "laying out evidence.pdf":
            gated.opened.set()  # the copying goes on, until told to stop
            raise RuntimeError("the PDF could not be laid out")

    folder = Path(app.config["EXPORT_DIR"])
    with pytest.raises(ExportFailed, match="No pack was kept and no export was recorded"):
        _export(app, session, gated, fail_at_the_pdf)
    session.rollback()
    assert not [t for t in threading.enumerate() if t.name == "pack-files"]
    assert sys.getswitchinterval() > pack.COPYING_SWITCH_INTERVAL  # put back
    assert _left_in(folder) == []
    assert pack.list_exports(session, folder) == []
