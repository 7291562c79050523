"""Self-service API tokens on the web: every role creates its own (the secret shown once),
sees them with the day of last use, and revokes them after a confirmation."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.accounts.models import ApiToken
from registry.accounts.service import create_token, get_user
from registry.db import utcnow
from registry.extensions import db_session
from registry.ledger.models import AuditEvent
from tests.conftest import csrf_token
from tests.web.test_change_password import _sign_in
from tests.web.test_password_reset import emails  # noqa: F401  (a fixture)

PATH = "/account/tokens"


def _html(response: Any) -> str:
    return response.get_data(as_text=True)


def _create(client: Any, **fields: Any) -> Any:
    data = {"name": "pipeline", "scopes": ["read"], "days": "30", **fields}
    return client.post(PATH, data={**data, "csrf_token": csrf_token(client, PATH)})


def _secret(response: Any) -> str:
    match = re.search(r'id="new-token-secret" readonly size="60" value="([^"]+)"', _html(response))
    assert match, _html(response)
    return match.group(1)


def _actions(app: Any) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db_session().scalars(sa.select(AuditEvent.event).order_by(AuditEvent.seq))
        return [e for e in map(json.loads, rows) if e["action"].startswith("token.")]


@pytest.mark.parametrize("role", ["admin", "compliance_officer", "technical_owner", "auditor"])
def test_every_role_makes_uses_and_revokes_its_own_token(app, emails, role):  # noqa: F811
    client = _sign_in(app, emails[role])
    assert f'<a href="{PATH}">API tokens</a>' in _html(client.get("/", follow_redirects=True))
    assert "You have no API tokens." in _html(client.get(PATH))
    made = _create(client)
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    secret = _secret(made)
    assert "never" in _html(client.get(PATH))  # not used yet
    assert secret not in _html(client.get(PATH))  # shown once only

    api = app.test_client()
    me = api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.get_json()["email"] == emails[role]
    assert me.get_json()["token"]["scopes"] == ["read"]
    listed = _html(client.get(PATH))
    assert utcnow().strftime("%Y-%m-%d") in listed and "never" not in listed

    with app.app_context():
        token = db_session().scalar(sa.select(ApiToken).where(ApiToken.name == "pipeline"))
        token_id = token.id
    confirm = client.get(f"{PATH}/{token_id}/revoke")
    assert confirm.status_code == 200 and "cannot be undone" in _html(confirm)
    token_field = csrf_token(client, f"{PATH}/{token_id}/revoke")
    # Without the confirmation page's field, nothing is revoked.
    unconfirmed = client.post(f"{PATH}/{token_id}/revoke", data={"csrf_token": token_field})
    assert unconfirmed.status_code == 302 and unconfirmed.headers["Location"].endswith("/revoke")
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    revoked = client.post(
        f"{PATH}/{token_id}/revoke", data={"csrf_token": token_field, "confirm": "yes"}
    )
    assert revoked.status_code == 302
    assert "revoked" in _html(client.get(PATH))
    assert api.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401

    create, revoke = _actions(app)
    assert create["action"] == "token.create" and create["actor"] == f"user:{emails[role]}"
    assert revoke["action"] == "token.revoke" and revoke["token_id"] == token_id


def test_bad_requests_say_why_and_make_nothing(app, emails):  # noqa: F811
    client = _sign_in(app, emails["auditor"])
    for fields, field in (
        ({"days": "soon"}, "A whole number of days"),
        ({"days": "0"}, "Must be between 1 and"),
        ({"scopes": []}, "Scopes must be among"),
        ({"scopes": ["admin"]}, "Scopes must be among"),
        ({"name": "x" * 101}, "Longer than maximum length 100."),
    ):
        response = _create(client, **fields)
        assert response.status_code == 422, fields
        assert field in _html(response) and "No token was created." in _html(response)
    assert not _actions(app)


def test_nobody_revokes_or_sees_another_users_token_here(app, emails):  # noqa: F811
    with app.app_context():
        session = db_session()
        user = get_user(session, emails["compliance_officer"])
        token, _ = create_token(session, Actor.for_user(user), user, name="theirs")
        session.commit()
        token_id = token.id
    for role in ("auditor", "admin"):
        client = _sign_in(app, emails[role])
        assert "theirs" not in _html(client.get(PATH))
        assert client.get(f"{PATH}/{token_id}/revoke").status_code == 404
        response = client.post(
            f"{PATH}/{token_id}/revoke",
            data={"csrf_token": csrf_token(client, PATH), "confirm": "yes"},
        )
        assert response.status_code == 404
    assert not [e for e in _actions(app) if e["action"] == "token.revoke"]


def test_signed_out_visitors_are_sent_to_sign_in(client):
    for path in (PATH, f"{PATH}/1/revoke"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
