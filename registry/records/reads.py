"""Reading AI systems and their versioned entries: lookups, the state of a system (now,
as recorded at an instant, as in effect at an instant), the register, and an entry's
history. Nothing here writes (``records.writes`` does).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased, contains_eager

from registry.errors import NotFound
from registry.ledger.append import read
from registry.records.display import entry_label
from registry.records.inputs import check_instant, valid_id
from registry.records.models import AISystem, Entry, EntryVersion, in_force_at
from registry.text import text_problem

T = TypeVar("T")


@dataclass(frozen=True)
class EntryState:
    """An entry as seen at some instant: its identity and the version in force."""

    entry_id: int
    kind: str
    version: EntryVersion
    entry: Entry | None = None  # the entry itself, when the reader loaded it

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.version.body)

    @property
    def label(self) -> str:
        """The entry's name as people read it (``records.display``)."""
        return entry_label(self.kind, self.body, self.entry_id)


@dataclass(frozen=True)
class SystemState:
    system: AISystem
    entries: list[EntryState]

    @property
    def profile(self) -> dict[str, Any] | None:
        for e in self.entries:
            if e.kind == "profile":
                return e.body
        return None

    def of_kind(self, kind: str) -> list[EntryState]:
        return [e for e in self.entries if e.kind == kind]


# ----------------------------------------------------------------------------- lookups


def get_system(session: Session, reference: str) -> AISystem:
    """The system named ``reference``; NotFound when there is none."""
    valid = len(reference) <= 100 and text_problem(reference) is None
    system = session.scalar(_SYSTEM_BY_REFERENCE, {"reference": reference}) if valid else None
    if system is None:
        raise NotFound(f"No system with reference {reference!r}.")
    return system


def get_entry(session: Session, entry_id: int, system: AISystem | None = None) -> Entry:
    """The entry ``entry_id`` (of ``system``, when given); NotFound otherwise."""
    entry = session.get(Entry, entry_id) if valid_id(entry_id) else None
    if entry is None or (system is not None and entry.system_id != system.id):
        raise NotFound(
            f"No entry {entry_id}" + (f" in system {system.reference!r}." if system else ".")
        )
    return entry


def profile_entry(session: Session, system: AISystem) -> Entry:
    """The system's profile entry (every system has one)."""
    entry = session.scalar(
        sa.select(Entry).where(Entry.system_id == system.id, Entry.kind == "profile")
    )
    if entry is None:  # pragma: no cover - create_system always makes one
        raise NotFound(f"System {system.reference!r} has no profile.")
    return entry


def last_live_version(session: Session, entry: Entry, before: int) -> EntryVersion:
    """The entry's last version numbered before ``before`` that is no retirement."""
    version = session.scalar(
        sa.select(EntryVersion)
        .where(
            EntryVersion.entry_id == entry.id,
            EntryVersion.number < before,
            EntryVersion.tombstone.is_(False),
        )
        .order_by(EntryVersion.number.desc())
        .limit(1)
    )
    assert version is not None  # version 1 of an entry is never a retirement
    return version


def retired_profile(
    session: Session,
    system: AISystem,
    *,
    as_of: dt.datetime | None = None,
    effective_at: dt.datetime | None = None,
) -> tuple[Entry, EntryVersion, EntryVersion] | None:
    """When the system's profile is retired (now, or at ``as_of`` / ``effective_at``):
    the profile entry, its retirement and its last version before it. None when the
    profile is live then, or did not exist yet."""
    entry = profile_entry(session, system)
    try:
        version = version_at(session, entry, as_of=as_of, effective_at=effective_at)
    except NotFound:
        return None
    if not version.tombstone:
        return None
    return entry, version, last_live_version(session, entry, version.number)


def not_in_register(reference: str) -> NotFound:
    """The answer to a read of a system at a time when it was not in the register."""
    return NotFound(f"System {reference!r} was not in the register at that time.")


def require_in_register(
    session: Session,
    system: AISystem,
    *,
    as_of: dt.datetime | None = None,
    effective_at: dt.datetime | None = None,
) -> None:
    """:func:`not_in_register` unless the system was in the register at that time (at
    ``as_of`` / ``effective_at``): its profile had a version then, live or retired, as a
    read of its state then finds."""
    try:
        version_at(session, profile_entry(session, system), as_of=as_of, effective_at=effective_at)
    except NotFound:
        raise not_in_register(system.reference) from None


