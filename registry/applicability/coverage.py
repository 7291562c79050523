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
import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy.orm import Session

from registry.frameworks.catalogue import (
    EU_AI_ACT,
    ISO_42001,
    Item,
    catalogue,
    catalogues,
    crosswalk,
)
from registry.readiness.model import MET, MISSING, PARTIAL, Finding, Record, Scorecard, refs
from registry.readiness.scorecard import evaluate_many, evaluate_records
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


# The profile fields :func:`propose` reads (cover() proposes once per framework for each
# combination of them: a field propose comes to read is added here).
PROPOSAL_FIELDS = ("stage", "risk_tier", "role", "annex_iii_area")


def propose(item: Item, profile: dict[str, Any]) -> Proposal:
    """Whether ``item`` applies to a system with this profile (of its fields, only
    PROPOSAL_FIELDS), and why."""
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
class _Layout:
    """A framework's leaf items with the criteria and the kinds (applicability decisions
    aside) the crosswalk names for each: the same for every system. Items naming the
    same criteria and kinds share a group, which cover() evaluates once per system."""

    items: tuple[Item, ...]
    groups: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]  # (criteria, kinds)
    group_of: tuple[int, ...]  # per item, its group's index


@functools.cache
def _layout(framework: str) -> _Layout:
    walk = crosswalk()
    items = tuple(catalogue(framework).leaves())
    index: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
    for item in items:
        kinds = tuple(k for k in walk.kinds_of(item) if k != "applicability")
        index.setdefault((tuple(walk.criteria_of(item)), kinds), len(index))
    group_of = tuple(
        index[
            (
                tuple(walk.criteria_of(i)),
                tuple(k for k in walk.kinds_of(i) if k != "applicability"),
            )
        ]
        for i in items
    )
    return _Layout(items, tuple(index), group_of)


@functools.lru_cache(maxsize=4096)
def _proposals(framework: str, key: tuple[Any, ...]) -> tuple[Proposal, ...]:
    profile = {f: v for f, v in zip(PROPOSAL_FIELDS, key, strict=True) if v is not None}
    return tuple(propose(item, profile) for item in _layout(framework).items)


class ItemCoverage(NamedTuple):
    """One item's coverage (a named tuple: a register's coverage makes hundreds of
    thousands of these)."""

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
class FrameworkCoverage:
    """One framework's coverage of a system as :func:`cover` evaluates it: the status of
    each group of items naming the same criteria and kinds (when the item applies), each
    item's proposal, the decisions in force, and the findings and records the rows'
    criteria and evidence come from. Its rows (ItemCoverage) are made when read; its
    counts need none."""

    framework: str
    layout: _Layout
    proposals: tuple[Proposal, ...]
    statuses: tuple[str, ...]  # per group
    decided: dict[tuple[str, str], Record]
    findings: dict[str, Finding]
    by_kind: dict[str, list[Record]]

    def _decided(self, index: int) -> tuple[Record | None, bool, str]:
        """The item's decision in force, whether it applies, and its status."""
        item = self.layout.items[index]
        decision = self.decided.get((self.framework, item.id)) if self.decided else None
        if decision is None:
            applicable = self.proposals[index].applicable
        else:
            applicable = decision.body["applicable"]
        status = self.statuses[self.layout.group_of[index]] if applicable else NOT_APPLICABLE
        return decision, applicable, status

    def rows(self) -> list[ItemCoverage]:
        findings, by_kind = self.findings, self.by_kind
        groups = []
        for keys, kinds in self.layout.groups:
            criteria = tuple((k, findings[k].status) for k in keys)
            evidence = [e for k in keys for e in findings[k].evidence]
            evidence += [r for k in kinds for r in by_kind.get(k, ())]
            groups.append((criteria, tuple(evidence)))
        rows = []
        for index, item in enumerate(self.layout.items):
            decision, applicable, status = self._decided(index)
            criteria, evidence = groups[self.layout.group_of[index]]
            if decision is not None:
                evidence = (*evidence, decision)
            rows.append(
                ItemCoverage(
                    item,
                    self.proposals[index],
                    decision,
                    applicable,
                    status,
                    criteria,
                    evidence,
                )
            )
        return rows

    def counts(self) -> dict[str, int]:
        if not self.decided:
            return dict(_counts(self.proposals, self.statuses, self.layout.group_of))
        found = dict.fromkeys(STATUSES, 0)
        for index in range(len(self.layout.items)):
            found[self._decided(index)[2]] += 1
        return found


