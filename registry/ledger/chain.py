"""The hash chain over audit events: building events and verifying a sequence of them.

An event is a JSON object holding, among what happened, its own ``seq`` and the
``prev_hash`` of the event before it. It is stored as its canonical bytes;
``event_hash = SHA-256(bytes)``. Verification (``ledger.verify``) never re-serialises:
it hashes the bytes as stored and finds ``seq`` and ``prev_hash`` in them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class EventTemplate:
    """The canonical bytes of an event whose ``seq``, ``prev_hash`` and times are not
    known yet: ``parts`` with a gap between each two, ``slots[i]`` naming what fills
    the gap after ``parts[i]``: ``"seq"`` (its decimal digits), ``"prev_hash"`` or
    ``"time"`` (the event time as ``isoformat(timespec="microseconds")`` of a UTC
    instant; the quotes around it are in the parts). Migration 0007's function fills
    it under the ledger lock; :meth:`fill` does the same in Python."""

    parts: tuple[bytes, ...]
    slots: tuple[str, ...]

    def fill(self, seq: int, prev_hash: str, time: str) -> bytes:
        fillers = {"seq": str(seq), "prev_hash": prev_hash, "time": time}
        out = [self.parts[0]]
        for slot, part in zip(self.slots, self.parts[1:], strict=True):
            out += [fillers[slot].encode("ascii"), part]
        return b"".join(out)


def event_template(fields: dict[str, Any], time_fields: tuple[str, ...]) -> EventTemplate | None:
    """The template of ``seal_event(seq, prev_hash, fields)`` where each field named in
    ``time_fields`` is the event time (those fields' values in ``fields`` are ignored).

    The unknown values are serialised as unique marks, which are then cut out, so the
    parts are exactly the bytes :func:`seal_event` makes around them. None (seal the
    event when its values are known instead) if a mark could not be found exactly once.
    """
    if "seq" in fields or "prev_hash" in fields or "v" in fields:
        raise ValueError("seq, prev_hash and v are set by the ledger")
    token = secrets.token_hex(12)
    marks = {name: f"@slot-{token}-{name}@" for name in ("seq", "prev_hash", *time_fields)}
    body = {
        "v": EVENT_FORMAT,
        **fields,
        **{name: mark for name, mark in marks.items()},
    }
    data = canonical_bytes(body)
    # seq is a number: its mark's quotes go; the others are text: their quotes stay.
    needles = {
        name: (f'"{mark}"' if name == "seq" else mark).encode() for name, mark in marks.items()
    }
    found = []
    for name, needle in needles.items():
        if data.count(needle) != 1:
            return None
        found.append((data.index(needle), needle, "time" if name in time_fields else name))
    found.sort()
    parts, slots, at = [], [], 0
    for position, needle, slot in found:
        parts.append(data[at:position])
        slots.append(slot)
        at = position + len(needle)
    parts.append(data[at:])
    return EventTemplate(tuple(parts), tuple(slots))
