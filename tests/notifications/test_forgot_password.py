"""A user who forgot their password asks for a reset link by e-mail (a real SMTP server,
aiosmtpd): the link works once; the answer is the same for every address and no mail
goes to unknown, deactivated or identity-provider-only accounts; requests are
throttled per e-mail and per client address; without SMTP the page says to ask an
administrator; the form is CSRF-protected; a failed send is logged."""

from __future__ import annotations

import json
import logging
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from registry.accounts import service as accounts
from registry.accounts.actor import Actor
from registry.accounts.models import PasswordReset, User, UserRole
from registry.extensions import db_session
from registry.ledger.models import AuditEvent
from tests.conftest import PASSWORD, csrf_token, make_app

PATH = "/login/forgot"
LOCAL = "local@example.org"
OIDC_ONLY = "federated@example.org"
NEW = "a fresh and long passphrase"


def _add_users(app: Flask, hashed: Any) -> None:
    """A local account with a password, and one that signs in only through an identity
    provider (no password: what an OIDC sign-in creates)."""
    with app.app_context():
        session = db_session()
        admin = Actor.system("test", roles=frozenset({"admin"}))
        with pytest.MonkeyPatch.context() as patch:  # each password hashed once per run
            patch.setattr(accounts, "generate_password_hash", hashed)
            accounts.create_user(session, admin, LOCAL, ["auditor"], PASSWORD)
        federated = User(email=OIDC_ONLY, name="", password_hash=None)
        federated.role_rows = [UserRole(role="auditor")]
        session.add(federated)
        session.commit()


@pytest.fixture
def users(app: Flask, hashed: Any) -> None:
    _add_users(app, hashed)


def _ask(client: FlaskClient, email: str, **extra: Any) -> Any:
    # buffered: the response is closed as a server closes it, which sends the mail.
    return client.post(
        PATH, data={"email": email, "csrf_token": csrf_token(client, PATH)}, buffered=True, **extra
    )


def _events(app: Flask, action: str) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db_session().scalars(sa.select(AuditEvent.event).order_by(AuditEvent.seq))
        return [e for e in map(json.loads, rows) if e["action"] == action]


def _resets(app: Flask) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db_session().execute(sa.select(PasswordReset.issued_by, PasswordReset.token_hash))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def _sent_page(response: Any) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_data(as_text=True)
    assert 'id="sent"' in body
    return body


def test_the_sign_in_page_offers_it(app, users):
    page = app.test_client().get("/login").get_data(as_text=True)
    assert f'href="{PATH}"' in page and "Forgot your password?" in page


