"""Verifying a whole ledger: events, versions and signed checkpoints.

Pure: it takes iterables of rows and the public keys to trust, so the same code checks
a database, an export, or a pack.

What is checked, in ``seq`` order:
- every event: its bytes hash to the stored event hash and leaf hash, its ``seq`` is the
  next one, it names the previous event's hash, and the bytes themselves say so;
- every column a query reads instead of the event bytes: the event's ``recorded_at``
  is the time its bytes say, its ``system_id`` the system they name (an export of
  one system names it by reference: checked in :func:`conclude` against the systems'
  references, which the versions' checks bind to their events), and its ``action``
  and ``actor`` (the audit trail's filters) the ones they say;
- every version: its body hashes to its stored body hash, and the event that recorded
  it names the same entry, version number and body hash, author, reason, retirement,
  times, and the entry's system (id and reference) and kind;
- every event naming a system (format 2): its ``system_prev`` is the ``seq`` of the
  previous event naming that system (0: none), and every ``ledger.systems`` event is
  the map of each system's last event before it (``ledger.systems_map``), recomputed;
- every checkpoint: a valid signature by a key that is trusted or that the ledger
  recorded before it, its origin, its chain head, and its Merkle root recomputed from
  the events. Successive checkpoints are consistent because each root is recomputed
  from one and the same sequence of leaves; a ledger shorter than its last checkpoint
  has lost events.

The events can be scanned in aligned ranges (:func:`scan_range`), separately — in
parallel processes for a large ledger — and the results joined (:func:`conclude`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import rfc8785

from registry.ledger.canonical import instant_text
from registry.ledger.chain import GENESIS_HASH
from registry.ledger.merkle import MerkleAccumulator, children_hash, frontier_root, leaf_hash
from registry.ledger.note import (
    NoteError,
    NoteVerifier,
    open_checkpoint,
    parse_body,
    parse_note,
    parse_verifier_key,
    verifier_key,
)
from registry.ledger.systems_map import LINK, MAP_ACTION, SystemsMap


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
    maps: int = 0  # ledger.systems events recomputed (each system's links checked too)
    uncovered: int = 0  # events after the last checkpoint: not yet covered by a signature

    @property
    def ok(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        rate = self.events / self.seconds if self.seconds > 0 else 0.0
        checked = (
            f"{self.events} events (hashes, chain, Merkle leaves), {self.versions} versions "
            f"(body hashes against their events), {self.checkpoints} signed checkpoints "
            f"(signature, root, chain head), each system's links and {self.maps} maps of "
            f"the systems' last events (recomputed) in {self.seconds:.2f} s "
            f"({rate:,.0f} events/s)"
        )
        if not self.ok:
            where = f"event {self.problem_seq}" if self.problem_seq is not None else "ledger"
            return f"Ledger BROKEN at {where}: {self.problem}\nChecked before it: {checked}."
        tail = f" {self.unsigned_tail()}." if self.uncovered else ""
        return f"Ledger intact: {checked}; head {self.head}.{tail}"

    def unsigned_tail(self) -> str:
        """What the events after the last checkpoint are, in words: "1 event after the
        last checkpoint is chained …", "8 events … are …"."""
        events, are = ("event", "is") if self.uncovered == 1 else ("events", "are")
        return (
            f"{self.uncovered} {events} after the last checkpoint {are} chained but not yet "
            "covered by a signature"
        )


@dataclass(frozen=True)
class KnownCheckpoint:
    """A signed checkpoint held outside the database (an auditor's file, one taken from
    a pack, the registry's own copy): the ledger must contain its tree. ``source`` names
    it in the report, e.g. "the checkpoint in cp.txt"."""

    source: str
    note: str

    @classmethod
    def saved(cls, source: str, text: str) -> KnownCheckpoint:
        """A checkpoint as saved in a file, whose newlines after the last signature line
        beyond the one the note ends with (``print`` and ``jq -r`` add one) are not part
        of it: signatures cover the text above the signature lines only, so nothing
        signed is changed. Raises :class:`NoteError` when the text is not a signed
        checkpoint note (nothing is verified here)."""
        note = text.rstrip("\n") + "\n" if text.endswith("\n") else text
        body, _signatures = parse_note(note)
        parse_body(body)
        return cls(source, note)

    @property
    def size(self) -> int | None:
        """Its tree size, read without verifying anything (None: not a checkpoint)."""
        try:
            text, _ = parse_note(self.note)
            return parse_body(text).size
        except NoteError:
            return None


