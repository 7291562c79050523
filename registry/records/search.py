"""Finding systems: filters over the profiles listed, in a stable keyset order, and the
systems list's orders.

The register now is read from the search index (``records.search_index``: one row per
system, made from its profile and owners and brought up to date by the read, holding
its text, stage, risk tier and whether it is retired), so a page costs the same
however many versions the register holds; as recorded at or in effect at an instant
it is read from the versions in force then, with the JSON fields read in SQL
(``json_extract`` on SQLite, ``jsonb`` operators on PostgreSQL). API pages are ordered
by reference, which is unique and never changes, so a cursor (the last reference of a
page) gives the next page without gaps or repeats.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from registry.errors import InvalidInput
from registry.records import search_index
from registry.records.inputs import check_instant
from registry.records.models import AISystem, Entry, EntryVersion
from registry.records.reads import RegisterRow, in_force, listed_profiles
from registry.text import text_problem

MAX_PAGE = 200
MAX_NEEDLE = 200


def json_text(session: Session, column: Any, *path: str) -> Any:
    """The text at ``path`` inside a JSON text column, as SQL, on either engine."""
    if session.get_bind().dialect.name == "postgresql":
        document = sa.cast(column, postgresql.JSONB)
    else:
        document = sa.type_coerce(column, sa.JSON)
    return document[path if len(path) > 1 else path[0]].as_string()


def listed_stage(stage: Any, retired: Any) -> Any:
    """The stage a listed system is filtered and counted by, as SQL over its profile's
    ``stage`` and whether its profile is retired (``retired``): ``retired`` for a system
    retired from the register (its profile retired, whatever stage the profile last in
    force gave), else its profile's stage. A retired system is out of use, in no other
    stage. The one rule of the systems list's and the API's ``stage`` filter, of how
    many systems they count as retired (:class:`SystemCount`) and of the dashboard's
    systems by stage (``readiness.overview``)."""
    return sa.case((retired, sa.literal_column("'retired'", sa.Text)), else_=stage)


def _contains(expr: Any, needle: str) -> Any:
    return sa.func.lower(expr).contains(needle.lower(), autoescape=True)


def search_systems(
    session: Session,
    *,
    q: str | None = None,
    stage: str | None = None,
    risk_tier: str | None = None,
    owner: str | None = None,
    as_of: dt.datetime | None = None,
    effective_at: dt.datetime | None = None,
    status: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> list[RegisterRow]:
    """Systems the register lists (:func:`reads.listed_profiles`: those whose profile
    is in force and those whose profile is retired, with their profile as last in
    force), now, as recorded at ``as_of``, or as effective at ``effective_at``, ordered
    by reference, starting after reference ``after``. ``status`` keeps only the ones
    (``live``) or the others (``retired``); ``stage`` is the stage :func:`listed_stage`
    gives (``retired`` for a system retired from the register); every other filter
    reads the profile shown.

    ``q``: every word (letters and digits) begins a word of the name, reference,
    purpose, organisation or a live owner's name or e-mail (``records.search_index``;
    as recorded at or in effect at an instant: text anywhere in the first four).
    ``owner``: a live owner entry at that time records the person (e-mail, or part of
    the name): now its latest version, whatever its term or effective time (wider than
    "My systems", ``readiness.overview.owned_systems``: the entries naming a user today,
    within their term). ``stage``, ``risk_tier``: exact values.
    """
    if after is not None and (problem := text_problem(after)):
        raise InvalidInput("after is not valid text.", {"after": [problem]})
    limit = max(1, min(limit, MAX_PAGE + 1))  # one more tells whether a next page exists
    return matching_systems(
        session,
        q=q,
        stage=stage,
        risk_tier=risk_tier,
        owner=owner,
        as_of=as_of,
        effective_at=effective_at,
        status=status,
        after=after,
        limit=limit,
    )


def matching_systems(
    session: Session,
    *,
    q: str | None = None,
    stage: str | None = None,
    risk_tier: str | None = None,
    owner: str | None = None,
    as_of: dt.datetime | None = None,
    effective_at: dt.datetime | None = None,
    status: str | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> list[RegisterRow]:
    """Every system :func:`search_systems` finds with these filters, by reference: all
    of them (for pages that sort and page the whole list themselves), or ``limit`` of
    them after reference ``after``."""
    if as_of is None and effective_at is None:
        ids = (
            _listed_now(session, q, stage, risk_tier, owner, status, page=limit)
            .join(AISystem, AISystem.id == search_index.SystemSearch.system_id)
            .order_by(AISystem.reference)
        )
        if after:
            ids = ids.where(AISystem.reference > after)
        return _register_rows(session, list(session.scalars(ids.limit(limit))))
    stmt = (
        _matching(session, q, stage, risk_tier, owner, as_of, effective_at, status)
        .add_columns(AISystem)
        .order_by(None)
        .order_by(AISystem.reference)
        .limit(limit)
    )
    if after:
        stmt = stmt.where(AISystem.reference > after)
    return [
        RegisterRow(system, entry.id, version, retired)
        for entry, version, retired, system in session.execute(stmt)
    ]


# The systems list's orders (the web's list and its downloads), each after its key by
# name as compared, then reference: bytewise, as Python compares text.
SORTS = ("name", "reference", "stage", "risk_tier", "changed", "attention")


def _bytewise(session: Session, expr: Any) -> Any:
    """``expr`` compared by code point, as Python compares text (PostgreSQL's "C"
    collation; SQLite's default already is)."""
    return expr.collate("C") if session.get_bind().dialect.name == "postgresql" else expr


@dataclass(frozen=True)
class Ranking:
    """Systems ranked by what another part of the registry keeps (the readiness
    projection's attention order: ``readiness.overview.attention``): a subquery with a
    ``system_id`` column, and its columns the ranking orders by, (name, descending)."""

    rows: Any
    order: tuple[tuple[str, bool], ...]

    def keys(self, session: Session) -> list[tuple[Any, bool]]:
        """The ranking's order: (expression, descending) pairs."""
        keys = []
        for name, down in self.order:
            column = self.rows.c[name]
            if isinstance(column.type, sa.String):
                column = _bytewise(session, column)
            keys.append((column, down))
        return keys


@dataclass(frozen=True)
class Part:
    """Systems of the list, in its order (``statement``: their ids; add OFFSET and LIMIT
    for a page) and in the reverse order (``backwards``, which reads a page near the end
    from the end of the order's index); ``counted``: the same, unordered."""

    statement: sa.Select[Any]
    backwards: sa.Select[Any]
    counted: sa.Select[Any]


@dataclass(frozen=True)
class Listing:
    """The systems list's systems: its parts one after the other (the systems a ranking
    holds, then the others), each read in the order of an index (:func:`page_of`);
    ``counted``: all of them, unordered, what a count reads."""

    parts: tuple[Part, ...]
    counted: sa.Select[Any]


def ordered_systems(
    session: Session,
    *,
    sort: str = "name",
    ranked: Ranking | None = None,
    only_ranked: bool = False,
    changed: Ranking | None = None,
    q: str | None = None,
    stage: str | None = None,
    risk_tier: str | None = None,
    status: str | None = None,
    page: int | None = None,
) -> Listing:
    """The ids of the systems :func:`search_systems` finds now with these filters, in
    the systems list's order ``sort`` (one of SORTS): by name; reference; stage, risk
    tier (in the order of kinds.STAGES, RISK_TIERS); last change, newest first, as
    ``changed`` ranks every system (``readiness.overview.recency``); or ``ranked``
    (most in need of attention first; the others after them). ``only_ranked``: only
    the systems ``ranked`` holds. Sorted and paged in SQL (:func:`page_of` reads the
    rows of a page, :func:`rows_of` every row): the keys a Python rule derives are
    read from the search index, where writes store them, and the rankings joined as
    the subqueries they are. The names as compared and the references are compared by
    code point in their columns' own collation (``db.bytewise``), so their indexes
    serve these orders. ``page``: the caller reads pages of so many; by name or
    reference, a text search's matches may then be tested as the order's index is
    read (``search_index.matching``), and are counted as found."""
    if sort not in SORTS:
        raise ValueError(f"No order {sort!r}.")
    if sort == "changed" and changed is None:
        raise ValueError("The order by last change needs the systems ranked by it.")
    index = search_index.SystemSearch
    stmt = _listed_now(session, q, stage, risk_tier, None, status)
    counted = stmt
    weighed = q and page is not None and search_index.weighs_pages(session)
    if weighed and sort in IN_ORDER and not only_ranked:
        stmt = _listed_now(session, q, stage, risk_tier, None, status, page=page)
    stmt = stmt.join(AISystem, AISystem.id == index.system_id)
    reference = _bytewise(session, AISystem.reference)
    by_name: list[tuple[Any, bool]] = [(_bytewise(session, index.name_key), False)]
    keys: list[tuple[Any, bool]] = []
    others = None  # the systems after the ranked ones
    if sort == "stage":
        keys = [(search_index.STAGE_ORDER, False)]
    elif sort == "risk_tier":
        keys = [(search_index.TIER_ORDER, False)]
    elif sort == "changed" and changed is not None:  # a system's last event is unique
        stmt = stmt.join(changed.rows, changed.rows.c.system_id == AISystem.id)
        keys = changed.keys(session)
        by_name = []
    if only_ranked and ranked is None:
        stmt = stmt.where(sa.false())
        counted = counted.where(sa.false())
    elif ranked is not None and (sort == "attention" or only_ranked):
        rows = ranked.rows
        if not only_ranked:  # the ranked systems first, in their order, then the others
            ranked_ids = sa.select(rows.c.system_id)
            others = _part(stmt.where(index.system_id.not_in(ranked_ids)), by_name, reference)
        else:
            counted = counted.join(rows, rows.c.system_id == index.system_id)
        stmt = stmt.join(rows, rows.c.system_id == AISystem.id)
        if sort == "attention":
            keys = ranked.keys(session)
    if sort == "reference":  # unique: nothing after it
        by_name = []
    first = _part(stmt, keys + by_name, reference)
    return Listing((first,) if others is None else (first, others), counted)


# The orders a page reads from one index of the search index or of the systems (by
# name, by reference): a text search's many matches are tested as it is read.
IN_ORDER = ("name", "reference")


def _part(stmt: sa.Select[Any], keys: list[tuple[Any, bool]], reference: Any) -> Part:
    """``stmt``'s systems ordered by ``keys`` ((expression, descending) pairs), then by
    reference, and backwards."""
    keys = [*keys, (reference, False)]
    return Part(
        stmt.order_by(*(key.desc() if down else key for key, down in keys)),
        stmt.order_by(*(key if down else key.desc() for key, down in keys)),
        stmt,
    )


def page_of(
    session: Session, listing: Listing, offset: int, limit: int, total: int
) -> list[RegisterRow]:
    """The systems of the list at ``offset`` (``limit`` of them), of ``total``: a page in
    the second half of the list is read backwards from its end, so reading it costs
    what reading the first pages does, not every system before it. A part is counted
    only when a page begins after its end."""
    if offset * 2 <= total:
        parts = [(p.statement, p.counted) for p in listing.parts]
        return _register_rows(session, _read(session, parts, offset, limit))
    end = min(offset + limit, total)
    if end <= offset:
        return []
    parts = [(p.backwards, p.counted) for p in reversed(listing.parts)]
    return _register_rows(session, _read(session, parts, total - end, end - offset)[::-1])


def _read(
    session: Session, parts: list[tuple[sa.Select[Any], sa.Select[Any]]], offset: int, limit: int
) -> list[int]:
    """``limit`` ids from ``offset`` of the parts one after the other."""
    ids: list[int] = []
    for statement, counted in parts:
        found = list(session.scalars(statement.offset(offset).limit(limit - len(ids))))
        ids += found
        if len(ids) >= limit:
            break
        # This part ends before the page does: the next one goes on from its start.
        offset = 0 if found else max(0, offset - _count(session, counted))
    return ids


def rows_of(session: Session, listing: Listing) -> list[RegisterRow]:
    """Every system of :func:`ordered_systems`, in its order."""
    return _register_rows(
        session, [i for part in listing.parts for i in session.scalars(part.statement)]
    )


def count_of(session: Session, listing: Listing) -> int:
    """How many systems :func:`ordered_systems` has (all its pages)."""
    return _count(session, listing.counted)


def _count(session: Session, stmt: sa.Select[Any]) -> int:
    counted = stmt.order_by(None).subquery()
    return int(session.scalar(sa.select(sa.func.count()).select_from(counted)) or 0)


def _register_rows(session: Session, ids: list[int]) -> list[RegisterRow]:
    """The register's rows of the systems ``ids`` now, in that order."""
    if not ids:
        return []
    stmt = (
        listed_profiles()
        .add_columns(AISystem)
        .join(AISystem, AISystem.id == Entry.system_id)
        .where(Entry.system_id.in_(ids))
        .order_by(None)
    )
    found = {
        system.id: RegisterRow(system, entry.id, version, retired)
        for entry, version, retired, system in session.execute(stmt)
    }
    return [found[i] for i in ids if i in found]


def _listed_now(
    session: Session,
    q: str | None,
    stage: str | None,
    risk_tier: str | None,
    owner: str | None,
    status: str | None,
    *,
    page: int | None = None,
) -> sa.Select[Any]:
    """The ids of the systems the register lists now that match the filters, from the
    search index alone: one row per system, written with its profile (and owners),
    which holds what the filters read of the profile shown (stage, ``kinds.risk_tier``,
    retired: the stage filtered by is :func:`listed_stage`'s) and its text. Every read
    of the index passes through here: it is brought up to date first
    (``search_index.current``), so a search finds every write committed before it.
    ``page``: the caller reads a page of so many in another index's order
    (``search_index.matching``)."""
    _check_text(q, owner)
    search_index.current(session)
    index = search_index.SystemSearch
    stmt = sa.select(index.system_id)
    if status is not None:
        stmt = stmt.where(index.retired if status == "retired" else sa.not_(index.retired))
    if stage:
        stmt = stmt.where(listed_stage(index.stage, index.retired) == stage)
    if risk_tier:
        stmt = stmt.where(index.risk_tier == risk_tier)
    if q:
        found = search_index.matching(session, q.strip()[:MAX_NEEDLE], page=page)
        stmt = stmt.where(sa.false() if found is None else found)
    if owner:
        stmt = stmt.where(index.system_id.in_(_owned_by(session, owner, None, None)))
    return stmt


@dataclass(frozen=True)
class SystemCount:
    """How many systems the register lists, and how many of them are retired
    (:func:`listed_stage`): out of use (their profile's stage is ``retired``) or
    retired from the register (their profile is retired; they stay listed, as
    retired)."""

    systems: int
    retired: int

    def __str__(self) -> str:
        text = f"{self.systems:,} system{'' if self.systems == 1 else 's'}"
        return f"{text}, {self.retired:,} of them retired" if self.retired else text


def count_systems(
    session: Session,
    *,
    q: str | None = None,
    stage: str | None = None,
    risk_tier: str | None = None,
    owner: str | None = None,
    as_of: dt.datetime | None = None,
    effective_at: dt.datetime | None = None,
    status: str | None = None,
) -> SystemCount:
    """How many systems :func:`search_systems` finds with these filters (all of its
    pages), and how many of them are retired (:class:`SystemCount`). Every page that
    shows a number of systems takes it from here."""
    if as_of is None and effective_at is None:
        index = search_index.SystemSearch
        listed = _listed_now(session, q, stage, risk_tier, owner, status).add_columns(
            (listed_stage(index.stage, index.retired) == "retired").label("retired")
        )
        counted = listed.subquery()
        stmt = sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((counted.c.retired, 1), else_=0)), 0),
        )
        systems, retired = session.execute(stmt).one()
        return SystemCount(int(systems), int(retired))
    matching = _matching(session, q, stage, risk_tier, owner, as_of, effective_at, status)
    stage_then = json_text(session, EntryVersion.body, "stage")
    retired = listed_stage(stage_then, matching.selected_columns.retired_in_force) == "retired"
    stmt = matching.with_only_columns(
        sa.func.count(),
        sa.func.coalesce(sa.func.sum(sa.case((retired, 1), else_=0)), 0),
    ).order_by(None)
    systems, retired = session.execute(stmt).one()
    return SystemCount(int(systems), int(retired))


