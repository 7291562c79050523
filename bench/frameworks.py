"""Spreadsheet import and framework coverage, on both engines.

1. Import. A CSV of N systems (default 10,000; each row a profile and a business
   owner) is imported (parse, plan, versioned creates, one transaction) into an empty
   registry. Baseline, same run: the same creates through the records service from
   already-parsed bodies, one transaction, into another empty registry. Rounds
   alternate; medians. Target: ratio (baseline time / import time) >= 0.5.
2. Coverage. The demo data of ``make run`` is loaded through the service (the NL
   algorithm register's history, about 1,530 systems, or --systems of them, and the
   hand-written examples with their documents) and every system's coverage of the three
   frameworks is assessed as of now in one call (``applicability.coverage.assess_many``:
   the records of all systems read at once, each scored and covered), reading each
   system's counts per framework (what the registry's pack carries); then the same with
   every item's row made (``SystemCoverage.items``, what a system's page and the
   organisation's Statement of Applicability read). Baseline, same run: every system's
   readiness scorecard alone, read the same way (``readiness.scorecard.evaluate_many``).
   Target: all systems' coverage < 2 s. Wall-clock and CPU medians.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import itertools
import tempfile
import time
from pathlib import Path

from _common import ENGINES, fresh_database, median, timed

from registry.accounts.actor import Actor
from registry.applicability import coverage
from registry.config import load_config
from registry.db import Database
from registry.demo import nl_register
from registry.demo.examples import EXAMPLES
from registry.demo.loader import load_examples
from registry.documents.store import LocalStore
from registry.readiness.scorecard import evaluate_many
from registry.records import reads, writes
from registry.sheets import importing

HEADER = ["reference", "name", "stage", "risk_tier", "role"]
HEADER += ["business_owner_name", "business_owner_email"]


def inventory(rows: int) -> tuple[bytes, list[tuple[dict, dict]]]:
    """The CSV and the same rows as bodies (profile, owner)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(HEADER)
    bodies = []
    for i in range(rows):
        cells = [
            f"inv-{i:05d}",
            f"System {i}",
            "pilot",
            "minimal",
            "deployer",
            "Bea",
            "bea@example.org",
        ]
        writer.writerow(cells)
        profile = dict(zip(HEADER[:5], cells[:5], strict=True))
        owner = {"role": "business", "person": {"name": "Bea", "email": "bea@example.org"}}
        bodies.append((profile, owner))
    return out.getvalue().encode(), bodies


def import_run(engine: str, rows: int, rounds: int) -> float:
    data, bodies = inventory(rows)
    actor = Actor.system("bench", roles=frozenset({"compliance_officer"}))

    def by_import() -> None:
        with fresh_database(engine) as url:
            db = Database(url)
            with db.sessionmaker() as s:
                plan = importing.plan(s, data, "inventory.csv")
                assert not plan.errors
                importing.apply(s, actor, plan)
                s.commit()
            db.dispose()

    def by_service() -> None:
        with fresh_database(engine) as url:
            db = Database(url)
            with db.sessionmaker() as s:
                for profile, owner in bodies:
                    system, _ = writes.create_system(s, actor, profile, reason="bench")
                    writes.create_entry(s, actor, system, "owner", owner, reason="bench")
                s.commit()
            db.dispose()

    # (Each sample includes creating and migrating the empty database: the same on
    # both sides, measured below and taken off.)
    def empty() -> None:
        with fresh_database(engine):
            pass

    setup, imports, services = [], [], []
    for _ in range(rounds):
        setup += timed(empty, 1)
        imports += timed(by_import, 1)
        services += timed(by_service, 1)
    base = median(setup)
    i, s = median(imports) - base, median(services) - base
    ratio = s / i
    print(
        f"{engine:10} import {rows} rows {i:6.2f} s ({rows / i:6.0f} rows/s)   service creates "
        f"{s:6.2f} s   ratio {ratio:.2f}   (medians of {rounds}; target >= 0.50: "
        f"{'met' if ratio >= 0.5 else 'NOT met'})"
    )
    return ratio


def coverage_run(engine: str, systems: int | None, rounds: int) -> float:
    corpus = load_config()["DEMO_CORPUS"]
    changes = list(nl_register.read_changes(corpus))
    if systems is not None:
        keep = set(itertools.islice(dict.fromkeys(c["id"] for c in changes), systems))
        changes = [c for c in changes if c["id"] in keep]
    actor = Actor.system("bench")
    with fresh_database(engine) as url, tempfile.TemporaryDirectory() as blobs:
        db = Database(url)
        with db.sessionmaker() as s:
            nl_register.replay(s, actor, changes)
            load_examples(s, actor, EXAMPLES, store=LocalStore(Path(blobs)))
            s.commit()
        with db.sessionmaker() as s:
            listed = len(reads.register(s))
        at = dt.datetime.now(dt.UTC)

        def counted() -> None:
            with db.sessionmaker() as s:
                found = coverage.assess_many(s, at)
                assert len(found) == listed
                for _, c in found:
                    for f in c.frameworks:
                        c.counts(f)

        def rows() -> None:
            with db.sessionmaker() as s:
                assert sum(len(c.items) for _, c in coverage.assess_many(s, at)) > listed

        def scored() -> None:
            with db.sessionmaker() as s:
                assert len(evaluate_many(s, None, at)) == listed

        samples: dict[str, list[tuple[float, float]]] = {"counts": [], "rows": [], "cards": []}
        for _ in range(rounds):
            for name, fn in (("counts", counted), ("rows", rows), ("cards", scored)):
                wall, cpu = time.perf_counter(), time.process_time()
                fn()
                samples[name].append((time.perf_counter() - wall, time.process_time() - cpu))
        db.dispose()
    wall = {k: median([w for w, _ in v]) for k, v in samples.items()}
    cpu = {k: median([c for _, c in v]) for k, v in samples.items()}
    c, b = wall["counts"], wall["cards"]
    print(
        f"{engine:10} coverage of all {listed} systems x 3 frameworks {c:6.2f} s (cpu "
        f"{cpu['counts']:.2f} s), every item's row made {wall['rows']:6.2f} s (cpu "
        f"{cpu['rows']:.2f} s)   scorecards alone {b:6.2f} s (cpu {cpu['cards']:.2f} s)   "
        f"ratio {c / b:.2f}   (medians of {rounds}; target < 2 s: "
        f"{'met' if c < 2 else 'NOT met'})"
    )
    return c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--systems", type=int, default=None, help="default: the whole register")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", choices=["import", "coverage"], default=None)
    args = parser.parse_args()
    print("frameworks: spreadsheet import vs service creates; coverage of every system")
    for engine in ENGINES:
        if args.only != "coverage":
            import_run(engine, args.rows, args.rounds)
        if args.only != "import":
            coverage_run(engine, args.systems, args.rounds)


if __name__ == "__main__":
    main()