@dataclass
class RangeScan:
    """What one range of events ``first … last`` showed.

    ``stack``: the Merkle frontier of the range's own leaves; ``snapshots``: at each
    checkpoint size inside the range, that frontier and the event hash there; ``keys``:
    key events: ``seq``, the verifier key, and the key it replaces (rotation) or None.
    """

    first: int
    last: int = 0
    first_prev: str | None = None
    last_hash: str | None = None
    versions: int = 0
    stack: list[bytes] = field(default_factory=list)
    snapshots: dict[int, tuple[list[bytes], str]] = field(default_factory=dict)
    keys: list[tuple[int, str, str | None]] = field(default_factory=list)
    # Events whose system column is checked once the systems' references are known:
    # seq, the column, the reference the event names.
    named_systems: list[tuple[int, int, str]] = field(default_factory=list)
    # Events naming a system, flat: seq, system id, its system_prev (-1: an event of
    # format 1, which carries none); and the map events: seq, systems, root (hex).
    links: array[int] = field(default_factory=lambda: array("q"))
    maps: list[tuple[int, int, str]] = field(default_factory=list)
    problem: str | None = None
    problem_seq: int | None = None


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


def scan_range(
    events: Iterable[Any],
    versions: Iterable[Any],
    checkpoint_sizes: Iterable[int],
    *,
    first: int = 1,
    first_prev: str | None = GENESIS_HASH,
    progress: Callable[[int], None] | None = None,
) -> RangeScan:
    """Check events ``first, first+1, …`` (tuples ``seq, event, prev_hash, event_hash,
    leaf_hash, recorded_at, system_id`` and optionally ``action, actor``, the columns the
    audit trail filters on; ``recorded_at`` an instant, or its text as
    events write it: ISO 8601 in UTC with microseconds) and the versions they recorded (``id,
    entry_id, number, body, body_hash, audit_seq`` and optionally ``author, reason,
    tombstone, recorded_at, effective_from, system_id, kind, reference``, in
    ``audit_seq`` order). ``first - 1`` must be a multiple of a
    power of two at least as large as the range, so that its Merkle frontier joins the
    one of the ranges before it. ``first_prev``: the hash the first event must name
    (None: whatever it names, checked later against the range before)."""
    scan = RangeScan(first=first, first_prev=first_prev)
    sizes = set(checkpoint_sizes)
    version_iter: Iterator[Any] = iter(versions)
    version = next(version_iter, None)
    stack = scan.stack
    sha256, leaf_of, children = hashlib.sha256, leaf_hash, children_hash  # looked up once
    prev = first_prev
    expected = first
    event_hash = ""
    digits = _DIGITS.match
    links_extend = scan.links.extend

    def fail(seq: int, problem: str) -> RangeScan:
        scan.problem, scan.problem_seq, scan.last = problem, seq, expected - 1
        return scan

    for seq, event, stored_prev, stored_hash, stored_leaf, recorded_at, system_id, *said in events:
        data = bytes(event)
        if seq != expected:
            return fail(
                expected, f"event {expected} is missing or out of order (found event {seq} there)"
            )
        if prev is None:  # a range's first event: the link it claims, checked when joining
            i = data.find(b'"prev_hash":"')
            prev = data[i + 13 : i + 77].decode("ascii", "replace") if i >= 0 else stored_prev
            scan.first_prev = prev
        event_hash = sha256(data).hexdigest()
        if event_hash != stored_hash:
            return fail(seq, "the stored bytes do not match the stored event hash")
        leaf = leaf_of(data)
        if leaf.hex() != stored_leaf:
            return fail(seq, "the stored leaf hash does not match the event bytes")
        if stored_prev != prev:
            return fail(seq, "the previous-hash link does not match the event before it")
        if not _inner_fields_ok(data, seq, prev):
            return fail(
                seq, "the event's own bytes do not name its sequence number and previous hash"
            )
        # The columns queries read instead of the bytes: the usual case in two byte
        # comparisons, anything else (and every problem) in _column_problem.
        i = data.find(b'"time":"')
        if (
            i < 0
            or recorded_at.__class__ is not str
            or data[i + 8 : i + 41] != recorded_at.encode() + b'"'
            or (
                data.find(b'"system_id":%d,' % system_id) < 0
                if system_id is not None
                else data.find(b'"system') >= 0
            )
        ):
            problem = _column_problem(data, recorded_at, system_id)
        else:
            problem = None
        if problem is not None:
            if problem.__class__ is str:
                return fail(seq, problem)  # type: ignore[arg-type]
            scan.named_systems.append((seq, system_id, problem[0]))
        if said and not (_says(data, _ACTION, said[0]) and _says(data, _ACTOR, said[1])):
            problem = _indexed_problem(data, said[0], said[1])
            if problem is not None:
                return fail(seq, problem)
        if system_id is not None:
            i = data.find(_LINK)
            if i >= 0:
                found = digits(data, i + _LINK_LENGTH)
                if found is None:
                    return fail(seq, "its system_prev link is not a number")
                link = int(found[0])
            elif data.find(b'"v":1,') >= 0 or data.endswith(b'"v":1}'):
                link = -1
            else:
                return fail(seq, "it names a system but carries no system_prev link")
            links_extend((seq, system_id, link))
        elif data.find(_LINK) >= 0:
            return fail(seq, "it carries a system_prev link but names no system")
        elif data.find(_MAP) >= 0:
            problem = _map_event(data)
            if problem.__class__ is str:
                return fail(seq, problem)  # type: ignore[arg-type]
            scan.maps.append((seq, *problem))  # type: ignore[misc]
        if data.find(b'"action":"key.') != -1:
            parsed = json.loads(data)
            if parsed.get("verifier_key"):
                scan.keys.append((seq, parsed["verifier_key"], parsed.get("previous_verifier_key")))
        while version is not None and version[5] == seq:
            problem = _version_problem(version, data)
            if problem:
                return fail(seq, problem)
            scan.versions += 1
            version = next(version_iter, None)
        if version is not None and version[5] < seq:
            return fail(version[5], f"version {version[0]} names an event that does not exist")
        # The range's own Merkle frontier (snapshots of it are kept at checkpoints).
        h, n = leaf, seq - first
        while n & 1:
            h = children(stack.pop(), h)
            n >>= 1
        stack.append(h)
        prev, expected = event_hash, seq + 1
        if seq in sizes:
            scan.snapshots[seq] = (list(stack), event_hash)
        if progress is not None and seq % 10_000 == 0:
            progress(10_000)
    if version is not None:
        return fail(version[5], f"version {version[0]} names an event that does not exist")
    scan.last = expected - 1
    scan.last_hash = prev if scan.last >= first else None
    return scan


