"""Evidence packs: one system with 1,000 versions in a 10,000-event ledger, and the whole
NL algorithm register (about 1,530 systems).

1. System pack. A system with 100 entries of 10 versions each is written through the
   records service, then the ledger is filled with other events to 10,000. Its pack is
   exported (checkpoint, proofs, state, history, PDF, signed manifest, export event)
   several times; the first export of the process (fonts loaded) is reported apart.
   Baseline, same run: reading the same versions and events and writing them as JSON
   into a ZIP, which is the least any export does. Target: < 2 s a pack.
2. Whole-registry pack of the NL register (replayed through the service), exported by
   ``registry export --all`` in a child process whose peak memory (max RSS) is read
   from the operating system. Targets: < 60 s, peak memory < 500 MB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import sqlalchemy as sa
from _common import ENGINES, fill_ledger, fresh_database, median

from registry.accounts.actor import Actor
from registry.config import load_config
from registry.db import Database
from registry.documents.store import LocalStore
from registry.evidence import collect
from registry.evidence.pack import PackFiles
from registry.exporting import export
from registry.ledger.checkpoints import LedgerSettings
from registry.ledger.keys import create_key
from registry.ledger.models import AuditEvent
from registry.records import reads, writes
from registry.records.models import Entry, EntryVersion

ROOT = Path(__file__).resolve().parent.parent
ENTRIES, VERSIONS, LEDGER = 100, 10, 10_000
AUDITOR = Actor.system("bench-auditor", roles=frozenset({"auditor"}))


def build_system(db: Database) -> None:
    actor = Actor.system("bench", roles=frozenset({"compliance_officer"}))
    with db.sessionmaker() as s:
        system, _ = writes.create_system(
            s,
            actor,
            {"name": "Measured système", "reference": "measured", "stage": "pilot"},
        )
        entries = []
        for i in range(ENTRIES - 1):
            body = {"title": f"Risk {i}", "likelihood": "possible", "impact": "major"}
            version = writes.create_entry(s, actor, system, "risk", body, reason="identified")
            entries.append(reads.get_entry(s, version.entry_id))
        s.commit()
        profile = reads.profile_entry(s, system)
        for n in range(1, VERSIONS):
            for i, entry in enumerate(entries):
                body = {
                    "title": f"Risk {i}",
                    "likelihood": "likely" if n % 2 else "possible",
                    "impact": "major",
                    "control": f"Control revision {n}: reviewed by the risk board, "
                    "with the residual risk accepted by the business owner.",
                }
                writes.update_entry(s, actor, entry, body, base_version=n, reason=f"review {n}")
            body = {"name": "Measured système", "reference": "measured", "stage": "pilot"}
            body["purpose"] = f"Purpose, revision {n}"
            writes.update_entry(s, actor, profile, body, base_version=n, reason="revised")
            s.commit()
        count = s.scalar(
            sa.select(sa.func.count())
            .select_from(EntryVersion)
            .join(Entry, Entry.id == EntryVersion.entry_id)
            .where(Entry.system_id == system.id)
        )
        assert count == ENTRIES * VERSIONS, count


def baseline(db: Database) -> None:
    """Read the system's versions and events and write them as JSON into a ZIP."""
    with db.read_sessionmaker() as s:
        system = reads.get_system(s, "measured")
        rows = s.execute(
            sa.select(EntryVersion.entry_id, EntryVersion.number, EntryVersion.body)
            .join(Entry, Entry.id == EntryVersion.entry_id)
            .where(Entry.system_id == system.id)
            .order_by(EntryVersion.entry_id, EntryVersion.number)
        ).all()
        events = s.scalars(
            sa.select(AuditEvent.event).where(AuditEvent.system_id == system.id)
        ).all()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("history.json", json.dumps([tuple(r) for r in rows]))
        z.writestr("events.jsonl", b"\n".join(bytes(e) for e in events))


