"""The readiness scorecard page, approving a promotion, and the gate on the profile form."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from registry.records import reads, writes
from tests.conftest import csrf_token
from tests.readiness.evidence import READY_PROFILE, make_ready
from tests.web.test_editing import form_fields, post


@pytest.fixture
def system(session, officer):
    made, _ = writes.create_system(session, officer, READY_PROFILE)
    session.commit()
    return made


def test_the_scorecard_page_for_readers_only(client, login_as, session, officer, system):
    assert client.get("/systems/sys-1/readiness").status_code == 302  # sign in first
    login_as("auditor")
    page = client.get("/systems/sys-1/readiness").get_data(as_text=True)
    assert "Not ready for production" in page
    svg = re.search(r"<svg[^>]*>(.*?)</svg>", page, re.S)
    assert svg and 'role="img"' in page and 'aria-labelledby="chart-title chart-desc"' in page
    assert svg.group(1).count('class="bar ') == 10
    assert "Business ownership: partial (50% of criteria met)" in page
    assert "style=" not in page and "<script" not in page  # CSP: no inline styles or scripts
    assert "What happens when the data changes" in page and "not answered" in page
    assert "Approve promotion" not in page  # auditors do not approve
    assert client.get("/systems/sys-1/readiness?on=someday").status_code == 422
    assert client.get("/systems/nope/readiness").status_code == 404


def test_an_officer_approves_and_sees_it_go_stale(client, login_as, session, officer, system):
    ids = make_ready(session, officer, system)
    session.commit()
    login_as("compliance_officer")
    page = client.get("/systems/sys-1/readiness").get_data(as_text=True)
    assert "Ready for production" in page and "No promotion approval is recorded." in page
    token = csrf_token(client, "/systems/sys-1/readiness")
    response = client.post(
        "/systems/sys-1/readiness/approve", data={"csrf_token": token, "notes": "Board 12"}
    )
    assert response.status_code == 302
    page = client.get("/systems/sys-1/readiness").get_data(as_text=True)
    assert "Promotion to production approved" in page and "<strong>Current</strong>" in page
    entry = reads.get_entry(session, ids["risk"])
    body = reads.state_of(session, "sys-1").of_kind("risk")[0].body
    writes.update_entry(session, officer, entry, {**body, "control": "Daily"}, base_version=1)
    session.commit()
    page = client.get("/systems/sys-1/readiness").get_data(as_text=True)
    assert "<strong>Stale</strong>" in page
    assert f"entry {ids['risk']} (risk): approved version 1, now 2" in page
    # Before the system was registered, nothing is scored: the page says so.
    response = client.get("/systems/sys-1/readiness?on=2020-01-01")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "System sys-1 was not registered on 2020-01-01." in page
    assert "Ready for production" not in page and "Not ready" not in page
    assert 'name="on" value="2020-01-01"' in page  # another day can be chosen


def test_a_day_before_the_system_existed_is_said_so(client, login_as, system):
    login_as("auditor")
    response = client.get("/systems/sys-1/readiness", query_string={"on": "0001-01-01"})
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "System sys-1 was not registered on 0001-01-01." in page
    assert "stage unknown" not in page and "1-01-01 " not in page
    # From its day on it is scored as it stood.
    today = dt.datetime.now(dt.UTC).date().isoformat()
    page = client.get("/systems/sys-1/readiness", query_string={"on": today}).get_data(as_text=True)
    assert "Not ready for production</strong>" in page and "stage pilot" in page


def test_only_officers_may_approve(client, login_as, session, officer, system):
    login_as("auditor")
    token = csrf_token(client, "/systems/sys-1/readiness")
    response = client.post("/systems/sys-1/readiness/approve", data={"csrf_token": token})
    assert response.status_code == 403


def test_the_profile_form_lists_the_unmet_areas(client, login_as, session, officer, system):
    make_ready(session, officer, system, skip=("funding",))
    session.commit()
    login_as("compliance_officer")
    entry = reads.profile_entry(session, system)
    path = f"/systems/sys-1/entries/{entry.id}/edit"
    token = csrf_token(client, path)
    fields = [*form_fields({**READY_PROFILE, "stage": "production"}), ("reason", "Go-live")]
    response = post(client, path, [*fields, ("base_version", "1")], token)
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "cannot become production: not ready in Lifecycle funding" in html
    assert "<li>Lifecycle funding: Running costs funded (missing)" in html
    assert reads.state_of(session, "sys-1").profile["stage"] == "pilot"


def test_waiver_kinds_are_offered_to_officers_only(client, login_as, session, officer, system):
    login_as("compliance_officer")
    assert 'value="waiver"' in client.get("/systems/sys-1").get_data(as_text=True)
