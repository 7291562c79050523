"""The framework catalogues over the API."""

from __future__ import annotations

import datetime as dt

from tests.frameworks import nist_oscal
from tests.records.samples import SAMPLES


def test_the_api_lists_frameworks_and_their_items(api_as):
    auditor = api_as("auditor")
    listed = auditor.get("/api/v1/frameworks")
    assert listed.status_code == 200
    by_id = {f["id"]: f for f in listed.get_json()["items"]}
    assert by_id["nist-ai-rmf"]["counts"] == {"function": 4, "category": 19, "subcategory": 72}
    assert by_id["iso-42001"]["counts"]["control"] == 38
    assert "EUR-Lex" in by_id["eu-ai-act"]["licence"]

    iso = auditor.get("/api/v1/frameworks/iso-42001").get_json()
    a_3_2 = next(i for i in iso["items"] if i["id"] == "A.3.2")
    assert "business_owner" in a_3_2["criteria"] and "owner" in a_3_2["kinds"]

    art_11 = auditor.get("/api/v1/frameworks/eu-ai-act/items/art-11").get_json()
    assert art_11["ref"] == "Art 11, Annex IV" and art_11["class"] == "obligation"
    assert [c["ref"] for c in art_11["children"]][:2] == ["Annex IV 1", "Annex IV 2"]
    govern = auditor.get("/api/v1/frameworks/nist-ai-rmf/items/GOVERN-2").get_json()
    assert [c["id"] for c in govern["children"]] == ["GOVERN-2.1", "GOVERN-2.2", "GOVERN-2.3"]


def test_an_unknown_framework_or_item_is_a_404_problem(api_as):
    officer = api_as("compliance_officer")
    for path in ("/api/v1/frameworks/sox", "/api/v1/frameworks/iso-42001/items/A.1.1"):
        response = officer.get(path)
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"


def test_coverage_and_statements_follow_a_decision_posted_over_the_api(api_as):
    officer = api_as("compliance_officer")
    profile = {**SAMPLES["profile"], "role": "deployer"}
    assert officer.post("/api/v1/systems", json={"profile": profile}).status_code == 201
    before = dt.datetime.now(dt.UTC).isoformat()
    shown = officer.get("/api/v1/systems/sys-1/coverage?framework=eu-ai-act").get_json()
    (eu,) = shown["frameworks"]
    art_26 = next(i for i in eu["items"] if i["item"] == "art-26")
    assert art_26["applicable"] and art_26["status"] in ("missing", "partial")
    art_9 = next(i for i in eu["items"] if i["item"] == "art-9")
    assert art_9["status"] == "not_applicable" and art_9["decision"] is None

    decision = {
        **SAMPLES["applicability"],
        "framework": "eu-ai-act",
        "item": "art-9",
        "applicable": True,
        "justification": "We retrain the model ourselves: provider duties taken on (Art 25)",
    }
    posted = officer.post(
        "/api/v1/systems/sys-1/entries", json={"kind": "applicability", "body": decision}
    )
    assert posted.status_code == 201, posted.get_json()
    # Only a compliance officer decides.
    technical = api_as("technical_owner").post(
        "/api/v1/systems/sys-1/entries", json={"kind": "applicability", "body": decision}
    )
    assert technical.status_code == 403

    now = officer.get("/api/v1/systems/sys-1/coverage?framework=eu-ai-act").get_json()
    art_9 = next(i for i in now["frameworks"][0]["items"] if i["item"] == "art-9")
    assert art_9["applicable"] and art_9["decision"]["entry_id"] == posted.get_json()["id"]
    assert art_9["status"] != "not_applicable"
    past = officer.get(
        "/api/v1/systems/sys-1/coverage", query_string={"framework": "eu-ai-act", "as_of": before}
    ).get_json()
    assert past["frameworks"] == shown["frameworks"]

    soa = officer.get(
        "/api/v1/systems/sys-1/statement-of-applicability?framework=eu-ai-act"
    ).get_json()
    line = next(r for r in soa["items"] if r["item"] == "art-9")
    assert line["decided"] and line["justification"] == decision["justification"]
    organisation = officer.get("/api/v1/statement-of-applicability").get_json()
    assert organisation["systems"] == ["sys-1"] and len(organisation["items"]) == 38
    bad = officer.get("/api/v1/systems/sys-1/coverage?framework=sox")
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"


def test_oscal_over_the_api_validates(api_as):
    from trestle.oscal.assessment_results import AssessmentResults
    from trestle.oscal.catalog import Catalog

    officer = api_as("compliance_officer")
    assert officer.post("/api/v1/systems", json={"profile": SAMPLES["profile"]}).status_code == 201
    results = officer.get("/api/v1/systems/sys-1/oscal/assessment-results")
    assert results.status_code == 200
    nist_oscal.validate(results.get_json())
    AssessmentResults.model_validate(results.get_json()["assessment-results"])
    past = officer.get(
        "/api/v1/systems/sys-1/oscal/assessment-results?as_of=2020-01-01T00:00:00Z"
    ).get_json()
    nist_oscal.validate(past)
    assert past["assessment-results"]["metadata"]["last-modified"].startswith("2020-01-01")
    catalog = api_as("auditor").get("/api/v1/frameworks/nist-ai-rmf/oscal")
    nist_oscal.validate(catalog.get_json())
    Catalog.model_validate(catalog.get_json()["catalog"])
    assert officer.get("/api/v1/frameworks/sox/oscal").status_code == 404
    assert officer.get("/api/v1/systems/none/oscal/assessment-results").status_code == 404
