"""Versioned updates per second through the records service vs plain inserts.

Both sides write the same profile bodies (from the NL algorithm register) the way a
request would: a new SQLAlchemy session, one write, one commit, on the same database in
the same run. The plain side adds a row holding the canonical JSON to a bare table
through the ORM. The service side does what every real write does, given the entry's id
and the client's base version: load the entry and take the ledger lock, validate, check
the base version, append the audit event, insert the version, move the head. Rounds
alternate between the sides; the figures are medians over rounds. Target on PostgreSQL:
ratio (service / plain) >= 0.5.
"""

from __future__ import annotations

import argparse
import itertools

import sqlalchemy as sa
from _common import ENGINES, fresh_database, median, timed
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from registry.accounts.actor import Actor
from registry.config import load_config
from registry.db import Database
from registry.demo import nl_register
from registry.ledger.canonical import canonical_bytes
from registry.records import reads, writes


class PlainBase(DeclarativeBase):
    pass


class PlainRow(PlainBase):
    """The bare table of the baseline: an id and the body."""

    __tablename__ = "bench_plain"
    id: Mapped[int] = mapped_column(primary_key=True)
    body: Mapped[str] = mapped_column(sa.Text)


def bodies(n: int) -> list[dict]:
    corpus = load_config()["DEMO_CORPUS"]
    records = [c["record"] for c in itertools.islice(nl_register.read_changes(corpus), n)]
    return [nl_register.profile_from_record(r) for r in records]


def run(engine: str, rounds: int, per_round: int) -> float:
    source = bodies(per_round)
    actor = Actor.system("bench")
    with fresh_database(engine) as url:
        db = Database(url)
        PlainBase.metadata.create_all(db.engine)
        # One system per body, so each update replaces a real register profile.
        entries = []
        with db.sessionmaker() as s:
            for body in source:
                system, _ = writes.create_system(s, actor, body)
                entries.append(reads.profile_entry(s, system).id)
            s.commit()
        plain_bodies = [canonical_bytes(b).decode() for b in source]
        heads = dict.fromkeys(entries, 1)

        def plain_round() -> None:
            for body in plain_bodies:
                with db.sessionmaker() as s:
                    s.add(PlainRow(body=body))
                    s.commit()

        def service_round() -> None:
            for entry_id, body in zip(entries, source, strict=True):
                # As a REST handler would: the entry's id and the version the client based
                # its change on (If-Match); the service loads the entry under the lock.
                with db.sessionmaker() as s:
                    changed = {**body, "purpose": body.get("purpose", "") + " (herzien)"}
                    writes.update_entry(s, actor, entry_id, changed, base_version=heads[entry_id])
                    s.commit()
                heads[entry_id] += 1

        plain_rates, service_rates = [], []
        for _ in range(rounds):
            plain_rates.append(per_round / timed(plain_round, 1)[0])
            service_rates.append(per_round / timed(service_round, 1)[0])
        db.dispose()
    p, v = median(plain_rates), median(service_rates)
    ratio = v / p
    print(
        f"{engine:10} plain inserts {p:8.0f}/s   versioned updates {v:8.0f}/s   "
        f"ratio {ratio:.2f}   (medians of {rounds} rounds x {per_round} writes)"
    )
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=300)
    args = parser.parse_args()
    print("records_write: versioned updates through the service vs plain inserts")
    for engine in ENGINES:
        ratio = run(engine, args.rounds, args.per_round)
        if engine == "postgresql":
            print(
                f"  target on PostgreSQL: ratio >= 0.50 -> {'met' if ratio >= 0.5 else 'NOT met'}"
            )


if __name__ == "__main__":
    main()
