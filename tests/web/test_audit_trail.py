"""The audit trail page: the ledger's events newest first, filtered and paged, in the
server-rendered web UI (both engines)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
import sqlalchemy as sa

import registry.ledger.store as store
import registry.ledger.trail as trail
from registry.accounts.actor import Actor
from registry.accounts.service import create_user
from registry.ledger.models import AuditEvent
from registry.records import writes
from registry.text import NUL
from tests.conftest import PASSWORD
from tests.records.samples import SAMPLES

UTC = dt.UTC
# A clock far in the future (after the users' own events) gives every write a known day.
DAY1 = dt.datetime(2100, 1, 10, 10, 0, tzinfo=UTC)
DAY2 = dt.datetime(2100, 2, 10, 10, 0, tzinfo=UTC)
DAY3 = dt.datetime(2100, 3, 10, 10, 0, tzinfo=UTC)
SCRIPT = "<script>alert('owned')</script>"


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


def _seqs(page: str) -> list[int]:
    return [int(s) for s in re.findall(r'<tr id="event-(\d+)">', page)]


def _events(session: Any) -> list[tuple[int, dt.datetime, dict[str, Any]]]:
    """Every event, newest first: (seq, recorded_at, fields)."""
    rows = session.execute(
        sa.select(AuditEvent.seq, AuditEvent.recorded_at, AuditEvent.event).order_by(
            AuditEvent.seq.desc()
        )
    )
    return [(seq, at, json.loads(bytes(raw))) for seq, at, raw in rows]


@pytest.fixture
def world(session, users, officer, profile, monkeypatch) -> dict[str, Any]:
    """Two systems written on three days by two users; one user named with a script."""
    clock = {"now": DAY1}
    monkeypatch.setattr(store, "utcnow", lambda: clock["now"])
    system, v1 = writes.create_system(session, officer, profile, reason=f"First {SCRIPT}")
    owner = writes.create_entry(session, officer, system, "owner", SAMPLES["owner"])
    session.commit()

    clock["now"] = DAY2
    other_profile = {**profile, "reference": "sys-2", "name": f"Other {SCRIPT}"}
    other, _ = writes.create_system(session, officer, other_profile)
    writes.retire_entry(session, officer, owner.entry_id, base_version=1, reason="Left")
    admin = Actor.system("test", roles=frozenset({"admin"}))
    odd, _ = create_user(
        session, admin, "odd<script>@example.org", ["compliance_officer"], PASSWORD
    )
    session.commit()

    clock["now"] = DAY3
    odd_actor = Actor.for_user(odd)
    writes.update_entry(
        session,
        odd_actor,
        v1.entry_id,
        {**profile, "stage": "proposed"},
        base_version=1,
        reason="Went live",
    )
    writes.create_entry(session, odd_actor, other, "data_source", SAMPLES["data_source"])
    session.commit()
    return {"system": system, "other": other, "profile_id": v1.entry_id, "owner_id": owner.entry_id}


def test_events_are_listed_newest_first_with_links(client, login_as, session, world):
    login_as("auditor")
    response = client.get("/audit")
    assert response.status_code == 200
    page = _text(response)
    events = _events(session)
    assert _seqs(page) == [seq for seq, _, _ in events][: trail.PAGE_SIZE]
    newest_seq, newest_at, newest = events[0]
    # The auditor's own sign-in is the newest event; the records' come before it.
    assert newest["action"] == "user.sign_in" and newest["email"] == "auditor@example.org"
    assert events[1][2]["action"] == "entry.create"
    assert f'<time datetime="{newest_at.isoformat()}">' in page
    # Links to the systems and to entry histories.
    assert 'href="/systems/sys-1"' in page and 'href="/systems/sys-2"' in page
    assert f'href="/systems/sys-1/entries/{world["profile_id"]}/history"' in page
    # The hash: shortened, in full in a title.
    row = session.get(AuditEvent, newest_seq)
    assert f'title="{row.event_hash}"' in page
    assert f">{row.event_hash[:12]}…<" in page
    # Labelled filters and an action select listing the actions present.
    for name in ("system", "actor", "action", "from", "to"):
        assert f'<label for="audit-{name}">' in page
        assert f'id="audit-{name}" name="{name}"' in page
    for action in ("system.create", "entry.create", "entry.update", "entry.retire", "user.create"):
        assert f'<option value="{action}"' in page
    assert '<option value="entry.*"' in page
    # Few events: no link to older ones.
    assert "Older events" not in page


def _listed(client: Any, **query: str) -> list[int]:
    response = client.get("/audit", query_string=query)
    assert response.status_code == 200, _text(response)
    return _seqs(_text(response))


def test_each_filter_narrows_the_events(client, login_as, session, world):
    login_as("compliance_officer")
    events = _events(session)
    system_id, other_id = world["system"].id, world["other"].id

    def expect(predicate: Any) -> list[int]:
        return [seq for seq, at, f in events if predicate(at, f)]

    by_system = expect(lambda at, f: f.get("system_id") == system_id)
    assert len(by_system) == 4
    assert _listed(client, system="sys-1") == by_system
    assert _listed(client, system="sys-2") == expect(lambda at, f: f.get("system_id") == other_id)

    odd = expect(lambda at, f: "odd<script>" in f.get("actor", ""))
    assert len(odd) == 2
    assert _listed(client, actor="odd<script>") == odd
    assert _listed(client, actor="compliance-officer@") == expect(
        lambda at, f: "compliance-officer@" in f.get("actor", "")
    )
    assert _listed(client, actor="nobody-at-all") == []

    assert _listed(client, action="entry.retire") == expect(
        lambda at, f: f["action"] == "entry.retire"
    )
    assert _listed(client, action="user.create") == expect(
        lambda at, f: f["action"] == "user.create"
    )
    entry_actions = expect(lambda at, f: f["action"].startswith("entry."))
    assert len(entry_actions) == 4
    assert _listed(client, action="entry.*") == entry_actions
    # An action of the right form that the ledger does not hold: nothing.
    assert _listed(client, action="entry.vanish") == []

    on_day2 = expect(lambda at, f: at.date() == DAY2.date())
    assert len(on_day2) == 3
    assert _listed(client, **{"from": "2100-02-10", "to": "2100-02-10"}) == on_day2
    assert _listed(client, **{"from": "2100-02-11"}) == expect(lambda at, f: at >= DAY3)
    assert _listed(client, to="2100-01-10") == expect(lambda at, f: at < DAY2)

    # Combinations.
    assert _listed(client, system="sys-1", action="entry.*") == expect(
        lambda at, f: f.get("system_id") == system_id and f["action"].startswith("entry.")
    )
    assert _listed(client, system="sys-2", actor="odd<script>", to="2100-03-10") == expect(
        lambda at, f: f.get("system_id") == other_id and "odd<script>" in f["actor"]
    )
    assert _listed(client, system="sys-1", **{"from": "2100-03-01"}, action="system.create") == []
    # The filters are kept in the form.
    page = _text(client.get("/audit", query_string={"system": "sys-1", "action": "entry.*"}))
    assert 'name="system" value="sys-1"' in page
    assert '<option value="entry.*" selected>' in page


@pytest.mark.parametrize("page_size", [3, 50])
def test_pagination_walks_every_event_exactly_once(
    client, login_as, session, world, monkeypatch, page_size
):
    monkeypatch.setattr(trail, "PAGE_SIZE", page_size)
    system = world["system"]
    officer = Actor.system("bulk")
    for n in range(5 if page_size < 10 else 60):
        writes.create_entry(
            session, officer, system, "data_source", {**SAMPLES["data_source"], "name": f"S{n}"}
        )
    session.commit()
    login_as("technical_owner")
    for query, predicate in [
        ({}, lambda f: True),
        ({"system": "sys-1", "action": "entry.create"}, lambda f: f.get("system") == "sys-1"),
        ({"actor": "system:bulk"}, lambda f: f["actor"] == "system:bulk"),
    ]:
        expected = [
            seq
            for seq, _, f in _events(session)
            if predicate(f) and (query.get("action") in (None, f["action"]))
        ]
        seen: list[int] = []
        url: str | None = "/audit?" + "&".join(f"{k}={v}" for k, v in query.items())
        while url:
            page = _text(client.get(url))
            shown = _seqs(page)
            assert 0 < len(shown) <= page_size
            seen += shown
            match = re.search(r'<a href="([^"]+)" rel="next">Older events</a>', page)
            url = match.group(1).replace("&amp;", "&") if match else None
            if url:
                assert f"before={shown[-1]}" in url
                for key, value in query.items():
                    assert f"{key}={value}" in url
        assert seen == expected


def test_part_of_an_actor_is_searched_whole(client, login_as, session, world, monkeypatch):
    """Every filter is answered in SQL on the columns beside the bytes: a search for part
    of an actor finds every match, page after page, and is counted (page numbers)."""
    monkeypatch.setattr(trail, "PAGE_SIZE", 2)
    login_as("auditor")
    expected = [seq for seq, _, f in _events(session) if "@example.org" in f.get("actor", "")]
    assert len(expected) > 2
    seen: list[int] = []
    url: str | None = "/audit?actor=@example.org"
    first = _text(client.get(url))
    assert f"Page 1 of {-(-len(expected) // 2)}" in first
    while url:
        page = _text(client.get(url))
        seen += _seqs(page)
        match = re.search(r'<a href="([^"]+)" rel="next">Older events</a>', page)
        url = match.group(1).replace("&amp;", "&") if match else None
    assert seen == expected
    # Case as given, on both engines.
    assert _seqs(_text(client.get("/audit?actor=@EXAMPLE.ORG"))) == []


def test_scripts_are_escaped(client, login_as, session, world):
    login_as("auditor")
    page = _text(client.get("/audit"))
    assert "<script>" not in page
    assert "odd&lt;script&gt;@example.org" in page
    page = _text(client.get("/audit", query_string={"actor": SCRIPT}))
    assert "<script>" not in page
    assert "&lt;script&gt;" in page


def test_admin_alone_is_refused(client, login_as, world):
    login_as("admin")
    assert client.get("/audit").status_code == 403
    assert "Audit trail" not in _text(client.get("/login"))


def test_readers_see_the_nav_link(client, login_as, world):
    login_as("auditor")
    assert 'href="/audit">Audit trail</a>' in _text(client.get("/systems"))


def test_anonymous_users_are_sent_to_login(client, world):
    response = client.get("/audit")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"from": "yesterday"}, 400, "is not a date"),
        ({"to": "2100-02-30"}, 400, "is not a date"),
        ({"from": "2100-02-11", "to": "2100-02-10"}, 400, "after the"),
        ({"before": "9" * 30}, 400, "must be the number of an event"),
        ({"before": str(2**63)}, 400, "must be the number of an event"),
        ({"before": "-1"}, 400, "must be the number of an event"),
        ({"before": "１２"}, 400, "must be the number of an event"),
        ({"actor": "a\x00b"}, 400, "NUL character"),
        ({"system": "sys\x00"}, 400, "NUL character"),
        ({"action": "entry.\x00"}, 400, "NUL character"),
        ({"action": "entry.create' OR 1=1"}, 400, "is not an action"),
        ({"actor": "x" * 500}, 400, "too long"),
        ({"from": "2" * 100}, 400, "too long"),
        ({"system": "no-such-system"}, 404, "No system with reference"),
    ],
)
def test_bad_input_gives_a_page_not_a_500(client, login_as, world, query, status, message):
    login_as("auditor")
    response = client.get("/audit", query_string=query)
    assert response.status_code == status
    page = _text(response)
    assert message in page
    assert '<label for="audit-actor">' in page  # the form is still there


@pytest.mark.parametrize("name", ["system", "actor", "action", "from", "to"])
def test_filters_pass_the_one_text_rule(client, login_as, world, name):
    """Every text filter is refused by registry.text's rule, in its words."""
    login_as("auditor")
    response = client.get("/audit", query_string={name: "a\x00b"})
    assert response.status_code == 400
    assert f"The {name} filter is not valid: {NUL}" in _text(response)


