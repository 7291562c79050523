"""The pure verifier, on plain tuples and no database: what an offline check runs."""

from __future__ import annotations

import datetime as dt
import hashlib
from types import SimpleNamespace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.ledger.chain import GENESIS_HASH, seal_event
from registry.ledger.checkpoints import sign_body
from registry.ledger.keys import Signer
from registry.ledger.merkle import root_from_leaf_hashes
from registry.ledger.note import Checkpoint, format_body
from registry.ledger.verify import verify_ledger_rows

SIGNER = Signer("offline.example/log", Ed25519PrivateKey.generate())


def _ledger(n: int):
    events, versions, prev = [], [], GENESIS_HASH
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    for seq in range(1, n + 1):
        body = b'{"n":%d}' % seq
        body_hash = hashlib.sha256(body).hexdigest()
        at = start + dt.timedelta(seconds=seq)
        sealed = seal_event(
            seq,
            prev,
            {
                "action": "entry.update",
                "entry_id": seq,
                "version": 1,
                "body_sha256": body_hash,
                "time": at.isoformat(timespec="microseconds"),
            },
        )
        events.append(
            (seq, sealed.event, sealed.prev_hash, sealed.event_hash, sealed.leaf_hash, at, None)
        )
        versions.append((seq, seq, 1, body.decode(), body_hash, seq))
        prev = sealed.event_hash
    return events, versions


def _checkpoint(events, size):
    root = root_from_leaf_hashes([bytes.fromhex(e[4]) for e in events[:size]])
    note = sign_body(format_body(Checkpoint(SIGNER.name, size, root)), [SIGNER])
    return SimpleNamespace(
        tree_size=size, root_hash=root.hex(), chain_head=events[size - 1][3], note=note
    )


def test_intact_ledger_of_tuples():
    events, versions = _ledger(40)
    report = verify_ledger_rows(
        events,
        versions,
        [_checkpoint(events, 16), _checkpoint(events, 33)],
        trusted_keys=[SIGNER.verifier_key],
        origin=SIGNER.name,
    )
    assert report.ok, report.summary()
    assert (report.events, report.versions, report.checkpoints, report.uncovered) == (40, 40, 2, 7)


def test_tampered_tuple_and_wrong_origin():
    events, versions = _ledger(20)
    checkpoints = [_checkpoint(events, 20)]
    seq, event, *rest = events[9]
    events[9] = (seq, event.replace(b"entry.update", b"entry.retire"), *rest)
    report = verify_ledger_rows(events, versions, checkpoints, trusted_keys=[SIGNER.verifier_key])
    assert not report.ok and report.problem_seq == 10 and report.events == 9
    events, versions = _ledger(20)
    report = verify_ledger_rows(
        events,
        versions,
        [_checkpoint(events, 20)],
        trusted_keys=[SIGNER.verifier_key],
        origin="another.example/log",
    )
    assert not report.ok and "not validly signed" in report.problem
