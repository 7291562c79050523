"""A token's last use is recorded by the day: its first request of a day (UTC) writes
it, in a transaction of its own; every other request of that day writes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
import time_machine

from registry.accounts.actor import Actor
from registry.accounts.models import ApiToken
from registry.accounts.service import create_token
from registry.db import utcnow
from registry.extensions import database
from tests.api.conftest import ApiClient


def _updates(app: Any) -> list[str]:
    """The UPDATEs of api_token sent through the app's engine from now on."""
    seen: list[str] = []

    @sa.event.listens_for(database(app).engine, "before_cursor_execute")
    def _watch(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_TOKEN"):
            seen.append(statement)

    return seen


def _last_used(session: Any, token_id: int) -> dt.datetime | None:
    session.expire_all()
    value = session.get(ApiToken, token_id).last_used_at
    session.rollback()  # the test's session lets go of SQLite's write lock
    return value


def test_the_first_use_of_a_day_is_recorded_once(app, session, users, profile):
    user = users["compliance_officer"]
    token, secret = create_token(session, Actor.for_user(user), user, name="pipeline")
    session.commit()
    assert token.last_used_at is None
    client = ApiClient(app.test_client(), secret)
    updates = _updates(app)
    before = utcnow()
    for _ in range(3):
        assert client.get("/api/v1/me").status_code == 200
    # A write (on PostgreSQL its token lookup goes with the write's first round trip).
    created = client.post("/api/v1/systems", json={"profile": profile, "reason": "New"})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert len(updates) == 1
    first = _last_used(session, token.id)
    assert first is not None and first >= before

    tomorrow = utcnow() + dt.timedelta(days=1)
    with time_machine.travel(tomorrow, tick=False):
        for _ in range(3):
            assert client.get("/api/v1/me").status_code == 200
    assert len(updates) == 2
    assert _last_used(session, token.id) > first
    # A refused token records nothing.
    assert ApiClient(app.test_client(), "reg_unknown").get("/api/v1/me").status_code == 401
    assert len(updates) == 2


def test_recording_never_holds_a_request_up(app, session, users, engine_name):
    """While another transaction holds SQLite's write lock, a request goes on without
    recording its token's use (its next request does); PostgreSQL has no such lock."""
    user = users["auditor"]
    token, secret = create_token(session, Actor.for_user(user), user, name="reader")
    session.commit()
    client = ApiClient(app.test_client(), secret)
    session.execute(sa.select(ApiToken.id)).all()  # the test's session begins a write
    started = utcnow()
    assert client.get("/api/v1/me").status_code == 200
    assert utcnow() - started < dt.timedelta(seconds=5)
    session.rollback()
    if engine_name == "sqlite":
        assert _last_used(session, token.id) is None
    assert client.get("/api/v1/me").status_code == 200
    assert _last_used(session, token.id) is not None
