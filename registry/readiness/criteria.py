"""The readiness criteria: the ten areas, what each criterion asks of the records, and
the five questions before scaling. This module is meant to be read by a compliance
officer; every rule is stated once, in its ``rule`` text and in the function below it.

Every criterion looks only at the entries in force at the instant asked about (a
:class:`Facts`), and says ``met``, ``partial`` or ``missing``, with one line of
explanation and the entry versions it looked at. "In term", "expired" and "overdue"
are all relative to that instant: nothing here reads the clock.

An area is met when all its criteria are met, missing when none is even partly met,
and partial otherwise. A system is ready for production when every area is met or
covered by a waiver in force (a ``waiver`` entry for the area, granted by a compliance
officer, whose ``expires_at`` is after the instant).

Framework references are data: the crosswalk of ``registry.frameworks`` (its
areas' labels, and the catalogue items each criterion evidences).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from registry.frameworks.catalogue import area_labels
from registry.readiness.model import MET, MISSING, NOT_ANSWERED, PARTIAL, Held, Record
from registry.readiness.reviews import Due, reviews_due
from registry.records.kinds import (
    READINESS_AREAS,
    art_73_deadline,  # Art 73: the reporting deadline
)
from registry.terms import in_term

# Log retention the EU AI Act asks of deployers and providers: at least six months
# (Art 19(1), 26(6)); 183 days cover any six calendar months.
MIN_LOG_RETENTION_DAYS = 183
HIGH_RESIDUAL = ("high", "critical")


# ----------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class Facts:
    """A system's entries in force at ``at``, as the criteria read them."""

    at: dt.datetime
    records: list[Record]
    documents: tuple[Held, ...] = ()  # the system's stored documents, as held at ``at``

    @property
    def today(self) -> dt.date:
        return self.at.astimezone(dt.UTC).date()

    def of(self, kind: str) -> list[Record]:
        return list(self._by_kind.get(kind, ()))

    @functools.cached_property
    def _by_kind(self) -> dict[str, list[Record]]:
        """The records by kind, in their order (the criteria ask for kinds often)."""
        found: dict[str, list[Record]] = {}
        for r in self.records:
            found.setdefault(r.kind, []).append(r)
        return found

    @property
    def profile(self) -> Record | None:
        found = self.of("profile")
        return found[0] if found else None

    def owners(self, role: str) -> tuple[list[Record], list[Record]]:
        """Owner entries of ``role``: those in term at ``at``, and the others."""
        owners = [o for o in self.of("owner") if o.body.get("role") == role]
        current = [o for o in owners if in_term(o.body, self.today)]
        return current, [o for o in owners if o not in current]

    @functools.cached_property
    def due(self) -> list[Due]:
        """When the reviews fall due (computed once: several criteria and the scorecard
        read it)."""
        return reviews_due(self.records, self.at)

    def instant(self, text: str | None) -> dt.datetime | None:
        return dt.datetime.fromisoformat(text) if text else None

    def documents_of(self, document_type: str) -> tuple[list[Held], list[Held]]:
        """Stored documents of ``document_type``: those in force at ``at`` (no end, or
        their last day not before it), and the expired ones."""
        found = [d for d in self.documents if d.document_type == document_type]
        current = [d for d in found if d.in_force(self.today)]
        return current, [d for d in found if d not in current]


def stored_evidence(facts: Facts, document_type: str, noun: str) -> tuple[str, str, list[Held]]:
    """Whether a stored document of ``document_type`` is in force: met (naming it),
    partial when every one has expired (naming the last day of the latest), missing
    when none is stored; with the document it rests on (the criterion cites it). The
    clause says the document by ``noun``, without article ("test report"): "the test
    report 'r.pdf' is stored", "no test report document is stored"."""
    current, expired = facts.documents_of(document_type)
    if current:
        latest = max(current, key=lambda d: d.received_at)
        until = f", valid until {latest.valid_until}" if latest.valid_until else ""
        return MET, f"the {noun} {latest.name!r} is stored{until}", [latest]
    if expired:
        latest = max(expired, key=lambda d: d.valid_until or dt.date.min)
        return PARTIAL, f"the {noun} {latest.name!r} expired on {latest.valid_until}", [latest]
    return MISSING, f"no {noun} document is stored", []


def name(person: dict[str, Any] | None) -> str:
    return str((person or {}).get("name", "someone unnamed"))


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# ----------------------------------------------------------------------------- structure

# status, explanation, evidence; and the stored documents cited, where one is relied on
Outcome = tuple[str, str, list[Record]] | tuple[str, str, list[Record], list[Held]]


@dataclass(frozen=True)
class Criterion:
    key: str
    title: str
    rule: str  # met when …; partial when …; missing when …
    check: Callable[[Facts], Outcome]


@dataclass(frozen=True)
class Area:
    key: str
    title: str
    question: str
    frameworks: dict[str, str]  # eu_ai_act, iso_42001, nist_ai_rmf
    criteria: tuple[Criterion, ...]


