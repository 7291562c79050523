"""OSCAL documents: the catalogues as catalogs and a system's coverage as assessment
results, validated against NIST's published OSCAL 1.1.2 JSON schemas (tests/frameworks/
oscal_schemas, Draft 7 with format checks) and by compliance-trestle's models of them
(which refuse unknown fields and bad ids); the CLI prints them."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.catalog import Catalog

from registry.applicability import oscal
from registry.records import writes
from tests.frameworks import nist_oscal
from tests.records.samples import SAMPLES


@pytest.mark.parametrize("framework", ["eu-ai-act", "iso-42001", "nist-ai-rmf"])
def test_every_catalogue_is_a_valid_oscal_catalog(framework):
    document = oscal.oscal_catalog(framework)
    nist_oscal.validate(document)
    catalog = Catalog.model_validate(document["catalog"])
    ids = json.dumps(document)
    if framework == "nist-ai-rmf":
        assert [g.id for g in catalog.groups] == ["GOVERN", "MAP", "MEASURE", "MANAGE"]
        assert ids.count('"class": "subcategory"') == 72
    if framework == "iso-42001":
        assert ids.count('"class": "control"') == 38
    # Deterministic: the same catalogue gives the same document.
    assert oscal.oscal_catalog(framework) == document


def test_the_validation_fails_on_a_document_out_of_the_schema():
    document = oscal.oscal_catalog("iso-42001")["catalog"]
    document["groups"][0]["controls"][0]["id"] = "2.2 with spaces"
    with pytest.raises(ValueError):
        Catalog.model_validate(document)
    (problem,) = nist_oscal.errors({"catalog": document})
    assert problem.startswith("catalog/groups/0/controls/0/id: '2.2 with spaces'")


@pytest.mark.parametrize(
    ("where", "value", "complaint"),
    [
        (("metadata", "last-modified"), "2026-01-01 10:00", "is not a 'date-time'"),
        (("metadata", "oscal-version"), "", "does not match"),
        (("uuid",), "not-a-uuid", "does not match"),
        (("metadata", "unknown-field"), "x", "Additional properties are not allowed"),
    ],
)
def test_nists_schema_refuses_what_it_does_not_allow(where, value, complaint):
    document = oscal.oscal_catalog("nist-ai-rmf")
    place = document["catalog"]
    for key in where[:-1]:
        place = place[key]
    place[where[-1]] = value
    assert any(complaint in p for p in nist_oscal.errors(document))


def test_a_systems_assessment_results_cite_entry_versions_and_ledger_events(session, officer, app):
    system, profile = writes.create_system(
        session, officer, {**SAMPLES["profile"], "role": "provider"}
    )
    owner = writes.create_entry(session, officer, system, "owner", SAMPLES["owner"])
    decision = writes.create_entry(
        session, officer, system, "applicability", SAMPLES["applicability"]
    )
    session.commit()
    at = dt.datetime.now(dt.UTC)
    document = oscal.system_assessment_results(session, "sys-1", at)
    nist_oscal.validate(document)
    results = AssessmentResults.model_validate(document["assessment-results"])
    assert [r.title.rsplit(":", 1)[0] for r in results.results] == [
        "EU AI Act (Regulation (EU) 2024/1689)",
        "ISO/IEC 42001:2023 Annex A (reference control objectives and controls)",
        "NIST AI Risk Management Framework 1.0",
    ]
    iso = document["assessment-results"]["results"][1]
    finding = next(f for f in iso["findings"] if f["target"]["target-id"] == "A.10.4")
    assert finding["target"]["status"] == {"state": "satisfied", "reason": "not-applicable"}
    assert finding["target"]["implementation-status"] == {"state": "not-applicable"}
    assert SAMPLES["applicability"]["justification"] in finding["description"]
    a_3_2 = next(f for f in iso["findings"] if f["target"]["target-id"] == "A.3.2")
    assert a_3_2["target"]["status"]["state"] == "not-satisfied"
    (observation,) = [
        o
        for o in iso["observations"]
        if o["uuid"] == a_3_2["related-observations"][0]["observation-uuid"]
    ]
    resources = {r["uuid"]: r for r in document["assessment-results"]["back-matter"]["resources"]}
    cited = [resources[e["href"][1:]] for e in observation["relevant-evidence"]]
    owner_resource = next(r for r in cited if r["title"].startswith("owner entry"))
    hrefs = [link["href"] for link in owner_resource["rlinks"]]
    assert hrefs == [
        f"/api/v1/entries/{owner.entry_id}/versions/1",
        f"/api/v1/ledger/events/{owner.audit_seq}",
    ]
    assert owner_resource["rlinks"][0]["hashes"][0]["value"] == owner.body_hash
    assert f"/api/v1/ledger/events/{decision.audit_seq}" in json.dumps(document)
    # As of an instant: the same document again; before the decision, another finding.
    assert oscal.system_assessment_results(session, "sys-1", at) == document
    before = oscal.system_assessment_results(session, "sys-1", profile.recorded_at)
    nist_oscal.validate(before)
    AssessmentResults.model_validate(before["assessment-results"])
    iso_before = before["assessment-results"]["results"][1]
    finding = next(f for f in iso_before["findings"] if f["target"]["target-id"] == "A.10.4")
    assert finding["target"]["status"]["reason"] == "missing"

    runner = app.test_cli_runner()
    printed = runner.invoke(args=["export", "sys-1", "--oscal", "--as-of", at.isoformat()])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == document
    refused = runner.invoke(args=["export", "--all", "--oscal"])
    assert refused.exit_code != 0
