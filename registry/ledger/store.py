"""Appending to and reading the audit ledger through a SQLAlchemy session.

Appends are serialised: ``pg_advisory_xact_lock`` on PostgreSQL (held until the
transaction ends), and on SQLite every transaction already holds the write lock from
``BEGIN IMMEDIATE``. The next ``seq`` and ``prev_hash`` are read under that lock, so
sequence numbers are gapless: a rolled-back transaction takes its number with it.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.db import Database, UTCDateTime, read_only, utcnow
from registry.ledger.canonical import instant_text
from registry.ledger.chain import GENESIS_HASH, seal_event
from registry.ledger.models import AuditEvent, Checkpoint
from registry.ledger.systems_map import LINK, SystemsMap
from registry.ledger.verify import (
    KnownCheckpoint,
    LedgerReport,
    RangeScan,
    conclude,
    named_system_ids,
    scan_range,
)

# An arbitrary constant naming the ledger's advisory lock on PostgreSQL. Migration 0003's
# function registry_ledger_lock() takes the same key.
LEDGER_LOCK_KEY = 0x5265_6769_7374  # "Regist"

_HEAD_COLUMNS = {
    "seq": sa.BigInteger(),
    "event_hash": sa.String(),
    "recorded_at": AuditEvent.__table__.c.recorded_at.type,
}
# PostgreSQL: a VOLATILE function takes pg_advisory_xact_lock and then reads the head with
# a fresh snapshot, so the head is read under the lock in the same round trip.
_LOCK_AND_HEAD_PG = sa.text(
    "SELECT seq, event_hash, recorded_at FROM registry_ledger_lock()"
).columns(**_HEAD_COLUMNS)
# SQLite: BEGIN IMMEDIATE (registry.db) already holds the database's write lock.
_HEAD = sa.text(
    "SELECT seq, event_hash, recorded_at FROM audit_event ORDER BY seq DESC LIMIT 1"
).columns(**_HEAD_COLUMNS)
INSERT_EVENT = sa.insert(AuditEvent.__table__)
# The rows events record, as verification reads them: by table and column alone, so the
# ledger imports nothing of the packages that write them.
_versions = sa.table(
    "entry_version",
    sa.column("id", sa.Integer),
    sa.column("entry_id", sa.Integer),
    sa.column("number", sa.Integer),
    sa.column("body", sa.Text),
    sa.column("body_hash", sa.String),
    sa.column("audit_seq", sa.BigInteger),
    sa.column("author", sa.String),
    sa.column("reason", sa.Text),
    sa.column("tombstone", sa.Boolean),
    sa.column("recorded_at", UTCDateTime()),
    sa.column("effective_from", UTCDateTime()),
)
_entries = sa.table(
    "entry",
    sa.column("id", sa.Integer),
    sa.column("system_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("head_number", sa.Integer),
    sa.column("retired", sa.Boolean),
)
_systems = sa.table("ai_system", sa.column("id", sa.Integer), sa.column("reference", sa.String))


@dataclass(frozen=True)
class LedgerHead:
    seq: int
    event_hash: str
    recorded_at: dt.datetime | None


def lock_ledger(session: Session) -> LedgerHead:
    """Take the ledger lock for the rest of the current transaction; return the head as
    read under it (sequence 0 and the genesis hash when the ledger is empty)."""
    connection = session.connection()
    statement = _LOCK_AND_HEAD_PG if connection.dialect.name == "postgresql" else _HEAD
    return head_from_row(connection.execute(statement).first())


def head_from_row(row: Any) -> LedgerHead:
    """A ledger head from a row of ``seq, event_hash, recorded_at`` (None: empty)."""
    if row is None:
        return LedgerHead(0, GENESIS_HASH, None)
    return LedgerHead(int(row.seq), row.event_hash, row.recorded_at)


def event_time(head: LedgerHead) -> dt.datetime:
    """The time of the event that follows ``head``: the server's clock, but always after
    the previous event's, so times increase strictly with ``seq`` and "as recorded at T"
    is a prefix of the ledger."""
    now = utcnow()
    if head.recorded_at is not None and now <= head.recorded_at:
        now = head.recorded_at + dt.timedelta(microseconds=1)
    return now


def next_event(
    head: LedgerHead,
    fields: dict[str, Any],
    system_id: int | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The row of the event that follows ``head``: sealed, ready to insert (``now``: its
    time, from :func:`event_time`, when the caller needed it first). An event naming a
    system (``system_id``) links to that system's previous event: its fields carry
    ``system_prev``, which its writer read under the lock."""
    if (system_id is not None) != (LINK in fields):
        raise ValueError(f"an event carries {LINK} exactly when it names a system")
    now = now or event_time(head)
    sealed = seal_event(head.seq + 1, head.event_hash, {"time": instant_text(now), **fields})
    return {
        "seq": sealed.seq,
        "recorded_at": now,
        "event": sealed.event,
        "prev_hash": sealed.prev_hash,
        "event_hash": sealed.event_hash,
        "leaf_hash": sealed.leaf_hash,
        "system_id": system_id,
        "action": _text(fields.get("action")),
        "actor": _text(fields.get("actor")),
    }