# ----------------------------------------------------------------------------- ownership


def _owner(facts: Facts, role: str) -> Outcome:
    current, other = facts.owners(role)
    if current:
        names = ", ".join(
            f"{name(o.body['person'])} <{o.body['person']['email']}>" for o in current
        )
        return MET, f"{names} ({role} owner, in term).", current
    if other:
        return (
            PARTIAL,
            f"A {role} owner is recorded, but their term has not begun or has ended.",
            other,
        )
    return MISSING, f"No {role} owner is recorded.", []


def business_owner(facts: Facts) -> Outcome:
    return _owner(facts, "business")


def business_case(facts: Facts) -> Outcome:
    profile = facts.profile
    if profile is None:
        return MISSING, "No profile.", []
    have = [k for k in ("purpose", "business_value") if profile.body.get(k)]
    if len(have) == 2:
        return MET, "The profile states the purpose and the business value.", [profile]
    if have:
        lacking = "business value" if "purpose" in have else "purpose"
        return PARTIAL, f"The profile does not state the {lacking}.", [profile]
    return MISSING, "The profile states neither the purpose nor the business value.", [profile]


def technical_owner(facts: Facts) -> Outcome:
    return _owner(facts, "technical")


def continuity(facts: Facts) -> Outcome:
    current, _ = facts.owners("technical")
    if len(current) > 1:
        return MET, f"{len(current)} technical owners in term.", current
    with_delegate = [o for o in current if o.body.get("delegate")]
    if with_delegate:
        o = with_delegate[0]
        return MET, f"{name(o.body['person'])} has a delegate: {name(o.body['delegate'])}.", [o]
    escalation = [o for o in current if o.body.get("escalation_contact")]
    if escalation:
        return (
            PARTIAL,
            "The technical owner has an escalation contact but no delegate to maintain the "
            "system in their absence.",
            escalation,
        )
    return (
        MISSING,
        "No delegate or second technical owner: the system depends on one person.",
        current,
    )


# ----------------------------------------------------------------------------- data


def _personal(source: Record) -> bool:
    return bool(
        source.body.get("personal_data_categories") or source.body.get("special_categories")
    )


def data_governed(facts: Facts) -> Outcome:
    sources = facts.of("data_source")
    if not sources:
        return MISSING, "No data source is recorded.", []

    def lacks(s: Record) -> list[str]:
        gaps = [
            label
            for key, label in (("steward", "steward"), ("retention", "retention"))
            if not s.body.get(key)
        ]
        if _personal(s) and not s.body.get("lawful_basis"):
            gaps.append("lawful basis")
        return gaps

    ungoverned = [(s, lacks(s)) for s in sources if lacks(s)]
    if not ungoverned:
        return (
            MET,
            f"{count(len(sources), 'data source')}, each with a steward, retention and "
            "(for personal data) a lawful basis.",
            sources,
        )
    listed = "; ".join(f"{s.body.get('name')}: no {', '.join(g)}" for s, g in ungoverned)
    return PARTIAL, f"Not governed: {listed}.", sources


def data_quality(facts: Facts) -> Outcome:
    sources = facts.of("data_source")
    if not sources:
        return MISSING, "No data source is recorded.", []
    notes = ("quality_notes", "representativeness_notes", "known_bias", "gaps")
    documented = [s for s in sources if any(s.body.get(k) for k in notes)]
    if len(documented) == len(sources):
        return (
            MET,
            "Every data source documents its quality, representativeness, bias or gaps.",
            sources,
        )
    if documented:
        undocumented = ", ".join(str(s.body.get("name")) for s in sources if s not in documented)
        return PARTIAL, f"No quality or bias notes for: {undocumented}.", sources
    return (
        MISSING,
        "No data source documents its quality, representativeness, bias or gaps.",
        sources,
    )


def dpia(facts: Facts) -> Outcome:
    sources = facts.of("data_source")
    profile = facts.profile
    if not sources or profile is None:
        return MISSING, "No data source is recorded, so whether a DPIA is needed is unknown.", []
    personal = [s for s in sources if _personal(s)]
    if not personal:
        return (
            MET,
            "No data source records personal data: no DPIA is needed (GDPR Art 35).",
            sources,
        )
    status = profile.body.get("dpia_status")
    if status == "done":
        ref = profile.body.get("dpia_reference")
        stored, said, cited = stored_evidence(facts, "dpia", "DPIA")
        return (
            MET if stored == MET else PARTIAL,
            f"Personal data is processed and the DPIA is done{f' ({ref})' if ref else ''}; {said}.",
            [profile, *personal],
            cited,
        )
    if profile.body.get("dpia_reference"):
        return (
            PARTIAL,
            "Personal data is processed; the DPIA is referenced but not done "
            f"({status or 'status not stated'}).",
            [profile, *personal],
        )
    return MISSING, "Personal data is processed and no DPIA is recorded.", [profile, *personal]


# ----------------------------------------------------------------------------- integration


