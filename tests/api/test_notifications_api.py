"""Notifications over the API: preferences (validated, 422 with field errors), following
a system, webhook subscriptions refused into private networks."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from registry.api.models import IdempotencyKey
from registry.errors import InvalidInput
from registry.extensions import database
from registry.notifications import service
from registry.notifications.due import KINDS
from registry.records import writes
from registry.records.search import MAX_PAGE
from tests.api.conftest import ApiClient
from tests.records.samples import SAMPLES


@pytest.fixture
def as_owner(app, tokens) -> ApiClient:
    return ApiClient(app.test_client(), tokens["technical_owner"])


@pytest.fixture
def as_officer(app, tokens) -> ApiClient:
    return ApiClient(app.test_client(), tokens["compliance_officer"])


def test_preferences_default_to_email_and_change_per_kind(as_owner):
    got = as_owner.get("/api/v1/me/notifications").get_json()
    assert got["preferences"] == dict.fromkeys(KINDS, "email")
    assert set(got["kinds"]) == set(KINDS)
    response = as_owner.put(
        "/api/v1/me/notifications",
        json={"preferences": {"review_due": "digest", "waiver_expiring": "none"}},
    )
    assert response.status_code == 200
    after = as_owner.get("/api/v1/me/notifications").get_json()["preferences"]
    assert after["review_due"] == "digest" and after["waiver_expiring"] == "none"
    assert after["incident_deadline"] == "email"


@pytest.mark.parametrize(
    "body",
    [
        {"preferences": {"review_due": "sms"}},
        {"preferences": {"no_such_kind": "email"}},
        {"preferences": "email"},
        {},
        {"preferences": {}, "extra": 1},
    ],
)
def test_bad_preferences_are_a_422_problem_and_change_nothing(as_owner, body):
    response = as_owner.put("/api/v1/me/notifications", json=body)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert response.get_json()["errors"]
    assert as_owner.get("/api/v1/me/notifications").get_json()["preferences"] == dict.fromkeys(
        KINDS, "email"
    )


def test_following_a_system_and_my_tasks(session, officer, as_owner):
    system, _ = writes.create_system(
        session, officer, {**SAMPLES["profile"], "reference": "sys-1", "stage": "production"}
    )
    session.commit()
    nothing = {"items": [], "next_cursor": None, "total": 0}
    assert as_owner.get("/api/v1/me/tasks").get_json() == nothing
    assert as_owner.put("/api/v1/systems/sys-1/subscription").get_json() == {
        "system": "sys-1",
        "subscribed": True,
    }
    items = as_owner.get("/api/v1/me/tasks").get_json()["items"]
    assert [i["kind"] for i in items] == ["readiness_lost"]
    assert as_owner.delete("/api/v1/systems/sys-1/subscription").get_json()["subscribed"] is False
    nothing = {"items": [], "next_cursor": None, "total": 0}
    assert as_owner.get("/api/v1/me/tasks").get_json() == nothing
    assert as_owner.put("/api/v1/systems/nope/subscription").status_code == 404


def test_webhooks_over_the_api(as_officer):
    refused = as_officer.post(
        "/api/v1/webhooks", json={"url": "http://127.0.0.1:8080/x", "events": ["due_item"]}
    )
    assert refused.status_code == 422
    assert [e["pointer"] for e in refused.get_json()["errors"]] == ["/url"]
    bad = as_officer.post(
        "/api/v1/webhooks", json={"url": "https://93.184.215.14/", "events": ["x"]}
    )
    assert bad.status_code == 422
    made = as_officer.post(
        "/api/v1/webhooks", json={"url": "https://93.184.215.14/hook", "events": ["due_item"]}
    )
    assert made.status_code == 201
    body = made.get_json()
    assert body["secret"].startswith("whsec_") and body["system"] is None
    listed = as_officer.get("/api/v1/webhooks").get_json()["items"]
    assert [h["id"] for h in listed] == [body["id"]] and "secret" not in listed[0]
    assert as_officer.get(f"/api/v1/webhooks/{body['id']}/deliveries").get_json() == {"items": []}
    assert as_officer.delete(f"/api/v1/webhooks/{body['id']}").status_code == 200
    assert as_officer.get("/api/v1/webhooks").get_json() == {"items": []}


def test_a_retried_webhook_subscription_shows_its_secret_and_is_made_once(app, tokens, as_officer):
    hook = {"url": "https://93.184.215.14/hook", "events": ["due_item"]}
    headers = {"Idempotency-Key": "hook-1"}
    made = as_officer.post("/api/v1/webhooks", json=hook, headers=headers)
    again = as_officer.post("/api/v1/webhooks", json=hook, headers=headers)
    assert made.status_code == again.status_code == 201
    assert again.get_data() == made.get_data()  # its secret too
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in made.headers
    body = made.get_json()
    # Another token of the officer's: its request runs, meets the key; the first answer.
    other = ApiClient(app.test_client(), tokens["officer_write_only"])
    third = other.post("/api/v1/webhooks", json=hook, headers=headers)
    assert third.status_code == 201 and third.get_data() == made.get_data()
    assert third.headers["Idempotent-Replayed"] == "true"
    assert [h["id"] for h in as_officer.get("/api/v1/webhooks").get_json()["items"]] == [body["id"]]
    # The secret is kept where it signs the payloads, never in the keys' table.
    with database(app).read_sessionmaker() as read:
        stored = read.scalars(sa.select(IdempotencyKey.response_body)).all()
    assert len(stored) == 1 and body["secret"] not in stored[0]
    # Once the subscription is removed, a retry has no secret to show.
    assert as_officer.delete(f"/api/v1/webhooks/{body['id']}").status_code == 200
    gone = as_officer.post("/api/v1/webhooks", json=hook, headers=headers)
    assert gone.status_code == 404 and gone.mimetype == "application/problem+json"
    assert as_officer.get("/api/v1/webhooks").get_json() == {"items": []}


def test_removing_a_systems_webhook_answers_what_was_removed(session, officer, as_officer):
    writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "sys-1"})
    session.commit()
    made = as_officer.post(
        "/api/v1/webhooks",
        json={"url": "https://93.184.215.14/hook", "events": ["incident"], "system": "sys-1"},
    )
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    del body["secret"]
    assert body["system"] == "sys-1"
    removed = as_officer.delete(f"/api/v1/webhooks/{body['id']}")
    assert removed.status_code == 200 and removed.get_json() == body


def test_my_tasks_pages_by_cursor_with_the_total(session, officer, as_officer):
    for n in range(5):
        writes.create_system(
            session,
            officer,
            {**SAMPLES["profile"], "reference": f"p-{n}", "stage": "production"},
        )
    session.commit()
    whole = as_officer.get("/api/v1/me/tasks").get_json()
    assert whole["total"] == 5 and whole["next_cursor"] is None
    assert [i["system"] for i in whole["items"]] == [f"p-{n}" for n in range(5)]
    seen, after = [], 0
    while after is not None:
        page = as_officer.get(f"/api/v1/me/tasks?limit=2&after={after}")
        assert page.status_code == 200
        body = page.get_json()
        assert body["total"] == 5
        assert ("Link" in page.headers) == (body["next_cursor"] is not None)
        seen += body["items"]
        after = body["next_cursor"]
    assert [i["key"] for i in seen] == [i["key"] for i in whole["items"]]
    for query in ("limit=0", "limit=x", "after=-1", "limit=100000", f"limit={MAX_PAGE + 1}"):
        refused = as_officer.get(f"/api/v1/me/tasks?{query}")
        assert refused.status_code == 422, query
    assert as_officer.get(f"/api/v1/me/tasks?limit={MAX_PAGE}").status_code == 200


def test_my_tasks_takes_the_apis_page_size_limit(app, officer):
    """The service refuses a page larger than the API's schema allows (one limit)."""
    with database(app).read_sessionmaker() as read:
        now = dt.datetime.now(dt.UTC)
        assert service.my_tasks(read, officer, now, limit=MAX_PAGE).offset == 0
        with pytest.raises(InvalidInput) as refused:
            service.my_tasks(read, officer, now, limit=MAX_PAGE + 1)
    assert refused.value.field_errors == {"limit": [f"Must be between 1 and {MAX_PAGE}."]}
