"""Importing an inventory from CSV and XLSX: a dry run that lists errors by row and
column and writes nothing, versioned creates naming the file's SHA-256, an idempotent
re-import, a changed row as a new version; through the CLI too."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import openpyxl
import pytest
import sqlalchemy as sa

from registry.errors import InvalidInput
from registry.ledger.models import AuditEvent
from registry.records import reads
from registry.records.models import EntryVersion
from registry.sheets import importing

HEADER = [
    "reference",
    "Name",
    "purpose",
    "stage",
    "risk_tier",
    "role",
    "business_owner_name",
    "business_owner_email",
]


def csv_bytes(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def good_rows(n: int = 3) -> list[list[str]]:
    return [
        [
            f"inv-{i}",
            f"System {i}",
            "Sorts mail",
            "pilot",
            "minimal",
            "deployer",
            "Bea",
            "bea@example.org",
        ]
        for i in range(n)
    ]


def versions(session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(EntryVersion))


def events(session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(AuditEvent))


def test_a_dry_run_lists_errors_by_row_and_column_and_writes_nothing(session):
    rows = good_rows(4)
    rows[1][3] = "live"  # row 3: stage
    rows[2][7] = "not-an-email"  # row 4: owner e-mail
    rows[3][0] = "inv-0"  # row 5: the reference of row 2 again
    found = importing.plan(session, csv_bytes(rows), "inventory.csv")
    assert [(e.row, e.column) for e in found.errors] == [
        (3, "stage"),
        (4, "business_owner_email"),
        (5, "reference"),
    ]
    assert "Also on row 2" in found.errors[2].message
    assert found.counts() == {"create": 1, "update": 0, "unchanged": 0}
    assert versions(session) == 0
    with pytest.raises(InvalidInput):
        importing.apply(session, None, found)
    assert versions(session) == 0


def test_unknown_columns_need_a_mapping(session):
    header = ["Ref", "Naam", "stage"]
    data = csv_bytes([["a-1", "Een", "pilot"]], header)
    found = importing.plan(session, data, "nl.csv")
    assert {(e.row, e.column) for e in found.errors} == {(1, "Ref"), (1, "Naam"), (1, "reference")}
    mapped = importing.plan(session, data, "nl.csv", {"Ref": "reference", "Naam": "name"})
    assert not mapped.errors and mapped.rows[0].profile["name"] == "Een"


def test_import_is_versioned_idempotent_and_a_changed_row_is_a_new_version(session, officer):
    data = csv_bytes(good_rows(3))
    digest = hashlib.sha256(data).hexdigest()
    found = importing.plan(session, data, "inventory.csv")
    assert importing.apply(session, officer, found) == {"create": 3, "update": 0, "unchanged": 0}
    session.commit()
    assert versions(session) == 6  # three profiles, three owners
    reasons = set(session.scalars(sa.select(EntryVersion.reason)))
    assert reasons == {f"Imported from inventory.csv (SHA-256 {digest})"}
    ledger = events(session)

    again = importing.plan(session, data, "inventory.csv")
    assert again.counts() == {"create": 0, "update": 0, "unchanged": 3}
    importing.apply(session, officer, again)
    session.commit()
    assert versions(session) == 6 and events(session) == ledger

    rows = good_rows(3)
    rows[1][2] = "Sorts mail and parcels"
    rows[2][6:8] = ["Ben", "ben@example.org"]
    changed = importing.plan(session, csv_bytes(rows), "inventory-2.csv")
    assert changed.counts() == {"create": 0, "update": 2, "unchanged": 1}
    importing.apply(session, officer, changed)
    session.commit()
    system = reads.get_system(session, "inv-1")
    profile = reads.profile_entry(session, system)
    assert profile.head_number == 2
    state = reads.system_state(session, reads.get_system(session, "inv-2"))
    owners = sorted(e.body["person"]["email"] for e in state.entries if e.kind == "owner")
    assert owners == ["bea@example.org", "ben@example.org"]
    assert versions(session) == 8


def test_an_xlsx_file_imports_like_a_csv(session, officer):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Reference", "Name", "Stage", "Risk tier"])
    sheet.append(["x-1", "From Excel", "production", "limited"])
    out = io.BytesIO()
    book.save(out)
    found = importing.plan(session, out.getvalue(), "inventory.xlsx")
    assert not found.errors
    importing.apply(session, officer, found)
    session.commit()
    profile = reads.system_state(session, reads.get_system(session, "x-1")).entries[0]
    assert profile.body["risk_tier"] == "limited" and profile.body["stage"] == "production"
    broken = importing.plan  # a file that is not a workbook is refused clearly
    with pytest.raises(InvalidInput, match="not a readable XLSX"):
        broken(session, b"not a zip", "inventory.xlsx")


def test_ten_thousand_rows_with_errors_in_known_rows(session, officer):
    rows = good_rows(10_000)
    bad = {17: (3, "retired-ish"), 4_321: (4, "extreme"), 9_999: (7, "@@")}
    for index, (column, value) in bad.items():
        rows[index][column] = value
    found = importing.plan(session, csv_bytes(rows), "big.csv")
    assert [(e.row, e.column) for e in found.errors] == [
        (19, "stage"),
        (4_323, "risk_tier"),
        (10_001, "business_owner_email"),
    ]
    assert found.counts()["create"] == 9_997
    # The import refuses the file whole: the errors named, nothing written.
    before = events(session)
    with pytest.raises(InvalidInput, match="3 error") as refused:
        importing.apply(session, officer, found)
    assert refused.value.field_errors["file"][0] == "row 19, stage: " + found.errors[0].message
    session.commit()
    assert versions(session) == 0 and events(session) == before


def test_the_cli_dry_runs_and_imports(app, session, tmp_path):
    path = tmp_path / "inventory.csv"
    path.write_bytes(csv_bytes(good_rows(2)))
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["import", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would 2 create, 0 update, 0 unchanged" in dry.output
    assert versions(session) == 0
    done = runner.invoke(args=["import", str(path)])
    assert done.exit_code == 0, done.output
    assert versions(session) == 4
    rows = good_rows(2)
    rows[0][3] = "someday"
    path.write_bytes(csv_bytes(rows))
    failed = runner.invoke(args=["import", str(path)])
    assert failed.exit_code == 1 and "row 2, column stage" in failed.output
    mapped = runner.invoke(args=["import", str(path), "--map", "nonsense"])
    assert mapped.exit_code == 2
    assert json.dumps(versions(session)) == "4"


def test_an_owners_e_mail_column_without_a_name_column_names_the_column_to_add(
    app, session, tmp_path
):
    path = tmp_path / "inventory.csv"
    header = ["reference", "name", "stage", "Tech e-mail"]
    path.write_bytes(csv_bytes([["inv-1", "One", "pilot", "tina@example.org"]], header))
    result = app.test_cli_runner().invoke(
        args=["import", str(path), "--dry-run", "--map", "Tech e-mail=technical_owner_email"]
    )
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "row 1, column Tech e-mail: The file gives the technical owners' e-mail addresses "
        "but has no technical_owner_name column: add one (an owner needs a name and an "
        "e-mail address).",
        "1 error(s) in inventory.csv: nothing imported.",
    ]
    header = ["reference", "name", "stage", "business_owner_name"]
    found = importing.plan(session, csv_bytes([["inv-1", "One", "pilot", "Bea"]], header), "i.csv")
    assert [(e.row, e.column) for e in found.errors] == [(1, "business_owner_name")]
    assert "has no business_owner_email column: add one" in found.errors[0].message
    assert versions(session) == 0
