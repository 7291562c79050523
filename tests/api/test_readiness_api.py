"""Readiness over the API: the scorecard, the pipeline's check, the gate, approvals."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from registry.extensions import document_store
from registry.records import reads, writes
from tests.api.test_api import problem
from tests.readiness.evidence import PERSON, READY_PROFILE, make_ready


@pytest.fixture
def system(session, officer):
    made, _ = writes.create_system(session, officer, READY_PROFILE)
    session.commit()
    return made


def promote(client: Any, session: Any, system: Any) -> Any:
    entry = reads.profile_entry(session, system)
    entry_id, tag = entry.id, f'"{entry.id}.{entry.head_number}"'
    session.rollback()  # the request writes: the test's session must not hold SQLite
    return client.put(
        f"/api/v1/entries/{entry_id}",
        json={"body": {**READY_PROFILE, "stage": "production"}, "reason": "Go-live"},
        headers={"If-Match": tag},
    )


def test_the_scorecard_and_the_pipeline_check(app, api_as, session, officer, system):
    client = api_as("auditor")
    card = client.get("/api/v1/systems/sys-1/readiness")
    assert card.status_code == 200
    data = card.get_json()
    assert data["system"] == "sys-1" and data["ready"] is False and data["stage"] == "pilot"
    assert [a["key"] for a in data["areas"]][:2] == ["business_ownership", "technical_ownership"]
    first = data["areas"][0]
    assert set(first) == {"key", "title", "question", "status", "criteria", "waiver", "frameworks"}
    assert first["criteria"][0]["status"] == "missing"
    assert {q["answer"] for q in data["questions"]} == {"not answered"}
    assert data["approval"] == {"status": "none"}

    refused = problem(
        client.get("/api/v1/systems/sys-1/readiness", query_string={"require": "production"}),
        409,
        "not_ready",
    )
    assert len(refused["unmet"]) == 10 and refused["unmet"][0]["area"] == "business_ownership"

    before = {"at": dt.datetime.now(dt.UTC).isoformat()}  # registered, not yet evidenced
    make_ready(session, officer, system, store=document_store(app))
    session.commit()
    ready = client.get("/api/v1/systems/sys-1/readiness", query_string={"require": "production"})
    assert ready.status_code == 200 and ready.get_json()["ready"] is True
    # As it stood at a past instant: not ready then.
    then = client.get("/api/v1/systems/sys-1/readiness", query_string=before).get_json()
    assert then["ready"] is False and then["stage"] == "pilot"


def test_readiness_before_the_system_was_registered_is_404(api_as, system):
    """Before the system was in the register there is nothing to score: 404, as its
    state read at that instant answers."""
    client = api_as("auditor")
    at = "2020-01-01T00:00:00Z"
    card = problem(client.get("/api/v1/systems/sys-1/readiness", query_string={"at": at}), 404)
    state = problem(client.get("/api/v1/systems/sys-1", query_string={"as_of": at}), 404)
    assert (
        card["detail"]
        == state["detail"]
        == ("System 'sys-1' was not in the register at that time.")
    )
    query = {"at": at, "require": "production"}
    problem(client.get("/api/v1/systems/sys-1/readiness", query_string=query), 404)


@pytest.mark.parametrize(
    "query",
    [{"at": "2026-01-01T00:00:00"}, {"at": "yesterday"}, {"require": "pilot"}, {"x": "1"}],
)
def test_bad_queries_are_422(api_as, system, query):
    problem(api_as("auditor").get("/api/v1/systems/sys-1/readiness", query_string=query), 422)


def test_unknown_system_is_404(api_as):
    problem(api_as("auditor").get("/api/v1/systems/nope/readiness"), 404)


def test_the_gate_over_the_api(app, api_as, session, officer, system):
    client = api_as("compliance_officer")
    body = problem(promote(client, session, system), 409, "not_ready")
    assert {u["area"] for u in body["unmet"]} == set(
        a["key"] for a in client.get("/api/v1/systems/sys-1/readiness").get_json()["areas"]
    )
    assert all(u["reason"].startswith(u["title"]) for u in body["unmet"])
    make_ready(session, officer, system, skip=("funding",), store=document_store(app))
    session.commit()
    body = problem(promote(client, session, system), 409, "not_ready")
    assert [u["area"] for u in body["unmet"]] == ["lifecycle_funding"]

    # A waiver: only a compliance officer may grant one.
    waiver = {
        "kind": "waiver",
        "body": {
            "area": "lifecycle_funding",
            "justification": "Budget round next month",
            "approver": PERSON,
            "approved_on": dt.date.today().isoformat(),
            "expires_at": (dt.datetime.now(dt.UTC) + dt.timedelta(days=20)).isoformat(),
        },
    }
    assert api_as("auditor").post("/api/v1/systems/sys-1/entries", json=waiver).status_code == 403
    bad = client.post(
        "/api/v1/systems/sys-1/entries",
        json={**waiver, "body": {**waiver["body"], "area": "vibes", "expires_at": "soon"}},
    )
    pointers = {e["pointer"] for e in problem(bad, 422)["errors"]}
    assert pointers == {"/body/area", "/body/expires_at"}
    assert client.post("/api/v1/systems/sys-1/entries", json=waiver).status_code == 201
    assert promote(client, session, system).status_code == 200


def test_a_retried_approval_with_an_idempotency_key_approves_once(
    app, api_as, session, officer, system
):
    make_ready(session, officer, system, store=document_store(app))
    session.commit()
    client = api_as("compliance_officer")
    headers = {"Idempotency-Key": "board-12"}
    made = client.post(
        "/api/v1/systems/sys-1/approvals", json={"notes": "Board 12"}, headers=headers
    )
    again = client.post(
        "/api/v1/systems/sys-1/approvals", json={"notes": "Board 12"}, headers=headers
    )
    assert made.status_code == again.status_code == 201, made.get_json()
    assert again.get_data() == made.get_data()
    assert again.headers["Location"] == made.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    approval = client.get(made.headers["Location"]).get_json()
    assert approval["head_version"] == 1


def test_an_approval_goes_stale_and_is_renewed(app, api_as, session, officer, system):
    client = api_as("compliance_officer")
    problem(client.post("/api/v1/systems/sys-1/approvals", json={}), 409, "not_ready")
    ids = make_ready(session, officer, system, store=document_store(app))
    session.commit()
    problem(api_as("technical_owner").post("/api/v1/systems/sys-1/approvals", json={}), 403)
    problem(client.post("/api/v1/systems/sys-1/approvals", json={"note": "x"}), 422)
    made = client.post("/api/v1/systems/sys-1/approvals", json={"notes": "Board 12"})
    assert made.status_code == 201, made.get_json()
    approval = made.get_json()
    assert approval["kind"] == "approval" and approval["body"]["notes"] == "Board 12"
    assert len(approval["body"]["evidence"]) >= len(ids)
    status = client.get("/api/v1/systems/sys-1/readiness").get_json()["approval"]
    assert status["status"] == "current" and status["entry_id"] == approval["id"]

    entry = client.get(f"/api/v1/entries/{ids['risk']}")
    changed = client.put(
        f"/api/v1/entries/{ids['risk']}",
        json={"body": {**entry.get_json()["body"], "control": "Daily sample"}},
        headers={"If-Match": entry.headers["ETag"]},
    )
    assert changed.status_code == 200
    status = client.get("/api/v1/systems/sys-1/readiness").get_json()["approval"]
    assert status["status"] == "stale"
    assert status["changed"] == [
        {"entry_id": ids["risk"], "kind": "risk", "approved_version": 1, "version": 2}
    ]
    again = client.post("/api/v1/systems/sys-1/approvals", json={})
    assert again.status_code == 201 and again.get_json()["version"] == 2
    status = client.get("/api/v1/systems/sys-1/readiness").get_json()["approval"]
    assert status["status"] == "current"
