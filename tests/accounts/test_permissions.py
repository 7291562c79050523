"""Who may do what: every role, through the one permission module and the services."""

from __future__ import annotations

import datetime as dt

import pytest

from registry.accounts.actor import Actor
from registry.accounts.permissions import can
from registry.accounts.service import create_token, create_user
from registry.errors import PermissionDenied
from registry.records import reads, writes
from tests.records.samples import SAMPLES

# role -> (read, create_system, write to an unrelated system, manage_accounts)
EXPECTED = {
    "compliance_officer": (True, True, True, False),
    "technical_owner": (True, False, False, False),
    "auditor": (True, False, False, False),
    "admin": (False, False, False, True),
}


@pytest.fixture
def system(session, officer, profile):
    system, _ = writes.create_system(session, officer, profile)
    session.commit()
    return system


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_role_matrix(session, actors, system, role):
    actor = actors[role]
    read, create, write, manage = EXPECTED[role]
    assert can(session, actor, "read") is read
    assert can(session, actor, "create_system") is create
    assert can(session, actor, "write", system) is write
    assert can(session, actor, "manage_accounts") is manage


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_role_matrix_through_the_services(session, actors, system, role):
    """The services enforce what the matrix says, not only the predicate."""
    actor = actors[role]
    _, create, write, manage = EXPECTED[role]
    attempts = {
        "create_system": lambda: writes.create_system(
            session, actor, {**SAMPLES["profile"], "reference": f"new-{role}"}
        ),
        "write": lambda: writes.create_entry(session, actor, system, "risk", SAMPLES["risk"]),
        "manage_accounts": lambda: create_user(
            session, actor, f"new-{role}@example.org", ["auditor"]
        ),
    }
    for action, allowed in (
        ("create_system", create),
        ("write", write),
        ("manage_accounts", manage),
    ):
        if allowed:
            attempts[action]()
        else:
            with pytest.raises(PermissionDenied):
                attempts[action]()
        session.rollback()


def _tech_owner_entry(session, officer, system, person, **extra):
    body = {"role": "technical", "person": person, **extra}
    return writes.create_entry(session, officer, system, "owner", body)


def test_technical_owner_writes_only_where_recorded_as_technical_owner(
    session, officer, actors, users, system, profile
):
    tech = actors["technical_owner"]
    other, _ = writes.create_system(session, officer, {**profile, "reference": "sys-2"})
    _tech_owner_entry(
        session, officer, system, {"name": "T", "email": users["technical_owner"].email.upper()}
    )
    session.commit()
    assert can(session, tech, "write", system)  # e-mail matched case-insensitively
    assert not can(session, tech, "write", other)
    writes.create_entry(session, tech, system, "change_log", SAMPLES["change_log"])
    with pytest.raises(PermissionDenied):
        writes.create_entry(session, tech, other, "change_log", SAMPLES["change_log"])
    session.rollback()


def test_technical_owner_by_user_id_and_only_with_the_technical_role(
    session, officer, actors, users, system
):
    tech = actors["technical_owner"]
    person = {
        "name": "T",
        "email": "someone-else@example.org",
        "user_id": users["technical_owner"].id,
    }
    writes.create_entry(session, officer, system, "owner", {"role": "business", "person": person})
    session.commit()
    assert not can(session, tech, "write", system)  # a business owner entry does not count
    _tech_owner_entry(session, officer, system, person)
    session.commit()
    assert can(session, tech, "write", system)


def test_technical_owner_term_and_retirement(session, officer, actors, users, system):
    tech = actors["technical_owner"]
    person = {"name": "T", "email": users["technical_owner"].email}
    today = dt.date.today()
    v = _tech_owner_entry(session, officer, system, person, start=str(today + dt.timedelta(days=3)))
    session.commit()
    assert not can(session, tech, "write", system)  # term has not begun
    entry = reads.get_entry(session, v.entry_id)
    writes.update_entry(
        session,
        officer,
        entry,
        {
            "role": "technical",
            "person": person,
            "start": "2024-01-01",
            "end": str(today - dt.timedelta(days=1)),
        },
        base_version=1,
    )
    session.commit()
    assert not can(session, tech, "write", system)  # term has ended
    writes.update_entry(
        session,
        officer,
        entry,
        {"role": "technical", "person": person, "start": "2024-01-01"},
        base_version=2,
    )
    session.commit()
    assert can(session, tech, "write", system)
    writes.retire_entry(session, officer, entry, base_version=3)
    session.commit()
    assert not can(session, tech, "write", system)  # a retired owner entry does not count


def test_an_auditor_named_as_technical_owner_still_writes_nothing(
    session, officer, actors, users, system
):
    _tech_owner_entry(session, officer, system, {"name": "A", "email": users["auditor"].email})
    session.commit()
    assert not can(session, actors["auditor"], "write", system)


def test_token_scopes_limit_the_user(session, officer, users, system):
    read_only = Actor.for_user(users["compliance_officer"], scopes=frozenset({"read"}))
    write_only = Actor.for_user(users["compliance_officer"], scopes=frozenset({"write"}))
    assert can(session, read_only, "read") and not can(session, read_only, "write", system)
    assert can(session, write_only, "write", system) and not can(session, write_only, "read")


def test_users_manage_their_own_tokens_but_not_others(session, actors, users):
    create_token(session, actors["auditor"], users["auditor"])
    with pytest.raises(PermissionDenied):
        create_token(session, actors["auditor"], users["compliance_officer"])
    create_token(session, actors["admin"], users["compliance_officer"])


def test_unknown_action_is_a_programming_error(session, actors):
    with pytest.raises(ValueError):
        can(session, actors["admin"], "delete_everything")


def test_a_token_cannot_issue_a_token_with_more_scopes(session, users):
    read_only = Actor.for_user(users["compliance_officer"], scopes=frozenset({"read"}))
    with pytest.raises(PermissionDenied):
        create_token(session, read_only, users["compliance_officer"], scopes=("read",))
    writer = Actor.for_user(users["compliance_officer"], scopes=frozenset({"write"}))
    with pytest.raises(PermissionDenied):
        create_token(session, writer, users["compliance_officer"], scopes=("read", "write"))
    create_token(session, writer, users["compliance_officer"], scopes=("write",))
