"""`GET /api/v1/systems?q=`: the full-text search over the register now (names,
references, purposes, organisations, owners' names and e-mails), written through the
API and searched through it; hostile text is words or a 422, never a 500 (both
engines)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from registry.records import writes


@pytest.fixture
def officer_api(api_as: Any) -> Any:
    return api_as("compliance_officer")


def _refs(api: Any, **query: Any) -> list[str]:
    response = api.get("/api/v1/systems", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["total"] == len(body["items"]) or "limit" in query
    return [s["reference"] for s in body["items"]]


@pytest.fixture
def listed(officer_api: Any) -> dict[str, Any]:
    profiles = [
        {"name": "Benefit fraud triage", "purpose": "Ranks applications", "stage": "pilot"},
        {"name": "Parking permits", "organisation": "Gemeente Utrecht", "stage": "pilot"},
        {"name": "Fraud signals", "stage": "proposed"},
    ]
    for n, profile in enumerate(profiles):
        body = {"reference": f"s-{n}", **profile}
        assert officer_api.post("/api/v1/systems", json={"profile": body}).status_code == 201
    person = {"name": "Dana Devi", "email": "dana.devi@gemeente.example"}
    owner = officer_api.post(
        "/api/v1/systems/s-1/entries",
        json={"kind": "owner", "body": {"role": "technical", "person": person}},
    )
    assert owner.status_code == 201, owner.get_data(as_text=True)
    return owner.get_json()


def test_search_by_text_and_owners(officer_api, listed):
    assert _refs(officer_api, q="fraud") == ["s-0", "s-2"]
    assert _refs(officer_api, q="fra tri") == ["s-0"]
    assert _refs(officer_api, q="utrecht") == ["s-1"]
    assert _refs(officer_api, q="Dana") == ["s-1"]
    assert _refs(officer_api, q="devi dana") == ["s-1"]
    assert _refs(officer_api, q="dana.devi@gemeente.example") == ["s-1"]
    assert _refs(officer_api, q="DANA.DEVI@GEMEENTE") == ["s-1"]
    assert _refs(officer_api, q="fraud", stage="proposed") == ["s-2"]
    assert _refs(officer_api, q="fraud", limit=1) == ["s-0"]
    page = officer_api.get("/api/v1/systems", query_string={"q": "fraud", "limit": 1})
    assert page.get_json()["total"] == 2 and page.get_json()["next_cursor"] == "s-0"


def test_the_index_follows_writes_through_the_api(officer_api, listed):
    path = f"/api/v1/entries/{listed['id']}"
    person = {"name": "Dana Rao", "email": "dana@example.org"}
    changed = officer_api.put(
        path,
        json={"body": {"role": "technical", "person": person}, "reason": "Married"},
        headers={"If-Match": listed["etag"]},
    )
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert _refs(officer_api, q="rao") == ["s-1"]
    assert _refs(officer_api, q="devi") == []
    retired = officer_api.post(
        f"{path}/retire", json={"reason": "Left"}, headers={"If-Match": changed.get_json()["etag"]}
    )
    assert retired.status_code == 200, retired.get_data(as_text=True)
    assert _refs(officer_api, q="rao") == []


@pytest.mark.parametrize(
    "q",
    ['"', "*", "NEAR(", ":*", "&|!", "fraud:* | !", "fraud)", "' OR 1=1 --", "x" * 200],
)
def test_hostile_text_is_never_a_server_error(officer_api, listed, q):
    response = officer_api.get("/api/v1/systems", query_string={"q": q})
    assert response.status_code == 200
    found = [s["reference"] for s in response.get_json()["items"]]
    assert found == (["s-0", "s-2"] if q.startswith("fraud") else [])


@pytest.mark.parametrize("q", ["\x00", "fraud\x00", "x" * 201])
def test_text_no_search_can_take_is_a_422(officer_api, listed, q):
    response = officer_api.get("/api/v1/systems", query_string={"q": q})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["parameter"] == "q"


def test_the_owner_filter_finds_more_than_my_systems_and_both_say_so(
    session, officer, users, officer_api, login_as
):
    """The API's ``owner`` filter finds the systems whose live owner entries record a
    person (docs/api.md), whatever the entries' terms and even before they take effect;
    "My systems" lists those whose owner entries name the user today, within their term,
    and its wording tells the two apart."""
    me = users["technical_owner"]
    person = {"name": "Tess Technical", "email": me.email}
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    owners = {
        "in-term": ({"start": "2020-01-01"}, None),
        "term-ended": ({"start": "2020-01-01", "end": yesterday.isoformat()}, None),
        "takes-effect-later": ({}, dt.datetime(2030, 1, 1, tzinfo=dt.UTC)),
        "entry-retired": ({}, None),
    }
    for reference, (term, effective_from) in owners.items():
        system, _ = writes.create_system(
            session, officer, {"name": reference, "reference": reference, "stage": "pilot"}
        )
        body = {"role": "technical", "person": person, **term}
        owner = writes.create_entry(
            session, officer, system, "owner", body, effective_from=effective_from
        )
        if reference == "entry-retired":
            writes.retire_entry(session, officer, owner.entry_id, base_version=1)
    session.commit()
    session.close()  # the test's session holds no lock while the app answers

    found = ["in-term", "takes-effect-later", "term-ended"]
    assert _refs(officer_api, owner=me.email) == found == _refs(officer_api, owner="tess tech")
    described = officer_api.get("/api/openapi.json").get_json()
    query = described["paths"]["/api/v1/systems"]["get"]["parameters"]
    owner = next(p for p in query if p["name"] == "owner")
    assert "whatever the entries' terms" in owner["description"]

    page = login_as("technical_owner").get("/my-systems").get_data(as_text=True)
    assert re.findall(r'<tr id="system-([^"]+)">', page) == ["in-term"]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "1 system names you as owner today" in text
    assert "in effect today and within the entry's term" in text
    assert "The API's owner filter" in text and "whatever their term" in text
