"""RFC 6962 / RFC 9162 (section 2.1) Merkle tree hashes, inclusion and consistency proofs.

Pure: the standard library only, so the offline verifier can reuse this module as is.

* leaf hash ``SHA-256(0x00 || data)``, node hash ``SHA-256(0x01 || left || right)``;
* a tree of ``n > 1`` leaves splits at ``k``, the largest power of two smaller than ``n``;
* the root of the empty tree is ``SHA-256("")``.

Every hash is a raw 32-byte :class:`bytes`. Functions that *build* trees or proofs raise
:class:`ValueError` on bad arguments (an index outside the tree, ``old_size > new_size``,
a "leaf hash" that is not 32 bytes). Functions that *verify* never raise on what they are
given to check: a proof of the wrong length, an element that is not a 32-byte hash, sizes
or indexes that cannot be right all make them return ``False``.

Proofs are computed from any source of subtree roots: :func:`inclusion_proof` and
:func:`consistency_proof` take the list of leaf hashes; :func:`inclusion_proof_from` and
:func:`consistency_proof_from` take a callable ``subtree_root(start, end)`` instead, so a
caller can stream leaf ranges from a database (through :class:`MerkleAccumulator`, which
needs O(log n) memory) or serve them from a cache of stored subtree roots.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleAccumulator",
    "SubtreeRoot",
    "children_hash",
    "consistency_proof",
    "consistency_proof_from",
    "frontier_root",
    "inclusion_proof",
    "inclusion_proof_from",
    "leaf_hash",
    "node_hash",
    "root_from_leaf_hashes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"

SubtreeRoot = Callable[[int, int], bytes]
"""``subtree_root(start, end)``: the Merkle tree hash of the leaves ``[start, end)``."""


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one leaf (one stored event's bytes)."""
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node (its children
    checked to be hashes: :func:`children_hash` for children one computed oneself)."""
    if not (_is_hash(left) and _is_hash(right)):
        raise ValueError(f"node_hash takes two {HASH_SIZE}-byte hashes")
    return children_hash(left, right)


def children_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``, unchecked: for children that are hashes the
    caller computed (an accumulator's, verification's per-event loop)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def _require_size(name: str, value: object) -> int:
    if not _is_size(value):
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return value  # type: ignore[return-value]


def _require_leaf_hashes(leaves: Sequence[bytes]) -> None:
    # set(map(...)) runs at C speed: about 40 ms for a million leaves.
    if leaves and (set(map(type, leaves)) != {bytes} or set(map(len, leaves)) != {HASH_SIZE}):
        for i, h in enumerate(leaves):
            if not _is_hash(h):
                raise ValueError(
                    f"leaf {i} is not a {HASH_SIZE}-byte hash (got {type(h).__name__} "
                    f"of length {len(h) if hasattr(h, '__len__') else '?'}); "
                    "pass leaf hashes, not leaf data"
                )


def _fold(level: list[bytes]) -> bytes:
    """Root of a non-empty list of leaf hashes, one tree level at a time.

    Pairing neighbours left to right and carrying an odd last node up unchanged builds
    exactly the RFC 6962 tree (left subtrees are perfect, of the largest power of two).
    """
    sha256 = hashlib.sha256
    prefix = _NODE_PREFIX
    while len(level) > 1:
        pairs = iter(level)  # zip(it, it) yields (level[0], level[1]), (level[2], level[3]), ...
        nxt = [
            sha256(prefix + left + right).digest()
            for left, right in zip(pairs, pairs, strict=False)
        ]
        if len(level) & 1:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _range(leaves: Sequence[bytes], start: int, end: int) -> list[bytes]:
    if isinstance(leaves, list | tuple):
        return list(leaves[start:end])
    return [leaves[i] for i in range(start, end)]


def root_from_leaf_hashes(leaves: Sequence[bytes]) -> bytes:
    """The Merkle tree hash (root) of a sequence of leaf hashes. Iterative, O(n)."""
    _require_leaf_hashes(leaves)
    if len(leaves) == 0:
        return EMPTY_ROOT
    return _fold(_range(leaves, 0, len(leaves)))


class MerkleAccumulator:
    """Append leaf hashes one by one; the root is available at any size.

    Keeps only the roots of the perfect subtrees that make up the tree so far (one per
    set bit of the size), so a verifier can hash a log of any length streamed from disk
    or a database cursor in O(log n) memory.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._size = 0
        self._stack: list[bytes] = []
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        return self._size

    @property
    def frontier(self) -> list[bytes]:
        """The roots of the perfect subtrees so far, largest first: with :attr:`size`,
        all that is needed to go on appending later (see :meth:`resume`)."""
        return list(self._stack)

    @classmethod
    def resume(cls, size: int, frontier: Sequence[bytes]) -> MerkleAccumulator:
        """An accumulator that continues from a saved :attr:`size` and :attr:`frontier`."""
        _require_size("size", size)
        if len(frontier) != bin(size).count("1") or not all(_is_hash(h) for h in frontier):
            raise ValueError(
                f"a frontier of a tree of size {size} has {bin(size).count('1')} "
                f"{HASH_SIZE}-byte hashes"
            )
        acc = cls()
        acc._size = size
        acc._stack = list(frontier)
        return acc

    def append(self, leaf_hash: bytes) -> None:
        if not _is_hash(leaf_hash):
            raise ValueError(f"leaf {self._size} is not a {HASH_SIZE}-byte hash")
        h = leaf_hash
        n = self._size
        stack = self._stack
        while n & 1:
            h = children_hash(stack.pop(), h)
            n >>= 1
        stack.append(h)
        self._size += 1

    def append_subtree(self, root: bytes, height: int) -> None:
        """Append a perfect subtree of ``2**height`` leaves given by its ``root``, as if
        its leaves were appended one by one. The size must be a multiple of its width."""
        if not _is_hash(root):
            raise ValueError(f"a subtree root is a {HASH_SIZE}-byte hash")
        if height < 0 or self._size % (1 << height):
            raise ValueError(f"a subtree of 2**{height} leaves cannot follow {self._size} leaves")
        h = root
        n = self._size >> height
        stack = self._stack
        while n & 1:
            h = children_hash(stack.pop(), h)
            n >>= 1
        stack.append(h)
        self._size += 1 << height

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        for h in leaf_hashes:
            self.append(h)

    def root(self) -> bytes:
        return frontier_root(self._stack)


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """The root of the tree whose perfect subtrees' roots are ``frontier`` (largest
    first, as :attr:`MerkleAccumulator.frontier` holds them)."""
    if not frontier:
        return EMPTY_ROOT
    h = frontier[-1]
    for left in reversed(frontier[:-1]):
        h = node_hash(left, h)
    return h


