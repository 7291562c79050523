"""AI systems, their entries, and the immutable versions of each entry."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from registry.db import Base, bytewise, utcnow


class AISystem(Base):
    """Identity only: everything said about a system lives in its entries."""

    __tablename__ = "ai_system"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(bytewise(100), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def live_owner_bodies(self, session: Session) -> list[str]:
        """The bodies (JSON, as stored) of the system's live owner entries, in id order:
        what ``accounts.permissions`` decides a technical owner's right to write by."""
        return [row.body for row in session.execute(live_owner_entries(self.id))]


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


def live_owner_entries(system_id: int | sa.ColumnElement[int]) -> sa.Select[Any]:
    """The system's live owner entries: id, head number, and the head version's body and
    body hash, in id order."""
    return (
        sa.select(Entry.id, Entry.head_number, EntryVersion.body, EntryVersion.body_hash)
        .join(
            EntryVersion,
            (EntryVersion.entry_id == Entry.id) & (EntryVersion.number == Entry.head_number),
        )
        .where(Entry.system_id == system_id, Entry.kind == "owner", Entry.retired.is_(False))
        .order_by(Entry.id)
    )
