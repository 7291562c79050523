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


def test_a_systems_coverage_and_the_organisations_statement(client, login_as, session, officer):
    from registry.records import writes
    from tests.records.samples import SAMPLES

    system, _ = writes.create_system(session, officer, {**SAMPLES["profile"], "role": "provider"})
    writes.create_entry(session, officer, system, "applicability", SAMPLES["applicability"])
    session.commit()
    login_as("auditor")
    page = client.get("/systems/sys-1/frameworks").get_data(as_text=True)
    assert "Statement of Applicability: ISO/IEC 42001:2023" in page
    assert SAMPLES["applicability"]["justification"] in page
    assert "not applicable" in page and "(decided)" in page
    assert client.get("/systems/sys-1/frameworks?on=2020-13-01").status_code == 422
    # Before the system was registered it had no records: nothing met.
    page = client.get("/systems/sys-1/frameworks?on=2020-01-01").get_data(as_text=True)
    assert SAMPLES["applicability"]["justification"] not in page
    page = client.get("/frameworks/iso-42001/statement-of-applicability").get_data(as_text=True)
    assert "Scope: the systems in the register (1)" in page and "excluded" in page


def test_a_systems_coverage_downloads_as_csv(client, login_as, session, officer):
    import csv
    import io

    from registry.records import writes
    from tests.records.samples import SAMPLES

    system, _ = writes.create_system(session, officer, {**SAMPLES["profile"], "role": "provider"})
    writes.create_entry(
        session,
        officer,
        system,
        "applicability",
        {**SAMPLES["applicability"], "justification": "=cmd|' /C calc'!A0"},
    )
    session.commit()
    login_as("auditor")
    response = client.get("/systems/sys-1/frameworks?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert len(rows) == 1 + 64 + 38 + 72
    line = next(r for r in rows if r[:2] == ["iso-42001", "A.10.4"])
    assert line[3:7] == ["no", "yes", "'=cmd|' /C calc'!A0", "not_applicable"]