_TIME = b'"time":"'
_LINK = b'"%s":' % LINK.encode()
_MAP = b'"action":"%s"' % MAP_ACTION.encode()


_LINK_LENGTH = len(_LINK)
_DIGITS = re.compile(rb"[0-9]+")


def _map_event(data: bytes) -> tuple[int, str] | str:
    """A ``ledger.systems`` event's map: its size and root, or the problem."""
    fields = json.loads(data)
    systems, root = fields.get("systems"), fields.get("root")
    if (
        fields.get("action") != MAP_ACTION
        or type(systems) is not int
        or systems < 0
        or not isinstance(root, str)
        or len(root) != 64
    ):
        return "its map of the systems' last events is malformed"
    return systems, root


def system_links_problem(scans: Iterable[RangeScan]) -> tuple[int, str] | None:
    """Whether every event naming a system links (``system_prev``) to the previous event
    naming it (0: none), and every ``ledger.systems`` event is the map of each system's
    last event before it (ledger.systems_map): the first problem, at its ``seq``."""
    systems = SystemsMap()
    last = systems.last  # assigned in place below: this loop runs once per event
    for scan in scans:
        links, maps = scan.links, scan.maps
        m = 0
        next_map = maps[0][0] if maps else None
        for i in range(0, len(links), 3):
            seq, system_id, link = links[i], links[i + 1], links[i + 2]
            while next_map is not None and next_map < seq:
                problem = _map_problem(systems, *maps[m])
                if problem:
                    return problem
                m += 1
                next_map = maps[m][0] if m < len(maps) else None
            if system_id > len(last):
                systems.note(system_id, 0)
            if link >= 0 and link != last[system_id - 1]:
                return (
                    seq,
                    f"its system_prev link names event {link}, but system {system_id}'s "
                    f"previous event is {last[system_id - 1]}",
                )
            last[system_id - 1] = seq
        for map_event in maps[m:]:
            problem = _map_problem(systems, *map_event)
            if problem:
                return problem
    return None


