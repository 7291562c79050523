"""Paged lists that jump: the systems list and the audit trail offer page numbers, the
first and last pages and a "go to page" form, and their page count matches the total
(both engines)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlalchemy as sa

import registry.ledger.trail as trail
import registry.web.systems as systems
from registry.accounts.actor import Actor
from registry.ledger.models import AuditEvent
from registry.records import reads, writes
from tests.records.samples import SAMPLES


def _text(response: Any) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def _refs(page: str) -> list[str]:
    return re.findall(r"<td>(sys-\d+)</td>", page)


def _numbers(page: str) -> list[str]:
    """The page links offered, in order ("…" for pages left out)."""
    nav = re.search(r'<nav aria-label="Pages" class="pagination">(.*?)</nav>', page, re.S)
    assert nav, "no page numbers"
    return re.findall(r"<li[^>]*>(?:<a [^>]*>)?([^<]+)", nav.group(1))


@pytest.fixture
def eleven(session, users, officer) -> list[str]:
    refs = [f"sys-{n:02d}" for n in range(1, 12)]
    for n, ref in enumerate(refs):
        stage = "pilot" if n % 2 else "production"
        writes.create_system(
            session, officer, {"name": f"System {n:02d}", "reference": ref, "stage": stage}
        )
    session.commit()
    return refs


def test_the_systems_list_jumps_to_any_page(client, login_as, eleven, monkeypatch):
    monkeypatch.setattr(systems, "PAGE_SIZE", 1)
    login_as("auditor")
    first = _text(client.get("/systems"))
    assert "Page 1 of 11" in first
    assert _numbers(first) == ["1", "2", "3", "…", "11", "Next"]
    assert 'aria-label="Page 11 (last)"' in first
    middle = _text(client.get("/systems", query_string={"page": 6}))
    assert _refs(middle) == [eleven[5]]
    assert _numbers(middle) == ["Previous", "1", "…", "4", "5", "6", "7", "8", "…", "11", "Next"]
    assert '<a href="/systems?page=6" aria-current="page"' in middle
    last = _text(client.get("/systems", query_string={"page": 11}))
    assert _refs(last) == [eleven[10]] and "Page 11 of 11" in last
    assert "Next" not in _numbers(last)
    # The "go to page" form, labelled, bounded by the page count.
    assert '<label for="go-to-page">Go to page</label>' in first
    assert 'name="page" type="number" min="1" max="11"' in first
    # Filters are kept by the numbers and the form; the count is of the filtered list.
    pilots = _text(client.get("/systems", query_string={"stage": "pilot", "page": 2}))
    assert "Page 2 of 5" in pilots
    assert '<a href="/systems?page=5&amp;stage=pilot" aria-label="Page 5 (last)">' in pilots
    assert '<input type="hidden" name="stage" value="pilot">' in pilots
    # Every page, reached by number, shows each system once.
    seen = []
    for n in range(1, 12):
        seen += _refs(_text(client.get("/systems", query_string={"page": n})))
    assert seen == eleven


def _events(session: Any) -> list[tuple[int, dict[str, Any]]]:
    rows = session.execute(
        sa.select(AuditEvent.seq, AuditEvent.event).order_by(AuditEvent.seq.desc())
    )
    return [(seq, json.loads(bytes(raw))) for seq, raw in rows]


def _seqs(page: str) -> list[int]:
    return [int(s) for s in re.findall(r'<tr id="event-(\d+)">', page)]


@pytest.mark.parametrize(
    ("query", "matches"),
    [
        ({}, lambda f: True),
        ({"system": "sys-03"}, lambda f: f.get("system") == "sys-03"),
        # Checked in Python, after a prefilter in SQL.
        ({"actor": "system:bulk"}, lambda f: f.get("actor") == "system:bulk"),
        ({"action": "entry.create"}, lambda f: f.get("action") == "entry.create"),
    ],
)
def test_the_audit_trail_jumps_to_any_page(
    client, login_as, session, eleven, monkeypatch, query, matches
):
    system = reads.get_system(session, "sys-03")
    for n in range(4):
        writes.create_entry(
            session,
            Actor.system("bulk"),
            system,
            "data_source",
            {**SAMPLES["data_source"], "name": f"S{n}"},
        )
    session.commit()
    monkeypatch.setattr(trail, "PAGE_SIZE", 3)
    login_as("auditor")
    expected = [seq for seq, f in _events(session) if matches(f)]
    pages = -(-len(expected) // 3)
    assert pages >= 2
    first = _text(client.get("/audit", query_string=query))
    assert f"Page 1 of {pages}" in first
    assert _numbers(first)[-1] == str(pages)
    seen = []
    for n in range(1, pages + 1):
        page = _text(client.get("/audit", query_string={**query, "page": n}))
        assert f"Page {n} of {pages}" in page
        seen += _seqs(page)
    assert seen == expected
    # Following "Older events" lands on the page the numbers name.
    older = re.search(r'<a href="([^"]+)" rel="next">Older events</a>', first).group(1)
    second = _text(client.get(older.replace("&amp;", "&")))
    assert f"Page 2 of {pages}" in second
    assert _seqs(second) == expected[3:6]
    # A page past the last is refused on the page, not with a 500.
    beyond = client.get("/audit", query_string={**query, "page": pages + 1})
    assert beyond.status_code == 400
    assert f"There is no page {pages + 1} of these events." in beyond.get_data(as_text=True)
    for bad in ("0", "x", "-1", "9" * 50):
        response = client.get("/audit", query_string={**query, "page": bad})
        assert response.status_code == 400
        assert "must be a page number" in response.get_data(as_text=True)
