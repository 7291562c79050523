"""What keeping the search index costs a write of a profile (the kind whose writes remake
a system's row, with owner entries): profile updates through the records service, each
in its own session and commit as a request's, with the index kept (what every such
write does: its row made again once it has committed, ``records.reindexer``) and with
its refresh left out (the baseline), on the same database in the
same run. Rounds alternate between the sides; the figures are medians over rounds of
wall time and CPU time per write, and the ratio kept / left out.

    python search_index_write.py --rounds 7 --per-round 40
"""

from __future__ import annotations

import argparse
import time

import sqlalchemy as sa
from _common import ENGINES, fresh_database, median

from registry.accounts.actor import Actor
from registry.db import Database
from registry.records import reads, writes
from registry.records.reindexer import Reindexer


def _profile(n: int, round_: int) -> dict:
    return {
        "reference": f"sys-{n:04d}",
        "name": f"Route planner {n}",
        "purpose": f"Plans inspection routes, revision {round_}.",
        "organisation": "Gemeente Utrecht",
        "stage": "pilot",
        "risk_tier": "limited",
    }


def run(engine: str, rounds: int, per_round: int) -> tuple[float, float, float, float]:
    actor = Actor.system("bench")
    with fresh_database(engine) as url:
        db = Database(url)
        # As the app wires it (extensions.init_app): the row made again once a write
        # has committed, in a transaction of its own.
        reindexer = Reindexer(db.sessionmaker)
        sa.event.listen(db.sessionmaker, "after_commit", reindexer.after_commit)
        sa.event.listen(db.sessionmaker, "after_rollback", reindexer.after_rollback)
        entries = []
        with db.sessionmaker() as s:
            for n in range(per_round):
                system, _ = writes.create_system(s, actor, _profile(n, 0))
                owner = {"name": f"Owner {n}", "email": f"owner{n}@example.org"}
                writes.create_entry(
                    s, actor, system, "owner", {"role": "business", "person": owner}
                )
                entries.append(reads.profile_entry(s, system).id)
            s.commit()
        heads = dict.fromkeys(entries, 1)
        kept = Reindexer._refresh

        def one_round(round_: int) -> tuple[float, float]:
            wall, cpu = time.perf_counter(), time.process_time()
            for n, entry_id in enumerate(entries):
                with db.sessionmaker() as s:
                    body = _profile(n, round_)
                    writes.update_entry(s, actor, entry_id, body, base_version=heads[entry_id])
                    s.commit()
                heads[entry_id] += 1
            return (
                (time.perf_counter() - wall) / len(entries),
                (time.process_time() - cpu) / len(entries),
            )

        with_index, without = [], []
        for r in range(1, 2 * rounds + 1):
            if r % 2:
                Reindexer._refresh = kept  # type: ignore[method-assign]
                with_index.append(one_round(r))
            else:
                Reindexer._refresh = lambda self, system_ids: None  # type: ignore[method-assign]
                without.append(one_round(r))
        Reindexer._refresh = kept  # type: ignore[method-assign]
        db.engine.dispose()
    return (
        median([w for w, _ in with_index]),
        median([c for _, c in with_index]),
        median([w for w, _ in without]),
        median([c for _, c in without]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=40)
    args = parser.parse_args()
    print(
        f"A profile update with the search index kept vs left out: medians of {args.rounds} "
        f"rounds of {args.per_round} writes each (ms per write)"
    )
    for engine in ENGINES:
        wall, cpu, base_wall, base_cpu = run(engine, args.rounds, args.per_round)
        print(
            f"  {engine:10} kept {wall * 1e3:6.2f} (CPU {cpu * 1e3:5.2f})  "
            f"left out {base_wall * 1e3:6.2f} (CPU {base_cpu * 1e3:5.2f})  "
            f"ratio {wall / base_wall:.2f}x wall, {cpu / base_cpu:.2f}x CPU"
        )


if __name__ == "__main__":
    main()
