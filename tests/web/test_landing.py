"""Each role lands where its work is; the navigation offers only what a role may open;
"My systems" lists the systems whose owner entries name the user."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from registry.records import writes
from registry.web import home
from tests.conftest import PASSWORD, csrf_token

LANDINGS = {
    "compliance_officer": "/dashboard",
    "technical_owner": "/my-systems",
    "auditor": "/systems",
    "admin": "/admin/users",
}
# The pages a role may open, then the user's own: every role may change its password.
NAVIGATION = {
    "compliance_officer": [
        "My tasks",
        "Dashboard",
        "Systems",
        "Audit trail",
        "Audit ledger",
        "Evidence packs",
        "Frameworks",
        "Webhooks",
    ],
    "technical_owner": [
        "My systems",
        "My tasks",
        "Dashboard",
        "Systems",
        "Audit trail",
        "Audit ledger",
        "Evidence packs",
        "Frameworks",
    ],
    "auditor": [
        "My tasks",
        "Dashboard",
        "Systems",
        "Audit trail",
        "Audit ledger",
        "Evidence packs",
        "Frameworks",
    ],
    "admin": ["Webhooks", "Admin"],
}
OWN = ["Notifications", "API tokens", "Second factor", "Change password"]


def _sign_in(client, users, role, **query):
    return client.post(
        "/login",
        query_string=query,
        data={"email": users[role].email, "password": PASSWORD, "csrf_token": csrf_token(client)},
    )


def _nav(page: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', page, re.S).group(1)
    return re.findall(r'<a href="[^"]+"(?: aria-current="page")?>([^<]+)</a>', nav)


@pytest.mark.parametrize("role", sorted(LANDINGS))
def test_each_role_lands_where_its_work_is(client, users, role):
    response = _sign_in(client, users, role)
    assert response.status_code == 302
    assert response.headers["Location"] == LANDINGS[role]
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"] == LANDINGS[role]
    page = client.get(LANDINGS[role])
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert _nav(text) == NAVIGATION[role] + OWN
    # Every link the navigation offers opens; the sign-in page sends a signed-in user on.
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', text, re.S).group(1)
    for href in re.findall(r'href="([^"]+)"', nav):
        assert client.get(href).status_code in (200, 302), href
        assert client.get(href, follow_redirects=True).status_code == 200, href
    login = client.get("/login")
    assert login.status_code == 302 and login.headers["Location"] == LANDINGS[role]


@pytest.mark.parametrize("role", sorted(LANDINGS))
def test_the_ledger_verification_is_linked_for_those_who_may_read_it(client, users, role):
    """The audit ledger's page (where witness alarms show) is in the navigation of the
    roles that read records, on the audit trail and evidence packs pages too, at its
    canonical address; an administrator is offered no link to it and is refused."""
    _sign_in(client, users, role)
    reader = role != "admin"
    for page in ("/audit", "/exports", LANDINGS[role]):
        response = client.get(page)
        assert response.status_code == (200 if reader or page == LANDINGS[role] else 403)
        text = response.get_data(as_text=True)
        links = re.findall(r'<a href="([^"]+)"[^>]*>Audit ledger</a>', text)
        assert links == (["/ledger/"] if reader else []), page
    ledger = client.get("/ledger/")
    assert ledger.status_code == (200 if reader else 403)


@pytest.mark.parametrize("role", sorted(LANDINGS))
def test_next_inside_the_site_wins(client, users, role):
    response = _sign_in(client, users, role, next="/audit?system=sys-1")
    assert response.headers["Location"] == "/audit?system=sys-1"


def test_next_outside_the_site_is_ignored(client, users):
    response = _sign_in(client, users, "technical_owner", next="https://evil.example/")
    assert response.headers["Location"] == "/my-systems"


def test_old_list_addresses_reach_the_systems_list(client, login_as):
    login_as("compliance_officer")
    response = client.get("/", query_string={"q": "fraud", "stage": "pilot"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/systems?q=fraud&stage=pilot"
    # Parameters that url_for would take as its own options stay query parameters.
    for query in ("_anchor=x", "_method=GET", "_external=1&_scheme=x", "_external=1"):
        response = client.get(f"/?{query}", headers={"Host": "evil.example"})
        assert response.status_code == 302, query
        assert response.headers["Location"] == f"/systems?{query}"


def _system(session, officer, reference, stage="pilot", tier="high"):
    system, _ = writes.create_system(
        session,
        officer,
        {"name": f"System {reference}", "reference": reference, "stage": stage, "risk_tier": tier},
    )
    return system


def _owner(session, officer, system, role, person, **term):
    body = {"role": role, "person": person, "start": "2020-01-01", **term}
    return writes.create_entry(session, officer, system, "owner", body)


def _rows(page: str) -> dict[str, str]:
    """Reference → the text of its row on the My systems page."""
    return {
        ref: re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        for ref, row in re.findall(r'<tr id="system-([^"]+)">(.*?)</tr>', page, re.S)
    }


def test_my_systems_lists_exactly_the_systems_naming_the_user(session, officer, users, login_as):
    me = users["technical_owner"]
    by_id = {"name": "Someone", "email": "other@example.org", "user_id": me.id}
    by_email = {"name": "Tess", "email": me.email.upper()}
    other = {"name": "Olaf", "email": "olaf@example.org"}
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    tomorrow = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)).isoformat()
    # Named by user id (technical) and by e-mail (business): listed, with those roles.
    _owner(session, officer, _system(session, officer, "by-id", "production"), "technical", by_id)
    _owner(
        session, officer, _system(session, officer, "by-mail", tier="minimal"), "business", by_email
    )
    both = _system(session, officer, "both", "proposed", "limited")
    _owner(session, officer, both, "technical", by_id)
    _owner(session, officer, both, "dpo", by_email)
    # Not listed: someone else; an ended term; a term not begun; a retired owner entry.
    _owner(session, officer, _system(session, officer, "theirs"), "technical", other)
    _owner(session, officer, _system(session, officer, "ended"), "technical", by_id, end=yesterday)
    _owner(session, officer, _system(session, officer, "later"), "technical", by_id, start=tomorrow)
    gone = _owner(session, officer, _system(session, officer, "gone"), "technical", by_id)
    writes.retire_entry(session, officer, gone.entry_id, base_version=1)
    session.commit()

    client = login_as("technical_owner")
    page = client.get("/my-systems").get_data(as_text=True)
    rows = _rows(page)
    # The dashboard's order: risk tier, then stage, among systems not ready.
    assert list(rows) == ["by-id", "both", "by-mail"]
    assert "technical" in rows["by-id"] and "business" not in rows["by-id"]
    assert "dpo, technical" in rows["both"]
    assert "business" in rows["by-mail"]
    assert "not ready" in rows["by-id"]
    assert "Business ownership" in rows["by-id"]  # what needs their attention
    assert "3 systems name you as owner" in page

    # The same person under another account sees none of them.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/my-systems")})
    client = login_as("compliance_officer")
    page = client.get("/my-systems").get_data(as_text=True)
    assert _rows(page) == {} and "No system's current owner entries name you" in page


def test_an_admin_cannot_open_my_systems(client, login_as):
    login_as("admin")
    assert client.get("/my-systems").status_code == 403


def test_my_systems_pages_its_list_and_follows_changes(
    session, officer, users, login_as, monkeypatch
):
    """A long "My systems" is paged in the dashboard's order; the owner index finds a
    system as soon as an owner entry names the user, and loses it when none does."""
    monkeypatch.setattr(home, "PER_PAGE", 2)
    me = users["technical_owner"]
    person = {"name": "Tess", "email": me.email}
    tiers = ("minimal", "high", "limited", "unclassified", "high")
    owned = {}
    for n, tier in enumerate(tiers):
        system = _system(session, officer, f"mine-{n}", "production", tier)
        owned[system.reference] = _owner(session, officer, system, "technical", person)
    _owner(
        session,
        officer,
        _system(session, officer, "not-mine"),
        "technical",
        {"name": "Olaf", "email": "olaf@example.org"},
    )
    session.commit()
    client = login_as("technical_owner")

    def walk() -> list[str]:
        seen: list[str] = []
        for number in (1, 2, 3):
            page = client.get(f"/my-systems?page={number}").get_data(as_text=True)
            shown = list(_rows(page))
            assert len(shown) <= 2
            seen += shown
        return seen

    # The riskiest tier first (all alike not ready, in production).
    order = ["mine-1", "mine-4", "mine-2", "mine-0", "mine-3"]
    assert walk() == order
    page = client.get("/my-systems").get_data(as_text=True)
    assert "5 systems name you as owner today: page 1 of 3" in page
    assert 'href="/my-systems?page=3"' in page
    assert list(_rows(client.get("/my-systems?page=99").get_data(as_text=True))) == ["mine-3"]
    assert list(_rows(client.get("/my-systems?page=x").get_data(as_text=True))) == order[:2]

    # An owner entry now naming someone else: the system leaves the list; a new one
    # naming the user joins it (read after the stored rows, by the ledger's cursor).
    entry = owned["mine-1"]
    writes.update_entry(
        session,
        officer,
        entry.entry_id,
        {
            "role": "technical",
            "person": {"name": "Olaf", "email": "olaf@example.org"},
            "start": "2020-01-01",
        },
        base_version=1,
    )
    _owner(
        session,
        officer,
        _system(session, officer, "mine-5", "pilot", "high"),
        "dpo",
        person,
    )
    session.commit()
    assert walk() == ["mine-4", "mine-5", "mine-2", "mine-0", "mine-3"]