def in_force(
    system_ids: Iterable[int] | None,
    *,
    kinds: Iterable[str] | None = None,
    as_of: dt.datetime | None = None,
    effective_at: dt.datetime | None = None,
    with_retired: bool = False,
) -> sa.Select[Any]:
    """Select (Entry, EntryVersion) pairs of the versions in force, tombstones excluded.

    ``as_of``: only what the registry had recorded by then (transaction time).
    ``effective_at``: among those, the version whose ``effective_from`` is the latest
    not after that instant (valid time; ties go to the later version), and not before a
    retirement in force (a retirement hides the versions numbered before it).
    Neither: the heads.
    ``with_retired``: retired entries too, each with its last version before its
    retirement, as (Entry, EntryVersion, retired) rows.
    """
    conditions: list[Any] = []
    if system_ids is not None:
        conditions.append(Entry.system_id.in_(list(system_ids)))
    if kinds is not None:
        conditions.append(Entry.kind.in_(list(kinds)))
    if as_of is None and effective_at is None:
        if with_retired:
            shown = sa.case(
                (Entry.retired, _last_live_number(Entry.id, Entry.head_number)),
                else_=Entry.head_number,
            )
            return (
                sa.select(Entry, EntryVersion, Entry.retired.label("retired_in_force"))
                .join_from(
                    Entry,
                    EntryVersion,
                    (EntryVersion.entry_id == Entry.id) & (EntryVersion.number == shown),
                )
                .where(*conditions)
                .order_by(Entry.system_id, Entry.kind, Entry.id)
            )
        return (
            sa.select(Entry, EntryVersion)
            .join(
                EntryVersion,
                (EntryVersion.entry_id == Entry.id) & (EntryVersion.number == Entry.head_number),
            )
            .where(*conditions, Entry.retired.is_(False))
            .order_by(Entry.system_id, Entry.kind, Entry.id)
        )
    version_conditions: list[Any] = []
    order: tuple[Any, ...]
    if effective_at is not None:
        version_conditions, order = in_force_at(EntryVersion, effective_at, as_of)
    else:
        version_conditions.append(EntryVersion.recorded_at <= as_of)
        order = (EntryVersion.number.desc(),)
    ranked = (
        sa.select(
            Entry.system_id.label("system_id"),
            Entry.kind.label("kind"),
            EntryVersion.id.label("version_id"),
            EntryVersion.entry_id.label("entry_id"),
            EntryVersion.number.label("number"),
            EntryVersion.tombstone.label("tombstone"),
            sa.func.row_number()
            .over(partition_by=EntryVersion.entry_id, order_by=order)
            .label("rank"),
        )
        .join(Entry, Entry.id == EntryVersion.entry_id)
        .where(*conditions, *version_conditions)
        .subquery()
    )
    if with_retired:
        shown = sa.case(
            (ranked.c.tombstone, _last_live_number(Entry.id, ranked.c.number)),
            else_=ranked.c.number,
        )
        return (
            sa.select(Entry, EntryVersion, ranked.c.tombstone.label("retired_in_force"))
            .join_from(Entry, ranked, (ranked.c.entry_id == Entry.id) & (ranked.c.rank == 1))
            .join_from(
                Entry,
                EntryVersion,
                (EntryVersion.entry_id == Entry.id) & (EntryVersion.number == shown),
            )
            .order_by(Entry.system_id, Entry.kind, Entry.id)
        )
    # Ordered by the ranked rows' own columns (the same order): ordered by the entry
    # table's, PostgreSQL walks its (system_id, kind) index and rescans the ranked rows
    # for each entry, which it takes for a handful (a second for a register's 1,600).
    return (
        sa.select(Entry, EntryVersion)
        .join(EntryVersion, EntryVersion.entry_id == Entry.id)
        .join(ranked, (ranked.c.version_id == EntryVersion.id) & (ranked.c.rank == 1))
        .where(EntryVersion.tombstone.is_(False))
        .order_by(ranked.c.system_id, ranked.c.kind, ranked.c.entry_id)
    )


def _last_live_number(entry_id: Any, number: Any) -> Any:
    """The number of the entry's last version, up to ``number``, that is no retirement."""
    live = aliased(EntryVersion)
    return (
        sa.select(sa.func.max(live.number))
        .where(live.entry_id == entry_id, live.tombstone.is_(False), live.number <= number)
        .scalar_subquery()
    )


