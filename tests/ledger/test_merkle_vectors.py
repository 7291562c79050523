"""The Merkle tree code against the public transparency-dev test vectors
(tests/ledger/vectors/README.md says where they come from and under which licence).

Every vector is a verification case: ``verify_consistency`` must accept exactly those
not marked ``wantErr``. Every accepted proof between two trees of the vectors' leaves
must also be exactly the proof ``consistency_proof`` generates, from a list of leaf
hashes and from the stored ledger's subtree roots alike (``consistency_proof_from``).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from registry.evidence import verifier
from registry.ledger.merkle import (
    HASH_SIZE,
    consistency_proof,
    consistency_proof_from,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
)

VECTORS = Path(__file__).parent / "vectors"
LEAVES = json.loads((VECTORS / "leaves.json").read_text())
LEAF_HASHES = [leaf_hash(bytes.fromhex(h)) for h in LEAVES["leaf_inputs_hex"]]
CASES = sorted((VECTORS / "consistency").rglob("*.json"))


def _load(path: Path) -> dict:
    case = json.loads(path.read_text())
    return {
        "size1": case["size1"],
        "size2": case["size2"],
        "root1": base64.b64decode(case["root1"]),
        "root2": base64.b64decode(case["root2"]),
        "proof": [base64.b64decode(p) for p in case["proof"] or []],
        "valid": not case["wantErr"],
    }


def test_the_vectors_are_there():
    assert len(CASES) == 98


def test_roots_of_the_reference_tree():
    for size, root in enumerate(LEAVES["root_hashes_hex"]):
        assert root_from_leaf_hashes(LEAF_HASHES[:size]).hex() == root


@pytest.mark.parametrize("path", CASES, ids=lambda p: str(p.relative_to(VECTORS)))
def test_verification_agrees_with_the_vector(path):
    case = _load(path)
    ok = verify_consistency(
        case["size1"], case["size2"], case["root1"], case["root2"], case["proof"]
    )
    if len(case["root1"]) != HASH_SIZE or len(case["root2"]) != HASH_SIZE:
        # Stricter than the vectors: a root is a SHA-256 hash, so "roots" of other
        # lengths (the vectors' "don't care" placeholders) are never accepted.
        assert not ok
    else:
        assert ok is case["valid"], case


@pytest.mark.parametrize(
    "path",
    [p for p in CASES if _load(p)["valid"] and len(_load(p)["root1"]) == HASH_SIZE],
    ids=lambda p: str(p.relative_to(VECTORS)),
)
def test_generated_proof_is_the_vectors(path):
    case = _load(path)
    size1, size2 = case["size1"], case["size2"]
    leaves = LEAF_HASHES[:size2]
    assert root_from_leaf_hashes(leaves[:size1]) == case["root1"]
    assert root_from_leaf_hashes(leaves) == case["root2"]
    assert consistency_proof(leaves, size1) == case["proof"]
    assert (
        consistency_proof_from(size1, size2, lambda s, e: root_from_leaf_hashes(leaves[s:e]))
        == case["proof"]
    )


def test_every_pair_of_sizes_round_trips():
    """Beyond the vectors' pairs: every proof generated between two trees of the
    reference leaves verifies, and fails with either root changed."""
    for size2 in range(1, len(LEAF_HASHES) + 1):
        root2 = root_from_leaf_hashes(LEAF_HASHES[:size2])
        for size1 in range(1, size2 + 1):
            root1 = root_from_leaf_hashes(LEAF_HASHES[:size1])
            proof = consistency_proof(LEAF_HASHES[:size2], size1)
            assert verify_consistency(size1, size2, root1, root2, proof)
            assert not verify_consistency(
                size1, size2, root2 if size1 != size2 else b"\0" * 32, root2, proof
            )


@pytest.mark.parametrize("path", CASES, ids=lambda p: str(p.relative_to(VECTORS)))
def test_the_offline_verifier_agrees_with_the_vector(path):
    """verify_pack.py's own consistency check (it never imports the registry): the
    vectors' verdicts, for trees of at least one leaf and hash-sized roots (a signed
    checkpoint has both)."""
    case = _load(path)
    ok = verifier.consistent(
        case["size1"], case["size2"], case["root1"], case["root2"], case["proof"]
    )
    valid = case["valid"] and case["size1"] > 0
    if len(case["root1"]) != HASH_SIZE or len(case["root2"]) != HASH_SIZE:
        valid = False
    assert ok is valid, case


def test_the_offline_verifier_proves_every_pair_of_sizes():
    for size2 in range(1, len(LEAF_HASHES) + 1):
        root2 = root_from_leaf_hashes(LEAF_HASHES[:size2])
        for size1 in range(1, size2 + 1):
            root1 = root_from_leaf_hashes(LEAF_HASHES[:size1])
            proof = consistency_proof(LEAF_HASHES[:size2], size1)
            assert verifier.consistent(size1, size2, root1, root2, proof)
            assert not verifier.consistent(size1, size2, root2, root1, proof) or root1 == root2
