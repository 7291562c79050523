"""Every web endpoint of identity (own tokens, second factor, reset links, single
sign-on) × every principal, with the status each must get. The test fails when such
an endpoint exists without a row."""

from __future__ import annotations

from typing import Any

import pytest

from registry.accounts import service as accounts
from registry.accounts.actor import Actor
from registry.extensions import db_session
from tests.conftest import csrf_token
from tests.web.test_change_password import _sign_in
from tests.web.test_password_reset import emails  # noqa: F401  (a fixture)

PRINCIPALS = ("anonymous", "admin", "compliance_officer", "technical_owner", "auditor")


def statuses(*codes: int) -> dict[str, int]:
    return dict(zip(PRINCIPALS, codes, strict=True))


SIGNED_IN = statuses(302, 200, 200, 200, 200)  # anonymous: to the sign-in page
SIGNED_IN_REDIRECT = statuses(302, 302, 302, 302, 302)
ADMIN_ONLY = statuses(302, 200, 403, 403, 403)
ADMIN_ONLY_REDIRECT = statuses(302, 302, 403, 403, 403)
ANYONE = lambda code: statuses(*(code,) * len(PRINCIPALS))  # noqa: E731

# (method, rule, path, form, statuses); {token}: one of the principal's own tokens,
# {user}: the auditor's user id.
ROWS: list[tuple[str, str, str, dict[str, Any], dict[str, int]]] = [
    ("GET", "/account/tokens", "/account/tokens", {}, SIGNED_IN),
    (
        "POST",
        "/account/tokens",
        "/account/tokens",
        {"name": "ci", "scopes": ["read"], "days": "7"},
        SIGNED_IN,
    ),
    (
        "GET",
        "/account/tokens/<id:token_id>/revoke",
        "/account/tokens/{token}/revoke",
        {},
        SIGNED_IN,
    ),
    (
        "POST",
        "/account/tokens/<id:token_id>/revoke",
        "/account/tokens/{token}/revoke",
        {"confirm": "yes"},
        SIGNED_IN_REDIRECT,
    ),
    ("GET", "/account/second-factor", "/account/second-factor", {}, SIGNED_IN),
    ("POST", "/account/second-factor/begin", "/account/second-factor/begin", {}, SIGNED_IN),
    # After the row above began an enrolment: a wrong code.
    (
        "POST",
        "/account/second-factor/confirm",
        "/account/second-factor/confirm",
        {"code": "000000"},
        statuses(302, 422, 422, 422, 422),
    ),
    (
        "POST",
        "/account/second-factor/remove",
        "/account/second-factor/remove",
        {"code": "000000"},
        SIGNED_IN_REDIRECT,
    ),
    ("POST", "/admin/users/<id:user_id>/reset", "/admin/users/{user}/reset", {}, ADMIN_ONLY),
    (
        "POST",
        "/admin/users/<id:user_id>/second-factor/remove",
        "/admin/users/{user}/second-factor/remove",
        {},
        ADMIN_ONLY_REDIRECT,
    ),
    ("GET", "/account/reset/<secret>", "/account/reset/unknown", {}, ANYONE(410)),
    (
        "POST",
        "/account/reset/<secret>",
        "/account/reset/unknown",
        {"new_password": "x" * 20, "new_password_again": "x" * 20},
        ANYONE(410),
    ),
    # Without a password step just passed: back to the sign-in (or the landing page).
    ("GET", "/login/second-factor", "/login/second-factor", {}, ANYONE(302)),
    ("POST", "/login/second-factor", "/login/second-factor", {"code": "1"}, ANYONE(302)),
    # Forgot password (no SMTP here: the page says to ask an administrator; signed in: home).
    ("GET", "/login/forgot", "/login/forgot", {}, statuses(200, 302, 302, 302, 302)),
    (
        "POST",
        "/login/forgot",
        "/login/forgot",
        {"email": "auditor@example.org"},
        statuses(200, 302, 302, 302, 302),
    ),
    # No provider is configured here: no provider of that name (signed in: home).
    ("GET", "/login/oidc/<name>", "/login/oidc/nobody", {}, statuses(404, 302, 302, 302, 302)),
    ("GET", "/login/oidc/<name>/callback", "/login/oidc/nobody/callback", {}, ANYONE(404)),
    ("GET", "/login/oidc/signed-out", "/login/oidc/signed-out", {}, ANYONE(302)),
]
IDENTITY_ENDPOINTS = {
    "auth.reset",
    "auth.forgot",
    "auth.second_factor",
    "admin.issue_reset",
    "admin.remove_second_factor",
}


def test_every_identity_endpoint_has_a_row(app):
    rows = {(method, rule) for method, rule, *_ in ROWS}
    for rule in app.url_map.iter_rules():
        if (
            rule.endpoint.split(".")[0] in ("account", "oidc")
            or rule.endpoint in IDENTITY_ENDPOINTS
        ):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (method, rule.rule) in rows, f"no permission row for {method} {rule.rule}"


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_each_principal_gets_its_status(app, emails, principal):  # noqa: F811
    with app.app_context():
        session = db_session()
        auditor = accounts.get_user(session, emails["auditor"]).id
        token = 1
        if principal != "anonymous":
            user = accounts.get_user(session, emails[principal])
            made, _ = accounts.create_token(session, Actor.for_user(user), user, name="own")
            token = made.id
        session.commit()
    if principal == "anonymous":
        client = app.test_client()
    else:
        client = _sign_in(app, emails[principal])
    form_page = "/login" if principal == "anonymous" else "/account/tokens"
    failures = []
    # The revocation after its confirmation page, the second factor's confirmation
    # after its beginning: the rows are in that order.
    for method, _rule, path, form, expected in ROWS:
        url = path.format(token=token, user=auditor)
        data = {**form, "csrf_token": csrf_token(client, form_page)} if method == "POST" else None
        response = client.open(url, method=method, data=data)
        if response.status_code != expected[principal]:
            failures.append(f"{method} {url}: {response.status_code} != {expected[principal]}")
    assert not failures, failures