# The live heads of given systems: the hottest read, built once.
_HEADS_OF_SYSTEMS = (
    sa.select(Entry, EntryVersion)
    .join(
        EntryVersion,
        (EntryVersion.entry_id == Entry.id) & (EntryVersion.number == Entry.head_number),
    )
    .where(
        Entry.system_id.in_(sa.bindparam("system_ids", expanding=True)),
        Entry.retired.is_(False),
    )
    .order_by(Entry.system_id, Entry.kind, Entry.id)
)
# The same, of one system named by its reference: the system comes with its entries.
_HEADS_BY_REFERENCE = (
    sa.select(Entry, EntryVersion)
    .join(AISystem, AISystem.id == Entry.system_id)
    .join(
        EntryVersion,
        (EntryVersion.entry_id == Entry.id) & (EntryVersion.number == Entry.head_number),
    )
    .where(AISystem.reference == sa.bindparam("reference"), Entry.retired.is_(False))
    .options(contains_eager(Entry.system))
    .order_by(Entry.kind, Entry.id)
)
_SYSTEM_BY_REFERENCE = sa.select(AISystem).where(AISystem.reference == sa.bindparam("reference"))


def system_state(
    session: Session,
    system: AISystem,
    *,
    as_of: dt.datetime | None = None,
    effective_at: dt.datetime | None = None,
) -> SystemState:
    """The live entries of a system: now, as recorded at ``as_of``, or as effective at
    ``effective_at`` (both may be given: what was known then about what held when)."""
    check_instant(as_of, "as_of")
    check_instant(effective_at, "effective_at")
    if as_of is None and effective_at is None:
        rows = session.execute(_HEADS_OF_SYSTEMS, {"system_ids": [system.id]}).all()
    else:
        rows = session.execute(in_force([system.id], as_of=as_of, effective_at=effective_at)).all()
    return SystemState(system, [EntryState(e.id, e.kind, v, e) for e, v in rows])


def systems_states(
    session: Session,
    systems: Iterable[AISystem] | None,
    *,
    as_of: dt.datetime | None = None,
    effective_at: dt.datetime | None = None,
) -> dict[int, SystemState]:
    """:func:`system_state` of several systems in one query, by system id (a system with
    nothing in force has no entries). ``systems`` None: every system with an entry in
    force (at ``as_of`` / ``effective_at``)."""
    check_instant(as_of, "as_of")
    check_instant(effective_at, "effective_at")
    chosen = None if systems is None else {s.id: s for s in systems}
    if chosen == {}:
        return {}
    found = {sid: SystemState(s, []) for sid, s in (chosen or {}).items()}
    stmt = in_force(chosen and list(chosen), as_of=as_of, effective_at=effective_at)
    for e, v in session.execute(stmt).all():
        if e.system_id not in found:
            found[e.system_id] = SystemState(e.system, [])
        found[e.system_id].entries.append(EntryState(e.id, e.kind, v, e))
    return found


_system = AISystem.__table__
_entry = Entry.__table__
_version = EntryVersion.__table__
# A system's current state as plain rows (no ORM objects): what the API renders on its
# most frequent read. Columns are labelled as the attributes of Entry and EntryVersion.
_CURRENT_ROWS = (
    sa.select(
        _entry.c.id.label("entry_id"),
        _entry.c.kind,
        _entry.c.head_number,
        _system.c.id.label("system_id"),
        _system.c.reference,
        _system.c.created_at.label("system_created_at"),
        _version.c.number,
        _version.c.tombstone,
        _version.c.body,
        _version.c.body_hash,
        _version.c.recorded_at,
        _version.c.effective_from,
        _version.c.author,
        _version.c.reason,
        _version.c.audit_seq,
    )
    .select_from(_system)
    .join(_entry, _entry.c.system_id == _system.c.id)
    .join(
        _version,
        (_version.c.entry_id == _entry.c.id) & (_version.c.number == _entry.c.head_number),
    )
    .where(_system.c.reference == sa.bindparam("reference"), _entry.c.retired.is_(False))
    .order_by(_entry.c.kind, _entry.c.id)
)


def current_rows(session: Session, reference: str) -> list[Any]:
    """The live entries of the system ``reference`` now, one row each (entry, system and
    head version columns); empty when there is no such live system. Read through the
    ledger's driver (``ledger.append.read``): on PostgreSQL its rows are the driver's
    own, without the ORM's result processing, which cost a state read more than the
    statement itself (``bench/api_load.py``); its instants are in UTC as the ORM's are
    (``db.make_engine``: the connections' time zone)."""
    if len(reference) > 100 or text_problem(reference):
        return []
    return read(session, [(_CURRENT_ROWS, {"reference": reference})])[0]


