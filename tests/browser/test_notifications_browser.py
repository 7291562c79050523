"""In a real browser: a technical owner follows a system, finds it in My tasks, and
chooses the daily digest for a kind of reminder."""

from __future__ import annotations

from registry.accounts.actor import Actor
from registry.notifications import service
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
