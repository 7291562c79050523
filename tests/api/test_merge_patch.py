"""PATCH /api/v1/entries/{id}: a JSON Merge Patch (RFC 7396) of an entry's body, on both
engines: fields changed and kept, nested merges, removals, refusals in the order of an
update, and a patch that changes nothing, which records nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from registry.db_traffic import DriverTraffic
from registry.extensions import database
from registry.ledger.models import AuditEvent
from registry.ledger.status import current_key
from registry.ledger.store import verify_ledger
from registry.records.models import EntryVersion
from tests.api.test_api import add, problem
from tests.records.samples import SAMPLES

MERGE_PATCH = "application/merge-patch+json"


def send(client: Any, entry: dict[str, Any], patch: Any, etag: str | None = None, **kw: Any) -> Any:
    """PATCH ``entry`` with ``patch`` (JSON) based on ``etag`` (default: the entry's)."""
    headers = {"Content-Type": MERGE_PATCH, **kw.pop("headers", {})}
    if etag is None:
        etag = entry["etag"]
    if etag:
        headers["If-Match"] = etag
    data = patch if isinstance(patch, str | bytes) else json.dumps(patch)
    return client.open("PATCH", entry["links"]["self"], data=data, headers=headers, **kw)


def counts(session: Any) -> tuple[int, int]:
    """(audit events, entry versions) as stored now."""
    session.rollback()
    found = (
        session.scalar(sa.select(sa.func.count()).select_from(AuditEvent)),
        session.scalar(sa.select(sa.func.count()).select_from(EntryVersion)),
    )
    session.rollback()  # holds no lock while the app writes
    return found


def verified(session: Any) -> None:
    """The whole ledger verifies, checkpoints against the registry's key."""
    session.rollback()
    report = verify_ledger(session, [current_key(session)])
    session.rollback()
    assert report.ok, report.problem


@pytest.fixture
def officer_api(api_as: Any) -> Any:
    return api_as("compliance_officer")


@pytest.fixture
def system(officer_api: Any, profile: dict[str, Any]) -> dict[str, Any]:
    response = officer_api.post("/api/v1/systems", json={"profile": profile})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


@pytest.fixture
def owner(officer_api: Any, system: dict[str, Any]) -> dict[str, Any]:
    body = {**SAMPLES["owner"], "authority_scope": "Benefits decisions"}
    created = add(officer_api, "owner", body)
    assert created.status_code == 201, created.get_data(as_text=True)
    return created.get_json()


def test_one_field_changes_and_the_others_are_kept(officer_api, session, owner):
    response = send(
        officer_api,
        owner,
        {"role": "oversight"},
        query_string={"reason": "Moved to the board", "effective_from": "2026-01-01T00:00:00Z"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    changed = response.get_json()
    assert response.headers["ETag"] == f'"{owner["id"]}.2"' == changed["etag"]
    assert changed["version"] == changed["head_version"] == 2
    assert changed["body"] == {**owner["body"], "role": "oversight"}
    assert changed["reason"] == "Moved to the board"
    assert changed["effective_from"].startswith("2026-01-01T00:00:00")
    diff = officer_api.get(f"{owner['links']['self']}/diff?from=1&to=2").get_json()
    assert [(c["path"], c["change"]) for c in diff["changes"]] == [("role", "changed")]
    verified(session)


def test_objects_merge_member_by_member(officer_api, owner):
    response = send(officer_api, owner, {"person": {"email": "bea.b@example.org"}})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()["body"]
    assert body["person"] == {"name": "Bea Business", "email": "bea.b@example.org"}
    assert body["authority_scope"] == "Benefits decisions" and body["role"] == "business"
    # Arrays replace as a whole.
    source = add(officer_api, "data_source").get_json()
    replaced = send(officer_api, source, {"uses": ["validation"]})
    assert replaced.get_json()["body"]["uses"] == ["validation"]
    assert replaced.get_json()["body"]["name"] == SAMPLES["data_source"]["name"]


def test_null_removes_an_optional_field(officer_api, session, owner):
    response = send(officer_api, owner, {"authority_scope": None, "person": {"user_id": None}})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["body"] == SAMPLES["owner"]
    verified(session)


def test_removing_a_required_field_is_refused_with_its_pointer(officer_api, session, owner):
    before = counts(session)
    body = problem(send(officer_api, owner, {"role": None}), 422, "validation_failed")
    assert {"pointer": "/role", "detail": "Missing data for required field."} in body["errors"]
    body = problem(send(officer_api, owner, {"person": {"email": None}}), 422)
    assert [e["pointer"] for e in body["errors"]] == ["/person/email"]
    body = problem(send(officer_api, owner, {"role": "boss", "colour": "red"}), 422)
    assert {e["pointer"] for e in body["errors"]} == {"/role", "/colour"}
    # A patch that is not an object replaces the whole body, which must then be valid.
    for whole in ([], "x", 1, None):
        problem(send(officer_api, owner, json.dumps(whole)), 422, "validation_failed")
    problem(send(officer_api, owner, "{"), 400, "malformed_json")
    problem(send(officer_api, owner, ""), 400, "malformed_json")
    assert counts(session) == before
    assert officer_api.get(owner["links"]["self"]).get_json()["body"] == owner["body"]


def test_a_deeply_nested_patch_is_refused(officer_api, session, owner):
    before = counts(session)
    for depth in (200, 900, 5000):
        nested = '{"person": ' * depth + "1" + "}" * depth
        response = send(officer_api, owner, nested)
        assert response.status_code in (400, 422), (depth, response.status_code)
        problem(response, response.status_code)
    assert counts(session) == before


def test_a_merge_patch_says_so(officer_api, session, owner):
    before = counts(session)
    path = owner["links"]["self"]
    headers = {"If-Match": owner["etag"]}
    for content_type in ("application/json", "application/json-patch+json", "text/plain"):
        response = officer_api.open(
            "PATCH",
            path,
            data='{"role": "oversight"}',
            headers={**headers, "Content-Type": content_type},
        )
        assert MERGE_PATCH in problem(response, 415, "unsupported_media_type")["detail"]
    problem(officer_api.open("PATCH", path, headers=headers), 415)  # no body, no type
    # A merge patch is no whole body: PUT and POST refuse it.
    whole = officer_api.put(
        path,
        data=json.dumps({"body": SAMPLES["owner"]}),
        headers={**headers, "Content-Type": MERGE_PATCH},
    )
    problem(whole, 415)
    created = officer_api.post(
        "/api/v1/systems/sys-1/entries",
        data=json.dumps({"kind": "risk", "body": SAMPLES["risk"]}),
        headers={"Content-Type": MERGE_PATCH},
    )
    problem(created, 415)
    assert counts(session) == before


def test_if_match_is_required_and_must_be_current(officer_api, session, owner):
    body = problem(send(officer_api, owner, {"role": "dpo"}, etag=""), 428, "precondition_required")
    assert f'"{owner["id"]}.1"' in body["detail"]
    assert send(officer_api, owner, {"role": "dpo"}).status_code == 200
    before = counts(session)
    for patch in ({"role": "oversight"}, {}):  # stale, even when it would change nothing
        body = problem(send(officer_api, owner, patch), 412, "stale_version")
        assert body["current_version"] == 2 and body["current_etag"] == f'"{owner["id"]}.2"'
    body = problem(send(officer_api, owner, {}, etag=f'"{owner["id"]}.7"'), 412)
    assert body["current_version"] == 2
    assert counts(session) == before


def test_a_patch_that_changes_nothing_records_nothing(officer_api, session, owner):
    before = counts(session)
    for patch in ({}, {"role": "business"}, {"person": {"name": "Bea Business"}}, {"end": None}):
        response = send(officer_api, owner, patch, query_string={"reason": "no-op"})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.headers["ETag"] == f'"{owner["id"]}.1"'
        shown = response.get_json()
        assert shown["version"] == shown["head_version"] == 1
        assert shown["body"] == owner["body"] and shown["audit_seq"] == owner["audit_seq"]
    assert counts(session) == before
    versions = officer_api.get(f"{owner['links']['self']}/versions").get_json()["items"]
    assert [v["number"] for v in versions] == [1]
    # A value written differently but stored the same (a date with a time zone offset)
    # changes nothing either.
    log = add(officer_api, "incident").get_json()
    same = send(officer_api, log, {"detected_at": "2025-07-01T12:00:00+02:00"})
    assert same.status_code == 200 and same.headers["ETag"] == log["etag"]
    assert counts(session) == (before[0] + 1, before[1] + 1)
    verified(session)


def test_a_retired_entry_cannot_be_patched(officer_api, session, owner):
    retired = officer_api.post(
        f"{owner['links']['self']}/retire", json={}, headers={"If-Match": owner["etag"]}
    )
    assert retired.status_code == 200
    before = counts(session)
    for patch in ({}, {"role": "dpo"}):
        problem(send(officer_api, owner, patch, etag=retired.headers["ETag"]), 409, "conflict")
    assert counts(session) == before


def test_who_may_patch(api_as, officer_api, session, users, owner):
    """As an update: auditors, read-only tokens and technical owners of other systems
    are refused, even with a patch that changes nothing."""
    email = users["technical_owner"].email
    before = counts(session)
    for who in ("auditor", "officer_read_only", "technical_owner", "admin"):
        for patch in ({}, {"role": "dpo"}):
            problem(send(api_as(who), owner, patch), 403, "forbidden")
    problem(send(api_as(None), owner, {}), 401)
    assert counts(session) == before
    tech = {
        "role": "technical",
        "person": {"name": "Tech", "email": email},
        "start": "2020-01-01",
    }
    assert add(officer_api, "owner", tech).status_code == 201
    log = add(officer_api, "change_log").get_json()
    unchanged = send(api_as("technical_owner"), log, {"summary": SAMPLES["change_log"]["summary"]})
    assert unchanged.status_code == 200 and unchanged.headers["ETag"] == log["etag"]
    changed = send(api_as("technical_owner"), log, {"summary": "Retrained on 2025 data"})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert changed.get_json()["author"] == f"user:{email}"
    assert changed.get_json()["body"]["to_version"] == SAMPLES["change_log"]["to_version"]
    made = add(officer_api, "waiver")
    assert made.status_code == 201, made.get_data(as_text=True)
    problem(send(api_as("technical_owner"), made.get_json(), {}), 403)  # officers only
    verified(session)


def test_a_patch_writes_as_an_update_does_on_postgresql(app, officer_api, owner, engine_name):
    """The patch's write takes the path of an update (records.writes): after the read
    of the version the patch is applied to (in the transaction the token's lookup
    began: its BEGIN first in the lookup's pipeline, the read after it), one pipeline
    taking the ledger lock and reading the state under it, and one storing the event
    and the version, sent with the COMMIT: four round trips on the wire, and nothing
    after it (the search index is brought up to date by the reads that use it)."""
    if engine_name != "postgresql":
        pytest.skip("pipelines are PostgreSQL's")
    traffic = DriverTraffic(database(app).engine, wire=True)
    try:
        # A new name: what a search finds the system by (an owner's role is not).
        response = send(officer_api, owner, {"role": "dpo", "person": {"name": "Dee Dee"}})
        assert response.status_code == 200, response.get_data(as_text=True)
        end = traffic.statements.index("COMMIT")
        write, after = traffic.statements[: end + 1], traffic.statements[end + 1 :]
        locks = [s for s in write if "registry_ledger_lock_scope" in s]
        events = [s for s in write if "INSERT INTO audit_event" in s]
        assert len(locks) == 1 and len(events) == 1, traffic.statements
        assert write[0].startswith("BEGIN") and "api_token" in write[1]
        assert "INSERT INTO audit_event" in write[-2]
        assert not any("system_search" in s for s in write), write
        assert traffic.pipelines == 3 and traffic.piped_begins == 1 == traffic.piped_ends
        assert traffic.begins == 1, traffic.statements
        assert traffic.round_trips == 4 == traffic.exchanges, traffic.statements
        assert after == [], after
        traffic.reset()
        again = send(officer_api, response.get_json(), {"role": "oversight"})
        assert again.status_code == 200, again.get_data(as_text=True)
        assert traffic.statements[-1] == "COMMIT", traffic.statements
    finally:
        traffic.close()


def test_the_document_describes_the_patch(app):
    document = app.test_client().get("/api/openapi.json").get_json()
    operation = document["paths"]["/api/v1/entries/{entry_id}"]["patch"]
    assert list(operation["requestBody"]["content"]) == [MERGE_PATCH]
    assert operation["requestBody"]["required"] is True
    parameters = {(p["in"], p["name"]): p for p in operation["parameters"]}
    assert parameters[("header", "If-Match")]["required"] is True
    assert {("query", "reason"), ("query", "effective_from")} <= set(parameters)
    for status in ("200", "400", "401", "403", "404", "409", "412", "415", "422", "428"):
        assert status in operation["responses"], status
    update = document["paths"]["/api/v1/entries/{entry_id}"]["put"]
    assert list(update["requestBody"]["content"]) == ["application/json"]
