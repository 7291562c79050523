"""The systems' search index: per system, the text a search finds it by and the sort
keys of the systems list, brought up to date by the reads that use it (:func:`current`),
never by the writes.

:func:`indexed` is the one rule of what is indexed: the reference, the profile's name,
purpose and organisation (the profile shown in the register: the one in force, or the
last before its retirement) and the names and e-mail addresses of the live owner
entries; beside it the keys the systems list sorts by that a Python rule derives (the
name as compared, ``kinds.risk_tier``), so SQL never repeats those rules.

Each engine searches the text with its own full-text index: on PostgreSQL the column
``terms``, a ``tsvector`` generated from ``document`` (configuration ``simple``: names
and addresses are not stemmed) with a GIN index; on SQLite an FTS5 table
``system_search_fts`` over ``document``, kept by triggers on ``system_search``. Both
are made by migration 0020 and are not mapped here (:data:`UNMAPPED_TABLES`,
:data:`UNMAPPED_COLUMNS`). A query is made of the words of the user's text only
(letters and digits), each quoted and matched as a prefix, all of them required: no
text a user types is ever read as the engines' query syntax.

The rows answer every filter and order of the systems list and ``GET /api/v1/systems``
now (``records.search``), so those read one row per system, not the versions. The
index holds the register now; searches as recorded at or in effect at an instant
read the versions in force then (``records.search``). ``registry search rebuild`` makes
it again from the records (:func:`rebuild`).

Like the readiness projection, the index is kept by its reads: ``system_search_cursor``
holds a ledger position up to which every system's row was made from its last event
(``seq``: every change to a system's records is an event naming it). A read
(:func:`current`) makes again the rows of the systems with later events, from the
records it sees, and stores them with the position it saw in a short transaction of
its own, so a write sends nothing for the index and a failed store only costs the next
read the same work.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from registry.db import Base, advance_cursor, bytewise, see_committed
from registry.ledger.models import AuditEvent
from registry.ledger.store import systems_changed
from registry.records.kinds import RISK_TIERS, STAGES, risk_tier
from registry.records.models import AISystem, Entry, EntryVersion
from registry.records.reads import in_force

# The kinds whose records a row is made of.
INDEXED_KINDS = frozenset({"profile", "owner"})
PROFILE_FIELDS = ("name", "purpose", "organisation")
# Made in SQL by migration 0020 and kept by the database, so not on the metadata:
# Alembic's comparison and `registry db copy` leave them aside.
FTS_TABLE = "system_search_fts"
UNMAPPED_TABLES = frozenset(
    {FTS_TABLE, *(f"{FTS_TABLE}_{part}" for part in ("data", "idx", "docsize", "config"))}
)
UNMAPPED_COLUMNS = frozenset({("system_search", "terms")})
UNMAPPED_INDEXES = frozenset(
    {"ix_system_search_terms", "ix_system_search_stage_order", "ix_system_search_tier_order"}
)
# A query reads at most this many words of at most this many characters each.
MAX_WORDS = 16
MAX_WORD = 64
_WORD = re.compile(r"[^\W_]+")
CHUNK = 1000
# Where a read session finds the keeper that stores what it made (``extensions``).
INFO_KEY = "records.search_index"


class SystemSearch(Base):
    """One system's searchable text and sort keys (module docstring)."""

    __tablename__ = "system_search"

    system_id: Mapped[int] = mapped_column(
        sa.ForeignKey("ai_system.id", ondelete="RESTRICT"), primary_key=True
    )
    document: Mapped[str] = mapped_column(sa.Text)
    # The profile's name as compared (case-folded, by code point: the systems list's
    # order by name reads it from its index), its stage and its risk tier.
    name_key: Mapped[str] = mapped_column(bytewise(), index=True)
    stage: Mapped[str] = mapped_column(sa.Text)
    risk_tier: Mapped[str] = mapped_column(sa.Text)
    # Whether the profile is retired (the system retired from the register, listed as
    # retired with its last profile).
    retired: Mapped[bool] = mapped_column(default=False)
    # The system's last ledger event when the row was made (read in the same statement
    # as its records): a row never replaces one made from a later event (:func:`store`).
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")


