"""The hash chain over audit events: building events and verifying a sequence of them.

An event is a JSON object holding, among what happened, its own ``seq`` and the
``prev_hash`` of the event before it. It is stored as its canonical bytes;
``event_hash = SHA-256(bytes)``. Verification never re-serialises: it hashes the bytes
as stored and reads ``seq`` and ``prev_hash`` back out of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from registry.ledger.canonical import canonical_bytes, leaf_hash_hex, sha256_hex

GENESIS_HASH = "0" * 64
EVENT_FORMAT = 1


@dataclass(frozen=True)
class SealedEvent:
    seq: int
    event: bytes
    prev_hash: str
    event_hash: str
    leaf_hash: str


def seal_event(seq: int, prev_hash: str, fields: dict[str, Any]) -> SealedEvent:
    """Build the canonical bytes of event ``seq`` chained to ``prev_hash``."""
    if "seq" in fields or "prev_hash" in fields or "v" in fields:
        raise ValueError("seq, prev_hash and v are set by the ledger")
    body = {"v": EVENT_FORMAT, "seq": seq, "prev_hash": prev_hash, **fields}
    data = canonical_bytes(body)
    return SealedEvent(seq, data, prev_hash, sha256_hex(data), leaf_hash_hex(data))


class StoredEvent(Protocol):
    seq: int
    event: bytes
    prev_hash: str
    event_hash: str
    leaf_hash: str


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"event {self.seq}: {self.problem}"


@dataclass(frozen=True)
class ChainReport:
    checked: int
    head: str
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_chain(
    events: Iterable[StoredEvent], start_seq: int = 1, start_prev: str = GENESIS_HASH
) -> ChainReport:
    """Check hashes, sequence and links of ``events`` (in ``seq`` order).

    Returns at the first problem, naming the sequence number where it was found.
    """
    expected_seq = start_seq
    prev = start_prev
    checked = 0
    for stored in events:
        data = bytes(stored.event)
        problem = None
        if stored.seq != expected_seq:
            problem = f"expected sequence number {expected_seq}, found {stored.seq}"
        elif sha256_hex(data) != stored.event_hash:
            problem = "stored bytes do not match the stored event hash"
        elif leaf_hash_hex(data) != stored.leaf_hash:
            problem = "stored leaf hash does not match the event bytes"
        elif stored.prev_hash != prev:
            problem = "previous-hash link does not match the event before it"
        else:
            try:
                parsed = json.loads(data)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                problem = "event bytes are not a JSON object"
            elif parsed.get("seq") != stored.seq:
                problem = "sequence number inside the event differs from the stored one"
            elif parsed.get("prev_hash") != prev:
                problem = "previous hash inside the event breaks the chain"
        if problem is not None:
            return ChainReport(checked, prev, ChainProblem(stored.seq, problem))
        prev = stored.event_hash
        expected_seq += 1
        checked += 1
    return ChainReport(checked, prev, None)
