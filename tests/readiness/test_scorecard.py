"""The scorecard from the database: the gate, waivers, approvals, the past, the demo."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from registry.accounts.actor import Actor
from registry.demo import dates
from registry.demo.examples import EXAMPLES
from registry.demo.loader import load_examples
from registry.errors import Conflict, PermissionDenied
from registry.extensions import document_store
from registry.readiness import evaluate
from registry.readiness.approvals import approve_promotion
from registry.readiness.gate import PromotionRefused, check_promotion
from registry.records import reads, writes
from tests.readiness.evidence import PERSON, READY_PROFILE, make_ready, ready_entries


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def system(session, officer):
    made, _ = writes.create_system(session, officer, READY_PROFILE)
    session.commit()
    return made


def promote(session, actor, system, **kw):
    entry = reads.profile_entry(session, system)
    return writes.update_entry(
        session,
        actor,
        entry,
        {**READY_PROFILE, "stage": "production"},
        base_version=entry.head_number,
        reason="Go-live",
        gate=check_promotion,
        **kw,
    )


def test_the_gate_refuses_then_allows_once_the_evidence_is_there(session, officer, system):
    make_ready(session, officer, system, skip=("monitoring_plan", "funding"))
    session.commit()
    with pytest.raises(PromotionRefused) as refused:
        promote(session, officer, system)
    session.rollback()
    assert [u["area"] for u in refused.value.details["unmet"]] == [
        "auditability",  # logs are kept per the monitoring plan
        "monitoring",
        "lifecycle_funding",
    ]
    assert refused.value.status == 409
    assert "Monitoring" in refused.value.message
    assert reads.state_of(session, "sys-1").profile["stage"] == "pilot"  # nothing written

    for kind, body in ready_entries():
        if kind in ("monitoring_plan", "funding"):
            writes.create_entry(session, officer, system, kind, body)
    session.commit()
    promote(session, officer, system)
    session.commit()
    assert reads.state_of(session, "sys-1").profile["stage"] == "production"
    assert evaluate(session, system, now()).ready


def test_a_ready_system_retired_in_production_is_reinstated(session, officer, system):
    """Reinstating a system whose last stage was production meets the gate, which scores
    the profile coming back (the retired one has no version in force): a ready system
    comes back; the same without its funding is refused, naming that area alone."""
    make_ready(session, officer, system)
    session.commit()
    promote(session, officer, system)
    session.commit()
    entry = reads.profile_entry(session, system)
    retired = writes.retire_entry(
        session, officer, entry, base_version=entry.head_number, reason="Paused"
    )
    session.commit()
    funding = next(e for e in reads.system_state(session, system).entries if e.kind == "funding")
    writes.retire_entry(
        session, officer, funding.entry_id, base_version=funding.version.number, reason="Cut"
    )
    session.commit()
    with pytest.raises(PromotionRefused) as refused:
        writes.reinstate_system(
            session,
            officer,
            system,
            base_version=retired.number,
            reason="Back",
            gate=check_promotion,
        )
    session.rollback()
    assert [u["area"] for u in refused.value.details["unmet"]] == ["lifecycle_funding"]
    for kind, body in ready_entries():
        if kind == "funding":
            writes.create_entry(session, officer, system, kind, body)
    session.commit()
    back = writes.reinstate_system(
        session, officer, system, base_version=retired.number, reason="Back", gate=check_promotion
    )
    session.commit()
    assert back.number == retired.number + 1
    assert reads.state_of(session, "sys-1").profile["stage"] == "production"
    assert evaluate(session, system, now()).ready


def test_a_waiver_lets_a_promotion_through_until_it_expires(session, officer, actors, system):
    make_ready(session, officer, system, skip=("funding",))
    waiver = {
        "area": "lifecycle_funding",
        "justification": "Budget decided next month",
        "approver": PERSON,
        "approved_on": now().date().isoformat(),
        "expires_at": (now() + dt.timedelta(days=10)).isoformat(),
    }
    # Only a compliance officer grants waivers, even a technical owner of the system.
    tech = actors["technical_owner"]
    writes.create_entry(
        session,
        officer,
        system,
        "owner",
        {"role": "technical", "person": {"name": "T", "email": tech.email}, "start": "2020-01-01"},
    )
    session.commit()
    with pytest.raises(PermissionDenied):
        writes.create_entry(session, tech, system, "waiver", waiver)
    session.rollback()
    version = writes.create_entry(session, officer, system, "waiver", waiver)
    session.commit()
    card = evaluate(session, system, now())
    funding = next(a for a in card.areas if a.key == "lifecycle_funding")
    assert funding.status == "waived" and card.ready
    assert card.to_dict()["areas"][-1]["waiver"]["entry_id"] == version.entry_id
    promote(session, officer, system)
    session.commit()

    # Past its expiry the waiver no longer counts: a promotion then would be refused.
    later = now() + dt.timedelta(days=11)
    assert not evaluate(session, system, later, recorded_by=now()).ready
    entry = reads.profile_entry(session, system)
    writes.update_entry(
        session,
        officer,
        entry,
        {**READY_PROFILE, "stage": "pilot"},
        base_version=entry.head_number,
        effective_from=now(),
    )
    session.commit()
    with pytest.raises(PromotionRefused) as refused:
        promote(session, officer, system, effective_from=later)
    assert [u["area"] for u in refused.value.details["unmet"]] == ["lifecycle_funding"]


def test_an_approval_goes_stale_after_an_edit_until_approved_again(
    session, officer, actors, system
):
    ids = make_ready(session, officer, system)
    session.commit()
    with pytest.raises(PermissionDenied):
        approve_promotion(session, actors["auditor"], system)
    version = approve_promotion(session, officer, system)
    session.commit()
    relied_on = json.loads(version.body)["evidence"]
    assert {r["entry_id"] for r in relied_on} >= set(ids.values())
    assert all(len(r["hash"]) == 64 for r in relied_on)
    assert evaluate(session, system, now()).approval.status == "current"

    # The promotion itself does not make its approval stale.
    promote(session, officer, system)
    session.commit()
    assert evaluate(session, system, now()).approval.status == "current"

    entry = reads.get_entry(session, ids["funding"])
    body = reads.state_of(session, "sys-1").of_kind("funding")[0].body
    writes.update_entry(session, officer, entry, {**body, "budget": "900"}, base_version=1)
    session.commit()
    card = evaluate(session, system, now())
    assert card.approval.status == "stale"
    assert card.to_dict()["approval"]["changed"] == [
        {"entry_id": ids["funding"], "kind": "funding", "approved_version": 1, "version": 2}
    ]
    approve_promotion(session, officer, system)
    session.commit()
    again = evaluate(session, system, now())
    assert again.approval.status == "current" and again.approval.approval.version == 2


def test_an_approval_is_refused_when_the_system_is_not_ready(session, officer, system):
    with pytest.raises(PromotionRefused):
        approve_promotion(session, officer, system)


def test_the_scorecard_as_of_a_past_instant_is_what_it_was_then(session, officer, system):
    make_ready(session, officer, system, skip=("funding",))
    session.commit()
    then = now()
    before = evaluate(session, system, then).to_dict()
    assert before["ready"] is False and before["unmet"] == ["lifecycle_funding"]
    for kind, body in ready_entries():
        if kind == "funding":
            writes.create_entry(session, officer, system, kind, body)
    session.commit()
    assert evaluate(session, system, now()).ready
    assert evaluate(session, system, then).to_dict() == before


def test_a_technical_owner_cannot_exempt_a_system_from_the_gate(session, officer, actors, system):
    tech = actors["technical_owner"]
    writes.create_entry(
        session,
        officer,
        system,
        "owner",
        {"role": "technical", "person": {"name": "T", "email": tech.email}, "start": "2020-01-01"},
    )
    session.commit()
    entry = reads.profile_entry(session, system)
    mirrored = {**READY_PROFILE, "mirrors_register": "Some register"}
    # The mark cannot be added to a system registered here, not even by an officer:
    # it would open the gate.
    for who in (tech, officer):
        with pytest.raises(Conflict, match="cannot be added later"):
            writes.update_entry(session, who, entry, mirrored, base_version=1)
        session.rollback()
    # A system registered as mirroring another organisation's register takes its stage
    # as published there; only an officer may change or remove the mark.
    copy, _ = writes.create_system(
        session, officer, {**mirrored, "reference": "mirrored-1", "stage": "pilot"}
    )
    writes.create_entry(
        session,
        officer,
        copy,
        "owner",
        {"role": "technical", "person": {"name": "T", "email": tech.email}, "start": "2020-01-01"},
    )
    session.commit()
    profile = reads.profile_entry(session, copy)
    body = {**mirrored, "reference": "mirrored-1"}
    with pytest.raises(PermissionDenied):
        writes.update_entry(
            session, tech, profile, {**body, "mirrors_register": "Other"}, base_version=1
        )
    session.rollback()
    # Its stage (as published there) is part of its classification: an officer's too.
    with pytest.raises(PermissionDenied, match="stage"):
        writes.update_entry(session, tech, profile, {**body, "stage": "production"}, base_version=1)
    session.rollback()
    writes.update_entry(
        session,
        officer,
        profile,
        {**body, "stage": "production"},
        base_version=1,
        gate=check_promotion,
    )
    session.commit()


def test_the_demo_systems_score_as_intended(session):
    # Loaded today, the examples' dates are moved by the days since the day they were
    # written for (registry.demo.dates.ANCHOR): they score now as they did then.
    load_examples(session, Actor.system("demo"), EXAMPLES, store=document_store())
    session.commit()
    recorded = now()
    days = dt.timedelta(days=dates.offset_from(recorded.date()))

    def card(reference, at=recorded):
        return evaluate(session, reference, at, recorded_by=recorded)

    triage = card("demo-benefits-triage")
    assert triage.ready and triage.stage == "production"
    assert {a.status for a in triage.areas} == {"met"}
    assert "not answered" not in {q.answer for q in triage.questions}
    # At go-live it was ready with one waiver: improvement was funded from the next
    # budget year only.
    golive = card("demo-benefits-triage", dt.datetime(2025, 9, 1, 6, tzinfo=dt.UTC) + days)
    assert golive.ready
    assert [(a.key, a.status) for a in golive.areas if a.status != "met"] == [
        ("lifecycle_funding", "waived")
    ]

    chatbot = card("demo-city-chatbot")
    assert not chatbot.ready and chatbot.stage == "pilot"
    statuses = {a.key: a.status for a in chatbot.areas}
    assert [k for k, s in statuses.items() if s == "missing"] == [
        "integration_readiness",
        "user_adoption",
        "monitoring",
        "lifecycle_funding",
    ]
    assert [k for k, s in statuses.items() if s == "met"] == [
        "business_ownership",
        "technical_ownership",
        "failure_handling",
    ]
    answers = {q.key: q.answer for q in chatbot.questions}
    assert answers["success_metric"] == "not answered"
    assert "Not recorded: integrations" in answers["pilot_gaps"]
    # The weekly oversight review was never performed: it counts against readiness.
    reviews = next(f for a in chatbot.areas for f in a.findings if f.key == "reviews_on_time")
    assert reviews.status == "partial" and "overdue" in reviews.explanation.lower()

    invoice = card("demo-invoice-ocr")
    assert invoice.stage == "retired" and not invoice.ready