class SearchCursor(Base):
    """The ledger position up to which every system's row was made from its last event
    (one row, id 1): a read looks only at the events after it (:func:`current`)."""

    __tablename__ = "system_search_cursor"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger)


def in_order_of(column: Any, values: Sequence[str]) -> Any:
    """``column``'s place in ``values`` (any other value after them): the systems
    list's order of stages and risk tiers (``kinds.STAGES``, ``RISK_TIERS``), written
    with its values in the SQL text, so that the index of the same expression (below)
    serves it on both engines."""
    return sa.case(
        {sa.literal_column(f"'{v}'"): sa.literal_column(str(i)) for i, v in enumerate(values)},
        value=column,
        else_=sa.literal_column(str(len(values))),
    )


# The systems list's orders by stage and risk tier, each then by name (ties by
# reference are few: sorted as they come). Their indexes (:data:`ORDER_INDEXES`, of
# these expressions and ``name_key``) are made by migration 0026 from these very
# expressions and left out of the metadata (SQLite's reflection does not read an
# index of an expression); a change of STAGES or RISK_TIERS makes them again.
STAGE_ORDER = in_order_of(SystemSearch.stage, STAGES)
TIER_ORDER = in_order_of(SystemSearch.risk_tier, RISK_TIERS)
ORDER_INDEXES = {
    "ix_system_search_stage_order": STAGE_ORDER,
    "ix_system_search_tier_order": TIER_ORDER,
}
# What counting the register reads (each system's stage and whether it is retired), so
# that a count scans an index, not the rows with their text.
sa.Index("ix_system_search_stage", SystemSearch.stage, SystemSearch.retired)
# The systems retired from the register, or the others, by name (the list's status).
sa.Index("ix_system_search_retired", SystemSearch.retired, SystemSearch.name_key)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def indexed(
    reference: str, profile: Mapping[str, Any], owners: Iterable[Mapping[str, Any]]
) -> dict[str, str]:
    """The row of a system (but its id): what a search finds it by, and its sort keys.

    An e-mail address is indexed whole and in its parts, so that a search for
    ``ana@example.org``, ``ana`` or ``example`` finds it on both engines (PostgreSQL's
    parser keeps an address as one word, FTS5's splits it)."""
    parts = [reference, *(_text(profile.get(f)) for f in PROFILE_FIELDS)]
    for owner in owners:
        person = owner.get("person")
        if not isinstance(person, Mapping):
            continue
        email = _text(person.get("email"))
        parts += [_text(person.get("name")), email, " ".join(_WORD.findall(email))]
    return {
        "document": "\n".join(p for p in parts if p),
        "name_key": _text(profile.get("name")).casefold(),
        "stage": _text(profile.get("stage")),
        "risk_tier": risk_tier(profile),
    }


def words(text: str) -> list[str]:
    """The words of a user's search text a query is made of: runs of letters and
    digits (punctuation, operators and quotes are separators), at most MAX_WORDS."""
    return [w[:MAX_WORD] for w in _WORD.findall(text)[:MAX_WORDS]]