def _unmapped(size: int, map_seqs: set[int]) -> str | None:
    """Since the ledger's first map event, every checkpoint is signed at one (its last
    leaf): a checkpoint signed elsewhere would let a pack pinned to it leave its
    completeness unproven."""
    if map_seqs and size > min(map_seqs) and size not in map_seqs:
        return (
            "it is not signed at a map of the systems' last events, as every checkpoint "
            "since the first map is"
        )
    return None


def _map_problem(systems: SystemsMap, seq: int, size: int, root: str) -> tuple[int, str] | None:
    if size != systems.size or systems.root().hex() != root:
        return (
            seq,
            f"its map of the systems' last events is wrong: the events before it give "
            f"{systems.size} systems with root {systems.root().hex()}",
        )
    return None


_SYSTEM_ID = b'"system_id":'
_ACTION = b'"action":'
_ACTOR = b'"actor":'


def _says(data: bytes, key: bytes, value: str | None) -> bool:
    """Whether the flat event ``data`` has ``key`` with the text ``value`` (None: no such
    key), found by bytes; False may also mean "not sure": :func:`_indexed_problem`
    decides then."""
    if value is None:
        return data.find(key) < 0
    needle = key + json.dumps(value, ensure_ascii=False).encode()
    i = data.find(needle)
    return i >= 0 and data[i + len(needle) : i + len(needle) + 1] in (b",", b"}")


def _indexed_problem(data: bytes, action: str | None, actor: str | None) -> str | None:
    """Whether the ``action`` and ``actor`` columns (the trail's filters) say what the
    event's bytes say: a text field, or nothing when the bytes hold none."""
    fields = json.loads(data)
    for name, column in (("action", action), ("actor", actor)):
        value = fields.get(name)
        if column != (value if isinstance(value, str) else None):
            return f"its {name} column is not the {name} its bytes say"
    return None


_SYSTEM = b'"system":"'


def _column_problem(
    data: bytes, recorded_at: Any, system_id: int | None
) -> str | tuple[str] | None:
    """Whether an event's ``recorded_at`` and ``system_id`` columns say what its bytes
    say. ``recorded_at``: an instant, or its ISO 8601 text (naive: UTC). A problem
    (str), None, or — for an event naming its system by reference only (an export of
    one system) — ``(reference,)``, checked later.

    Byte searches, as in :func:`_inner_fields_ok`: a bare ``"key":`` is a key of the
    flat event, and its value starts right after it."""
    i = data.find(_TIME)
    if i < 0:
        return "the event's bytes carry no time"
    j = data.find(b'"', i + 8)
    try:
        time_said = dt.datetime.fromisoformat(data[i + 8 : j].decode("ascii"))
    except ValueError:
        return "the event's bytes carry no valid time"
    try:
        if isinstance(recorded_at, str):
            recorded_at = dt.datetime.fromisoformat(recorded_at)
        if recorded_at.tzinfo is None:  # SQLite keeps naive UTC
            recorded_at = recorded_at.replace(tzinfo=dt.UTC)
    except (ValueError, AttributeError):
        return "its recording time column is not the time its bytes say"
    if time_said != recorded_at:
        return "its recording time column is not the time its bytes say"
    i = data.find(_SYSTEM_ID)
    if i >= 0:
        j = i + 12
        end = j
        while data[end : end + 1].isdigit():
            end += 1
        if end == j or system_id is None or int(data[j:end]) != system_id:
            return "its system column is not the system its bytes name"
        return None
    i = data.find(_SYSTEM)
    if i >= 0:
        if system_id is None:
            return "its system column is empty but its bytes name a system"
        reference = json.loads(data).get("system")  # rare: exports of one system
        return (reference,) if isinstance(reference, str) else "its bytes name no system"
    if system_id is not None:
        return "its system column names a system its bytes do not"
    return None


