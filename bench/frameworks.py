"""Spreadsheet import and framework coverage, on both engines.

1. Import. A CSV of N systems (default 10,000; each row a profile and a business
   owner) is imported (parse, plan, versioned creates, one transaction) into an empty
   registry. Baseline, same run: the same creates through the records service from
   already-parsed bodies, one transaction, into another empty registry. Rounds
   alternate; medians. Target: ratio (baseline time / import time) >= 0.5.
2. Coverage. The NL algorithm register is replayed through the service (about 1,530
   systems, or --systems of them) and every system's coverage of the three frameworks is
   assessed as of now (``frameworks.coverage.assess``, the organisation's Statement of
   Applicability does the same). Baseline, same run: every system's readiness scorecard
   alone. Target: all systems' coverage < 2 s.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import itertools

from _common import ENGINES, fresh_database, median, timed

from registry.accounts.actor import Actor
from registry.applicability.coverage import assess
from registry.config import load_config
from registry.db import Database
from registry.demo import nl_register
from registry.readiness import evaluate
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
    with fresh_database(engine) as url:
        db = Database(url)
        with db.sessionmaker() as s:
            nl_register.replay(s, actor, changes)
            s.commit()
        with db.sessionmaker() as s:
            refs = [r.system.reference for r in reads.register(s)]
        at = dt.datetime.now(dt.UTC)

        def covered() -> None:
            with db.sessionmaker() as s:
                for ref in refs:
                    assess(s, ref, at)

        def scored() -> None:
            with db.sessionmaker() as s:
                for ref in refs:
                    evaluate(s, ref, at)

        cover_t, score_t = [], []
        for _ in range(rounds):
            cover_t += timed(covered, 1)
            score_t += timed(scored, 1)
        db.dispose()
    c, b = median(cover_t), median(score_t)
    print(
        f"{engine:10} coverage of {len(refs)} systems x 3 frameworks {c:6.2f} s   scorecards "
        f"alone {b:6.2f} s   ratio {c / b:.2f}   (medians of {rounds}; target < 2 s: "
        f"{'met' if c < 2 else 'NOT met'})"
    )
    return c


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--systems", type=int, default=None, help="default: the whole register")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print("frameworks: spreadsheet import vs service creates; coverage of every system")
    for engine in ENGINES:
        import_run(engine, args.rows, args.rounds)
        coverage_run(engine, args.systems, args.rounds)


if __name__ == "__main__":
    main()
