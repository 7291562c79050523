"""No secret in any log line: a live ``registry serve`` is driven through sign-in
(right and wrong passwords), a password change, API tokens made, used and refused, and
bodies that carry passwords; then every line it logged is read back: JSON, with request
ids, and none holds a password, token, hash of either, the session secret or cookie."""

from __future__ import annotations

import hashlib
import http.cookiejar
import json
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import sqlalchemy as sa

from registry.accounts.actor import Actor
from registry.accounts.service import create_token
from tests.conftest import PASSWORD
from tests.serving import free_port, served

SECRET_KEY = "log-test-secret-key-0123456789"
NEW_PASSWORD = "A-new-and-long-passphrase-77"
WRONG_PASSWORD = "Not-the-password-at-all-31"


def _call(opener: Any, url: str, data: Any = None, headers: dict[str, str] | None = None) -> Any:
    body = data
    if isinstance(data, dict):
        body = json.dumps(data).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with opener.open(request, timeout=60) as answer:
            return answer.status, answer.read().decode(), answer.headers
    except urllib.error.HTTPError as answer:
        return answer.code, answer.read().decode(), answer.headers


def _form(opener: Any, url: str, fields: dict[str, str]) -> int:
    page = opener.open(url, timeout=60).read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    status, _, _ = _call(
        opener, url, urllib.parse.urlencode({**fields, "csrf_token": token}).encode()
    )
    return status


def test_no_secret_reaches_the_logs(database_url, session, users, tmp_path):
    officer = users["compliance_officer"]
    _, first_token = create_token(session, Actor.for_user(officer), officer, name="logs")
    session.commit()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(
        REGISTRY_DATABASE_URL=database_url,
        REGISTRY_INSTANCE_PATH=str(tmp_path / "instance"),
        REGISTRY_EXPORT_DIR=str(tmp_path / "exports"),
        REGISTRY_SECRET_KEY=SECRET_KEY,
        REGISTRY_LOG_LEVEL="DEBUG",
    )
    command = [sys.executable, "-m", "registry.cli", "serve", "--workers", "1"]
    secrets = {"first token": first_token, "secret key": SECRET_KEY}
    with served([*command, "--port", str(port)], port, env, tmp_path, ready_path="/healthz") as run:
        url = run.url
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        assert (
            _form(browser, f"{url}/login", {"email": officer.email, "password": WRONG_PASSWORD})
            == 401
        )
        assert _form(browser, f"{url}/login", {"email": officer.email, "password": PASSWORD}) == 200
        changed = {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        }
        assert _form(browser, f"{url}/account/password", changed) == 200
        secrets["session cookie"] = next(c.value for c in jar if c.name == "session")
        api = urllib.request.build_opener()
        bearer = {"Authorization": f"Bearer {first_token}"}
        status, body, _ = _call(api, f"{url}/api/v1/me/tokens", {"name": "second"}, bearer)
        assert status == 201, body
        second = json.loads(body)["secret"]
        secrets["second token"] = second
        status, _, _ = _call(api, f"{url}/api/v1/me", headers={"Authorization": f"Bearer {second}"})
        assert status == 200
        unknown = "reg_" + "Z" * 40
        secrets["unknown token"] = unknown
        status, _, _ = _call(
            api, f"{url}/api/v1/me", headers={"Authorization": f"Bearer {unknown}"}
        )
        assert status == 401
        # A password where none belongs: refused, and not repeated in the log.
        with_password = {"profile": {"name": "x", "password": WRONG_PASSWORD}}
        status, _, _ = _call(api, f"{url}/api/v1/systems", with_password, bearer)
        assert status == 422
    hashes = session.execute(sa.text('SELECT password_hash FROM "user"')).scalars().all()
    token_hashes = session.execute(sa.text("SELECT token_hash FROM api_token")).scalars().all()
    for name, secret in [*secrets.items()]:
        secrets[f"sha256 of {name}"] = hashlib.sha256(secret.encode()).hexdigest()
    secrets.update({f"password hash {n}": h for n, h in enumerate(hashes) if h})
    secrets.update({f"token hash {n}": h for n, h in enumerate(token_hashes)})
    secrets.update(
        {"password": PASSWORD, "new password": NEW_PASSWORD, "wrong password": WRONG_PASSWORD}
    )
    logged = run.output + run.errors
    assert len(token_hashes) == 2 and all(hashes)
    leaked = [name for name, secret in secrets.items() if secret in logged]
    assert leaked == []
    lines = [json.loads(line) for line in logged.splitlines()]  # every line is JSON
    answered = [line for line in lines if line.get("name") == "registry.requests"]
    assert len(answered) >= 9 and all(len(line["request_id"]) == 32 for line in answered)
    assert {"refused", "ok"} <= {line["outcome"] for line in answered}
