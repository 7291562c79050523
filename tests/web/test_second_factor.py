"""The second factor on the web: TOTP enrolment (QR code and otpauth URI), sign-in in
two steps, codes good once, recovery codes single-use, the pending step expiring, the
throttle covering the second step, mandatory for administrators and compliance
officers when the setting says so, removal; ledger events. The app's clock is
injected (``CLOCK``)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from flask import Flask

from registry.accounts import service as accounts
from registry.extensions import db_session
from registry.ledger.models import AuditEvent
from tests.conftest import PASSWORD, csrf_token, make_app
from tests.web.test_change_password import _add_users, _try_sign_in


class Clock:
    """The app's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 5, 12, 0, 10, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def _app(database_url: str, tmp_path: Path, **settings: Any) -> Flask:
    return make_app(database_url, tmp_path / "instance", CLOCK=Clock(), **settings)


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    application = _app(database_url, tmp_path)
    yield application
    application.extensions["registry.db"].dispose()


@pytest.fixture
def emails(app: Flask, monkeypatch: pytest.MonkeyPatch, hashed: Any) -> dict[str, str]:
    monkeypatch.setattr(accounts, "generate_password_hash", hashed)
    made = _add_users(app)
    monkeypatch.undo()
    return made


def _html(response: Any) -> str:
    return response.get_data(as_text=True)


def _events(app: Flask, prefix: str) -> list[dict[str, Any]]:
    with app.app_context():
        rows = db_session().scalars(sa.select(AuditEvent.event).order_by(AuditEvent.seq))
        return [e for e in map(json.loads, rows) if e["action"].startswith(prefix)]


def _password_step(app: Flask, email: str) -> Any:
    client = app.test_client()
    response = _try_sign_in(client, email, PASSWORD)
    assert response.status_code == 302, _html(response)
    return client, response


def _code(client: Any, code: str) -> Any:
    path = "/login/second-factor"
    return client.post(path, data={"code": code, "csrf_token": csrf_token(client, "/login")})


def _signed_in(client: Any) -> bool:
    return client.get("/account/tokens").status_code == 200