def state_of(
    session: Session,
    reference: str,
    *,
    as_of: dt.datetime | None = None,
    effective_at: dt.datetime | None = None,
) -> SystemState:
    """:func:`system_state` of the system named ``reference`` (NotFound if none); the
    current state takes one query."""
    if as_of is None and effective_at is None and text_problem(reference) is None:
        rows = session.execute(_HEADS_BY_REFERENCE, {"reference": reference}).all()
        if rows:
            return SystemState(rows[0][0].system, [EntryState(e.id, e.kind, v, e) for e, v in rows])
    system = get_system(session, reference)
    return system_state(session, system, as_of=as_of, effective_at=effective_at)


PER_KIND = 100  # a system's entries of each kind shown at once (page and API resource)


@dataclass(frozen=True)
class KindPage(Generic[T]):
    """A system's entries paged per kind: the first ``per_kind`` of each kind (by kind,
    then entry id), and for each kind with more, how many there are and the entry id
    after which the next page starts (keyset)."""

    shown: list[T]
    more: dict[str, tuple[int, int]]  # kind -> (total, id of the last shown)


def first_of_each_kind(
    items: Iterable[T], kind_of: Callable[[T], str], id_of: Callable[[T], int], per_kind: int
) -> KindPage[T]:
    """The first ``per_kind`` items of each kind, by kind then id (the one paging rule of
    a system's page and resource; the pages after them are the entries list's, by id)."""
    shown: list[T] = []
    counts: dict[str, int] = {}
    last: dict[str, int] = {}
    for item in sorted(items, key=lambda i: (kind_of(i), id_of(i))):
        kind = kind_of(item)
        counts[kind] = counts.get(kind, 0) + 1
        if counts[kind] <= per_kind:
            shown.append(item)
            last[kind] = id_of(item)
    more = {k: (n, last[k]) for k, n in counts.items() if n > per_kind}
    return KindPage(shown, more)


@dataclass(frozen=True)
class RegisterRow:
    """A system in the register: its profile as last in force (before its retirement,
    when ``retired``)."""

    system: AISystem
    entry_id: int
    version: EntryVersion
    retired: bool = False

    @property
    def profile(self) -> dict[str, Any]:
        return json.loads(self.version.body)


def listed_profiles(
    *,
    as_of: dt.datetime | None = None,
    effective_at: dt.datetime | None = None,
    with_retired: bool = True,
    system_ids: Iterable[int] | None = None,
) -> sa.Select[Any]:
    """The one rule for which systems the register lists and counts (the systems list,
    the dashboard, the API's list and its totals): (Entry, EntryVersion, retired) of each
    system's profile (now, as of, or as effective at an instant): the version in force,
    or, for a system whose profile was retired by then, its last version before the
    retirement, with ``retired`` true. A retired system stays listed, as retired;
    ``with_retired=False`` leaves those out. A profile's stage ``retired`` (a system out
    of use) is a stage like any other here. ``system_ids``: of those systems only (the
    condition inside the read of the versions in force, not after it)."""
    if not with_retired:
        return in_force(system_ids, kinds=["profile"], as_of=as_of, effective_at=effective_at)
    return in_force(
        system_ids, kinds=["profile"], as_of=as_of, effective_at=effective_at, with_retired=True
    )


def register(
    session: Session,
    *,
    as_of: dt.datetime | None = None,
    effective_at: dt.datetime | None = None,
    with_retired: bool = False,
) -> list[RegisterRow]:
    """Every system the register lists (:func:`listed_profiles`), now, as of, or as
    effective at an instant; retired systems only ``with_retired``."""
    check_instant(as_of, "as_of")
    check_instant(effective_at, "effective_at")
    stmt = listed_profiles(as_of=as_of, effective_at=effective_at, with_retired=with_retired)
    rows = session.execute(stmt).all()
    systems = (
        {
            s.id: s
            for s in session.scalars(
                sa.select(AISystem).where(AISystem.id.in_({row[0].system_id for row in rows}))
            )
        }
        if rows
        else {}
    )
    return [
        RegisterRow(systems[row[0].system_id], row[0].id, row[1], with_retired and row[2])
        for row in rows
    ]


def history(session: Session, entry: Entry) -> list[EntryVersion]:
    """Every version of an entry, oldest first."""
    return versions_until(session, entry)