def _active_integrations(facts: Facts) -> list[Record]:
    return [i for i in facts.of("integration") if i.body.get("status") != "retired"]


def integrations(facts: Facts) -> Outcome:
    active = _active_integrations(facts)
    if not active:
        return (
            MISSING,
            "No integration with the systems and workflows it will run in is recorded.",
            [],
        )
    proven = [i for i in active if i.body.get("status") in ("live", "tested")]
    if proven:
        names = ", ".join(str(i.body.get("name")) for i in proven)
        return MET, f"Live or tested: {names}.", active
    return (
        PARTIAL,
        f"{count(len(active), 'integration')} recorded, none tested or live yet.",
        active,
    )


def fallbacks(facts: Facts) -> Outcome:
    active = _active_integrations(facts)
    with_fallback = [i for i in active if i.body.get("fallback")]
    if not active or not with_fallback:
        return MISSING, "No integration says what happens when the connection fails.", active
    if len(with_fallback) == len(active):
        return MET, "Every integration has a fallback for when it fails.", active
    lacking = ", ".join(str(i.body.get("name")) for i in active if i not in with_fallback)
    return PARTIAL, f"No fallback for: {lacking}.", active


# ----------------------------------------------------------------------------- adoption


def adoption_plan(facts: Facts) -> Outcome:
    plans = facts.of("adoption_plan")
    if not plans:
        return MISSING, "No adoption plan is recorded.", []
    complete = [p for p in plans if p.body.get("training") and p.body.get("support_pathway")]
    if complete:
        p = complete[0]
        return (
            MET,
            f"{count(len(p.body['user_groups']), 'user group')} "
            "with training and a support pathway.",
            plans,
        )
    return PARTIAL, "The adoption plan lacks training or a support pathway.", plans


def success_metric(facts: Facts) -> Outcome:
    plans = facts.of("adoption_plan")
    for p in plans:
        if p.body.get("success_metric") and p.body.get("success_threshold"):
            return MET, f"{p.body['success_metric']}: {p.body['success_threshold']}.", [p]
    named = [p for p in plans if p.body.get("success_metric")]
    if named:
        return (
            PARTIAL,
            "A success metric is named without the threshold that decides success.",
            named,
        )
    return MISSING, "No production metric decides success.", plans


# ----------------------------------------------------------------------------- risk


def classification(facts: Facts) -> Outcome:
    profile = facts.profile
    tier = profile.body.get("risk_tier") if profile else None
    evidence = [profile] if profile else []
    if tier in ("high", "limited", "minimal"):
        return MET, f"Classified {tier} risk under the EU AI Act.", evidence
    if tier == "prohibited":
        return (
            MISSING,
            "Classified as a prohibited practice (Art 5): it may not be put into service.",
            evidence,
        )
    return PARTIAL, "The EU AI Act risk tier is not yet determined.", evidence


def risk_register(facts: Facts) -> Outcome:
    risks = facts.of("risk")
    if not risks:
        return MISSING, "No risk is recorded.", []

    def problem(r: Record) -> str | None:
        if not r.body.get("control"):
            return "no control"
        if not r.body.get("residual_risk"):
            return "no residual risk"
        if r.body["residual_risk"] in HIGH_RESIDUAL and not r.body.get("accepted_by"):
            return f"{r.body['residual_risk']} residual risk not accepted"
        return None

    problems = [(r, p) for r in risks if (p := problem(r))]
    if not problems:
        return (
            MET,
            f"{count(len(risks), 'risk')}, "
            "each controlled, with a residual risk, high ones accepted.",
            risks,
        )
    listed = "; ".join(f"{r.body.get('title')}: {p}" for r, p in problems)
    return PARTIAL, listed + ".", risks


def _may_stop(grant: Record, at: dt.datetime, facts: Facts) -> bool:
    b = grant.body
    revoked, expires = facts.instant(b.get("revoked_at")), facts.instant(b.get("expires_at"))
    return (
        bool(b.get("can_stop"))
        and (revoked is None or revoked > at)
        and (expires is None or expires > at)
    )


def human_oversight(facts: Facts) -> Outcome:
    procedures = [
        p
        for p in facts.of("review_procedure")
        if p.body.get("type") == "human_oversight" and p.body.get("stop_mechanism")
    ]
    stoppers = [g for g in facts.of("access_grant") if _may_stop(g, facts.at, facts)]
    if procedures and stoppers:
        return (
            MET,
            (
                "A human oversight procedure with a stop mechanism, and someone with the "
                "right to stop it."
            ),
            procedures + stoppers,
        )
    if procedures:
        return (
            PARTIAL,
            (
                "A human oversight procedure exists, but no access grant gives anyone the "
                "right to stop the system."
            ),
            procedures,
        )
    if stoppers:
        return (
            PARTIAL,
            "Someone may stop the system, but no human oversight procedure says when and how.",
            stoppers,
        )
    return MISSING, "No human oversight procedure and no one with the right to stop the system.", []


