"""Inclusion and consistency proofs from the stored ledger verify against checkpoints."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from registry.ledger.append import append_event
from registry.ledger.checkpoints import make_checkpoint
from registry.ledger.keys import Signer
from registry.ledger.merkle import (
    MerkleAccumulator,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from registry.ledger.models import AuditEvent, MerkleBlock
from registry.ledger.proofs import (
    BLOCK,
    consistency_proof,
    extend_to,
    inclusion_proof,
    subtree_root,
)
from tests.conftest import append_only_lifted


@pytest.fixture
def ledger(session):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    signer = Signer("test.example/log", Ed25519PrivateKey.generate())
    checkpoints = []
    for n in range(1, 2 * BLOCK + 77):
        append_event(session, {"action": "test", "n": n})
        if n in (BLOCK - 1, BLOCK + 5, 2 * BLOCK + 76):
            checkpoints.append(make_checkpoint(session, signer))
    session.commit()
    return session, checkpoints


def test_blocks_are_stored_for_complete_blocks_only(ledger):
    session, _ = ledger
    assert session.scalars(sa.select(MerkleBlock.block).order_by(MerkleBlock.block)).all() == [0, 1]


def test_every_inclusion_proof_verifies(ledger):
    session, checkpoints = ledger
    for cp in checkpoints:
        root = bytes.fromhex(cp.root_hash)
        for seq in sorted({1, 2, BLOCK - 1, BLOCK, BLOCK + 1, cp.tree_size // 2, cp.tree_size}):
            if seq > cp.tree_size:
                continue
            event = session.get(AuditEvent, seq).event
            proof = inclusion_proof(session, seq, cp.tree_size)
            assert verify_inclusion(leaf_hash(event), seq - 1, cp.tree_size, proof, root)
            assert not verify_inclusion(leaf_hash(event + b" "), seq - 1, cp.tree_size, proof, root)


def test_consistency_proofs_between_checkpoints(ledger):
    session, checkpoints = ledger
    for old, new in zip(checkpoints, checkpoints[1:], strict=False):
        proof = consistency_proof(session, old.tree_size, new.tree_size)
        assert verify_consistency(
            old.tree_size,
            new.tree_size,
            bytes.fromhex(old.root_hash),
            bytes.fromhex(new.root_hash),
            proof,
        )


def test_cached_blocks_give_the_same_roots_as_the_leaves(ledger, engine_name):
    session, checkpoints = ledger
    size = checkpoints[-1].tree_size
    with_blocks = [subtree_root(session, 0, size), subtree_root(session, BLOCK, 2 * BLOCK)]
    with append_only_lifted(session, "merkle_block"):
        session.execute(sa.delete(MerkleBlock))
    assert [subtree_root(session, 0, size), subtree_root(session, BLOCK, 2 * BLOCK)] == with_blocks
    assert with_blocks[0].hex() == checkpoints[-1].root_hash


def test_proof_cli(app, ledger):
    session, checkpoints = ledger
    result = app.test_cli_runner().invoke(args=["ledger", "proof", "300"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.output)
    assert answer["leaf_index"] == 299 and answer["tree_size"] == checkpoints[-1].tree_size
    assert verify_inclusion(
        bytes.fromhex(answer["leaf_hash"]),
        299,
        answer["tree_size"],
        [bytes.fromhex(h) for h in answer["proof"]],
        bytes.fromhex(answer["root_hash"]),
    )
    result = app.test_cli_runner().invoke(args=["ledger", "proof", "99999"])
    assert result.exit_code != 0 and "No event 99999" in result.output


def _all_leaves(session, size):
    events = session.scalars(sa.select(AuditEvent.event).order_by(AuditEvent.seq).limit(size))
    return [leaf_hash(bytes(e)) for e in events]


def test_a_checkpoint_over_a_long_tail(session):
    """From a checkpoint in the middle of a block, over several whole blocks and a
    partial one: the right root, every whole block stored, and the next checkpoint
    goes on from its frontier."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    signer = Signer("test.example/log", Ed25519PrivateKey.generate())
    for n in range(1, 5 * BLOCK + 41):
        append_event(session, {"action": "test", "n": n})
        if n == BLOCK // 2 + 3:
            make_checkpoint(session, signer)
    tail = make_checkpoint(session, signer)
    for n in range(7):
        append_event(session, {"action": "test", "n": n})
    after = make_checkpoint(session, signer)
    session.commit()
    # Each checkpoint is signed at the map event it appends.
    assert (tail.tree_size, after.tree_size) == (5 * BLOCK + 42, 5 * BLOCK + 50)
    assert tail.root_hash == root_from_leaf_hashes(_all_leaves(session, 5 * BLOCK + 42)).hex()
    assert after.root_hash == root_from_leaf_hashes(_all_leaves(session, 5 * BLOCK + 50)).hex()
    blocks = session.scalars(sa.select(MerkleBlock.block).order_by(MerkleBlock.block)).all()
    assert blocks == [0, 1, 2, 3, 4]


def test_extending_takes_whole_blocks_from_their_stored_roots(ledger):
    """``extend_to`` takes a stored block root as it is (a wrong one gives a wrong root:
    only verification, which recomputes everything, could tell), and the leaves of a
    block that has none."""
    session, _ = ledger
    size = 2 * BLOCK + 76
    expected = root_from_leaf_hashes(_all_leaves(session, size))
    mid_block = MerkleAccumulator(_all_leaves(session, 10))
    extend_to(session, mid_block, size)
    assert mid_block.root() == expected

    def root_from_start() -> bytes:
        accumulator = MerkleAccumulator()
        extend_to(session, accumulator, size)
        return accumulator.root()

    assert root_from_start() == expected
    with append_only_lifted(session, "merkle_block"):
        session.execute(sa.delete(MerkleBlock).where(MerkleBlock.block == 1))
    assert root_from_start() == expected  # block 1 from its leaves
    with append_only_lifted(session, "merkle_block"):
        session.execute(sa.update(MerkleBlock).values(root_hash="00" * 32))
    assert root_from_start() != expected  # block 0 from its (now wrong) stored root
