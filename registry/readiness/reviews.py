"""When reviews fall due.

A review procedure with a frequency (``frequency_days``) is due that many days after
its last performed review; a performed review may bring the next one forward with its
own ``next_due``. A procedure never performed is due that many days after it took
effect. A monitoring plan with a ``review_frequency_days`` is due that many days after
the later of its own version taking effect and the last performed periodic review
(the periodic review is where monitoring results are reviewed). Everything is relative
to the instant asked about: nothing here reads the clock.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from registry.readiness.model import Record


@dataclass(frozen=True)
class Due:
    """One review that falls due: for a review procedure or a monitoring plan."""

    subject: Record
    due_on: dt.date
    last_performed: dt.date | None
    overdue: bool
    evidence: list[Record] = field(default_factory=list)

    @property
    def title(self) -> str:
        if self.subject.kind == "monitoring_plan":
            return "Monitoring plan review"
        kind = str(self.subject.body.get("type", "review")).replace("_", " ")
        return f"{kind[:1].upper()}{kind[1:]} review"

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.subject.ref(),
            "title": self.title,
            "due_on": self.due_on.isoformat(),
            "last_performed": self.last_performed.isoformat() if self.last_performed else None,
            "overdue": self.overdue,
        }


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def performed(reviews: list[Record], procedure_id: int, today: dt.date) -> list[Record]:
    """The reviews of one procedure performed by ``today``, latest first."""
    done = [
        r
        for r in reviews
        if r.body.get("procedure_entry_id") == procedure_id
        and (_date(r.body.get("performed_on")) or dt.date.max) <= today
    ]
    return sorted(done, key=lambda r: (r.body["performed_on"], r.entry_id), reverse=True)


def procedure_due(procedure: Record, reviews: list[Record], at: dt.datetime) -> Due | None:
    """When ``procedure`` is next due as of ``at`` (None: it sets no frequency and no
    performed review names a next date)."""
    today = at.astimezone(dt.UTC).date()
    frequency = procedure.body.get("frequency_days")
    done = performed(reviews, procedure.entry_id, today)
    last = done[0] if done else None
    candidates: list[dt.date] = []
    if last is not None:
        performed_on = _date(last.body["performed_on"])
        assert performed_on is not None
        if frequency:
            candidates.append(performed_on + dt.timedelta(days=frequency))
        if last.body.get("next_due"):
            candidates.append(_date(last.body["next_due"]))  # type: ignore[arg-type]
    elif frequency:
        started = procedure.effective_from.astimezone(dt.UTC).date()
        candidates.append(started + dt.timedelta(days=frequency))
    if not candidates:
        return None
    due_on = min(candidates)
    return Due(
        procedure,
        due_on,
        _date(last.body["performed_on"]) if last else None,
        due_on < today,
        [procedure, *([last] if last else [])],
    )


def monitoring_due(
    plan: Record, procedures: list[Record], reviews: list[Record], at: dt.datetime
) -> Due | None:
    """When the monitoring plan's review is due as of ``at`` (None without a frequency)."""
    frequency = plan.body.get("review_frequency_days")
    if not frequency:
        return None
    today = at.astimezone(dt.UTC).date()
    latest = plan.effective_from.astimezone(dt.UTC).date()
    evidence = [plan]
    last_review: dt.date | None = None
    for procedure in procedures:
        if procedure.body.get("type") != "periodic":
            continue
        done = performed(reviews, procedure.entry_id, today)
        if done:
            on = _date(done[0].body["performed_on"])
            assert on is not None
            if last_review is None or on > last_review:
                last_review = on
                evidence = [plan, procedure, done[0]]
    if last_review is not None and last_review > latest:
        latest = last_review
    due_on = latest + dt.timedelta(days=frequency)
    return Due(plan, due_on, last_review, due_on < today, evidence)


def reviews_due(records: list[Record], at: dt.datetime) -> list[Due]:
    """Every due date of a system's review procedures and monitoring plans, soonest
    first."""
    procedures = [r for r in records if r.kind == "review_procedure"]
    reviews = [r for r in records if r.kind == "review"]
    found = [procedure_due(p, reviews, at) for p in procedures]
    found += [
        monitoring_due(m, procedures, reviews, at) for m in records if m.kind == "monitoring_plan"
    ]
    return sorted((d for d in found if d is not None), key=lambda d: (d.due_on, d.subject.entry_id))