def reviews_on_time(facts: Facts) -> Outcome:
    procedures = facts.of("review_procedure")
    if not procedures:
        return MISSING, "No review procedure: oversight would be a one-time review.", []
    due = [d for d in facts.due if d.subject.kind == "review_procedure"]
    evidence = [r for d in due for r in d.evidence] or procedures
    overdue = [d for d in due if d.overdue]
    if overdue:
        listed = ", ".join(f"{d.title.lower()} due {d.due_on.isoformat()}" for d in overdue)
        return PARTIAL, f"Overdue: {listed}.", evidence
    if not due:
        return (
            PARTIAL,
            "No review procedure sets a frequency, so no review ever falls due.",
            procedures,
        )
    soonest = due[0]
    return (
        MET,
        f"No review overdue; next: {soonest.title.lower()} on {soonest.due_on.isoformat()}.",
        evidence,
    )


# ----------------------------------------------------------------------------- auditability


def logging(facts: Facts) -> Outcome:
    plans = facts.of("monitoring_plan")
    for p in plans:
        days = p.body.get("log_retention_days") or 0
        if p.body.get("log_sources") and days >= MIN_LOG_RETENTION_DAYS:
            return (
                MET,
                f"Logs from {count(len(p.body['log_sources']), 'source')}, kept {days} days.",
                [p],
            )
    if any(p.body.get("log_sources") or p.body.get("log_retention_days") for p in plans):
        return (
            PARTIAL,
            f"Log sources or a retention of at least {MIN_LOG_RETENTION_DAYS} days "
            "(Art 19, 26(6)) are not recorded.",
            plans,
        )
    return MISSING, "No monitoring plan records which logs are kept and for how long.", plans


def change_control(facts: Facts) -> Outcome:
    changes = facts.of("change_log")
    if not changes:
        return MISSING, "No change log is recorded.", []
    needed = ("test_evidence", "approver", "rollback_plan")
    incomplete = [c for c in changes if not all(c.body.get(k) for k in needed)]
    stored, said, cited = stored_evidence(facts, "test_report", "test report")
    if not incomplete:
        return (
            MET if stored == MET else PARTIAL,
            f"{count(len(changes), 'change')}, "
            f"each with test evidence, an approver and a rollback plan; {said}.",
            changes,
            cited,
        )
    listed = ", ".join(str(c.body.get("summary"))[:60] for c in incomplete)
    return (
        PARTIAL,
        f"Without test evidence, approver or rollback plan: {listed}; {said}.",
        changes,
        cited,
    )


def model_card(facts: Facts) -> Outcome:
    profile = facts.profile
    evidence = [profile] if profile else []
    if profile is None or profile.body.get("risk_tier") != "high":
        return MET, "Not classified high-risk: no model card is required here.", evidence
    status, said, cited = stored_evidence(facts, "model_card", "model card")
    return status, f"High-risk (Art 11, Annex IV): {said}.", evidence, cited


def reviews_performed(facts: Facts) -> Outcome:
    done = [
        r
        for r in facts.of("review")
        if r.body.get("performed_on", "9999") <= facts.today.isoformat()
    ]
    if done:
        latest = max(done, key=lambda r: r.body["performed_on"])
        return (
            MET,
            f"{count(len(done), 'performed review')}, the latest on "
            f"{latest.body['performed_on']} ({latest.body.get('decision')}).",
            done,
        )
    procedures = facts.of("review_procedure")
    if procedures:
        return PARTIAL, "Review procedures exist, but no review has been performed yet.", procedures
    return MISSING, "No review procedure and no performed review.", []


# ----------------------------------------------------------------------------- monitoring


def metrics_and_alerts(facts: Facts) -> Outcome:
    plans = facts.of("monitoring_plan")
    if not plans:
        return MISSING, "No monitoring plan is recorded.", []
    for p in plans:
        with_threshold = [m for m in p.body.get("metrics", []) if m.get("threshold") is not None]
        if with_threshold and p.body.get("alert_routing"):
            return (
                MET,
                f"{count(len(with_threshold), 'metric')} with thresholds; "
                f"alerts go to: {p.body['alert_routing'][:80]}.",
                [p],
            )
    return PARTIAL, "The monitoring plan lacks a metric with a threshold or an alert route.", plans


def drift_detection(facts: Facts) -> Outcome:
    plans = facts.of("monitoring_plan")
    drift = [
        (p, m) for p in plans for m in p.body.get("metrics", []) if m.get("category") == "drift"
    ]
    if any(m.get("threshold") is not None for _, m in drift):
        names = ", ".join(str(m["name"]) for _, m in drift if m.get("threshold") is not None)
        return MET, f"Drift watched: {names}.", [p for p, _ in drift]
    if drift:
        return PARTIAL, "A drift metric is named without a threshold.", [p for p, _ in drift]
    return MISSING, "No drift metric: a change in the data would go unnoticed.", plans


