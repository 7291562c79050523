"""The map of each system's last event, appended at every checkpoint: its cost at
signing with 1,000 and 10,000 systems.

A ledger of 5 events per system is bulk-filled (``_common.fill_ledger``: each event
names a system and links to its previous one). Then, under the ledger lock, a
checkpoint is signed: the first in the process reads every system's last event along
the (system_id, seq) index (cold); the following ones, after 1,000 more events, update
the map this process kept from the previous checkpoint with the events since (warm).
Reported: the median time of the map alone (read and hash) and of the whole signing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import ENGINES, fill_ledger, fresh_database, median

from registry.db import Database
from registry.ledger import checkpoints
from registry.ledger.keys import create_key
from registry.ledger.store import ledger_head, lock_ledger, systems_map


def run(engine: str, systems: int, repeat: int) -> None:
    with fresh_database(engine) as url, tempfile.TemporaryDirectory() as folder:
        signer = create_key(Path(folder) / "key", "bench.example/registry")
        db = Database(url)
        fill_ledger(db, 5 * systems, systems=systems, first_system=1)
        cold, warm, whole_cold, whole_warm = [], [], [], []
        for _ in range(repeat):
            checkpoints._MAPS.clear()  # noqa: SLF001 - the process cache, measured apart
            with db.sessionmaker() as s:
                head = lock_ledger(s)
                started = time.perf_counter()
                built = systems_map(s, head.seq + 1)
                built.root()
                cold.append(time.perf_counter() - started)
                assert built.size == systems
                started = time.perf_counter()
                checkpoints.make_checkpoint(s, signer, head=head)
                whole_cold.append(time.perf_counter() - started)
                s.commit()
            fill_ledger(db, ledger_head_seq(db) + 1000, systems=systems, first_system=1)
            with db.sessionmaker() as s:
                head = lock_ledger(s)
                started = time.perf_counter()
                checkpoints.make_checkpoint(s, signer, head=head)
                whole_warm.append(time.perf_counter() - started)
                s.commit()
            fill_ledger(db, ledger_head_seq(db) + 1000, systems=systems, first_system=1)
            with db.sessionmaker() as s:
                head = lock_ledger(s)
                last = checkpoints.last_checkpoint(s)
                cached = checkpoints._MAPS[s.get_bind()][2]  # noqa: SLF001
                started = time.perf_counter()
                updated = checkpoints.update_systems_map(
                    cached.copy(), s, last.tree_size, head.seq + 1
                )
                updated.root()
                warm.append(time.perf_counter() - started)
                s.rollback()
        db.dispose()
    print(
        f"{engine:10} {systems:>6,} systems: map cold {median(cold) * 1e3:.1f} ms "
        f"(signing {median(whole_cold) * 1e3:.1f} ms), warm after 1,000 events "
        f"{median(warm) * 1e3:.1f} ms (signing {median(whole_warm) * 1e3:.1f} ms); "
        f"median of {repeat}"
    )


def ledger_head_seq(db: Database) -> int:
    with db.read_sessionmaker() as s:
        return ledger_head(s).seq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--systems", type=int, nargs="*", default=[1_000, 10_000])
    args = parser.parse_args()
    for systems in args.systems:
        for engine in ENGINES:
            run(engine, systems, args.repeat)


if __name__ == "__main__":
    main()