def conclude(
    scans: list[RangeScan],
    checkpoints: Iterable[Any],
    *,
    trusted_keys: Iterable[str] = (),
    origin: str | None = None,
    started: float | None = None,
    system_references: dict[int, str] | None = None,
    known: Iterable[KnownCheckpoint] = (),
) -> LedgerReport:
    """Join the scans of consecutive ranges (in order) and check every checkpoint
    (``tree_size, root_hash, chain_head, note``) against them. ``system_references``:
    the reference of each system id the scans' exports of one system name (see
    :func:`named_system_ids`). ``known``: checkpoints kept outside the database, whose
    trees the ledger must contain (the scans must have snapshots at their sizes)."""
    report = LedgerReport()
    seq_problem = _scans_problem(scans, system_references or {})
    verified_upto = (seq_problem[0] - 1) if seq_problem else (scans[-1].last if scans else 0)
    checkpoints = sorted(checkpoints, key=lambda c: c.tree_size)
    key_events = [k for s in scans for k in s.keys if k[0] <= verified_upto]
    trust = _key_trust(list(trusted_keys), key_events, checkpoints)
    if checkpoints and not trust.pinned and seq_problem is None:
        seq_problem = (
            None,
            "no trusted key was given to check the checkpoints' signatures against: pass "
            "the registry's published verifier key",
        )
    last_covered = 0
    if trust.pinned:
        report.checkpoints, last_covered, problem = _checkpoints_problem(
            scans, checkpoints, trust, verified_upto, origin
        )
        # A checkpoint that fails names an event before any problem found after it; one
        # beyond the verified events is told only when nothing else was.
        if problem is not None and (problem[0] is not None or seq_problem is None):
            seq_problem = problem
    if seq_problem is None:
        for kept in known:
            if problem_text := _known_problem(kept, scans, verified_upto, trust.trusted, origin):
                seq_problem = (None, problem_text)
                break
    report.keys = [verifier_key(v.name, v.public_key) for v in trust.trusted]
    _counted(report, scans, seq_problem, verified_upto, last_covered)
    if started is not None:
        report.seconds = time.perf_counter() - started
    return report


def _counted(
    report: LedgerReport,
    scans: list[RangeScan],
    seq_problem: tuple[int | None, str] | None,
    verified_upto: int,
    last_covered: int,
) -> None:
    """What the report says was checked: the events, versions and maps up to the first
    problem (later ranges ran on regardless), and the problem; without one, the head
    and the events no checkpoint covers yet."""
    bad = seq_problem[0] if seq_problem is not None else None
    report.versions = sum(s.versions for s in scans if bad is None or s.first < bad)
    report.maps = sum(1 for s in scans for m in s.maps if bad is None or m[0] < bad)
    if seq_problem is not None:
        report.problem_seq, report.problem = seq_problem
        report.events = (seq_problem[0] - 1) if seq_problem[0] is not None else verified_upto
    else:
        report.events = verified_upto
        report.head = scans[-1].last_hash or GENESIS_HASH if scans else GENESIS_HASH
        report.uncovered = report.events - last_covered


def _scans_problem(
    scans: list[RangeScan], references: dict[int, str]
) -> tuple[int | None, str] | None:
    """The earliest problem of the events: each range's own (a range stops at its first),
    a system column naming another system than an export's bytes, a previous-hash link
    between ranges, a system's chain of events (checked in order up to the first range
    that failed: what it saw before its problem is sound)."""
    problems = [(s.problem_seq, s.problem) for s in scans if s.problem is not None]
    for scan in scans:
        for seq, system_id, reference in scan.named_systems:
            said = references.get(system_id)
            if said is None or said != reference:
                problems.append((seq, "its system column is not the system its bytes name"))
                break
    for before, after in zip(scans, scans[1:], strict=False):
        if before.problem is None and after.first_prev != before.last_hash:
            problems.append(
                (after.first, "the previous-hash link does not match the event before it")
            )
    upto_failed = next((i for i, s in enumerate(scans) if s.problem is not None), len(scans))
    linked = system_links_problem(scans[: upto_failed + 1])
    if linked is not None:
        problems.append(linked)
    return min(problems, key=lambda p: p[0] or 0) if problems else None