def plan_review(facts: Facts) -> Outcome:
    plans = facts.of("monitoring_plan")
    if not plans:
        return MISSING, "No monitoring plan is recorded.", []
    due = [d for d in facts.due if d.subject.kind == "monitoring_plan"]
    if not due:
        return PARTIAL, "The monitoring plan sets no review frequency.", plans
    late = [d for d in due if d.overdue]
    evidence = [r for d in due for r in d.evidence]
    if late:
        return (
            PARTIAL,
            f"The monitoring plan's review was due on {late[0].due_on.isoformat()}.",
            evidence,
        )
    return (
        MET,
        f"The monitoring plan's next review is due on {due[0].due_on.isoformat()}.",
        evidence,
    )


# ----------------------------------------------------------------------------- failure


def incident_procedure(facts: Facts) -> Outcome:
    procedures = facts.of("incident_procedure")
    if not procedures:
        return MISSING, "No incident procedure is recorded.", []
    for p in procedures:
        if p.body.get("escalation_path") and p.body.get("fallback"):
            return (
                MET,
                f"Escalation in {count(len(p.body['escalation_path']), 'step')}; "
                f"fallback: {p.body['fallback'][:80]}.",
                [p],
            )
    return PARTIAL, "The incident procedure lacks an escalation path or a fallback.", procedures


def stop_and_intake(facts: Facts) -> Outcome:
    procedures = facts.of("incident_procedure")
    for p in procedures:
        if p.body.get("intake_channel") and p.body.get("kill_switch"):
            return MET, "Incidents have an intake channel, and a kill switch stops the system.", [p]
    if any(p.body.get("intake_channel") or p.body.get("kill_switch") for p in procedures):
        return (
            PARTIAL,
            "The incident procedure lacks an intake channel or a kill switch.",
            procedures,
        )
    return MISSING, "No intake channel for incidents and no kill switch.", procedures


def serious_incidents(facts: Facts) -> Outcome:
    serious = []
    for i in facts.of("incident"):
        if not i.body.get("serious"):
            continue
        aware = facts.instant(i.body.get("became_aware_at")) or facts.instant(i.body["detected_at"])
        assert aware is not None
        if aware > facts.at:
            continue
        deadline = art_73_deadline(i.body)
        assert deadline is not None
        reported = facts.instant(i.body.get("reported_at"))
        if reported is not None and reported > facts.at:
            reported = None  # not yet reported at that instant
        serious.append((i, deadline, reported))
    overdue = [i for i, deadline, reported in serious if reported is None and facts.at > deadline]
    if overdue:
        titles = ", ".join(str(i.body.get("title")) for i in overdue)
        return (
            MISSING,
            f"Serious incident not reported within the Art 73 deadline: {titles}.",
            overdue,
        )
    late_open = [
        i
        for i, deadline, reported in serious
        if reported is not None
        and reported > deadline
        and i.body.get("status") in ("open", "contained")
    ]
    if late_open:
        titles = ", ".join(str(i.body.get("title")) for i in late_open)
        return (
            PARTIAL,
            f"Reported after the Art 73 deadline and not yet resolved: {titles}.",
            late_open,
        )
    if serious:
        return (
            MET,
            f"{count(len(serious), 'serious incident')}, reported in time or not yet due.",
            [i for i, _, _ in serious],
        )
    return MET, "No serious incident recorded.", []


# ----------------------------------------------------------------------------- funding


def _current_funding(facts: Facts) -> tuple[list[Record], list[Record]]:
    funding = facts.of("funding")
    current = [f for f in funding if in_term(f.body, facts.today)]
    return current, funding


def funding_current(facts: Facts) -> Outcome:
    current, funding = _current_funding(facts)
    if not funding:
        return MISSING, "No funding is recorded.", []
    for f in current:
        if f.body.get("budget") and "run" in (f.body.get("covers") or []):
            until = f.body.get("end")
            return (
                MET,
                f"{f.body['funder']} pays to run it{f' until {until}' if until else ''}.",
                [f],
            )
    if current:
        return (
            PARTIAL,
            "Funding is recorded for now, but without a budget or not covering running costs.",
            current,
        )
    return PARTIAL, "Funding is recorded, but its period has ended or not yet begun.", funding


def improvement_funded(facts: Facts) -> Outcome:
    current, funding = _current_funding(facts)
    if not current:
        return MISSING, "No funding in its period.", funding
    improving = [f for f in current if "improve" in (f.body.get("covers") or [])]
    if improving:
        return MET, f"{improving[0].body['funder']} also pays to improve it.", improving
    return (
        PARTIAL,
        "Current funding does not cover improvement (retraining, fixes, new versions).",
        current,
    )


# ----------------------------------------------------------------------------- the areas

