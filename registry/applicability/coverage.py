"""Applicability and coverage of the framework catalogues, per system, as of an instant.

- :func:`propose`: which items apply to a system, from its profile (role, risk tier,
  Annex III area, stage): the registry's proposal, with the reason.
- A compliance officer's decision (an ``applicability`` entry: applicable or not, with a
  justification) overrides the proposal; it is versioned and in the ledger like every
  entry. When several decisions on one item are in force, the latest effective wins.
- :func:`cover` (pure) and :func:`assess` (from the database): each item of each
  catalogue ``met``, ``partial``, ``missing`` or ``not_applicable``, from the findings of
  the readiness criteria the crosswalk names for it and the entries in force of the
  kinds it names: the same evidence the scorecard reads, as of the same instant.
- :func:`statement`: a Statement of Applicability (one framework, one system) and
  :func:`organisation_statement`: ISO/IEC 42001's, over every system in scope.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from registry.frameworks.catalogue import (
    EU_AI_ACT,
    ISO_42001,
    Catalogue,
    Item,
    catalogue,
    catalogues,
    crosswalk,
)
from registry.readiness.model import MET, MISSING, PARTIAL, Record, Scorecard, refs
from registry.readiness.scorecard import evaluate_records
from registry.records import reads
from registry.records.models import AISystem

NOT_APPLICABLE = "not_applicable"
STATUSES = (MET, PARTIAL, MISSING, NOT_APPLICABLE)
ROLES = {"provider": {"provider"}, "deployer": {"deployer"}, "both": {"provider", "deployer"}}
# Obligations that bear on a system once it runs (monitoring it, reporting on it).
IN_OPERATION = {"art-72", "art-73", "art-19", "art-20", "art-26", "art-86"}


@dataclass(frozen=True)
class Proposal:
    applicable: bool
    reason: str


def _eu_proposal(item: Item, profile: dict[str, Any]) -> Proposal:
    if item.cls != "obligation":  # Annex IV points and Annex VIII fields: as their article
        parent = catalogue(EU_AI_ACT).item(item.parent or "")
        shown = _eu_proposal(parent, profile)
        if shown.applicable and item.roles and not set(item.roles) & _roles(profile):
            return Proposal(False, f"A list for the {', '.join(item.roles)} only.")
        return Proposal(shown.applicable, f"As {parent.ref}: {shown.reason}")
    tier = profile.get("risk_tier") or "unclassified"
    roles = _roles(profile)
    if not set(item.roles) & roles:
        return Proposal(
            False,
            f"An obligation of the {', '.join(item.roles)}; the system's "
            f"role is {profile.get('role') or 'not recorded'}.",
        )
    if tier == "unclassified" and "high" in item.tiers and item.id != "art-6":
        return Proposal(
            True, "Risk tier not classified yet: high-risk obligations are assumed until it is."
        )
    if tier not in item.tiers:
        return Proposal(False, f"For risk tier {', '.join(item.tiers)}; the system is {tier}.")
    if item.id == "art-27" and not (profile.get("annex_iii_area") or "").startswith("5"):
        return Proposal(
            False,
            "Only public bodies, public services and Annex III 5(b)-(c) "
            "systems; decide if the deployer is a public body.",
        )
    if item.id in IN_OPERATION and profile.get("stage") == "proposed":
        return Proposal(False, "The system is not in operation (stage proposed).")
    return Proposal(True, f"{tier} risk tier, role {profile.get('role')}.")


def _roles(profile: dict[str, Any]) -> set[str]:
    return ROLES.get(profile.get("role") or "", {"provider", "deployer"})


def propose(item: Item, profile: dict[str, Any]) -> Proposal:
    """Whether ``item`` applies to a system with this profile, and why."""
    if profile.get("stage") == "retired":
        return Proposal(False, "The system is retired.")
    if item.catalogue == EU_AI_ACT:
        return _eu_proposal(item, profile)
    if item.catalogue == ISO_42001:
        if item.id == "A.10.4" and "provider" not in _roles(profile):
            return Proposal(False, "The organisation does not provide the system to customers.")
        return Proposal(True, "Within the organisation's AI management system.")
    return Proposal(True, "Every subcategory applies to a system in the register.")


@dataclass(frozen=True)
class ItemCoverage:
    item: Item
    proposal: Proposal
    decision: Record | None
    applicable: bool
    status: str
    criteria: tuple[tuple[str, str], ...]  # criterion key, its status
    evidence: tuple[Record, ...]

    def to_dict(self) -> dict[str, Any]:
        decision = None
        if self.decision is not None:
            body = self.decision.body
            decision = {
                **self.decision.ref(),
                "applicable": body["applicable"],
                "justification": body["justification"],
                "decided_by": body["decided_by"],
                "decided_on": body["decided_on"],
            }
        return {
            "framework": self.item.catalogue,
            "item": self.item.id,
            "ref": self.item.ref,
            "title": self.item.title,
            "proposed": {"applicable": self.proposal.applicable, "reason": self.proposal.reason},
            "decision": decision,
            "applicable": self.applicable,
            "status": self.status,
            "criteria": [{"key": k, "status": s} for k, s in self.criteria],
            "evidence": refs(list(self.evidence)),
        }


@dataclass(frozen=True)
class SystemCoverage:
    reference: str
    at: dt.datetime
    items: tuple[ItemCoverage, ...]
    frameworks: tuple[str, ...] = field(default_factory=lambda: tuple(catalogues()))

    def of(self, framework: str) -> list[ItemCoverage]:
        return [c for c in self.items if c.item.catalogue == framework]

    def counts(self, framework: str) -> dict[str, int]:
        found = dict.fromkeys(STATUSES, 0)
        for c in self.of(framework):
            found[c.status] += 1
        return found

    def to_dict(self, framework: str | None = None) -> dict[str, Any]:
        chosen = [framework] if framework else list(self.frameworks)
        return {
            "system": self.reference,
            "at": self.at.isoformat(),
            "frameworks": [
                {
                    "id": f,
                    "title": catalogue(f).title,
                    "version": catalogue(f).version,
                    "counts": self.counts(f),
                    "items": [c.to_dict() for c in self.of(f)],
                }
                for f in chosen
            ],
        }


def decisions(records: list[Record]) -> dict[tuple[str, str], Record]:
    """The applicability decision in force per (framework, item): the latest effective."""
    found: dict[tuple[str, str], Record] = {}
    for r in sorted(
        (r for r in records if r.kind == "applicability"),
        key=lambda r: (r.effective_from, r.entry_id),
    ):
        found[(r.body["framework"], r.body["item"])] = r
    return found


def _status(criteria: list[str], kinds_held: list[bool]) -> str:
    if criteria:
        if all(s == MET for s in criteria):
            return MET
        if any(s in (MET, PARTIAL) for s in criteria) or any(kinds_held):
            return PARTIAL
        return MISSING
    if kinds_held and all(kinds_held):
        return MET
    return PARTIAL if any(kinds_held) else MISSING


def cover(
    records: list[Record], card: Scorecard, frameworks: tuple[str, ...] = ()
) -> SystemCoverage:
    """Coverage of every leaf item of ``frameworks`` (all by default) by the system whose
    entries in force are ``records`` and whose scorecard (of the same instant) is ``card``."""
    walk = crosswalk()
    profile = next((r.body for r in records if r.kind == "profile"), {})
    findings = {f.key: f for area in card.areas for f in area.findings}
    by_kind: dict[str, list[Record]] = {}
    for r in records:
        by_kind.setdefault(r.kind, []).append(r)
    decided = decisions(records)
    chosen = frameworks or tuple(catalogues())
    rows = []
    for framework in chosen:
        found: Catalogue = catalogue(framework)
        for item in found.leaves():
            proposal = propose(item, profile)
            decision = decided.get((framework, item.id))
            applicable = decision.body["applicable"] if decision else proposal.applicable
            criteria = [(k, findings[k].status) for k in walk.criteria_of(item)]
            kinds = [k for k in walk.kinds_of(item) if k != "applicability"]
            evidence = [e for k, _ in criteria for e in findings[k].evidence]
            evidence += [r for k in kinds for r in by_kind.get(k, [])]
            if decision is not None:
                evidence.append(decision)
            status = (
                _status([s for _, s in criteria], [bool(by_kind.get(k)) for k in kinds])
                if applicable
                else NOT_APPLICABLE
            )
            rows.append(
                ItemCoverage(
                    item, proposal, decision, applicable, status, tuple(criteria), tuple(evidence)
                )
            )
    return SystemCoverage(card.system, card.at, tuple(rows), chosen)


def assess(
    session: Session, system: AISystem | str, at: dt.datetime, frameworks: tuple[str, ...] = ()
) -> SystemCoverage:
    """Coverage of ``system`` at the aware instant ``at``: the entries recorded by ``at``
    and in effect at ``at``, scored as the scorecard scores them."""
    return assess_with_scorecard(session, system, at, frameworks)[1]


def assess_with_scorecard(
    session: Session, system: AISystem | str, at: dt.datetime, frameworks: tuple[str, ...] = ()
) -> tuple[Scorecard, SystemCoverage]:
    """The scorecard and the coverage of the same records (read once)."""
    records, card = evaluate_records(session, system, at)
    return card, cover(records, card, frameworks)


def statement(coverage: SystemCoverage, framework: str) -> dict[str, Any]:
    """A system's Statement of Applicability for one framework: every item, whether it
    applies (decided, or as proposed), the justification, and the entry versions that
    implement it."""
    found = catalogue(framework)
    rows = []
    for c in coverage.of(framework):
        rows.append(
            {
                "item": c.item.id,
                "ref": c.item.ref,
                "title": c.item.title,
                "applicable": c.applicable,
                "decided": c.decision is not None,
                "justification": c.decision.body["justification"]
                if c.decision
                else c.proposal.reason,
                "status": c.status,
                "implemented_by": refs(list(c.evidence)),
            }
        )
    return {
        "system": coverage.reference,
        "at": coverage.at.isoformat(),
        "framework": found.id,
        "title": found.title,
        "version": found.version,
        "items": rows,
    }


def organisation_statement(
    session: Session, at: dt.datetime, references: list[str] | None = None
) -> dict[str, Any]:
    """The organisation's ISO/IEC 42001 Statement of Applicability: every Annex A control
    over the systems in scope (all live systems by default). A control applies when it
    applies to any system; met when met for every system it applies to."""
    if references is None:
        rows = reads.register(session, as_of=at, effective_at=at)
        references = sorted(row.system.reference for row in rows)
    systems = references
    covered = [assess(session, ref, at, (ISO_42001,)) for ref in systems]
    rows = []
    for item in catalogue(ISO_42001).leaves():
        per_system = []
        for cov in covered:
            c = next(x for x in cov.items if x.item == item)
            per_system.append(
                {
                    "system": cov.reference,
                    "applicable": c.applicable,
                    "status": c.status,
                    "justification": c.decision.body["justification"]
                    if c.decision
                    else c.proposal.reason,
                    "implemented_by": refs(list(c.evidence)),
                }
            )
        applying = [p for p in per_system if p["applicable"]]
        if not applying:
            status = NOT_APPLICABLE
        elif all(p["status"] == MET for p in applying):
            status = MET
        elif all(p["status"] == MISSING for p in applying):
            status = MISSING
        else:
            status = PARTIAL
        rows.append(
            {
                "item": item.id,
                "title": item.title,
                "applicable": bool(applying),
                "status": status,
                "systems": per_system,
            }
        )
    return {"at": at.isoformat(), "framework": ISO_42001, "systems": systems, "items": rows}
