"""The map of each system's last event, which every signed checkpoint commits to.

Pure: no database. Every event naming a system (a ``system_id``) carries
``system_prev``, the ``seq`` of the previous event naming that system (0 for its first),
so a system's events form a chain from its last event back to its registration. Just
before a checkpoint is signed the ledger appends a ``ledger.systems`` event whose
``root`` is the RFC 6962 Merkle root of a dense map of ``systems`` = M leaves: leaf
``i`` (0-based) is the RFC 8785 bytes of ``{"last_seq": s, "system_id": i + 1}``, with
``s`` the seq of the last event naming system ``i + 1`` before the map event (0: none)
and M the largest system id any event named so far. The checkpoint is signed at that
event, so a witnessed checkpoint fixes each system's last event, and a pack proves it
holds every event of a system by walking the chain down from there.

:class:`SystemsMap` is the one computation of the map: signing builds it from the
database (``ledger.store.systems_map``), exports prove leaves with it, verification
updates it event by event.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from registry.ledger.canonical import canonical_bytes
from registry.ledger.merkle import inclusion_proof, leaf_hash, root_from_leaf_hashes

MAP_ACTION = "ledger.systems"
MAP_ACTOR = "system:ledger"
LINK = "system_prev"


def leaf_bytes(system_id: int, last_seq: int) -> bytes:
    """The bytes of the map's leaf of system ``system_id`` (index ``system_id - 1``)."""
    return canonical_bytes({"system_id": system_id, "last_seq": last_seq})


class SystemsMap:
    """Each system's last event: ``last[i]`` for system ``i + 1`` (0: none yet)."""

    def __init__(self, last_seqs: Iterable[int] = ()) -> None:
        # ``last`` may be assigned in place (verification's inner loop does): a leaf's
        # hash is recomputed when its value is not the one it was hashed for.
        self.last: list[int] = list(last_seqs)
        self._hashes: list[bytes] = [b""] * len(self.last)
        self._hashed: list[int] = [-1] * len(self.last)

    @property
    def size(self) -> int:
        return len(self.last)

    def copy(self) -> SystemsMap:
        other = SystemsMap()
        other.last = list(self.last)
        other._hashes = list(self._hashes)
        other._hashed = list(self._hashed)
        return other

    def note(self, system_id: int, seq: int) -> None:
        """Event ``seq`` names system ``system_id``: it is now that system's last."""
        if system_id > len(self.last):
            grow = system_id - len(self.last)
            self.last.extend([0] * grow)
            self._hashes.extend([b""] * grow)
            self._hashed.extend([-1] * grow)
        self.last[system_id - 1] = seq

    def last_of(self, system_id: int) -> int:
        return self.last[system_id - 1] if 0 < system_id <= len(self.last) else 0

    def leaf_hashes(self) -> list[bytes]:
        hashes, hashed = self._hashes, self._hashed
        for i, seq in enumerate(self.last):
            if hashed[i] != seq:
                hashes[i] = leaf_hash(leaf_bytes(i + 1, seq))
                hashed[i] = seq
        return hashes

    def root(self) -> bytes:
        return root_from_leaf_hashes(self.leaf_hashes())

    def proof(self, system_id: int) -> list[bytes]:
        """The inclusion proof of system ``system_id``'s leaf in the map."""
        return inclusion_proof(self.leaf_hashes(), system_id - 1)

    def event_fields(self) -> dict[str, Any]:
        """The fields of the ``ledger.systems`` event committing to this map."""
        return {
            "action": MAP_ACTION,
            "actor": MAP_ACTOR,
            "systems": self.size,
            "root": self.root().hex(),
        }
