"""What syncing every SQLite commit to disk costs: versioned updates per second with
``synchronous=FULL`` (what the registry runs) vs ``NORMAL`` (what it ran before).

Two fresh SQLite registries in the same run, written the way a request writes (a new
session, one versioned update through the records service, one commit); rounds
alternate between them and the figures are medians over rounds. NORMAL is set here
only, by a connect listener that runs after the registry's own. The cost depends on
the disk's sync latency far more than on the CPU.
"""

from __future__ import annotations

import argparse
from typing import Any

from _common import fresh_database, median, timed
from records_write import bodies
from sqlalchemy import event

from registry.accounts.actor import Actor
from registry.db import Database
from registry.records import reads, writes


def _writer(db: Database, source: list[dict]) -> Any:
    actor = Actor.system("bench")
    with db.sessionmaker() as s:
        entries = []
        for body in source:
            system, _ = writes.create_system(s, actor, body)
            entries.append(reads.profile_entry(s, system).id)
        s.commit()
    heads = dict.fromkeys(entries, 1)

    def one_round() -> None:
        for entry_id, body in zip(entries, source, strict=True):
            with db.sessionmaker() as s:
                changed = {**body, "purpose": body.get("purpose", "") + " (herzien)"}
                writes.update_entry(s, actor, entry_id, changed, base_version=heads[entry_id])
                s.commit()
            heads[entry_id] += 1

    return one_round


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=200)
    args = parser.parse_args()
    source = bodies(args.per_round)
    with fresh_database("sqlite") as full_url, fresh_database("sqlite") as normal_url:
        full, normal = Database(full_url), Database(normal_url)

        @event.listens_for(normal.engine, "connect")
        def _normal(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA synchronous=NORMAL")

        with full.engine.connect() as c1, normal.engine.connect() as c2:
            modes = (
                c1.exec_driver_sql("PRAGMA synchronous").scalar(),
                c2.exec_driver_sql("PRAGMA synchronous").scalar(),
            )
        assert modes == (2, 1), modes  # FULL, NORMAL
        rounds = {"FULL": _writer(full, source), "NORMAL": _writer(normal, source)}
        rates: dict[str, list[float]] = {"FULL": [], "NORMAL": []}
        for _ in range(args.rounds):
            for mode, one_round in rounds.items():
                rates[mode].append(args.per_round / timed(one_round, 1)[0])
        full.dispose()
        normal.dispose()
    f, n = median(rates["FULL"]), median(rates["NORMAL"])
    print("sqlite_sync: versioned updates per second, synchronous=FULL vs NORMAL (SQLite)")
    print(
        f"  FULL {f:8.0f}/s   NORMAL {n:8.0f}/s   FULL costs {100 * (1 - f / n):.0f}% "
        f"(medians of {args.rounds} rounds x {args.per_round} writes)"
    )


if __name__ == "__main__":
    main()
