"""Append cost stays flat as the ledger grows: 10,000 events vs 1,000,000 events.

Two databases on the same engine are filled in bulk with properly chained events (sealed
with ``ledger.chain.seal_event``, inserted by executemany in batches), one to 10,000
events and one to 1,000,000. Then single appends are timed the way a request makes
them: a new session, ``ledger.append.append_event`` (lock, read the head, seal, insert),
one commit. Rounds alternate between the two databases so that both sizes see the same
machine state; the figures are medians and 90th percentiles over all appends of a size.
Target: median at 1,000,000 events <= 1.2 x median at 10,000 events.
"""

from __future__ import annotations

import argparse
import time

from _common import ENGINES, fill_ledger, fresh_database, median, percentile, timed

from registry.db import Database
from registry.ledger.append import append_event
from registry.ledger.store import ledger_head, verify_ledger

SYSTEMS = 1_000  # appends are spread over this many system ids, as in a real register
TARGET = 1.2


def appender(db: Database):
    """One append in its own committed transaction, like a request."""
    counter = iter(range(1, 10**9))

    def append() -> None:
        n = next(counter)
        with db.sessionmaker() as s:
            append_event(
                s,
                {"action": "bench.append", "actor": "system:bench", "n": n},
                system_id=1 + n % SYSTEMS,
            )
            s.commit()

    return append


def run(engine: str, small: int, large: int, rounds: int, per_round: int) -> float:
    started = time.perf_counter()
    with fresh_database(engine) as small_url, fresh_database(engine) as large_url:
        dbs = {small: Database(small_url), large: Database(large_url)}
        for size, db in dbs.items():
            seconds = fill_ledger(db, size)
            print(f"{engine:10} filled {size:>9,} events in {seconds:6.1f} s")
        appends = {size: appender(db) for size, db in dbs.items()}
        samples: dict[int, list[float]] = {small: [], large: []}
        for append in appends.values():
            timed(append, 20)  # warm the connection pool, caches and compiled statements
        for r in range(rounds):
            # Alternate which size goes first, so neither always follows the other.
            order = (small, large) if r % 2 == 0 else (large, small)
            for size in order:
                samples[size].extend(timed(appends[size], per_round))
        for size, db in dbs.items():
            with db.sessionmaker() as s:
                head = ledger_head(s).seq
                # The whole 1,000,000-event chain takes a while to verify; the small one
                # checks that the filler and the appends form one valid chain.
                if size == small:
                    report = verify_ledger(s)
                    assert report.ok, report
            db.dispose()
            print(
                f"{engine:10} {size:>9,} events: append median "
                f"{median(samples[size]) * 1e3:6.3f} ms  "
                f"p90 {percentile(samples[size], 90) * 1e3:6.3f} ms  "
                f"({len(samples[size])} appends; ledger ends at {head:,} events)"
            )
    ratio = median(samples[large]) / median(samples[small])
    print(
        f"{engine:10} append at {large:,} vs {small:,} events: {ratio:.2f}x  "
        f"(target <= {TARGET}x -> {'met' if ratio <= TARGET else 'NOT met'})  "
        f"[{time.perf_counter() - started:.0f} s]"
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=50)
    args = parser.parse_args()
    started = time.perf_counter()
    print("ledger_append: one append per committed transaction, as the ledger grows")
    for engine in ENGINES:
        run(engine, args.small, args.large, args.rounds, args.per_round)
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
