"""Verifying a million-event ledger, and proving one event's inclusion in it.

One database per engine is filled with 1,000,000 chained events and a signed
checkpoint over all of them (its block roots cached as in service). Then, in the same
run:
- the baseline: read every stored event and SHA-256 it (``hashlib``, nothing else);
- ``verify_ledger``: the full verification (hashes, chain, leaves, versions, the
  columns queries read — each event's ``recorded_at`` and ``system_id`` — against the
  event bytes, the checkpoint's signature and Merkle root recomputed from all the
  leaves);
- inclusion proofs of random events against the checkpoint, each in a fresh session.
Targets: verification throughput >= 0.5 x the baseline's; 1,000,000 events verified in
under 5 s; an inclusion proof in under 50 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time

import sqlalchemy as sa
from _common import ENGINES, fill_ledger, fresh_database, median, percentile, timed
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.db import Database
from registry.ledger.checkpoints import make_checkpoint
from registry.ledger.keys import Signer
from registry.ledger.merkle import leaf_hash, verify_inclusion
from registry.ledger.models import AuditEvent
from registry.ledger.proofs import inclusion_proof
from registry.ledger.store import verify_ledger


def plain_hash_all(db: Database, batch: int = 10_000) -> int:
    """The baseline: read every event's stored bytes (same keyset paging) and hash them."""
    count, after = 0, 0
    sha256 = hashlib.sha256
    with db.sessionmaker() as s:
        while True:
            rows = s.execute(
                sa.select(AuditEvent.seq, AuditEvent.event)
                .where(AuditEvent.seq > after)
                .order_by(AuditEvent.seq)
                .limit(batch)
            ).all()
            if not rows:
                return count
            for row in rows:
                sha256(row.event).digest()
            count += len(rows)
            after = rows[-1].seq


def run(engine: str, size: int, repeat: int, proofs: int) -> None:
    signer = Signer("bench.example/ledger", Ed25519PrivateKey.generate())
    with fresh_database(engine) as url:
        db = Database(url)
        seconds = fill_ledger(db, size)
        with db.sessionmaker() as s:
            started = time.perf_counter()
            checkpoint = make_checkpoint(s, signer)
            s.commit()
            signing = time.perf_counter() - started
        print(
            f"{engine:10} filled {size:,} events in {seconds:.1f} s; "
            f"checkpoint over all of them signed in {signing:.1f} s"
        )
        plain, full = [], []
        for _ in range(repeat):  # alternate, so both see the same machine state
            plain.extend(timed(lambda: plain_hash_all(db), 1))

            def verify() -> None:
                with db.sessionmaker() as s:
                    report = verify_ledger(s, [signer.verifier_key])
                    # The events and the map of the systems' last events it is signed at.
                    assert report.ok and report.events == size + 1 and report.checkpoints == 1, (
                        report.summary()
                    )

            full.extend(timed(verify, 1))
        p, v = median(plain), median(full)
        ratio = p / v
        print(
            f"{engine:10} read + sha256 only: {p:.2f} s ({size / p:,.0f} events/s); "
            f"full verification: {v:.2f} s ({size / v:,.0f} events/s); "
            f"throughput ratio {ratio:.2f} "
            f"(target >= 0.5 -> {'met' if ratio >= 0.5 else 'NOT met'}); "
            f"{size:,} events in {v:.2f} s (target < 5 s -> {'met' if v < 5 else 'NOT met'})"
        )

        rng = random.Random(7)
        times = []
        for _ in range(proofs):
            seq = rng.randint(1, size)
            started = time.perf_counter()
            with db.sessionmaker() as s:
                proof = inclusion_proof(s, seq, checkpoint.tree_size)
                event = s.get(AuditEvent, seq).event
            times.append(time.perf_counter() - started)
            assert verify_inclusion(
                leaf_hash(event),
                seq - 1,
                checkpoint.tree_size,
                proof,
                bytes.fromhex(checkpoint.root_hash),
            )
        db.dispose()
    m = median(times)
    print(
        f"{engine:10} inclusion proof in a {size:,}-event ledger: median {m * 1e3:.1f} ms, "
        f"p90 {percentile(times, 90) * 1e3:.1f} ms, max {max(times) * 1e3:.1f} ms "
        f"({proofs} random events; target < 50 ms -> {'met' if max(times) < 0.05 else 'NOT met'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--proofs", type=int, default=50)
    args = parser.parse_args()
    print("ledger_verify: full verification vs read + sha256, and inclusion proofs")
    for engine in ENGINES:
        run(engine, args.size, args.repeat, args.proofs)


if __name__ == "__main__":
    main()