def _text(value: Any) -> str | None:
    """A field as its column keeps it: text, or nothing (verify compares the two)."""
    return value if isinstance(value, str) else None


# The recording time as the text an event writes (``isoformat`` of a UTC instant with
# microseconds), so verification compares it with the event's bytes as text. Only a
# projection for reading: ``verify`` parses any other layout and compares the instants.
_EVENT_TIME_TEXT = {
    "sqlite": sa.func.replace(AuditEvent.recorded_at, " ", "T").concat("+00:00"),
    "postgresql": sa.func.to_char(
        sa.func.timezone("UTC", AuditEvent.recorded_at), 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'
    ),
}


def _events_page(dialect: str) -> sa.Select[Any]:
    return sa.select(
        AuditEvent.seq,
        AuditEvent.event,
        AuditEvent.prev_hash,
        AuditEvent.event_hash,
        AuditEvent.leaf_hash,
        sa.type_coerce(_EVENT_TIME_TEXT[dialect], sa.String).label("recorded_at"),
        AuditEvent.system_id,
        AuditEvent.action,
        AuditEvent.actor,
    ).where(AuditEvent.seq > sa.bindparam("after"), AuditEvent.seq <= sa.bindparam("upto"))


def iter_events(
    session: Session,
    upto: int | None = None,
    batch: int = 10_000,
    prefetch: bool = False,
    after: int = 0,
) -> Iterator[Any]:
    """Events ``after+1 … upto`` (default: all) in ``seq`` order as plain rows, read in
    pages.

    With ``prefetch`` a second connection reads the next page while the caller works
    on this one (the driver waits on the database without holding the GIL); the
    ledger is append-only, so the pages of both connections agree on every event up
    to ``upto``.
    """
    if upto is None:
        upto = ledger_head(session).seq
    dialect = session.get_bind().dialect.name
    statement = _events_page(dialect).order_by(AuditEvent.seq).limit(batch)

    def pages(connection: sa.Connection) -> Iterator[list[Any]]:
        last = after
        while last < upto:
            rows = connection.execute(statement, {"after": last, "upto": upto}).all()
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    if not prefetch:
        for page in pages(session.connection()):
            yield from page
        return
    ready: queue.Queue[list[Any] | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce() -> None:
        try:
            with read_only(session.get_bind()).connect() as connection:
                for page in pages(connection):
                    if stop.is_set():
                        return
                    ready.put(page)
            ready.put(None)
        except BaseException as exc:  # handed to the consumer, raised there
            ready.put(exc)

    worker = threading.Thread(target=produce, name="ledger-prefetch", daemon=True)
    worker.start()
    try:
        while (page := ready.get()) is not None:
            if isinstance(page, BaseException):
                raise page
            yield from page
    finally:
        stop.set()
        while worker.is_alive():
            try:
                ready.get_nowait()
            except queue.Empty:
                worker.join(0.05)


def iter_versions(
    session: Session, upto: int, after: int = 0, batch: int = 10_000
) -> Iterator[Any]:
    """The versions recorded by events ``after+1 … upto``, as plain tuples, in the order
    of those events, with their entry's system (id and reference) and kind."""
    v, e, systems = _versions.c, _entries.c, _systems.c
    statement = (
        sa.select(
            v.id,
            v.entry_id,
            v.number,
            v.body,
            v.body_hash,
            v.audit_seq,
            v.author,
            v.reason,
            v.tombstone,
            v.recorded_at,
            v.effective_from,
            e.system_id,
            e.kind,
            systems.reference,
        )
        .join(_entries, e.id == v.entry_id)
        .join(_systems, systems.id == e.system_id)
        .where(v.audit_seq > sa.bindparam("after"), v.audit_seq <= sa.bindparam("upto"))
        .order_by(v.audit_seq)
        .limit(batch)
    )
    connection = session.connection()
    while after < upto:
        rows = connection.execute(statement, {"after": after, "upto": upto}).all()
        if not rows:
            return
        yield from rows
        after = rows[-1][5]


_events = AuditEvent.__table__.c
# Each system's last event before ``before``, system by system along the index on
# (system_id, seq): one index probe per system, however long the ledger.
_LAST_SEQS = sa.text(
    "WITH RECURSIVE ids(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM ids WHERE id < :m) "
    "SELECT (SELECT max(a.seq) FROM audit_event a WHERE a.system_id = ids.id "
    "AND a.seq < :before) FROM ids ORDER BY ids.id"
)
_NAMED_SINCE = (
    sa.select(_events.system_id, _events.seq)
    .where(
        _events.seq > sa.bindparam("after"),
        _events.seq < sa.bindparam("before"),
        _events.system_id.is_not(None),
    )
    .order_by(_events.seq)
)


def systems_map(session: Session, before: int, size: int | None = None) -> SystemsMap:
    """The map of each system's last event before event ``before``, of ``size`` systems
    (None: up to the largest system id named before it)."""
    if size is None:
        size = (
            session.scalar(sa.select(sa.func.max(_events.system_id)).where(_events.seq < before))
            or 0
        )
    if size == 0:
        return SystemsMap()
    rows = session.execute(_LAST_SEQS, {"m": size, "before": before}).scalars()
    return SystemsMap(int(seq or 0) for seq in rows)


def update_systems_map(
    systems: SystemsMap, session: Session, after: int, before: int
) -> SystemsMap:
    """``systems`` (the map before event ``after + 1``) updated with the events
    ``after + 1 … before - 1`` that name a system."""
    for system_id, seq in session.execute(_NAMED_SINCE, {"after": after, "before": before}):
        systems.note(system_id, seq)
    return systems


def ledger_head(session: Session) -> LedgerHead:
    """The head without taking the lock (for reading)."""
    return head_from_row(session.connection().execute(_HEAD).first())


def systems_changed(session: Session, after: int, upto: int) -> dict[int, int]:
    """Each system with events after ``after`` up to ``upto`` (ledger positions), with
    its last event among them: what the kept views of the records (the readiness
    projection, the due list, the search index) look at to catch up from their cursor.
    A range of the ledger's primary key: it costs what the range holds, not the size of
    the register. (Grouped by ``system_id + 0``: by the column itself, SQLite's planner
    went through the index on (system_id, seq) for every system in the register, about
    12 ms at 10,000 systems even for an empty range.)"""
    system = AuditEvent.system_id + 0
    found = session.execute(
        sa.select(system, sa.func.max(AuditEvent.seq))
        .where(AuditEvent.seq > after, AuditEvent.seq <= upto, AuditEvent.system_id.is_not(None))
        .group_by(system)
    )
    return {system_id: seq for system_id, seq in found}


# Ledgers at least this long are verified in aligned chunks by parallel processes.
PARALLEL_FROM = 200_000
CHUNK = 1 << 17


def verify_ledger(
    session: Session,
    trusted_keys: Iterable[str] = (),
    origin: str | None = None,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
    own_connection: bool = False,
    known: Iterable[KnownCheckpoint] = (),
) -> LedgerReport:
    """Verify the stored ledger: events, versions, checkpoints (see ``ledger.verify``),
    and that it contains the trees of the ``known`` checkpoints kept outside it.

    A large ledger on a database other processes can open is scanned in chunks of
    ``CHUNK`` events by ``workers`` processes (default: one per CPU), then joined.
    With ``own_connection`` everything is read on the session's connection alone (it
    may see rows no other connection sees yet: a transaction not committed, or a
    snapshot of its own): no parallel processes, no prefetching connection.
    """
    started = time.perf_counter()
    # Checkpoints first, then the head: with writes going on (each statement its own
    # snapshot on PostgreSQL) the head is then never behind a checkpoint read here.
    checkpoints = session.execute(
        sa.select(
            Checkpoint.tree_size, Checkpoint.root_hash, Checkpoint.chain_head, Checkpoint.note
        ).order_by(Checkpoint.tree_size)
    ).all()
    upto = ledger_head(session).seq
    known = list(known)
    sizes = sorted({c.tree_size for c in checkpoints} | {k.size for k in known if k.size})
    bind = session.get_bind()
    workers = 1 if own_connection else workers or os.cpu_count() or 1
    in_memory = bind.dialect.name == "sqlite" and bind.engine.url.database in (
        None,
        "",
        ":memory:",
    )
    if workers < 2 or upto < PARALLEL_FROM or in_memory:
        # Prefetching pays where the driver waits on a server (PostgreSQL); SQLite's
        # reads hold the GIL, so a second thread only contends there.
        prefetch = bind.dialect.name == "postgresql" and not own_connection
        scans = [
            scan_range(
                iter_events(session, upto, prefetch=prefetch),
                iter_versions(session, upto),
                sizes,
                progress=progress,
            )
        ]
    else:
        url = bind.engine.url.render_as_string(hide_password=False)
        chunks = [(first, min(first + CHUNK - 1, upto)) for first in range(1, upto + 1, CHUNK)]
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=context) as pool:
            futures = [pool.submit(_scan_chunk, url, first, last, sizes) for first, last in chunks]
            scans = []
            for future in futures:
                scans.append(future.result())
                if progress is not None:
                    progress(scans[-1].last - scans[-1].first + 1)
    report = conclude(
        scans,
        checkpoints,
        trusted_keys=trusted_keys,
        origin=origin,
        started=started,
        system_references=_system_references(session, named_system_ids(scans)),
        known=known,
    )
    if report.ok:
        problem = _head_pointer_problem(session, upto)
        if problem:
            report.problem = problem
    return report


