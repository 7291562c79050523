"""The hash chain over audit events: building events and verifying a sequence of them.

An event is a JSON object holding, among what happened, its own ``seq`` and the
``prev_hash`` of the event before it. It is stored as its canonical bytes;
``event_hash = SHA-256(bytes)``. Verification (``ledger.verify``) never re-serialises:
it hashes the bytes as stored and finds ``seq`` and ``prev_hash`` in them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from registry.ledger.canonical import canonical_bytes, sha256_hex
from registry.ledger.merkle import leaf_hash

GENESIS_HASH = "0" * 64
# 2: an event naming a system carries ``system_prev`` (see ledger.systems_map); events
# of format 1 (older ledgers) stay valid and carry no link.
EVENT_FORMAT = 2


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
    return SealedEvent(seq, data, prev_hash, sha256_hex(data), leaf_hash(data).hex())