def _checkpoints_problem(
    scans: list[RangeScan],
    checkpoints: list[Any],
    trust: _Trust,
    verified_upto: int,
    origin: str | None,
) -> tuple[int, int, tuple[int | None, str] | None]:
    """Each signed checkpoint (by size) against the events: its signature by a key valid
    at its size, its root, its head and the map of systems' last events it is signed
    at. The checkpoints found sound, the size of the last, and the first problem (at
    the failing checkpoint's size; None for a checkpoint beyond the verified events)."""
    frontier = MerkleAccumulator()
    scan_index = 0
    sound = last_covered = 0
    map_seqs = {m[0] for s in scans for m in s.maps}
    for checkpoint in checkpoints:
        size = checkpoint.tree_size
        if size > verified_upto:
            return (
                sound,
                last_covered,
                (
                    None,
                    f"a signed checkpoint covers {size} events but the ledger holds only "
                    f"{verified_upto}: events at its end were removed",
                ),
            )
        while scans[scan_index].last < size:
            # A whole range before the checkpoint's: an aligned perfect subtree.
            done = scans[scan_index]
            width = done.last - done.first + 1
            frontier.append_subtree(done.stack[0], width.bit_length() - 1)
            scan_index += 1
        stack, event_hash = scans[scan_index].snapshots[size]
        problem = _checkpoint_problem(
            checkpoint,
            frontier_root(frontier.frontier + stack),
            event_hash,
            trust.valid_at(size),
            origin,
        ) or _unmapped(size, map_seqs)
        if problem:
            return sound, last_covered, (size, problem)
        sound += 1
        last_covered = size
    return sound, last_covered, None


def _known_problem(
    known: KnownCheckpoint,
    scans: list[RangeScan],
    length: int,
    trusted: list[NoteVerifier],
    origin: str | None,
) -> str | None:
    """Whether the ledger (``length`` events, all verified) contains the tree of a
    checkpoint kept outside the database."""
    try:
        signed, _names = open_checkpoint(known.note, trusted, origin=origin)
    except NoteError as exc:
        return f"{known.source} is not a checkpoint signed by a trusted key: {exc}"
    size = signed.size
    if size > length:
        return (
            f"tail truncation: {known.source} covers {size} events but the ledger holds only "
            f"{length}: events at its end were removed"
        )
    if size == 0:
        return None
    if _root_at(scans, size) != signed.root:
        return (
            f"rollback or rewrite: the ledger's first {size} events do not hash to the root "
            f"{known.source} signed for them: events up to {size} were changed (and the ones "
            "after re-chained), or the ledger was rolled back and grown again"
        )
    return None


def _root_at(scans: list[RangeScan], size: int) -> bytes:
    """The Merkle root of the first ``size`` events, from the scans' frontiers (a
    snapshot was taken at ``size``)."""
    accumulator = MerkleAccumulator()
    for scan in scans:
        if scan.last >= size:
            return frontier_root(accumulator.frontier + scan.snapshots[size][0])
        width = scan.last - scan.first + 1
        accumulator.append_subtree(scan.stack[0], width.bit_length() - 1)
    raise ValueError(f"no scan reached event {size}")


@dataclass
class _Trust:
    pinned: list[NoteVerifier]
    trusted: list[NoteVerifier]
    retired_at: dict[bytes, int]  # key id -> seq of the rotation that replaced it

    def valid_at(self, size: int) -> list[NoteVerifier]:
        """Keys that may sign a checkpoint of ``size`` events: trusted, and not replaced
        by a rotation the checkpoint covers."""
        return [k for k in self.trusted if self.retired_at.get(k.key_id, size + 1) > size]


def _key_trust(
    pinned_keys: list[str], key_events: list[tuple[int, str, str | None]], checkpoints: list[Any]
) -> _Trust:
    """Which keys to trust: the pinned ones, and those the ledger records in a key event
    that a checkpoint signed by an already trusted key covers. A rotation covered that
    way makes both its keys trusted (trust runs back from a pinned new key to the old
    one), and the old key signs nothing after the rotation alone."""
    pinned = [parse_verifier_key(k) for k in pinned_keys]
    trusted = {v.key_id: v for v in pinned}
    pending = list(key_events)
    changed = True
    while changed and pending:
        changed = False
        for event in list(pending):
            seq, vkey, previous = event
            for checkpoint in checkpoints:
                if checkpoint.tree_size < seq:
                    continue
                try:
                    open_checkpoint(checkpoint.note, list(trusted.values()))
                except NoteError:
                    continue
                for key in (vkey, previous):
                    if key:
                        verifier = parse_verifier_key(key)
                        trusted.setdefault(verifier.key_id, verifier)
                pending.remove(event)
                changed = True
                break
    retired_at = {}
    for seq, _vkey, previous in key_events:
        if previous:
            retired_at[parse_verifier_key(previous).key_id] = seq
    return _Trust(pinned, list(trusted.values()), retired_at)


