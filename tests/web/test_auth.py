"""Signing in and out, CSRF, open redirects, escaping and headers, over HTTP."""

from __future__ import annotations

import pytest

from registry.records import reads, writes
from tests.conftest import PASSWORD, csrf_token


def test_pages_need_a_login(client):
    response = client.get("/systems")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_login_list_and_logout(client, login_as, session, officer, profile):
    writes.create_system(session, officer, profile)
    session.commit()
    login_as("auditor")
    page = client.get("/systems")
    assert page.status_code == 200
    assert "Benefit fraud triage" in page.get_data(as_text=True)
    page = client.get("/systems/sys-1")
    assert page.status_code == 200 and "No monitoring plan recorded." in page.get_data(as_text=True)
    token = csrf_token(client, "/systems")
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert client.get("/systems").status_code == 302


def test_wrong_password_gets_a_message(client, users):
    token = csrf_token(client)
    response = client.post(
        "/login", data={"email": users["auditor"].email, "password": "wrong", "csrf_token": token}
    )
    assert response.status_code == 401
    text = response.get_data(as_text=True)
    assert "Wrong e-mail or password." in text
    assert users["auditor"].email in text  # what the user typed is kept


@pytest.mark.parametrize("email", ["a\x00@example.org", "\x00"])
def test_an_email_with_a_nul_character_is_a_wrong_sign_in(client, users, email):
    token = csrf_token(client)
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 401
    assert "Wrong e-mail or password." in response.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client, users):
    response = client.post("/login", data={"email": users["auditor"].email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/systems").status_code == 302


def test_logout_needs_csrf(client, login_as):
    login_as("auditor")
    assert client.post("/logout").status_code == 400
    assert client.get("/systems").status_code == 200


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/systems/sys-1", "/systems/sys-1"),
        ("https://evil.example/", "/systems"),
        ("//evil.example/", "/systems"),
        ("/\\evil.example", "/systems"),
        ("javascript:alert(1)", "/systems"),
        ("/systems\r\nSet-Cookie: a=b", "/systems"),
        ("/systems\nX: y", "/systems"),
        ("/systems\x00", "/systems"),
    ],
)
def test_no_open_redirect_through_next(client, users, target, expected):
    token = csrf_token(client)
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": users["auditor"].email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_admin_alone_cannot_read_records(client, login_as):
    login_as("admin")
    response = client.get("/systems")
    assert response.status_code == 403
    assert "may not read the records" in response.get_data(as_text=True)


def test_entries_are_escaped(client, login_as, session, officer, profile):
    writes.create_system(session, officer, {**profile, "name": "<script>alert(1)</script>"})
    session.commit()
    login_as("auditor")
    for path in ("/systems", "/systems/sys-1"):
        text = client.get(path).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_security_headers_and_cookie_flags(client, users):
    response = client.get("/login")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    token = csrf_token(client)
    response = client.post(
        "/login", data={"email": users["auditor"].email, "password": PASSWORD, "csrf_token": token}
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_unknown_system_and_page(client, login_as):
    login_as("auditor")
    assert client.get("/systems/nope").status_code == 404
    assert client.get("/no/such/page").status_code == 404


def test_search_filter_and_pagination(client, login_as, session, officer, profile):
    for i in range(55):
        writes.create_system(
            session,
            officer,
            {
                **profile,
                "reference": f"s-{i:02}",
                "name": f"System {i:02}",
                "stage": "production" if i % 2 else "pilot",
            },
        )
    session.commit()
    login_as("auditor")
    text = client.get("/systems").get_data(as_text=True)
    assert "55 systems." in text and "Page 1 of 2" in text
    text = client.get("/systems", query_string={"page": 2}).get_data(as_text=True)
    assert "System 54" in text and "System 00" not in text
    text = client.get("/systems", query_string={"q": "system 1", "stage": "production"}).get_data(
        as_text=True
    )
    assert "5 match the filters (the register lists 55 systems)." in text  # 11, 13, 15, 17, 19
    assert client.get("/systems", query_string={"page": "x"}).status_code == 200


def test_pages_read_while_a_writer_holds_the_lock(app, client, database_url, profile):
    """GET requests only read: on SQLite they begin DEFERRED and do not wait for the
    write lock that a long write transaction holds. (No app context is kept open here:
    each request gets its own session, as in service.)"""
    import time

    from registry.accounts.actor import Actor
    from registry.accounts.service import create_user
    from registry.db import Database

    writer = Database(database_url)
    officer = Actor.system("test")
    with writer.sessionmaker() as s:
        create_user(
            s,
            Actor.system("test", frozenset({"admin"})),
            "reader@example.org",
            ["auditor"],
            PASSWORD,
        )
        writes.create_system(s, officer, profile)
        s.commit()
    client.post(
        "/login",
        data={
            "email": "reader@example.org",
            "password": PASSWORD,
            "csrf_token": csrf_token(client),
        },
    )
    with writer.sessionmaker() as busy:
        writes.create_entry(
            busy,
            officer,
            reads.get_system(busy, "sys-1"),
            "risk",
            {"title": "Held", "likelihood": "rare", "impact": "minor"},
        )
        started = time.perf_counter()
        page = client.get("/systems/sys-1")
        elapsed = time.perf_counter() - started
        busy.rollback()
    writer.dispose()
    assert page.status_code == 200 and elapsed < 5
    text = page.get_data(as_text=True)
    assert "Benefit fraud triage" in text and "Held" not in text  # uncommitted: not seen
