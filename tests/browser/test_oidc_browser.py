"""Single sign-on in a real browser through a real OpenID Provider: the `oidc-provider`
package for Node.js (tests/oidc/provider.mjs, installed by .ci/ensure-oidc-provider),
started by this module. Sign-in with group mapping, a changed group at the next
sign-in, a person whose groups map to no role, an e-mail that an account already has,
a deactivated account, and signing out of the registry and then of the provider."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from registry.accounts.actor import Actor
from registry.accounts.models import User, UserIdentity
from registry.accounts.service import get_user, set_active
from registry.ledger.models import AuditEvent
from tests.conftest import make_app
from tests.serving import free_port

PROVIDER_DIR = Path(__file__).resolve().parent.parent / "oidc"
CLIENT_SECRET = "registry-test-client-secret"
ROLES = {"registry-officers": ["compliance_officer"], "registry-auditors": ["auditor"]}


@pytest.fixture(scope="module")
def registry_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def accounts_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("idp") / "accounts.json"


@pytest.fixture(scope="module")
def issuer(
    registry_port: int, accounts_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The OpenID Provider, listening on a free port; its issuer URL."""
    node = shutil.which("node")
    assert node, "Node.js is needed: run .ci/ensure-oidc-provider"
    assert (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir(), (
        "oidc-provider is not installed: run .ci/ensure-oidc-provider"
    )
    accounts_file.write_text("{}")
    registry = f"http://127.0.0.1:{registry_port}"
    config = tmp_path_factory.mktemp("idp-config") / "provider.json"
    config.write_text(
        json.dumps(
            {
                "client_id": "registry",
                "client_secret": CLIENT_SECRET,
                "redirect_uris": [f"{registry}/login/oidc/idp/callback"],
                "post_logout_redirect_uris": [f"{registry}/login"],
                "accounts_file": str(accounts_file),
            }
        )
    )
    port = free_port()
    process = subprocess.Popen(
        [node, "provider.mjs", str(port), str(config)],
        cwd=PROVIDER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        assert line.strip() == "ready", f"the OpenID Provider did not start: {line!r}"
        url = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{url}/.well-known/openid-configuration", timeout=10) as r:
            assert json.load(r)["issuer"] == url
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture
def app(database_url: str, tmp_path: Path, issuer: str) -> Iterator[Flask]:
    provider = {
        "name": "idp",
        "title": "Example IdP",
        "issuer": issuer,
        "client_id": "registry",
        "client_secret": CLIENT_SECRET,
        "scopes": "openid email profile groups",
        "group_claim": "groups",
        "roles": ROLES,
        "allow_create": True,
    }
    application = make_app(database_url, tmp_path / "instance", OIDC_PROVIDERS=[provider])
    yield application
    application.extensions["registry.db"].dispose()


@pytest.fixture
def live_server(app: Flask, registry_port: int) -> Iterator[str]:
    """The app on the port the provider knows as its redirect URI's."""
    server = make_server("127.0.0.1", registry_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{registry_port}"
    server.shutdown()
    thread.join()
    server.server_close()


def _people(accounts_file: Path, **people: dict[str, Any]) -> None:
    accounts_file.write_text(json.dumps(people))


def _sign_in(browser: Any, live_server: str, login: str) -> Any:
    """A fresh browser signs in at the provider as ``login``; the page it ends on."""
    page = browser.new_context().new_page()
    _continue(page, live_server, login)
    return page


def _continue(page: Any, live_server: str, login: str) -> None:
    page.goto(f"{live_server}/login")
    page.get_by_role("link", name="Sign in with Example IdP").click()
    page.wait_for_selector("input[name=login]")  # the provider's own sign-in form
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "anything")
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{live_server}/**")
    page.wait_for_selector("h1")


def _events(session: Any, action: str) -> list[dict[str, Any]]:
    rows = session.scalars(sa.select(AuditEvent.event).order_by(AuditEvent.seq)).all()
    session.rollback()  # lets go of SQLite's write lock: the server needs it
    return [e for e in map(json.loads, rows) if e["action"] == action]


def test_sign_in_with_roles_from_groups_a_changed_group_and_sign_out(
    browser, live_server, session, accounts_file, issuer
):
    _people(
        accounts_file,
        alice={"email": "alice@example.org", "name": "Alice", "groups": ["registry-officers"]},
    )
    page = _sign_in(browser, live_server, "alice")
    nav = page.get_by_role("navigation", name="Main")
    assert "alice@example.org (compliance_officer)" in nav.inner_text()
    session.rollback()
    user = get_user(session, "alice@example.org")
    assert user.password_hash is None and user.roles == {"compliance_officer"}
    (identity,) = session.scalars(sa.select(UserIdentity)).all()
    assert (identity.issuer, identity.subject, identity.user_id) == (issuer, "alice", user.id)
    session.rollback()
    (created,) = _events(session, "user.create")
    assert created["actor"] == f"oidc:{issuer}" and created["subject"] == "alice"
    (signed,) = _events(session, "user.sign_in")
    assert signed["method"] == "oidc"

    # Signing out ends the registry's session and offers the provider's.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/signed-out")
    assert page.locator("h1").inner_text() == "You are signed out of the registry"
    assert page.goto(f"{live_server}/systems").url.startswith(f"{live_server}/login")

    # Their group changes at the provider: the next sign-in changes their role.
    _people(
        accounts_file,
        alice={"email": "alice@example.org", "name": "Alice", "groups": ["registry-auditors"]},
    )
    again = _sign_in(browser, live_server, "alice")
    assert (
        "alice@example.org (auditor)" in again.get_by_role("navigation", name="Main").inner_text()
    )
    changes = _events(session, "user.roles")
    assert [(c["previous_roles"], c["roles"], c["actor"]) for c in changes] == [
        ([], ["compliance_officer"], f"oidc:{issuer}"),
        (["compliance_officer"], ["auditor"], f"oidc:{issuer}"),
    ]
    assert len(session.scalars(sa.select(User).where(User.email == "alice@example.org")).all()) == 1
    session.rollback()

    # Signing out at the provider too: its end-session endpoint, back to our sign-in.
    again.get_by_role("button", name="Sign out").click()
    again.get_by_role("link", name="Sign out at Example IdP too").click()
    again.wait_for_url(f"{issuer}/**")
    again.locator("button[type=submit]", has_text="Yes").click()
    again.wait_for_url(f"{live_server}/login**")
    # The provider's session is over: signing in asks for the login again.
    again.get_by_role("link", name="Sign in with Example IdP").click()
    again.wait_for_selector("input[name=login]")


def test_no_role_an_email_taken_and_a_deactivated_account(
    browser, live_server, session, users, accounts_file, issuer
):
    _people(
        accounts_file,
        bob={"email": "bob@example.org", "groups": ["marketing"]},
        mallory={"email": users["admin"].email, "groups": ["registry-officers"]},
        carol={"email": "carol@example.org", "groups": ["registry-auditors"]},
    )
    # Groups that map to no role: no role, no session, a page that says so.
    page = _sign_in(browser, live_server, "bob")
    assert page.locator("h1").inner_text() == "No role in the registry"
    assert "give you no role in the registry" in page.content()
    assert page.goto(f"{live_server}/systems").url.startswith(f"{live_server}/login")
    session.rollback()
    assert get_user(session, "bob@example.org").roles == frozenset()
    session.rollback()
    (failed,) = _events(session, "user.sign_in_failed")
    assert failed["step"] == "no_role" and failed["email"] == "bob@example.org"

    # An e-mail an account already has is never joined to a new identity by itself.
    page = _sign_in(browser, live_server, "mallory")
    assert page.locator("h1").inner_text() == "Not signed in"
    assert "exists already" in page.content()
    session.rollback()
    assert get_user(session, users["admin"].email).roles == {"admin"}
    assert not session.scalars(
        sa.select(UserIdentity).where(UserIdentity.subject == "mallory")
    ).all()
    session.rollback()

    # A deactivated account cannot sign in through the provider.
    assert "carol@example.org (auditor)" in _sign_in(browser, live_server, "carol").content()
    session.rollback()
    set_active(
        session, Actor.for_user(users["admin"]), get_user(session, "carol@example.org"), False
    )
    session.commit()
    page = _sign_in(browser, live_server, "carol")
    assert page.locator("h1").inner_text() == "Not signed in"
    assert "deactivated" in page.content()
    assert page.goto(f"{live_server}/systems").url.startswith(f"{live_server}/login")
