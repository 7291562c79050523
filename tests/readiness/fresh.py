"""What a fresh evaluation of one system gives, through the one-system reads: the
oracle the readiness projection's stored rows are held to (its own tests, the worker's
scheduled refresh)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from registry.ledger.models import AuditEvent
from registry.readiness.projection import ReadinessProjection, row_of
from registry.readiness.scorecard import documents_held, evaluate_records
from registry.records.models import AISystem
from registry.records.reads import register


def last_seq(read: Any, system_id: int) -> int:
    return read.scalar(
        sa.select(sa.func.max(AuditEvent.seq)).where(AuditEvent.system_id == system_id)
    )


def expected_row(read: Any, stored: ReadinessProjection) -> dict[str, Any]:
    """The row a fresh evaluation of one system gives at the instant the stored row was
    evaluated, through the one-system reads (the scorecard's: records as recorded by and
    in effect then, the documents held then; the profile as the register lists it).
    Its ``stable_until`` is left to the tests of time (no next version is read)."""
    system = read.get(AISystem, stored.system_id)
    at = stored.evaluated_at
    records, _card = evaluate_records(read, system, at)
    listed = {r.system.id: r for r in register(read, as_of=at, effective_at=at, with_retired=True)}
    found = listed.get(system.id)
    profile = (found.profile, found.retired) if found is not None else None
    _summary, row = row_of(
        (system.id, system.reference, last_seq(read, system.id)),
        at,
        records,
        documents_held(read, system, at),
        profile,
        None,
    )
    return row
