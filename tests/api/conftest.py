"""API fixtures: a bearer token per role, and a client that sends it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from registry.accounts.actor import Actor
from registry.accounts.models import User
from registry.accounts.service import create_token, record_token_use
from registry.extensions import database
from registry.ledger.keys import create_key
from tests.conftest import make_app
from tests.records.samples import SAMPLES


class ApiClient:
    """The Flask test client with a bearer token on every request."""

    def __init__(self, client: FlaskClient, token: str | None) -> None:
        self.client = client
        self.token = token

    def open(self, method: str, path: str, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}) or {})
        if self.token is not None:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return self.client.open(path, method=method, headers=headers, **kw)

    def get(self, path: str, **kw: Any) -> Any:
        return self.open("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        return self.open("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        return self.open("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.open("DELETE", path, **kw)


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The app with a ledger signing key, signing a checkpoint every 10 events."""
    instance = tmp_path / "instance"
    create_key(instance / "ledger-signing.key", "registry.test/ledger")
    application = make_app(database_url, instance, CHECKPOINT_EVERY_EVENTS=10)
    yield application
    application.extensions["registry.db"].dispose()


@pytest.fixture
def session(app: Flask) -> Iterator[Any]:
    """A session of the test's own, outside any app context: each API request then has
    its own app context and session, as in service (a request never sees what another
    left uncommitted)."""
    own = database(app).sessionmaker()
    yield own
    own.rollback()
    own.close()


@pytest.fixture
def tokens(session: Any, users: dict[str, User]) -> dict[str, str]:
    """A read+write token for every role, plus read-only and write-only officer tokens,
    each already used today: requests are counted in the steady state, without the one
    transaction of a token's first use of the day (tests/api/test_token_last_use.py)."""
    made, ids = {}, []
    for role, user in users.items():
        token, made[role] = create_token(session, Actor.for_user(user), user, name=role)
        ids.append(token.id)
    officer = users["compliance_officer"]
    for scope in ("read", "write"):
        token, made[f"officer_{scope}_only"] = create_token(
            session, Actor.for_user(officer), officer, name=scope, scopes=(scope,)
        )
        ids.append(token.id)
    session.commit()
    for token_id in ids:
        record_token_use(session.get_bind(), token_id)
    return made


@pytest.fixture
def api_as(app: Flask, tokens: dict[str, str]) -> Callable[[str | None], ApiClient]:
    def _as(who: str | None) -> ApiClient:
        return ApiClient(app.test_client(), tokens[who] if who else None)

    return _as


@pytest.fixture
def entry(api_as: Any, profile: dict[str, Any]) -> dict[str, Any]:
    """A data source of system ``sys-1`` (made with it by a compliance officer), as the
    API shows it (its ``etag`` included)."""
    officer = api_as("compliance_officer")
    assert officer.post("/api/v1/systems", json={"profile": profile}).status_code == 201
    created = officer.post(
        "/api/v1/systems/sys-1/entries",
        json={"kind": "data_source", "body": SAMPLES["data_source"]},
    )
    assert created.status_code == 201
    return officer.get(f"/api/v1/entries/{created.get_json()['id']}").get_json()