@functools.lru_cache(maxsize=4096)
def _counts(
    proposals: tuple[Proposal, ...], statuses: tuple[str, ...], group_of: tuple[int, ...]
) -> tuple[tuple[str, int], ...]:
    """The counts of items by status with no decision: as proposed."""
    found = dict.fromkeys(STATUSES, 0)
    for proposal, group in zip(proposals, group_of, strict=True):
        found[statuses[group] if proposal.applicable else NOT_APPLICABLE] += 1
    return tuple(found.items())


@dataclass(frozen=True)
class SystemCoverage:
    reference: str
    at: dt.datetime
    parts: tuple[FrameworkCoverage, ...]

    @property
    def frameworks(self) -> tuple[str, ...]:
        return tuple(p.framework for p in self.parts)

    @functools.cached_property
    def items(self) -> tuple[ItemCoverage, ...]:
        return tuple(row for p in self.parts for row in p.rows())

    def of(self, framework: str) -> list[ItemCoverage]:
        return [c for c in self.items if c.item.catalogue == framework]

    def counts(self, framework: str) -> dict[str, int]:
        (part,) = [p for p in self.parts if p.framework == framework]
        return part.counts()

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


@functools.cache
def _status(criteria: tuple[str, ...], kinds_held: tuple[bool, ...]) -> str:
    if criteria:
        if all(s == MET for s in criteria):
            return MET
        if any(s in (MET, PARTIAL) for s in criteria) or any(kinds_held):
            return PARTIAL
        return MISSING
    if kinds_held and all(kinds_held):
        return MET
    return PARTIAL if any(kinds_held) else MISSING


@functools.lru_cache(maxsize=4096)
def _group_statuses(
    framework: str, statuses: tuple[tuple[str, str], ...], held: frozenset[str]
) -> tuple[str, ...]:
    """Each group's status (when its items apply) from the criteria's statuses and the
    kinds a system holds entries of: systems alike in these share one evaluation."""
    of = dict(statuses)
    return tuple(
        _status(tuple(of[k] for k in keys), tuple(k in held for k in kinds))
        for keys, kinds in _layout(framework).groups
    )


def cover(
    records: list[Record], card: Scorecard, frameworks: tuple[str, ...] = ()
) -> SystemCoverage:
    """Coverage of every leaf item of ``frameworks`` (all by default) by the system whose
    entries in force are ``records`` and whose scorecard (of the same instant) is ``card``."""
    profile = next((r.body for r in records if r.kind == "profile"), {})
    key = tuple(profile.get(f) for f in PROPOSAL_FIELDS)
    findings = {f.key: f for area in card.areas for f in area.findings}
    statuses = tuple((k, f.status) for k, f in findings.items())
    by_kind: dict[str, list[Record]] = {}
    for r in records:
        by_kind.setdefault(r.kind, []).append(r)
    held = frozenset(by_kind)
    decided = decisions(records)
    parts = tuple(
        FrameworkCoverage(
            framework,
            _layout(framework),
            _proposals(framework, key),
            _group_statuses(framework, statuses, held),
            decided,
            findings,
            by_kind,
        )
        for framework in frameworks or tuple(catalogues())
    )
    return SystemCoverage(card.system, card.at, parts)


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


def assess_many(
    session: Session,
    at: dt.datetime,
    systems: list[AISystem] | None = None,
    frameworks: tuple[str, ...] = (),
) -> list[tuple[Scorecard, SystemCoverage]]:
    """:func:`assess_with_scorecard` of many systems (None: every system the register
    lists at ``at``), in reference order: their records read at once
    (``readiness.scorecard.evaluate_many``), each scored and covered as one system is."""
    return [
        (card, cover(records, card, frameworks))
        for _, records, card in evaluate_many(session, systems, at)
    ]


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
    chosen = None if references is None else [reads.get_system(session, r) for r in references]
    covered = [c for _, c in assess_many(session, at, chosen, (ISO_42001,))]
    systems = [c.reference for c in covered]
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
