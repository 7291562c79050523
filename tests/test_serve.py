"""``registry serve``: the registry under gunicorn, over real HTTP, on both engines."""

from __future__ import annotations

import http.cookiejar
import os
import re
import sys
import urllib.parse
import urllib.request

from registry.server import bind_address
from tests.conftest import PASSWORD
from tests.serving import free_port, served


def _env(database_url: str, tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env.update(
        REGISTRY_DATABASE_URL=database_url,
        REGISTRY_INSTANCE_PATH=str(tmp_path / "instance"),
        REGISTRY_EXPORT_DIR=str(tmp_path / "exports"),
        REGISTRY_SECRET_KEY="serve-test-secret",
    )
    return env


def test_serve_signs_in_across_workers_and_logs_each_request(database_url, users, tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "registry.cli", "serve", "--port", str(port)]
    with served([*command, "--workers", "2"], port, _env(database_url, tmp_path), tmp_path) as run:
        browser = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        form = browser.open(f"{run.url}/login").read().decode()
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
        body = urllib.parse.urlencode(
            {"email": users["auditor"].email, "password": PASSWORD, "csrf_token": token}
        ).encode()
        signed_in = browser.open(f"{run.url}/login", data=body)
        assert signed_in.status == 200 and signed_in.url != f"{run.url}/login"
        assert "Sign out" in signed_in.read().decode()
        css = browser.open(f"{run.url}/static/registry.css")
        assert css.status == 200 and css.headers.get_content_type() == "text/css"
    assert run.process.returncode == 0, run.errors
    assert "Booting worker" in run.errors and "Shutting down" in run.errors
    assert f"Listening at: http://127.0.0.1:{port}" in run.errors
    assert '"POST /login HTTP/1.1" 302' in run.output
    assert '"GET /static/registry.css HTTP/1.1" 200' in run.output


def test_serve_refuses_bad_options(app):
    runner = app.test_cli_runner()
    for args, complaint in (
        (["--workers", "0"], "--workers"),
        (["--port", "70000"], "--port"),
        (["--timeout", "0"], "--timeout"),
    ):
        result = runner.invoke(args=["serve", *args])
        assert result.exit_code == 2 and complaint in result.output, result.output


def test_bind_addresses():
    assert bind_address("127.0.0.1", 5000) == "127.0.0.1:5000"
    assert bind_address("0.0.0.0", 8080) == "0.0.0.0:8080"
    assert bind_address("::1", 8080) == "[::1]:8080"
    assert bind_address("[::]", 80) == "[::]:80"
