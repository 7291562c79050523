"""RFC 6962 / RFC 9162 Merkle tree: published vectors, a reference model, properties."""

from __future__ import annotations

import functools
import hashlib
import time

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from registry.ledger.merkle import (
    EMPTY_ROOT,
    MerkleAccumulator,
    consistency_proof,
    consistency_proof_from,
    inclusion_proof,
    inclusion_proof_from,
    leaf_hash,
    node_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)

# --- Published RFC 6962 test vectors ------------------------------------------------------
# From the Go reference implementation of RFC 6962 trees, github.com/transparency-dev/merkle
# (formerly in google/certificate-transparency-go merkletree): testonly/constants.go
# (LeafInputs, NodeHashes, RootHashes) and proof/verify_test.go (inclusionProofs,
# consistencyProofs). The Go vectors number leaves from 1; here indexes are 0-based.
# Only the values are taken, no code.

LEAF_INPUTS = [
    bytes.fromhex(""),
    bytes.fromhex("00"),
    bytes.fromhex("10"),
    bytes.fromhex("2021"),
    bytes.fromhex("3031"),
    bytes.fromhex("40414243"),
    bytes.fromhex("5051525354555657"),
    bytes.fromhex("606162636465666768696a6b6c6d6e6f"),
]

# NODE_HASHES[level][i]: root of the perfect subtree of 2**level leaves starting at i * 2**level.
NODE_HASHES = [
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    [
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ],
]

# ROOT_HASHES[n]: root of the tree of the first n leaves.
ROOT_HASHES = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

# (leaf index, tree size, audit path)
INCLUSION_VECTORS = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

# (old size, new size, consistency proof)
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

VECTOR_LEAVES = [leaf_hash(x) for x in LEAF_INPUTS]
VECTOR_ROOTS = [bytes.fromhex(h) for h in ROOT_HASHES]


def _unhex(proof: list[str]) -> list[bytes]:
    return [bytes.fromhex(h) for h in proof]


def _flip(proof: list[bytes], element: int, byte: int, bit: int = 0) -> list[bytes]:
    changed = bytearray(proof[element])
    changed[byte] ^= 1 << bit
    return [*proof[:element], bytes(changed), *proof[element + 1 :]]


# --- An independent reference model: RFC 6962 section 2.1, transcribed literally ----------


