"""The values the scorecard is made of: the records it reads, and what it found.

Everything here is plain data. :class:`Record` is one entry version as the criteria
see it; :class:`Scorecard` is the result, with :meth:`Scorecard.to_dict` giving plain
JSON values in a stable order (for the API, the web page and evidence packs).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

MET, PARTIAL, MISSING, WAIVED = "met", "partial", "missing", "waived"
NOT_ANSWERED = "not answered"


@dataclass(frozen=True)
class Held:
    """One stored evidence document as the criteria see it: what it is and until when
    it is in force (its last day; None: no end)."""

    sha256: str
    name: str
    document_type: str
    valid_until: dt.date | None
    received_at: dt.datetime

    @classmethod
    def of(cls, document: Any) -> Held:
        """From a ``documents.models.Document``."""
        return cls(
            document.sha256,
            document.name,
            document.document_type,
            document.valid_until,
            document.received_at,
        )

    def in_force(self, day: dt.date) -> bool:
        return self.valid_until is None or self.valid_until >= day

    def ref(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "name": self.name,
            "document_type": self.document_type,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
        }


@dataclass(frozen=True)
class Record:
    """One entry as the scorecard sees it: the version in force and its body."""

    entry_id: int
    kind: str
    version: int
    hash: str
    body: dict[str, Any]
    effective_from: dt.datetime

    @classmethod
    def of_columns(cls, row: Any) -> Record:
        """From a row of the entry's ``id`` and ``kind`` and the version's ``number``,
        ``body_hash``, ``body`` and ``effective_from`` (``records.reads.in_force``
        narrowed to those columns: no ORM objects made)."""
        return cls(
            row.id, row.kind, row.number, row.body_hash, json.loads(row.body), row.effective_from
        )

    @classmethod
    def of(cls, state: Any) -> Record:
        """From a ``records.reads.EntryState``."""
        v = state.version
        return cls(
            state.entry_id, state.kind, v.number, v.body_hash, json.loads(v.body), v.effective_from
        )

    def ref(self) -> dict[str, Any]:
        return {
            "entry_id": self.entry_id,
            "kind": self.kind,
            "version": self.version,
            "hash": self.hash,
        }


def refs(records: list[Record]) -> list[dict[str, Any]]:
    """Evidence references, once each, in entry order."""
    seen: dict[int, Record] = {}
    for r in records:
        seen.setdefault(r.entry_id, r)
    return [seen[k].ref() for k in sorted(seen)]


@dataclass(frozen=True)
class Finding:
    """What one criterion found."""

    key: str
    title: str
    status: str  # met, partial or missing
    explanation: str
    evidence: list[Record] = field(default_factory=list)
    documents: list[Held] = field(default_factory=list)  # stored documents it rests on

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "status": self.status,
            "explanation": self.explanation,
            "evidence": refs(self.evidence),
            "documents": [d.ref() for d in self.documents],
        }


@dataclass(frozen=True)
class AreaResult:
    key: str
    title: str
    question: str
    frameworks: dict[str, str]
    findings: list[Finding]
    waiver: Record | None = None

    @property
    def assessed(self) -> str:
        """The status from the criteria alone: met when all are met, missing when none
        is even partly there, partial otherwise."""
        statuses = {f.status for f in self.findings}
        if statuses == {MET}:
            return MET
        if statuses == {MISSING}:
            return MISSING
        return PARTIAL

    @property
    def status(self) -> str:
        assessed = self.assessed
        return WAIVED if assessed != MET and self.waiver is not None else assessed

    @property
    def passes(self) -> bool:
        return self.status in (MET, WAIVED)

    def unmet(self) -> str:
        """One line naming the area and its criteria that are not met."""
        gaps = [
            f"{f.title} ({f.status}): {f.explanation}" for f in self.findings if f.status != MET
        ]
        return f"{self.title}: " + "; ".join(gaps)

    def to_dict(self) -> dict[str, Any]:
        waiver = None
        if self.waiver is not None:
            body = self.waiver.body
            waiver = {
                **self.waiver.ref(),
                "justification": body.get("justification"),
                "approver": body.get("approver"),
                "approved_on": body.get("approved_on"),
                "expires_at": body.get("expires_at"),
            }
        return {
            "key": self.key,
            "title": self.title,
            "question": self.question,
            "status": self.status,
            "criteria": [f.to_dict() for f in self.findings],
            "waiver": waiver,
            "frameworks": dict(self.frameworks),
        }


@dataclass(frozen=True)
class Answer:
    key: str
    question: str
    answer: str  # or NOT_ANSWERED
    evidence: list[Record] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "question": self.question,
            "answer": self.answer,
            "evidence": refs(self.evidence),
        }


@dataclass(frozen=True)
class ApprovalStatus:
    """The latest promotion approval and whether the versions it relied on still hold."""

    status: str  # "current", "stale" or "none"
    approval: Record | None = None
    changed: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        if self.approval is None:
            return {"status": "none"}
        body = self.approval.body
        return {
            "status": self.status,
            **self.approval.ref(),
            "to_stage": body.get("to_stage"),
            "approver": body.get("approver"),
            "approved_at": body.get("approved_at"),
            "relied_on": len(body.get("evidence", [])),
            "changed": list(self.changed),
        }


@dataclass(frozen=True)
class Scorecard:
    system: str
    at: dt.datetime
    stage: str | None
    areas: list[AreaResult]
    questions: list[Answer]
    approval: ApprovalStatus
    due: list[Any] = field(default_factory=list)  # readiness.reviews.Due, soonest first

    @property
    def ready(self) -> bool:
        """Every area met or covered by a waiver in force."""
        return all(a.passes for a in self.areas)

    def unmet(self) -> list[AreaResult]:
        return [a for a in self.areas if not a.passes]

    def reasons(self) -> list[str]:
        return [a.unmet() for a in self.unmet()]

    def evidence(self) -> list[dict[str, Any]]:
        """Every entry version the scorecard relied on (criteria and waivers in force)."""
        records = [r for a in self.areas for f in a.findings for r in f.evidence]
        records += [a.waiver for a in self.areas if a.waiver is not None]
        return refs(records)

    def to_dict(self) -> dict[str, Any]:
        return {
            "system": self.system,
            "at": self.at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "stage": self.stage,
            "ready": self.ready,
            "unmet": [a.key for a in self.unmet()],
            "areas": [a.to_dict() for a in self.areas],
            "questions": [q.to_dict() for q in self.questions],
            "reviews_due": [d.to_dict() for d in self.due],
            "approval": self.approval.to_dict(),
        }
