"""Throttled sign-in (Flask-Limiter): failures count per e-mail address and per client
address, successes do not, a throttled attempt checks no password, and the API is
never throttled. Also the session cookie's flags and lifetime."""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from pathlib import Path
from typing import Any

import itsdangerous.timed
import limits.storage.memory
import pytest
from flask.testing import FlaskClient

import registry.web.auth as auth_views
from registry.config import load_config
from tests.conftest import PASSWORD, csrf_token, make_app

THROTTLED = "Too many failed sign-in attempts. Please try again in"


class Clock:
    """A stand-in for the ``time`` module whose ``time()`` only moves when told."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))  # whole seconds: exact arithmetic

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Frozen time for the limiter's memory storage and the Retry-After arithmetic."""
    fake = Clock()
    monkeypatch.setattr(limits.storage.memory, "time", fake)
    monkeypatch.setattr(auth_views, "time", fake)
    return fake


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The e-mail of every password check the sign-in view makes (checked for real)."""
    calls: list[str] = []
    real = auth_views.authenticate

    def counting(session: Any, email: str, password: str) -> Any:
        calls.append(email)
        return real(session, email, password)

    monkeypatch.setattr(auth_views, "authenticate", counting)
    return calls


@pytest.fixture
def no_password_matches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every password check fails, fast (no scrypt): for tests of many failures."""
    calls: list[str] = []

    def refuse(session: Any, email: str, password: str) -> None:
        calls.append(email)

    monkeypatch.setattr(auth_views, "authenticate", refuse)
    return calls


def sign_in(client: FlaskClient, email: str, password: str, ip: str = "127.0.0.1") -> Any:
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(client)},
        environ_base={"REMOTE_ADDR": ip},
    )


def sign_out(client: FlaskClient) -> None:
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/systems")})
    assert response.status_code == 302


def flashes(response: Any) -> list[str]:
    return re.findall(r'<p class="flash [^"]*"[^>]*>([^<]*)</p>', response.get_data(as_text=True))


def assert_throttled(response: Any, retry_after: int) -> None:
    assert response.status_code == 429
    assert response.headers["Retry-After"] == str(retry_after)
    assert response.mimetype == "text/html"
    text = response.get_data(as_text=True)
    assert '<form method="post">' in text and 'name="password"' in text  # the sign-in page
    [message] = flashes(response)
    assert message.startswith(THROTTLED), message


