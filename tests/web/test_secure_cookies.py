"""The session cookie is Secure, and Strict-Transport-Security is sent, whenever the
registry is not served on loopback over plain HTTP (unless REGISTRY_SECURE_COOKIES
says otherwise); `make run` on 127.0.0.1 keeps working over plain HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from registry.config import load_config
from tests.conftest import PASSWORD, make_app

YEAR = 365 * 24 * 3600


@pytest.fixture
def make(database_url: str, tmp_path: Any) -> Iterator[Any]:
    made: list[Flask] = []

    def _make(**overrides: Any) -> Flask:
        app = make_app(database_url, tmp_path / f"instance-{len(made)}", **overrides)
        made.append(app)
        return app

    yield _make
    for app in made:
        app.extensions["registry.db"].dispose()


def _login_page(app: Flask, base_url: str, client_address: str = "127.0.0.1") -> Any:
    response = app.test_client().get(
        "/login", base_url=base_url, environ_overrides={"REMOTE_ADDR": client_address}
    )
    assert response.status_code == 200
    return response


def _cookie(response: Any) -> str:
    [cookie] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def _secure(response: Any) -> bool:
    secure = "; Secure" in _cookie(response)
    assert ("Strict-Transport-Security" in response.headers) is secure
    return secure


@pytest.mark.parametrize(
    ("base_url", "client_address", "secure"),
    [
        ("http://127.0.0.1:5000", "127.0.0.1", False),  # make run
        ("http://localhost:5000", "127.0.0.1", False),
        ("http://[::1]:5000", "::1", False),
        ("http://127.0.0.2", "127.0.0.1", False),  # all of 127.0.0.0/8 is loopback
        ("https://127.0.0.1:5000", "127.0.0.1", True),  # HTTPS: Secure even on loopback
        ("http://registry.example.org", "127.0.0.1", True),  # a proxy on this machine
        ("http://10.0.0.7:5000", "10.0.0.9", True),  # make run HOST=0.0.0.0
        ("http://127.0.0.1:5000", "10.0.0.9", True),  # a Host header the client chose
        ("https://registry.example.org", "203.0.113.5", True),
    ],
)
def test_secure_unless_served_on_loopback_over_plain_http(make, base_url, client_address, secure):
    response = _login_page(make(SESSION_COOKIE_SECURE=None), base_url, client_address)
    assert _secure(response) is secure
    if secure:
        assert response.headers["Strict-Transport-Security"] == f"max-age={YEAR}"


def test_the_setting_decides_for_every_request(make):
    always = make(SESSION_COOKIE_SECURE=True)
    assert _secure(_login_page(always, "http://127.0.0.1:5000"))
    never = make(SESSION_COOKIE_SECURE=False)
    assert not _secure(_login_page(never, "https://registry.example.org", "203.0.113.5"))


def test_hsts_can_be_switched_off(make):
    response = _login_page(make(HSTS_SECONDS=0), "https://registry.example.org", "203.0.113.5")
    assert "; Secure" in _cookie(response)
    assert "Strict-Transport-Security" not in response.headers


def test_signing_in_over_https_by_default(make, users):
    app = make()
    client = app.test_client()
    https = {"base_url": "https://registry.example.org"}
    page = client.get("/login", **https).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    response = client.post(
        "/login",
        headers={"Referer": "https://registry.example.org/login"},
        data={"email": users["auditor"].email, "password": PASSWORD, "csrf_token": token[1]},
        **https,
    )
    assert response.status_code == 302
    assert "; Secure" in _cookie(response)
    assert client.get("/systems", **https).status_code == 200


def test_settings_from_the_environment(monkeypatch):
    for value, expected in (("auto", None), ("true", True), ("false", False)):
        monkeypatch.setenv("REGISTRY_SECURE_COOKIES", value)
        assert load_config()["SESSION_COOKIE_SECURE"] is expected
    monkeypatch.delenv("REGISTRY_SECURE_COOKIES")
    assert load_config()["SESSION_COOKIE_SECURE"] is None
    assert load_config()["HSTS_SECONDS"] == YEAR
    monkeypatch.setenv("REGISTRY_HSTS_SECONDS", "-1")
    with pytest.raises(ValueError, match="REGISTRY_HSTS_SECONDS"):
        load_config()