AREAS: tuple[Area, ...] = (
    Area(
        "business_ownership",
        "Business ownership",
        "Who is accountable for the outcome?",
        area_labels("business_ownership"),
        (
            Criterion(
                "business_owner",
                "Accountable owner",
                (
                    "Met when an owner entry of role business names a person (with an e-mail)"
                    " whose term has begun and not ended; partial when one is recorded out of"
                    " term; missing when none is."
                ),
                business_owner,
            ),
            Criterion(
                "business_case",
                "Purpose and business value",
                (
                    "Met when the profile states both the purpose and the business value; "
                    "partial with one; missing with neither."
                ),
                business_case,
            ),
        ),
    ),
    Area(
        "technical_ownership",
        "Technical ownership",
        "Who maintains and improves it?",
        area_labels("technical_ownership"),
        (
            Criterion(
                "technical_owner",
                "Maintainer",
                (
                    "Met when an owner entry of role technical names a person whose term has "
                    "begun and not ended; partial when one is recorded out of term; missing "
                    "when none is."
                ),
                technical_owner,
            ),
            Criterion(
                "continuity",
                "Cover for the maintainer",
                (
                    "Met when a technical owner in term has a delegate, or two are in term; "
                    "partial with only an escalation contact; missing otherwise."
                ),
                continuity,
            ),
        ),
    ),
    Area(
        "data_readiness",
        "Data readiness",
        "Is the data reliable, accessible, governed?",
        area_labels("data_readiness"),
        (
            Criterion(
                "data_governed",
                "Governed data sources",
                (
                    "Met when every data source has a steward, a retention period and, for "
                    "personal data, a lawful basis; partial when some lack one; missing when "
                    "no data source is recorded."
                ),
                data_governed,
            ),
            Criterion(
                "data_quality",
                "Quality, bias and gaps documented",
                (
                    "Met when every data source has quality, representativeness, bias or gap "
                    "notes (Art 10(2)(f)-(h)); partial when some do; missing when none does."
                ),
                data_quality,
            ),
            Criterion(
                "dpia",
                "Data protection impact assessment",
                (
                    "Met when no data source holds personal data, or the profile's DPIA "
                    "status is done and a stored DPIA document is in force; partial when the "
                    "DPIA is done without one in force (none stored, or expired), or is "
                    "referenced but not done; missing otherwise."
                ),
                dpia,
            ),
        ),
    ),
    Area(
        "integration_readiness",
        "Integration readiness",
        "Can it connect to real workflows?",
        area_labels("integration_readiness"),
        (
            Criterion(
                "integrations",
                "Connected to the workflow",
                (
                    "Met when an integration (not retired) is live or tested; partial when "
                    "integrations are only planned; missing when none is recorded."
                ),
                integrations,
            ),
            Criterion(
                "fallbacks",
                "Fallback when a connection fails",
                (
                    "Met when every integration has a fallback; partial when some do; missing"
                    " when none does."
                ),
                fallbacks,
            ),
        ),
    ),
    Area(
        "user_adoption",
        "User adoption",
        "Who will use it and why?",
        area_labels("user_adoption"),
        (
            Criterion(
                "adoption_plan",
                "Users, training and support",
                (
                    "Met when an adoption plan names user groups, training and a support "
                    "pathway; partial when it lacks training or support; missing without a "
                    "plan."
                ),
                adoption_plan,
            ),
            Criterion(
                "success_metric",
                "Production metric of success",
                (
                    "Met when the adoption plan names the production metric and its "
                    "threshold; partial with the metric alone; missing otherwise."
                ),
                success_metric,
            ),
        ),
    ),
    Area(
        "risk_controls",
        "Risk controls",
        "What are the limits and oversight?",
        area_labels("risk_controls"),
        (
            Criterion(
                "classification",
                "Risk classification",
                (
                    "Met when the profile's EU AI Act tier is high, limited or minimal; "
                    "partial when unclassified or not stated; missing when prohibited (Art "
                    "5)."
                ),
                classification,
            ),
            Criterion(
                "risk_register",
                "Risk register",
                (
                    "Met when every recorded risk has a control and a residual risk, and high"
                    " or critical residual risks are accepted by someone; partial otherwise; "
                    "missing when no risk is recorded."
                ),
                risk_register,
            ),
            Criterion(
                "human_oversight",
                "Human oversight and the right to stop",
                (
                    "Met when a human oversight review procedure states a stop mechanism and "
                    "an access grant in force lets someone stop the system (Art 14(4)(e)); "
                    "partial with one of the two; missing with neither."
                ),
                human_oversight,
            ),
            Criterion(
                "reviews_on_time",
                "Ongoing review, not a one-time one",
                (
                    "Met when review procedures set a frequency and none is overdue; partial "
                    "when one is overdue or none sets a frequency; missing without a review "
                    "procedure."
                ),
                reviews_on_time,
            ),
        ),
    ),
    Area(
        "auditability",
        "Auditability",
        "Can outputs be explained, evidenced, reviewed?",
        area_labels("auditability"),
        (
            Criterion(
                "logging",
                "Logs kept",
                "Met when a monitoring plan names log sources and keeps logs at least "
                f"{MIN_LOG_RETENTION_DAYS} days (Art 19, 26(6)); partial with one of the two; "
                "missing otherwise.",
                logging,
            ),
            Criterion(
                "change_control",
                "Changes evidenced",
                (
                    "Met when every change log has test evidence, an approver and a rollback "
                    "plan, and a stored test report is in force; partial when some lack one, "
                    "or no test report is in force (none stored, or expired); missing "
                    "without change logs."
                ),
                change_control,
            ),
            Criterion(
                "model_card",
                "Model card (high-risk)",
                (
                    "Met when the system is not classified high-risk, or a stored model card "
                    "is in force (Art 11, Annex IV); partial when the model card expired; "
                    "missing when none is stored."
                ),
                model_card,
            ),
            Criterion(
                "reviews_performed",
                "Reviews performed",
                (
                    "Met when at least one review has been performed; partial when review "
                    "procedures exist but none was performed; missing otherwise."
                ),
                reviews_performed,
            ),
        ),
    ),
    Area(
        "monitoring",
        "Monitoring",
        "How are performance and drift tracked?",
        area_labels("monitoring"),
        (
            Criterion(
                "metrics_and_alerts",
                "Metrics, thresholds, alerts",
                (
                    "Met when a monitoring plan has at least one metric with a threshold and "
                    "an alert route; partial when it lacks either; missing without a plan."
                ),
                metrics_and_alerts,
            ),
            Criterion(
                "drift_detection",
                "Drift detection",
                (
                    "Met when a drift metric has a threshold; partial when a drift metric has"
                    " none; missing without a drift metric."
                ),
                drift_detection,
            ),
            Criterion(
                "plan_review",
                "Monitoring reviewed on time",
                (
                    "Met when the plan sets a review frequency and its review (the later of "
                    "the plan's version and the last periodic review, plus the frequency) is "
                    "not overdue; partial when overdue or without a frequency; missing "
                    "without a plan."
                ),
                plan_review,
            ),
        ),
    ),
    Area(
        "failure_handling",
        "Failure handling",
        "What happens when it is wrong?",
        area_labels("failure_handling"),
        (
            Criterion(
                "incident_procedure",
                "Escalation and fallback",
                (
                    "Met when an incident procedure has an escalation path and a fallback; "
                    "partial when it lacks either; missing without a procedure."
                ),
                incident_procedure,
            ),
            Criterion(
                "stop_and_intake",
                "Intake and kill switch",
                (
                    "Met when an incident procedure has an intake channel and a kill switch; "
                    "partial with one; missing with neither."
                ),
                stop_and_intake,
            ),
            Criterion(
                "serious_incidents",
                "Serious incidents reported in time",
                (
                    "Met when every serious incident was reported within its Art 73 deadline "
                    "(2, 10 or 15 days after awareness) or is not yet due; partial when one "
                    "was reported late and is still open; missing when one is past its "
                    "deadline unreported."
                ),
                serious_incidents,
            ),
        ),
    ),
    Area(
        "lifecycle_funding",
        "Lifecycle funding",
        "Who pays to run and improve it?",
        area_labels("lifecycle_funding"),
        (
            Criterion(
                "funding_current",
                "Running costs funded",
                (
                    "Met when funding in its period has a budget and covers running; partial "
                    "when funding is out of its period, without a budget or not covering "
                    "running; missing without funding."
                ),
                funding_current,
            ),
            Criterion(
                "improvement_funded",
                "Improvement funded",
                (
                    "Met when funding in its period covers improvement; partial when it does "
                    "not; missing without funding in its period."
                ),
                improvement_funded,
            ),
        ),
    ),
)

