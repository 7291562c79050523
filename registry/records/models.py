"""AI systems, their entries, and the immutable versions of each entry."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, aliased, mapped_column, relationship

from registry.db import Base, bytewise, utcnow


class AISystem(Base):
    """Identity only: everything said about a system lives in its entries."""

    __tablename__ = "ai_system"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(bytewise(100), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def live_owner_bodies(self, session: Session) -> list[str]:
        """The bodies (JSON, as stored) of the system's owner entries in force now, in
        id order: what ``accounts.permissions`` decides a technical owner's right to
        write by."""
        return [row.body for row in session.execute(live_owner_entries(self.id, utcnow()))]


class Entry(Base):
    """One governed item of a system; the only record rows that are ever updated.

    ``head_number`` is both the head pointer and the optimistic lock counter;
    ``retired`` mirrors whether the head version is a tombstone.
    """

    __tablename__ = "entry"
    __table_args__ = (
        sa.Index("ix_entry_system_id_kind", "system_id", "kind"),
        sa.Index(
            "uq_entry_one_profile",
            "system_id",
            unique=True,
            sqlite_where=sa.text("kind = 'profile'"),
            postgresql_where=sa.text("kind = 'profile'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(sa.ForeignKey("ai_system.id", ondelete="RESTRICT"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    head_number: Mapped[int]
    retired: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    system: Mapped[AISystem] = relationship(lazy="joined")


class EntryVersion(Base):
    """An immutable version of an entry: the body as canonical JSON and its hash."""

    __tablename__ = "entry_version"
    __table_args__ = (
        sa.UniqueConstraint("entry_id", "number"),
        sa.Index("ix_entry_version_entry_id_recorded_at", "entry_id", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(sa.ForeignKey("entry.id", ondelete="RESTRICT"))
    number: Mapped[int]
    body: Mapped[str] = mapped_column(sa.Text)
    body_hash: Mapped[str] = mapped_column(sa.String(64))
    recorded_at: Mapped[dt.datetime]
    effective_from: Mapped[dt.datetime]
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="RESTRICT"))
    author: Mapped[str] = mapped_column(sa.String(320))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    tombstone: Mapped[bool] = mapped_column(default=False)
    audit_seq: Mapped[int] = mapped_column(
        sa.ForeignKey("audit_event.seq", ondelete="RESTRICT"), unique=True
    )

    # Read-only: a version never changes, so nothing may flush through this.
    entry: Mapped[Entry] = relationship(viewonly=True)


def last_retirement_number(
    entry_id: Any, as_of: dt.datetime | None, effective_at: Any
) -> sa.ColumnElement[int]:
    """The number of the entry's last retirement in force at ``effective_at`` (as
    recorded by ``as_of``), or 0."""
    tomb = aliased(EntryVersion)
    return sa.func.coalesce(
        sa.select(sa.func.max(tomb.number))
        .where(
            tomb.entry_id == entry_id,
            tomb.tombstone.is_(True),
            tomb.effective_from <= effective_at,
            *([tomb.recorded_at <= as_of] if as_of is not None else []),
        )
        .correlate_except(tomb)  # the entry's id comes from the statement around it
        .scalar_subquery(),
        0,
    )


def in_force_at(
    version: Any, effective_at: Any, as_of: dt.datetime | None = None, entry_id: Any = None
) -> tuple[list[sa.ColumnElement[bool]], tuple[Any, ...]]:
    """The rule of valid time: the version of an entry in force at ``effective_at`` (a
    value or an SQL expression) is, among its versions recorded by ``as_of`` that meet
    the conditions returned, the first in the order returned: the one whose
    ``effective_from`` is the latest not after that instant (ties go to the later
    version), and not one before a retirement in force (a retirement hides the
    versions numbered before it, even those stated to take effect later; a version
    recorded after it, a reinstatement, may follow it). ``version``: ``EntryVersion``
    or an alias of it. ``entry_id``: the entry's id as the caller's statement holds it
    outside ``version`` (its entry row), so that the last retirement is read once per
    entry, not once per version (else the work grows with the square of its versions)."""
    retired = last_retirement_number(
        version.entry_id if entry_id is None else entry_id, as_of, effective_at
    )
    conditions = [version.effective_from <= effective_at, version.number >= retired]
    if as_of is not None:
        conditions.append(version.recorded_at <= as_of)
    return conditions, (version.effective_from.desc(), version.number.desc())


def live_owner_entries(system_id: int | sa.ColumnElement[int], at: Any) -> sa.Select[Any]:
    """The system's owner entries in force at ``at`` (a value or an SQL expression):
    each one's id and the body of its version in force then (:func:`in_force_at`;
    none for an entry retired then or not yet in force), in id order."""
    conditions, order = in_force_at(EntryVersion, at, entry_id=Entry.id)
    ranked = (
        sa.select(
            EntryVersion.entry_id,
            EntryVersion.body,
            EntryVersion.tombstone,
            sa.func.row_number()
            .over(partition_by=EntryVersion.entry_id, order_by=order)
            .label("rank"),
        )
        .join(Entry, Entry.id == EntryVersion.entry_id)
        .where(Entry.system_id == system_id, Entry.kind == "owner", *conditions)
        .subquery()
    )
    return (
        sa.select(ranked.c.entry_id.label("id"), ranked.c.body)
        .where(ranked.c.rank == 1, ranked.c.tombstone.is_(False))
        .order_by(ranked.c.entry_id)
    )