def named_system_ids(scans: Iterable[RangeScan]) -> set[int]:
    """The system ids of the events that name their system by reference only."""
    return {system_id for scan in scans for _seq, system_id, _ref in scan.named_systems}


def verify_ledger_rows(
    events: Iterable[Any],
    versions: Iterable[Any],
    checkpoints: Iterable[Any],
    *,
    trusted_keys: Iterable[str] = (),
    origin: str | None = None,
    progress: Callable[[int], None] | None = None,
    system_references: dict[int, str] | None = None,
    known: Iterable[KnownCheckpoint] = (),
) -> LedgerReport:
    """Verify a whole ledger in one pass: events, versions (as for :func:`scan_range`)
    and checkpoints (as for :func:`conclude`)."""
    started = time.perf_counter()
    checkpoints = list(checkpoints)
    known = list(known)
    sizes = [c.tree_size for c in checkpoints] + [k.size for k in known if k.size]
    scan = scan_range(events, versions, sizes, progress=progress)
    return conclude(
        [scan],
        checkpoints,
        trusted_keys=trusted_keys,
        origin=origin,
        started=started,
        system_references=system_references,
        known=known,
    )


def _version_problem(version: Any, event: bytes) -> str | None:
    """Whether a version (``id, entry_id, number, body, body_hash, audit_seq, author,
    reason, tombstone, recorded_at, effective_from``) is the one its event recorded."""
    _id, entry_id, number, body, body_hash, _seq = version[:6]
    body = body.encode() if isinstance(body, str) else bytes(body)
    digest = hashlib.sha256(body).hexdigest()
    which = f"version {number} of entry {entry_id}"
    if digest != body_hash:
        return f"{which}: the body does not match its stored hash"
    if b'"body_sha256":"' + digest.encode() + b'"' not in event:
        return f"{which}: the body is not the one its event recorded"
    names_entry = (b'"entry_id":%d,' % entry_id) in event
    names_number = (b'"version":%d}' % number) in event or (b'"version":%d,' % number) in event
    if not (names_entry and names_number):
        return f"{which}: its event records another entry or version"
    if len(version) > 6:
        author, reason, tombstone, recorded_at, effective_from = version[6:11]
        recorded = _instant(recorded_at)
        effective = _instant(effective_from)
        expected = (
            (b'"actor":' + rfc8785.dumps(author), "author"),
            (
                b'"reason_sha256":"%s"' % hashlib.sha256(reason.encode()).hexdigest().encode(),
                "reason",
            ),
            (b'"tombstone":true' if tombstone else b'"tombstone":false', "retirement flag"),
            (b'"time":"%s"' % recorded, "recording time"),
        )
        for pattern, what in expected:
            if pattern not in event:
                return f"{which}: its {what} is not the one its event recorded"
        if b'"effective_from":"' in event:
            if b'"effective_from":"%s"' % effective not in event:
                return f"{which}: its effective time is not the one its event recorded"
        elif effective != recorded:
            return f"{which}: its effective time is not the one its event recorded"
    if len(version) > 11:
        system_id, kind, reference = version[11:14]
        for pattern, what in _entry_patterns(system_id, kind, reference):
            if pattern not in event:
                return f"{which}: its entry's {what} is not the one its event recorded"
    return None


@functools.lru_cache(maxsize=4096)
def _entry_patterns(system_id: int, kind: str, reference: str) -> tuple[tuple[bytes, str], ...]:
    """What an event of a version of an entry of ``kind`` of system ``system_id``
    (``reference``) says, as the byte strings to find in it."""
    return (
        (b'"system_id":%d,' % system_id, "system"),
        (b'"system":' + rfc8785.dumps(reference) + b",", "system reference"),
        (b'"kind":' + rfc8785.dumps(kind) + b",", "kind"),
    )


def _sha256_hex(data: bytes) -> bytes:
    return hashlib.sha256(data).hexdigest().encode()


def _instant(value: Any) -> bytes:
    """An instant as the event writes it: ISO 8601 in UTC with microseconds."""
    return instant_text(value).encode()


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