def test_failures_per_email_are_throttled(app, client, users, checks, clock):
    email = users["auditor"].email
    for _ in range(5):  # the default: 5 per minute
        assert sign_in(client, email, "wrong password").status_code == 401
    assert len(checks) == 5

    response = sign_in(client, email, "wrong password")
    assert_throttled(response, 60)
    assert flashes(response) == [f"{THROTTLED} 60 seconds."]
    assert email in response.get_data(as_text=True)  # what was typed is kept

    clock.advance(45)
    response = sign_in(client, email, PASSWORD)  # the right password is refused too
    assert_throttled(response, 15)
    assert len(checks) == 5  # ...without being checked
    assert client.get("/systems").status_code == 302  # not signed in
    assert client.get("/login").status_code == 200  # the page itself is not throttled

    # The e-mail is matched as the user would type it (case, spaces).
    assert sign_in(client, f"  {email.upper()} ", PASSWORD).status_code == 429

    # Another e-mail from the same client is not held back.
    assert sign_in(client, users["compliance_officer"].email, PASSWORD).status_code == 302
    assert checks[-1] == users["compliance_officer"].email
    sign_out(client)

    clock.advance(16)  # the window has passed
    response = sign_in(client, email, PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/systems"
    assert checks[-1] == email
    assert client.get("/systems").status_code == 200


def test_throttled_attempts_do_not_extend_the_wait(client, users, checks, clock):
    email = users["auditor"].email
    for _ in range(5):
        sign_in(client, email, "wrong password")
    for _ in range(10):
        clock.advance(5)
        sign_in(client, email, "wrong password")
    assert_throttled(sign_in(client, email, PASSWORD), 10)
    clock.advance(10.5)
    assert sign_in(client, email, PASSWORD).status_code == 302
    assert len(checks) == 6


def test_hourly_limit_per_email(client, no_password_matches, clock):
    """5 per minute, and 20 per hour: a patient guesser waits out the hour after 20."""
    email = "someone@example.org"
    started = clock.now
    for _ in range(4):  # 4 minutes of 5 failures: 20 in all
        for _ in range(5):
            assert sign_in(client, email, "guess").status_code == 401
        clock.advance(61)
    assert len(no_password_matches) == 20
    response = sign_in(client, email, "guess")
    # The oldest of the 20 leaves the hour's window 3600 s after it was made.
    wait = round(started + 3600 - clock.now)
    assert_throttled(response, wait)
    assert flashes(response) == [f"{THROTTLED} {math.ceil(wait / 60)} minutes."]
    assert len(no_password_matches) == 20


def test_per_ip_limit_across_emails(client, no_password_matches, clock):
    for i in range(20):  # the default: 20 per minute per client address
        response = sign_in(client, f"user{i}@example.org", "guess", ip="192.0.2.1")
        assert response.status_code == 401
    response = sign_in(client, "fresh@example.org", "guess", ip="192.0.2.1")
    assert_throttled(response, 60)
    assert len(no_password_matches) == 20
    # Another address is not held back, not even for the e-mails tried above.
    assert sign_in(client, "user0@example.org", "guess", ip="192.0.2.2").status_code == 401
    assert len(no_password_matches) == 21
    clock.advance(61)
    assert sign_in(client, "user1@example.org", "guess", ip="192.0.2.1").status_code == 401


def test_attempts_without_email_count_per_ip(client, no_password_matches):
    for _ in range(20):
        assert sign_in(client, "", "guess").status_code == 401
    assert sign_in(client, "someone@example.org", "guess").status_code == 429
    assert no_password_matches == []  # nothing to check without an e-mail


def test_limits_are_configurable(database_url, tmp_path, users, no_password_matches):
    app = make_app(
        database_url,
        tmp_path / "other-instance",
        LOGIN_LIMIT_PER_EMAIL="2 per minute",
        LOGIN_LIMIT_PER_IP="3 per minute",
    )
    try:
        client = app.test_client()
        assert sign_in(client, "a@example.org", "guess").status_code == 401
        assert sign_in(client, "a@example.org", "guess").status_code == 401
        assert sign_in(client, "a@example.org", "guess").status_code == 429
        assert sign_in(client, "b@example.org", "guess").status_code == 401
        assert sign_in(client, "c@example.org", "guess").status_code == 429
    finally:
        app.extensions["registry.db"].dispose()


def test_each_app_has_its_own_counts(app, database_url, tmp_path, no_password_matches):
    for _ in range(5):
        sign_in(app.test_client(), "a@example.org", "guess")
    assert sign_in(app.test_client(), "a@example.org", "guess").status_code == 429
    other = make_app(database_url, tmp_path / "other-instance")
    try:
        assert sign_in(other.test_client(), "a@example.org", "guess").status_code == 401
    finally:
        other.extensions["registry.db"].dispose()


def test_successful_sign_ins_do_not_count(client, users, checks):
    email = users["auditor"].email
    for _ in range(7):  # more than the 5 failures allowed per minute
        assert sign_in(client, email, PASSWORD).status_code == 302
        sign_out(client)
    for _ in range(5):
        assert sign_in(client, email, "wrong password").status_code == 401
    assert sign_in(client, email, "wrong password").status_code == 429
    assert len(checks) == 12


def test_csrf_failures_check_nothing_and_count_nothing(client, users, checks):
    for _ in range(10):
        response = client.post("/login", data={"email": users["auditor"].email, "password": "x"})
        assert response.status_code == 400
    assert checks == []
    assert sign_in(client, users["auditor"].email, PASSWORD).status_code == 302


def test_api_and_static_files_are_never_throttled(client, users, no_password_matches):
    for i in range(20):
        sign_in(client, f"user{i}@example.org", "guess")
    assert sign_in(client, "fresh@example.org", "guess").status_code == 429  # this address
    for _ in range(50):
        response = client.get("/api/v1/systems", headers={"Authorization": "Bearer reg_nope"})
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"
        assert response.json["code"] == "unauthenticated"
        assert "Retry-After" not in response.headers
    for _ in range(30):
        response = client.post("/api/v1/systems", json={}, headers={"Authorization": "Bearer x"})
        assert response.status_code == 401
    with client.get("/static/registry.css") as response:
        assert response.status_code == 200


# -- the session cookie -----------------------------------------------------------


def _session_cookie(response: Any) -> str:
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def test_session_cookie_flags(client, users):
    response = sign_in(client, users["auditor"].email, PASSWORD)
    assert response.status_code == 302
    cookie = _session_cookie(response)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on loopback (the test client's default)
    assert "Expires" not in cookie  # gone when the browser closes


def test_secure_cookies_setting(
    database_url: str, tmp_path: Path, users: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTRY_SECURE_COOKIES", "true")
    app = make_app(database_url, tmp_path / "secure-instance")
    try:
        assert app.config["SESSION_COOKIE_SECURE"] is True
        assert app.config["REMEMBER_COOKIE_SECURE"] is True
        assert app.config["REMEMBER_COOKIE_HTTPONLY"] is True
        assert app.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
        client = app.test_client()
        page = client.get("/login", base_url="https://localhost").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token
        response = client.post(
            "/login",
            base_url="https://localhost",
            headers={"Referer": "https://localhost/login"},  # CSRF checks it under HTTPS
            data={"email": users["auditor"].email, "password": PASSWORD, "csrf_token": token[1]},
        )
        assert response.status_code == 302
        cookie = _session_cookie(response)
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        app.extensions["registry.db"].dispose()


def test_a_sign_in_lasts_the_session_lifetime(
    database_url: str, tmp_path: Path, users: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session cookie's signature is refused once older than the lifetime. (An app
    of its own: the ``users`` fixture keeps ``app``'s context, and flask-login's cached
    user in ``g``, across requests.)"""
    app = make_app(database_url, tmp_path / "lifetime-instance")
    try:
        assert app.config["PERMANENT_SESSION_LIFETIME"] == dt.timedelta(hours=8)
        client = app.test_client()
        assert sign_in(client, users["auditor"].email, PASSWORD).status_code == 302
        fake = Clock()
        monkeypatch.setattr(itsdangerous.timed, "time", fake)
        signed_at = fake.now
        fake.now = signed_at + 7.9 * 3600
        assert client.get("/systems").status_code == 200
        fake.now = signed_at + 8.1 * 3600
        response = client.get("/systems")
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    finally:
        app.extensions["registry.db"].dispose()


# -- configuration ----------------------------------------------------------------


def test_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in (
        "REGISTRY_LOGIN_LIMIT_PER_EMAIL",
        "REGISTRY_LOGIN_LIMIT_PER_IP",
        "REGISTRY_RATELIMIT_STORAGE_URI",
        "REGISTRY_SESSION_HOURS",
        "REGISTRY_SECURE_COOKIES",
    ):
        monkeypatch.delenv(variable, raising=False)
    config = load_config()
    assert config["PERMANENT_SESSION_LIFETIME"] == dt.timedelta(hours=8)
    assert config["LOGIN_LIMIT_PER_EMAIL"] == "5 per minute; 20 per hour"
    assert config["LOGIN_LIMIT_PER_IP"] == "20 per minute; 100 per hour"
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert config["SESSION_COOKIE_SECURE"] is None  # decided per request
    monkeypatch.setenv("REGISTRY_LOGIN_LIMIT_PER_EMAIL", "3/minute")
    monkeypatch.setenv("REGISTRY_LOGIN_LIMIT_PER_IP", "50 per hour")
    monkeypatch.setenv("REGISTRY_RATELIMIT_STORAGE_URI", "redis://cache:6379/1")
    monkeypatch.setenv("REGISTRY_SESSION_HOURS", "1.5")
    config = load_config()
    assert config["LOGIN_LIMIT_PER_EMAIL"] == "3/minute"
    assert config["LOGIN_LIMIT_PER_IP"] == "50 per hour"
    assert config["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/1"
    assert config["PERMANENT_SESSION_LIFETIME"] == dt.timedelta(minutes=90)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REGISTRY_LOGIN_LIMIT_PER_EMAIL", "five a minute"),
        ("REGISTRY_LOGIN_LIMIT_PER_IP", ""),
        ("REGISTRY_SESSION_HOURS", "0"),
    ],
)
def test_bad_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable):
        load_config()
