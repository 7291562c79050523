"""A user changes their own password in the browser, from the navigation."""

from __future__ import annotations

from tests.browser.conftest import sign_in
from tests.conftest import PASSWORD

NEW = "a brand new passphrase"


def _fill(page, current: str, new: str, again: str) -> None:
    page.get_by_label("Current password").fill(current)
    page.get_by_label("New password", exact=False).first.fill(new)
    page.get_by_label("New password again").fill(again)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_selector("h1")


def test_changing_ones_password(browser, page, live_server, users):
    email = users["technical_owner"].email
    elsewhere = browser.new_context().new_page()
    sign_in(elsewhere, live_server, email)
    sign_in(page, live_server, email)

    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Change password").click()
    page.wait_for_selector("h1")
    assert page.locator("h1").inner_text() == "Change password"

    # The two new passwords differ: said at the field, nothing changed.
    _fill(page, PASSWORD, NEW, NEW + "!")
    assert page.get_by_role("alert").first.inner_text().startswith("The form has errors.")
    assert page.locator("#new_password_again-error").inner_text() == (
        "Does not match the new password."
    )
    assert page.get_by_label("New password again").get_attribute("aria-invalid") == "true"

    _fill(page, PASSWORD, NEW, NEW)
    assert "Your password is changed." in page.get_by_role("status").inner_text()
    page.reload()
    assert page.get_by_role("button", name="Sign out").count() == 1  # still signed in

    # The other browser's session has ended.
    elsewhere.reload()
    assert "/login" in elsewhere.url
    elsewhere.context.close()

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_selector("h1")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", NEW)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("h1")
    assert page.locator("h1").inner_text() == "My systems"
    # The refused form was answered 422, which the browser notes; nothing else failed.
    assert page.errors == [
        "Failed to load resource: the server responded with a status of 422 (UNPROCESSABLE ENTITY)"
    ]
