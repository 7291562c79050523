"""The catalogues on the web pages, for the roles that read records."""

from __future__ import annotations


def test_the_pages_show_catalogues_items_and_evidence(client, login_as):
    login_as("auditor")
    page = client.get("/frameworks").get_data(as_text=True)
    assert "NIST AI Risk Management Framework 1.0" in page and "subcategory: 72" in page
    page = client.get("/frameworks/iso-42001").get_data(as_text=True)
    assert "A.10.4" in page and "none of its text is reproduced" in page
    response = client.get("/frameworks/iso-42001/items/A.6.2.6")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Operation and monitoring" in page and "metrics_and_alerts" in page
    assert "monitoring_plan" in page
    assert client.get("/frameworks/iso-42001/items/A.99").status_code == 404


def test_an_administrator_does_not_read_the_frameworks(client, login_as):
    login_as("admin")
    assert client.get("/frameworks").status_code == 403
