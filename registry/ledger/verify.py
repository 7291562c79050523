"""Verifying a whole ledger: events, versions and signed checkpoints.

Pure: it takes iterables of rows (any objects with the named attributes) and the
public keys to trust, so the same code checks a database, an export, or a pack.

What is checked, in one pass in ``seq`` order:
- every event: its bytes hash to the stored event hash and leaf hash, its ``seq`` is the
  next one, it names the previous event's hash, and the bytes themselves say so;
- every version: its body hashes to its stored body hash, and the event that recorded
  it names the same entry, version number and body hash;
- every checkpoint: a valid signature by a known key (keys are known from the caller
  and from the ledger's own key events before it), its origin, its chain head, and its
  Merkle root recomputed from the events. Successive checkpoints are consistent because
  each root is recomputed from one and the same sequence of leaves; and a ledger
  shorter than its last checkpoint has lost events.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from registry.ledger.chain import GENESIS_HASH
from registry.ledger.note import NoteError, NoteVerifier, open_checkpoint, parse_verifier_key

KEY_ACTIONS = (b'"action":"key.add"', b'"action":"key.rotate"')


@dataclass
class LedgerReport:
    events: int = 0
    versions: int = 0
    checkpoints: int = 0
    seconds: float = 0.0
    head: str = GENESIS_HASH
    problem: str | None = None
    problem_seq: int | None = None
    keys: list[str] = field(default_factory=list)
    uncovered: int = 0  # events after the last checkpoint: not yet covered by a signature

    @property
    def ok(self) -> bool:
        return self.problem is None

    def fail(self, seq: int | None, problem: str) -> LedgerReport:
        self.problem, self.problem_seq = problem, seq
        return self

    def summary(self) -> str:
        rate = self.events / self.seconds if self.seconds > 0 else 0.0
        checked = (
            f"{self.events} events (hashes, chain, Merkle leaves), {self.versions} versions "
            f"(body hashes against their events), {self.checkpoints} signed checkpoints "
            f"(signature, root, chain head) in {self.seconds:.2f} s ({rate:,.0f} events/s)"
        )
        if not self.ok:
            where = f"event {self.problem_seq}" if self.problem_seq is not None else "ledger"
            return f"Ledger BROKEN at {where}: {self.problem}\nChecked before it: {checked}."
        tail = (
            f" {self.uncovered} events after the last checkpoint are chained but not yet "
            "covered by a signature."
            if self.uncovered
            else ""
        )
        return f"Ledger intact: {checked}; head {self.head}.{tail}"


def _inner_fields_ok(data: bytes, seq: int, prev: str) -> bool:
    """Whether the canonical bytes themselves carry ``seq`` and ``prev_hash``.

    Canonical JSON escapes every quote inside strings, so ``"seq":`` with bare quotes
    can only be a key (of the flat event the registry writes). A byte search is
    enough, and far cheaper than parsing every event. (The bytes are bound anyway: the
    next event's link and the signed Merkle roots cover them.)
    """
    i = data.find(b'"prev_hash":"')
    j = data.find(b'"seq":')
    if i < 0 or j < 0 or data[i + 13 : i + 78] != prev.encode() + b'"':
        return False
    number = b"%d" % seq
    end = j + 6 + len(number)
    return data[j + 6 : end] == number and data[end : end + 1] in (b",", b"}")


def verify_ledger_rows(
    events: Iterable[Any],
    versions: Iterable[Any],
    checkpoints: Iterable[Any],
    *,
    trusted_keys: Iterable[str] = (),
    origin: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> LedgerReport:
    """Verify events (tuples ``seq, event, prev_hash, event_hash, leaf_hash``, in seq order),
    versions (``id, entry_id, number, body, body_hash, audit_seq``, in audit_seq order)
    and checkpoints (``tree_size, root_hash, chain_head, note``, in tree_size order)."""
    started = time.perf_counter()
    report = LedgerReport()
    known: list[NoteVerifier] = []
    for vkey in trusted_keys:
        _add_key(known, report, vkey)
    pending = iter(sorted(checkpoints, key=lambda c: c.tree_size))
    checkpoint = next(pending, None)
    version_iter: Iterator[Any] = iter(versions)
    version = next(version_iter, None)
    # The Merkle accumulator, inlined: this loop runs once per event of the ledger.
    stack: list[bytes] = []
    sha256 = hashlib.sha256
    prev, expected = GENESIS_HASH, 1
    last_covered = 0
    try:
        for seq, event, stored_prev, stored_hash, stored_leaf in events:
            data = bytes(event)
            if seq != expected:
                return report.fail(
                    seq, f"expected sequence number {expected}: an event is missing or out of order"
                )
            event_hash = sha256(data).hexdigest()
            if event_hash != stored_hash:
                return report.fail(seq, "the stored bytes do not match the stored event hash")
            leaf = sha256(b"\x00" + data).digest()
            if leaf.hex() != stored_leaf:
                return report.fail(seq, "the stored leaf hash does not match the event bytes")
            if stored_prev != prev:
                return report.fail(seq, "the previous-hash link does not match the event before it")
            if not _inner_fields_ok(data, seq, prev):
                return report.fail(
                    seq, "the event's own bytes do not name its sequence number and previous hash"
                )
            if data.find(b'"action":"key.') != -1:
                parsed = json.loads(data)
                for name in ("verifier_key", "previous_verifier_key"):
                    if parsed.get(name):
                        _add_key(known, report, parsed[name])
            while version is not None and version.audit_seq == seq:
                problem = _version_problem(version, data)
                if problem:
                    return report.fail(seq, problem)
                report.versions += 1
                version = next(version_iter, None)
            if version is not None and version.audit_seq < seq:
                return report.fail(
                    version.audit_seq, f"version {version.id} names an event that does not exist"
                )
            h, n = leaf, seq - 1
            while n & 1:
                h = sha256(b"\x01" + stack.pop() + h).digest()
                n >>= 1
            stack.append(h)
            prev, expected = event_hash, seq + 1
            if progress is not None and seq % 10_000 == 0:
                progress(10_000)
            while checkpoint is not None and checkpoint.tree_size == seq:
                problem = _checkpoint_problem(checkpoint, _root(stack), event_hash, known, origin)
                if problem:
                    return report.fail(seq, problem)
                report.checkpoints += 1
                last_covered = seq
                checkpoint = next(pending, None)
        report.events = expected - 1
        if version is not None:
            return report.fail(
                version.audit_seq, f"version {version.id} names an event that does not exist"
            )
        if checkpoint is not None:
            return report.fail(
                None,
                f"a signed checkpoint covers {checkpoint.tree_size} events but the ledger holds "
                f"only {report.events}: events at its end were removed",
            )
        report.head = prev
        report.uncovered = report.events - last_covered
        return report
    finally:
        report.events = expected - 1  # the events that checked out
        report.seconds = time.perf_counter() - started


def _add_key(known: list[NoteVerifier], report: LedgerReport, vkey: str) -> None:
    verifier = parse_verifier_key(vkey)
    if all(k.key_id != verifier.key_id for k in known):
        known.append(verifier)
        report.keys.append(vkey)


def _version_problem(version: Any, event: bytes) -> str | None:
    body = version.body.encode() if isinstance(version.body, str) else bytes(version.body)
    digest = hashlib.sha256(body).hexdigest()
    which = f"version {version.number} of entry {version.entry_id}"
    if digest != version.body_hash:
        return f"{which}: the body does not match its stored hash"
    if b'"body_sha256":"' + digest.encode() + b'"' not in event:
        return f"{which}: the body is not the one its event recorded"
    names_entry = (b'"entry_id":%d,' % version.entry_id) in event
    names_number = (b'"version":%d}' % version.number) in event or (
        b'"version":%d,' % version.number
    ) in event
    if not (names_entry and names_number):
        return f"{which}: its event records another entry or version"
    return None


def _root(stack: list[bytes]) -> bytes:
    """The root of the tree whose perfect-subtree roots are ``stack`` (largest first)."""
    h = stack[-1]
    for left in reversed(stack[:-1]):
        h = hashlib.sha256(b"\x01" + left + h).digest()
    return h


def _checkpoint_problem(
    checkpoint: Any,
    root: bytes,
    event_hash: str,
    known: list[NoteVerifier],
    origin: str | None,
) -> str | None:
    size = checkpoint.tree_size
    try:
        signed, _names = open_checkpoint(checkpoint.note, known, origin=origin)
    except NoteError as exc:
        return f"the checkpoint at size {size} is not validly signed: {exc}"
    if signed.size != size or signed.root.hex() != checkpoint.root_hash:
        return (
            f"the checkpoint at size {size}: its stored size or root differs from what was signed"
        )
    if signed.root != root:
        return (
            f"the events up to {size} do not hash to the signed root of the checkpoint at size "
            f"{size}: events before it were changed, removed, reordered or rewritten"
        )
    if checkpoint.chain_head != event_hash:
        return f"the checkpoint at size {size} names another chain head"
    return None