def version_at(
    session: Session,
    entry: Entry,
    *,
    as_of: dt.datetime | None = None,
    effective_at: dt.datetime | None = None,
) -> EntryVersion:
    """The version of one entry in force at an instant (a retirement included): the
    latest recorded by ``as_of``, or the one effective at ``effective_at``, or the head.
    NotFound when the entry had no version yet."""
    check_instant(as_of, "as_of")
    check_instant(effective_at, "effective_at")
    if as_of is None and effective_at is None:
        return get_version(session, entry, entry.head_number)
    stmt = sa.select(EntryVersion).where(EntryVersion.entry_id == entry.id).limit(1)
    if as_of is not None:
        stmt = stmt.where(EntryVersion.recorded_at <= as_of)
    if effective_at is not None:
        conditions, order = in_force_at(EntryVersion, effective_at, as_of)
        stmt = stmt.where(*conditions).order_by(*order)
    else:
        stmt = stmt.order_by(EntryVersion.number.desc())
    version = session.scalar(stmt)
    if version is None:
        raise NotFound(f"Entry {entry.id} did not exist at that time.", entry_id=entry.id)
    return version


def versions_until(
    session: Session, entry: Entry, as_of: dt.datetime | None = None
) -> list[EntryVersion]:
    """The versions of an entry recorded by ``as_of`` (all when None), oldest first."""
    check_instant(as_of, "as_of")
    stmt = sa.select(EntryVersion).where(EntryVersion.entry_id == entry.id)
    if as_of is not None:
        stmt = stmt.where(EntryVersion.recorded_at <= as_of)
    return list(session.scalars(stmt.order_by(EntryVersion.number)))


def get_version(session: Session, entry: Entry, number: int) -> EntryVersion:
    """Version ``number`` of ``entry``; NotFound (naming the entry's versions) otherwise."""
    version = (
        None
        if not valid_id(number)
        else session.scalar(
            sa.select(EntryVersion).where(
                EntryVersion.entry_id == entry.id, EntryVersion.number == number
            )
        )
    )
    if version is None:
        raise NotFound(
            f"Entry {entry.id} has no version {number}; its versions are 1 to {entry.head_number}.",
            entry_id=entry.id,
            current_version=entry.head_number,
        )
    return version


@dataclass(frozen=True)
class Change:
    """A version as listed among the most recent changes (the dashboard)."""

    reference: str
    entry_id: int
    kind: str
    number: int
    tombstone: bool
    recorded_at: dt.datetime
    author: str
    reason: str


def recent_changes(session: Session, limit: int) -> list[Change]:
    """The ``limit`` most recently recorded versions of any entry, newest first."""
    stmt = (
        sa.select(
            AISystem.reference,
            Entry.id,
            Entry.kind,
            EntryVersion.number,
            EntryVersion.tombstone,
            EntryVersion.recorded_at,
            EntryVersion.author,
            EntryVersion.reason,
        )
        .join(Entry, Entry.id == EntryVersion.entry_id)
        .join(AISystem, AISystem.id == Entry.system_id)
        .order_by(EntryVersion.audit_seq.desc())
        .limit(limit)
    )
    return [Change(*row) for row in session.execute(stmt)]


def audit_seqs(session: Session, versions: Iterable[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """The ledger event that recorded each entry version, by (entry id, version number)."""
    wanted = set(versions)
    if not wanted:
        return {}
    entries = {entry_id for entry_id, _ in wanted}
    rows = session.execute(
        sa.select(EntryVersion.entry_id, EntryVersion.number, EntryVersion.audit_seq).where(
            EntryVersion.entry_id.in_(entries)
        )
    )
    return {(e, n): seq for e, n, seq in rows if (e, n) in wanted}


def heads_by_reference(
    session: Session, references: Iterable[str], kind: str
) -> dict[str, list[EntryState]]:
    """The live entries of ``kind`` (their heads) of the systems named, by reference: one
    read for many systems (a spreadsheet import's)."""
    wanted = set(references)
    if not wanted:
        return {}
    rows = session.execute(
        in_force(None, kinds=[kind])
        .add_columns(AISystem.reference)
        .join(AISystem, AISystem.id == Entry.system_id)
        .where(AISystem.reference.in_(wanted))
    ).all()
    found: dict[str, list[EntryState]] = {}
    for entry, version, reference in rows:
        found.setdefault(reference, []).append(EntryState(entry.id, entry.kind, version, entry))
    return found
