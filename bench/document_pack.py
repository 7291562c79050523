"""Evidence packs carrying documents: export time against copying the same files into a
ZIP, measured in the same run.

A system with ``--mib`` MiB of documents (``--files`` files of random, incompressible
bytes, as PDFs mostly are) in the local blob store; the pack of that system is exported
(``registry.exporting.export``: pin, read, prove, score, lay out the PDF, record the
export; meanwhile a thread of its own copies every document into the ZIP, checking its
size and CRC-32 against those recorded when it was received). The baseline: the same
blob files copied into a ZIP (stored, as the pack stores documents) with ``zipfile``
and ``shutil.copyfileobj``. A third measure, the same pack
with every file left out (a file limit of 0: the same records, PDF and proofs, the
documents listed with hash and metadata only), gives the export's fixed cost, so that
what carrying the files costs is seen apart from it. Figures: the medians, the ratio of
the export to the ZIP copy (target <= 1.5), the ratio of the files' share of the export
to the ZIP copy, the medians of CPU time (the process's, all threads: on a loaded
machine the wall-clock ratio mostly says how much of the second core the export's
copying thread got), and the process's peak resident memory growth over
the exports (flat: files are streamed).

    python document_pack.py [--mib 200] [--files 20] [--runs 3] [--engine sqlite]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

from _common import fresh_database, median

from registry.accounts.actor import Actor
from registry.db import Database
from registry.documents.service import Upload, receive
from registry.documents.store import CHUNK, LocalStore
from registry.evidence.pack import PackFiles
from registry.exporting import export
from registry.ledger.checkpoints import LedgerSettings
from registry.ledger.keys import create_key
from registry.records import reads, writes

OFFICER = Actor.system("bench", roles=frozenset({"compliance_officer"}))
AUDITOR = Actor.system("bench-auditor", roles=frozenset({"auditor"}))


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def receive_documents(db: Database, store: LocalStore, mib: int, files: int) -> list[Path]:
    """``files`` documents of ``mib`` MiB in all, received for system "measured"."""
    size = mib * CHUNK // files
    with db.sessionmaker() as session:
        writes.create_system(
            session,
            OFFICER,
            {"name": "Measured", "reference": "measured", "stage": "pilot", "purpose": "bench"},
        )
        session.commit()
        system = reads.get_system(session, "measured")
        for i in range(files):
            staged = store.stage(size)
            left = size
            while left:
                chunk = os.urandom(min(CHUNK, left))
                staged.write(chunk)
                left -= len(chunk)
            staged.close()
            upload = Upload(f"report-{i}.pdf", "application/pdf", document_type="test_report")
            receive(session, OFFICER, system, store, staged, upload)
            session.commit()
    return sorted(store.path(b.sha256) for b in store.blobs())


def zip_copy(blobs: list[Path], out: Path) -> None:
    """The baseline: the same files copied into a ZIP, stored."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
        for path in blobs:
            info = zipfile.ZipInfo(f"files/{path.name}", date_time=(2026, 1, 1, 0, 0, 0))
            info.file_size = path.stat().st_size
            with path.open("rb") as src, z.open(info, "w") as dst:
                shutil.copyfileobj(src, dst, CHUNK)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=200)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engine", default="sqlite", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    with fresh_database(args.engine) as url, tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        signer = create_key(root / "key", "bench.example/registry")
        db = Database(url, ledger=LedgerSettings(signer))
        store = LocalStore(root / "documents")
        blobs = receive_documents(db, store, args.mib, args.files)
        total = sum(p.stat().st_size for p in blobs)
        out = root / "exports"

        cpu: dict[str, list[float]] = {"pack": [], "bare": [], "zip": []}

        def pack(limit: int = 1 << 30) -> float:
            started, used = time.perf_counter(), time.process_time()
            with db.sessionmaker() as s, db.read_sessionmaker() as r:
                done = export(s, r, AUDITOR, out, PackFiles(store, limit), references=["measured"])
            elapsed = time.perf_counter() - started
            cpu["pack" if limit else "bare"].append(time.process_time() - used)
            done.path.unlink()
            return elapsed

        def baseline() -> float:
            target = root / "baseline.zip"
            started, used = time.perf_counter(), time.process_time()
            zip_copy(blobs, target)
            elapsed = time.perf_counter() - started
            cpu["zip"].append(time.process_time() - used)
            target.unlink()
            return elapsed

        pack()  # warm: the PDF's fonts, the page cache
        pack(0)
        baseline()
        idle = peak_rss()
        packs, bare, zips = [], [], []
        for spent in cpu.values():
            spent.clear()  # (the warm-up's)
        for _ in range(args.runs):  # interleaved, so all see the same machine
            zips.append(baseline())
            packs.append(pack())
            bare.append(pack(0))
        grown = peak_rss() - idle
        db.dispose()
    ratio = median(packs) / median(zips)
    files_ratio = median([p - b for p, b in zip(packs, bare, strict=True)]) / median(zips)
    print(f"document pack ({args.engine}): {len(blobs)} documents, {total / CHUNK:.0f} MiB")
    print(f"  export of the pack:            median {median(packs):.3f} s  {_list(packs)}")
    print(f"  the same, no file carried:     median {median(bare):.3f} s  {_list(bare)}")
    print(f"  copy into a ZIP (stored):      median {median(zips):.3f} s  {_list(zips)}")
    print(f"  ratio export / ZIP copy: {ratio:.2f} (target <= 1.5)")
    print(f"  ratio files' share of the export / ZIP copy: {files_ratio:.2f}")
    print(
        f"  CPU medians: export {median(cpu['pack']):.3f} s, no file carried "
        f"{median(cpu['bare']):.3f} s, ZIP copy {median(cpu['zip']):.3f} s; ratio export / "
        f"ZIP copy {median(cpu['pack']) / median(cpu['zip']):.2f}"
    )
    print(f"  peak RSS growth over the exports: {grown / CHUNK:.1f} MiB")


def _list(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values) + "]"


if __name__ == "__main__":
    main()