def _matching(
    session: Session,
    q: str | None,
    stage: str | None,
    risk_tier: str | None,
    owner: str | None,
    as_of: dt.datetime | None,
    effective_at: dt.datetime | None,
    status: str | None = None,
) -> sa.Select[Any]:
    """(Entry, EntryVersion, retired) of the listed systems' profiles that match the
    filters, as recorded at ``as_of`` or in effect at ``effective_at`` (the register
    then: the versions in force, read in SQL; the search index is the register now)."""
    check_instant(as_of, "as_of")
    check_instant(effective_at, "effective_at")
    _check_text(q, owner)
    body = EntryVersion.body
    stmt = listed_profiles(as_of=as_of, effective_at=effective_at).join(
        AISystem, AISystem.id == Entry.system_id
    )
    if status is not None:
        retired = stmt.selected_columns.retired_in_force
        stmt = stmt.where(retired if status == "retired" else sa.not_(retired))
    if stage:
        retired_then = stmt.selected_columns.retired_in_force
        stmt = stmt.where(listed_stage(json_text(session, body, "stage"), retired_then) == stage)
    if risk_tier:
        tier = json_text(session, body, "risk_tier")
        if risk_tier == "unclassified":  # not classified yet, or so (kinds.risk_tier)
            stmt = stmt.where(sa.or_(tier.is_(None), tier == risk_tier))
        else:
            stmt = stmt.where(tier == risk_tier)
    if q:
        needle = q.strip()[:MAX_NEEDLE]
        stmt = stmt.where(
            sa.or_(
                _contains(AISystem.reference, needle),
                *(
                    _contains(json_text(session, body, name), needle)
                    for name in ("name", "purpose", "organisation")
                ),
            )
        )
    if owner:
        stmt = stmt.where(Entry.system_id.in_(_owned_by(session, owner, as_of, effective_at)))
    return stmt


