"""Users change their own password on the web: the current password, the new one twice,
the policy of every password; every other session of theirs ends and this one goes on;
wrong current passwords are throttled like failed sign-ins."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from registry.accounts.actor import Actor
from registry.accounts.passwords import MAX_PASSWORD, MIN_PASSWORD
from registry.accounts.service import create_user
from registry.extensions import db_session
from registry.ledger.models import AuditEvent
from tests.conftest import PASSWORD, ROLES, csrf_token, make_app

NEW = "a brand new passphrase"
PATH = "/account/password"


def _add_users(app: Flask) -> dict[str, str]:
    """One committed user per role: role -> e-mail."""
    with app.app_context():
        session = db_session()
        admin = Actor.system("test", roles=frozenset({"admin"}))
        emails = {}
        for role in ROLES:
            user, _ = create_user(
                session, admin, f"{role.replace('_', '-')}@example.org", [role], PASSWORD
            )
            emails[role] = user.email
        session.commit()
        return emails


@pytest.fixture
def emails(app: Flask) -> dict[str, str]:
    return _add_users(app)


def _sign_in(app: Flask, email: str, password: str = PASSWORD) -> FlaskClient:
    client = app.test_client()
    response = _try_sign_in(client, email, password)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


def _try_sign_in(client: FlaskClient, email: str, password: str) -> Any:
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_token(client)}
    )


def _change(client: FlaskClient, current: str, new: str, again: str | None = None) -> Any:
    return client.post(
        PATH,
        data={
            "current_password": current,
            "new_password": new,
            "new_password_again": new if again is None else again,
            "csrf_token": csrf_token(client, PATH),
        },
    )


def _signed_in(client: FlaskClient) -> bool:
    response = client.get(PATH)
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]
        return False
    assert response.status_code == 200, response.status_code
    return True


def _field_error(response: Any, name: str) -> str:
    match = re.search(rf'<p class="field-error" id="{name}-error">([^<]*)</p>', _html(response))
    return match.group(1) if match else ""


def _html(response: Any) -> str:
    return response.get_data(as_text=True)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_finds_the_page_in_the_navigation(app, emails, role):
    client = _sign_in(app, emails[role])
    landing = client.get("/", follow_redirects=True)
    assert f'<a href="{PATH}">Change password</a>' in _html(landing)
    page = client.get(PATH)
    assert page.status_code == 200
    html = _html(page)
    for name in ("current_password", "new_password", "new_password_again"):
        assert f'<label for="{name}">' in html and f'name="{name}"' in html
    assert f'<a href="{PATH}" aria-current="page">Change password</a>' in html


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get(PATH)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_changing_ends_the_other_sessions_and_this_one_goes_on(app, emails):
    email = emails["technical_owner"]
    mine = _sign_in(app, email)
    elsewhere = _sign_in(app, email)
    officer = _sign_in(app, emails["compliance_officer"])

    response = _change(mine, PASSWORD, NEW)
    assert response.status_code == 302, _html(response)
    followed = mine.get(response.headers["Location"], follow_redirects=True)
    assert "Your password is changed. Your other sessions have ended." in _html(followed)

    assert _signed_in(mine)
    assert not _signed_in(elsewhere)
    assert _signed_in(officer)
    assert _try_sign_in(app.test_client(), email, PASSWORD).status_code == 401
    assert _signed_in(_sign_in(app, email, NEW))
    with app.app_context():
        events = [
            json.loads(raw)
            for raw in db_session().scalars(sa.select(AuditEvent.event).order_by(AuditEvent.seq))
        ]
    (event,) = [e for e in events if e["action"] == "user.password"]
    assert event["actor"] == f"user:{email}" and event["email"] == email


@pytest.mark.parametrize(
    ("current", "new", "again", "status", "field", "error"),
    [
        ("wrong password!", NEW, None, 401, "current_password", "not your current password"),
        ("", NEW, None, 422, "current_password", "Enter your current password."),
        (PASSWORD, NEW, NEW + "?", 422, "new_password_again", "Does not match"),
        (PASSWORD, "too short", None, 422, "new_password", f"At least {MIN_PASSWORD}"),
        (PASSWORD, "x" * (MAX_PASSWORD + 1), None, 422, "new_password", f"At most {MAX_PASSWORD}"),
        (PASSWORD, "Password1234", None, 422, "new_password", "most common passwords"),
        (PASSWORD, " qwertyuiop123 ", None, 422, "new_password", "most common passwords"),
    ],
)
def test_refused_changes_say_why_and_change_nothing(
    app, emails, current, new, again, status, field, error
):
    email = emails["auditor"]
    client = _sign_in(app, email)
    elsewhere = _sign_in(app, email)
    response = _change(client, current, new, again)
    assert response.status_code == status
    assert error in _field_error(response, field)
    assert "Nothing was changed." in _html(response)
    assert f'aria-describedby="{field}-error"' in _html(response) or field == "new_password"
    assert _signed_in(client) and _signed_in(elsewhere)
    assert _try_sign_in(app.test_client(), email, PASSWORD).status_code == 302


def test_the_form_needs_its_csrf_token(app, emails):
    client = _sign_in(app, emails["auditor"])
    response = client.post(
        PATH, data={"current_password": PASSWORD, "new_password": NEW, "new_password_again": NEW}
    )
    assert response.status_code == 400
    assert _try_sign_in(app.test_client(), emails["auditor"], PASSWORD).status_code == 302


def test_wrong_current_passwords_count_as_failed_sign_ins(database_url, tmp_path):
    app = make_app(
        database_url,
        tmp_path / "instance",
        LOGIN_LIMIT_PER_EMAIL="3 per minute",
        LOGIN_LIMIT_PER_IP="100 per minute",
    )
    try:
        emails = _add_users(app)
        email = emails["auditor"]
        client = _sign_in(app, email)
        assert _try_sign_in(app.test_client(), email, "wrong password!").status_code == 401
        for _ in range(2):
            assert _change(client, "wrong password!", NEW).status_code == 401
        # The budget of the e-mail is spent, on either form: the right password is
        # refused too, without being checked.
        response = _change(client, PASSWORD, NEW)
        assert response.status_code == 429
        assert 0 < int(response.headers["Retry-After"]) <= 60
        assert "Too many wrong passwords. Please try again in" in _html(response)
        assert _try_sign_in(app.test_client(), email, PASSWORD).status_code == 429
        # Another user is not held back; successes do not count.
        other = _sign_in(app, emails["compliance_officer"])
        assert _change(other, PASSWORD, NEW).status_code == 302
        assert _signed_in(client)
    finally:
        app.extensions["registry.db"].dispose()
