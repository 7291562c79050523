"""Each role lands on its own page after signing in through the browser."""

from __future__ import annotations

import pytest

from tests.browser.conftest import sign_in

LANDINGS = {
    "compliance_officer": ("/dashboard", "Dashboard"),
    "technical_owner": ("/my-systems", "My systems"),
    "auditor": ("/systems", "AI systems"),
    "admin": ("/admin/users", "Users"),
}


@pytest.mark.parametrize("role", sorted(LANDINGS))
def test_each_role_lands_on_its_page(page, live_server, users, role):
    path, heading = LANDINGS[role]
    sign_in(page, live_server, users[role].email)
    assert page.url == f"{live_server}{path}"
    assert page.locator("h1").inner_text() == heading
    nav = page.get_by_role("navigation", name="Main")
    assert (nav.get_by_role("link", name="My systems").count() == 1) == (role == "technical_owner")
    assert page.errors == []