def matching(
    session: Session, text: str, *, page: int | None = None
) -> sa.ColumnElement[bool] | None:
    """Whether a row's indexed text holds every word of ``text``, each as a prefix (a
    condition on ``system_search``); None when ``text`` has no word (nothing matches).
    On PostgreSQL a condition on the row's own ``terms``, so a query ordered by another
    index can test each row it reads; on SQLite the ids the FTS5 table finds.

    ``page``: the caller reads a page of so many rows in the order of another index. On
    SQLite the planner then still reads every match and sorts them (it knows not how
    many the FTS5 table finds); when the matches are so many that reading the order's
    index to the page's end reads fewer rows (about ``page`` x systems / matches, fewer
    than the matches: :func:`_read_in_order`), the ids are not offered as an index's
    term, so the order's index drives and each row it reads is tested against them."""
    found = words(text)
    if not found:
        return None
    if session.get_bind().dialect.name == "postgresql":
        # Only letters and digits reach the query, each quoted: 'word':* & ...
        query = " & ".join(f"'{w}':*" for w in found)
        terms = sa.literal_column(f"{SystemSearch.__tablename__}.terms", postgresql.TSVECTOR)
        return terms.bool_op("@@")(sa.func.to_tsquery(sa.literal_column("'simple'"), query))
    query = " AND ".join(f'"{w}"*' for w in found)
    fts = sa.table(FTS_TABLE, sa.column("rowid"))
    found_by = sa.text(f"{FTS_TABLE} MATCH :fts_query").bindparams(fts_query=query)
    tested: Any = SystemSearch.system_id
    if page is not None and weighs_pages(session) and _read_in_order(session, found_by, page):
        tested = tested + 0  # an expression of the id: no index's term (SQLite's "+")
    return tested.in_(sa.select(fts.c.rowid).where(found_by))  # type: ignore[no-any-return]


def weighs_pages(session: Session) -> bool:
    """Whether :func:`matching` weighs a ``page`` on this engine: on SQLite (the FTS5
    table's ids); on PostgreSQL each row read is tested against its own ``terms``
    whatever the order, so there is nothing to weigh."""
    return session.get_bind().dialect.name == "sqlite"


def _read_in_order(session: Session, found_by: Any, page: int) -> bool:
    """Whether a page of ``page`` rows in another order reads fewer rows from that
    order's index (about ``page`` x systems / matches) than there are matches: matches
    x matches > ``page`` x systems. Counted in the FTS5 table alone; the systems by the
    largest id (ids are never reused, systems never removed)."""
    fts = sa.table(FTS_TABLE, sa.column("rowid"))
    matches = session.scalar(sa.select(sa.func.count()).select_from(fts).where(found_by)) or 0
    systems = session.scalar(sa.select(sa.func.max(SystemSearch.system_id))) or 0
    return matches * matches > page * systems


def _rows_statement(systems: sa.ColumnElement[bool]) -> sa.Select[Any]:
    """(system id, kind, body, retired, reference, last ``seq``) of the profiles the
    register shows and the owner entries of the systems ``systems`` selects (a
    condition on the entry's system), with each system's last ledger event: one
    statement, so the records and the event are of one snapshot."""
    statement = in_force(None, with_retired=True)
    kinds = sa.or_(*(Entry.kind == kind for kind in sorted(INDEXED_KINDS)))
    last_seq = (
        sa.select(sa.func.coalesce(sa.func.max(AuditEvent.seq), 0))
        .where(AuditEvent.system_id == Entry.system_id)
        .scalar_subquery()
    )
    return (
        statement.with_only_columns(
            Entry.system_id,
            Entry.kind,
            EntryVersion.body,
            statement.selected_columns.retired_in_force,
            AISystem.reference,
            last_seq.label("last_seq"),
        )
        .join(AISystem, AISystem.id == Entry.system_id)
        .where(kinds, systems)
    )


def _upsert_statement(insert: Any) -> Any:
    statement = insert(SystemSearch.__table__)
    return statement.on_conflict_do_update(
        index_elements=[SystemSearch.__table__.c.system_id],
        set_={
            c: statement.excluded[c]
            for c in ("document", "name_key", "stage", "risk_tier", "retired", "seq")
        },
        where=SystemSearch.__table__.c.seq <= statement.excluded.seq,
    )


# Built once: the rows of some systems, the upsert.
_ROWS = _rows_statement(Entry.system_id.in_(sa.bindparam("ids", expanding=True)))
_UPSERT = {
    "postgresql": _upsert_statement(postgresql.insert),
    "sqlite": _upsert_statement(sqlite.insert),
}


