"""Applicability proposals per role and tier, an officer's decision as a versioned entry,
and coverage per framework as of an instant, from the records on both engines."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from registry.accounts.actor import Actor
from registry.applicability import coverage
from registry.demo.examples import EXAMPLES
from registry.demo.loader import load_examples
from registry.errors import InvalidInput, PermissionDenied
from registry.extensions import document_store
from registry.frameworks.catalogue import catalogue
from registry.readiness.scorecard import evaluate_records
from registry.records import reads, writes
from tests.records.samples import SAMPLES


def applying(profile: dict, framework: str = "eu-ai-act") -> set[str]:
    return {
        i.id
        for i in catalogue(framework).leaves()
        if i.cls == "obligation" and coverage.propose(i, profile).applicable
    }


def test_proposals_follow_role_and_risk_tier():
    provider_high = applying({"role": "provider", "risk_tier": "high", "stage": "pilot"})
    assert {"art-9", "art-10", "art-11", "art-17", "art-43", "art-72", "art-73"} <= provider_high
    assert not {"art-26", "art-27", "art-5", "art-53"} & provider_high
    deployer_high = applying({"role": "deployer", "risk_tier": "high", "stage": "production"})
    assert {"art-4", "art-26", "art-25", "art-49"} <= deployer_high
    assert not {"art-9", "art-27", "art-17"} & deployer_high  # no Annex III 5 area
    public_benefits = {"role": "deployer", "risk_tier": "high", "annex_iii_area": "5(a)"}
    assert "art-27" in applying({**public_benefits, "stage": "pilot"})
    assert applying({"role": "deployer", "risk_tier": "limited", "stage": "pilot"}) == {
        "art-4",
        "art-50-3",
        "art-50-4",
        "art-95",
    }
    assert applying({"role": "both", "risk_tier": "minimal", "stage": "pilot"}) == {
        "art-4",
        "art-95",
    }
    assert "art-5" in applying({"role": "provider", "risk_tier": "prohibited"})
    # Not yet in operation: no post-market duties proposed.
    assert "art-72" not in applying({"role": "provider", "risk_tier": "high", "stage": "proposed"})
    assert applying({"role": "provider", "risk_tier": "high", "stage": "retired"}) == set()
    # Annex IV's points follow Art 11; ISO's A.10.4 (customers) only for a provider.
    iso = catalogue("iso-42001")
    assert not coverage.propose(iso.item("A.10.4"), {"role": "deployer"}).applicable
    assert coverage.propose(iso.item("A.10.4"), {"role": "provider"}).applicable
    point = catalogue("eu-ai-act").item("annex-iv-5")
    assert coverage.propose(point, {"role": "provider", "risk_tier": "high"}).applicable
    assert not coverage.propose(point, {"role": "deployer", "risk_tier": "high"}).applicable


def test_a_decision_changes_coverage_and_the_past_stays_as_it_was(session, officer, actors):
    profile = {**SAMPLES["profile"], "role": "provider"}
    system, _ = writes.create_system(session, officer, profile)
    session.commit()
    before = dt.datetime.now(dt.UTC)
    first = coverage.assess(session, "sys-1", before)
    row = next(c for c in first.of("iso-42001") if c.item.id == "A.10.4")
    assert row.applicable and row.status == "missing" and row.decision is None
    a_3_2 = next(c for c in first.of("iso-42001") if c.item.id == "A.3.2")
    assert a_3_2.status == "missing"

    # A technical owner may not decide applicability: a compliance officer's kind.
    with pytest.raises(PermissionDenied):
        writes.create_entry(
            session, actors["technical_owner"], system, "applicability", SAMPLES["applicability"]
        )
    session.rollback()
    system = reads.get_system(session, "sys-1")
    decision = writes.create_entry(
        session, officer, system, "applicability", SAMPLES["applicability"]
    )
    writes.create_entry(session, officer, system, "owner", SAMPLES["owner"])
    session.commit()
    now = coverage.assess(session, "sys-1", dt.datetime.now(dt.UTC))
    row = next(c for c in now.of("iso-42001") if c.item.id == "A.10.4")
    assert not row.applicable and row.status == "not_applicable"
    assert row.decision.entry_id == decision.entry_id and row.proposal.applicable
    # The business owner is recorded: A.3.2's criteria are partly met now.
    a_3_2 = next(c for c in now.of("iso-42001") if c.item.id == "A.3.2")
    assert a_3_2.status == "partial"
    assert any(e["kind"] == "owner" for e in a_3_2.to_dict()["evidence"])
    assert now.counts("iso-42001")["not_applicable"] == 1
    assert sum(now.counts("nist-ai-rmf").values()) == 72

    # As of before the decision, coverage is what it was.
    again = coverage.assess(session, "sys-1", before)
    assert again.to_dict() == first.to_dict()

    soa = coverage.statement(now, "iso-42001")
    line = next(r for r in soa["items"] if r["item"] == "A.10.4")
    assert line["decided"] and not line["applicable"]
    assert line["justification"] == SAMPLES["applicability"]["justification"]
    assert line["implemented_by"][0]["kind"] == "applicability"
    assert len(soa["items"]) == 38

    organisation = coverage.organisation_statement(session, dt.datetime.now(dt.UTC))
    assert organisation["systems"] == ["sys-1"] and len(organisation["items"]) == 38
    control = next(r for r in organisation["items"] if r["item"] == "A.10.4")
    assert control["status"] == "not_applicable"


def test_a_decision_on_an_item_of_no_catalogue_is_refused(session, officer):
    system, _ = writes.create_system(session, officer, SAMPLES["profile"])
    with pytest.raises(InvalidInput) as refused:
        writes.create_entry(
            session,
            officer,
            system,
            "applicability",
            {**SAMPLES["applicability"], "item": "A.11.1"},
        )
    assert refused.value.field_errors == {"item": ["iso-42001 has no item 'A.11.1'."]}


def test_the_coverage_of_many_systems_read_at_once_is_each_systems_own(session, officer):
    """``assess_many`` reads every system's records in one go; each system's scorecard
    and coverage are those of ``assess`` one by one, now and as of a past instant, for
    the register's systems (a retired profile leaves it) and for systems named."""
    load_examples(session, Actor.system("demo"), EXAMPLES, store=document_store())
    session.commit()
    past = dt.datetime.now(dt.UTC)
    provider, _ = writes.create_system(session, officer, {**SAMPLES["profile"], "role": "provider"})
    writes.create_entry(session, officer, provider, "applicability", SAMPLES["applicability"])
    writes.create_entry(session, officer, provider, "owner", SAMPLES["owner"])
    gone, gone_profile = writes.create_system(
        session, officer, {**SAMPLES["profile"], "reference": "sys-gone"}
    )
    writes.retire_entry(session, officer, gone_profile.entry_id, base_version=1, reason="Gone")
    session.commit()
    now = dt.datetime.now(dt.UTC)

    for at in (past, now):
        listed = sorted(
            r.system.reference for r in reads.register(session, as_of=at, effective_at=at)
        )
        many = coverage.assess_many(session, at)
        assert [c.reference for _, c in many] == listed
        assert "sys-gone" not in listed and ("sys-1" in listed) == (at == now)
        for card, covered in many:
            alone_card, alone = coverage.assess_with_scorecard(session, covered.reference, at)
            assert card.to_dict() == alone_card.to_dict()
            assert covered.to_dict() == alone.to_dict()
            profile = profile_of(session, covered.reference, at)
            for row in covered.items:
                assert row.proposal == coverage.propose(row.item, profile)
            for framework in covered.frameworks:
                counted = Counter(c.status for c in covered.of(framework))
                assert covered.counts(framework) == {s: counted[s] for s in coverage.STATUSES}
    named = [reads.get_system(session, "sys-gone"), reads.get_system(session, "sys-1")]
    (only,) = coverage.assess_many(session, now, named[1:], ("iso-42001",))
    assert only[1].to_dict() == coverage.assess(session, "sys-1", now, ("iso-42001",)).to_dict()
    gone_now = coverage.assess_many(session, now, named)
    assert [c.reference for _, c in gone_now] == ["sys-1", "sys-gone"]
    assert gone_now[1][1].to_dict() == coverage.assess(session, "sys-gone", now).to_dict()
    statement = coverage.organisation_statement(session, now)
    assert statement["systems"] == sorted(listed)


def profile_of(session, reference, at):
    records, _ = evaluate_records(session, reference, at)
    return next(r.body for r in records if r.kind == "profile")