assert tuple(a.key for a in AREAS) == READINESS_AREAS, "records.kinds names the same areas"
AREAS_BY_KEY = {a.key: a for a in AREAS}


# ----------------------------------------------------------------------------- questions


@dataclass(frozen=True)
class Question:
    key: str
    question: str
    answer: Callable[[Facts], tuple[str, list[Record]]]  # the answer, or NOT_ANSWERED


def _parts(
    parts: list[tuple[str | None, list[Record]]], absent: list[str]
) -> tuple[str, list[Record]]:
    found = [(text, ev) for text, ev in parts if text]
    if not found:
        return NOT_ANSWERED, []
    answer = " ".join(text for text, _ in found if text)
    if absent:
        answer += f" Not recorded: {', '.join(absent)}."
    return answer, [r for _, ev in found for r in ev]


def pilot_gaps(facts: Facts) -> tuple[str, list[Record]]:
    parts: list[tuple[str | None, list[Record]]] = []
    absent: list[str] = []
    active = _active_integrations(facts)
    if active:
        proven = [
            str(i.body.get("name")) for i in active if i.body.get("status") in ("live", "tested")
        ]
        planned = [
            str(i.body.get("name"))
            for i in active
            if i.body.get("status") not in ("live", "tested")
        ]
        text = f"Integrations live or tested: {', '.join(proven) or 'none'}."
        if planned:
            text += f" Not yet tested: {', '.join(planned)}."
        parts.append((text, active))
    else:
        absent.append("integrations")
    plans = facts.of("adoption_plan")
    if plans:
        groups = [g for p in plans for g in p.body.get("user_groups", [])]
        support = [p.body["support_pathway"] for p in plans if p.body.get("support_pathway")]
        text = f"User groups planned: {'; '.join(groups)}."
        if support:
            text += f" Support: {support[0]}."
        else:
            absent.append("support pathway")
        parts.append((text, plans))
    else:
        absent.append("user groups and support")
    changes = facts.of("change_log")
    if changes:
        tested = [c for c in changes if c.body.get("test_evidence")]
        parts.append(
            (f"Test evidence on {len(tested)} of {count(len(changes), 'change')}.", changes)
        )
    else:
        absent.append("tests of changes")
    done = [
        r
        for r in facts.of("review")
        if r.body.get("performed_on", "9999") <= facts.today.isoformat()
    ]
    if done:
        parts.append((f"{count(len(done), 'review')} performed.", done))
    else:
        absent.append("performed reviews (audit)")
    return _parts(parts, absent)


