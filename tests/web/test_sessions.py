"""Sessions that end: signing out, deactivation, a role change and a password change end
every session of the user at once, copies of its cookie included; other users' sessions
go on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from registry.accounts.actor import Actor
from registry.accounts.service import create_user, get_user, set_active, set_password, set_roles
from registry.extensions import db_session
from tests.conftest import PASSWORD, ROLES, csrf_token

# No application context stays open around the requests here (as the `session` fixture
# keeps one): each request gets its own, so each loads its user from its cookie afresh.


@dataclass(frozen=True)
class _Person:
    email: str
    id: int


@pytest.fixture
def users(app: Flask) -> dict[str, Any]:
    """E-mail and id of one committed user per role."""
    with app.app_context():
        session = db_session()
        admin = Actor.system("test", roles=frozenset({"admin"}))
        made = {}
        for role in ROLES:
            user, _ = create_user(
                session, admin, f"{role.replace('_', '-')}@example.org", [role], PASSWORD
            )
            made[role] = user
        session.commit()
        return {role: _Person(user.email, user.id) for role, user in made.items()}


def _as_admin(
    app: Flask, users: dict[str, Any], change: Callable[[Any, Actor, Any], object]
) -> None:
    """Run ``change(session, admin actor, auditor)`` in a unit of work of its own."""
    with app.app_context():
        session = db_session()
        admin = Actor.for_user(get_user(session, users["admin"].email))
        change(session, admin, get_user(session, users["auditor"].email))
        session.commit()


def _sign_in(app: Flask, email: str, password: str = PASSWORD) -> FlaskClient:
    client = app.test_client()
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def _copy(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of ``client``'s session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    return thief


def _signed_in(client: FlaskClient) -> bool:
    response = client.get("/systems")
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]
        return False
    assert response.status_code == 200, response.status_code
    return True


def test_a_copied_cookie_is_refused_after_sign_out(app, users):
    auditor = _sign_in(app, users["auditor"].email)
    copy = _copy(app, auditor)
    officer = _sign_in(app, users["compliance_officer"].email)
    assert _signed_in(copy)
    response = auditor.post("/logout", data={"csrf_token": csrf_token(auditor, "/systems")})
    assert response.status_code == 302
    assert not _signed_in(copy)
    assert not _signed_in(auditor)
    assert _signed_in(officer)  # another user's session is unaffected
    assert _signed_in(_sign_in(app, users["auditor"].email))  # signing in again works


def test_signing_out_ends_the_users_other_sessions(app, users):
    laptop = _sign_in(app, users["auditor"].email)
    phone = _sign_in(app, users["auditor"].email)
    laptop.post("/logout", data={"csrf_token": csrf_token(laptop, "/systems")})
    assert not _signed_in(phone)


def test_deactivation_then_reactivation_does_not_revive_a_session(app, users):
    auditor = _sign_in(app, users["auditor"].email)
    copy = _copy(app, auditor)
    officer = _sign_in(app, users["compliance_officer"].email)
    _as_admin(app, users, lambda s, admin, user: set_active(s, admin, user, False))
    assert not _signed_in(copy)
    _as_admin(app, users, lambda s, admin, user: set_active(s, admin, user, True))
    assert not _signed_in(copy)
    assert not _signed_in(auditor)
    assert _signed_in(officer)
    assert _signed_in(_sign_in(app, users["auditor"].email))


def test_a_role_change_ends_the_users_sessions(app, users):
    auditor = _sign_in(app, users["auditor"].email)
    copy = _copy(app, auditor)
    officer = _sign_in(app, users["compliance_officer"].email)
    _as_admin(
        app, users, lambda s, admin, user: set_roles(s, admin, user, ["auditor", "technical_owner"])
    )
    assert not _signed_in(copy)
    assert not _signed_in(auditor)
    assert _signed_in(officer)


def test_unchanged_roles_end_no_session(app, users):
    auditor = _sign_in(app, users["auditor"].email)
    _as_admin(app, users, lambda s, admin, user: set_roles(s, admin, user, ["auditor"]))
    assert _signed_in(auditor)


def test_a_password_change_ends_the_users_sessions(app, users):
    auditor = _sign_in(app, users["auditor"].email)
    copy = _copy(app, auditor)
    officer = _sign_in(app, users["compliance_officer"].email)
    _as_admin(
        app, users, lambda s, admin, user: set_password(s, admin, user, "a brand new passphrase")
    )
    assert not _signed_in(copy)
    assert not _signed_in(auditor)
    assert _signed_in(officer)
    client = app.test_client()
    response = client.post(
        "/login",
        data={
            "email": users["auditor"].email,
            "password": PASSWORD,
            "csrf_token": csrf_token(client),
        },
    )
    assert response.status_code == 401
    assert _signed_in(_sign_in(app, users["auditor"].email, "a brand new passphrase"))


def test_an_admin_changing_their_own_roles_keeps_this_session_only(app, users):
    admin = _sign_in(app, users["admin"].email)
    other = _sign_in(app, users["admin"].email)
    user_id = users["admin"].id
    token = csrf_token(admin, f"/admin/users/{user_id}")
    response = admin.post(
        f"/admin/users/{user_id}/roles",
        data={"roles": ["admin", "auditor"], "csrf_token": token},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _signed_in(admin)  # an auditor now: reads the systems list
    assert not _signed_in(other)


def test_a_session_without_a_generation_is_refused(app, users):
    """A cookie made before sessions carried a generation (or forged without one,
    which the signature prevents anyway) names no valid session."""
    client = _sign_in(app, users["auditor"].email)
    with client.session_transaction() as cookie:
        del cookie["generation"]
    assert not _signed_in(client)
