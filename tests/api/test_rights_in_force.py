"""A technical owner's rights follow the records in force, not merely the latest ones.

An owner entry names its person from the instant it takes effect (``effective_from``)
within its term, as the readiness checks and "My systems" read it: one dated to take
effect later gives no right yet, and a change of owner dated later leaves the owner in
force until then. A technical owner may not change a system's classification, neither
against the latest version of its profile nor against the version in force when their
own version takes effect: a version dated before or after an officer's reclassification
must not bring it forward or back (it would be in force from its own instant until the
next version takes effect)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql

from registry.accounts.actor import Actor
from registry.errors import Conflict
from registry.records.writes import _PROFILE_IN_FORCE, Current, InForce, State, decide_update
from tests.records.samples import SAMPLES

MERGE_PATCH = "application/merge-patch+json"
LATER = "2030-01-01T00:00:00Z"


def owner_body(email: str, **more: Any) -> dict[str, Any]:
    return {
        **SAMPLES["owner"],
        "role": "technical",
        "person": {"name": "T", "email": email},
        **more,
    }


def name_owner(officer: Any, email: str, **more: Any) -> dict[str, Any]:
    made = officer.post(
        "/api/v1/systems/sys-1/entries",
        json={"kind": "owner", "body": owner_body(email), **more},
    )
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def patch(client: Any, entry_id: int, etag: str, change: dict[str, Any], **query: str) -> Any:
    return client.open(
        "PATCH",
        f"/api/v1/entries/{entry_id}",
        data=json.dumps(change),
        query_string={"reason": "r", **query},
        headers={"If-Match": etag, "Content-Type": MERGE_PATCH},
    )


def _change_log() -> dict[str, Any]:
    return {"kind": "change_log", "body": SAMPLES["change_log"]}


@pytest.fixture
def system(api_as: Any, profile: dict[str, Any]) -> dict[str, Any]:
    created = api_as("compliance_officer").post(
        "/api/v1/systems", json={"profile": {**profile, "risk_tier": "limited"}}
    )
    assert created.status_code == 201, created.get_json()
    return created.get_json()["profile"]


def in_force_now(officer: Any, entry_id: int) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).isoformat()
    answer = officer.get(f"/api/v1/entries/{entry_id}", query_string={"effective_at": now})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def test_an_owner_entry_dated_later_gives_no_right_yet(api_as, users, system):
    officer, tech = api_as("compliance_officer"), api_as("technical_owner")
    name_owner(officer, users["technical_owner"].email, effective_from=LATER)
    refused = tech.post("/api/v1/systems/sys-1/entries", json=_change_log())
    assert refused.status_code == 403, refused.get_json()
    # Dated to have taken effect already, it names the owner.
    name_owner(officer, users["technical_owner"].email, effective_from="2026-01-01T00:00:00Z")
    allowed = tech.post("/api/v1/systems/sys-1/entries", json=_change_log())
    assert allowed.status_code == 201, allowed.get_json()


def test_a_change_of_owner_dated_later_leaves_the_owner_in_force(api_as, users, system):
    officer, tech = api_as("compliance_officer"), api_as("technical_owner")
    owner = name_owner(officer, users["technical_owner"].email)
    # The entry's latest version names someone else from 2030: the technical owner is
    # still the one in force, and keeps the right until then.
    moved = officer.put(
        f"/api/v1/entries/{owner['id']}",
        json={"body": owner_body("someone@example.org"), "effective_from": LATER},
        headers={"If-Match": owner["etag"]},
    )
    assert moved.status_code == 200, moved.get_json()
    allowed = tech.post("/api/v1/systems/sys-1/entries", json=_change_log())
    assert allowed.status_code == 201, allowed.get_json()
    # The other way round: the latest version names the technical owner from 2030 only.
    again = officer.put(
        f"/api/v1/entries/{owner['id']}",
        json={"body": owner_body("someone@example.org")},
        headers={"If-Match": moved.headers["ETag"]},
    )
    assert again.status_code == 200
    later = officer.put(
        f"/api/v1/entries/{owner['id']}",
        json={"body": owner_body(users["technical_owner"].email), "effective_from": LATER},
        headers={"If-Match": again.headers["ETag"]},
    )
    assert later.status_code == 200
    refused = tech.post("/api/v1/systems/sys-1/entries", json=_change_log())
    assert refused.status_code == 403, refused.get_json()


def test_a_scheduled_reclassification_cannot_be_brought_forward(api_as, users, system):
    officer, tech = api_as("compliance_officer"), api_as("technical_owner")
    name_owner(officer, users["technical_owner"].email)
    scheduled = patch(
        officer, system["id"], system["etag"], {"risk_tier": "high"}, effective_from=LATER
    )
    assert scheduled.status_code == 200, scheduled.get_json()
    # A rename taking effect now would carry the latest version's "high" from now on.
    renamed = patch(tech, system["id"], scheduled.headers["ETag"], {"name": "Renamed"})
    assert renamed.status_code == 403, renamed.get_json()
    problem = renamed.get_json()
    assert "risk_tier" in problem["detail"] and "in force on" in problem["detail"]
    assert in_force_now(officer, system["id"])["body"]["risk_tier"] == "limited"
    assert officer.get(f"/api/v1/entries/{system['id']}").get_json()["version"] == 2
    # Keeping the classification in force then, it changes the latest one: refused too.
    kept = patch(
        tech, system["id"], scheduled.headers["ETag"], {"name": "R", "risk_tier": "limited"}
    )
    assert kept.status_code == 403, kept.get_json()
    # Dated on or after the reclassification, the rename keeps both: written.
    after = patch(
        tech, system["id"], scheduled.headers["ETag"], {"name": "R"}, effective_from=LATER
    )
    assert after.status_code == 200, after.get_json()
    assert in_force_now(officer, system["id"])["body"]["risk_tier"] == "limited"


def test_a_version_dated_back_cannot_undo_a_reclassification(api_as, users, system):
    officer, tech = api_as("compliance_officer"), api_as("technical_owner")
    name_owner(officer, users["technical_owner"].email)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    raised = patch(officer, system["id"], system["etag"], {"risk_tier": "high"})
    assert raised.status_code == 200
    # Dated before the reclassification, the latest body's "high" would reclassify the
    # time between: refused, and nothing is written.
    dated = patch(
        tech, system["id"], raised.headers["ETag"], {"name": "R"}, effective_from=before.isoformat()
    )
    assert dated.status_code == 403, dated.get_json()
    assert officer.get(f"/api/v1/entries/{system['id']}").get_json()["version"] == 2
    # Dated before the profile took effect: no version is in force then.
    ancient = patch(
        tech,
        system["id"],
        raised.headers["ETag"],
        {"name": "R"},
        effective_from="2000-01-01T00:00:00Z",
    )
    assert ancient.status_code == 403, ancient.get_json()
    assert "effective_from" in str(ancient.get_json()["errors"])
    # A compliance officer may date a reclassification as they see fit.
    officer_dated = patch(
        officer,
        system["id"],
        raised.headers["ETag"],
        {"name": "R"},
        effective_from=before.isoformat(),
    )
    assert officer_dated.status_code == 200, officer_dated.get_json()


def test_a_profile_not_yet_in_force_or_retired_is_refused_for_what_it_is(api_as, users, profile):
    officer, tech = api_as("compliance_officer"), api_as("technical_owner")
    later = {**profile, "reference": "sys-1"}
    created = officer.post("/api/v1/systems", json={"profile": later, "effective_from": LATER})
    assert created.status_code == 201, created.get_json()
    made = created.get_json()["profile"]
    name_owner(officer, users["technical_owner"].email, effective_from="2026-01-01T00:00:00Z")
    # Undated: nothing about dating, no field to blame.
    early = patch(tech, made["id"], made["etag"], {"name": "R"})
    assert early.status_code == 403, early.get_json()
    assert "no version of it is in force" in early.get_json()["detail"]
    assert "effective_from" not in str(early.get_json().get("errors", ""))
    # A retired profile: refused as retired (409), as for anyone.
    retired = officer.post(
        f"/api/v1/entries/{made['id']}/retire", json={}, headers={"If-Match": made["etag"]}
    )
    assert retired.status_code == 200, retired.get_json()
    late = patch(tech, made["id"], retired.headers["ETag"], {"name": "R"})
    assert late.status_code == 409, late.get_json()
    assert "retired" in late.get_json()["detail"]


def test_another_entrys_retirement_leaves_the_profile_in_force(api_as, users, system):
    """The last retirement that hides versions is the profile's own: a data source
    retired at its fourth version hides nothing of a profile at its first; and it is
    read once per entry (the statement names the entry row, not each version)."""
    officer, tech = api_as("compliance_officer"), api_as("technical_owner")
    name_owner(officer, users["technical_owner"].email)
    made = officer.post(
        "/api/v1/systems/sys-1/entries",
        json={"kind": "data_source", "body": SAMPLES["data_source"]},
    ).get_json()
    etag = made["etag"]
    for n in range(2):
        body = {**SAMPLES["data_source"], "name": f"Source {n}"}
        changed = officer.put(
            f"/api/v1/entries/{made['id']}", json={"body": body}, headers={"If-Match": etag}
        )
        etag = changed.headers["ETag"]
    assert (
        officer.post(
            f"/api/v1/entries/{made['id']}/retire", json={}, headers={"If-Match": etag}
        ).status_code
        == 200
    )
    renamed = patch(tech, system["id"], system["etag"], {"name": "Renamed"})
    assert renamed.status_code == 200, renamed.get_json()
    sql = str(_PROFILE_IN_FORCE.compile(dialect=postgresql.dialect()))
    retirement = sql[sql.index("max(") : sql.index("tombstone IS true")]
    assert ".entry_id = entry.id" in retirement and ", entry" not in retirement


def test_a_version_taking_effect_while_the_write_is_recorded_asks_for_a_retry():
    """The decision, pure: the profile's version in force was read for an instant just
    before the write's recording instant, and another version took effect between the
    two: the classification kept cannot be known, so the write is refused (409)."""
    t0 = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
    profile = {"name": "N", "purpose": "P", "reference": "sys-1", "risk_tier": "limited"}
    body = json.dumps({**profile, "stage": "pilot"})
    owner = Actor(
        label="user:t@example.org",
        roles=frozenset({"technical_owner"}),
        user_id=9,
        email="t@example.org",
        scopes=frozenset({"read", "write"}),
    )
    state = State(
        last_seq=7,
        system_id=1,
        reference="sys-1",
        entry=Current(1, "profile", 1, "sys-1", 2, False, body, t0),
        owners=(json.dumps(owner_body("t@example.org")),),
        in_force=InForce(body, False, next_effective=t0 + dt.timedelta(microseconds=5)),
        now=t0 + dt.timedelta(microseconds=9),
    )
    renamed = {**json.loads(body), "name": "M"}
    with pytest.raises(Conflict):
        decide_update(owner, state, 1, renamed, 2, None, "r")
    # Nothing took effect between the two instants: the rename is planned.
    calm = State(**{**state.__dict__, "in_force": InForce(body, False, None)})
    assert decide_update(owner, calm, 1, renamed, 2, None, "r").number == 3
