"""Finding systems: filters over the profiles in force, in a stable keyset order.

Every filter runs in SQL on both engines (JSON fields read with ``json_extract`` on
SQLite and ``jsonb`` operators on PostgreSQL), so a page costs the same however large
the register is. Pages are ordered by reference, which is unique and never changes, so
a cursor (the last reference of a page) gives the next page without gaps or repeats.
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
    (``live``) or the others (``retired``); every other filter reads the profile shown.

    ``q``: every word (letters and digits) begins a word of the name, reference,
    purpose, organisation or a live owner's name or e-mail (``records.search_index``;
    as recorded at or in effect at an instant: text anywhere in the first four).
    ``owner``: a live owner entry at that time names the person (e-mail, or part of
    the name). ``stage``, ``risk_tier``: exact values.
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


@dataclass(frozen=True)
class SystemCount:
    """How many systems the register lists, and how many of them are retired: out of
    use (their profile's stage is ``retired``) or retired from the register (their
    profile is retired; they stay listed, as retired)."""

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
    matching = _matching(session, q, stage, risk_tier, owner, as_of, effective_at, status)
    retired = sa.or_(
        matching.selected_columns.retired_in_force,
        json_text(session, EntryVersion.body, "stage") == "retired",
    )
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
    filters."""
    check_instant(as_of, "as_of")
    check_instant(effective_at, "effective_at")
    for name, value in (("q", q), ("owner", owner)):
        if value is not None and (problem := text_problem(value)):
            raise InvalidInput(f"{name} is not valid text.", {name: [problem]})
    body = EntryVersion.body
    stmt = listed_profiles(as_of=as_of, effective_at=effective_at).join(
        AISystem, AISystem.id == Entry.system_id
    )
    if status is not None:
        retired = stmt.selected_columns.retired_in_force
        stmt = stmt.where(retired if status == "retired" else sa.not_(retired))
    if stage:
        stmt = stmt.where(json_text(session, body, "stage") == stage)
    if risk_tier:
        tier = json_text(session, body, "risk_tier")
        if risk_tier == "unclassified":  # not classified yet, or so (kinds.risk_tier)
            stmt = stmt.where(sa.or_(tier.is_(None), tier == risk_tier))
        else:
            stmt = stmt.where(tier == risk_tier)
    if q and as_of is None and effective_at is None:  # the index holds the register now
        found = search_index.matching_ids(session, q.strip()[:MAX_NEEDLE])
        stmt = stmt.where(sa.false() if found is None else AISystem.id.in_(found))
    elif q:
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
        owners = (
            in_force(None, kinds=["owner"], as_of=as_of, effective_at=effective_at)
            .with_only_columns(Entry.system_id, EntryVersion.body.label("owner_body"))
            .order_by(None)
            .subquery()
        )
        who = owner.strip()[:MAX_NEEDLE]
        stmt = stmt.where(
            Entry.system_id.in_(
                sa.select(owners.c.system_id).where(
                    sa.or_(
                        sa.func.lower(json_text(session, owners.c.owner_body, "person", "email"))
                        == who.lower(),
                        _contains(json_text(session, owners.c.owner_body, "person", "name"), who),
                    )
                )
            )
        )
    return stmt


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
