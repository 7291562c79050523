"""The import page: a compliance officer checks a file (errors by row and column, nothing
written), then imports it; others may not."""

from __future__ import annotations

import io

import sqlalchemy as sa

from registry.records.models import EntryVersion
from tests.conftest import csrf_token
from tests.sheets.test_import import csv_bytes, good_rows


def _post(client, data: bytes, action: str, mapping: str = ""):
    return client.post(
        "/import",
        data={
            "csrf_token": csrf_token(client, "/import"),
            "file": (io.BytesIO(data), "inventory.csv"),
            "mapping": mapping,
            "action": action,
        },
        content_type="multipart/form-data",
    )


def test_an_officer_checks_then_imports(client, login_as, session):
    login_as("compliance_officer")
    assert "Import systems from a spreadsheet" in client.get("/systems").get_data(as_text=True)
    rows = good_rows(2)
    rows[1][4] = "severe"
    checked = _post(client, csv_bytes(rows), "import")
    page = checked.get_data(as_text=True)
    assert checked.status_code == 422 and "nothing can be imported" in page
    assert "<td>3</td><td>risk_tier</td>" in page
    assert session.scalar(sa.select(sa.func.count()).select_from(EntryVersion)) == 0

    dry = _post(client, csv_bytes(good_rows(2)), "check")
    assert dry.status_code == 200 and "would create 2" in dry.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(EntryVersion)) == 0
    done = _post(client, csv_bytes(good_rows(2)), "import")
    assert done.status_code == 200 and "2 created" in done.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(EntryVersion)) == 4
    bad_map = _post(client, csv_bytes(good_rows(1)), "check", "nonsense")
    assert bad_map.status_code == 422 and "Header=field" in bad_map.get_data(as_text=True)


def test_an_auditor_may_not_import(client, login_as):
    login_as("auditor")
    assert client.get("/import").status_code == 403
