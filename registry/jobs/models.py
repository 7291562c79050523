"""What the registry keeps of a background job: the ``job`` table (migration 0016).

The row, not the queue, is the job's truth: the queue (huey) only carries "run job N"
to a worker. A worker that dies mid-job leaves its row running with a heartbeat that
stops; the recovery round (``jobs.service.recover``) queues it again or marks it
failed, so a job is never lost with a worker.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from registry.db import Base

STATES = ("queued", "running", "finished", "failed")


class Job(Base):
    """One background job (an export) and where it stands. Not part of the audit trail:
    the export it runs is recorded in the ledger when it finishes."""

    __tablename__ = "job"
    __table_args__ = (
        sa.CheckConstraint(f"state IN {STATES!r}", name="state"),
        sa.Index("ix_job_state_heartbeat_at", "state", "heartbeat_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    state: Mapped[str] = mapped_column(sa.String(16), default="queued")
    # Who asked (None: an operator's command); only they, auditors and officers see it.
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str] = mapped_column(sa.String(300))
    # What to do, as JSON (an export: its systems, None for the whole registry, as-of).
    params: Mapped[str] = mapped_column(sa.Text)
    stage: Mapped[str] = mapped_column(sa.String(100), default="")
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    # When finished: what it made, as JSON (an export: the pack's file and digest).
    result: Mapped[str | None] = mapped_column(sa.Text)
    # When failed: an RFC 9457 problem, as JSON.
    problem: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(index=True)
    started_at: Mapped[dt.datetime | None]
    heartbeat_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