def system_pack(engine: str, repeat: int) -> None:
    with fresh_database(engine) as url, tempfile.TemporaryDirectory() as folder:
        signer = create_key(Path(folder) / "key", "bench.example/registry")
        db = Database(url, ledger=LedgerSettings(signer))
        build_system(db)
        fill_ledger(db, LEDGER)
        out = Path(folder) / "exports"

        def one() -> float:
            started = time.perf_counter()
            with db.sessionmaker() as s, db.read_sessionmaker() as r:
                files = PackFiles(LocalStore(Path(folder) / "documents"), 0)
                done = export(s, r, AUDITOR, out, files, references=["measured"])
            assert done.events >= ENTRIES * VERSIONS
            return time.perf_counter() - started

        cold = one()
        samples = [one() for _ in range(repeat)]
        last = max(out.glob("evidence-measured-*.zip"), key=lambda p: p.stat().st_mtime)
        with zipfile.ZipFile(last) as z:
            proof_bytes = z.getinfo("ledger/completeness.json").file_size
        pack_bytes = last.stat().st_size
        # The completeness proof alone (map, leaf, later links), as an export makes it.
        proving = []
        for _ in range(repeat):
            with db.sessionmaker() as s:
                pinned = collect.pin(s, None)
                s.commit()
            with db.read_sessionmaker() as r:
                systems = collect.systems_as_of(r, pinned, ["measured"])
                tree = collect.TreeView(r, pinned.tree_size)
                started = time.perf_counter()
                collect.completeness(r, pinned, systems, tree, whole_map=False)
                proving.append(time.perf_counter() - started)
        base = []
        for _ in range(repeat):
            started = time.perf_counter()
            baseline(db)
            base.append(time.perf_counter() - started)
        db.dispose()
    ok = max(cold, median(samples)) < 2.0
    print(
        f"{engine:10} system pack, {ENTRIES * VERSIONS:,} versions, {LEDGER:,}-event ledger: "
        f"first {cold:.2f} s, median {median(samples):.2f} s over {repeat}; baseline "
        f"(JSON dump to ZIP) {median(base) * 1e3:.0f} ms; "
        f"ratio {median(samples) / median(base):.1f}x; pack {pack_bytes / 1e3:.0f} kB, "
        f"ledger/completeness.json {proof_bytes:,} B, proven in "
        f"{median(proving) * 1e3:.0f} ms"
        f"  (target < 2 s -> {'met' if ok else 'NOT met'})"
    )


def registry_pack(engine: str, corpus: Path) -> None:
    with fresh_database(engine) as url, tempfile.TemporaryDirectory() as folder:
        instance = Path(folder) / "instance"
        create_key(instance / "ledger-signing.key", "bench.example/registry")
        env = dict(
            os.environ,
            REGISTRY_DATABASE_URL=url,
            REGISTRY_INSTANCE_PATH=str(instance),
            REGISTRY_SECRET_KEY="bench",
            REGISTRY_ORIGIN="bench.example/registry",
            REGISTRY_DEMO_CORPUS=str(corpus),
        )
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "registry.cli", "demo"],
            env=env,
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        db = Database(url)
        with db.sessionmaker() as s:
            systems = s.scalar(sa.text("SELECT count(*) FROM ai_system"))
        db.dispose()
        print(
            f"  {engine}: NL register and examples loaded, {systems:,} systems "
            f"({time.perf_counter() - started:.0f} s)",
            file=sys.stderr,
        )
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "registry.cli", "export", "--all", "--out", folder],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if result.returncode != 0:
            raise SystemExit(result.stderr)
        pack = Path(result.stdout.strip().splitlines()[-1])
        size = pack.stat().st_size
    peak_mb = max(peak, before) / 1024
    ok = seconds < 60 and peak_mb < 500
    print(
        f"{engine:10} whole-registry pack, {systems:,} systems: {seconds:.1f} s, peak memory "
        f"{peak_mb:.0f} MB, {size / 1e6:.1f} MB  (targets < 60 s, < 500 MB -> "
        f"{'met' if ok else 'NOT met'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--corpus",
        type=Path,
        default=Path(load_config()["DEMO_CORPUS"]),
    )
    parser.add_argument("--skip-registry", action="store_true")
    args = parser.parse_args()
    for engine in ENGINES:
        system_pack(engine, args.repeat)
    if not args.skip_registry:
        for engine in ENGINES:
            registry_pack(engine, args.corpus)


if __name__ == "__main__":
    main()
