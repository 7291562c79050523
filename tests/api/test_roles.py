"""Each role's limits over the API, on both engines (and so through the one-statement
write on PostgreSQL): who may retire, reinstate and classify a system, and what a
reference between records must name."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from registry.errors import InvalidInput
from registry.ledger.checkpoints import settings_of
from registry.ledger.models import AuditEvent
from registry.ledger.store import verify_ledger
from registry.records import reads, writes
from tests.api.test_api import problem
from tests.records.samples import SAMPLES

PROFILE = {
    "name": "Benefit fraud triage",
    "reference": "sys-1",
    "stage": "pilot",
    "risk_tier": "high",
    "annex_iii_area": "5(a) public benefits",
}


@pytest.fixture
def owned(session, officer, users) -> Any:
    """sys-1, whose technical owner is the technical_owner user; its profile entry."""
    system, version = writes.create_system(session, officer, PROFILE)
    owner = {
        "role": "technical",
        "person": {"name": "Tess Tech", "email": users["technical_owner"].email},
        "start": "2020-01-01",
    }
    writes.create_entry(session, officer, system, "owner", owner)
    session.commit()
    return version.entry_id


def _put_profile(client: Any, entry_id: int, version: int, **change: Any) -> Any:
    return client.put(
        f"/api/v1/entries/{entry_id}",
        json={"body": {**PROFILE, **change}, "reason": "update"},
        headers={"If-Match": f'"{entry_id}.{version}"'},
    )


def _retire(client: Any, entry_id: int, version: int = 1) -> Any:
    return client.post(
        f"/api/v1/entries/{entry_id}/retire",
        json={"reason": "left the register"},
        headers={"If-Match": f'"{entry_id}.{version}"'},
    )


def _reinstate(client: Any, version: int, entry_id: int, **kw: Any) -> Any:
    return client.post(
        "/api/v1/systems/sys-1/reinstate",
        json={"reason": "back in use", **kw},
        headers={"If-Match": f'"{entry_id}.{version}"'},
    )


# ----------------------------------------------------------------------------- retire


def test_a_technical_owner_cannot_retire_their_systems_profile(api_as, owned):
    tech = api_as("technical_owner")
    body = problem(_retire(tech, owned), 403, "forbidden")
    assert "retire" in body["detail"]
    # Nothing changed: still listed, live, and its profile at version 1.
    listed = tech.get("/api/v1/systems").get_json()["items"]
    assert [(s["reference"], s["retired"]) for s in listed] == [("sys-1", False)]
    state = tech.get("/api/v1/systems/sys-1").get_json()
    assert state["retired"] is False and state["profile"]["version"] == 1
    # Their other entries they still retire.
    entries = tech.get("/api/v1/systems/sys-1/entries?kind=owner").get_json()["items"]
    assert _retire(tech, entries[0]["id"]).status_code == 200


def test_a_retired_system_stays_listed_readable_and_is_reinstated(api_as, session, owned):
    officer = api_as("compliance_officer")
    retired = _retire(officer, owned)
    assert retired.status_code == 200, retired.get_data(as_text=True)
    # Listed as retired (its profile as last in force), and filtered by status.
    (item,) = officer.get("/api/v1/systems").get_json()["items"]
    assert item["retired"] is True and item["name"] == PROFILE["name"]
    assert item["profile_version"] == 1
    assert officer.get("/api/v1/systems?status=live").get_json()["items"] == []
    assert len(officer.get("/api/v1/systems?status=retired").get_json()["items"]) == 1
    assert officer.get("/api/v1/systems?q=fraud").get_json()["items"][0]["retired"] is True
    problem(officer.get("/api/v1/systems?status=gone"), 422)
    # Its resource answers and says it is retired; its history stays readable.
    state = officer.get("/api/v1/systems/sys-1")
    assert state.status_code == 200, state.get_data(as_text=True)
    shown = state.get_json()
    assert shown["retired"] is True and shown["profile"]["retired"] is True
    assert shown["last_profile"]["body"]["name"] == PROFILE["name"]
    assert [e["kind"] for e in shown["entries"]] == ["owner"]
    versions = officer.get(f"/api/v1/entries/{owned}/versions").get_json()["items"]
    assert [v["tombstone"] for v in versions] == [False, True]
    # Only a compliance officer reinstates, with If-Match on the retirement; others are
    # refused before their request's conditions or input are looked at.
    problem(
        api_as("technical_owner").post("/api/v1/systems/sys-1/reinstate", json={"reason": "x"}), 403
    )
    problem(_reinstate(api_as("technical_owner"), 2, owned), 403)
    problem(_reinstate(api_as("auditor"), 2, owned), 403)
    problem(_reinstate(api_as("auditor"), 2, owned, effective_from="2000-01-01T00:00:00Z"), 403)
    problem(officer.post("/api/v1/systems/sys-1/reinstate", json={"reason": "x"}), 428)
    problem(_reinstate(officer, 1, owned), 412)
    problem(
        officer.post(
            "/api/v1/systems/sys-1/reinstate", json={}, headers={"If-Match": f'"{owned}.2"'}
        ),
        422,
    )
    back = _reinstate(officer, 2, owned)
    assert back.status_code == 200, back.get_data(as_text=True)
    assert back.headers["ETag"] == f'"{owned}.3"'
    assert back.get_json()["body"] == versions[0]["body"]
    state = officer.get("/api/v1/systems/sys-1").get_json()
    assert state["retired"] is False and state["profile"]["version"] == 3
    assert officer.get("/api/v1/systems?status=live").get_json()["items"][0]["profile_version"] == 3
    # Reinstating a live system is a conflict; the reinstatement is a ledger event.
    problem(_reinstate(officer, 3, owned), 409)
    actions = [
        json.loads(e)["action"]
        for e in session.scalars(sa.select(AuditEvent.event).order_by(AuditEvent.seq))
    ]
    assert actions[-2:] == ["entry.retire", "entry.reinstate"]
    # As-of reads: retired between the two, live before and after.
    at = {v["number"]: v["recorded_at"] for v in versions}
    between = officer.get("/api/v1/systems/sys-1", query_string={"as_of": at[2]}).get_json()
    assert between["retired"] is True
    effective = officer.get(
        "/api/v1/systems/sys-1", query_string={"effective_at": state["profile"]["effective_from"]}
    ).get_json()
    assert effective["retired"] is False and effective["profile"]["version"] == 3
    session.rollback()
    report = verify_ledger(session, [settings_of(session).signer.verifier_key])
    assert report.ok, report


def test_a_system_reinstated_in_production_passes_the_readiness_gate(api_as, session, officer):
    # Registered directly in production (not gated: it records a system that runs), then
    # retired: coming back in production is a promotion, refused while it is not ready.
    _system, version = writes.create_system(
        session, officer, {**PROFILE, "reference": "sys-1", "stage": "production"}
    )
    session.commit()
    client = api_as("compliance_officer")
    _retire(client, version.entry_id)
    body = problem(_reinstate(client, 2, version.entry_id), 409)
    assert body["code"] == "not_ready"
    assert client.get("/api/v1/systems/sys-1").get_json()["retired"] is True


def test_a_reinstatement_is_not_effective_before_the_retirement(api_as, owned):
    officer = api_as("compliance_officer")
    _retire(officer, owned)
    body = problem(_reinstate(officer, 2, owned, effective_from="2000-01-01T00:00:00Z"), 422)
    assert body["errors"] == [{"pointer": "/effective_from", "detail": body["errors"][0]["detail"]}]


# ----------------------------------------------------------------------------- classify


@pytest.mark.parametrize(
    "change",
    [
        {"risk_tier": "minimal", "art_6_3_rationale": "Narrow procedural task"},
        {"stage": "retired"},
        {"annex_iii_area": None},
        {"role": "deployer"},
    ],
)
def test_a_technical_owner_cannot_change_the_classification(api_as, session, owned, change):
    tech = api_as("technical_owner")
    body = problem(_put_profile(tech, owned, 1, **change), 403, "forbidden")
    changed = sorted(k for k in change)
    assert all(name in body["detail"] for name in changed), body["detail"]
    assert sorted(e["pointer"] for e in body["errors"]) == [f"/body/{n}" for n in changed]
    assert reads.get_entry(session, owned).head_number == 1
    session.rollback()
    # A compliance officer may.
    assert _put_profile(api_as("compliance_officer"), owned, 1, **change).status_code == 200


def test_a_technical_owner_changes_the_rest_of_the_profile(api_as, owned):
    tech = api_as("technical_owner")
    done = _put_profile(tech, owned, 1, name="Benefit triage", purpose="Triage")
    assert done.status_code == 200, done.get_data(as_text=True)
    again = _put_profile(tech, owned, 2, name="B", purpose="Triage")
    assert again.status_code == 200


# ----------------------------------------------------------------------------- references


def _add(client: Any, kind: str, body: dict[str, Any], ref: str = "sys-1") -> Any:
    return client.post(f"/api/v1/systems/{ref}/entries", json={"kind": kind, "body": body})


def test_references_name_live_entries_of_the_right_kind_in_the_same_system(api_as, owned):
    officer = api_as("compliance_officer")
    other = {**PROFILE, "reference": "sys-2"}
    assert officer.post("/api/v1/systems", json={"profile": other}).status_code == 201
    procedure = _add(officer, "review_procedure", SAMPLES["review_procedure"]).get_json()["id"]
    elsewhere = _add(officer, "review_procedure", SAMPLES["review_procedure"], "sys-2")
    incident_procedure = _add(officer, "incident_procedure", SAMPLES["incident_procedure"])
    retired = _add(officer, "review_procedure", SAMPLES["review_procedure"]).get_json()["id"]
    assert _retire(officer, retired).status_code == 200
    review = SAMPLES["review"]
    for wrong in (elsewhere.get_json()["id"], 999_999, owned, retired):
        body = problem(_add(officer, "review", {**review, "procedure_entry_id": wrong}), 422)
        assert [e["pointer"] for e in body["errors"]] == ["/body/procedure_entry_id"], wrong
    made = _add(officer, "review", {**review, "procedure_entry_id": procedure})
    assert made.status_code == 201, made.get_data(as_text=True)
    # An update is checked too (and on PostgreSQL it is not written in one statement).
    entry = made.get_json()["id"]
    stale = officer.put(
        f"/api/v1/entries/{entry}",
        json={"body": {**review, "procedure_entry_id": retired}},
        headers={"If-Match": f'"{entry}.1"'},
    )
    assert problem(stale, 422)["errors"][0]["pointer"] == "/body/procedure_entry_id"
    # A reference the review already made stands as recorded: once its procedure is
    # retired, the review's other fields can still be corrected.
    assert _retire(officer, procedure).status_code == 200
    corrected = officer.put(
        f"/api/v1/entries/{entry}",
        json={"body": {**review, "procedure_entry_id": procedure, "findings": "Corrected."}},
        headers={"If-Match": f'"{entry}.1"'},
    )
    assert corrected.status_code == 200, corrected.get_data(as_text=True)
    # An incident names an incident procedure, if any.
    incident = SAMPLES["incident"]
    body = problem(_add(officer, "incident", {**incident, "procedure_entry_id": procedure}), 422)
    assert body["errors"][0]["pointer"] == "/body/procedure_entry_id"
    ok = {**incident, "procedure_entry_id": incident_procedure.get_json()["id"]}
    assert _add(officer, "incident", ok).status_code == 201
    assert _add(officer, "incident", incident).status_code == 201
    # A waiver names one of the ten areas.
    body = problem(_add(officer, "waiver", {**SAMPLES["waiver"], "area": "vibes"}), 422)
    assert body["errors"][0]["pointer"] == "/body/area"


def test_an_approval_cites_versions_of_its_own_system(session, officer, owned):
    other, version = writes.create_system(session, officer, {**PROFILE, "reference": "sys-2"})
    session.commit()
    system = reads.get_system(session, "sys-1")
    cited = {"entry_id": version.entry_id, "version": 1, "hash": version.body_hash}
    body = {**SAMPLES["approval"], "evidence": [cited]}
    with pytest.raises(InvalidInput) as info:
        writes.create_entry(session, officer, system, "approval", body)
    assert set(info.value.field_errors["evidence"]) == {0}
    session.rollback()
    own = reads.get_version(session, reads.get_entry(session, owned), 1)
    wrong_hash = {"entry_id": owned, "version": 1, "hash": "ab" * 32}
    right = {"entry_id": owned, "version": 1, "hash": own.body_hash}
    with pytest.raises(InvalidInput) as info:
        writes.create_entry(
            session, officer, system, "approval", {**body, "evidence": [right, wrong_hash]}
        )
    assert set(info.value.field_errors["evidence"]) == {1}
    session.rollback()
    # The kind it names, if any, is the cited entry's.
    mislabelled = {**right, "kind": "risk"}
    with pytest.raises(InvalidInput) as info:
        writes.create_entry(
            session, officer, system, "approval", {**body, "evidence": [mislabelled]}
        )
    assert set(info.value.field_errors["evidence"]) == {0}
    session.rollback()
    labelled = {**right, "kind": "profile"}
    writes.create_entry(
        session, officer, system, "approval", {**body, "evidence": [right, labelled]}
    )
    session.commit()
