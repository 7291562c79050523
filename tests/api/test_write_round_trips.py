"""What an update over the API asks of the database: on PostgreSQL, for a compliance
officer, the token lookup and one autocommit statement (no BEGIN, no COMMIT), so the
ledger lock is never held across a round trip; for a technical owner, the token lookup,
the system's owner entries, and one statement that writes only if they are unchanged
under the lock. The answers are the same either way.

Statements are what the request asks. With ``REGISTRY_DATABASE_PRE_PING`` on (the
default) each checkout of a pooled connection is tested first: one round trip more per
checkout, counted apart (``pings``), so the officer's update is two statements and two
pings (the token lookup's connection and the write's)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from registry.db_traffic import DriverTraffic
from registry.extensions import database
from registry.records import service
from tests.api.conftest import ApiClient
from tests.conftest import make_app
from tests.records.samples import SAMPLES


@pytest.fixture
def watch(app: Any) -> Iterator[Callable[[], DriverTraffic]]:
    """Start counting what the app's connections send (PostgreSQL only)."""
    watching: list[DriverTraffic] = []

    def start() -> DriverTraffic:
        watching.append(DriverTraffic(database(app).engine))
        return watching[-1]

    yield start
    for traffic in watching:
        traffic.close()


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


def test_an_officers_update_is_two_statements_and_no_transaction(
    app, api_as, entry, engine_name, watch
):
    traffic = watch() if engine_name == "postgresql" else None
    changed = {**SAMPLES["data_source"], "name": "Applications 2019-2025"}
    response = api_as("compliance_officer").put(
        f"/api/v1/entries/{entry['id']}",
        json={"body": changed},
        headers={"If-Match": entry["etag"]},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["ETag"] == f'"{entry["id"]}.3"'
    if traffic is not None:  # counted at the driver: every path to the server
        assert len(traffic.statements) == 2, traffic.statements
        assert "api_token" in traffic.statements[0]
        assert "registry_write_version" in traffic.statements[1]
        assert traffic.begins == 0
        assert traffic.pings == 2 and traffic.round_trips == 4
    retired = api_as("compliance_officer").post(
        f"/api/v1/entries/{entry['id']}/retire",
        json={},
        headers={"If-Match": response.headers["ETag"]},
    )
    assert retired.status_code == 200 and retired.get_json()["retired"] is True
    if traffic is not None:
        assert len(traffic.statements) == 4 and traffic.begins == 0 and traffic.pings == 4


def test_without_pre_ping_an_update_sends_only_its_statements(
    database_url, engine_name, tmp_path, tokens, entry
):
    if engine_name != "postgresql":
        pytest.skip("counted at the PostgreSQL driver")
    # Another app (process) on the same database and key, with pre-ping off.
    quiet = make_app(database_url, tmp_path / "instance", DATABASE_PRE_PING=False)
    officer = ApiClient(quiet.test_client(), tokens["compliance_officer"])
    changed = {**SAMPLES["data_source"], "name": "Without pings"}
    first = officer.put(  # its first write asks for the latest checkpoint (none seen yet)
        f"/api/v1/entries/{entry['id']}",
        json={"body": changed},
        headers={"If-Match": entry["etag"]},
    )
    assert first.status_code == 200, first.get_data(as_text=True)
    traffic = DriverTraffic(database(quiet).engine)
    try:
        response = officer.put(
            f"/api/v1/entries/{entry['id']}",
            json={"body": {**changed, "name": "Still without pings"}},
            headers={"If-Match": first.headers["ETag"]},
        )
        assert response.status_code == 200, response.get_data(as_text=True)
        assert len(traffic.statements) == 2 and traffic.pings == 0
        assert traffic.round_trips == 2
    finally:
        traffic.close()
        database(quiet).dispose()


def test_a_technical_owners_update_is_decided_on_owner_entries_checked_under_the_lock(
    app, api_as, entry, users, engine_name, watch
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
    traffic = watch() if engine_name == "postgresql" else None
    changed = {**SAMPLES["data_source"], "name": "By the technical owner"}
    response = api_as("technical_owner").put(
        f"/api/v1/entries/{entry['id']}",
        json={"body": changed},
        headers={"If-Match": entry["etag"]},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["author"] == f"user:{users['technical_owner'].email}"
    if traffic is not None:
        # The token, the system's live owner entries (no lock), and one statement that
        # writes only if those entries are unchanged under the lock.
        assert len(traffic.statements) == 3, traffic.statements
        assert "api_token" in traffic.statements[0]
        assert "entry_version.body" in traffic.statements[1]
        assert "registry_write_version_as_owner" in traffic.statements[2]
        assert traffic.begins == 0
        traffic.reset()
    # The process remembers the owner entries it read: the next update needs only the
    # token and the statement, which checks them under the lock.
    response = api_as("technical_owner").put(
        f"/api/v1/entries/{entry['id']}",
        json={"body": changed},
        headers={"If-Match": response.headers["ETag"]},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    if traffic is not None:
        assert len(traffic.statements) == 2, traffic.statements
        assert "registry_write_version_as_owner" in traffic.statements[1]
        assert traffic.begins == 0
    # Once the owner entry is retired, the technical owner may no longer write. The
    # process that retired it forgets the owner entries it remembered; another worker
    # (simulated: its memory from before) finds its memory refused under the lock,
    # and its step-by-step write reads the right again and refuses.
    remembered = dict(service._OWNER_ENTRIES)
    retired = officer.post(
        f"/api/v1/entries/{owner.get_json()['id']}/retire",
        json={},
        headers={"If-Match": owner.headers["ETag"]},
    )
    assert retired.status_code == 200
    if traffic is not None:
        assert len(service._OWNER_ENTRIES) < len(remembered)  # forgotten here
    service._OWNER_ENTRIES.update(remembered)
    # An invalid body from someone no longer named: 403 first, as on the other path,
    # even while the process still remembers the entries that named them (here to an
    # entry this process has not written yet, whose facts it looks up).
    other = officer.post(
        "/api/v1/systems/sys-1/entries",
        json={"kind": "data_source", "body": SAMPLES["data_source"]},
    )
    assert other.status_code == 201
    invalid = api_as("technical_owner").put(
        f"/api/v1/entries/{other.get_json()['id']}",
        json={"body": {**changed, "uses": "not a list"}},
        headers={"If-Match": other.headers["ETag"]},
    )
    assert invalid.status_code == 403, invalid.get_data(as_text=True)
    if traffic is not None:
        traffic.reset()
    refused = api_as("technical_owner").put(
        f"/api/v1/entries/{entry['id']}",
        json={"body": {**changed, "name": "Not any more"}},
        headers={"If-Match": response.headers["ETag"]},
    )
    assert refused.status_code == 403, refused.get_data(as_text=True)
    if traffic is not None:
        assert any("registry_write_version_as_owner" in s for s in traffic.statements)
        assert traffic.begins == 1  # then the step-by-step write, which refused
    current = officer.get(f"/api/v1/entries/{entry['id']}").get_json()
    assert current["version"] == 4 and current["body"]["name"] == "By the technical owner"


def test_a_profile_edit_is_one_statement_but_a_promotion_meets_the_gate(
    app, api_as, profile, engine_name, watch
):
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
    traffic = watch() if engine_name == "postgresql" else None
    again = officer.put(
        f"/api/v1/entries/{entry_id}",
        json={"body": {**profile, "purpose": "Sorting parcels"}},
        headers={"If-Match": edited.headers["ETag"]},
    )
    assert again.status_code == 200, again.get_json()
    if traffic is not None:
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


def test_a_technical_owners_profile_edit_keeps_the_classification_in_one_statement(
    app, api_as, profile, users, engine_name, watch
):
    officer = api_as("compliance_officer")
    created = officer.post("/api/v1/systems", json={"profile": {**profile, "risk_tier": "high"}})
    assert created.status_code == 201, created.get_json()
    entry_id = created.get_json()["profile"]["id"]
    owner = {
        **SAMPLES["owner"],
        "role": "technical",
        "person": {"name": "Tech", "email": users["technical_owner"].email},
    }
    made = officer.post("/api/v1/systems/sys-1/entries", json={"kind": "owner", "body": owner})
    assert made.status_code == 201
    body = {**profile, "risk_tier": "high"}
    tech = api_as("technical_owner")
    traffic = watch() if engine_name == "postgresql" else None
    first = tech.put(
        f"/api/v1/entries/{entry_id}",
        json={"body": {**body, "purpose": "Sorting post"}},
        headers={"If-Match": created.get_json()["profile"]["etag"]},
    )
    assert first.status_code == 200, first.get_json()
    if traffic is not None:
        # The token, the entry's kind and system, the owner entries, the base version's
        # classification (all without the lock), and the statement.
        assert len(traffic.statements) == 5, traffic.statements
        assert "entry_version.body" in traffic.statements[3]
        assert "registry_write_version_as_owner" in traffic.statements[-1]
        assert traffic.begins == 0
        traffic.reset()
    # The version it wrote is remembered: the next edit is the token and the statement.
    second = tech.put(
        f"/api/v1/entries/{entry_id}",
        json={"body": {**body, "purpose": "Sorting parcels"}},
        headers={"If-Match": first.headers["ETag"]},
    )
    assert second.status_code == 200, second.get_json()
    if traffic is not None:
        assert len(traffic.statements) == 2, traffic.statements
        assert traffic.begins == 0
    # Lowering the risk tier is the compliance officer's: refused, naming the field,
    # whichever path it takes, and nothing is written.
    lowered = tech.put(
        f"/api/v1/entries/{entry_id}",
        json={
            "body": {**body, "purpose": "Sorting parcels", "risk_tier": "minimal"},
            "reason": "lower",
        },
        headers={"If-Match": second.headers["ETag"]},
    )
    assert lowered.status_code == 403, lowered.get_json()
    assert "risk_tier" in lowered.get_json()["detail"]
    current = officer.get(f"/api/v1/entries/{entry_id}").get_json()
    assert current["version"] == 3 and current["body"]["risk_tier"] == "high"
