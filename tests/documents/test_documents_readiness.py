"""Expired evidence, through the real stack on both engines and both blob stores: a
DPIA stored with a last day in force meets the criterion until then and is partial
after; the dashboard lists it as expired once its day has passed."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from registry.documents.service import Upload, receive
from registry.extensions import document_store
from registry.readiness.scorecard import evaluate
from registry.records import writes
from tests.records.samples import SAMPLES


def _finding(card: Any, key: str) -> Any:
    return next(f for a in card.areas for f in a.findings if f.key == key)


def test_a_dpia_meets_the_criterion_until_its_last_day(
    app, session, officer, users, client, login_as
):
    profile = {**SAMPLES["profile"], "reference": "sys-1", "dpia_status": "done"}
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    system, _ = writes.create_system(session, officer, profile, effective_from=since)
    source = {
        "name": "Applications",
        "uses": ["input"],
        "personal_data_categories": ["contact details"],
    }
    writes.create_entry(session, officer, system, "data_source", source, effective_from=since)
    session.commit()
    now = dt.datetime.now(dt.UTC)
    assert _finding(evaluate(session, "sys-1", now), "dpia").status == "partial"  # none stored
    session.rollback()
    last_day = now.date() - dt.timedelta(days=1)
    store = document_store(app)
    staged = store.stage(100).copy_from(io.BytesIO(b"DPIA, signed"))
    upload = Upload("dpia.pdf", document_type="dpia", valid_until=last_day.isoformat())
    receive(session, officer, system, store, staged, upload)
    session.commit()
    later = dt.datetime.now(dt.UTC)
    # Evaluated on its last day (as recorded now): in force.
    on_last_day = dt.datetime.combine(last_day, dt.time(23), dt.UTC)
    found = _finding(evaluate(session, "sys-1", on_last_day, recorded_by=later), "dpia")
    assert found.status == "met" and "'dpia.pdf' is stored" in found.explanation
    # Now, the day after: expired, partial.
    found = _finding(evaluate(session, "sys-1", later), "dpia")
    assert found.status == "partial" and f"expired on {last_day}" in found.explanation
    # Before it was received, the registry held no DPIA.
    assert _finding(evaluate(session, "sys-1", now), "dpia").status == "partial"
    session.rollback()
    assert users["auditor"].email  # loaded now: the sign-in below reads it
    session.close()  # (SQLite: the test's session would hold the write lock)
    login_as("auditor")
    dashboard = client.get("/dashboard").get_data(as_text=True)
    assert "Expired evidence" in dashboard and "dpia.pdf" in dashboard
    assert f'<time datetime="{last_day.isoformat()}">' in dashboard