def _made(found: Iterable[Any]) -> list[dict[str, Any]]:
    """The index rows made of the rows of :func:`_rows_statement` (systems without a
    profile get none)."""
    profiles: dict[int, tuple[str, dict[str, Any], bool]] = {}
    owners: dict[int, list[dict[str, Any]]] = {}
    last: dict[int, int] = {}
    for system_id, kind, body, retired, reference, last_seq in found:
        last[system_id] = int(last_seq)
        if kind == "profile":
            profiles[system_id] = (reference, json.loads(body), bool(retired))
        elif not retired:
            owners.setdefault(system_id, []).append(json.loads(body))
    return [
        {
            "system_id": system_id,
            "retired": retired,
            "seq": last[system_id],
            **indexed(reference, profile, owners.get(system_id, [])),
        }
        for system_id, (reference, profile, retired) in profiles.items()
    ]


def rows_of(session: Session, system_ids: list[int]) -> list[dict[str, Any]]:
    """The index rows of these systems, from their profile as the register shows it
    and their live owner entries (systems without a profile get none)."""
    return _made(session.connection().execute(_ROWS, {"ids": system_ids}))  # Core: no ORM


def _upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection = session.connection()
        connection.execute(_UPSERT[connection.dialect.name], rows)


def current(session: Session) -> None:
    """Bring the index up to date for a read in ``session``: the rows of the systems
    with events after the cursor whose row was made from an earlier one are made again
    from the records the read sees (in one batch, by :func:`rows_of`) and stored with
    the ledger position the read saw as the new cursor. A read session hands them to
    its keeper (under ``INFO_KEY``: a short transaction of its own) and then sees what
    was committed (``db.see_committed``); any other session stores them in its own
    transaction. Every read of ``system_search`` passes through here first
    (``records.search``), so a search finds what was committed before it began. What
    this costs follows what changed since the last read: one statement when nothing
    did."""
    position = sa.select(SearchCursor.seq).where(SearchCursor.id == 1).scalar_subquery()
    latest = sa.select(sa.func.max(AuditEvent.seq)).scalar_subquery()
    cursor, head = session.execute(sa.select(position, latest)).one()
    cursor, head = cursor or 0, head or 0
    if head <= cursor:
        return
    changed = systems_changed(session, cursor, head)
    made = sa.select(SystemSearch.system_id, SystemSearch.seq)
    if len(changed) <= CHUNK:
        made = made.where(SystemSearch.system_id.in_(sorted(changed)))
    stored = dict(session.execute(made).all()) if changed else {}
    stale = sorted(i for i, seq in changed.items() if stored.get(i, -1) < seq)
    rows = [
        row
        for start in range(0, len(stale), CHUNK)
        for row in rows_of(session, stale[start : start + CHUNK])
    ]
    keeper = session.info.get(INFO_KEY)
    if keeper is None:
        store(session, rows, head)
        return
    keeper.keep(rows, head)
    see_committed(session)


def store(session: Session, rows: list[dict[str, Any]], cursor: int | None = None) -> None:
    """Store index rows, each replacing the stored one unless that was made from a
    later event of its system (another read got there first), and move the cursor to
    ``cursor`` (never back). Flushes only. The rows go in the order of their systems, so
    two transactions storing rows of the same systems lock them in one order."""
    _upsert(session, sorted(rows, key=lambda row: row["system_id"]))
    if cursor is not None:
        advance_cursor(session, SearchCursor.__table__, cursor)


def rebuild(session: Session) -> int:
    """The index made again from the records: every row removed, every system's row
    written. The cursor stays: every row is now made from its system's last event, so
    the next read finds nothing to make again before it (migration 0020 runs this before
    the cursor's table exists). Never commits; returns how many systems it holds."""
    session.execute(sa.delete(SystemSearch))
    ids = list(session.scalars(sa.select(AISystem.id).order_by(AISystem.id)))
    count = 0
    for start in range(0, len(ids), CHUNK):
        rows = rows_of(session, ids[start : start + CHUNK])
        _upsert(session, rows)
        count += len(rows)
    return count