def data_changes(facts: Facts) -> tuple[str, list[Record]]:
    parts: list[tuple[str | None, list[Record]]] = []
    absent: list[str] = []
    plans = facts.of("monitoring_plan")
    for p in plans:
        drift = [str(m["name"]) for m in p.body.get("metrics", []) if m.get("category") == "drift"]
        text = f"Drift watched by: {'; '.join(drift)}." if drift else None
        if text is None:
            absent.append("drift metrics")
        if p.body.get("escalation_to_incident"):
            text = f"{text or ''} Escalation: {p.body['escalation_to_incident']}".strip()
        if p.body.get("decommission_triggers"):
            triggers = "; ".join(p.body["decommission_triggers"])
            text = f"{text or ''} Decommission when: {triggers}.".strip()
        parts.append((text, [p]))
    if not plans:
        absent.append("monitoring plan")
    validation = [p for p in facts.of("review_procedure") if p.body.get("type") == "validation"]
    for p in validation:
        parts.append((f"Validation review: {p.body.get('trigger') or 'trigger not stated'}.", [p]))
    return _parts(parts, absent)


def owner_after_rollout(facts: Facts) -> tuple[str, list[Record]]:
    parts: list[tuple[str | None, list[Record]]] = []
    absent: list[str] = []
    for role in ("business", "technical", "oversight"):
        current, _ = facts.owners(role)
        if current:
            names = ", ".join(
                name(o.body["person"]) + (f" (until {o.body['end']})" if o.body.get("end") else "")
                for o in current
            )
            parts.append((f"{role.capitalize()}: {names}.", current))
        elif role != "oversight":
            absent.append(f"{role} owner")
    return _parts(parts, absent)


def risk_monitoring(facts: Facts) -> tuple[str, list[Record]]:
    parts: list[tuple[str | None, list[Record]]] = []
    absent: list[str] = []
    due = [d for d in facts.due if d.subject.kind == "review_procedure"]
    for d in due:
        every = d.subject.body.get("frequency_days")
        often = f" every {every} days" if every else ""
        late = " (overdue)" if d.overdue else ""
        text = f"{d.title}{often}, next due {d.due_on.isoformat()}{late}."
        parts.append((text, d.evidence))
    if not due:
        absent.append("recurring reviews")
    fairness = [
        (p, m)
        for p in facts.of("monitoring_plan")
        for m in p.body.get("metrics", [])
        if m.get("category") == "fairness"
    ]
    if fairness:
        parts.append(
            (f"Fairness watched by {count(len(fairness), 'metric')}.", [p for p, _ in fairness])
        )
    risks = facts.of("risk")
    if risks:
        parts.append((f"Risk register: {count(len(risks), 'risk')}.", risks))
    else:
        absent.append("risk register")
    return _parts(parts, absent)


def production_metric(facts: Facts) -> tuple[str, list[Record]]:
    for p in facts.of("adoption_plan"):
        if p.body.get("success_metric"):
            threshold = p.body.get("success_threshold")
            return (
                f"{p.body['success_metric']}"
                + (f": {threshold}." if threshold else " (no threshold)."),
                [p],
            )
    return NOT_ANSWERED, []


QUESTIONS: tuple[Question, ...] = (
    Question(
        "pilot_gaps",
        (
            "What did the pilot not test (integrations, full user groups, edge cases, audit, "
            "support demand)?"
        ),
        pilot_gaps,
    ),
    Question(
        "data_changes", "What happens when the data changes (monitoring, drift)?", data_changes
    ),
    Question("owner_after_rollout", "Who owns it after rollout?", owner_after_rollout),
    Question(
        "risk_monitoring",
        "How is risk monitored (ongoing oversight, not a one-time review)?",
        risk_monitoring,
    ),
    Question("success_metric", "Which production metric decides success?", production_metric),
)
