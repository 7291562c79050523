"""Notifications on the web: My tasks (soonest first), the preferences page, following a
system, webhooks with their delivery log (administrators and officers only)."""

from __future__ import annotations

import re

import pytest

from registry.accounts.actor import Actor
from registry.notifications import service
from registry.records import writes
from tests.conftest import csrf_token
from tests.records.samples import SAMPLES


@pytest.fixture
def systems(session, officer, users):
    """Two systems in production that are not ready; the technical owner owns one."""
    made = {}
    for reference in ("sys-a", "sys-b"):
        made[reference], _ = writes.create_system(
            session,
            officer,
            {**SAMPLES["profile"], "reference": reference, "stage": "production"},
        )
    owner = {
        "role": "technical",
        "person": {"name": "Tech", "email": users["technical_owner"].email},
        "start": "2020-01-01",
    }
    writes.create_entry(session, officer, made["sys-a"], "owner", owner)
    serious = {**SAMPLES["incident"], "status": "open"}
    writes.create_entry(session, officer, made["sys-a"], "incident", serious)
    session.commit()
    return made


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr class="task (\w+)">', page)


def test_my_tasks_lists_what_is_due_for_me_soonest_first(client, login_as, systems):
    page = login_as("technical_owner").get("/tasks").get_data(as_text=True)
    # The serious incident's Art 73 deadline (long past) comes before the readiness.
    assert _rows(page) == ["incident_deadline", "readiness_lost"]
    assert "sys-b" not in page
    assert "Report serious incident: Wrong priority scores" in page


def test_an_officer_sees_every_systems_tasks(client, login_as, systems):
    page = login_as("compliance_officer").get("/tasks").get_data(as_text=True)
    assert sorted(_rows(page)) == ["incident_deadline", "readiness_lost", "readiness_lost"]


def test_following_a_system_from_its_page(client, login_as, systems, users, session):
    login_as("auditor")
    assert _rows(client.get("/tasks").get_data(as_text=True)) == []
    page = client.get("/systems/sys-b").get_data(as_text=True)
    assert "Follow this system" in page
    token = csrf_token(client, "/systems/sys-b")
    response = client.post("/systems/sys-b/subscription", data={"follow": "1", "csrf_token": token})
    assert response.status_code == 302
    assert "Stop following" in client.get("/systems/sys-b").get_data(as_text=True)
    assert _rows(client.get("/tasks").get_data(as_text=True)) == ["readiness_lost"]
    client.post("/systems/sys-b/subscription", data={"follow": "0", "csrf_token": token})
    assert _rows(client.get("/tasks").get_data(as_text=True)) == []


@pytest.mark.parametrize("role", ["compliance_officer", "technical_owner", "auditor", "admin"])
def test_the_preferences_page_links_my_tasks_only_for_who_may_open_it(client, login_as, role):
    login_as(role)
    page = client.get("/me/notifications")
    assert page.status_code == 200
    linked = '<a href="/tasks">My tasks</a>' in page.get_data(as_text=True)
    opens = client.get("/tasks").status_code == 200
    assert linked == opens == (role != "admin")


def test_the_preferences_page_saves_and_refuses_bad_input(client, login_as, users, session):
    login_as("technical_owner")
    page = client.get("/me/notifications").get_data(as_text=True)
    assert page.count('value="email" checked') == 8
    token = csrf_token(client, "/me/notifications")
    form = {"csrf_token": token, "review_due": "digest", "waiver_expiring": "none"}
    response = client.post("/me/notifications", data=form)
    assert response.status_code == 302
    tech = Actor.for_user(users["technical_owner"])
    session.expire_all()
    prefs = service.get_preferences(session, tech)
    assert prefs["review_due"] == "digest" and prefs["waiver_expiring"] == "none"
    bad = client.post("/me/notifications", data={**form, "review_due": "pigeon"})
    assert bad.status_code == 422
    assert "Review due soon: Must be one of" in bad.get_data(as_text=True)
    session.expire_all()
    assert service.get_preferences(session, tech)["review_due"] == "digest"


def test_webhooks_page_for_officers_and_admins_only(client, login_as, systems):
    login_as("technical_owner")
    assert client.get("/webhooks").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/tasks")})
    login_as("compliance_officer")
    token = csrf_token(client, "/webhooks")
    refused = client.post(
        "/webhooks",
        data={"csrf_token": token, "url": "http://10.0.0.5/hook", "events": ["due_item"]},
    )
    assert refused.status_code == 422
    assert "private address" in refused.get_data(as_text=True)
    made = client.post(
        "/webhooks",
        data={
            "csrf_token": token,
            "url": "https://93.184.215.14/hook",
            "system": "sys-a",
            "events": ["due_item", "incident"],
        },
    )
    assert made.status_code == 200
    assert made.headers["Cache-Control"] == "no-store"
    text = made.get_data(as_text=True)
    assert re.search(r'<code class="secret">whsec_[A-Za-z0-9+/=]+</code>', text)
    hook_id = int(re.search(r'id="webhook-(\d+)"', text).group(1))
    assert "Nothing sent yet" in client.get(f"/webhooks/{hook_id}").get_data(as_text=True)
    client.post(f"/webhooks/{hook_id}/delete", data={"csrf_token": token})
    assert "No webhook subscriptions" in client.get("/webhooks").get_data(as_text=True)


def test_my_tasks_pages_with_the_count(client, login_as, session, officer):
    """An officer's many items: the soonest first, 50 a page, the count of all."""
    for n in range(52):
        writes.create_system(
            session,
            officer,
            {**SAMPLES["profile"], "reference": f"p-{n:02d}", "stage": "production"},
        )
    session.commit()
    login_as("compliance_officer")
    first = client.get("/tasks").get_data(as_text=True)
    assert "52 items due, page 1 of 2" in first
    assert len(_rows(first)) == 50 and "p-00" in first and "p-50" not in first
    second = client.get("/tasks?page=2").get_data(as_text=True)
    assert len(_rows(second)) == 2 and "p-50" in second and "p-51" in second
    assert "page 2 of 2" in client.get("/tasks?page=99").get_data(as_text=True)
    for asked in ("x", "0", "00", "-1"):  # as the systems list: page 1
        response = client.get(f"/tasks?page={asked}")
        assert response.status_code == 200, asked
        assert "page 1 of 2" in response.get_data(as_text=True), asked