def test_a_mailed_link_sets_the_password_once(app, users, inbox):
    client = app.test_client()
    response = _ask(client, "  Local@Example.org ")
    _sent_page(response)
    assert response.headers["Cache-Control"] == "no-store"
    (message,) = inbox.take()
    assert message["To"] == LOCAL and message["From"] == "registry@example.org"
    assert "reset" in message["Subject"].lower()
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    match = re.search(r"https://registry\.example\.org(/account/reset/[\w-]+)", text)
    assert match, text
    path = match.group(1)
    assert f'href="https://registry.example.org{path}"' in html
    assert "works once, for 24 hours (until " in text and "24 hours" in html
    # Issued by the registry itself, as a ledger event; the secret is not stored.
    ((issued_by, digest),) = _resets(app)
    assert issued_by == "system:password-reset" and path.rsplit("/", 1)[1] not in digest
    (event,) = _events(app, "user.password_reset_issue")
    assert event["actor"] == "system:password-reset" and event["email"] == LOCAL

    visitor = app.test_client()
    assert visitor.get(path).status_code == 200
    done = visitor.post(
        path,
        data={"new_password": NEW, "new_password_again": NEW, "csrf_token": csrf_token(visitor)},
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("/login")
    signed_in = visitor.post(
        "/login", data={"email": LOCAL, "password": NEW, "csrf_token": csrf_token(visitor)}
    )
    assert signed_in.status_code == 302
    again = app.test_client()
    assert again.get(path).status_code == 410
    refused = again.post(
        path,
        data={
            "new_password": "another long passphrase",
            "new_password_again": "another long passphrase",
            "csrf_token": csrf_token(again),
        },
    )
    assert refused.status_code == 410 and "already been used" in refused.get_data(as_text=True)


def test_the_same_page_and_no_mail_for_others(app, users, inbox, hashed):
    with app.app_context():  # a deactivated account gets none either
        session = db_session()
        admin = Actor.system("test", roles=frozenset({"admin"}))
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(accounts, "generate_password_hash", hashed)
            gone, _ = accounts.create_user(
                session, admin, "gone@example.org", ["auditor"], PASSWORD
            )
        accounts.set_active(session, admin, gone, False)
        session.commit()

    def page(email: str) -> str:
        body = _sent_page(_ask(app.test_client(), email))
        return body.replace(email, "ADDRESS")  # the page names the address given

    known = page(LOCAL)
    assert len(inbox.take()) == 1
    for other in ("nobody@example.org", OIDC_ONLY, "gone@example.org"):
        assert page(other) == known, other
    assert inbox.take() == []
    assert len(_resets(app)) == 1 and len(_events(app, "user.password_reset_issue")) == 1
    # Not an e-mail address at all: the form again, nothing issued.
    bad = _ask(app.test_client(), "nonsense")
    assert bad.status_code == 422 and "Enter an e-mail address." in bad.get_data(as_text=True)
    assert len(_resets(app)) == 1


def test_the_form_needs_its_csrf_token(app, users, inbox):
    client = app.test_client()
    client.get(PATH)
    response = client.post(PATH, data={"email": LOCAL}, buffered=True)
    assert response.status_code == 400
    assert inbox.take() == [] and _resets(app) == []


@pytest.fixture
def unreachable_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """Sending e-mail to an SMTP server that is down (a port nothing listens on)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    application = make_app(
        database_url,
        tmp_path / "instance-down",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=port,
        SMTP_SECURITY="none",
        SMTP_TIMEOUT=2.0,
    )
    yield application
    application.extensions["registry.db"].dispose()


def test_a_failed_send_is_logged_and_the_page_is_the_same(unreachable_app, hashed, caplog):
    _add_users(unreachable_app, hashed)
    with caplog.at_level(logging.ERROR, logger="registry.web.auth"):
        _sent_page(_ask(unreachable_app.test_client(), LOCAL))
    assert any("could not be sent" in r.getMessage() for r in caplog.records)
    assert len(_resets(unreachable_app)) == 1  # issued (and committed) all the same


@pytest.fixture
def no_mail_app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = make_app(database_url, tmp_path / "instance-no-mail")
    yield application
    application.extensions["registry.db"].dispose()


def test_without_smtp_the_page_says_to_ask_an_administrator(no_mail_app, hashed):
    _add_users(no_mail_app, hashed)
    client = no_mail_app.test_client()
    page = client.get(PATH)
    assert page.status_code == 200 and 'id="ask-admin"' in page.get_data(as_text=True)
    assert 'name="email"' not in page.get_data(as_text=True)
    token = csrf_token(client, "/login")
    answer = client.post(PATH, data={"email": LOCAL, "csrf_token": token}, buffered=True)
    assert answer.status_code == 200 and 'id="ask-admin"' in answer.get_data(as_text=True)
    assert _resets(no_mail_app) == [] and _events(no_mail_app, "user.password_reset_issue") == []


@pytest.fixture
def tight_app(database_url: str, tmp_path: Path, smtp: Any) -> Iterator[Flask]:
    """Sending e-mail, with small limits: 2 per e-mail address, 3 per client address."""
    controller, _ = smtp
    application = make_app(
        database_url,
        tmp_path / "instance-tight",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=controller.port,
        SMTP_SECURITY="none",
        BASE_URL="https://registry.example.org",
        LOGIN_LIMIT_PER_EMAIL="2 per hour",
        LOGIN_LIMIT_PER_IP="3 per hour",
    )
    yield application
    application.extensions["registry.db"].dispose()


def test_requests_are_throttled_per_email_and_per_address(tight_app, inbox, hashed):
    _add_users(tight_app, hashed)
    client = tight_app.test_client()
    for _ in range(2):
        _sent_page(_ask(client, LOCAL))
    throttled = _ask(client, LOCAL)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    assert "Too many requests" in throttled.get_data(as_text=True)
    assert len(inbox.take()) == 2 and len(_resets(tight_app)) == 2
    # Another address from the same client: its third request (of 3) still goes...
    _sent_page(_ask(client, "nobody@example.org"))
    # ... then the client address is spent, whatever the e-mail.
    assert _ask(client, "someone@example.org").status_code == 429
    # Another client asks for the throttled e-mail: still throttled.
    other = {"REMOTE_ADDR": "192.0.2.7"}
    assert _ask(tight_app.test_client(), LOCAL, environ_base=other).status_code == 429
    assert inbox.take() == [] and len(_resets(tight_app)) == 2
    # Sign-in has budgets of its own.
    signed_in = client.post(
        "/login", data={"email": LOCAL, "password": PASSWORD, "csrf_token": csrf_token(client)}
    )
    assert signed_in.status_code == 302