def _checked(subtree_root: SubtreeRoot, start: int, end: int) -> bytes:
    h = subtree_root(start, end)
    if not _is_hash(h):
        raise ValueError(f"subtree_root({start}, {end}) did not return a {HASH_SIZE}-byte hash")
    return h


def inclusion_proof_from(index: int, size: int, subtree_root: SubtreeRoot) -> list[bytes]:
    """The audit path (RFC 9162 2.1.3.1) for leaf ``index`` of a tree of ``size`` leaves.

    ``subtree_root(start, end)`` is called once per proof element, on disjoint ranges
    that together cover every leaf but ``index``. The path is ordered from the leaf's
    sibling up to the child of the root.
    """
    _require_size("index", index)
    _require_size("size", size)
    if index >= size:
        raise ValueError(f"leaf index {index} is out of range for a tree of size {size}")
    siblings: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:
            siblings.append(_checked(subtree_root, mid, end))
            end = mid
        else:
            siblings.append(_checked(subtree_root, start, mid))
            start = mid
    siblings.reverse()
    return siblings


def consistency_proof_from(old_size: int, new_size: int, subtree_root: SubtreeRoot) -> list[bytes]:
    """The consistency proof (RFC 9162 2.1.4.1) from ``old_size`` to ``new_size``.

    Empty when ``old_size`` is 0 or equal to ``new_size`` (nothing to prove).
    """
    _require_size("old_size", old_size)
    _require_size("new_size", new_size)
    if old_size > new_size:
        raise ValueError(f"old_size {old_size} is larger than new_size {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    # SUBPROOF(m, D[start:end], complete), unrolled: walk down, collecting siblings.
    m = old_size
    start, end = 0, new_size
    complete = True  # is D[start:start+m] the whole old tree (whose root the verifier has)?
    siblings: list[bytes] = []
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            siblings.append(_checked(subtree_root, start + k, end))
            end = start + k
        else:
            siblings.append(_checked(subtree_root, start, start + k))
            start += k
            m -= k
            complete = False
    head = [] if complete else [_checked(subtree_root, start, end)]
    siblings.reverse()
    return head + siblings


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path for ``leaves[index]`` in the tree of all ``leaves`` (leaf hashes)."""
    _require_leaf_hashes(leaves)
    return inclusion_proof_from(index, len(leaves), lambda s, e: _fold(_range(leaves, s, e)))


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """The proof that the tree of ``leaves[:old_size]`` is a prefix of the tree of ``leaves``."""
    _require_leaf_hashes(leaves)
    _require_size("old_size", old_size)
    if old_size > len(leaves):
        raise ValueError(f"old_size {old_size} is larger than the tree size {len(leaves)}")
    return consistency_proof_from(old_size, len(leaves), lambda s, e: _fold(_range(leaves, s, e)))


def _hash_list(proof: object) -> list[bytes] | None:
    if isinstance(proof, bytes | str) or not isinstance(proof, Iterable):
        return None
    try:
        items = list(proof)
    except Exception:  # an iterable that fails to iterate is a bad proof, not a crash
        return None
    return items if all(_is_hash(p) for p in items) else None


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``proof`` shows leaf hash ``leaf`` at ``index`` in the tree (``size``, ``root``).

    RFC 9162 section 2.1.3.2. ``leaf`` is the leaf *hash*. Never raises.
    """
    if not (_is_hash(leaf) and _is_hash(root) and _is_size(index) and _is_size(size)):
        return False
    if index >= size:
        return False
    path = _hash_list(proof)
    if path is None:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` shows the tree (``old_size``, ``old_root``) is a prefix of
    (``new_size``, ``new_root``). RFC 9162 section 2.1.4.2. Never raises.

    Equal sizes need an empty proof and equal roots; an old size of 0 needs an empty
    proof and ``old_root`` equal to the empty-tree hash.
    """
    if not (_is_hash(old_root) and _is_hash(new_root)):
        return False
    if not (_is_size(old_size) and _is_size(new_size)) or old_size > new_size:
        return False
    path = _hash_list(proof)
    if path is None:
        return False
    if old_size == 0:
        return (
            not path
            and hmac.compare_digest(old_root, EMPTY_ROOT)
            and (new_size > 0 or hmac.compare_digest(new_root, EMPTY_ROOT))
        )
    if old_size == new_size:
        return not path and hmac.compare_digest(old_root, new_root)
    if not path:
        return False
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a node of the new tree
        path = [old_root, *path]
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)