def _system_references(session: Session, ids: set[int]) -> dict[int, str]:
    """The references of systems ``ids`` (the versions' checks bind each system's
    reference to the events of its entries)."""
    if not ids:
        return {}
    systems = _systems.c
    rows = session.execute(
        sa.select(systems.id, systems.reference).where(systems.id.in_(sorted(ids)))
    )
    return {row.id: row.reference for row in rows}


def _head_pointer_problem(session: Session, upto: int) -> str | None:
    """Whether every entry's head (the one record row that is updated) points at its
    latest version, and says retired exactly when that version is a tombstone."""
    v, e = _versions.c, _entries.c
    latest = (
        sa.select(v.entry_id, sa.func.max(v.number).label("number"))
        .where(v.audit_seq <= upto)
        .group_by(v.entry_id)
        .subquery()
    )
    row = session.execute(
        sa.select(e.id, e.head_number, e.retired, latest.c.number, v.tombstone)
        .join(latest, latest.c.entry_id == e.id)
        .join(_versions, (v.entry_id == e.id) & (v.number == latest.c.number))
        .where((e.head_number != latest.c.number) | (e.retired != v.tombstone))
        .limit(1)
    ).first()
    if row is None:
        return None
    return (
        f"entry {row.id} says its current version is {row.head_number}"
        f"{' (retired)' if row.retired else ''}, but its latest version is {row.number}"
        f"{' (retired)' if row.tombstone else ''}"
    )


def _scan_chunk(url: str, first: int, last: int, sizes: list[int]) -> RangeScan:
    """In a worker process: scan events ``first … last`` of the ledger at ``url``."""

    database = Database(url)
    try:
        with database.read_sessionmaker() as session:
            return scan_range(
                iter_events(session, last, after=first - 1),
                iter_versions(session, last, after=first - 1),
                [s for s in sizes if first <= s <= last],
                first=first,
                first_prev=GENESIS_HASH if first == 1 else None,
            )
    finally:
        database.dispose()
