"""On a phone-sized screen the pages fit the width; the keyboard reaches every control,
with a visible focus ring."""

from __future__ import annotations

from registry.records import writes
from tests.conftest import PASSWORD
from tests.records.samples import SAMPLES, bound_sample

PHONE = {"width": 375, "height": 740}


def _seed(session, officer):
    system, _ = writes.create_system(session, officer, {**SAMPLES["profile"], "reference": "sys-p"})
    for kind in ("owner", "data_source", "review_procedure", "review", "incident"):
        writes.create_entry(session, officer, system, kind, bound_sample(session, system, kind))
    session.commit()


def _sign_in(page, live_server, email):
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")  # the form submits from the keyboard
    page.wait_for_selector("h1")


def test_pages_fit_a_phone_screen(page, live_server, users, session, officer):
    _seed(session, officer)
    page.set_viewport_size(PHONE)
    _sign_in(page, live_server, users["compliance_officer"].email)
    for path in ("/dashboard", "/", "/systems/sys-p", "/systems/sys-p/entries/2/history"):
        page.goto(f"{live_server}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width}px wide on a 375px screen"
    assert page.errors == []


def test_keyboard_reaches_the_controls_with_a_visible_focus(page, live_server, users):
    page.goto(f"{live_server}/login")
    page.keyboard.press("Tab")
    seen = []
    for _ in range(8):
        focused = page.evaluate(
            "(() => { const e = document.activeElement;"
            " return [e.tagName, e.name || e.textContent.trim(),"
            " getComputedStyle(e).outlineStyle]; })()"
        )
        seen.append(focused)
        page.keyboard.press("Tab")
    names = [name for _, name, _ in seen]
    assert "email" in names and "password" in names and "Sign in" in names
    assert all(style != "none" for tag, _, style in seen if tag in ("INPUT", "BUTTON"))
