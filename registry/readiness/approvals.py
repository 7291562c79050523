"""Approving a promotion: bound to the entry versions the scorecard relied on."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.accounts.actor import Actor
from registry.accounts.models import User
from registry.accounts.permissions import require
from registry.errors import Conflict
from registry.readiness.gate import PromotionRefused
from registry.readiness.scorecard import evaluate
from registry.records import writes
from registry.records.models import AISystem, Entry, EntryVersion


def approve_promotion(
    session: Session,
    actor: Actor,
    system: AISystem,
    *,
    notes: str | None = None,
    now: dt.datetime | None = None,
) -> EntryVersion:
    """Record a compliance officer's approval of the promotion to production, with the
    hash of every entry version today's scorecard relied on. Refused (409) when the
    system is not ready. A system has one approval entry: approving again (after the
    evidence changed) is its next version, so its history shows every approval."""
    require(session, actor, "approve", system)
    now = now or dt.datetime.now(dt.UTC)
    scorecard = evaluate(session, system, now, recorded_by=now)
    if not scorecard.ready:
        raise PromotionRefused(scorecard)
    person = {"name": actor.label, "email": actor.email or "unknown@invalid"}
    if actor.user_id is not None:
        user = session.get(User, actor.user_id)
        if user is not None:
            person = {"name": user.name or user.email, "email": user.email}
    if actor.email is None and actor.user_id is None:
        raise Conflict("Only a person can approve a promotion.")
    body = {
        "to_stage": "production",
        "approver": person,
        "approved_at": now.isoformat(),
        "evidence": scorecard.evidence(),
    }
    if notes:
        body["notes"] = notes
    existing = session.scalar(
        sa.select(Entry)
        .where(Entry.system_id == system.id, Entry.kind == "approval", Entry.retired.is_(False))
        .order_by(Entry.id.desc())
        .limit(1)
    )
    reason = "Promotion to production approved on the evidence of the scorecard"
    if existing is None:
        return writes.create_entry(session, actor, system, "approval", body, reason=reason)
    return writes.update_entry(
        session, actor, existing, body, base_version=existing.head_number, reason=reason
    )
