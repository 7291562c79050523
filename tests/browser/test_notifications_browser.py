"""In a real browser: a technical owner follows a system, finds it in My tasks, and
chooses the daily digest for a kind of reminder; an owner who is no user does the same
on the page their e-mails' link opens."""

from __future__ import annotations

from registry.accounts.actor import Actor
from registry.notifications import addresses, service
from registry.records import writes
from tests.browser.conftest import sign_in
from tests.records.samples import SAMPLES


def test_follow_a_system_see_my_tasks_and_choose_a_digest(
    page, live_server, session, officer, users
):
    writes.create_system(
        session, officer, {**SAMPLES["profile"], "reference": "sys-b", "stage": "production"}
    )
    session.commit()
    sign_in(page, live_server, users["technical_owner"].email)
    page.get_by_role("link", name="My tasks").click()
    assert page.locator("p.gap").inner_text() == "Nothing is due for you."
    page.goto(f"{live_server}/systems/sys-b")
    page.get_by_role("button", name="Follow this system").click()
    page.wait_for_selector("text=You now follow sys-b")
    page.get_by_role("link", name="My tasks").click()
    row = page.locator("tr.task")
    assert row.count() == 1
    assert "Production system no longer ready" in row.inner_text()
    page.get_by_role("link", name="Notifications").click()
    page.get_by_label("Production system no longer ready: Daily digest").check()
    page.get_by_role("button", name="Save preferences").click()
    page.wait_for_selector("text=Notification preferences saved.")
    session.expire_all()
    tech = Actor.for_user(users["technical_owner"])
    assert service.get_preferences(session, tech)["readiness_lost"] == "digest"
    assert page.errors == []


def test_an_owner_who_is_no_user_chooses_a_digest_from_the_link(page, live_server, app, session):
    """The page a reminder's link opens, no sign-in: a daily digest for one kind,
    nothing for another, saved; a link cut short is refused with a page that says so."""
    address = "Partner.Owner@partner.example"
    link = f"{live_server}/notifications/unsubscribe/" + addresses.token(
        app.config["SECRET_KEY"], address
    )
    page.goto(link)
    assert "partner.owner@partner.example" in page.locator("main").inner_text()
    page.get_by_label("Access recertification due: Daily digest").check()
    page.get_by_label("Production system no longer ready: Nothing").check()
    page.get_by_role("button", name="Save preferences").click()
    page.wait_for_selector("text=Reminder preferences saved.")
    assert page.get_by_label("Access recertification due: Daily digest").is_checked()
    session.expire_all()
    chosen = service.get_address_preferences(session, address)
    assert chosen["recertification"] == "digest"
    assert chosen["readiness_lost"] == "none"
    assert chosen["review_due"] == "email"
    assert page.errors == []
    answer = page.goto(link[:-4])
    assert answer is not None and answer.status == 403
    assert "This link is not valid" in page.locator("main").inner_text()
    assert [e for e in page.errors if "status of 403" not in e] == []
