"""Each criterion met, partial and missing, on records made by hand (no database)."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from registry.readiness.criteria import AREAS, Facts
from registry.readiness.model import MET, MISSING, PARTIAL, Held, Record
from registry.readiness.scorecard import score
from registry.records.kinds import READINESS_AREAS, normalise_body

AT = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
_ids = itertools.count(1)


def rec(kind: str, body: dict[str, Any], *, days_ago: int = 30) -> Record:
    """A record whose body is valid for its kind, in force since ``days_ago``."""
    clean = normalise_body(kind, body)
    return Record(next(_ids), kind, 1, "ab" * 32, clean, AT - dt.timedelta(days=days_ago))


def held(document_type: str, valid_until: dt.date | None = None) -> Held:
    """A stored document of ``document_type``, received a month before ``AT``."""
    return Held(
        f"{next(_ids):064x}",
        f"{document_type}.pdf",
        document_type,
        valid_until,
        AT - dt.timedelta(days=30),
    )


IN_FORCE = AT.date() + dt.timedelta(days=1)
EXPIRED = AT.date() - dt.timedelta(days=1)
P = {"name": "Pat Person", "email": "pat@example.org"}
D = {"name": "Dee Delegate", "email": "dee@example.org"}
PROFILE = {"name": "S", "reference": "s", "stage": "pilot"}


def owner(role: str, **kw: Any) -> Record:
    return rec("owner", {"role": role, "person": P, **kw})


def source(**kw: Any) -> Record:
    return rec("data_source", {"name": "Src", "uses": ["input"], **kw})


def metric(category: str = "accuracy", threshold: float | None = 0.8) -> dict[str, Any]:
    return {"name": f"{category} metric", "category": category, "threshold": threshold}


def plan(**kw: Any) -> Record:
    return rec("monitoring_plan", {"metrics": [metric()], **kw})


def procedure(kind: str = "periodic", **kw: Any) -> Record:
    return rec("review_procedure", {"type": kind, **kw})


def review(proc: Record, performed: dt.date, **kw: Any) -> Record:
    body = {
        "procedure_entry_id": proc.entry_id,
        "performed_on": performed.isoformat(),
        "reviewers": ["R"],
        "decision": "approve",
        **kw,
    }
    return rec("review", body)


def incident(aware_days_ago: float, **kw: Any) -> Record:
    aware = AT - dt.timedelta(days=aware_days_ago)
    body = {
        "title": "I",
        "detected_at": aware.isoformat(),
        "severity": "S1",
        "serious": True,
        "status": "open",
        **kw,
    }
    return rec("incident", body)


TODAY = AT.date()
PAST, FUTURE = "2020-01-01", "2030-01-01"
PROC_WEEKLY = procedure(frequency_days=7, stop_mechanism="Switch off")
PROC_OVERSIGHT = procedure("human_oversight", stop_mechanism="Flag off")
GRANT_STOP = rec(
    "access_grant",
    {
        "principal": "leads",
        "principal_type": "group",
        "resource": "system",
        "permission": "stop",
        "can_stop": True,
    },
)
FUND = {"funder": "Dept", "budget": "1000", "covers": ["run", "improve"], "start": PAST}

# criterion key -> {status: records}
CASES: dict[str, dict[str, list[Record]]] = {
    "business_owner": {
        MET: [owner("business", start=PAST)],
        PARTIAL: [owner("business", start=PAST, end="2021-01-01")],
        MISSING: [owner("technical", start=PAST)],
    },
    "business_case": {
        MET: [rec("profile", {**PROFILE, "purpose": "p", "business_value": "v"})],
        PARTIAL: [rec("profile", {**PROFILE, "purpose": "p"})],
        MISSING: [rec("profile", PROFILE)],
    },
    "technical_owner": {
        MET: [owner("technical")],
        PARTIAL: [owner("technical", start=FUTURE)],
        MISSING: [],
    },
    "continuity": {
        MET: [owner("technical", delegate=D)],
        PARTIAL: [owner("technical", escalation_contact=D)],
        MISSING: [owner("technical")],
    },
    "data_governed": {
        MET: [
            source(
                steward=P, retention="1y", personal_data_categories=["x"], lawful_basis="6(1)(e)"
            )
        ],
        PARTIAL: [source(steward=P, retention="1y", personal_data_categories=["x"])],
        MISSING: [],
    },
    "data_quality": {
        MET: [source(quality_notes="ok"), source(known_bias="b")],
        PARTIAL: [source(quality_notes="ok"), source()],
        MISSING: [source()],
    },
    "dpia": {
        MET: [
            rec("profile", {**PROFILE, "dpia_status": "done"}),
            source(personal_data_categories=["x"]),
            held("dpia", AT.date()),  # in force on its last day
        ],
        PARTIAL: [
            rec("profile", {**PROFILE, "dpia_status": "not_done", "dpia_reference": "pre-scan"}),
            source(personal_data_categories=["x"]),
        ],
        MISSING: [rec("profile", PROFILE), source(special_categories=["health"])],
    },
    "integrations": {
        MET: [rec("integration", {"name": "I", "connects_to": "X", "status": "tested"})],
        PARTIAL: [rec("integration", {"name": "I", "connects_to": "X", "status": "planned"})],
        MISSING: [rec("integration", {"name": "I", "connects_to": "X", "status": "retired"})],
    },
    "fallbacks": {
        MET: [rec("integration", {"name": "I", "connects_to": "X", "fallback": "by hand"})],
        PARTIAL: [
            rec("integration", {"name": "I", "connects_to": "X", "fallback": "by hand"}),
            rec("integration", {"name": "J", "connects_to": "Y"}),
        ],
        MISSING: [rec("integration", {"name": "J", "connects_to": "Y"})],
    },
    "adoption_plan": {
        MET: [
            rec("adoption_plan", {"user_groups": ["u"], "training": "t", "support_pathway": "s"})
        ],
        PARTIAL: [rec("adoption_plan", {"user_groups": ["u"], "training": "t"})],
        MISSING: [],
    },
    "success_metric": {
        MET: [
            rec(
                "adoption_plan",
                {"user_groups": ["u"], "success_metric": "m", "success_threshold": "> 1"},
            )
        ],
        PARTIAL: [rec("adoption_plan", {"user_groups": ["u"], "success_metric": "m"})],
        MISSING: [rec("adoption_plan", {"user_groups": ["u"]})],
    },
    "classification": {
        MET: [rec("profile", {**PROFILE, "risk_tier": "limited"})],
        PARTIAL: [rec("profile", {**PROFILE, "risk_tier": "unclassified"})],
        MISSING: [rec("profile", {**PROFILE, "risk_tier": "prohibited"})],
    },
    "risk_register": {
        MET: [
            rec(
                "risk",
                {
                    "title": "r",
                    "likelihood": "likely",
                    "impact": "major",
                    "control": "c",
                    "residual_risk": "high",
                    "accepted_by": "B",
                },
            )
        ],
        PARTIAL: [
            rec(
                "risk",
                {
                    "title": "r",
                    "likelihood": "likely",
                    "impact": "major",
                    "control": "c",
                    "residual_risk": "high",
                },
            )
        ],
        MISSING: [],
    },
    "human_oversight": {
        MET: [PROC_OVERSIGHT, GRANT_STOP],
        PARTIAL: [PROC_OVERSIGHT],
        MISSING: [procedure("human_oversight")],
    },
    "reviews_on_time": {
        MET: [PROC_WEEKLY, review(PROC_WEEKLY, TODAY - dt.timedelta(days=3))],
        PARTIAL: [PROC_WEEKLY, review(PROC_WEEKLY, TODAY - dt.timedelta(days=8))],
        MISSING: [],
    },
    "logging": {
        MET: [plan(log_sources=["app log"], log_retention_days=183)],
        PARTIAL: [plan(log_sources=["app log"], log_retention_days=90)],
        MISSING: [plan()],
    },
    "change_control": {
        MET: [
            rec(
                "change_log",
                {
                    "change_type": "model",
                    "summary": "s",
                    "test_evidence": "t",
                    "approver": "a",
                    "rollback_plan": "r",
                },
            ),
            held("test_report"),
        ],
        PARTIAL: [
            rec("change_log", {"change_type": "model", "summary": "s", "test_evidence": "t"})
        ],
        MISSING: [],
    },
    "reviews_performed": {
        MET: [PROC_WEEKLY, review(PROC_WEEKLY, TODAY)],
        PARTIAL: [PROC_WEEKLY, review(PROC_WEEKLY, TODAY + dt.timedelta(days=1))],  # not yet
        MISSING: [],
    },
    "metrics_and_alerts": {
        MET: [plan(alert_routing="on-call")],
        PARTIAL: [
            rec("monitoring_plan", {"metrics": [metric(threshold=None)], "alert_routing": "x"})
        ],
        MISSING: [],
    },
    "drift_detection": {
        MET: [rec("monitoring_plan", {"metrics": [metric("drift")]})],
        PARTIAL: [rec("monitoring_plan", {"metrics": [metric("drift", None)]})],
        MISSING: [plan()],
    },
    "plan_review": {
        MET: [plan(review_frequency_days=90)],  # in force for 30 days
        PARTIAL: [plan(review_frequency_days=20)],  # due 10 days ago
        MISSING: [],
    },
    "incident_procedure": {
        MET: [rec("incident_procedure", {"escalation_path": ["a", "b"], "fallback": "manual"})],
        PARTIAL: [rec("incident_procedure", {"escalation_path": ["a"]})],
        MISSING: [],
    },
    "stop_and_intake": {
        MET: [rec("incident_procedure", {"intake_channel": "desk", "kill_switch": "flag"})],
        PARTIAL: [rec("incident_procedure", {"intake_channel": "desk"})],
        MISSING: [rec("incident_procedure", {"fallback": "manual"})],
    },
    "serious_incidents": {
        MET: [incident(20, reported_at=(AT - dt.timedelta(days=10)).isoformat())],
        PARTIAL: [incident(20, reported_at=(AT - dt.timedelta(days=1)).isoformat())],
        MISSING: [incident(16)],
    },
    "funding_current": {
        MET: [rec("funding", FUND)],
        PARTIAL: [rec("funding", {**FUND, "end": "2025-12-31"})],
        MISSING: [],
    },
    "improvement_funded": {
        MET: [rec("funding", FUND)],
        PARTIAL: [rec("funding", {**FUND, "covers": ["run"]})],
        MISSING: [rec("funding", {**FUND, "start": FUTURE})],
    },
}

CRITERIA = {c.key: c for a in AREAS for c in a.criteria}


CASES["model_card"] = {
    MET: [rec("profile", {**PROFILE, "risk_tier": "high"}), held("model_card", IN_FORCE)],
    PARTIAL: [rec("profile", {**PROFILE, "risk_tier": "high"}), held("model_card", EXPIRED)],
    MISSING: [rec("profile", {**PROFILE, "risk_tier": "high"}), held("dpia")],
}


def _facts(items: list[Any]) -> Facts:
    records = [i for i in items if isinstance(i, Record)]
    return Facts(AT, records, tuple(i for i in items if isinstance(i, Held)))


def test_every_criterion_has_its_three_cases():
    assert set(CASES) == set(CRITERIA)
    assert all(set(cases) == {MET, PARTIAL, MISSING} for cases in CASES.values())


@pytest.mark.parametrize(
    ("key", "status"), [(k, s) for k in CASES for s in (MET, PARTIAL, MISSING)]
)
def test_criterion(key, status):
    records = CASES[key][status]
    found, explanation, evidence, *cited = CRITERIA[key].check(_facts(records))
    assert found == status, explanation
    assert explanation and "\n" not in explanation
    assert {r.entry_id for r in evidence} <= {r.entry_id for r in records if isinstance(r, Record)}
    # A criterion resting on a stored document cites the one it rests on, among those held.
    documents = cited[0] if cited else []
    assert set(documents) <= {h for h in records if isinstance(h, Held)}
    if (key, status) in {("dpia", MET), ("model_card", MET), ("model_card", PARTIAL)}:
        assert [d.document_type for d in documents] == [key]


@pytest.mark.parametrize(
    ("key", "kept", "document_type"),
    [
        ("dpia", CASES["dpia"][MET][:2], "dpia"),
        ("change_control", CASES["change_control"][MET][:1], "test_report"),
        ("model_card", CASES["model_card"][MET][:1], "model_card"),
    ],
)
def test_criteria_resting_on_a_document_need_one_in_force(key, kept, document_type):
    """Met only by a stored document in force at the instant evaluated; partial (the
    model card: missing) without one, partial when the only one expired."""
    check = CRITERIA[key].check
    assert check(_facts([*kept, held(document_type, IN_FORCE)]))[0] == MET
    assert check(_facts([*kept, held(document_type)]))[0] == MET  # no end
    expired = check(_facts([*kept, held(document_type, EXPIRED)]))
    assert expired[0] == PARTIAL and f"expired on {EXPIRED}" in expired[1]
    assert check(_facts(kept))[0] == (MISSING if key == "model_card" else PARTIAL)
    assert check(_facts([*kept, held("other", IN_FORCE)]))[0] != MET
    # Pure in time: the same document, evaluated after its last day.
    now = _facts([*kept, held(document_type, IN_FORCE)])
    later = Facts(AT + dt.timedelta(days=2), now.records, now.documents)
    assert check(now)[0] == MET and check(later)[0] == PARTIAL


@pytest.mark.parametrize(
    ("key", "kept", "document_type", "said"),
    [
        (
            "dpia",
            CASES["dpia"][MET][:2],
            "dpia",
            "Personal data is processed and the DPIA is done; {}.",
        ),
        (
            "change_control",
            CASES["change_control"][MET][:1],
            "test_report",
            "1 change, each with test evidence, an approver and a rollback plan; {}.",
        ),
        (
            "change_control",
            CASES["change_control"][PARTIAL][:1],
            "test_report",
            "Without test evidence, approver or rollback plan: s; {}.",
        ),
        (
            "model_card",
            CASES["model_card"][MET][:1],
            "model_card",
            "High-risk (Art 11, Annex IV): {}.",
        ),
    ],
)
def test_a_stored_document_is_named_in_a_sentence(key, kept, document_type, said):
    """The clause on the stored document reads correctly whether it is in force, expired
    or not stored at all."""
    check = CRITERIA[key].check
    noun = {"dpia": "DPIA", "test_report": "test report", "model_card": "model card"}[document_type]
    name = f"{document_type}.pdf"
    clauses = {
        (document_type, IN_FORCE): f"the {noun} {name!r} is stored, valid until {IN_FORCE}",
        (document_type, None): f"the {noun} {name!r} is stored",
        (document_type, EXPIRED): f"the {noun} {name!r} expired on {EXPIRED}",
        ("other", IN_FORCE): f"no {noun} document is stored",
    }
    for (stored_type, until), clause in clauses.items():
        assert check(_facts([*kept, held(stored_type, until)]))[1] == said.format(clause)
    assert check(_facts(kept))[1] == said.format(f"no {noun} document is stored")


def test_the_areas_are_the_ten_of_the_domain():
    assert tuple(a.key for a in AREAS) == READINESS_AREAS
    for area in AREAS:
        assert area.title and area.question.endswith("?")
        assert set(area.frameworks) == {"eu_ai_act", "iso_42001", "nist_ai_rmf"}
        assert all(c.rule.startswith("Met when") for c in area.criteria)


def test_an_empty_system_is_not_ready_and_answers_nothing():
    card = score("s", [], AT)
    assert not card.ready
    assert {q.answer for q in card.questions} == {"not answered"}
    data = card.to_dict()
    assert data["ready"] is False and len(data["areas"]) == 10
    assert data["approval"] == {"status": "none"}
    assert data["at"] == "2026-06-01T12:00:00Z"


def test_a_waiver_covers_an_area_until_it_expires():
    waiver = rec(
        "waiver",
        {
            "area": "lifecycle_funding",
            "justification": "Budget decided next month",
            "approver": P,
            "approved_on": "2026-05-01",
            "expires_at": (AT + dt.timedelta(hours=1)).isoformat(),
        },
    )
    area = next(a for a in score("s", [waiver], AT).areas if a.key == "lifecycle_funding")
    assert area.status == "waived" and area.passes
    assert area.to_dict()["waiver"]["entry_id"] == waiver.entry_id
    later = AT + dt.timedelta(hours=1)
    area = next(a for a in score("s", [waiver], later).areas if a.key == "lifecycle_funding")
    assert area.status == "missing" and area.waiver is None
