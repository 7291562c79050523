"""API tokens: prefixed, stored only as a hash, shown once, expiring, revocable."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import sqlalchemy as sa

from registry.accounts.models import ApiToken
from registry.accounts.service import (
    TokenRejected,
    authenticate,
    authenticate_token,
    create_token,
    create_user,
    revoke_token,
)
from registry.errors import Conflict, InvalidInput, NotFound
from registry.ledger.models import AuditEvent
from tests.conftest import PASSWORD


def test_token_is_prefixed_and_only_its_hash_is_stored(session, actors, users):
    token, secret = create_token(
        session, actors["admin"], users["auditor"], name="pipeline", days=30
    )
    session.commit()
    assert secret.startswith("reg_") and len(secret) > 40
    stored = session.scalar(sa.select(ApiToken).where(ApiToken.id == token.id))
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in (stored.prefix, stored.token_hash, stored.name)
    assert stored.prefix == secret[:12]
    # The secret is nowhere in the database's text columns, nor in the ledger.
    for (event,) in session.execute(sa.select(AuditEvent.event)):
        assert secret.encode() not in event
    identity = authenticate_token(session, f"Bearer {secret}")
    assert identity.user_id == users["auditor"].id and identity.scopes == {"read", "write"}
    assert identity.token_id == token.id and identity.roles == {"auditor"}
    assert identity.actor.label == f"user:{users['auditor'].email}"
    left = identity.expires_at - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=29) < left <= dt.timedelta(days=30)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "Send an API token"),
        ("Basic abc", "Send an API token"),
        ("Bearer abc", "not a registry API token"),
        ("Bearer reg_unknown", "Unknown API token"),
    ],
)
def test_bad_token_headers(session, header, message):
    with pytest.raises(TokenRejected) as info:
        authenticate_token(session, header)
    assert message in info.value.message and info.value.status == 401


def test_revoked_and_expired_tokens_are_rejected(session, actors, users):
    token, secret = create_token(session, actors["admin"], users["auditor"])
    session.commit()
    revoke_token(session, actors["admin"], token.prefix)
    session.commit()
    with pytest.raises(TokenRejected, match="revoked"):
        authenticate_token(session, f"Bearer {secret}")
    token2, secret2 = create_token(session, actors["admin"], users["auditor"], days=1)
    session.execute(
        sa.update(ApiToken)
        .where(ApiToken.id == token2.id)
        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    session.commit()
    with pytest.raises(TokenRejected, match="expired"):
        authenticate_token(session, f"Bearer {secret2}")


def test_deactivated_users_tokens_are_rejected(session, actors, users):
    _, secret = create_token(session, actors["admin"], users["auditor"])
    users["auditor"].is_active = False
    session.commit()
    with pytest.raises(TokenRejected, match="deactivated"):
        authenticate_token(session, f"Bearer {secret}")
    with pytest.raises(Conflict):
        create_token(session, actors["admin"], users["auditor"])


def test_token_requests_are_validated(session, actors, users):
    with pytest.raises(InvalidInput) as info:
        create_token(session, actors["admin"], users["auditor"], scopes=("root",), days=0)
    assert set(info.value.field_errors) == {"scopes", "days"}
    with pytest.raises(NotFound):
        revoke_token(session, actors["admin"], "reg_nothere12")


def test_password_login(session, users):
    assert authenticate(session, users["auditor"].email, PASSWORD).id == users["auditor"].id
    assert authenticate(session, users["auditor"].email.upper(), PASSWORD) is not None
    assert authenticate(session, users["auditor"].email, PASSWORD + "x") is None
    assert authenticate(session, "nobody@example.org", PASSWORD) is None
    assert users["auditor"].password_hash.startswith("scrypt:")


def test_user_creation_is_validated(session, actors):
    with pytest.raises(InvalidInput) as info:
        create_user(session, actors["admin"], "not-an-email", ["wizard"], password="short")
    assert set(info.value.field_errors) == {"email", "roles", "password"}
    with pytest.raises(Conflict):
        create_user(session, actors["admin"], "AUDITOR@example.org", ["auditor"])
