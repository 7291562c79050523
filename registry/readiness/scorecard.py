"""Scoring a system: the criteria over its entries in force, waivers, the approval.

:func:`score` is pure (records in, scorecard out); :func:`evaluate` reads the records
as recorded by an instant and as in effect at it, and scores them. Neither reads the
clock, so a scorecard as of a past instant is what the registry said then.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from registry.documents.service import received_by, received_by_systems
from registry.readiness.criteria import AREAS, QUESTIONS, Facts
from registry.readiness.model import (
    MET,
    Answer,
    ApprovalStatus,
    AreaResult,
    Finding,
    Held,
    Record,
    Scorecard,
)
from registry.records import reads
from registry.records.models import AISystem, Entry, EntryVersion

# Profile fields a promotion changes itself: a change of these alone does not make
# the approval of that promotion stale.
PROMOTION_FIELDS = ("stage", "register_updated_on")


def _aware(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None:
        raise ValueError("the instant needs a time zone")
    return at.astimezone(dt.UTC)


def waivers_in_force(records: list[Record], at: dt.datetime) -> dict[str, Record]:
    """Per area, the waiver in force at ``at`` that runs longest (an expired waiver no
    longer counts)."""
    found: dict[str, Record] = {}
    for w in records:
        if w.kind != "waiver":
            continue
        expires = dt.datetime.fromisoformat(w.body["expires_at"])
        if expires <= at or w.body.get("approved_on", "") > at.date().isoformat():
            continue
        area = w.body["area"]
        if area not in found or w.body["expires_at"] > found[area].body["expires_at"]:
            found[area] = w
    return found


def latest_approval(records: list[Record], at: dt.datetime) -> Record | None:
    approvals = [
        r
        for r in records
        if r.kind == "approval"
        and r.body.get("to_stage") == "production"
        and dt.datetime.fromisoformat(r.body["approved_at"]) <= at
    ]
    return max(approvals, key=lambda r: (r.body["approved_at"], r.entry_id), default=None)


def score(
    reference: str,
    records: list[Record],
    at: dt.datetime,
    approval: ApprovalStatus | None = None,
    documents: tuple[Held, ...] = (),
) -> Scorecard:
    """The scorecard of a system whose entries in force at ``at`` are ``records`` and
    whose stored documents, as held at ``at``, are ``documents``."""
    at = _aware(at)
    facts = Facts(at, records, documents)
    waivers = waivers_in_force(records, at)
    areas = []
    for area in AREAS:
        findings = []
        for c in area.criteria:
            status, explanation, evidence, *cited = c.check(facts)
            documents = cited[0] if cited else []
            findings.append(Finding(c.key, c.title, status, explanation, evidence, documents))
        result = AreaResult(area.key, area.title, area.question, area.frameworks, findings)
        if result.assessed != MET and area.key in waivers:
            result = AreaResult(
                area.key, area.title, area.question, area.frameworks, findings, waivers[area.key]
            )
        areas.append(result)
    answers = []
    for q in QUESTIONS:
        text, evidence = q.answer(facts)
        answers.append(Answer(q.key, q.question, text, evidence))
    profile = facts.profile
    return Scorecard(
        reference,
        at,
        profile.body.get("stage") if profile else None,
        areas,
        answers,
        approval or ApprovalStatus("none"),
        facts.due,
    )


def _without(body: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in keys}


def approval_status(session: Session, records: list[Record], at: dt.datetime) -> ApprovalStatus:
    """Whether the latest promotion approval still holds: stale once any entry version
    it relied on has changed (a profile change of the stage alone excepted)."""
    approval = latest_approval(records, at)
    if approval is None:
        return ApprovalStatus("none")
    by_id = {r.entry_id: r for r in records}
    changed = []
    for ref in approval.body.get("evidence", []):
        now = by_id.get(ref["entry_id"])
        if now is not None and now.version == ref["version"] and now.hash == ref["hash"]:
            continue
        if now is not None and now.kind == "profile":
            before = _version_body(session, ref["entry_id"], ref["version"], ref["hash"])
            if before is not None and _without(before, PROMOTION_FIELDS) == _without(
                now.body, PROMOTION_FIELDS
            ):
                continue
        changed.append(
            {
                "entry_id": ref["entry_id"],
                "kind": now.kind if now else None,
                "approved_version": ref["version"],
                "version": now.version if now else None,  # None: no longer in force
            }
        )
    return ApprovalStatus("stale" if changed else "current", approval, changed)


def _version_body(session: Session, entry_id: int, number: int, body_hash: str) -> Any:
    row = session.execute(
        sa.select(EntryVersion.body, EntryVersion.body_hash).where(
            EntryVersion.entry_id == entry_id, EntryVersion.number == number
        )
    ).first()
    if row is None or row.body_hash != body_hash:
        return None
    return json.loads(row.body)


def records_of(
    session: Session,
    system: AISystem,
    *,
    as_of: dt.datetime | None,
    effective_at: dt.datetime,
) -> list[Record]:
    state = reads.system_state(session, system, as_of=as_of, effective_at=effective_at)
    return [Record.of(e) for e in state.entries]


# What the scorecard reads of a record in force (Record.of_columns), and its system.
RECORD_COLUMNS = (
    Entry.system_id,
    Entry.id,
    Entry.kind,
    EntryVersion.number,
    EntryVersion.body_hash,
    EntryVersion.body,
    EntryVersion.effective_from,
)


def records_in_force(
    session: Session,
    system_ids: Collection[int] | None,
    *,
    kinds: list[str] | None = None,
    as_of: dt.datetime | None = None,
    effective_at: dt.datetime | None = None,
) -> dict[int, list[Record]]:
    """The records in force of several systems (None: every system) in one read
    (``reads.in_force``: the heads, or as recorded by ``as_of`` and in effect at
    ``effective_at``), by system id: the one place rows in force become the lists'
    records. Read as columns (:data:`RECORD_COLUMNS`), no ORM objects made."""
    records: dict[int, list[Record]] = {}
    statement = reads.in_force(
        system_ids, kinds=kinds, as_of=as_of, effective_at=effective_at
    ).with_only_columns(*RECORD_COLUMNS)
    for row in session.execute(statement):
        records.setdefault(row.system_id, []).append(Record.of_columns(row))
    return records


def documents_held(session: Session, system: AISystem, at: dt.datetime | None) -> tuple[Held, ...]:
    """The system's stored documents as the registry held them at ``at`` (None: all
    it holds now)."""
    return tuple(Held.of(d) for d in received_by(session, system.id, at))


def evaluate(
    session: Session,
    system: AISystem | str,
    at: dt.datetime,
    *,
    recorded_by: dt.datetime | None = None,
) -> Scorecard:
    """The scorecard of ``system`` (or its reference) at the aware instant ``at``: its
    entries as the registry had recorded them by ``at`` (or by ``recorded_by``, when
    given) and as in effect at ``at``. A pure function of the records: a scorecard as
    of a past instant is the one the registry would have shown then."""
    return evaluate_records(session, system, at, recorded_by=recorded_by)[1]


def evaluate_records(
    session: Session,
    system: AISystem | str,
    at: dt.datetime,
    *,
    recorded_by: dt.datetime | None = None,
) -> tuple[list[Record], Scorecard]:
    """As :func:`evaluate`, with the records in force it scored (for what else reads
    the same evidence: the frameworks' coverage)."""
    at = _aware(at)
    if isinstance(system, str):
        system = reads.get_system(session, system)
    as_of = _aware(recorded_by) if recorded_by is not None else at
    records = records_of(session, system, as_of=as_of, effective_at=at)
    documents = documents_held(session, system, as_of)
    return records, _scored(session, system.reference, records, documents, at)


def _scored(
    session: Session,
    reference: str,
    records: list[Record],
    documents: tuple[Held, ...],
    at: dt.datetime,
) -> Scorecard:
    return score(reference, records, at, approval_status(session, records, at), documents)


def evaluate_many(
    session: Session, systems: Sequence[AISystem] | None, at: dt.datetime
) -> list[tuple[AISystem, list[Record], Scorecard]]:
    """:func:`evaluate_records` of many systems at the aware instant ``at`` (recorded by
    and in effect at ``at``), in reference order, from one read of their entries in force
    and one of their documents (not a read per system). ``systems`` None: every system
    the register lists at ``at`` (those whose profile is in force then)."""
    at = _aware(at)
    states = reads.systems_states(session, systems, as_of=at, effective_at=at)
    if systems is None:
        states = {k: s for k, s in states.items() if any(e.kind == "profile" for e in s.entries)}
    held = received_by_systems(session, list(states), at)
    scored = []
    for state in sorted(states.values(), key=lambda s: s.system.reference):
        records = [Record.of(e) for e in state.entries]
        documents = tuple(Held.of(d) for d in held.get(state.system.id, []))
        card = _scored(session, state.system.reference, records, documents, at)
        scored.append((state.system, records, card))
    return scored
