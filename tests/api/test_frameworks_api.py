"""The framework catalogues over the API."""

from __future__ import annotations


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
