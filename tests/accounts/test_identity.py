"""Provider accounts decided from verified claims (accounts.identity), and the link an
administrator makes between an existing account and a provider account (CLI)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from registry.accounts.identity import Provider, SignInRefused, sign_in
from registry.db import utcnow
from registry.ledger.models import AuditEvent

PROVIDER = Provider.from_setting(
    {
        "name": "corp",
        "issuer": "https://idp.example.org/",
        "client_id": "registry",
        "client_secret": "secret",
        "roles": {"governance": "compliance_officer", "audit": ["auditor"]},
    }
)


def _actions(session) -> list[dict]:
    rows = session.scalars(sa.select(AuditEvent.event).order_by(AuditEvent.seq)).all()
    return [json.loads(r) for r in rows]


def test_an_administrator_links_an_existing_account(app, session, users):
    email = users["technical_owner"].email
    claims = {"sub": "u-42", "email": email, "groups": ["audit"]}
    # Not created (the setting does not allow it), not joined by the e-mail.
    with pytest.raises(SignInRefused) as refused:
        sign_in(session, PROVIDER, claims, utcnow())
    assert refused.value.reason == "no_account"
    session.rollback()

    runner = app.test_cli_runner()
    args = [
        "users",
        "link-identity",
        email,
        "--issuer",
        "https://idp.example.org",
        "--subject",
        "u-42",
    ]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    again = runner.invoke(args=args)
    assert again.exit_code == 1 and "linked to a user already" in again.output
    bad = runner.invoke(args=[*args[:3], "--issuer", "idp", "--subject", ""])
    assert bad.exit_code == 1

    session.expire_all()
    user = sign_in(session, PROVIDER, claims, utcnow())
    assert user.email == email and user.roles == {"auditor"}  # the groups decide
    session.commit()
    events = _actions(session)
    link = next(e for e in events if e["action"] == "user.identity_link")
    assert link["subject"] == "u-42" and link["issuer"] == "https://idp.example.org"
    change = [e for e in events if e["action"] == "user.roles"][-1]
    assert change["previous_roles"] == ["technical_owner"] and change["roles"] == ["auditor"]
    assert change["actor"] == "oidc:https://idp.example.org"


def test_roles_from_groups(session, users):
    assert PROVIDER.roles_for({"groups": ["governance", "audit", "other"]}) == [
        "auditor",
        "compliance_officer",
    ]
    assert PROVIDER.roles_for({"groups": "governance"}) == ["compliance_officer"]
    assert PROVIDER.roles_for({"groups": [{"x": 1}]}) == []
    assert PROVIDER.roles_for({}) == []