def _check_text(q: str | None, owner: str | None) -> None:
    for name, value in (("q", q), ("owner", owner)):
        if value is not None and (problem := text_problem(value)):
            raise InvalidInput(f"{name} is not valid text.", {name: [problem]})


def _owned_by(
    session: Session, owner: str, as_of: dt.datetime | None, effective_at: dt.datetime | None
) -> sa.Select[Any]:
    """The ids of the systems a live owner entry names (then): the e-mail, or part of
    the name."""
    owners = (
        in_force(None, kinds=["owner"], as_of=as_of, effective_at=effective_at)
        .with_only_columns(Entry.system_id, EntryVersion.body.label("owner_body"))
        .order_by(None)
        .subquery()
    )
    who = owner.strip()[:MAX_NEEDLE]
    return sa.select(owners.c.system_id).where(
        sa.or_(
            sa.func.lower(json_text(session, owners.c.owner_body, "person", "email"))
            == who.lower(),
            _contains(json_text(session, owners.c.owner_body, "person", "name"), who),
        )
    )


def entries_in_force(
    session: Session,
    system: AISystem,
    *,
    kinds: list[str] | None = None,
    as_of: dt.datetime | None = None,
    effective_at: dt.datetime | None = None,
    after: int | None = None,
    limit: int = 50,
) -> list[tuple[Entry, EntryVersion]]:
    """A page of a system's live entries (optionally of some kinds), by entry id."""
    check_instant(as_of, "as_of")
    check_instant(effective_at, "effective_at")
    stmt = (
        in_force([system.id], kinds=kinds, as_of=as_of, effective_at=effective_at)
        .order_by(None)
        .order_by(Entry.id)
        .limit(max(1, min(limit, MAX_PAGE + 1)))
    )
    if after:
        stmt = stmt.where(Entry.id > after)
    return [(entry, version) for entry, version in session.execute(stmt)]