def _enrol(app: Flask, email: str) -> tuple[pyotp.TOTP, list[str]]:
    client, _ = _password_step(app, email)
    path = "/account/second-factor"
    begun = client.post(f"{path}/begin", data={"csrf_token": csrf_token(client, path)})
    assert begun.status_code == 200 and begun.headers["Cache-Control"] == "no-store"
    page = _html(begun)
    assert 'src="data:image/svg+xml' in page  # the QR code
    uri = re.search(r'id="otpauth-uri" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert uri.startswith("otpauth://totp/") and "issuer=AI%20governance%20registry" in uri
    totp = pyotp.parse_uri(uri)
    token = csrf_token(client, path)
    wrong = client.post(f"{path}/confirm", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 422 and "Not the code your authenticator shows" in _html(wrong)
    clock = app.config["CLOCK"]
    done = client.post(f"{path}/confirm", data={"code": totp.at(clock.now), "csrf_token": token})
    assert done.status_code == 200, _html(done)
    codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", _html(done))
    assert len(codes) == 10
    return totp, codes


def test_enrolment_and_sign_in_in_two_steps(app, emails):
    email = emails["auditor"]
    clock = app.config["CLOCK"]
    totp, _ = _enrol(app, email)
    (enrolled,) = _events(app, "user.second_factor")
    assert enrolled["action"] == "user.second_factor_enrol" and enrolled["email"] == email

    clock.advance(30)  # the next time step: the enrolment's code is spent
    client, response = _password_step(app, email)
    assert response.headers["Location"].endswith("/login/second-factor")
    assert not _signed_in(client)  # the password alone signs no one in
    code = totp.at(clock.now)
    assert _code(client, "123").status_code == 401
    assert _code(client, code).status_code == 302
    assert _signed_in(client)
    # The same code is good once, even in its own time step.
    other, _ = _password_step(app, email)
    assert _code(other, code).status_code == 401
    # A code of the next step, and one a step early (clock drift), are accepted; one
    # from two minutes ago is not.
    clock.advance(30)
    assert _code(other, totp.at(clock.now - dt.timedelta(seconds=120))).status_code == 401
    assert _code(other, totp.at(clock.now)).status_code == 302

    signed = [e for e in _events(app, "user.sign_in") if e["email"] == email]
    methods = [(e["action"], e.get("method") or e.get("step")) for e in signed]
    assert methods.count(("user.sign_in", "password+totp")) == 2
    assert methods.count(("user.sign_in_failed", "second_factor")) == 3
    assert ("user.sign_in", "password") in methods  # before enrolment


def test_recovery_codes_are_single_use(app, emails):
    email = emails["technical_owner"]
    _, codes = _enrol(app, email)
    client, _ = _password_step(app, email)
    assert _code(client, codes[0].upper()).status_code == 302  # as typed, any case
    again, _ = _password_step(app, email)
    assert _code(again, codes[0]).status_code == 401
    assert _code(again, codes[1]).status_code == 302
    assert "Recovery codes left: 8." in _html(again.get("/account/second-factor"))
    assert [e["method"] for e in _events(app, "user.sign_in") if e["action"] == "user.sign_in"][
        -2:
    ] == ["password+recovery", "password+recovery"]


def test_the_second_step_expires(app, emails):
    email = emails["auditor"]
    totp, _ = _enrol(app, email)
    clock = app.config["CLOCK"]
    client, _ = _password_step(app, email)
    clock.advance(301)
    response = _code(client, totp.at(clock.now))
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert not _signed_in(client)


def test_wrong_codes_are_throttled_with_the_passwords(database_url, tmp_path, hashed, monkeypatch):
    app = _app(database_url, tmp_path, LOGIN_LIMIT_PER_EMAIL="4 per minute")
    try:
        monkeypatch.setattr(accounts, "generate_password_hash", hashed)
        emails = _add_users(app)
        monkeypatch.undo()
        email = emails["auditor"]
        totp, _ = _enrol(app, email)
        app.config["CLOCK"].advance(30)
        assert _try_sign_in(app.test_client(), email, "not the password").status_code == 401
        client, _ = _password_step(app, email)
        for _ in range(3):
            assert _code(client, "000000").status_code == 401
        # The e-mail's budget is spent: even the right code is refused unchecked.
        response = _code(client, totp.at(app.config["CLOCK"].now))
        assert response.status_code == 429 and "Retry-After" in response.headers
        assert not _signed_in(client)
        assert _try_sign_in(app.test_client(), email, PASSWORD).status_code == 429
    finally:
        app.extensions["registry.db"].dispose()


def test_mandatory_for_admins_and_officers(database_url, tmp_path, hashed, monkeypatch):
    app = _app(database_url, tmp_path, SECOND_FACTOR_MANDATORY=True)
    try:
        monkeypatch.setattr(accounts, "generate_password_hash", hashed)
        emails = _add_users(app)
        monkeypatch.undo()
        for role in ("admin", "compliance_officer"):
            client, response = _password_step(app, emails[role])
            for path in ("/", "/systems", "/admin/users", "/account/tokens"):
                sent = client.get(path)
                assert sent.status_code == 302, (role, path)
                assert sent.headers["Location"].endswith("/account/second-factor")
            page = client.get("/account/second-factor")
            assert page.status_code == 200 and "Your role requires a second factor" in _html(page)
        # Other roles may go without.
        client, _ = _password_step(app, emails["auditor"])
        assert client.get("/systems").status_code == 200
        # Once enrolled, the admin gets everywhere.
        totp, _ = _enrol(app, emails["admin"])
        app.config["CLOCK"].advance(30)
        client, _ = _password_step(app, emails["admin"])
        assert _code(client, totp.at(app.config["CLOCK"].now)).status_code == 302
        assert client.get("/admin/users").status_code == 200
    finally:
        app.extensions["registry.db"].dispose()


def test_removing_it_takes_a_code(app, emails):
    email = emails["auditor"]
    totp, codes = _enrol(app, email)
    clock = app.config["CLOCK"]
    clock.advance(30)
    client, _ = _password_step(app, email)
    assert _code(client, totp.at(clock.now)).status_code == 302
    path = "/account/second-factor"
    token = csrf_token(client, path)
    refused = client.post(f"{path}/remove", data={"code": "999999", "csrf_token": token})
    assert refused.status_code == 422 and "was not removed" in _html(refused)
    done = client.post(f"{path}/remove", data={"code": codes[3], "csrf_token": token})
    assert done.status_code == 302
    assert "No second factor is set up." in _html(client.get(path))
    fresh, response = _password_step(app, email)
    assert not response.headers["Location"].endswith("/login/second-factor")
    assert [e["action"] for e in _events(app, "user.second_factor")] == [
        "user.second_factor_enrol",
        "user.second_factor_remove",
    ]


def test_failed_passwords_are_recorded_for_accounts_only(app, emails):
    assert _try_sign_in(app.test_client(), emails["auditor"], "wrong password!").status_code == 401
    assert _try_sign_in(app.test_client(), "nobody@example.org", "wrong").status_code == 401
    (failed,) = _events(app, "user.sign_in_failed")
    assert failed["email"] == emails["auditor"] and failed["step"] == "password"
    assert failed["actor"] == "anonymous"


def test_an_admin_removes_a_lost_second_factor(app, emails):
    email = emails["auditor"]
    _enrol(app, email)
    with app.app_context():
        user_id = accounts.get_user(db_session(), email).id
    path = f"/admin/users/{user_id}"
    for role in ("compliance_officer", "technical_owner"):
        client, _ = _password_step(app, emails[role])
        token = csrf_token(client, "/account/tokens")
        assert (
            client.post(f"{path}/second-factor/remove", data={"csrf_token": token}).status_code
            == 403
        )
    admin, _ = _password_step(app, emails["admin"])
    assert "Remove the second factor of" in _html(admin.get(path))
    token = csrf_token(admin, path)
    assert admin.post(f"{path}/second-factor/remove", data={"csrf_token": token}).status_code == 302
    _, response = _password_step(app, email)
    assert not response.headers["Location"].endswith("/login/second-factor")
    removed = _events(app, "user.second_factor_remove")
    assert [e["actor"] for e in removed] == [f"user:{emails['admin']}"]
