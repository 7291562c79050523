"""Changing a user's roles and activating or deactivating them, as an administrator."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from registry.accounts.models import User
from registry.accounts.service import (
    authenticate,
    create_user,
    get_user,
    session_user,
    set_active,
    set_password,
    set_roles,
    sign_out,
)
from registry.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from registry.ledger.models import AuditEvent
from tests.conftest import PASSWORD


def _events(session, action):
    rows = session.scalars(sa.select(AuditEvent.event).order_by(AuditEvent.seq))
    return [e for e in (json.loads(raw) for raw in rows) if e.get("action") == action]


def test_set_roles_changes_roles_and_is_audited(session, actors, users):
    auditor = users["auditor"]
    set_roles(session, actors["admin"], auditor, ["technical_owner", "auditor"])
    session.commit()
    session.expire_all()
    assert users["auditor"].roles == {"auditor", "technical_owner"}
    (event,) = _events(session, "user.roles")
    assert event["actor"] == f"user:{users['admin'].email}"
    assert event["user_id"] == auditor.id
    assert event["roles"] == ["auditor", "technical_owner"]
    assert event["previous_roles"] == ["auditor"]
    set_roles(session, actors["admin"], auditor, ["compliance_officer"])
    session.commit()
    session.expire_all()
    assert users["auditor"].roles == {"compliance_officer"}
    assert len(_events(session, "user.roles")) == 2


def test_set_roles_unchanged_is_not_an_event(session, actors, users):
    set_roles(session, actors["admin"], users["auditor"], ["auditor"])
    session.commit()
    assert _events(session, "user.roles") == []


@pytest.mark.parametrize("roles", [[], ["superuser"], ["auditor", "root"]])
def test_set_roles_refuses_unknown_or_no_roles(session, actors, users, roles):
    with pytest.raises(InvalidInput) as info:
        set_roles(session, actors["admin"], users["auditor"], roles)
    assert "roles" in info.value.field_errors
    session.rollback()
    assert users["auditor"].roles == {"auditor"}


@pytest.mark.parametrize("role", ["compliance_officer", "technical_owner", "auditor"])
def test_non_admins_may_not_change_accounts(session, actors, users, role):
    with pytest.raises(PermissionDenied):
        set_roles(session, actors[role], users["auditor"], ["admin"])
    with pytest.raises(PermissionDenied):
        set_active(session, actors[role], users["auditor"], False)
    session.rollback()
    assert _events(session, "user.roles") == [] and _events(session, "user.deactivate") == []


def test_admin_may_not_remove_own_admin_role(session, actors, users):
    with pytest.raises(Conflict) as info:
        set_roles(session, actors["admin"], users["admin"], ["auditor"])
    assert "own admin role" in info.value.message
    session.rollback()
    assert users["admin"].roles == {"admin"}
    # Adding roles to oneself is fine.
    set_roles(session, actors["admin"], users["admin"], ["admin", "auditor"])
    session.commit()
    assert users["admin"].roles == {"admin", "auditor"}


def test_set_active_deactivates_and_reactivates(session, actors, users):
    auditor = users["auditor"]
    set_active(session, actors["admin"], auditor, False)
    session.commit()
    assert authenticate(session, auditor.email, PASSWORD) is None
    (event,) = _events(session, "user.deactivate")
    assert event["user_id"] == auditor.id and event["email"] == auditor.email
    set_active(session, actors["admin"], auditor, False)  # already: no new event
    set_active(session, actors["admin"], auditor, True)
    session.commit()
    assert authenticate(session, auditor.email, PASSWORD) is not None
    assert len(_events(session, "user.deactivate")) == 1
    assert len(_events(session, "user.activate")) == 1


def test_admin_may_not_deactivate_themselves(session, actors, users):
    with pytest.raises(Conflict) as info:
        set_active(session, actors["admin"], users["admin"], False)
    assert "deactivate yourself" in info.value.message
    session.rollback()
    assert users["admin"].is_active


@pytest.mark.parametrize(
    ("email", "name", "field"),
    [
        ("ann\x00@example.org", "Ann", "email"),
        ("ann@exa\x00mple.org", "Ann", "email"),
        ("ann\ud800@example.org", "Ann", "email"),
        ("ann@example.org", "A\x00nn", "name"),
        ("ann@example.org", "A\udfffnn", "name"),
        ("ann@example.org", "A" * 201, "name"),
    ],
)
def test_create_user_refuses_text_no_database_can_store(session, actors, email, name, field):
    before = session.scalar(sa.select(sa.func.count()).select_from(User))
    with pytest.raises(InvalidInput) as info:
        create_user(session, actors["admin"], email, ["auditor"], PASSWORD, name=name)
    session.rollback()
    assert field in info.value.field_errors
    assert session.scalar(sa.select(sa.func.count()).select_from(User)) == before


def test_looking_up_an_email_no_database_can_store_finds_no_one(session, users):
    for email in ("a\x00@example.org", "a\ud800@example.org"):
        assert authenticate(session, email, PASSWORD) is None
        with pytest.raises(NotFound):
            get_user(session, email)


@pytest.mark.parametrize("role", ["compliance_officer", "technical_owner", "auditor", "admin"])
def test_each_role_sets_its_own_password_and_only_admins_anyones(session, actors, users, role):
    user = users[role]
    set_password(session, actors[role], user, "my own new passphrase")
    session.commit()
    assert authenticate(session, user.email, "my own new passphrase") is not None
    assert authenticate(session, user.email, PASSWORD) is None
    (event,) = _events(session, "user.password")
    assert event["user_id"] == user.id and event["actor"] == f"user:{user.email}"
    other = users["auditor" if role != "auditor" else "technical_owner"]
    if role == "admin":
        set_password(session, actors[role], other, "set by an administrator")
        session.commit()
        assert authenticate(session, other.email, "set by an administrator") is not None
    else:
        with pytest.raises(PermissionDenied):
            set_password(session, actors[role], other, "set by a colleague")
        session.rollback()
        assert authenticate(session, other.email, PASSWORD) is not None


def test_a_short_password_is_refused_and_changes_nothing(session, actors, users):
    auditor = users["auditor"]
    with pytest.raises(InvalidInput) as info:
        set_password(session, actors["admin"], auditor, "short")
    assert "password" in info.value.field_errors
    session.rollback()
    assert authenticate(session, auditor.email, PASSWORD) is not None
    assert auditor.session_generation == 0


def test_each_change_moves_the_session_generation_once(session, actors, users):
    auditor = users["auditor"]
    generation = auditor.session_generation
    assert session_user(session, str(auditor.id), generation) is auditor
    steps = [
        lambda: set_roles(session, actors["admin"], auditor, ["auditor", "technical_owner"]),
        lambda: set_roles(session, actors["admin"], auditor, ["auditor", "technical_owner"]),
        lambda: set_active(session, actors["admin"], auditor, False),
        lambda: set_active(session, actors["admin"], auditor, True),
        lambda: set_password(session, actors["admin"], auditor, "yet another passphrase"),
        lambda: sign_out(session, auditor),
    ]
    moves = [1, 0, 1, 1, 1, 1]
    for step, moved in zip(steps, moves, strict=True):
        step()
        session.commit()
        assert auditor.session_generation == generation + moved
        assert session_user(session, str(auditor.id), generation) is (None if moved else auditor)
        generation = auditor.session_generation
        live = auditor if auditor.is_active else None  # a deactivated user has no session
        assert session_user(session, str(auditor.id), generation) is live
    assert session_user(session, str(auditor.id), None) is None
    assert session_user(session, "x", generation) is None
    assert users["compliance_officer"].session_generation == 0
