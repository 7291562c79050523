"""What an update over the API asks of the database: on PostgreSQL, for a compliance
officer, the token lookup and one autocommit statement (no BEGIN, no COMMIT), so the
ledger lock is never held across a round trip; a technical owner's update takes the
step-by-step path in one transaction. The answers are the same either way."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from registry.extensions import database
from tests.records.samples import SAMPLES


class Traffic:
    def __init__(self, engine: sa.Engine) -> None:
        self.statements: list[str] = []
        self.begins = 0
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        sa.event.listen(engine, "begin", self._begin)

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    def _begin(self, conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            self.begins += 1


@pytest.fixture
def entry(api_as: Any, profile: dict[str, Any]) -> dict[str, Any]:
    officer = api_as("compliance_officer")
    assert officer.post("/api/v1/systems", json={"profile": profile}).status_code == 201
    created = officer.post(
        "/api/v1/systems/sys-1/entries",
        json={"kind": "data_source", "body": SAMPLES["data_source"]},
    )
    assert created.status_code == 201
    officer.put(  # the first write of an entry in a process looks up its kind and system
        f"/api/v1/entries/{created.get_json()['id']}",
        json={"body": SAMPLES["data_source"]},
        headers={"If-Match": created.headers["ETag"]},
    )
    return officer.get(f"/api/v1/entries/{created.get_json()['id']}").get_json()


def test_an_officers_update_is_two_statements_and_no_transaction(app, api_as, entry, engine_name):
    traffic = Traffic(database(app).engine)
    changed = {**SAMPLES["data_source"], "name": "Applications 2019-2025"}
    response = api_as("compliance_officer").put(
        f"/api/v1/entries/{entry['id']}",
        json={"body": changed},
        headers={"If-Match": entry["etag"]},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["ETag"] == f'"{entry["id"]}.3"'
    if engine_name == "postgresql":
        assert len(traffic.statements) == 2, traffic.statements
        assert "api_token" in traffic.statements[0]
        assert "registry_write_version" in traffic.statements[1]
        assert traffic.begins == 0
    retired = api_as("compliance_officer").post(
        f"/api/v1/entries/{entry['id']}/retire",
        json={},
        headers={"If-Match": response.headers["ETag"]},
    )
    assert retired.status_code == 200 and retired.get_json()["retired"] is True
    if engine_name == "postgresql":
        assert len(traffic.statements) == 4 and traffic.begins == 0


def test_a_technical_owners_update_takes_the_lock_before_its_check(
    app, api_as, entry, users, engine_name
):
    officer = api_as("compliance_officer")
    owner = officer.post(
        "/api/v1/systems/sys-1/entries",
        json={
            "kind": "owner",
            "body": {
                **SAMPLES["owner"],
                "role": "technical",
                "person": {"name": "Tech", "email": users["technical_owner"].email},
            },
        },
    )
    assert owner.status_code == 201
    traffic = Traffic(database(app).engine)
    changed = {**SAMPLES["data_source"], "name": "By the technical owner"}
    response = api_as("technical_owner").put(
        f"/api/v1/entries/{entry['id']}",
        json={"body": changed},
        headers={"If-Match": entry["etag"]},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    if engine_name == "postgresql":
        assert traffic.begins == 1  # one transaction, for the write
        locking = [i for i, s in enumerate(traffic.statements) if "registry_ledger_lock" in s]
        reading = [i for i, s in enumerate(traffic.statements) if "entry_version.body" in s]
        assert locking and reading and locking[0] < reading[0]


def test_a_profile_edit_is_one_statement_but_a_promotion_meets_the_gate(app, api_as, profile):
    officer = api_as("compliance_officer")
    created = officer.post("/api/v1/systems", json={"profile": profile})
    assert created.status_code == 201, created.get_json()
    entry_id = created.get_json()["profile"]["id"]
    tag = created.get_json()["profile"]["etag"]
    # Known to this process (as after any write), so the edit needs no lookup.
    edited = officer.put(
        f"/api/v1/entries/{entry_id}",
        json={"body": {**profile, "purpose": "Sorting post"}},
        headers={"If-Match": tag},
    )
    assert edited.status_code == 200, edited.get_json()
    traffic = Traffic(database(app).engine)
    again = officer.put(
        f"/api/v1/entries/{entry_id}",
        json={"body": {**profile, "purpose": "Sorting parcels"}},
        headers={"If-Match": edited.headers["ETag"]},
    )
    assert again.status_code == 200, again.get_json()
    if app.extensions["registry.db"].dialect == "postgresql":
        assert any("registry_write_version" in s for s in traffic.statements)
        assert traffic.begins == 0
    # A promotion to production is refused by the readiness gate, on every path.
    promoted = officer.put(
        f"/api/v1/entries/{entry_id}",
        json={"body": {**profile, "stage": "production"}},
        headers={"If-Match": again.headers["ETag"]},
    )
    assert promoted.status_code == 409, promoted.get_json()
    assert promoted.get_json()["code"] == "not_ready"
    # So is adding the mark of mirroring another register, which would open the gate.
    marked = officer.put(
        f"/api/v1/entries/{entry_id}",
        json={"body": {**profile, "mirrors_register": "Another register"}},
        headers={"If-Match": again.headers["ETag"]},
    )
    assert marked.status_code == 409, marked.get_json()
    current = officer.get(f"/api/v1/entries/{entry_id}").get_json()
    assert current["version"] == 3 and current["body"]["stage"] == profile["stage"]
