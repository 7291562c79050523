"""Inclusion and consistency proofs over the stored ledger.

Leaf ``i`` of the tree is event ``seq = i + 1``. The root of any subtree is computed
from the cached roots of aligned 256-event blocks (``merkle_block``) and the few
leaf hashes at its edges, so a proof in a ledger of a million events reads a few
thousand hashes at most instead of every leaf.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.ledger.merkle import (
    MerkleAccumulator,
    consistency_proof_from,
    inclusion_proof_from,
    root_from_leaf_hashes,
)
from registry.ledger.models import AuditEvent, MerkleBlock

BLOCK_HEIGHT = 8
BLOCK = 1 << BLOCK_HEIGHT


def leaf_hashes(session: Session, start: int, end: int) -> list[bytes]:
    """Leaf hashes of leaves ``start … end-1`` (events ``start+1 … end``)."""
    rows = session.execute(
        sa.select(AuditEvent.leaf_hash)
        .where(AuditEvent.seq > start, AuditEvent.seq <= end)
        .order_by(AuditEvent.seq)
    ).scalars()
    hashes = [bytes.fromhex(h) for h in rows]
    if len(hashes) != end - start:
        raise ValueError(f"the ledger has no leaves {start}…{end - 1}")
    return hashes


def subtree_root(session: Session, start: int, end: int) -> bytes:
    """The Merkle tree hash of leaves ``start … end-1``."""
    if end - start < BLOCK or start % BLOCK:
        return root_from_leaf_hashes(leaf_hashes(session, start, end))
    first, last = start // BLOCK, end // BLOCK  # full blocks first … last-1
    blocks = dict(
        session.execute(
            sa.select(MerkleBlock.block, MerkleBlock.root_hash).where(
                MerkleBlock.block >= first, MerkleBlock.block < last
            )
        ).all()
    )
    accumulator = MerkleAccumulator()
    for block in range(first, last):
        if block in blocks:
            accumulator.append_subtree(bytes.fromhex(blocks[block]), BLOCK_HEIGHT)
        else:
            accumulator.extend(leaf_hashes(session, block * BLOCK, (block + 1) * BLOCK))
    accumulator.extend(leaf_hashes(session, last * BLOCK, end))
    return accumulator.root()


def inclusion_proof(session: Session, seq: int, tree_size: int) -> list[bytes]:
    """The audit path of event ``seq`` in the tree of the first ``tree_size`` events."""
    return inclusion_proof_from(seq - 1, tree_size, lambda s, e: subtree_root(session, s, e))


def consistency_proof(session: Session, old_size: int, new_size: int) -> list[bytes]:
    """The proof that the tree of ``old_size`` events is a prefix of ``new_size``'s."""
    return consistency_proof_from(old_size, new_size, lambda s, e: subtree_root(session, s, e))


def extend_to(session: Session, accumulator: MerkleAccumulator, size: int) -> None:
    """Extend ``accumulator`` to the first ``size`` leaves, taking each whole block it
    crosses from its stored root (see :func:`fill_blocks`) where there is one, and the
    leaves otherwise: the leaves of a long tail are read and hashed once, by
    ``fill_blocks``, not a second time here."""
    first = -(-accumulator.size // BLOCK)  # the first block starting at or after it
    last = size // BLOCK  # whole blocks first … last-1
    if first >= last:
        accumulator.extend(leaf_hashes(session, accumulator.size, size))
        return
    accumulator.extend(leaf_hashes(session, accumulator.size, first * BLOCK))
    stored = dict(
        session.execute(
            sa.select(MerkleBlock.block, MerkleBlock.root_hash).where(
                MerkleBlock.block >= first, MerkleBlock.block < last
            )
        ).all()
    )
    for block in range(first, last):
        if block in stored:
            accumulator.append_subtree(bytes.fromhex(stored[block]), BLOCK_HEIGHT)
        else:
            accumulator.extend(leaf_hashes(session, block * BLOCK, (block + 1) * BLOCK))
    accumulator.extend(leaf_hashes(session, last * BLOCK, size))


def _blocks_to_fill(session: Session, size: int) -> Iterator[int]:
    done = session.scalar(sa.select(sa.func.max(MerkleBlock.block)))
    yield from range(0 if done is None else done + 1, size // BLOCK)


def fill_blocks(session: Session, size: int, batch_blocks: int = 64) -> int:
    """Store the roots of every complete block of the first ``size`` events not yet
    stored; returns how many were added."""
    pending = list(_blocks_to_fill(session, size))
    for i in range(0, len(pending), batch_blocks):
        chunk = pending[i : i + batch_blocks]
        leaves = leaf_hashes(session, chunk[0] * BLOCK, (chunk[-1] + 1) * BLOCK)
        session.execute(
            sa.insert(MerkleBlock),
            [
                {
                    "block": block,
                    "root_hash": root_from_leaf_hashes(
                        leaves[(block - chunk[0]) * BLOCK : (block - chunk[0] + 1) * BLOCK]
                    ).hex(),
                }
                for block in chunk
            ],
        )
    return len(pending)