def _ref_node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes."""
    if len(d) == 0:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = _ref_k(len(d))
    return _ref_node(ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    if len(d) == 1:
        return []
    k = _ref_k(len(d))
    if m < k:
        return ref_path(m, d[:k]) + [ref_mth(d[k:])]
    return ref_path(m - k, d[k:]) + [ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = _ref_k(n)
    if m <= k:
        return ref_subproof(m, d[:k], b) + [ref_mth(d[k:])]
    return ref_subproof(m - k, d[k:], False) + [ref_mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    """PROOF(m, D[n]); empty for m == 0 and m == n."""
    if m == 0 or m == len(d):
        return []
    return ref_subproof(m, d, True)


# Distinct leaves for the property tests; ROOT(n) is the reference root of the first n.
MAX_SIZE = 300
LEAVES = [leaf_hash(b"event %d" % i) for i in range(MAX_SIZE + 1)]


@functools.cache
def ROOT(n: int) -> bytes:  # noqa: N802
    return ref_mth(LEAVES[:n])


PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def tree_and_index(draw: st.DrawFn, min_size: int = 1) -> tuple[int, int]:
    n = draw(st.integers(min_size, MAX_SIZE))
    return n, draw(st.integers(0, n - 1))


@st.composite
def old_and_new(draw: st.DrawFn) -> tuple[int, int]:
    n = draw(st.integers(1, MAX_SIZE))
    return draw(st.integers(0, n)), n


# --- Vectors -------------------------------------------------------------------------------


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert EMPTY_ROOT == bytes.fromhex(ROOT_HASHES[0])
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    assert MerkleAccumulator().root() == EMPTY_ROOT


def test_leaf_and_node_hash_vectors() -> None:
    assert [h.hex() for h in VECTOR_LEAVES] == NODE_HASHES[0]
    for level in range(1, 4):
        below = [bytes.fromhex(h) for h in NODE_HASHES[level - 1]]
        got = [node_hash(below[2 * i], below[2 * i + 1]).hex() for i in range(len(below) // 2)]
        assert got == NODE_HASHES[level]


@pytest.mark.parametrize("size", range(9))
def test_root_vectors(size: int) -> None:
    assert root_from_leaf_hashes(VECTOR_LEAVES[:size]).hex() == ROOT_HASHES[size]
    assert MerkleAccumulator(VECTOR_LEAVES[:size]).root().hex() == ROOT_HASHES[size]
    # Perfect subtrees of the 8-leaf tree are the published node hashes.
    for level, hashes in enumerate(NODE_HASHES):
        width = 1 << level
        for i, expected in enumerate(hashes):
            assert root_from_leaf_hashes(VECTOR_LEAVES[i * width : (i + 1) * width]).hex() == (
                expected
            )


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION_VECTORS)
def test_inclusion_vectors(index: int, size: int, proof: list[str]) -> None:
    expected = _unhex(proof)
    assert inclusion_proof(VECTOR_LEAVES[:size], index) == expected
    root = VECTOR_ROOTS[size]
    leaf = VECTOR_LEAVES[index]
    assert verify_inclusion(leaf, index, size, expected, root)
    # The probes of the reference test suite: all of these must fail.
    some_hash = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    probes = [
        (leaf, index - 1, size, expected, root),
        (leaf, index + 1, size, expected, root),
        (leaf, index ^ 2, size, expected, root),
        (leaf, index, size * 2, expected, root),
        (leaf, index, size // 2, expected, root),
        (b"WrongLeaf", index, size, expected, root),
        (leaf, index, size, expected, EMPTY_ROOT),
        (leaf, index, size, expected, some_hash),
        (leaf, index, size, [*expected, b""], root),
        (leaf, index, size, [*expected, root], root),
        (leaf, index, size, [b"", *expected], root),
        (leaf, index, size, [root, *expected], root),
    ]
    for i in range(len(expected)):
        probes.append((leaf, index, size, _flip(expected, i, 0, 3), root))
    if expected:
        probes.append((leaf, index, size, expected[:-1], root))
    if len(expected) > 1:
        probes.append((leaf, index, size, [expected[0], some_hash, *expected[1:]], root))
    for probe in probes:
        assert not verify_inclusion(*probe), probe[1:3]


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_VECTORS)
def test_consistency_vectors(old: int, new: int, proof: list[str]) -> None:
    expected = _unhex(proof)
    assert consistency_proof(VECTOR_LEAVES[:new], old) == expected
    old_root, new_root = VECTOR_ROOTS[old], VECTOR_ROOTS[new]
    assert verify_consistency(old, new, old_root, new_root, expected)
    if not expected:
        return
    probes = [
        (old - 1, new, old_root, new_root, expected),
        (old + 1, new, old_root, new_root, expected),
        (old ^ 2, new, old_root, new_root, expected),
        (old, new * 2, old_root, new_root, expected),
        (old, new // 2, old_root, new_root, expected),
        (old, new, b"WrongRoot", new_root, expected),
        (old, new, old_root, b"WrongRoot", expected),
        (old, new, new_root, old_root, expected),
        (old, new, old_root, new_root, []),
        (old, new, old_root, new_root, [*expected, b""]),
        (old, new, old_root, new_root, [*expected, old_root]),
        (old, new, old_root, new_root, [*expected, new_root]),
        (old, new, old_root, new_root, [b"", *expected]),
        (old, new, old_root, new_root, [old_root, *expected]),
        (old, new, old_root, new_root, [new_root, *expected]),
        (old, new, old_root, new_root, [expected[0], *expected]),
        (old, new, old_root, new_root, expected[:-1]),
    ]
    for i in range(len(expected)):
        probes.append((old, new, old_root, new_root, _flip(expected, i, 0, 4)))
    for probe in probes:
        assert not verify_consistency(*probe), probe[:2]


# --- Edge cases and argument checking ------------------------------------------------------


def test_single_leaf_tree() -> None:
    h = leaf_hash(b"data")
    assert root_from_leaf_hashes([h]) == h
    assert inclusion_proof([h], 0) == []
    assert verify_inclusion(h, 0, 1, [], h)
    assert not verify_inclusion(h, 0, 1, [], b"")
    assert not verify_inclusion(b"", 0, 1, [], h)
    assert not verify_inclusion(h, 0, 1, [h], h)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (1, 1), (2, 1), (-1, 1), (0, -1)])
def test_inclusion_impossible_positions_fail(index: int, size: int) -> None:
    h = leaf_hash(b"x")
    assert not verify_inclusion(h, index, size, [], h)
    assert not verify_inclusion(h, index, size, [], EMPTY_ROOT)


def test_consistency_trivial_cases() -> None:
    r1, r2 = ROOT(1), ROOT(2)
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, ROOT(5), [])
    assert verify_consistency(1, 1, r1, r1, [])
    assert not verify_consistency(0, 0, EMPTY_ROOT, r1, [])
    assert not verify_consistency(0, 5, r1, ROOT(5), [])  # size 0 has only one root
    assert not verify_consistency(0, 5, EMPTY_ROOT, ROOT(5), [r1])
    assert not verify_consistency(1, 1, r1, r2, [])
    assert not verify_consistency(1, 1, r1, r1, [r1])
    assert not verify_consistency(1, 0, r1, r2, [])  # time travel
    assert not verify_consistency(2, 1, r2, r1, [])
    assert not verify_consistency(1, 2, r1, r2, [])  # missing proof
    assert consistency_proof(LEAVES[:5], 0) == []
    assert consistency_proof(LEAVES[:5], 5) == []
    assert consistency_proof([], 0) == []


def test_builders_reject_bad_arguments() -> None:
    leaves = LEAVES[:5]
    with pytest.raises(ValueError, match="out of range"):
        inclusion_proof(leaves, 5)
    with pytest.raises(ValueError, match="out of range"):
        inclusion_proof([], 0)
    with pytest.raises(ValueError, match="non-negative"):
        inclusion_proof(leaves, -1)
    with pytest.raises(ValueError, match="non-negative"):
        inclusion_proof(leaves, True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="larger than"):
        consistency_proof(leaves, 6)
    with pytest.raises(ValueError, match="non-negative"):
        consistency_proof(leaves, -1)
    with pytest.raises(ValueError, match="larger than"):
        consistency_proof_from(3, 2, lambda s, e: ROOT(1))
    with pytest.raises(ValueError, match="out of range"):
        inclusion_proof_from(2, 2, lambda s, e: ROOT(1))
    with pytest.raises(ValueError, match="did not return"):
        inclusion_proof_from(0, 2, lambda s, e: b"short")
    # Leaf data instead of leaf hashes is caught, not silently hashed into a wrong root.
    with pytest.raises(ValueError, match="leaf 1 is not a 32-byte hash"):
        root_from_leaf_hashes([LEAVES[0], b"raw event bytes"])
    with pytest.raises(ValueError, match="leaf 0 is not a 32-byte hash"):
        root_from_leaf_hashes([LEAVES[0].hex()])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="leaf 2 is not"):
        inclusion_proof([*leaves[:2], b"x"], 0)
    with pytest.raises(ValueError, match="leaf 5 is not"):
        MerkleAccumulator(leaves).append(b"x" * 31)
    with pytest.raises(ValueError):
        node_hash(b"a", b"b")


def _raising_iterable():
    yield ROOT(1)
    raise RuntimeError("broken source")


@pytest.mark.parametrize(
    "proof",
    [
        None,
        5,
        b"\x00" * 32,
        "not a proof",
        [None],
        [b"short"],
        [b"\x00" * 33],
        ["00" * 32],
        [bytearray(32)],
        [ROOT(1)] * 1000,
        _raising_iterable(),
    ],
    ids=repr,
)
def test_verifiers_never_raise_on_malformed_proofs(proof: object) -> None:
    assert verify_inclusion(LEAVES[1], 1, 2, proof, ROOT(2)) is False  # type: ignore[arg-type]
    assert verify_consistency(1, 2, ROOT(1), ROOT(2), proof) is False  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [None, "x", 1.0, 2**70, -(2**70)])
def test_verifiers_never_raise_on_malformed_sizes(bad: object) -> None:
    proof = inclusion_proof(LEAVES[:2], 1)
    assert verify_inclusion(LEAVES[1], bad, 2, proof, ROOT(2)) is False  # type: ignore[arg-type]
    assert verify_inclusion(LEAVES[1], 1, bad, proof, ROOT(2)) is False  # type: ignore[arg-type]
    assert verify_consistency(bad, 2, ROOT(1), ROOT(2), [LEAVES[1]]) is False  # type: ignore[arg-type]
    assert verify_consistency(1, bad, ROOT(1), ROOT(2), [LEAVES[1]]) is False  # type: ignore[arg-type]
    assert verify_inclusion(LEAVES[1], 1, 2, proof, bad) is False  # type: ignore[arg-type]
    assert verify_consistency(1, 2, bad, ROOT(2), [LEAVES[1]]) is False  # type: ignore[arg-type]


def test_proofs_accept_tuples_and_other_sequences() -> None:
    leaves = tuple(LEAVES[:7])
    proof = inclusion_proof(leaves, 3)
    assert verify_inclusion(leaves[3], 3, 7, tuple(proof), ROOT(7))
    assert consistency_proof(leaves, 3) == ref_proof(3, list(leaves))
    assert root_from_leaf_hashes(range_view(leaves)) == ROOT(7)


class range_view:  # noqa: N801 - a minimal Sequence that does not support slicing
    def __init__(self, items: tuple[bytes, ...]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> bytes:
        if not isinstance(i, int):
            raise TypeError("no slicing")
        return self._items[i]

    def __iter__(self):
        return iter(self._items)


# --- Against the reference model -----------------------------------------------------------


def test_roots_of_every_size_up_to_300_match_reference() -> None:
    acc = MerkleAccumulator()
    for n in range(MAX_SIZE + 1):
        assert root_from_leaf_hashes(LEAVES[:n]) == ROOT(n), n
        assert acc.size == n and acc.root() == ROOT(n), n
        acc.append(LEAVES[n])


def test_every_proof_of_small_trees_matches_reference_and_verifies() -> None:
    for n in range(1, 65):
        leaves = LEAVES[:n]
        for i in range(n):
            proof = inclusion_proof(leaves, i)
            assert proof == ref_path(i, leaves), (i, n)
            assert verify_inclusion(leaves[i], i, n, proof, ROOT(n)), (i, n)
        for m in range(n + 1):
            proof = consistency_proof(leaves, m)
            assert proof == ref_proof(m, leaves), (m, n)
            assert verify_consistency(m, n, ROOT(m), ROOT(n), proof), (m, n)


def test_some_proofs_of_every_size_up_to_300() -> None:
    for n in range(1, MAX_SIZE + 1):
        leaves = LEAVES[:n]
        k = 1 << (n.bit_length() - 1)
        for i in {0, n // 2, k - 1, n - 1}:
            proof = inclusion_proof(leaves, i)
            assert verify_inclusion(leaves[i], i, n, proof, ROOT(n)), (i, n)
        for m in {0, 1, k, n // 2, n - 1, n}:
            proof = consistency_proof(leaves, m)
            assert verify_consistency(m, n, ROOT(m), ROOT(n), proof), (m, n)


def test_large_tree_matches_streaming_accumulator() -> None:
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range((1 << 16) + 3)]
    assert root_from_leaf_hashes(leaves) == MerkleAccumulator(leaves).root()
    proof = inclusion_proof(leaves, 40_000)
    assert verify_inclusion(
        leaves[40_000], 40_000, len(leaves), proof, MerkleAccumulator(leaves).root()
    )


def test_proofs_from_streamed_subtree_roots() -> None:
    """The *_from variants work from ranges alone, e.g. streamed out of a database."""
    calls: list[tuple[int, int]] = []

    def subtree_root(start: int, end: int) -> bytes:
        calls.append((start, end))
        return MerkleAccumulator(iter(LEAVES[start:end])).root()

    assert inclusion_proof_from(77, 250, subtree_root) == ref_path(77, LEAVES[:250])
    assert sum(e - s for s, e in calls) == 249  # every leaf but the proved one, once
    assert consistency_proof_from(77, 250, subtree_root) == ref_proof(77, LEAVES[:250])


@pytest.mark.slow
def test_root_of_a_million_leaves_is_fast() -> None:
    leaves = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(1_000_000)]
    started = time.perf_counter()
    root = root_from_leaf_hashes(leaves)
    elapsed = time.perf_counter() - started
    assert len(root) == 32
    assert elapsed < 5.0, f"root of 1M leaves took {elapsed:.2f}s"


# --- Properties ----------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(tree_and_index())
def test_inclusion_proof_matches_reference_and_verifies(case: tuple[int, int]) -> None:
    n, i = case
    proof = inclusion_proof(LEAVES[:n], i)
    assert proof == ref_path(i, LEAVES[:n])
    assert verify_inclusion(LEAVES[i], i, n, proof, ROOT(n))


@PROPERTY_SETTINGS
@given(tree_and_index(min_size=2), st.data())
def test_inclusion_proof_with_a_flipped_bit_fails(
    case: tuple[int, int], data: st.DataObject
) -> None:
    n, i = case
    proof = inclusion_proof(LEAVES[:n], i)
    element = data.draw(st.integers(0, len(proof) - 1))
    byte = data.draw(st.integers(0, 31))
    bit = data.draw(st.integers(0, 7))
    assert not verify_inclusion(LEAVES[i], i, n, _flip(proof, element, byte, bit), ROOT(n))


@PROPERTY_SETTINGS
@given(tree_and_index(), st.integers(0, MAX_SIZE + 5))
def test_inclusion_proof_for_another_index_fails(case: tuple[int, int], j: int) -> None:
    n, i = case
    assume(j != i)
    proof = inclusion_proof(LEAVES[:n], i)
    assert not verify_inclusion(LEAVES[i], j, n, proof, ROOT(n))
    other_leaf = LEAVES[j] if j < len(LEAVES) else leaf_hash(b"not in the log")
    assert not verify_inclusion(other_leaf, i, n, proof, ROOT(n))


@PROPERTY_SETTINGS
@given(tree_and_index(), st.integers(1, MAX_SIZE))
def test_inclusion_proof_against_another_tree_size_fails(case: tuple[int, int], m: int) -> None:
    # Sizes and roots come in signed pairs (a checkpoint), so a wrong size is checked with
    # that size's own root. (With the *same* root RFC 9162 verification can still succeed
    # when both sizes give the leaf the same audit path shape, e.g. index 0 in sizes 3 and
    # 4: the root, not the size, binds the proof.)
    n, i = case
    assume(m != n and i < m)
    proof = inclusion_proof(LEAVES[:n], i)
    assert not verify_inclusion(LEAVES[i], i, m, proof, ROOT(m))


@PROPERTY_SETTINGS
@given(tree_and_index(), st.data())
def test_inclusion_proof_truncated_or_extended_fails(
    case: tuple[int, int], data: st.DataObject
) -> None:
    n, i = case
    proof = inclusion_proof(LEAVES[:n], i)
    extra = data.draw(st.sampled_from([ROOT(n), LEAVES[i], EMPTY_ROOT]))
    assert not verify_inclusion(LEAVES[i], i, n, [*proof, extra], ROOT(n))
    assert not verify_inclusion(LEAVES[i], i, n, [extra, *proof], ROOT(n))
    if proof:
        cut = data.draw(st.integers(0, len(proof) - 1))
        assert not verify_inclusion(LEAVES[i], i, n, proof[:cut], ROOT(n))


@PROPERTY_SETTINGS
@given(old_and_new())
def test_consistency_proof_matches_reference_and_verifies(case: tuple[int, int]) -> None:
    m, n = case
    proof = consistency_proof(LEAVES[:n], m)
    assert proof == ref_proof(m, LEAVES[:n])
    assert verify_consistency(m, n, ROOT(m), ROOT(n), proof)


@PROPERTY_SETTINGS
@given(old_and_new(), st.integers(0, MAX_SIZE))
def test_consistency_proof_fails_for_wrong_roots(case: tuple[int, int], other: int) -> None:
    m, n = case
    proof = consistency_proof(LEAVES[:n], m)
    if other != m:
        assert not verify_consistency(m, n, ROOT(other), ROOT(n), proof)
    if other != n and m > 0:  # every tree extends the empty tree: nothing binds new_root
        assert not verify_consistency(m, n, ROOT(m), ROOT(other), proof)
    # A log that rewrote history: same sizes, different leaves.
    forked = [*LEAVES[: max(m - 1, 0)], leaf_hash(b"forged"), *LEAVES[m:n]]
    if m > 0:
        assert not verify_consistency(m, n, ROOT(m), ref_mth(forked), proof)
        assert not verify_consistency(m, n, ref_mth(forked[:m]), ROOT(n), proof)


@PROPERTY_SETTINGS
@given(old_and_new(), st.integers(0, MAX_SIZE))
def test_consistency_proof_fails_for_other_sizes(case: tuple[int, int], other: int) -> None:
    # Each (size, root) pair is a genuine checkpoint of the same log; the proof for (m, n)
    # must not pass for another pair unless it is that pair's proof too (which happens only
    # for the empty proof: from size 0, or between equal sizes).
    m, n = case
    proof = consistency_proof(LEAVES[:n], m)
    if other != m and other <= n:
        expected = proof == consistency_proof(LEAVES[:n], other)
        assert verify_consistency(other, n, ROOT(other), ROOT(n), proof) is expected
        assert expected == ({m, other} == {0, n})
    if other != n and other >= m:
        expected = proof == consistency_proof(LEAVES[:other], m)
        assert verify_consistency(m, other, ROOT(m), ROOT(other), proof) is expected
        assert expected == (m == 0)


@PROPERTY_SETTINGS
@given(old_and_new(), st.data())
def test_consistency_proof_with_a_flipped_bit_fails(
    case: tuple[int, int], data: st.DataObject
) -> None:
    m, n = case
    proof = consistency_proof(LEAVES[:n], m)
    assume(proof)
    element = data.draw(st.integers(0, len(proof) - 1))
    byte = data.draw(st.integers(0, 31))
    bit = data.draw(st.integers(0, 7))
    assert not verify_consistency(m, n, ROOT(m), ROOT(n), _flip(proof, element, byte, bit))
    assert not verify_consistency(m, n, ROOT(m), ROOT(n), proof[:-1])
    assert not verify_consistency(m, n, ROOT(m), ROOT(n), [*proof, ROOT(n)])


@pytest.mark.parametrize("split", [0, 1, 2, 5, 8, 13, 64, 100])
def test_accumulator_resumes_from_its_frontier(split):
    leaves = [hashlib.sha256(bytes([i % 256, i // 256])).digest() for i in range(101)]
    first = MerkleAccumulator(leaves[:split])
    resumed = MerkleAccumulator.resume(first.size, first.frontier)
    resumed.extend(leaves[split:])
    assert resumed.root() == root_from_leaf_hashes(leaves)
    with pytest.raises(ValueError):
        MerkleAccumulator.resume(split, [*first.frontier, b"\x00" * 32])
    with pytest.raises(ValueError):
        MerkleAccumulator.resume(split, [b"short"] * len(first.frontier) or [b"short"])


@pytest.mark.parametrize(
    ("before", "height", "after"), [(0, 0, 3), (0, 3, 5), (8, 3, 0), (16, 4, 7), (32, 2, 1)]
)
def test_append_subtree_equals_appending_its_leaves(before, height, after):
    leaves = [hashlib.sha256(b"%d" % i).digest() for i in range(before + (1 << height) + after)]
    acc = MerkleAccumulator(leaves[:before])
    acc.append_subtree(root_from_leaf_hashes(leaves[before : before + (1 << height)]), height)
    acc.extend(leaves[before + (1 << height) :])
    assert acc.size == len(leaves) and acc.root() == root_from_leaf_hashes(leaves)


def test_append_subtree_must_be_aligned():
    acc = MerkleAccumulator([hashlib.sha256(b"x").digest()] * 3)
    with pytest.raises(ValueError):
        acc.append_subtree(hashlib.sha256(b"y").digest(), 2)
