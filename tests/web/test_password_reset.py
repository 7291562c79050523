"""Password reset links: issued by an administrator, shown once, single-use, expiring;
the policy of every password; every session of the user ends; ledger events."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
import sqlalchemy as sa

from registry.accounts import service as accounts
from registry.accounts.models import PasswordReset
from registry.db import utcnow
from registry.errors import Conflict, PermissionDenied
from registry.extensions import db_session
from registry.ledger.models import AuditEvent
from tests.conftest import PASSWORD, csrf_token
from tests.web.test_change_password import _add_users, _sign_in, _signed_in, _try_sign_in

NEW = "a fresh and long passphrase"


@pytest.fixture
def emails(app: Any, monkeypatch: pytest.MonkeyPatch, hashed: Any) -> dict[str, str]:
    """One committed user per role (role -> e-mail), outside any app context the test
    keeps, so that each test client has a request context of its own."""
    monkeypatch.setattr(accounts, "generate_password_hash", hashed)
    made = _add_users(app)
    monkeypatch.undo()
    return made


def _events(app: Any, action: str) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db_session().scalars(sa.select(AuditEvent.event).order_by(AuditEvent.seq))
        return [e for e in map(json.loads, rows) if e["action"] == action]


def _issue(app: Any, admin_client: Any, user_id: int) -> Any:
    path = f"/admin/users/{user_id}"
    return admin_client.post(f"{path}/reset", data={"csrf_token": csrf_token(admin_client, path)})


def _link(response: Any) -> str:
    match = re.search(
        r'id="reset-link" readonly size="80" value="([^"]+)"', response.get_data(as_text=True)
    )
    assert match, response.get_data(as_text=True)
    return match.group(1).replace("http://localhost", "")


def _set(client: Any, path: str, new: str = NEW, again: str | None = None) -> Any:
    return client.post(
        path,
        data={
            "new_password": new,
            "new_password_again": new if again is None else again,
            "csrf_token": csrf_token(client),
        },
    )


def _user_id(app: Any, email: str) -> int:
    with app.app_context():
        return accounts.get_user(db_session(), email).id


def test_an_admin_issues_a_link_that_sets_the_password_once(app, emails):
    email = emails["auditor"]
    admin = _sign_in(app, emails["admin"])
    elsewhere = _sign_in(app, email)
    response = _issue(app, admin, _user_id(app, email))
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    path = _link(response)
    assert path.startswith("/account/reset/")
    # The secret is not stored: only its hash.
    secret = path.rsplit("/", 1)[1]
    with app.app_context():
        stored = db_session().scalars(sa.select(PasswordReset.token_hash)).all()
    assert stored and secret not in stored

    visitor = app.test_client()
    page = visitor.get(path)
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    refused = _set(visitor, path, "Password1234")
    assert refused.status_code == 422 and "most common passwords" in refused.get_data(as_text=True)
    assert _set(visitor, path, NEW, NEW + "!").status_code == 422
    done = _set(visitor, path)
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")

    assert not _signed_in(elsewhere)  # every session of the user ended
    assert _try_sign_in(app.test_client(), email, PASSWORD).status_code == 401
    assert _signed_in(_sign_in(app, email, NEW))
    # Used up: the link is gone, the password stays.
    again = app.test_client()
    assert again.get(path).status_code == 410
    assert "already been used" in again.get(path).get_data(as_text=True)
    assert _set(again, path, "another long passphrase").status_code == 410
    assert _signed_in(_sign_in(app, email, NEW))

    (issued,) = _events(app, "user.password_reset_issue")
    assert issued["actor"] == f"user:{emails['admin']}" and issued["email"] == email
    (used,) = _events(app, "user.password_reset")
    assert used["actor"] == f"user:{email}" and used["reset_id"] == issued["reset_id"]


def test_a_link_expires(app, emails):
    with app.app_context():
        session = db_session()
        user = accounts.get_user(session, emails["technical_owner"])
        admin = accounts.get_user(session, emails["admin"])
        past = utcnow() - dt.timedelta(hours=25)
        _, secret = accounts.issue_password_reset(
            session, accounts.Actor.for_user(admin), user, hours=24, now=past
        )
        session.commit()
        # A moment before its end it still works (an injected clock).
        assert accounts.usable_reset(session, secret, past + dt.timedelta(hours=23, minutes=59))
    client = app.test_client()
    page = client.get(f"/account/reset/{secret}")
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
    assert _set(client, f"/account/reset/{secret}").status_code == 410
    assert _try_sign_in(app.test_client(), emails["technical_owner"], NEW).status_code == 401


def test_unknown_links_and_deactivated_users_are_refused(app, emails):
    client = app.test_client()
    assert client.get("/account/reset/nonsense").status_code == 410
    with app.app_context():
        session = db_session()
        admin = accounts.Actor.for_user(accounts.get_user(session, emails["admin"]))
        user = accounts.get_user(session, emails["auditor"])
        _, secret = accounts.issue_password_reset(session, admin, user)
        accounts.set_active(session, admin, user, False)
        session.commit()
        with pytest.raises(Conflict):
            accounts.issue_password_reset(session, admin, user)
        session.rollback()
        # Only administrators issue links.
        officer = accounts.Actor.for_user(accounts.get_user(session, emails["compliance_officer"]))
        with pytest.raises(PermissionDenied):
            accounts.issue_password_reset(
                session, officer, accounts.get_user(session, emails["admin"])
            )
        session.rollback()
    assert client.get(f"/account/reset/{secret}").status_code == 410


def test_only_admins_issue_links(app, emails):
    target = _user_id(app, emails["auditor"])
    for role in ("compliance_officer", "technical_owner", "auditor"):
        client = _sign_in(app, emails[role])
        token = csrf_token(client, "/account/password")
        response = client.post(f"/admin/users/{target}/reset", data={"csrf_token": token})
        assert response.status_code == 403
    assert not _events(app, "user.password_reset_issue")
