"""Evidence packs of any size: long tables and cells taller than a page split across
pages, so a system's pack exports (and verifies) however much it records."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from typing import Any

import pypdf
import pytest

from registry.accounts.actor import Actor
from registry.evidence import verifier
from registry.frameworks.catalogue import catalogue
from registry.records import writes
from registry.records.kinds import KINDS, LONG, MAX_ITEMS, MEDIUM
from tests.evidence.conftest import do_export, members

OFFICER = Actor.system("officer", roles=frozenset({"compliance_officer"}))
REFERENCE = "very-large"
# Entries of every kind, each text 2,000 characters long (or the field's maximum when
# shorter). 500 of every kind (some 7,300 entries) export and verify too, but take over
# a minute on each engine; 40 of each already make every chapter's table run over
# many pages, and the readiness and crosswalk rows naming their evidence taller than a
# page.
PER_KIND = 40
TEXT = 2_000
WORDS = (
    "audit",
    "evidence",
    "résumé",
    "oversight",
    "Zoë",
    "threshold",
    "monitoring",
    "data",
    "governance",
    "risk",
)


def text(length: int, seed: int = 0) -> str:
    """Words up to exactly ``length`` characters (they wrap as prose does)."""
    words = itertools.cycle(WORDS[seed % len(WORDS) :] + WORDS[: seed % len(WORDS)])
    out = ""
    while len(out) < length:
        out += next(words) + " "
    return out[: length - 1].rstrip() + "."


def person(i: int) -> dict[str, str]:
    return {"name": f"Person {i}", "email": f"person{i}@example.org"}


SUBCATEGORIES = [i.id for i in catalogue("nist-ai-rmf").items if i.cls == "subcategory"]


def bodies(i: int, review_procedure: int, evidence: list[dict[str, Any]]) -> dict[str, Any]:
    """A body of every kind but the profile, the ``i``-th of its kind."""
    short = text(200, i)[:199]
    long = text(TEXT, i)
    day = (dt.date(2026, 1, 1) + dt.timedelta(days=i % 300)).isoformat()
    instant = f"{day}T09:30:00+00:00"
    return {
        "owner": {
            "role": ("technical", "business", "oversight", "dpo")[i % 4],
            "person": person(i),
            "authority_scope": long,
        },
        "data_source": {
            "name": f"Source {i}: {short}"[:200],
            "uses": ["training", "input"],
            "origin": long,
            "preparation": long,
            "quality_notes": long,
            "personal_data_categories": [short] * 5,
        },
        "access_grant": {
            "principal": f"Principal {i}",
            "principal_type": "person",
            "resource": "system",
            "permission": "read",
            "purpose": long,
            "granted_at": instant,
        },
        "risk": {
            "title": f"Risk {i}: {short}"[:200],
            "description": long,
            "likelihood": "possible",
            "impact": "major",
            "control": long,
        },
        "review_procedure": {
            "type": "periodic",
            "frequency_days": 365,
            "criteria": long,
            "evidence_required": long,
        },
        "review": {
            "procedure_entry_id": review_procedure,
            "performed_on": day,
            "reviewers": [f"Reviewer {i}"],
            "findings": long,
            "decision": "approve",
            "actions": [long, long],
        },
        "monitoring_plan": {
            "metrics": [
                {"name": f"Metric {m}", "category": "accuracy", "threshold": 0.9} for m in range(20)
            ],
            "frequency": "daily",
            "alert_routing": long,
        },
        "incident_procedure": {
            "intake_channel": short,
            "triage": long,
            "communication_duties": long,
            "escalation_path": [short, short],
        },
        "incident": {
            "title": f"Incident {i}: {short}"[:200],
            "detected_at": instant,
            "severity": "high",
            "serious": i % 2 == 0,
            "status": "resolved",
            "description": long,
            "containment": long,
            "reported_at": instant,
        },
        "change_log": {
            "change_type": "model",
            "summary": long[:MEDIUM],
            "rationale": long,
        },
        "integration": {
            "name": f"Integration {i}",
            "connects_to": long[:MEDIUM],
            "method": long[:MEDIUM],
        },
        "adoption_plan": {
            "user_groups": [f"Group {i}"],
            "training": long,
            "guidance": long,
        },
        "funding": {"funder": short, "budget": "1000.00", "currency": "EUR", "period": "2026"},
        "waiver": {
            "area": "user_adoption",
            "justification": long,
            "approver": person(i),
            "approved_on": "2026-01-01",
            "expires_at": "2030-01-01T00:00:00+00:00",
        },
        "approval": {
            "to_stage": "production",
            "approver": person(i),
            "approved_at": instant,
            "evidence": evidence,
            "notes": long,
        },
        "applicability": {
            "framework": "nist-ai-rmf",
            "item": SUBCATEGORIES[i % len(SUBCATEGORIES)],
            "applicable": i % 2 == 0,
            "justification": long,
            "decided_by": person(i),
            "decided_on": day,
        },
    }


def build_large_system(session: Any, per_kind: int) -> int:
    """Register a system with ``per_kind`` entries of every kind (and one entry whose
    every text and list is as long as its schema allows); return its entry count."""
    system, _ = writes.create_system(
        session,
        OFFICER,
        {
            "name": "A system that records a great deal",
            "reference": REFERENCE,
            "stage": "pilot",
            "purpose": text(LONG),
            "deployment_context": text(LONG, 3),
        },
        reason="registered",
    )
    procedure = writes.create_entry(
        session, OFFICER, system, "review_procedure", bodies(0, 0, [])["review_procedure"]
    )
    first_risk = writes.create_entry(
        session, OFFICER, system, "risk", bodies(0, 0, [])["risk"], reason="identified"
    )
    evidence = [
        {
            "entry_id": first_risk.entry_id,
            "kind": "risk",
            "version": first_risk.number,
            "hash": first_risk.body_hash,
        }
    ]
    count = 3  # the profile and the two above
    kinds = [k for k in KINDS if k != "profile"]
    for i in range(per_kind):
        made = bodies(i, procedure.entry_id, evidence)
        for kind in kinds:
            if (i == 0 and kind in ("review_procedure", "risk")) or (
                i > 0 and kind == "monitoring_plan" and i % 10
            ):
                continue  # already made; and plans are few (each a table of metrics)
            writes.create_entry(session, OFFICER, system, kind, made[kind], reason=f"item {i}")
            count += 1
        session.commit()
    # The tallest cells the schemas allow: ten thousand characters in one text field, a
    # hundred list items of two thousand each, a hundred metrics in one table.
    biggest = writes.create_entry(
        session,
        OFFICER,
        system,
        "review",
        {
            "procedure_entry_id": procedure.entry_id,
            "performed_on": "2026-06-01",
            "reviewers": [f"Reviewer {n}" for n in range(MAX_ITEMS)],
            "findings": text(LONG, 7),
            "decision": "conditional",
            "actions": [text(MEDIUM, n) for n in range(MAX_ITEMS)],
        },
        reason="the longest review",
    )
    writes.create_entry(
        session,
        OFFICER,
        system,
        "monitoring_plan",
        {
            "metrics": [
                {"name": text(200, n)[:200], "category": "drift", "unit": "%"}
                for n in range(MAX_ITEMS)
            ],
            "alert_routing": text(MEDIUM, 2),
        },
    )
    count += 2
    # A later version of each of the biggest, so their history has two rows.
    writes.update_entry(
        session,
        OFFICER,
        biggest.entry_id,
        {**dict(bodies(1, procedure.entry_id, evidence)["review"]), "findings": text(LONG, 8)},
        base_version=1,
        reason=text(200, 4)[:200],
    )
    session.commit()
    return count


@pytest.mark.slow
def test_a_pack_of_a_system_that_records_a_great_deal_exports_and_verifies(app, session):
    entries = build_large_system(session, PER_KIND)

    done = do_export(app, session, REFERENCE)

    summary = verifier.verify(str(done.path))
    assert any(f"{entries} entries" in line for line in summary.lines), summary.lines
    reader = pypdf.PdfReader(io.BytesIO(members(done.path)["evidence.pdf"]))
    pages = len(reader.pages)
    assert pages > 100
    # The end of the report is there: the audit-trail extract with its verification
    # data, and every page numbered.
    tail = "\n".join(reader.pages[n].extract_text() for n in range(pages - 3, pages))
    assert "Verification data" in tail
    assert f"Page {pages} of {pages}" in tail