def test_the_last_day_of_the_calendar_is_accepted(client, login_as, world):
    login_as("auditor")
    assert client.get("/audit", query_string={"to": "9999-12-31"}).status_code == 200
    assert client.get("/audit", query_string={"from": "0001-01-01"}).status_code == 200


def test_page_numbers_come_from_bounded_counts(client, login_as, session, world, monkeypatch):
    """A page counts at most COUNTED_PAGES pages of matches either way: near the newest
    events the pages are numbered, further on the trail says there are more and goes on
    by 'Older events'; a page number beyond the counted ones is refused, not a 500."""
    monkeypatch.setattr(trail, "PAGE_SIZE", 2)
    monkeypatch.setattr(trail, "COUNTED_PAGES", 3)
    login_as("auditor")
    events = [seq for seq, _, _ in _events(session)]
    assert len(events) > 2 * 3 + 2  # more matches than the pages counted
    first = _text(client.get("/audit"))
    assert "More than 3 pages of events match" in first and "Page 1 of" not in first
    # Far from the newest events a page has no number: it is not counted from them.
    tail = events[-3]
    last = _text(client.get(f"/audit?before={tail + 1}"))
    assert _seqs(last) == events[-3:-1] and "Page " not in last
    small = _text(client.get("/audit?action=system.create"))
    assert "Page 1 of 1" in small and "More than" not in small
    assert _seqs(_text(client.get("/audit?page=2"))) == events[2:4]
    response = client.get("/audit?page=4")
    assert response.status_code == 400
    assert "Pages up to 3 are numbered" in _text(response)
