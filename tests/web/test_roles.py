"""Each role's limits in the web forms, on both engines: retiring, reinstating and
classifying a system, and the procedure an incident names."""

from __future__ import annotations

import html as html_lib
import re

import pytest

from registry.records import reads, writes
from tests.conftest import csrf_token
from tests.readiness.evidence import READY_PROFILE, make_ready
from tests.records.samples import SAMPLES
from tests.web.test_editing import form_fields, post


@pytest.fixture
def system(session, officer, users, profile):
    made, _ = writes.create_system(session, officer, profile, reason="Registered")
    owner = {
        "role": "technical",
        "person": {"name": "Tess Tech", "email": users["technical_owner"].email},
        "start": "2020-01-01",
    }
    writes.create_entry(session, officer, made, "owner", owner)
    session.commit()
    return made


def _profile_id(session, system) -> int:
    return reads.profile_entry(session, system).id


def test_a_technical_owner_sees_the_classification_fields_named(
    client, login_as, session, system, profile
):
    login_as("technical_owner")
    path = f"/systems/sys-1/entries/{_profile_id(session, system)}/edit"
    token = csrf_token(client, path)
    lowered = {**profile, "risk_tier": "minimal", "stage": "production"}
    response = post(client, path, [*form_fields(lowered), ("base_version", "1")], token)
    assert response.status_code == 403
    page = html_lib.unescape(response.get_data(as_text=True))
    assert "risk_tier, stage" in page and "not saved" in page
    assert "Only a compliance officer may change this field." in page
    session.expire_all()
    assert reads.profile_entry(session, system).head_number == 1
    # The rest of the profile is theirs to change.
    renamed = {**profile, "name": "Renamed"}
    response = post(client, path, [*form_fields(renamed), ("base_version", "1")], token)
    assert response.status_code == 302, response.get_data(as_text=True)


def test_only_an_officer_retires_and_reinstates_a_system(client, login_as, session, system):
    entry_id = _profile_id(session, system)
    retire = f"/systems/sys-1/entries/{entry_id}/retire"
    login_as("technical_owner")
    assert "Retire system" not in client.get("/systems/sys-1").get_data(as_text=True)
    assert client.get(retire).status_code == 403  # the form does not open for them
    token = csrf_token(client, f"/systems/sys-1/entries/{entry_id}/edit")
    response = post(client, retire, [("base_version", "1"), ("reason", "Gone")], token)
    assert response.status_code == 403
    session.expire_all()
    assert not reads.profile_entry(session, system).retired
    client.post("/logout", data={"csrf_token": token})

    login_as("compliance_officer")
    assert "Retire system" in client.get("/systems/sys-1").get_data(as_text=True)
    token = csrf_token(client, retire)
    response = post(client, retire, [("base_version", "1"), ("reason", "Gone")], token)
    assert response.status_code == 302
    # Listed as retired, its page answers and says so, and can be filtered.
    listing = client.get("/systems").get_data(as_text=True)
    assert "Benefit fraud triage" in listing and ">retired</span>" in listing
    assert "Benefit fraud triage" not in client.get("/systems?status=live").get_data(as_text=True)
    assert "Benefit fraud triage" in client.get("/systems?status=retired").get_data(as_text=True)
    page = client.get("/systems/sys-1")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Retired." in text and "<h1>Benefit fraud triage</h1>" in text
    assert "Reinstate this system" in text
    reinstate = "/systems/sys-1/reinstate"
    form = client.get(reinstate).get_data(as_text=True)
    assert 'name="base_version" value="2"' in form
    response = post(client, reinstate, [("base_version", "2"), ("reason", "Back")], token)
    assert response.status_code == 302, response.get_data(as_text=True)
    session.expire_all()
    entry = reads.profile_entry(session, system)
    assert not entry.retired and entry.head_number == 3
    assert "Retired." not in client.get("/systems/sys-1").get_data(as_text=True)
    assert client.get(reinstate).status_code == 409  # not retired any more


def test_a_technical_owner_cannot_reinstate(client, login_as, session, system, officer):
    writes.retire_entry(session, officer, _profile_id(session, system), base_version=1)
    session.commit()
    login_as("technical_owner")
    page = client.get("/systems/sys-1").get_data(as_text=True)
    assert "Retired." in page and "Reinstate this system" not in page
    assert client.get("/systems/sys-1/reinstate").status_code == 403


def test_a_reinstatement_into_production_refused_by_the_gate_says_what_to_do(
    client, login_as, session, officer
):
    """A system retired while in production comes back in production: the readiness gate
    refuses it while an area is not met, and the form says which and where to act (the
    compliance officer reinstating records waivers themselves), with nothing saved."""
    system, version = writes.create_system(
        session, officer, {**READY_PROFILE, "stage": "production"}
    )
    make_ready(session, officer, system, skip=("funding",))
    writes.retire_entry(session, officer, version.entry_id, base_version=1)
    session.commit()
    login_as("compliance_officer")
    path = "/systems/sys-1/reinstate"
    token = csrf_token(client, path)
    response = post(client, path, [("base_version", "2"), ("reason", "Back")], token)
    assert response.status_code == 409
    page = html_lib.unescape(response.get_data(as_text=True))
    assert "<h1>Reinstate system sys-1</h1>" in page  # the form, not an error page
    said = re.search(r'<h2 id="problem-title">([^<]+)</h2>', page).group(1)
    assert said.startswith(
        "sys-1 was in production when it was retired, so it comes back in production, and "
        "it is not ready for production in: "
    )
    assert "Lifecycle funding" in said and said.endswith(". Nothing was saved.")
    assert "<li>Lifecycle funding: Running costs funded (missing)" in page
    assert "ask a compliance officer" not in page
    assert '<a href="/systems/sys-1/readiness">readiness page</a>' in page
    assert '<a href="/systems/sys-1/entries/new?kind=waiver">add a waiver</a>' in page
    assert 'name="base_version" value="2"' in page and ">Back</textarea>" in page
    session.expire_all()
    assert reads.profile_entry(session, system).retired


def test_an_incident_form_names_its_procedure(client, login_as, session, system, officer):
    procedure = writes.create_entry(
        session, officer, system, "incident_procedure", SAMPLES["incident_procedure"]
    )
    review_procedure = writes.create_entry(
        session, officer, system, "review_procedure", SAMPLES["review_procedure"]
    )
    session.commit()
    login_as("compliance_officer")
    path = "/systems/sys-1/entries/new?kind=incident"
    assert 'name="procedure_entry_id"' in client.get(path).get_data(as_text=True)
    token = csrf_token(client, path)
    wrong = {**SAMPLES["incident"], "procedure_entry_id": review_procedure.entry_id}
    response = post(client, path, form_fields(wrong), token)
    assert response.status_code == 422
    assert "Must name a live incident procedure" in response.get_data(as_text=True)
    right = {**SAMPLES["incident"], "procedure_entry_id": procedure.entry_id}
    assert post(client, path, form_fields(right), token).status_code == 302
