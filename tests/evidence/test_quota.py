"""Exports are limited per user: a number per hour, and one whole-registry export
running at a time; beyond that a 429 with Retry-After (API) or a message (web)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from registry.accounts.actor import Actor
from registry.config import load_config
from registry.db import utcnow
from registry.extensions import db_session
from registry.jobs import service
from registry.jobs.service import ask_export
from registry.ledger.keys import create_key
from tests.api.conftest import ApiClient
from tests.conftest import csrf_token, make_app
from tests.evidence.conftest import ORIGIN
from tests.evidence.test_surfaces import exports_of

PER_HOUR = 3


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    instance = tmp_path / "instance"
    create_key(instance / "ledger-signing.key", ORIGIN)
    application = make_app(database_url, instance, EXPORTS_PER_HOUR=PER_HOUR)
    yield application
    application.extensions["registry.db"].dispose()


def test_api_exports_per_user_and_hour(app, examples, tokens):
    auditor = ApiClient(app.test_client(), tokens["auditor"])
    for _ in range(PER_HOUR):
        made = auditor.post("/api/v1/exports", json={"system": "demo-city-chatbot"})
        assert made.status_code == 202, made.get_json()
    refused = auditor.post("/api/v1/exports", json={"system": "demo-city-chatbot"})
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    problem = refused.get_json()
    assert problem["code"] == "too_many_exports"
    assert f"exported {PER_HOUR} evidence packs in the last hour" in problem["detail"]
    assert 3500 < int(refused.headers["Retry-After"]) <= 3600
    # The whole registry counts too; nothing was exported by the refused requests.
    assert auditor.post("/api/v1/exports", json={}).status_code == 429
    assert len(exports_of(app)) == PER_HOUR
    # Another user has a quota of their own.
    officer = ApiClient(app.test_client(), tokens["compliance_officer"])
    assert officer.post("/api/v1/exports", json={}).status_code == 202
    # A user who may not export is refused for that, before any quota.
    owner = ApiClient(app.test_client(), tokens["technical_owner"])
    assert owner.post("/api/v1/exports", json={}).status_code == 403


def test_one_whole_registry_export_at_a_time_per_user(app, examples, tokens, users, login_as):
    auditor = ApiClient(app.test_client(), tokens["auditor"])
    with app.app_context():  # one is queued, not yet run (no worker takes it here)
        session = db_session()
        running = ask_export(session, Actor.for_user(users["auditor"]), None, None, utcnow(), None)
        session.commit()
        running_id = running.id
    # Each request in an app context of its own, as in service (not the one above).
    refused = auditor.post("/api/v1/exports", json={})
    assert refused.status_code == 429, refused.get_json()
    assert "still running" in refused.get_json()["detail"]
    assert refused.headers["Retry-After"] == "30"
    # A system's pack may still be exported, and another user's registry pack.
    assert auditor.post("/api/v1/exports", json={"system": "demo-city-chatbot"}).status_code == 202
    officer = ApiClient(app.test_client(), tokens["compliance_officer"])
    assert officer.post("/api/v1/exports", json={}).status_code == 202
    # The web's exports page links to it while it is unfinished.
    page = login_as("auditor").get("/exports").get_data(as_text=True)
    assert f'href="/jobs/{running_id}"' in page and "the whole registry, queued" in page
    with app.app_context():
        session = db_session()
        service.fail(session, running_id, {"status": 500, "detail": "gone"}, utcnow())
        session.commit()
    # Once it has ended (the refused request did not count against the hour).
    assert auditor.post("/api/v1/exports", json={}).status_code == 202
    assert [r.scope for r in exports_of(app)] == ["registry", "registry", "system"]


def test_web_says_when_to_export_again(app, examples, login_as):
    client = login_as("auditor")
    token = csrf_token(client, "/exports")
    for _ in range(PER_HOUR):
        done = client.post("/exports", data={"csrf_token": token, "as_of": ""})
        assert done.status_code == 302 and "/jobs/" in done.location
    refused = client.post(
        "/systems/demo-city-chatbot/export",
        data={"csrf_token": token, "as_of": ""},
        follow_redirects=True,
    )
    assert refused.status_code == 200
    page = refused.get_data(as_text=True)
    assert f"You have exported {PER_HOUR} evidence packs in the last hour" in page
    assert "Please try again in 60 minutes." in page
    assert len(exports_of(app)) == PER_HOUR


def test_the_hourly_number_is_a_setting():
    assert load_config({"EXPORTS_PER_HOUR": 5})["EXPORTS_PER_HOUR"] == 5
    with pytest.raises(ValueError, match="REGISTRY_EXPORTS_PER_HOUR"):
        load_config({"EXPORTS_PER_HOUR": 0})
