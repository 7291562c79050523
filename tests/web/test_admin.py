"""The administration pages: users, roles, activation and API tokens, over HTTP."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from registry.accounts.models import ApiToken, User
from registry.accounts.service import create_token
from registry.ledger.models import AuditEvent
from tests.conftest import PASSWORD, csrf_token


def _events(session, action):
    rows = session.scalars(sa.select(AuditEvent.event).order_by(AuditEvent.seq))
    return [e for e in (json.loads(raw) for raw in rows) if e.get("action") == action]


def _user(session, email):
    session.expire_all()
    return session.scalar(sa.select(User).where(User.email == email))


def _logout(client, page="/admin/users"):
    response = client.post("/logout", data={"csrf_token": csrf_token(client, page)})
    assert response.status_code == 302


def _urls(users):
    uid = users["auditor"].id
    return {
        "get": ["/admin/users", "/admin/users/new", f"/admin/users/{uid}"],
        "post": [
            (
                "/admin/users/new",
                {"email": "x@example.org", "roles": "auditor", "password": "p" * 20},
            ),
            (f"/admin/users/{uid}/roles", {"roles": "admin"}),
            (f"/admin/users/{uid}/active", {"active": "0"}),
            (f"/admin/users/{uid}/tokens", {"name": "t", "scopes": "read", "days": "5"}),
            ("/admin/tokens/{token}/revoke", {}),
        ],
    }


def test_anonymous_is_sent_to_sign_in(client, users):
    response = client.get("/admin/users")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["compliance_officer", "technical_owner", "auditor"])
def test_non_admins_get_403_everywhere(client, login_as, session, actors, users, role):
    token, _ = create_token(session, actors["admin"], users["auditor"], name="keep", days=5)
    session.commit()
    login_as(role)
    home = client.get("/systems")
    assert home.status_code == 200 and "Admin</a>" not in home.get_data(as_text=True)
    csrf = csrf_token(client, "/systems")
    urls = _urls(users)
    for url in urls["get"]:
        assert client.get(url).status_code == 403, url
    for url, data in urls["post"]:
        url = url.format(token=token.id)
        response = client.post(url, data={**data, "csrf_token": csrf})
        assert response.status_code == 403, url
        assert "may not manage users and tokens" in response.get_data(as_text=True)
    assert _user(session, "x@example.org") is None
    auditor = _user(session, users["auditor"].email)
    assert auditor.roles == {"auditor"} and auditor.is_active
    assert session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 1
    assert session.get(ApiToken, token.id).revoked_at is None


def test_admin_pages_work(client, login_as, session, users):
    login_as("admin")
    home = client.get("/admin/users")
    assert home.status_code == 200
    text = home.get_data(as_text=True)
    for user in users.values():
        assert user.email in text and f"/admin/users/{user.id}" in text
    assert 'href="/admin/users"' in text  # the nav link
    assert client.get("/admin/users/new").status_code == 200
    page = client.get(f"/admin/users/{users['auditor'].id}")
    assert page.status_code == 200 and "No API tokens." in page.get_data(as_text=True)
    assert client.get("/admin/users/99999").status_code == 404


def test_create_user(client, login_as, session, users):
    login_as("admin")
    csrf = csrf_token(client, "/admin/users/new")
    response = client.post(
        "/admin/users/new",
        data={
            "email": "New.Person@Example.org",
            "name": "New Person",
            "roles": ["auditor", "technical_owner"],
            "password": PASSWORD,
            "csrf_token": csrf,
        },
    )
    assert response.status_code == 302
    user = _user(session, "new.person@example.org")
    assert user.roles == {"auditor", "technical_owner"} and user.name == "New Person"
    assert response.headers["Location"] == f"/admin/users/{user.id}"
    assert "created" in client.get(response.headers["Location"]).get_data(as_text=True)
    (event,) = [e for e in _events(session, "user.create") if e["user_id"] == user.id]
    assert event["actor"] == f"user:{users['admin'].email}"
    # The new user can sign in.
    _logout(client)
    response = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert response.status_code == 302


def test_create_user_bad_input_keeps_input(client, login_as, session, users):
    login_as("admin")
    csrf = csrf_token(client, "/admin/users/new")
    response = client.post(
        "/admin/users/new",
        data={
            "email": "not-an-email",
            "name": "Kept Name",
            "roles": ["auditor"],
            "password": "short-secret",
            "csrf_token": csrf,
        },
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Not a valid email address." in text
    assert 'value="not-an-email"' in text and 'value="Kept Name"' in text
    assert 'value="auditor" checked' in text
    assert "short-secret" not in text  # the password is never echoed
    response = client.post(
        "/admin/users/new",
        data={"email": "a@example.org", "name": "N", "password": "x", "csrf_token": csrf},
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Roles must be among" in text and "At least 12 characters." in text
    response = client.post(
        "/admin/users/new",
        data={
            "email": users["auditor"].email,
            "roles": ["auditor"],
            "password": PASSWORD,
            "csrf_token": csrf,
        },
    )
    assert response.status_code == 409 and "Already in use." in response.get_data(as_text=True)
    assert _user(session, "a@example.org") is None


def test_change_roles(client, login_as, session, users):
    login_as("admin")
    uid = users["auditor"].id
    csrf = csrf_token(client, f"/admin/users/{uid}")
    response = client.post(
        f"/admin/users/{uid}/roles",
        data={"roles": ["auditor", "compliance_officer"], "csrf_token": csrf},
    )
    assert response.status_code == 302
    assert _user(session, users["auditor"].email).roles == {"auditor", "compliance_officer"}
    (event,) = _events(session, "user.roles")
    assert event["user_id"] == uid and event["roles"] == ["auditor", "compliance_officer"]
    response = client.post(f"/admin/users/{uid}/roles", data={"csrf_token": csrf})
    assert response.status_code == 422 and "Roles must be among" in response.get_data(as_text=True)


def test_admin_cannot_demote_or_deactivate_themselves(client, login_as, session, users):
    login_as("admin")
    uid = users["admin"].id
    csrf = csrf_token(client, f"/admin/users/{uid}")
    response = client.post(
        f"/admin/users/{uid}/roles", data={"roles": ["auditor"], "csrf_token": csrf}
    )
    assert response.status_code == 409
    assert "may not remove your own admin role" in response.get_data(as_text=True)
    response = client.post(f"/admin/users/{uid}/active", data={"active": "0", "csrf_token": csrf})
    assert response.status_code == 409
    assert "may not deactivate yourself" in response.get_data(as_text=True)
    admin = _user(session, users["admin"].email)
    assert admin.roles == {"admin"} and admin.is_active
    assert client.get("/admin/users").status_code == 200


def test_deactivated_user_cannot_sign_in(client, login_as, session, users):
    login_as("admin")
    uid = users["auditor"].id
    csrf = csrf_token(client, f"/admin/users/{uid}")
    response = client.post(f"/admin/users/{uid}/active", data={"active": "0", "csrf_token": csrf})
    assert response.status_code == 302
    assert not _user(session, users["auditor"].email).is_active
    assert len(_events(session, "user.deactivate")) == 1
    assert "deactivated" in client.get("/admin/users").get_data(as_text=True)
    _logout(client)
    response = client.post(
        "/login",
        data={
            "email": users["auditor"].email,
            "password": PASSWORD,
            "csrf_token": csrf_token(client),
        },
    )
    assert response.status_code == 401
    # And back again.
    login_as("admin")
    csrf = csrf_token(client, f"/admin/users/{uid}")
    response = client.post(f"/admin/users/{uid}/active", data={"active": "1", "csrf_token": csrf})
    assert response.status_code == 302
    assert _user(session, users["auditor"].email).is_active
    assert len(_events(session, "user.activate")) == 1


def test_token_shown_once_authenticates_and_can_be_revoked(client, login_as, session, users):
    login_as("admin")
    uid = users["auditor"].id
    csrf = csrf_token(client, f"/admin/users/{uid}")
    response = client.post(
        f"/admin/users/{uid}/tokens",
        data={"name": "pipeline", "scopes": ["read"], "days": "30", "csrf_token": csrf},
    )
    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]
    text = response.get_data(as_text=True)
    secret = re.search(r'value="(reg_[^"]+)"', text).group(1)
    assert len(secret) > 40 and "shown only this once" in text
    token = session.scalar(sa.select(ApiToken).where(ApiToken.user_id == uid))
    assert token.name == "pipeline" and token.scopes == "read"
    (event,) = _events(session, "token.create")
    assert event["token_id"] == token.id and secret not in json.dumps(event)
    # The page of the user lists the token by prefix only.
    page = client.get(f"/admin/users/{uid}").get_data(as_text=True)
    assert secret not in page and token.prefix in page and "pipeline" in page
    assert "1</td>" in client.get("/admin/users").get_data(as_text=True)
    # The token works against the API.
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200 and me.get_json()["email"] == users["auditor"].email
    # Revoke it.
    response = client.post(f"/admin/tokens/{token.id}/revoke", data={"csrf_token": csrf})
    assert response.status_code == 302 and response.headers["Location"] == f"/admin/users/{uid}"
    assert len(_events(session, "token.revoke")) == 1
    session.expire_all()
    assert session.get(ApiToken, token.id).revoked_at is not None
    page = client.get(f"/admin/users/{uid}").get_data(as_text=True)
    assert f"/admin/tokens/{token.id}/revoke" not in page
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 401
    assert client.post("/admin/tokens/99999/revoke", data={"csrf_token": csrf}).status_code == 404


def test_token_bad_input_keeps_input(client, login_as, session, users):
    login_as("admin")
    uid = users["auditor"].id
    csrf = csrf_token(client, f"/admin/users/{uid}")
    response = client.post(
        f"/admin/users/{uid}/tokens",
        data={"name": "kept-name", "days": "999", "csrf_token": csrf},
    )
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "Scopes must be among" in text and "Must be between 1 and 366." in text
    assert 'value="kept-name"' in text and 'value="999"' in text and "reg_" not in text
    response = client.post(
        f"/admin/users/{uid}/tokens",
        data={"name": "x", "scopes": ["read"], "days": "soon", "csrf_token": csrf},
    )
    assert response.status_code == 422 and "A whole number of days" in response.get_data(
        as_text=True
    )
    assert session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def test_csrf_is_required(client, login_as, session, users):
    login_as("admin")
    uid = users["auditor"].id
    for url, data in _urls(users)["post"]:
        url = url.format(token=1)
        assert client.post(url, data=data).status_code == 400, url
    auditor = _user(session, users["auditor"].email)
    assert auditor.roles == {"auditor"} and auditor.is_active
    assert _user(session, "x@example.org") is None
    assert uid == auditor.id


def test_names_are_escaped(client, login_as, session, users):
    login_as("admin")
    csrf = csrf_token(client, "/admin/users/new")
    response = client.post(
        "/admin/users/new",
        data={
            "email": "evil@example.org",
            "name": "<script>alert(1)</script>",
            "roles": ["auditor"],
            "password": PASSWORD,
            "csrf_token": csrf,
        },
    )
    assert response.status_code == 302
    for url in ("/admin/users", response.headers["Location"]):
        text = client.get(url).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


@pytest.mark.parametrize(
    ("email", "name", "message"),
    [
        ("nul\x00@example.org", "N", "Contains a NUL character."),
        ("nul@example.org", "N\x00", "Contains a NUL character."),
    ],
)
def test_create_user_refuses_a_nul_character(
    client, login_as, session, users, email, name, message
):
    login_as("admin")
    csrf = csrf_token(client, "/admin/users/new")
    response = client.post(
        "/admin/users/new",
        data={
            "email": email,
            "name": name,
            "roles": ["auditor"],
            "password": PASSWORD,
            "csrf_token": csrf,
        },
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(sa.select(sa.func.count()).select_from(User)) == len(users)


@pytest.mark.parametrize("number", ["2147483648", "9223372036854775808", "9" * 40, "0"])
def test_ids_beyond_the_integer_range_name_no_user_or_token(client, login_as, number):
    """A number no row id can be is not found (404), never a database error."""
    login_as("admin")
    csrf = csrf_token(client, "/admin/users")
    assert client.get(f"/admin/users/{number}").status_code == 404
    for url, data in (
        (f"/admin/users/{number}/roles", {"roles": "auditor"}),
        (f"/admin/users/{number}/active", {"active": "0"}),
        (f"/admin/users/{number}/tokens", {"name": "t", "scopes": "read", "days": "5"}),
        (f"/admin/tokens/{number}/revoke", {}),
    ):
        assert client.post(url, data={**data, "csrf_token": csrf}).status_code == 404, url
